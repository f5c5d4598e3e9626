"""Multinomial (softmax) logistic regression: the references it must match, its
invariances (partitioning, backend, K = 2), persistence, metrics and bad input.

References are computed independently: scikit-learn's multinomial
``LogisticRegression`` with the same objective (``C = 1 / (reg_param · Σw)``), Spark
MLlib's multinomial ``pyspark.ml`` ``LogisticRegression`` (standardisation, elastic
net) and scikit-learn's metrics. Every fit shares a few cached engine datasets so the
module stays fast.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from sklearn.linear_model import LogisticRegression as SkLogisticRegression
from sklearn.metrics import (
    accuracy_score,
    confusion_matrix,
    log_loss,
    precision_recall_fscore_support,
    roc_auc_score,
)

from rddml import BlockDataset, LogisticRegression
from rddml.engine.census import block_label_census
from rddml.engine.frames import FrameDataset
from rddml.errors import DataValidationError, InvalidParameterError
from rddml.linear.softmax import (
    MultiEvalStats,
    block_softmax_loss_grad,
    multiclass_metrics,
    softmax_rows,
)

K = 3
REG = 0.01
TIGHT = dict(tol=1e-10, max_iter=500)


def make_data(seed: int = 0, n: int = 360, d: int = 4, k: int = K
              ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Features of different scales and offsets, softmax labels, row weights in [0.5, 2]."""
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, d)) * np.array([1.0, 2.0, 0.5, 3.0])[:d] + np.arange(d)
    W = rng.normal(size=(k, d))
    P = softmax_rows((X - np.arange(d)) @ W.T)
    y = (P.cumsum(axis=1) < rng.random(n)[:, None]).sum(axis=1).astype(np.float64)
    return X, y, rng.uniform(0.5, 2.0, n)


@pytest.fixture(scope="module")
def arrays() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    return make_data()


@pytest.fixture(scope="module")
def one_partition(sc: Any, arrays: Any) -> Iterator[BlockDataset]:
    ds = BlockDataset.from_numpy(sc, *arrays, num_partitions=1)
    yield ds
    ds.unpersist()


@pytest.fixture(scope="module")
def frame(spark: Any, arrays: Any) -> Iterator[Any]:
    X, y, w = arrays
    rows = [(X[i].tolist(), float(y[i]), float(w[i])) for i in range(len(y))]
    df = spark.createDataFrame(rows, "features array<double>, label double, w double")
    df = df.repartition(3).persist()
    yield df
    df.unpersist()


@pytest.fixture(scope="module")
def reference_fit(one_partition: BlockDataset) -> LogisticRegression:
    """L2, no standardisation, row weights: scikit-learn's objective, on one partition."""
    return LogisticRegression(reg_param=REG, standardize=False, **TIGHT).fit(one_partition)


def centred(A: np.ndarray) -> np.ndarray:
    """Subtract each feature's (column's) mean over the classes: both parametrisations of
    the softmax are symmetric, so only the centred coefficients are identifiable."""
    return A - A.mean(axis=0)


# ------------------------------------------------------------------ references
def test_matches_scikit_learn_multinomial_with_row_weights(
        reference_fit: LogisticRegression, arrays: Any) -> None:
    X, y, w = arrays
    ref = SkLogisticRegression(C=1.0 / (REG * w.sum()), tol=1e-12, max_iter=10_000).fit(
        X, y, sample_weight=w)
    assert reference_fit.family_ == "multinomial"
    assert reference_fit.coef_.shape == (K, X.shape[1])
    assert reference_fit.intercept_.shape == (K,)
    np.testing.assert_allclose(centred(reference_fit.coef_), centred(ref.coef_), rtol=0,
                               atol=1e-4)
    np.testing.assert_allclose(reference_fit.intercept_, ref.intercept_ - ref.intercept_.mean(),
                               rtol=0, atol=1e-4)
    np.testing.assert_allclose(reference_fit.predict_proba(X), ref.predict_proba(X), rtol=0,
                               atol=1e-6)
    np.testing.assert_array_equal(reference_fit.predict(X), ref.predict(X))


def test_matches_spark_mllib_multinomial_elastic_net(frame: Any,
                                                     one_partition: BlockDataset) -> None:
    """MLlib (standardization=True, elastic net) minimises the same objective; it centres
    the intercepts (so does rddml), and with a penalty the coefficients are unique."""
    from pyspark.ml.classification import LogisticRegression as MLlibLogisticRegression
    from pyspark.ml.functions import array_to_vector
    from pyspark.sql import functions as F

    vectors = frame.select(array_to_vector(F.col("features")).alias("features"), "label", "w")
    mllib = MLlibLogisticRegression(family="multinomial", regParam=0.05, elasticNetParam=0.3,
                                    standardization=True, weightCol="w", tol=1e-12,
                                    maxIter=1000).fit(vectors)
    ours = LogisticRegression(reg_param=0.05, l1_ratio=0.3, standardize=True,
                              **TIGHT).fit(one_partition)
    mllib_coef = mllib.coefficientMatrix.toArray()
    np.testing.assert_allclose(ours.coef_, mllib_coef, rtol=0, atol=1e-4)
    np.testing.assert_allclose(ours.intercept_, mllib.interceptVector.toArray(), rtol=0,
                               atol=1e-4)
    # L1 zeroes the same coefficients.
    np.testing.assert_array_equal(ours.coef_ == 0, mllib_coef == 0)


