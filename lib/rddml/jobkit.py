"""What every job in ``jobs/`` shares: argument parsing, logging and the session.

A job module defines ``Config`` (a frozen dataclass) and ``main(spark, config)``,
and ends with::

    if __name__ == "__main__":
        run_job(main, Config, __doc__)

``run_job`` is the only place a SparkSession is created, so importing a job (in
a test or a notebook) never starts Spark.
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
from collections.abc import Callable, Sequence
from typing import Any, TypeVar

from rddml.config import describe_config, load_config
from rddml.errors import RddmlError

C = TypeVar("C")
LOG_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"


def configure_logging(level: str = "INFO") -> None:
    """Python logging for rddml and the job; Spark's own log stays at WARN."""
    logging.basicConfig(level=getattr(logging, level.upper(), logging.INFO), format=LOG_FORMAT,
                        stream=sys.stderr, force=True)
    logging.getLogger("py4j").setLevel(logging.WARNING)


def parse_job_args(
    config_cls: type[C], description: str | None, argv: Sequence[str] | None = None
) -> C:
    """Parse ``--config FILE``, ``--set key=value`` and ``--overwrite`` into a config."""
    parser = argparse.ArgumentParser(
        description=(description or "").strip().splitlines()[0] if description else None,
        epilog="config keys:\n" + "\n".join(describe_config(config_cls)),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--config", help="TOML file with the job's settings")
    parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                        help="override one config key (repeatable)")
    parser.add_argument("--overwrite", action="store_true",
                        help="replace existing outputs instead of refusing")
    args = parser.parse_args(argv)
    extra = {"overwrite": True} if args.overwrite else {}
    return load_config(config_cls, args.config, args.set, extra)


def build_session(app_name: str) -> Any:
    """The job's SparkSession: master and properties come from spark-submit, or local[*]."""
    from pyspark.sql import SparkSession

    builder = SparkSession.builder.appName(app_name)
    # Under spark-submit the JVM is already up (PYSPARK_GATEWAY_PORT is set) and the
    # master comes from --master / the properties file; plain `python job.py` runs local.
    if "PYSPARK_GATEWAY_PORT" not in os.environ:
        builder = builder.master(os.environ.get("RDDML_MASTER", "local[*]"))
    spark = builder.getOrCreate()
    spark.sparkContext.setLogLevel(os.environ.get("RDDML_SPARK_LOG_LEVEL", "WARN"))
    return spark


def run_job(
    main: Callable[[Any, C], Any],
    config_cls: type[C],
    description: str | None,
    argv: Sequence[str] | None = None,
) -> None:
    """Parse arguments, build the session, run ``main`` and exit with a status code.

    An rddml error (bad config, bad input, existing output) is printed as one
    line and exits with status 2; anything else keeps its traceback.
    """
    configure_logging(os.environ.get("RDDML_LOG_LEVEL", "INFO"))
    log = logging.getLogger("rddml.job")
    try:
        config = parse_job_args(config_cls, description, argv)
    except RddmlError as exc:
        print(f"error: {exc}", file=sys.stderr)
        sys.exit(2)
    name = getattr(main, "__module__", "job").rsplit(".", 1)[-1]
    spark = build_session(f"rddml-{name}")
    try:
        main(spark, config)
    except RddmlError as exc:
        log.error("%s", exc)
        print(f"error: {exc}", file=sys.stderr)
        spark.stop()
        sys.exit(2)
    spark.stop()
