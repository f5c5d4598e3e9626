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
import dataclasses
import logging
import os
import sys
from collections.abc import Callable, Sequence
from typing import Any, TypeVar

from rddml.errors import RddmlError
from rddml.io.config import describe_config, load_config

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
    """Parse ``--config FILE``, ``--set key=value`` and ``--overwrite`` into a config;
    ``--verbose`` switches rddml's per-iteration log lines (DEBUG) on."""
    parser = argparse.ArgumentParser(
        description=(description or "").strip().splitlines()[0] if description else None,
        epilog="config keys:\n" + "\n".join(describe_config(config_cls)),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--config", help="TOML file with the job's settings")
    parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                        help="override one config key (repeatable)")
    # Every boolean key doubles as a flag: --overwrite, --quick, --write-assignments ...
    flags = [f.name for f in dataclasses.fields(config_cls)  # type: ignore[arg-type]
             if f.type in (bool, "bool")]
    for name in flags:
        parser.add_argument(f"--{name.replace('_', '-')}", dest=f"flag_{name}",
                            action="store_true", help=f"set {name} = true")
    parser.add_argument("-v", "--verbose", action="store_true",
                        help="log every iteration of every fit (rddml's DEBUG messages)")
    args = parser.parse_args(argv)
    if args.verbose:
        logging.getLogger("rddml").setLevel(logging.DEBUG)
    extra = {name: True for name in flags if getattr(args, f"flag_{name}")}
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
    line and exits with status 2; a failed Spark job is logged with its traceback,
    then summarised in one last ``error: Spark job failed: ...`` line, status 1;
    anything else keeps its traceback.
    """
    configure_logging(os.environ.get("RDDML_LOG_LEVEL", "INFO"))
    log = logging.getLogger("rddml.job")
    try:
        config = parse_job_args(config_cls, description, argv)
    except RddmlError as exc:
        print(f"error: {exc}", file=sys.stderr)
        sys.exit(2)
    module = getattr(main, "__module__", "job")
    # Under spark-submit the job module is __main__: name the application after its file.
    name = os.path.basename(sys.argv[0]).removesuffix(".py") if module == "__main__" else (
        module.rsplit(".", 1)[-1])
    spark = build_session(f"rddml-{name}")
    try:
        main(spark, config)
    except RddmlError as exc:
        log.error("%s", exc)
        print(f"error: {exc}", file=sys.stderr)
        spark.stop()
        sys.exit(2)
    except Exception as exc:
        reason = spark_failure(exc)
        if reason is None:
            raise
        # A Spark job failed (e.g. a task ran out of retries after losing executors): the
        # whole traceback goes to the log, the last line says what happened.
        log.error("Spark job failed", exc_info=exc)
        spark.stop()
        print(f"error: Spark job failed: {reason}", file=sys.stderr)
        sys.exit(1)
    spark.stop()


def spark_failure(exc: BaseException) -> str | None:
    """The one-line reason of a failed Spark job (``Job aborted due to stage failure:
    Task 1 in stage 10.0 failed 1 times, ... ExecutorLostFailure ...``), or None when
    ``exc`` is not an error raised by Spark."""
    names = {cls.__name__ for cls in type(exc).__mro__}
    if "Py4JJavaError" in names:
        # str() is "An error occurred while calling X.\n: java.Exception: message\n\tat ..."
        for line in str(exc).splitlines():
            if line.startswith(": "):
                text = line[2:]
                return text.split(": ", 1)[1] if ": " in text else text
        return str(exc).splitlines()[0]
    if "PySparkException" in names:
        return str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    return None