# ---------------------------------------------------------------- invariances
def test_eight_partitions_and_the_dataframe_backend_take_the_same_steps(
        sc: Any, arrays: Any, frame: Any, one_partition: BlockDataset) -> None:
    """The same L-BFGS path step by step (six iterations, standardised, class-weighted),
    whatever the partitioning or backend: 1e-9."""
    params = dict(reg_param=REG, class_weight={2: 1.5}, max_iter=6, tol=0.0)
    on_one = LogisticRegression(**params).fit(one_partition)
    with BlockDataset.from_numpy(sc, *arrays, num_partitions=8) as eight:
        on_eight = LogisticRegression(**params).fit(eight)
    with FrameDataset.from_dataframe(frame, label_col="label", weight_col="w") as frames:
        on_frames = LogisticRegression(**params).fit(frames)
    for other in (on_eight, on_frames):
        np.testing.assert_allclose(other.coef_, on_one.coef_, rtol=0, atol=1e-9)
        np.testing.assert_allclose(other.intercept_, on_one.intercept_, rtol=0, atol=1e-9)
        np.testing.assert_allclose(other.loss_history_, on_one.loss_history_, rtol=1e-12)


def test_two_class_multinomial_gives_the_binomial_probabilities(sc: Any) -> None:
    X, y, _ = make_data(seed=1, k=2)
    with BlockDataset.from_numpy(sc, X, y, num_partitions=2) as ds:
        binary = LogisticRegression(standardize=False, **TIGHT).fit(ds)
        softmax = LogisticRegression(family="multinomial", standardize=False, **TIGHT).fit(ds)
    assert binary.family_ == "binomial" and binary.coef_.shape == (X.shape[1],)
    assert softmax.coef_.shape == (2, X.shape[1])
    np.testing.assert_allclose(softmax.predict_proba(X)[:, 1], binary.predict_proba(X),
                               rtol=0, atol=1e-6)
    # Unpenalised, the centred rows are ± half the binary coefficients.
    np.testing.assert_allclose(softmax.coef_[1] - softmax.coef_[0], binary.coef_, rtol=0,
                               atol=1e-5)


def test_loss_and_gradient_kernel_matches_finite_differences(arrays: Any) -> None:
    X, y, w = arrays
    rng = np.random.default_rng(5)
    coef, intercept = rng.normal(size=(K, X.shape[1])), rng.normal(size=K)
    cw = np.array([1.0, 2.0, 0.5])
    part = block_softmax_loss_grad(X, y, w, coef, intercept, cw)
    s = w * cw[y.astype(int)]
    Z = X @ coef.T + intercept
    expected = -(s * np.log(softmax_rows(Z)[np.arange(len(y)), y.astype(int)])).sum()
    assert part.loss == pytest.approx(expected, rel=1e-12)
    step = 1e-6
    bumped = coef.copy()
    bumped[2, 1] += step
    numeric = (block_softmax_loss_grad(X, y, w, bumped, intercept, cw).loss - part.loss) / step
    assert part.grad_coef[2, 1] == pytest.approx(numeric, rel=1e-4)


def test_label_census_merges_slices_with_different_class_counts(arrays: Any) -> None:
    """Per-class moments of two slices (one without the top class) equal the whole's; an
    invalid label is counted, not folded into a class."""
    X, y, w = arrays
    low = y < 2
    a = block_label_census(X[low], y[low], w[low])
    b = block_label_census(X[~low], y[~low], w[~low])
    merged = a.merge(b)
    assert (a.n_classes, merged.n_classes) == (2, K)
    for k in range(K):
        rows = y == k
        assert merged.moments.count[k] == rows.sum()
        np.testing.assert_allclose(merged.moments.mean[k],
                                   np.average(X[rows], axis=0, weights=w[rows]), rtol=1e-12)
    bad = block_label_census(X[:3], np.array([0.0, 2.5, -1.0]), None)
    assert (bad.bad, bad.n_bad, bad.n_classes) == ((-1.0, 2.5), 2, 1)


