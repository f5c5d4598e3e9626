"""Checkpoint and resume of long fits (rddml.io.checkpoint, KMeans(checkpoint_dir=...)).

The driver-kill test (a real spark-submit SIGKILLed mid-fit, then rerun) is in
tests/cluster/test_checkpoint_resume.py; these tests simulate the crash in-process.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from sklearn.datasets import make_blobs

import rddml.cluster.kmeans as kmeans_module
from rddml import BlockDataset, KMeans
from rddml.errors import InvalidParameterError
from rddml.io.checkpoint import CHECKPOINT_FILE, FitCheckpoint, decode, encode, fit_fingerprint

X, _ = make_blobs(n_samples=600, n_features=3, centers=4, random_state=7)
PARAMS = {"k": 4, "init": "random", "seed": 3, "tol": 0.0, "checkpoint_interval": 2}


@pytest.fixture(scope="module")
def points(sc: Any) -> Any:
    ds = BlockDataset.from_rdd(sc.parallelize(X.tolist(), 3))
    yield ds
    ds.unpersist()


@pytest.fixture(scope="module")
def uninterrupted(points: BlockDataset) -> KMeans:
    return KMeans(max_iter=9, **PARAMS).fit(points)


def test_state_round_trips_bit_for_bit(tmp_path: Path) -> None:
    state = {"theta": np.array([0.1 + 0.2, -1e-300, 7.0]), "ints": np.arange(6).reshape(2, 3),
             "empty": np.zeros((0, 3)), "history": [{"cost": 1 / 3}], "n": np.int64(5)}
    ckpt = FitCheckpoint(tmp_path / "ck", estimator="Demo", fingerprint={"k": 2})
    assert ckpt.load() is None
    ckpt.save(7, state)
    back = FitCheckpoint(tmp_path / "ck", estimator="Demo", fingerprint={"k": 2}).load()
    assert back is not None and back["iteration"] == 7 and not back["final"]
    np.testing.assert_array_equal(back["theta"], state["theta"])
    assert back["ints"].dtype == np.int64 and back["ints"].shape == (2, 3)
    assert back["empty"].shape == (0, 3)
    assert back["history"] == [{"cost": 1 / 3}] and back["n"] == 5
    assert decode(encode(state["theta"])).tobytes() == state["theta"].tobytes()
    # Only the checkpoint itself: the temporary file was renamed into place.
    assert [p.name for p in (tmp_path / "ck").iterdir()] == [CHECKPOINT_FILE]


def test_disabled_checkpoint_does_nothing(tmp_path: Path) -> None:
    ckpt = FitCheckpoint(None, estimator="Demo", fingerprint={})
    ckpt.save(1, {"x": 1})
    assert not ckpt.enabled and ckpt.load() is None and not ckpt.due(10)


def test_checkpoint_of_another_estimator_is_refused(tmp_path: Path) -> None:
    FitCheckpoint(tmp_path, estimator="KMeans", fingerprint={}).save(1, {})
    with pytest.raises(InvalidParameterError,
                       match=r"'checkpoint_dir' .* holds a checkpoint of 'KMeans'.*not of "
                             r"'LogisticRegression'"):
        FitCheckpoint(tmp_path, estimator="LogisticRegression", fingerprint={}).load()


def test_fit_resumes_where_the_last_run_stopped(points: BlockDataset, uninterrupted: KMeans,
                                                tmp_path: Path) -> None:
    first = KMeans(max_iter=4, checkpoint_dir=str(tmp_path), **PARAMS).fit(points)
    assert first.resumed_iteration_ == 0 and first.n_iter_ == 4
    resumed = KMeans(max_iter=9, checkpoint_dir=str(tmp_path), **PARAMS).fit(points)
    assert resumed.resumed_iteration_ == 4
    np.testing.assert_array_equal(resumed.cluster_centers_, uninterrupted.cluster_centers_)
    np.testing.assert_array_equal(resumed.init_centers_, uninterrupted.init_centers_)
    assert [h["cost"] for h in resumed.history_] == [h["cost"] for h in uninterrupted.history_]
    assert resumed.inertia_ == uninterrupted.inertia_ and resumed.n_iter_ == 9
    saved = json.loads((tmp_path / CHECKPOINT_FILE).read_text())
    assert saved["iteration"] == 9 and saved["final"]


def test_fit_killed_mid_way_resumes_from_the_last_checkpoint(
    points: BlockDataset, uninterrupted: KMeans, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    real_pass = kmeans_module.lloyd_pass
    calls = {"n": 0}

    def crash_in_iteration_7(*args: Any, **kwargs: Any) -> Any:
        calls["n"] += 1
        if calls["n"] == 7:
            raise KeyboardInterrupt("driver killed")
        return real_pass(*args, **kwargs)

    monkeypatch.setattr(kmeans_module, "lloyd_pass", crash_in_iteration_7)
    with pytest.raises(KeyboardInterrupt):
        KMeans(max_iter=9, checkpoint_dir=str(tmp_path), **PARAMS).fit(points)
    assert json.loads((tmp_path / CHECKPOINT_FILE).read_text())["iteration"] == 6
    monkeypatch.setattr(kmeans_module, "lloyd_pass", real_pass)
    resumed = KMeans(max_iter=9, checkpoint_dir=str(tmp_path), **PARAMS).fit(points)
    assert resumed.resumed_iteration_ == 6
    np.testing.assert_array_equal(resumed.cluster_centers_, uninterrupted.cluster_centers_)


def test_rerunning_a_finished_fit_runs_no_iteration(points: BlockDataset, tmp_path: Path,
                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    done = KMeans(max_iter=3, checkpoint_dir=str(tmp_path), **PARAMS).fit(points)
    monkeypatch.setattr(kmeans_module, "lloyd_pass", None)  # any Lloyd pass would fail
    again = KMeans(max_iter=3, checkpoint_dir=str(tmp_path), **PARAMS).fit(points)
    assert again.resumed_iteration_ == 3
    np.testing.assert_array_equal(again.cluster_centers_, done.cluster_centers_)


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"k": 3}, r"params\.k=3 here but 4 in the checkpoint"),
        ({"seed": 4}, r"params\.seed=4 here but 3 in the checkpoint"),
        ({"init": "k-means++"}, r"params\.init='k-means\+\+' here but 'random'"),
    ],
)
def test_checkpoint_of_a_different_fit_is_refused(points: BlockDataset, tmp_path: Path,
                                                  change: dict[str, Any], message: str) -> None:
    KMeans(max_iter=2, checkpoint_dir=str(tmp_path), **PARAMS).fit(points)
    with pytest.raises(InvalidParameterError,
                       match=rf"'checkpoint_dir' .*{tmp_path}.* different KMeans fit: {message}"):
        KMeans(max_iter=2, checkpoint_dir=str(tmp_path), **{**PARAMS, **change}).fit(points)


def test_checkpoint_of_other_data_is_refused(sc: Any, points: BlockDataset, tmp_path: Path) -> None:
    KMeans(max_iter=2, checkpoint_dir=str(tmp_path), **PARAMS).fit(points)
    with pytest.raises(InvalidParameterError, match=r"data\.n_rows=599 here but 600"):
        KMeans(max_iter=2, checkpoint_dir=str(tmp_path), **PARAMS).fit(
            sc.parallelize(X[:-1].tolist(), 2))


def test_fingerprint_ignores_checkpoint_settings_and_max_iter(points: BlockDataset) -> None:
    a = KMeans(max_iter=5, checkpoint_dir="a", checkpoint_interval=1, **{
        k: v for k, v in PARAMS.items() if k != "checkpoint_interval"})
    b = KMeans(max_iter=50, checkpoint_dir="b", **PARAMS)
    fa = fit_fingerprint(a.get_params(), points, exclude=("max_iter",))
    assert fa == fit_fingerprint(b.get_params(), points, exclude=("max_iter",))
    assert fa["data"] == {"n_rows": 600, "n_features": 3, "labels": [], "weighted": False,
                          "content": points.digest}


def test_checkpoint_of_other_data_of_the_same_shape_is_refused(
        sc: Any, points: BlockDataset, tmp_path: Path) -> None:
    """The fingerprint covers the rows' contents: one changed value is refused (it used to
    resume and return the other data's centres)."""
    KMeans(max_iter=2, checkpoint_dir=str(tmp_path), **PARAMS).fit(points)
    changed = X.copy()
    changed[123, 1] += 1e-9
    with pytest.raises(InvalidParameterError, match=r"data\.content=.* here but"):
        KMeans(max_iter=2, checkpoint_dir=str(tmp_path), **PARAMS).fit(
            sc.parallelize(changed.tolist(), 3))


