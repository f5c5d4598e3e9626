"""One local Spark session for the whole test run (``local[2]``, small shuffles)."""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator
from typing import Any

import pytest

# Executors must run this interpreter (the project's venv), where rddml is installed.
os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
os.environ.setdefault("PYSPARK_DRIVER_PYTHON", sys.executable)
os.environ.setdefault("SPARK_LOCAL_IP", "127.0.0.1")


@pytest.hookimpl(optionalhook=True)  # a hook of pytest-xdist (``make test``: ``-n 2``)
def pytest_xdist_make_scheduler(config: Any, log: Any) -> Any:
    """Hand each worker whole modules, so module-scoped fixtures (fitted models,
    datasets) are built once, and all of ``tests/cluster/`` to one worker, so one local
    cluster serves them. (xdist's own ``--dist loadgroup`` does not group under pytest 9.)"""
    from xdist.scheduler import LoadScopeScheduling

    class ByModule(LoadScopeScheduling):  # type: ignore[misc]
        def _split_scope(self, nodeid: str) -> str:
            path = nodeid.split("::", 1)[0]
            return "tests/cluster/" if path.startswith("tests/cluster/") else path

    return ByModule(config, log)


@pytest.fixture(scope="session")
def spark() -> Iterator[Any]:
    from pyspark.sql import SparkSession

    session = (
        SparkSession.builder.master("local[2]")
        .appName("rddml-tests")
        .config("spark.sql.shuffle.partitions", "2")
        .config("spark.default.parallelism", "2")
        .config("spark.ui.enabled", "false")
        .config("spark.sql.execution.arrow.pyspark.enabled", "true")
        .config("spark.python.unix.domain.socket.enabled", "true")  # as conf/spark-local.conf
        .config("spark.driver.extraJavaOptions", "-XX:TieredStopAtLevel=1 -XX:+UseSerialGC")
        .getOrCreate()
    )
    session.sparkContext.setLogLevel("ERROR")
    yield session
    session.stop()


@pytest.fixture(scope="session")
def sc(spark: Any) -> Any:
    return spark.sparkContext