def test_metrics_of_a_class_absent_from_the_data_follow_scikit_learn() -> None:
    """Class 2 is neither true nor predicted: scikit-learn's averages leave it out."""
    y = np.array([0, 0, 1, 1, 3, 3, 0])
    pred = np.array([0, 1, 1, 1, 3, 0, 0])
    confusion = np.zeros((4, 4))
    np.add.at(confusion, (y, pred), 1.0)
    got = multiclass_metrics(MultiEvalStats(confusion, 0.0, float(len(y))), [None] * 4)
    for average in ("macro", "weighted"):
        p, r, f, _ = precision_recall_fscore_support(y, pred, average=average, zero_division=0)
        assert (got[f"precision_{average}"], got[f"recall_{average}"],
                got[f"f1_{average}"]) == pytest.approx((p, r, f), abs=1e-12)


# --------------------------------------------------------- predict / evaluate
def test_predictions_on_every_input_kind(sc: Any, spark: Any, frame: Any,
                                         reference_fit: LogisticRegression,
                                         arrays: Any) -> None:
    X, y, _ = arrays
    expected = reference_fit.predict_proba(X)
    assert expected.shape == (len(y), K)
    np.testing.assert_allclose(expected.sum(axis=1), 1.0, rtol=0, atol=1e-12)
    rdd = sc.parallelize([(X[i].tolist(), float(y[i])) for i in range(len(y))], 3)
    np.testing.assert_allclose(np.array(reference_fit.predict_proba(rdd).collect()), expected,
                               rtol=0, atol=1e-12)
    scored = reference_fit.predict(reference_fit.predict_proba(frame))
    rows = scored.select("probability", "prediction", "features").collect()
    proba = np.array([r["probability"] for r in rows])
    feats = np.array([r["features"] for r in rows])
    np.testing.assert_allclose(proba, reference_fit.predict_proba(feats), rtol=0, atol=1e-12)
    np.testing.assert_array_equal([r["prediction"] for r in rows], proba.argmax(axis=1))


def test_evaluate_matches_scikit_learn_metrics(frame: Any, arrays: Any,
                                               reference_fit: LogisticRegression) -> None:
    X, y, w = arrays
    reference_fit.set_params(weight_col="w")
    try:
        got = reference_fit.evaluate(frame)
    finally:
        reference_fit.set_params(weight_col=None)
    proba = reference_fit.predict_proba(X)
    pred = proba.argmax(axis=1)
    assert got["accuracy"] == pytest.approx(accuracy_score(y, pred, sample_weight=w), abs=1e-12)
    assert got["log_loss"] == pytest.approx(log_loss(y, proba, sample_weight=w), abs=1e-9)
    for average in ("macro", "weighted"):
        p, r, f, _ = precision_recall_fscore_support(y, pred, average=average, sample_weight=w,
                                                     zero_division=0)
        assert got[f"precision_{average}"] == pytest.approx(p, abs=1e-12)
        assert got[f"recall_{average}"] == pytest.approx(r, abs=1e-12)
        assert got[f"f1_{average}"] == pytest.approx(f, abs=1e-12)
    np.testing.assert_allclose(got["confusion_matrix"],
                               confusion_matrix(y, pred, sample_weight=w), rtol=0, atol=1e-9)
    for k in range(K):
        # Exact (Mann-Whitney over tied groups), as the binary AUC: 1e-9.
        assert got["auc_ovr"][k] == pytest.approx(
            roc_auc_score(y == k, proba[:, k], sample_weight=w), abs=1e-9)
    unweighted = reference_fit.evaluate(frame)
    assert unweighted["confusion_matrix"] == confusion_matrix(y, pred).tolist()


# -------------------------------------------------------- persistence, resume
def test_save_and_load_keep_the_classes_and_predictions(tmp_path: Path, arrays: Any,
                                                        reference_fit: LogisticRegression
                                                        ) -> None:
    X = arrays[0]
    reference_fit.save(str(tmp_path / "model"))
    loaded = LogisticRegression.load(str(tmp_path / "model"))
    assert loaded.family_ == "multinomial"
    np.testing.assert_array_equal(loaded.classes_, [0.0, 1.0, 2.0])
    np.testing.assert_array_equal(loaded.coef_, reference_fit.coef_)
    np.testing.assert_array_equal(loaded.intercept_, reference_fit.intercept_)
    np.testing.assert_array_equal(loaded.predict_proba(X), reference_fit.predict_proba(X))
    document = json.loads((tmp_path / "model" / "model.json").read_text())
    assert document["classes"] == [0, 1, 2]


def test_a_damaged_multinomial_file_names_the_field(tmp_path: Path,
                                                    reference_fit: LogisticRegression) -> None:
    reference_fit.save(str(tmp_path / "model"))
    file = tmp_path / "model" / "model.json"
    document = json.loads(file.read_text())
    document["classes"] = [0, 2, 1]
    file.write_text(json.dumps(document))
    with pytest.raises(DataValidationError, match=r"'classes'.*0, 1, \.\.\., K-1 in order"):
        LogisticRegression.load(str(tmp_path / "model"))