def test_the_same_rows_in_another_order_and_partitioning_resume(
        sc: Any, points: BlockDataset, tmp_path: Path) -> None:
    done = KMeans(max_iter=2, checkpoint_dir=str(tmp_path), **PARAMS).fit(points)
    shuffled = X[np.random.default_rng(1).permutation(len(X))]
    again = KMeans(max_iter=2, checkpoint_dir=str(tmp_path), **PARAMS).fit(
        sc.parallelize(shuffled.tolist(), 5))
    assert again.resumed_iteration_ == 2
    np.testing.assert_array_equal(again.cluster_centers_, done.cluster_centers_)


def test_a_copy_of_the_input_file_elsewhere_is_refused(sc: Any, tmp_path: Path) -> None:
    """Rows read from files carry their path into the fingerprint: the same bytes under
    another path are refused, naming both paths; the same path resumes."""
    from rddml.engine.sources.text import read_points_csv

    first, second = tmp_path / "a" / "points.csv", tmp_path / "b" / "points.csv"
    for path in (first, second):
        path.parent.mkdir()
        np.savetxt(path, X, delimiter=",")
    ckpt = tmp_path / "ckpt"
    with read_points_csv(sc, str(first)) as ds:
        assert ds.input_path == str(first)
        KMeans(max_iter=2, checkpoint_dir=str(ckpt), **PARAMS).fit(ds)
        assert KMeans(max_iter=3, checkpoint_dir=str(ckpt), **PARAMS).fit(
            ds).resumed_iteration_ == 2
    with read_points_csv(sc, str(second)) as ds, pytest.raises(
            InvalidParameterError,
            match=r"data\.input_path=.*b/points\.csv.* here but .*a/points\.csv"):
        KMeans(max_iter=3, checkpoint_dir=str(ckpt), **PARAMS).fit(ds)


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ({"checkpoint_interval": 0}, r"'checkpoint_interval' parameter must be an int >= 1, got 0"),
        ({"checkpoint_dir": 5}, r"'checkpoint_dir' parameter"),
    ],
)
def test_invalid_checkpoint_parameters(sc: Any, params: dict[str, Any], message: str) -> None:
    with pytest.raises(InvalidParameterError, match=message):
        KMeans(k=1, **params).fit(sc.parallelize([[0.0], [1.0]]))
