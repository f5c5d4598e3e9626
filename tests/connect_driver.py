"""Run rddml through a real local Spark Connect session; write the results as JSON.

Usage: ``python tests/connect_driver.py RESULTS.json [SECTION...]`` (from the repository
root; naming sections runs only those).

A Spark Connect session cannot start in a process that already has a classic
SparkContext (pyspark raises SESSION_OR_CONTEXT_EXISTS), and starting one switches
the process into Connect mode for good, so ``test_connect.py`` runs this script in a
subprocess once and checks every section of its output against references computed
with the classic session. Each section catches its own exception, so one failure
does not hide the others.
"""

from __future__ import annotations

import json
import os
import runpy
import sys
import tempfile
import time
import traceback
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
os.environ.setdefault("SPARK_LOCAL_IP", "127.0.0.1")
os.environ.setdefault("MPLBACKEND", "Agg")

import numpy as np  # noqa: E402


def start_session() -> Any:
    # Static settings (JVM options, UI) reach the embedded server at start-up only; the
    # client warns that it cannot re-set them on the session, which is harmless.
    import warnings

    from pyspark.sql import SparkSession

    warnings.filterwarnings("ignore", message="Failed to set spark")
    return (
        SparkSession.builder.remote("local[2]")
        .config("spark.sql.shuffle.partitions", "2")
        .config("spark.ui.enabled", "false")
        .config("spark.ui.showConsoleProgress", "false")
        .config("spark.driver.extraJavaOptions", "-XX:TieredStopAtLevel=1 -XX:+UseSerialGC")
        .getOrCreate()
    )


def _array(value: Any) -> Any:
    return np.asarray(value, dtype=np.float64).tolist()


def section_backend(spark: Any) -> dict[str, Any]:
    from rddml.engine.backend import has_spark_context, is_connect_dataframe, resolve_backend

    df = spark.range(3)
    out: dict[str, Any] = {"is_connect": is_connect_dataframe(df),
                           "has_spark_context": has_spark_context(df),
                           "auto": resolve_backend(df, "auto")}
    try:
        resolve_backend(df, "rdd")
    except Exception as exc:  # the expected error, checked by the test
        out["rdd_error"] = str(exc)
    return out


def section_kmeans(spark: Any) -> dict[str, Any]:
    from tests.dataframe_support import BLOB_CENTRES, blob_frame, fit_kmeans_dataframe

    from rddml import KMeans
    from rddml.cluster.passes import lloyd_pass
    from rddml.engine.frames import FrameDataset

    df = blob_frame(spark)
    out: dict[str, Any] = {}
    fitted = fit_kmeans_dataframe(df, k=3, init=BLOB_CENTRES, max_iter=4, tol=0.0,
                                  weight_col="w")
    out["fit"] = {"centres": _array(fitted.cluster_centers_), "inertia": fitted.inertia_,
                  "n_iter": fitted.n_iter_}
    with FrameDataset.from_dataframe(df, features_col="features", weight_col="w") as fd:
        for aggregation in ("tree", "reduceByKey"):
            stats = lloyd_pass(fd, BLOB_CENTRES, aggregation=aggregation, n_far=3)
            out[aggregation] = {"sums": _array(stats.sums), "counts": _array(stats.counts),
                                "cost": stats.cost}
    seeded = fit_kmeans_dataframe(df.repartition(2), k=3, init="k-means||", seed=11,
                                  max_iter=10, weight_col="w")
    out["seeded"] = {"init": _array(seeded.init_centers_),
                     "centres": _array(seeded.cluster_centers_)}
    model = KMeans(k=3)
    model.cluster_centers_ = np.asarray(out["fit"]["centres"])
    predicted = model.predict(df).select("x0", "x1", "x2", "prediction").toPandas()
    out["predict"] = {"X": _array(predicted[["x0", "x1", "x2"]].to_numpy()),
                      "prediction": predicted["prediction"].tolist()}
    fitted_est = KMeans(k=3, init=BLOB_CENTRES, max_iter=4, tol=0.0, weight_col="w").fit(df)
    out["estimator"] = {"centres": _array(fitted_est.cluster_centers_)}
    return out