@pytest.mark.parametrize("optimizer", ["gd", "sgd"])
def test_checkpointed_fit_resumes_to_the_uninterrupted_result(
        tmp_path: Path, one_partition: BlockDataset, optimizer: str) -> None:
    params = dict(optimizer=optimizer, step_size=0.5, tol=0.0, seed=4, standardize=True,
                  batch_fraction=0.5 if optimizer == "sgd" else 1.0)
    whole = LogisticRegression(max_iter=8, **params).fit(one_partition)
    LogisticRegression(max_iter=4, checkpoint_dir=str(tmp_path), checkpoint_interval=2,
                       **params).fit(one_partition)
    resumed = LogisticRegression(max_iter=8, checkpoint_dir=str(tmp_path),
                                 checkpoint_interval=2, **params).fit(one_partition)
    assert resumed.resumed_iteration_ == 4
    np.testing.assert_array_equal(resumed.coef_, whole.coef_)
    np.testing.assert_array_equal(resumed.intercept_, whole.intercept_)
    assert resumed.loss_history_ == whole.loss_history_


def test_balanced_class_weights_match_scikit_learn(one_partition: BlockDataset,
                                                   arrays: Any) -> None:
    X, y, w = arrays
    counts = np.bincount(y.astype(int), weights=w)
    cw = w.sum() / (K * counts)
    ours = LogisticRegression(reg_param=REG, standardize=False, class_weight="balanced",
                              **TIGHT).fit(one_partition)
    ref = SkLogisticRegression(C=1.0 / (REG * (w * cw[y.astype(int)]).sum()), tol=1e-12,
                               max_iter=10_000, class_weight="balanced").fit(
        X, y, sample_weight=w)
    np.testing.assert_allclose(ours.class_weight_, cw, rtol=1e-12)
    np.testing.assert_allclose(centred(ours.coef_), centred(ref.coef_), rtol=0, atol=1e-4)


# ------------------------------------------------------------------ bad input
def fit_labels(sc: Any, labels: list[float], **params: Any) -> LogisticRegression:
    y = np.array(labels, dtype=np.float64)
    X = np.random.default_rng(0).normal(size=(len(y), 2))
    with BlockDataset.from_numpy(sc, X, y, num_partitions=2) as ds:
        return LogisticRegression(standardize=False, max_iter=2, **params).fit(ds)


def test_non_integer_labels_are_rejected(sc: Any) -> None:
    with pytest.raises(DataValidationError,
                       match=r"integers 0 \.\. K-1 .*found the label value\(s\) \[1\.5\]"):
        fit_labels(sc, [0, 1, 2, 1.5] * 3)


def test_a_class_without_rows_is_rejected(sc: Any) -> None:
    with pytest.raises(DataValidationError, match=r"class\(es\) \[1\] have no rows"):
        fit_labels(sc, [0, 2, 0, 2, 2])


def test_a_missing_class_is_found_beyond_the_label_summary(sc: Any) -> None:
    """Twenty labels exceed the summary's 16, so the statistics pass counts the classes."""
    labels = [float(v) for v in range(21) if v != 7] * 2
    with pytest.raises(DataValidationError, match=r"class\(es\) \[7\] have no rows"):
        fit_labels(sc, labels)


def test_more_than_a_thousand_classes_are_rejected(sc: Any) -> None:
    with pytest.raises(DataValidationError, match=r"at least 1501 classes.*at most 1000"):
        fit_labels(sc, [0, 1, 1500, 0])


def test_binomial_family_with_three_classes_is_rejected(sc: Any) -> None:
    with pytest.raises(DataValidationError, match="family='binomial' needs the labels 0 and 1"):
        fit_labels(sc, [0, 1, 2, 0], family="binomial")


def test_unknown_family_is_rejected() -> None:
    with pytest.raises(InvalidParameterError,
                       match=r"The 'family' parameter must be one of .*got 'poisson'"):
        LogisticRegression(family="poisson")._validate_params()


def test_class_weight_naming_a_class_beyond_the_data_is_rejected(sc: Any) -> None:
    with pytest.raises(InvalidParameterError, match="names class 5, but the data has 3 classes"):
        fit_labels(sc, [0, 1, 2, 0], class_weight={5: 2.0})


def test_evaluate_rejects_labels_outside_the_model_classes(
        sc: Any, reference_fit: LogisticRegression) -> None:
    X = np.zeros((4, 4))
    with BlockDataset.from_numpy(sc, X, np.array([0.0, 1.0, 3.0, 2.0])) as ds, \
            pytest.raises(DataValidationError, match=r"integers 0 \.\. 2; found .*\[3\.0\]"):
        reference_fit.evaluate(ds)

