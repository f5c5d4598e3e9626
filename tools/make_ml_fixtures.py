"""Write the saved-model fixtures of ``tests/test_ml_persistence.py`` with THIS pyspark.

Run it once with each environment, so that the tests can load, under either pyspark, a
model that the other one saved::

    .venv/bin/python tools/make_ml_fixtures.py --overwrite
    .venv-spark35/bin/python tools/make_ml_fixtures.py --overwrite

Each run fits, on 40 fixed rows, a ``PipelineModel`` (``VectorAssembler`` + rddml.ml
``LogisticRegression``), a multinomial ``LogisticRegressionModel`` and a
``KMeansModel``, saves them and an unfitted ``KMeans`` with pyspark.ml's writers into
``tests/data/ml-models/pyspark-<major>.<minor>/``, and records in ``expected.json`` the
rows, the uids and what each model predicted before it was saved. Run it again when the
model format changes (rddml's ``FORMAT_VERSION``), with both environments.
"""

from __future__ import annotations

import argparse
import json
import math
import shutil
import sys
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
FIXTURES = ROOT / "tests" / "data" / "ml-models"


def rows() -> list[tuple[float, float, float, float, float]]:
    """40 rows (a, b, c, binary label, 3-class label) from closed forms, no RNG."""
    out = []
    for i in range(40):
        a, b = 3.0 * math.sin(1.3 * i), 2.0 * math.cos(0.7 * i) + 0.1 * i
        c = float(i % 5) - 2.0
        binary = float(a - 0.5 * b + 0.3 * c + math.sin(5.1 * i) > 0)
        three = float(i % 3) if i % 4 else float((i + 1) % 3)
        out.append((a, b, c, binary, three))
    return out


def fixtures(spark: Any, target: Path) -> dict[str, Any]:
    """Fit, save into ``target`` and return what the saved models predicted."""
    from pyspark.ml import Pipeline
    from pyspark.ml.feature import VectorAssembler
    from pyspark.ml.functions import vector_to_array
    from pyspark.sql import functions as F

    from rddml.ml import KMeans, LogisticRegression

    data = rows()
    df = spark.createDataFrame(data, ["a", "b", "c", "label", "label3"]).coalesce(1)
    assembler = VectorAssembler(inputCols=["a", "b", "c"], outputCol="features")
    pipeline = Pipeline(stages=[assembler, LogisticRegression(regParam=0.1, threshold=0.4)])
    fitted = pipeline.fit(df)
    fitted.write().save(str(target / "pipeline"))
    features = assembler.transform(df)
    multi = LogisticRegression(regParam=0.05, labelCol="label3").fit(features)
    multi.write().save(str(target / "multinomial"))
    km_estimator = KMeans(k=3, initialCenters=[[0.0, 0.0, 0.0], [2.0, 1.0, 1.0],
                                               [-2.0, 2.0, -1.0]], maxIter=5)
    km_estimator.write().save(str(target / "kmeans-estimator"))
    km = km_estimator.fit(features)
    km.write().save(str(target / "kmeans"))

    def column(frame: Any, name: str) -> list[Any]:
        return [r[0] for r in frame.select(name).collect()]

    scored = fitted.transform(df)
    return {
        "sparkVersion": spark.version,
        "rows": [list(r) for r in data],
        "pipeline": {"uids": [s.uid for s in fitted.stages], "threshold": 0.4,
                     "probability": column(scored.select(vector_to_array(F.col("probability"))
                                                         .alias("p")), "p"),
                     "prediction": column(scored, "prediction")},
        "multinomial": {"uid": multi.uid,
                        "probability": column(multi.transform(features).select(
                            vector_to_array(F.col("probability")).alias("p")), "p"),
                        "prediction": column(multi.transform(features), "prediction")},
        "kmeans": {"uid": km.uid, "centers": [c.tolist() for c in km.clusterCenters()],
                   "prediction": column(km.transform(features), "prediction")},
        "kmeans-estimator": {"uid": km_estimator.uid},
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--overwrite", action="store_true",
                        help="replace this pyspark version's fixtures")
    args = parser.parse_args(argv)

    import pyspark
    from pyspark.sql import SparkSession

    major_minor = ".".join(pyspark.__version__.split(".")[:2])
    target = FIXTURES / f"pyspark-{major_minor}"
    if target.exists():
        if not args.overwrite:
            print(f"error: {target} exists; pass --overwrite to replace it", file=sys.stderr)
            return 1
        shutil.rmtree(target)
    staging = FIXTURES / f".pyspark-{major_minor}.tmp"
    shutil.rmtree(staging, ignore_errors=True)
    staging.mkdir(parents=True)
    spark = (SparkSession.builder.master("local[1]").appName("rddml-ml-fixtures")
             .config("spark.ui.enabled", "false").getOrCreate())
    try:
        expected = fixtures(spark, staging)
    finally:
        spark.stop()
    (staging / "expected.json").write_text(json.dumps(expected, indent=1) + "\n")
    staging.rename(target)
    print(f"wrote {target}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
