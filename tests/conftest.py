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


def pytest_configure(config: Any) -> None:
    # pytest-xdist registers this marker itself; without it the suite still runs serially.
    config.addinivalue_line("markers", "xdist_group(name): tests that run in one xdist worker")


@pytest.hookimpl(tryfirst=True)  # before xdist reads the groups in its own hook
def pytest_collection_modifyitems(config: Any, items: list[Any]) -> None:
    """Under ``pytest -n 2 --dist loadgroup`` (``make test``) keep each module's tests in
    one worker, so module-scoped fixtures (fitted models, datasets) are built once, and all
    cluster tests in one worker, so one local cluster serves them."""
    for item in items:
        path = item.nodeid.split("::", 1)[0]
        group = "cluster" if path.startswith("tests/cluster/") else path
        item.add_marker(pytest.mark.xdist_group(group))


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
