"""Saved models and fit checkpoints are validated when they are read back.

Each case writes a valid file with the real writer (``save`` / ``FitCheckpoint.save``),
damages one field in ``tmp_path`` as a hand edit or a broken copy would, and checks that
loading raises :class:`DataValidationError` naming the file, the field, what was
expected and what was found, instead of loading a model that predicts nonsense (one NaN
centre captures every point) or failing later with a raw traceback.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Callable
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import numpy as np
import pytest

from rddml import BlockDataset, KMeans, LogisticRegression
from rddml.errors import DataValidationError, InvalidParameterError
from rddml.io.checkpoint import CHECKPOINT_FILE, FitCheckpoint, fit_fingerprint

NAN, INF = math.nan, math.inf
class _Delete:
    """Marks a key to remove instead of a value to write."""

    def __repr__(self) -> str:  # a stable test id (pytest-xdist compares them across workers)
        return "DELETE"


DELETE = _Delete()

CENTRES = np.array([[0.0, 0.5], [9.0, 8.5], [-4.0, 3.25]])
HISTORY = [
    {"iteration": 1, "cost": 12.5, "shift": 0.75, "empty_clusters": 0, "seconds": 0.01},
    {"iteration": 2, "cost": 10.0, "shift": 0.0, "empty_clusters": 0, "seconds": 0.02},
]
COEF = np.array([1.5, -2.0, 0.0])


# ----------------------------------------------------------------- helpers
def kmeans_model(**params: Any) -> KMeans:
    """A KMeans with fitted attributes set directly (no Spark needed to save it)."""
    km = KMeans(k=3, seed=0, **params)
    km.cluster_centers_ = CENTRES.copy()
    km.n_iter_ = 2
    km.converged_ = True
    km.inertia_ = 10.0
    km.history_ = [dict(h) for h in HISTORY]
    return km


def logistic_model(**params: Any) -> LogisticRegression:
    """A LogisticRegression with fitted attributes set directly (standardised, 3 features;
    the third is constant, so its std is 0, which a real fit produces and must load)."""
    lr = LogisticRegression(**params)
    lr.coef_ = COEF.copy()
    lr.intercept_ = 0.25
    lr.n_iter_ = 4
    lr.converged_ = True
    lr.loss_history_ = [0.69, 0.5, 0.4, 0.39]
    lr.n_passes_ = 6
    lr.class_weight_ = None
    lr.feature_mean_ = np.array([0.5, 1.0, 2.0])
    lr.feature_std_ = np.array([1.0, 2.0, 0.0])
    return lr


def put(doc: Any, path: str, value: Any) -> None:
    """Set (or, with :data:`DELETE`, remove) the entry at a dotted path like ``a.0.b``."""
    *parents, last = path.split(".")
    node = doc
    for key in parents:
        node = node[int(key)] if isinstance(node, list) else node[key]
    if isinstance(node, list):
        if value is DELETE:
            del node[int(last)]
        else:
            node[int(last)] = value
    elif value is DELETE:
        del node[last]
    else:
        node[last] = value


def rewrite(file: Path, path: str, value: Any) -> None:
    doc = json.loads(file.read_text())
    put(doc, path, value)
    # json.dumps writes NaN / Infinity as bare words, as a careless writer would.
    file.write_text(json.dumps(doc))


def saved_kmeans(tmp_path: Path, **params: Any) -> Path:
    kmeans_model(**params).save(str(tmp_path / "km"))
    return tmp_path / "km"


def saved_logistic(tmp_path: Path, **params: Any) -> Path:
    logistic_model(**params).save(str(tmp_path / "lr"))
    return tmp_path / "lr"


def field_error(file: Path, field: str, rest: str) -> str:
    """The regex of a field error: names the file, the field, then ``rest``."""
    return rf"{re.escape(repr(str(file)))}, field {re.escape(repr(field))}: {rest}"


# ------------------------------------------------------- valid files still load
def test_valid_models_load_and_predict_identically_without_spark(tmp_path: Path) -> None:
    X = np.random.default_rng(0).normal(size=(200, 2)) * 5
    km = kmeans_model(init=CENTRES.tolist())
    km.save(str(tmp_path / "km"))
    km_back = KMeans.load(str(tmp_path / "km"))
    np.testing.assert_array_equal(km_back.cluster_centers_, km.cluster_centers_)
    np.testing.assert_array_equal(km_back.predict(X), km.predict(X))
    assert km_back.history_ == km.history_ and km_back.inertia_ == km.inertia_
    lr = logistic_model(class_weight={0: 1.0, 1: 3.0}, init_coef=[0.0, 0.0, 0.0])
    lr.class_weight_ = (1.0, 3.0)
    lr.save(str(tmp_path / "lr"))
    lr_back = LogisticRegression.load(str(tmp_path / "lr"))
    X3 = np.column_stack([X, np.full(200, 2.0)])
    np.testing.assert_array_equal(lr_back.predict_proba(X3), lr.predict_proba(X3))
    assert lr_back.get_params() == lr.get_params()
    assert lr_back.class_weight_ == (1.0, 3.0)
    np.testing.assert_array_equal(lr_back.feature_std_, lr.feature_std_)


def test_fitted_models_load_and_predict_identically(sc: Any, tmp_path: Path) -> None:
    rng = np.random.default_rng(1)
    X = np.vstack([rng.normal(c, 0.3, size=(30, 2)) for c in ((0, 0), (5, 5), (0, 5))])
    km = KMeans(k=3, seed=0, max_iter=5, init="k-means++").fit(sc.parallelize(X.tolist(), 2))
    km.save(str(tmp_path / "km"))
    km_back = KMeans.load(str(tmp_path / "km"))
    np.testing.assert_array_equal(km_back.predict(X), km.predict(X))
    assert km_back.get_params() == km.get_params() and km_back.history_ == km.history_
    # A constant third feature: its std is 0 and its coefficient stays 0.
    Xc = np.column_stack([X, np.ones(len(X))])
    y = (X[:, 0] > 2.5).astype(float)
    rows = sc.parallelize([(x.tolist(), float(t)) for x, t in zip(Xc, y)], 2)
    lr = LogisticRegression(reg_param=0.1, class_weight={0: 1.0, 1: 2.0}).fit(rows)
    assert lr.feature_std_ is not None and lr.feature_std_[2] == 0.0
    lr.save(str(tmp_path / "lr"))
    lr_back = LogisticRegression.load(str(tmp_path / "lr"))
    np.testing.assert_array_equal(lr_back.predict_proba(Xc), lr.predict_proba(Xc))
    assert lr_back.get_params() == lr.get_params()
    assert lr_back.loss_history_ == lr.loss_history_


# ------------------------------------------------------ damaged bytes, either kind
STRUCTURAL = [
    pytest.param(b"\xff\xfe{}", r" is not UTF-8 text: byte 0xff at offset 0 \(invalid start byte\)",
                 id="not-utf8"),
    pytest.param('{"model": "caf\u00e9"}'.encode("latin-1"),
                 r" is not UTF-8 text: byte 0xe9 at offset 14 \(invalid continuation byte\)",
                 id="latin-1"),
    pytest.param(b'{"model": "KMeans", "format_version": 1,',
                 r" is not valid JSON: Expecting property name", id="truncated-json"),
    pytest.param(b"", r" is not valid JSON: Expecting value", id="empty-file"),
    pytest.param(b"[1, 2, 3]", r": expected a JSON object at the top level, found a list",
                 id="top-level-list"),
    pytest.param(b'"KMeans"', r": expected a JSON object at the top level, found 'KMeans'",
                 id="top-level-string"),
]


@pytest.mark.parametrize("kind", ["km", "lr"])
@pytest.mark.parametrize(("content", "message"), STRUCTURAL)
def test_unreadable_model_file_names_the_file(tmp_path: Path, kind: str, content: bytes,
                                              message: str) -> None:
    directory = saved_kmeans(tmp_path) if kind == "km" else saved_logistic(tmp_path)
    file = directory / "model.json"
    file.write_bytes(content)
    cls: Any = KMeans if kind == "km" else LogisticRegression
    with pytest.raises(DataValidationError,
                       match=r"^Model file " + re.escape(repr(str(file))) + message):
        cls.load(str(directory))


@pytest.mark.parametrize(
    ("path", "value", "message"),
    [
        ("model", "LogisticRegression",
         r"expected 'KMeans', found 'LogisticRegression'"),
        ("model", DELETE, r"expected 'KMeans', found nothing \(the key is missing\)"),
        ("format_version", 2, r"expected 1 \(this rddml's format\), found 2"),
        ("format_version", "1", r"expected 1 \(this rddml's format\), found '1'"),
    ],
    ids=["other-kind", "no-kind", "newer-version", "version-as-string"],
)
def test_wrong_format_tag_or_version(tmp_path: Path, path: str, value: Any,
                                     message: str) -> None:
    directory = saved_kmeans(tmp_path)
    rewrite(directory / "model.json", path, value)
    with pytest.raises(DataValidationError,
                       match=field_error(directory / "model.json", path, message)):
        KMeans.load(str(directory))


# -------------------------------------------------------------- KMeans fields
KMEANS_CASES = [
    # Non-finite or misshapen centres.
    ("cluster_centers.1.0", NAN, "cluster_centers",
     r"expected finite numbers, found nan at \[1\]\[0\]"),
    ("cluster_centers.2.1", -INF, "cluster_centers",
     r"expected finite numbers, found -inf at \[2\]\[1\]"),
    ("cluster_centers.2", DELETE, "cluster_centers",
     r"expected 3 rows \(one per cluster: params.k is 3\), found 2 rows"),
    ("cluster_centers.1", [9.0], "cluster_centers",
     r"expected rows of equal length, found \[1\] has 1 entries but \[0\] has 2"),
    ("cluster_centers", [1.0, 2.0, 3.0], "cluster_centers",
     r"expected a list of lists of numbers \(a 2-D array\), found 1.0 at \[0\]"),
    ("cluster_centers.0.1", "0.5", "cluster_centers",
     r"expected a list of lists of numbers \(a 2-D array\), found '0.5' at \[0\]\[1\]"),
    ("cluster_centers.0.1", None, "cluster_centers",
     r"expected a list of lists of numbers \(a 2-D array\), found null at \[0\]\[1\]"),
    ("cluster_centers", {"0": [0, 0]}, "cluster_centers",
     r"expected a list of lists of numbers \(a 2-D array\), found an object"),
    ("cluster_centers", [[], [], []], "cluster_centers",
     r"expected at least 1 column, found 0 columns"),
    ("cluster_centers", DELETE, "cluster_centers",
     r"expected a list of lists of numbers \(a 2-D array\), found nothing \(the key is "
     r"missing\)"),
    # Parameters go through the constructor's validation.
    ("params.k", -3, "params.k", r"The 'k' parameter must be an int >= 1, got -3\."),
    ("params.k", 2, "cluster_centers",
     r"expected 2 rows \(one per cluster: params.k is 2\), found 3 rows"),
    ("params.distance", "manhattan", "params.distance",
     r"The 'distance' parameter must be one of 'euclidean', 'cosine', got 'manhattan'\."),
    ("params.tol", NAN, "params.tol", r"The 'tol' parameter must be a finite float"),
    ("params.init", [[0.0, 0.0]], "params.init",
     r"The 'init' parameter must be an array of shape \(3xn\), got shape \(1, 2\)\."),
    ("params.init", [[0.0, 0.0, 0.0]] * 3, "params.init",
     r"expected 2 columns \(as cluster_centers\), found 3 columns"),
    ("params.feature_cols", ["a", "b", "c"], "params.feature_cols",
     r"expected 2 column names \(one per feature of cluster_centers\), found 3"),
    ("params.n_clusters", 3, "params",
     r"expected only KMeans parameters \(k, init, .*\), found the unknown key\(s\) "
     r"'n_clusters'"),
    ("params", [3, "random"], "params",
     r"expected a JSON object of KMeans parameters, found a list of 2 entries"),
    ("params", DELETE, "params",
     r"expected a JSON object of KMeans parameters, found nothing \(the key is missing\)"),
    # Scalars and the history.
    ("n_iter", "2", "n_iter", r"expected an int >= 0, found '2'"),
    ("n_iter", 5, "n_iter", r"expected 2 \(one per history entry\), found 5"),
    ("converged", "yes", "converged", r"expected true or false, found 'yes'"),
    ("inertia", NAN, "inertia", r"expected a finite number >= 0, found nan"),
    ("inertia", -1.0, "inertia", r"expected a finite number >= 0, found -1.0"),
    ("inertia", DELETE, "inertia", r"expected a finite number >= 0, found nothing"),
    ("history", {"1": {}}, "history", r"expected a list of per-iteration objects, found an "
                                      r"object"),
    ("history.1", 3.5, "history[1]", r"expected an object with the keys iteration, cost, "
                                     r"shift, empty_clusters, seconds, found 3.5"),
    ("history.0.cost", DELETE, "history[0].cost",
     r"expected a finite number, found nothing \(the key is missing\)"),
    ("history.0.cost", INF, "history[0].cost", r"expected a finite number, found inf"),
    ("history.1.iteration", 5, "history[1].iteration", r"expected 2, found 5"),
    ("history.1.shift", -1.0, "history[1].shift", r"expected a finite number >= 0, found -1.0"),
    ("history.0.empty_clusters", 4, "history[0].empty_clusters",
     r"expected an int in \[0, 3\], found 4"),
    ("history.0.seconds", True, "history[0].seconds", r"expected a finite number >= 0, found "
                                                      r"true"),
]


@pytest.mark.parametrize(("path", "value", "field", "message"), KMEANS_CASES,
                         ids=[f"{c[0]}={c[1]!r}"[:40] for c in KMEANS_CASES])
def test_damaged_kmeans_field_is_refused(tmp_path: Path, path: str, value: Any, field: str,
                                         message: str) -> None:
    directory = saved_kmeans(tmp_path)
    rewrite(directory / "model.json", path, value)
    with pytest.raises(DataValidationError,
                       match=field_error(directory / "model.json", field, message)):
        KMeans.load(str(directory))


def test_nan_centre_no_longer_captures_every_point(tmp_path: Path) -> None:
    """The issue's example: before validation this model loaded and predicted cluster 0
    for every point (argmin over NaN distances)."""
    directory = saved_kmeans(tmp_path)
    rewrite(directory / "model.json", "cluster_centers.0.0", NAN)
    with pytest.raises(DataValidationError, match="found nan at"):
        KMeans.load(str(directory))


# ----------------------------------------------------- LogisticRegression fields
LOGISTIC_CASES = [
    ("coef.1", NAN, "coef", r"expected finite numbers, found nan at \[1\]"),
    ("coef", [[1.5, -2.0, 0.0]], "coef",
     r"expected a list of numbers \(a 1-D array\), found a list of 3 entries at \[0\]"),
    ("coef", [], "coef", r"expected at least 1 coefficient, found 0"),
    ("coef", 1.5, "coef", r"expected a list of numbers \(a 1-D array\), found 1.5"),
    ("coef", DELETE, "coef", r"expected a list of numbers \(a 1-D array\), found nothing"),
    ("intercept", "0.25", "intercept", r"expected a finite number, found '0.25'"),
    ("intercept", INF, "intercept", r"expected a finite number, found inf"),
    ("feature_mean", [0.5, 1.0], "feature_mean",
     r"expected 3 entries \(one per coefficient\), found 2"),
    ("feature_mean.0", NAN, "feature_mean", r"expected finite numbers, found nan at \[0\]"),
    ("feature_std.1", -2.0, "feature_std", r"expected numbers >= 0, found -2.0 at \[1\]"),
    ("feature_std.2", INF, "feature_std", r"expected finite numbers, found inf at \[2\]"),
    ("feature_std", None, "feature_std",
     r"expected a list of numbers like feature_mean \(both or neither\), found null"),
    ("loss_history.2", NAN, "loss_history", r"expected finite numbers, found nan at \[2\]"),
    ("loss_history", "0.39", "loss_history",
     r"expected a list of numbers \(a 1-D array\), found '0.39'"),
    ("n_passes", -1, "n_passes", r"expected an int >= 0, found -1"),
    ("n_iter", 2.5, "n_iter", r"expected an int >= 0, found 2.5"),
    ("converged", 1, "converged", r"expected true or false, found 1"),
    ("class_weight", [1.0], "class_weight",
     r"expected 2 entries \(the weights of classes 0 and 1\), found 1"),
    ("class_weight", [1.0, -1.0], "class_weight", r"expected numbers >= 0, found -1.0 at \[1\]"),
    ("params.reg_param", -1.0, "params.reg_param",
     r"The 'reg_param' parameter must be a finite float >= 0.0, got -1.0\."),
    ("params.optimizer", "adam", "params.optimizer",
     r"The 'optimizer' parameter must be one of 'lbfgs', 'gd', 'sgd', got 'adam'\."),
    ("params.class_weight", {"x": 2.0}, "params.class_weight",
     r"The 'class_weight' parameter must map the classes 0 and 1"),
    ("params.class_weight", {"2": 2.0}, "params.class_weight",
     r"The 'class_weight' parameter must map the classes 0 and 1"),
    ("params.init_coef", [0.0, 0.0], "params.init_coef",
     r"expected 3 entries \(one per coefficient\), found 2"),
    ("params.feature_cols", ["a", "b"], "params.feature_cols",
     r"expected 3 column names \(one per coefficient\), found 2"),
    ("params.C", 1.0, "params", r"expected only LogisticRegression parameters \(optimizer, "
                                r".*\), found the unknown key\(s\) 'C'"),
    ("params.fit_intercept", False, "intercept",
     r"expected 0.0 \(params.fit_intercept is false\), found 0.25"),
]


@pytest.mark.parametrize(("path", "value", "field", "message"), LOGISTIC_CASES,
                         ids=[f"{c[0]}={c[1]!r}"[:40] for c in LOGISTIC_CASES])
def test_damaged_logistic_field_is_refused(tmp_path: Path, path: str, value: Any, field: str,
                                           message: str) -> None:
    directory = saved_logistic(tmp_path)
    rewrite(directory / "model.json", path, value)
    with pytest.raises(DataValidationError,
                       match=field_error(directory / "model.json", field, message)):
        LogisticRegression.load(str(directory))


def test_unstandardised_model_without_statistics_loads(tmp_path: Path) -> None:
    lr = logistic_model(standardize=False)
    lr.feature_mean_ = lr.feature_std_ = None
    lr.save(str(tmp_path / "lr"))
    back = LogisticRegression.load(str(tmp_path / "lr"))
    assert back.feature_mean_ is None and back.feature_std_ is None
    np.testing.assert_array_equal(back.coef_, COEF)


# ------------------------------------------------------------------ checkpoints
KM_PARAMS = {"k": 3, "init": "random", "seed": 3, "tol": 0.0, "checkpoint_interval": 2}


def kmeans_checkpoint(directory: Path) -> FitCheckpoint:
    """The FitCheckpoint a KMeans(**KM_PARAMS) fit on 40 points of 2 features uses."""
    data = SimpleNamespace(n_rows=40, n_features=2, has_weights=False)
    params = KMeans(**KM_PARAMS).get_params()
    return FitCheckpoint(directory, estimator="KMeans",
                         fingerprint=fit_fingerprint(params, data, exclude=("max_iter",)),
                         interval=2)


def write_kmeans_checkpoint(directory: Path) -> Path:
    kmeans_checkpoint(directory).save(2, {
        "seed": 3, "init_centers": CENTRES + 1.0, "centers": CENTRES.copy(),
        "history": [dict(h) for h in HISTORY], "converged": False,
    })
    return directory / CHECKPOINT_FILE


def test_valid_checkpoint_state_loads(tmp_path: Path) -> None:
    write_kmeans_checkpoint(tmp_path)
    state = kmeans_checkpoint(tmp_path).load()
    assert state is not None and state["iteration"] == 2
    np.testing.assert_array_equal(state["centers"], CENTRES)
    np.testing.assert_array_equal(state["init_centers"], CENTRES + 1.0)
    assert state["history"] == HISTORY and state["seed"] == 3


CHECKPOINT_CASES = [
    ("state.centers.__ndarray__.1.0", NAN, "state.centers",
     r"expected finite numbers, found nan at \[1\]\[0\]"),
    ("state.init_centers.__ndarray__.0.1", INF, "state.init_centers",
     r"expected finite numbers, found inf at \[0\]\[1\]"),
    ("state.centers", {"__ndarray__": [[0.0, 1.0]], "dtype": "float64", "shape": [1, 2]},
     "state.centers", r"expected an array of shape \(3, 2\) \(params.k, n_features\), found "
                      r"shape \(1, 2\)"),
    ("state.centers", CENTRES.tolist(), "state.centers",
     r"expected an encoded float array of shape \(3, 2\), found a list of 3 entries"),
    ("state.centers.__ndarray__.1", [1.0], "state.centers",
     r"expected rows of equal length, found \[1\] has 1 entries but \[0\] has 2"),
    ("state.centers.shape", [2, 3], "state.centers",
     r"expected data of the declared shape \[2, 3\], found shape \[3, 2\]"),
    ("state.centers.dtype", "float1024", "state.centers.dtype",
     r"expected a boolean, integer or floating-point NumPy dtype name, found 'float1024'"),
    ("state.centers.dtype", "object", "state.centers.dtype",
     r"expected a boolean, integer or floating-point NumPy dtype name, found 'object'"),
    ("state.centers.__ndarray__.0.0", "x", "state.centers",
     r"expected numbers, found 'x' at \[0\]\[0\]"),
    ("state.history.1", DELETE, "state.history",
     r"expected 2 entries \(one per iteration done\), found 1"),
    ("state.history.0.cost", NAN, "state.history[0].cost", r"expected a finite number, "
                                                           r"found nan"),
    ("state.history.0.shift", DELETE, "state.history[0].shift",
     r"expected a finite number >= 0, found nothing \(the key is missing\)"),
    ("state.seed", -1, "state.seed", r"expected an int >= 0, found -1"),
    ("state.converged", "no", "state.converged", r"expected true or false, found 'no'"),
    ("state.centers", DELETE, "state.centers",
     r"expected an encoded float array of shape \(3, 2\), found nothing"),
    ("iteration", "2", "iteration", r"expected an int >= 0, found '2'"),
    ("final", None, "final", r"expected true or false, found null"),
    ("state", [1, 2], "state", r"expected a JSON object, found a list of 2 entries"),
    ("format_version", 7, "format_version", r"expected 1 \(this rddml's format\), found 7"),
    ("estimator", DELETE, "estimator",
     r"expected the name of an estimator, found nothing \(the key is missing\)"),
]


@pytest.mark.parametrize(("path", "value", "field", "message"), CHECKPOINT_CASES,
                         ids=[f"{c[0]}={c[1]!r}"[:40] for c in CHECKPOINT_CASES])
def test_damaged_checkpoint_is_refused(tmp_path: Path, path: str, value: Any, field: str,
                                       message: str) -> None:
    file = write_kmeans_checkpoint(tmp_path)
    rewrite(file, path, value)
    with pytest.raises(DataValidationError,
                       match=r"^Checkpoint " + field_error(file, field, message)):
        kmeans_checkpoint(tmp_path).load()


@pytest.mark.parametrize(("content", "message"), STRUCTURAL)
def test_unreadable_checkpoint_names_the_file(tmp_path: Path, content: bytes,
                                              message: str) -> None:
    file = write_kmeans_checkpoint(tmp_path)
    file.write_bytes(content)
    with pytest.raises(DataValidationError,
                       match=r"^Checkpoint " + re.escape(repr(str(file))) + message):
        kmeans_checkpoint(tmp_path).load()


def test_checkpoint_of_another_estimator_is_still_a_parameter_error(tmp_path: Path) -> None:
    write_kmeans_checkpoint(tmp_path)
    other = FitCheckpoint(tmp_path, estimator="LogisticRegression", fingerprint={})
    with pytest.raises(InvalidParameterError, match="holds a checkpoint of 'KMeans'"):
        other.load()


def test_generic_checkpoint_arrays_are_decoded_strictly(tmp_path: Path) -> None:
    """Estimators without their own state check still get well-formed arrays."""
    ckpt = FitCheckpoint(tmp_path, estimator="Demo", fingerprint={"k": 2})
    ckpt.save(1, {"theta": np.array([0.5, 1.5]), "counts": np.arange(3)})
    file = tmp_path / CHECKPOINT_FILE
    rewrite(file, "state.counts.__ndarray__.1", 1.5)
    with pytest.raises(DataValidationError,
                       match=r"^Checkpoint " + field_error(
                           file, "state.counts", r"expected integers, found 1.5 at \[1\]")):
        FitCheckpoint(tmp_path, estimator="Demo", fingerprint={"k": 2}).load()
    # The generic level keeps NaN (a diverging history is a legitimate record).
    ckpt.save(2, {"history": [1.0, NAN], "theta": np.array([NAN])})
    state = FitCheckpoint(tmp_path, estimator="Demo", fingerprint={"k": 2}).load()
    assert state is not None and math.isnan(state["history"][1])
    assert math.isnan(state["theta"][0])


def test_fit_refuses_to_resume_from_a_damaged_checkpoint(sc: Any, tmp_path: Path) -> None:
    """End to end: without the check the NaN centre was resumed from and the fit ran on."""
    rng = np.random.default_rng(2)
    X = np.vstack([rng.normal(c, 0.3, size=(20, 2)) for c in ((0, 0), (5, 5))])
    ds = BlockDataset.from_rdd(sc.parallelize(X.tolist(), 2))
    try:
        params = dict(KM_PARAMS, k=2)
        KMeans(max_iter=2, checkpoint_dir=str(tmp_path), **params).fit(ds)
        file = tmp_path / CHECKPOINT_FILE
        rewrite(file, "state.centers.__ndarray__.0.0", NAN)
        with pytest.raises(DataValidationError,
                           match=r"^Checkpoint " + field_error(
                               file, "state.centers", r"expected finite numbers, found nan")):
            KMeans(max_iter=4, checkpoint_dir=str(tmp_path), **params).fit(ds)
    finally:
        ds.unpersist()


def test_messages_never_leak_raw_exceptions(tmp_path: Path) -> None:
    """A sweep: every top-level key of a saved model replaced by each odd JSON value gives
    DataValidationError naming the file and a field (never KeyError, TypeError,
    IndexError, AttributeError ...), unless the value is one a fit could have written."""
    odd: list[Any] = [None, True, -1, 1.5, NAN, "x", [], [[1]], {}, {"a": 1}]
    cases: list[tuple[Callable[..., Any], Path, list[tuple[str, Any]]]] = [
        (KMeans.load, saved_kmeans(tmp_path), [("converged", True), ("inertia", 1.5)]),
        (LogisticRegression.load, saved_logistic(tmp_path),
         [("converged", True), ("intercept", -1), ("intercept", 1.5), ("class_weight", None),
          ("loss_history", []), ("params", {})]),
    ]
    for load, directory, loadable in cases:
        file = directory / "model.json"
        original = file.read_text()
        for key in json.loads(original):
            if key == "rddml_version":  # informative only
                continue
            for value in odd:
                file.write_text(original)
                rewrite(file, key, value)
                try:
                    load(str(directory))
                except DataValidationError as exc:
                    assert repr(str(file)) in str(exc) and ", field '" in str(exc), str(exc)
                else:
                    assert (key, value) in loadable, (key, value)
