"""A driver for the block-storage tests on the local cluster: fits that stop where the
test acts on the workers' files, then continue.

Run with the project's venv Python (not under pytest)::

    .venv/bin/python tests/cluster/storage_driver.py --master spark://127.0.0.1:7077 \\
        --input data/samples/blobs.csv --control /tmp/x/control --out /tmp/x/result.json \\
        --ui-port 4050

Steps (``pause NAME`` lines wait until the file ``CONTROL/NAME`` exists):

1. dataset ``a`` is cached (``dataset a <id>``) and fitted; at iteration 3 the fit pauses
   (``pause delete``) while the test deletes one of a's block files on a worker;
2. the fit ends and ``a`` is unpersisted (``pause released``: the test looks for a's files);
3. dataset ``b`` is cached (``dataset b <id>``), fitted and never unpersisted
   (``pause kept``: its files are still on the workers);
4. both models go to ``--out`` and the session stops normally.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
import time
from pathlib import Path
from typing import Any

os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
os.environ.setdefault("SPARK_LOCAL_IP", "127.0.0.1")

JVM_OPTS = "-XX:TieredStopAtLevel=1 -XX:+UseSerialGC"
log = logging.getLogger("storage_driver")


def pause(control: Path, name: str, timeout: float = 180.0) -> None:
    log.info("pause %s", name)
    deadline = time.monotonic() + timeout
    while not (control / name).exists():
        if time.monotonic() > deadline:
            raise TimeoutError(f"nobody created {control / name} within {timeout:.0f}s")
        time.sleep(0.1)


class PauseAtIteration(logging.Handler):
    """Blocks the fit (which logs each iteration) once, at the given iteration line."""

    def __init__(self, control: Path, prefix: str, name: str) -> None:
        super().__init__()
        self.control, self.prefix, self.name = control, prefix, name
        self.done = False

    def emit(self, record: logging.LogRecord) -> None:
        if not self.done and record.getMessage().startswith(self.prefix):
            self.done = True
            pause(self.control, self.name)


def fit(ds: Any, max_iter: int) -> dict[str, Any]:
    from rddml import KMeans

    km = KMeans(k=5, init="random", seed=5, max_iter=max_iter, tol=0.0).fit(ds)
    return {"centers": km.cluster_centers_.tolist(), "costs": [h["cost"] for h in km.history_]}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--master", required=True)
    parser.add_argument("--input", required=True)
    parser.add_argument("--control", required=True, type=Path)
    parser.add_argument("--out", required=True, type=Path)
    parser.add_argument("--ui-port", type=int, required=True)
    parser.add_argument("--max-iter", type=int, default=8)
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, stream=sys.stderr,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    logging.getLogger("py4j").setLevel(logging.WARNING)
    logging.getLogger("rddml").setLevel(logging.DEBUG)  # the per-iteration lines

    from pyspark.sql import SparkSession

    from rddml import read_points_csv

    spark = (
        SparkSession.builder.master(args.master)
        .appName("rddml-storage-test")
        .config("spark.ui.port", str(args.ui_port))
        .config("spark.ui.showConsoleProgress", "false")
        .config("spark.driver.extraJavaOptions", JVM_OPTS)
        .config("spark.executor.extraJavaOptions", JVM_OPTS)
        .config("spark.executor.memory", "1g")
        .config("spark.pyspark.python", sys.executable)
        .config("spark.task.maxFailures", "4")
        .config("spark.default.parallelism", "2")
        .getOrCreate()
    )
    spark.sparkContext.setLogLevel("WARN")
    sc = spark.sparkContext
    log.info("application %s", sc.applicationId)
    result: dict[str, Any] = {"application": sc.applicationId}
    try:
        handler = PauseAtIteration(args.control, "k-means iteration 3/", "delete")
        logging.getLogger("rddml.cluster.kmeans").addHandler(handler)
        with read_points_csv(sc, args.input) as a:
            log.info("dataset a %s", a._storage.dataset_id)
            result["a"] = fit(a, args.max_iter)
        logging.getLogger("rddml.cluster.kmeans").removeHandler(handler)
        pause(args.control, "released")
        b = read_points_csv(sc, args.input)
        log.info("dataset b %s", b._storage.dataset_id)
        result["b"] = fit(b, args.max_iter)
        pause(args.control, "kept")
        args.out.write_text(json.dumps(result, indent=2) + "\n")
    finally:
        spark.stop()


if __name__ == "__main__":
    main()
