"""rddml.ml persistence on pyspark 3.5 and 4: save, overwrite, PipelineModel.save, and
models saved by one pyspark version loaded by the other.

The cross-version models are fixtures written by ``tools/make_ml_fixtures.py`` under each
environment (``tests/data/ml-models/pyspark-3.5``, ``pyspark-4.x``), with what each model
predicted before it was saved; this file runs in both test environments (the 3.5 subset
of the Makefile lists it), so each pyspark loads both versions' files.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pyspark
import pytest
from pyspark.ml import Pipeline, PipelineModel
from pyspark.ml.feature import VectorAssembler
from pyspark.ml.functions import vector_to_array

from rddml.errors import DataValidationError
from rddml.ml import KMeans, KMeansModel, LogisticRegression, LogisticRegressionModel

FIXTURES = Path(__file__).parent / "data" / "ml-models"
SAVED_BY = sorted(p.name for p in FIXTURES.glob("pyspark-*"))


def test_there_are_fixtures_of_both_pyspark_lines() -> None:
    majors = {name.split("-")[1].split(".")[0] for name in SAVED_BY}
    assert majors == {"3", "4"}, SAVED_BY


@pytest.fixture(scope="module")
def rows_df(spark: Any) -> Any:
    """The fixtures' 40 rows, assembled (the same for every fixture directory)."""
    expected = json.loads((FIXTURES / SAVED_BY[0] / "expected.json").read_text())
    df = spark.createDataFrame([tuple(r) for r in expected["rows"]],
                               ["a", "b", "c", "label", "label3"]).coalesce(1)
    return VectorAssembler(inputCols=["a", "b", "c"], outputCol="features").transform(df)


def column(df: Any, name: str) -> list[Any]:
    return [r[0] for r in df.select(name).collect()]


def vectors(df: Any, name: str) -> np.ndarray:
    return np.array(column(df.select(vector_to_array(name).alias("v")), "v"))


@pytest.mark.parametrize("saved_by", SAVED_BY)
def test_models_saved_by_either_pyspark_load_and_predict_as_before(
        spark: Any, rows_df: Any, saved_by: str) -> None:
    """What pyspark 3.5 (RDD saveAsTextFile metadata in its PipelineModel) and pyspark 4
    saved loads here, with its uids and Params, and predicts what it predicted then."""
    directory = FIXTURES / saved_by
    expected = json.loads((directory / "expected.json").read_text())
    assert expected["sparkVersion"].startswith(saved_by.split("-")[1])
    raw = rows_df.drop("features")

    pipeline = PipelineModel.load(str(directory / "pipeline"))
    lr = pipeline.stages[-1]
    assert type(lr) is LogisticRegressionModel
    assert [s.uid for s in pipeline.stages] == expected["pipeline"]["uids"]
    assert lr.getThreshold() == expected["pipeline"]["threshold"]
    scored = pipeline.transform(raw)
    np.testing.assert_allclose(vectors(scored, "probability"),
                               expected["pipeline"]["probability"], rtol=1e-12, atol=0)
    assert column(scored, "prediction") == expected["pipeline"]["prediction"]

    multi = LogisticRegressionModel.load(str(directory / "multinomial"))
    assert multi.uid == expected["multinomial"]["uid"] and multi.numClasses == 3
    np.testing.assert_allclose(vectors(multi.transform(rows_df), "probability"),
                               expected["multinomial"]["probability"], rtol=1e-12, atol=0)
    assert column(multi.transform(rows_df), "prediction") == \
        expected["multinomial"]["prediction"]

    km = KMeansModel.load(str(directory / "kmeans"))
    assert km.uid == expected["kmeans"]["uid"] and km.getMaxIter() == 5
    np.testing.assert_array_equal(np.array(km.clusterCenters()), expected["kmeans"]["centers"])
    assert column(km.transform(rows_df), "prediction") == expected["kmeans"]["prediction"]

    estimator = KMeans.load(str(directory / "kmeans-estimator"))
    assert estimator.uid == expected["kmeans-estimator"]["uid"]
    assert (estimator.getK(), estimator.getMaxIter()) == (3, 5)
    assert estimator.getInitialCenters() == [[0.0, 0.0, 0.0], [2.0, 1.0, 1.0],
                                             [-2.0, 2.0, -1.0]]


def test_save_overwrite_and_pipeline_save_on_this_pyspark(spark: Any, rows_df: Any,
                                                          tmp_path: Path) -> None:
    """save, write().overwrite().save and PipelineModel.save with rddml.ml stages, and
    their loads, on the installed pyspark (3.5's DefaultParamsWriter takes a SparkContext,
    4's a SparkSession: rddml uses neither)."""
    raw = rows_df.drop("features")
    pipeline = Pipeline(stages=[VectorAssembler(inputCols=["a", "b", "c"],
                                                outputCol="features"),
                                LogisticRegression(regParam=0.1, maxIter=20)]).fit(raw)
    path = str(tmp_path / "pipeline")
    pipeline.save(path)
    with pytest.raises(Exception, match="already exists"):
        pipeline.save(path)
    pipeline.write().overwrite().save(path)
    loaded = PipelineModel.load(path)
    assert [s.uid for s in loaded.stages] == [s.uid for s in pipeline.stages]
    np.testing.assert_array_equal(vectors(loaded.transform(raw), "probability"),
                                  vectors(pipeline.transform(raw), "probability"))
    model = pipeline.stages[-1]
    model.write().overwrite().save(str(tmp_path / "lr"))
    model.write().overwrite().save(str(tmp_path / "lr"))
    again = LogisticRegressionModel.load(str(tmp_path / "lr"))
    np.testing.assert_array_equal(again.coefficients.toArray(), model.coefficients.toArray())
    metadata = json.loads(next((tmp_path / "lr" / "metadata").glob("part-*")).read_text())
    assert metadata["sparkVersion"] == pyspark.__version__
    assert metadata["class"] == "rddml.ml.classification.LogisticRegressionModel"
    with pytest.raises(DataValidationError, match=r"expected a saved rddml\.ml\.clustering"):
        KMeansModel.load(str(tmp_path / "lr"))
    estimator = KMeans(k=3, seed=4)
    estimator.save(str(tmp_path / "km"))
    assert KMeans.load(str(tmp_path / "km")).getSeed() == 4