def section_logistic(spark: Any) -> dict[str, Any]:
    from tests.dataframe_support import fit_logistic_dataframe, labelled_frame

    from rddml import LogisticRegression
    from rddml.engine.frames import FrameDataset
    from rddml.linear.passes import loss_grad_pass

    df = labelled_frame(spark)
    out: dict[str, Any] = {}
    with FrameDataset.from_dataframe(df, features_col="features", label_col="label",
                                     weight_col="w") as fd:
        sums = loss_grad_pass(fd, np.array([0.3, -0.2, 0.5]), 0.7)
    out["pass"] = {"loss": sums.loss, "grad": _array(sums.grad_coef),
                   "grad_intercept": sums.grad_intercept, "weight": sums.weight}
    fitted = fit_logistic_dataframe(df, optimizer="lbfgs", reg_param=0.01, weight_col="w")
    out["lbfgs"] = {"coef": _array(fitted.coef_), "intercept": fitted.intercept_,
                    "n_iter": fitted.n_iter_}
    evaluator = LogisticRegression(weight_col="w")
    evaluator.coef_, evaluator.intercept_ = np.array([0.8, -0.4, 0.3]), 3.5
    out["evaluate"] = evaluator.evaluate(df)
    model = LogisticRegression()
    model.coef_, model.intercept_ = np.array([0.8, -0.4, 0.3]), 3.5
    scored = model.predict_proba(df).select("features", "probability").toPandas()
    out["predict_proba"] = {"X": [list(v) for v in scored["features"]],
                            "p": scored["probability"].tolist()}
    out["estimator_evaluate"] = model.evaluate(df)
    return out


def section_errors(spark: Any) -> dict[str, Any]:
    from rddml.engine.frames import FrameDataset

    out = {}
    bad = spark.createDataFrame([([1.0, 2.0],), ([1.0, float("nan")],)], "features array<double>")
    for name, df in {"nan": bad.coalesce(1),
                     "missing_column": spark.createDataFrame([(1.0,)], "x double")}.items():
        try:
            FrameDataset.from_dataframe(df, features_col="features")
            out[name] = "no error"
        except Exception as exc:
            out[name] = f"{type(exc).__name__}: {exc}"
    return out


def section_vectors(spark: Any) -> dict[str, Any]:
    """A pyspark.ml vector column (VectorUDT) read through vector_to_array under Connect."""
    from pyspark.ml.linalg import Vectors

    from rddml.cluster.passes import cost_pass
    from rddml.engine.frames import FrameDataset

    rows = [(Vectors.dense([float(i), float(i % 3)]),) for i in range(10)]
    with FrameDataset.from_dataframe(spark.createDataFrame(rows, ["features"]),
                                     features_col="features") as fd:
        return {"n_rows": fd.n_rows, "n_features": fd.n_features,
                "cost": cost_pass(fd, np.array([[0.0, 0.0], [9.0, 0.0]]))}


def section_heart(spark: Any) -> dict[str, Any]:
    from pyspark.ml.functions import vector_to_array
    from tests.dataframe_support import HEART_COLUMNS, HEART_TEST, HEART_TRAIN

    from rddml.heart.columns import IMPOSSIBLE_VALUE_RULES
    from rddml.heart.pipeline import prepare_splits
    from rddml.heart.transformers import DropSparseColumnsModel, ImpossibleValueToNull

    train = spark.createDataFrame(HEART_TRAIN, HEART_COLUMNS)
    test = spark.createDataFrame(HEART_TEST, HEART_COLUMNS)
    rules = ImpossibleValueToNull(rules=[list(r) for r in IMPOSSIBLE_VALUE_RULES])
    _, train_p, test_p, unseen = prepare_splits(
        train, test, rules, DropSparseColumnsModel(droppedCols=["slope", "ca", "thal"]))
    out: dict[str, Any] = {"unseen": unseen}
    for name, frame in (("train", train_p), ("test", test_p)):
        rows = frame.select("line", vector_to_array("features_raw").alias("raw"),
                            vector_to_array("features").alias("scaled")).orderBy("line").collect()
        out[name] = {"raw": [list(r["raw"]) for r in rows],
                     "scaled": [list(r["scaled"]) for r in rows]}
    try:
        from rddml.heart.load import load_heart_disease

        loaded = load_heart_disease(spark, str(ROOT / "data" / "uci-heart-disease"))
        rows = loaded.df.groupBy("source").agg({"line": "max", "*": "count", "disease": "sum"})
        out["load"] = {r["source"]: [r["count(1)"], r["max(line)"], r["sum(disease)"]]
                       for r in rows.collect()}
        loaded.unpersist()
    except Exception as exc:
        out["load"] = f"{type(exc).__name__}: {str(exc)[:300]}"
    return out


def section_notebook(spark: Any) -> dict[str, Any]:
    from rddml import KMeans, LogisticRegression

    if "backend" not in KMeans().get_params() or "backend" not in LogisticRegression().get_params():
        return {"skipped": "KMeans/LogisticRegression have no DataFrame-backend hook yet"}
    with tempfile.TemporaryDirectory() as figures:
        result = runpy.run_path(str(ROOT / "notebooks" / "quickstart.py"),
                                init_globals={"spark": spark, "FIGURE_DIR": figures})
        pngs = sorted(p.name for p in Path(figures).glob("*.png"))
    return {"centres": _array(result["km"].cluster_centers_),
            "accuracy": result["metrics"]["accuracy"], "figures": pngs}


