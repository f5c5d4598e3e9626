"""The study on the real files, run once: fit on train only, rddml vs scikit-learn, the
report files and the job wiring."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from chispa import assert_approx_df_equality, assert_df_equality
from jobs import heart_disease as job
from pyspark.ml import PipelineModel
from pyspark.ml.evaluation import MulticlassClassificationEvaluator
from pyspark.ml.functions import vector_to_array
from pyspark.sql import functions as F
from sklearn.linear_model import LogisticRegression as SkLogisticRegression
from sklearn.preprocessing import MinMaxScaler

from rddml.errors import ConfigError, OutputExistsError
from rddml.heart import run_study
from rddml.heart.columns import MEDIAN_IMPUTED, MODE_IMPUTED
from rddml.heart.load import schema_ddl
from rddml.heart.models import RDDML_LOGISTIC, SKLEARN_FOREST, SKLEARN_LOGISTIC
from rddml.heart.pipeline import (
    feature_names,
    fitted_statistics,
    prepare_splits,
    unseen_category_counts,
)
from rddml.heart.severity import RDDML_SEVERITY, SKLEARN_SEVERITY
from rddml.io.config import load_config
from rddml.linear.logistic import LogisticRegression

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT / "data/uci-heart-disease"
CONF = ROOT / "conf/jobs/heart_disease.toml"


@pytest.fixture(scope="module")
def study(spark: Any) -> Any:
    result = run_study(spark, str(DATA))          # the default seed, 0, as the job
    yield result
    result.unpersist()


@pytest.fixture(scope="module")
def job_run(spark: Any, study: Any,
            tmp_path_factory: pytest.TempPathFactory) -> tuple[dict[str, Any], Path, list[Any]]:
    """The job's ``main`` with ``run_study`` replaced by the module's study (run once)."""
    calls: list[dict[str, Any]] = []

    def fake_run_study(spark_: Any, data_dir: str, **kwargs: Any) -> Any:
        calls.append({"data_dir": data_dir, **kwargs})
        return study

    # Space, %-escapes, '#' and non-ASCII: Spark writes (Parquet, pipeline) must land here.
    out = tmp_path_factory.mktemp("heart") / "out dir %41 %zz #1 é"
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(job, "run_study", fake_run_study)
        patch.setattr(study, "unpersist", lambda: None)    # the other tests still use it
        metrics = job.main(spark, config(out, "seed=7", "C=0.5"))
    return metrics, out, calls


@pytest.fixture(scope="module")
def reloaded(report: tuple[dict[str, Any], Path]) -> Any:
    return PipelineModel.load(str(report[1] / "pipeline"))


@pytest.fixture(scope="module")
def report(job_run: tuple[dict[str, Any], Path, list[Any]]) -> tuple[dict[str, Any], Path]:
    return job_run[0], job_run[1]


def ordered(df: Any) -> pd.DataFrame:
    return df.orderBy("source", "line").toPandas()


def features(df: Any) -> np.ndarray:
    rows = df.orderBy("source", "line").select(vector_to_array("features").alias("x"))
    return np.array([r["x"] for r in rows.collect()])


def config(out: Path, *sets: str) -> job.Config:
    return load_config(job.Config, CONF, [f"output_dir={out}", f"data_dir={DATA}", *sets])


# -------------------------------------------------------------------------- the figures
def test_counts_of_the_study(study: Any) -> None:
    assert (study.n_rows, study.n_positive, study.n_clean) == (920, 509, 918)
    assert study.rows_per_source == {"cleveland": 303, "hungarian": 294, "switzerland": 123,
                                     "va": 200}
    assert (study.n_train, study.n_test) == (628, 290)     # Bernoulli 70/30 with seed 0
    assert study.unseen_categories == {"cp": 0, "restecg": 0}
    assert len(study.feature_names) == 20


def test_profile_figures_match_the_write_up(study: Any) -> None:
    profile = study.numeric_profile
    assert profile.loc["mean", "age"] == pytest.approx(53.510870, abs=5e-7)
    assert profile.loc["std", "age"] == pytest.approx(9.424685, abs=5e-7)
    assert profile.loc["mean", "chol"] == pytest.approx(199.130337, abs=5e-7)
    assert profile.loc["count", "trestbps"] == 861
    assert profile.loc["count", "thalach"] == 865
    assert profile.loc["mean", "oldpeak"] == pytest.approx(0.878788, abs=5e-7)


# -------------------------------------------------------------- fitted on train only
def test_medians_modes_and_ranges_come_from_train_rows(study: Any) -> None:
    rules = study.pipeline.stages[0]
    train = rules.transform(study.train_rows).toPandas()
    for column in MEDIAN_IMPUTED:
        values = train[column].dropna().to_numpy()
        assert study.fitted["medians"][column] == np.percentile(values, 50, method="lower")
        assert study.fitted["medians"][column] == train[column].median()   # no tie here
    for column in MODE_IMPUTED:
        assert study.fitted["modes"][column] == train[column].mode().iloc[0], column
    assert study.fitted["feature_min"]["age"] == train["age"].min()
    assert study.fitted["feature_max"]["chol"] == train["chol"].max()


def test_features_equal_a_pandas_sklearn_reference_fitted_on_train(study: Any) -> None:
    rules = study.pipeline.stages[0]
    tr = ordered(rules.transform(study.train_rows))
    te = ordered(rules.transform(study.test_rows))

    def reference(frame: pd.DataFrame) -> pd.DataFrame:
        out = frame.copy()
        for column in [*MEDIAN_IMPUTED, *MODE_IMPUTED]:
            out[column + "_missing"] = out[column].isna().astype(int)
        for column in MEDIAN_IMPUTED:
            out[column] = out[column].fillna(tr[column].median())
        for column in MODE_IMPUTED:
            out[column] = out[column].fillna(tr[column].mode().iloc[0])
        for column in ("cp", "restecg"):
            for level in sorted(tr[column].unique())[1:]:
                out[f"{column}_{level:g}"] = (out[column] == level).astype(int)
        return out[study.feature_names]

    scaler = MinMaxScaler().fit(reference(tr))
    np.testing.assert_allclose(features(study.train), scaler.transform(reference(tr)),
                               rtol=0, atol=1e-12)
    np.testing.assert_allclose(features(study.test), scaler.transform(reference(te)),
                               rtol=0, atol=1e-12)


def test_perturbing_the_test_split_moves_no_fitted_statistic(study: Any) -> None:
    test = study.test_rows
    perturbed = test.select(*[
        (F.col(c) * 10 + 1).alias(c) if c in ("chol", "thalach", "age") else
        F.lit(9.0).alias(c) if c == "cp" else
        F.lit(None).cast("double").alias(c) if c in ("oldpeak", "restecg") else F.col(c)
        for c in test.columns])
    rules, sparse = study.pipeline.stages[0], study.pipeline.stages[1]
    model, train_prepared, _, unseen = prepare_splits(study.train_rows, perturbed, rules,
                                                      sparse)
    assert fitted_statistics(model) == study.fitted
    np.testing.assert_array_equal(features(train_prepared), features(study.train))
    assert unseen == {"cp": study.n_test, "restecg": 0}


# ------------------------------------------------------------------------- the models
def test_rddml_accuracy_within_one_point_of_sklearn_logistic(study: Any) -> None:
    ours, sk = study.score(RDDML_LOGISTIC), study.score(SKLEARN_LOGISTIC)
    assert abs(ours.accuracy - sk.accuracy) <= 0.01
    assert ours.auc == pytest.approx(sk.auc, abs=0.005)
    assert ours.log_loss == pytest.approx(sk.log_loss, abs=0.005)
    # Same objective, so the same optimum: coefficients agree to sklearn's tolerance.
    np.testing.assert_allclose(list(ours.weights.values()), list(sk.weights.values()),
                               atol=0.05)
    assert sum(map(sum, ours.confusion_matrix)) == study.n_test


def test_forest_reference_is_scored_on_the_same_rows(study: Any) -> None:
    forest = study.score(SKLEARN_FOREST)
    assert sum(map(sum, forest.confusion_matrix)) == study.n_test
    assert forest.intercept is None
    assert sum(forest.weights.values()) == pytest.approx(1.0)      # impurity importances


def test_severity_model_matches_sklearn_multinomial_on_the_same_split(study: Any) -> None:
    severity = study.severity
    assert severity.classes == [0, 1, 2, 3, 4]
    assert sum(severity.test_counts) == study.n_test
    assert sum(severity.train_counts) == study.n_train
    ours, sk = severity.scores
    assert (ours.name, sk.name) == (RDDML_SEVERITY, SKLEARN_SEVERITY)
    # The same objective, so the same optimum: the same test predictions.
    assert ours.confusion_matrix == sk.confusion_matrix
    assert ours.accuracy == pytest.approx(sk.accuracy, abs=1e-12)
    assert ours.log_loss == pytest.approx(sk.log_loss, abs=1e-4)
    np.testing.assert_allclose(ours.recall_per_class, sk.recall_per_class, atol=1e-12)
    assert np.asarray(ours.confusion_matrix).sum(axis=1).tolist() == severity.test_counts
    assert severity.model.coef_.shape == (5, len(study.feature_names))


# ------------------------------------------------------------------------- the report
def test_report_writes_every_output(report: tuple[dict[str, Any], Path]) -> None:
    metrics, out = report
    assert sorted(p.name for p in out.iterdir()) == [
        "_rddml_manifest.json", "metrics.json", "model", "pipeline", "plots", "report.md",
        "test.parquet", "train.parquet"]
    for png in (out / "plots").iterdir():
        assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert len(list((out / "plots").iterdir())) == 4  # with the severity confusion matrices
    assert json.loads((out / "metrics.json").read_text()) == json.loads(json.dumps(metrics))
    assert metrics["rule_changes"] == {"chol == 0": 172, "trestbps == 0": 1,
                                       "oldpeak < 0": 12}


def test_report_markdown_has_the_sections_and_the_leakage_note(
        report: tuple[dict[str, Any], Path]) -> None:
    text = (report[1] / "report.md").read_text()
    for title in ("## Data", "## Numeric profile", "## Missing values", "## Disease rate",
                  "## Cleaning", "## Statistical tests", "## Preparation", "## Models",
                  "## Severity model"):
        assert title in text
    assert "`chol == 0`: 172 value(s) set to missing" in text
    assert "imputed its test set with the test set's own statistics (leakage)" in text
    assert "| mean | 53.510870 | 132.132404 | 199.130337 |" in text


def test_written_parquet_reproduces_the_sklearn_reference(
        spark: Any, report: tuple[dict[str, Any], Path]) -> None:
    metrics, out = report
    train = spark.read.parquet(str(out / "train.parquet"))
    test = spark.read.parquet(str(out / "test.parquet"))
    y_train = ordered(train.select("source", "line", "disease"))["disease"].to_numpy()
    y_test = ordered(test.select("source", "line", "disease"))["disease"].to_numpy()
    refit = SkLogisticRegression(max_iter=1000).fit(features(train), y_train)
    accuracy = float((refit.predict(features(test)) == y_test).mean())
    sk = next(m for m in metrics["models"] if m["name"] == SKLEARN_LOGISTIC)
    assert accuracy == pytest.approx(sk["accuracy"], abs=1e-12)


def test_saved_pipeline_and_model_score_the_cleaned_test_rows(
        study: Any, report: tuple[dict[str, Any], Path], reloaded: Any) -> None:
    _, out = report
    rescored = reloaded.transform(study.test_rows)
    assert_df_equality(
        rescored.select("source", "line", vector_to_array("features").alias("x")),
        study.test.select("source", "line", vector_to_array("features").alias("x")),
        ignore_row_order=True)
    lr = LogisticRegression.load(str(out / "model"))
    assert lr.evaluate(study.test)["accuracy"] == pytest.approx(
        study.score(RDDML_LOGISTIC).accuracy, abs=1e-12)
    # The same PipelineModel ends with the rddml.ml logistic regression: raw rows in,
    # rddml's probabilities out, and pyspark.ml's evaluator gives the study's accuracy.
    assert type(reloaded.stages[-1]).__name__ == "LogisticRegressionModel"
    got = rescored.select("source", "line", vector_to_array("probability")[1].alias("p"))
    want = lr.predict_proba(study.test).select("source", "line", F.col("probability").alias("p"))
    assert_approx_df_equality(got, want, precision=1e-12, ignore_row_order=True)
    accuracy = MulticlassClassificationEvaluator(
        labelCol="disease", metricName="accuracy").evaluate(rescored)
    assert accuracy == pytest.approx(study.score(RDDML_LOGISTIC).accuracy, abs=1e-12)


def test_saved_pipeline_scores_a_new_raw_patient_with_an_unseen_category(
        spark: Any, reloaded: Any) -> None:
    pipeline = reloaded
    # As loaded: sparse columns still present, impossible zeros, a missing fbs, cp 9.
    patient = spark.createDataFrame(
        [("new", 1, 52.0, 1.0, 9.0, 0.0, 0.0, None, 1.0, 160.0, 1.0, 0.5, 2.0, None, 7.0, 1, 1)],
        schema_ddl())
    scored = pipeline.transform(patient)
    assert not {"slope", "ca", "thal"} & set(scored.columns)
    assert unseen_category_counts(pipeline, scored) == {"cp": 1, "restecg": 0}
    row = scored.select(vector_to_array("features_raw").alias("x")).first()
    assert row is not None
    medians, modes = fitted_statistics(pipeline)["medians"], fitted_statistics(pipeline)["modes"]
    names = feature_names(pipeline)
    values = dict(zip(names, row["x"]))
    assert values["trestbps"] == medians["trestbps"] and values["chol"] == medians["chol"]
    assert values["fbs"] == modes["fbs"] and values["fbs_missing"] == 1.0
    assert values["cp_2"] == values["cp_3"] == values["cp_4"] == 0.0   # scored as cp 1
    lr = pipeline.stages[-1]
    z = float(np.dot(lr.coefficients.toArray(),
                     scored.select(vector_to_array("features").alias("x")).first()["x"]))
    p = scored.select(vector_to_array("probability").alias("p")).first()["p"]
    assert p[1] == pytest.approx(1 / (1 + np.exp(-(z + lr.intercept))), rel=1e-12)


# ---------------------------------------------------------------------------- the job
def test_job_passes_its_config_to_the_study_and_writes_atomically(
        job_run: tuple[dict[str, Any], Path, list[Any]]) -> None:
    metrics, out, calls = job_run
    assert calls == [{"data_dir": str(DATA), "seed": 7, "train_fraction": 0.7,
                      "max_missing_fraction": 0.3, "on_bad_rows": "error", "C": 0.5,
                      "n_estimators": 100}]
    assert metrics["n_clean"] == 918
    assert [p.name for p in out.parent.iterdir()] == [out.name]   # no temporary left


def test_job_refuses_existing_output_before_any_work(spark: Any, tmp_path: Path) -> None:
    (tmp_path / "out").mkdir()
    with pytest.raises(OutputExistsError, match="already exists; pass --overwrite"):
        job.main(spark, config(tmp_path / "out"))


def test_job_config_rejects_bad_values(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="key 'on_bad_rows': expected one of 'error', 'skip'"):
        config(tmp_path, "on_bad_rows=ignore")
    with pytest.raises(ConfigError, match="key 'train_fraction'"):
        config(tmp_path, "train_fraction=1.5")
