"""A driver program for the fault tests: fit one estimator on a Spark master, write JSON.

Run with the project's venv Python (not under pytest)::

    .venv/bin/python tests/cluster/fit_driver.py --master spark://127.0.0.1:7077 \\
        --estimator kmeans --input data/samples/blobs.csv --out result.json --ui-port 4050

It logs ``application <id>`` when the session is up, ``dataset <id>`` once the input is
cached (the id names its block files, for the leftover checks) and one line per
iteration (the library's own ``k-means iteration 3/15 ...`` / ``gd iteration 3/15 ...``
lines), so a test can SIGKILL an executor, a Worker or the driver itself mid-fit; the
result file holds the model and, from the driver's REST API, every executor the
application had and why it was removed.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
import urllib.request
from pathlib import Path
from typing import Any

# Executors run this interpreter (the project's venv); bind everything to 127.0.0.1.
os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
os.environ.setdefault("SPARK_LOCAL_IP", "127.0.0.1")

JVM_OPTS = "-XX:TieredStopAtLevel=1 -XX:+UseSerialGC"


def build_session(master: str, ui_port: int, max_failures: int) -> Any:
    from pyspark.sql import SparkSession

    return (
        SparkSession.builder.master(master)
        .appName("rddml-fault-test")
        .config("spark.ui.port", str(ui_port))
        .config("spark.ui.showConsoleProgress", "false")
        .config("spark.driver.extraJavaOptions", JVM_OPTS)
        .config("spark.executor.extraJavaOptions", JVM_OPTS)
        .config("spark.executor.memory", "1g")
        .config("spark.pyspark.python", sys.executable)
        .config("spark.task.maxFailures", str(max_failures))
        .config("spark.default.parallelism", "2")
        .getOrCreate()
    )


def fit(spark: Any, args: argparse.Namespace) -> dict[str, Any]:
    from rddml import KMeans
    from rddml.engine.sources.text import read_labeled_text, read_points_csv
    from rddml.linear.logistic import LogisticRegression

    sc = spark.sparkContext
    if args.estimator == "kmeans":
        with read_points_csv(sc, args.input) as ds:
            log_dataset(ds)
            km = KMeans(k=5, init="random", seed=5, max_iter=args.max_iter, tol=0.0).fit(ds)
        return {"centers": km.cluster_centers_.tolist(), "n_iter": km.n_iter_,
                "inertia": km.inertia_, "costs": [h["cost"] for h in km.history_]}
    with read_labeled_text(sc, args.input) as ds:
        log_dataset(ds)
        lr = LogisticRegression(optimizer="gd", step_size=1.0, max_iter=args.max_iter, tol=0.0,
                                standardize=False).fit(ds)
    return {"coef": lr.coef_.tolist(), "intercept": lr.intercept_, "n_iter": lr.n_iter_,
            "losses": lr.loss_history_}


def log_dataset(ds: Any) -> None:
    dataset_id = getattr(getattr(ds, "_storage", None), "dataset_id", "-")
    logging.getLogger("fit_driver").info("dataset %s", dataset_id)


def executors(ui_url: str, app_id: str) -> list[dict[str, Any]]:
    """Every executor the application had (live and removed), from the driver's REST API."""
    url = f"{ui_url}/api/v1/applications/{app_id}/allexecutors"
    with urllib.request.urlopen(url, timeout=60) as response:
        return [
            {key: e.get(key) for key in ("id", "isActive", "removeReason", "failedTasks",
                                         "completedTasks", "executorLogs")}
            for e in json.loads(response.read()) if e["id"] != "driver"
        ]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--master", required=True)
    parser.add_argument("--estimator", choices=("kmeans", "logistic"), default="kmeans")
    parser.add_argument("--input", required=True)
    parser.add_argument("--out", required=True)
    parser.add_argument("--ui-port", type=int, required=True)
    parser.add_argument("--max-iter", type=int, default=15)
    parser.add_argument("--max-failures", type=int, default=4)
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, stream=sys.stderr,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    logging.getLogger("py4j").setLevel(logging.WARNING)
    logging.getLogger("rddml").setLevel(logging.DEBUG)  # the iteration lines the tests wait for
    spark = build_session(args.master, args.ui_port, args.max_failures)
    spark.sparkContext.setLogLevel("WARN")
    app_id = spark.sparkContext.applicationId
    # The port actually bound (Spark moves to the next one if ui_port is taken).
    ui_url = spark.sparkContext.uiWebUrl or f"http://127.0.0.1:{args.ui_port}"
    logging.getLogger("fit_driver").info("application %s ui %s", app_id, ui_url)
    try:
        result = fit(spark, args)
        result["application"] = app_id
        result["executors"] = executors(ui_url, app_id)
        Path(args.out).write_text(json.dumps(result, indent=2) + "\n")
    finally:
        spark.stop()


if __name__ == "__main__":
    main()