def section_ml(spark: Any) -> dict[str, Any]:
    """rddml.ml stages in pyspark.ml Pipelines, pyspark.ml's evaluators, and persistence."""
    from pyspark.ml import Pipeline, PipelineModel
    from pyspark.ml.evaluation import BinaryClassificationEvaluator, ClusteringEvaluator
    from pyspark.ml.feature import VectorAssembler
    from pyspark.ml.functions import vector_to_array
    from tests.dataframe_support import (
        BLOB_CENTRES,
        blob_arrays,
        labelled_arrays,
        scalar_columns_frame,
    )

    from rddml.engine.backend import resolve_backend
    from rddml.ml import KMeans, LogisticRegression, LogisticRegressionModel

    X, y, _ = labelled_arrays(n=300)
    df = scalar_columns_frame(spark, X, {"label": y})
    assembler = VectorAssembler(inputCols=["x0", "x1", "x2"], outputCol="features")
    model = Pipeline(stages=[assembler, LogisticRegression(regParam=0.01)]).fit(df)
    lr = model.stages[-1]
    scored = model.transform(df).orderBy("x0")

    def scores(frame: Any) -> dict[str, Any]:
        rows = frame.select(vector_to_array("probability").alias("p"),
                            vector_to_array("rawPrediction").alias("z"), "prediction",
                            "x0", "x1", "x2").collect()
        return {"probability": [list(r["p"]) for r in rows],
                "raw": [list(r["z"]) for r in rows],
                "prediction": [r["prediction"] for r in rows],
                "X": [[r["x0"], r["x1"], r["x2"]] for r in rows]}

    out: dict[str, Any] = {
        "lr": {"coef": _array(lr.coefficients.toArray()), "intercept": lr.intercept,
               "backend": lr.getBackend(), "resolved": resolve_backend(df, lr.getBackend()),
               "auc": BinaryClassificationEvaluator().evaluate(scored), **scores(scored)},
    }
    Xb, _ = blob_arrays(n=300)
    blobs = scalar_columns_frame(spark, Xb, {})
    km_model = Pipeline(stages=[
        VectorAssembler(inputCols=["x0", "x1", "x2"], outputCol="features"),
        KMeans(k=3, initialCenters=BLOB_CENTRES.tolist(), maxIter=5)]).fit(blobs)
    out["kmeans"] = {"centres": _array(km_model.stages[-1].clusterCenters()),
                     "silhouette": ClusteringEvaluator().evaluate(km_model.transform(blobs))}
    with tempfile.TemporaryDirectory() as tmp:
        saved: dict[str, Any] = {}
        try:
            model.write().overwrite().save(tmp + "/pipeline")
            model.write().overwrite().save(tmp + "/pipeline")
            loaded = PipelineModel.load(tmp + "/pipeline")
            saved["pipeline"] = {"stage": type(loaded.stages[-1]).__name__,
                                 **scores(loaded.transform(df).orderBy("x0"))}
        except Exception as exc:
            saved["pipeline"] = {"failed": f"{type(exc).__name__}: {str(exc)[:500]}"}
        try:
            lr.write().overwrite().save(tmp + "/lr")
            saved["model"] = {"coef": _array(
                LogisticRegressionModel.load(tmp + "/lr").coefficients.toArray())}
        except Exception as exc:
            saved["model"] = {"failed": f"{type(exc).__name__}: {str(exc)[:500]}"}
        out["saved"] = saved
    return out


SECTIONS: dict[str, Callable[[Any], dict[str, Any]]] = {
    "backend": section_backend, "kmeans": section_kmeans, "logistic": section_logistic,
    "errors": section_errors, "vectors": section_vectors, "heart": section_heart,
    "notebook": section_notebook, "ml": section_ml,
}


def main(path: str, only: list[str] | None = None) -> None:
    started = time.perf_counter()
    results: dict[str, Any] = {}
    try:
        spark = start_session()
    except Exception:
        results["session"] = {"error": traceback.format_exc()}
        Path(path).write_text(json.dumps(results))
        raise
    results["session"] = {"seconds": time.perf_counter() - started,
                          "class": type(spark).__module__}
    for name, section in SECTIONS.items():
        if only and name not in only:
            continue
        t0 = time.perf_counter()
        try:
            results[name] = section(spark)
        except Exception:
            results[name] = {"error": traceback.format_exc()}
        results[name]["seconds"] = time.perf_counter() - t0
    Path(path).write_text(json.dumps(results, default=float))
    spark.stop()


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2:])
