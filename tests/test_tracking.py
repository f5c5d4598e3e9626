"""Optional MLflow tracking: params, per-iteration metrics and the saved model per fit.

Uses a local file-store tracking URI under ``tmp_path``. Skipped when mlflow is not
installed (it is the optional ``rddml[mlflow]`` extra).
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from rddml import KMeans, LogisticRegression
from rddml.errors import RddmlError
from rddml.io import tracking

mlflow = pytest.importorskip("mlflow", reason="mlflow is the optional rddml[mlflow] extra")


@pytest.fixture
def store(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Any:
    # MLflow >= 3 refuses the file store unless asked; it is what this test wants.
    monkeypatch.setenv("MLFLOW_ALLOW_FILE_STORE", "true")
    uri = (tmp_path / "mlruns").as_uri()
    with tracking.enabled(tracking_uri=uri, experiment="rddml-tests"):
        yield mlflow.tracking.MlflowClient(tracking_uri=uri)
    assert not tracking.is_enabled()


def _kmeans(sc: Any) -> KMeans:
    points = [[0.0, 0.0], [0.0, 1.0], [9.0, 9.0], [9.0, 8.0], [4.0, 5.0]]
    return KMeans(k=2, init=[[0.0, 0.0], [4.0, 5.0]], max_iter=5).fit(sc.parallelize(points, 2))


def test_a_kmeans_fit_logs_params_iteration_metrics_and_the_model(sc: Any, store: Any,
                                                                   tmp_path: Path) -> None:
    km = _kmeans(sc)
    run_id = tracking.log_fit(km, backend="rdd")
    run = store.get_run(run_id)
    assert run.data.params["k"] == "2"
    assert run.data.params["init"] == "[[0.0, 0.0], [4.0, 5.0]]"
    assert run.data.tags["rddml.estimator"] == "KMeans"
    assert run.data.tags["rddml.engine.backend"] == "rdd"
    costs = store.get_metric_history(run_id, "cost")
    assert [(m.step, m.value) for m in costs] == [(h["iteration"], h["cost"]) for h in km.history_]
    assert run.data.metrics["inertia"] == pytest.approx(km.inertia_)
    assert run.data.metrics["n_iter"] == km.n_iter_
    local = mlflow.artifacts.download_artifacts(run_id=run_id, artifact_path="model",
                                                dst_path=str(tmp_path / "download"),
                                                tracking_uri=store.tracking_uri)
    np.testing.assert_array_equal(KMeans.load(local).cluster_centers_, km.cluster_centers_)


def test_a_logistic_fit_logs_its_loss_history(sc: Any, store: Any) -> None:
    rows = [([0.0], 0), ([1.0], 0), ([2.0], 1), ([3.0], 1), ([1.5], 1), ([1.4], 0)]
    lr = LogisticRegression(reg_param=0.1, max_iter=20).fit(sc.parallelize(rows, 2))
    run_id = tracking.log_fit(lr, backend="rdd")
    losses = store.get_metric_history(run_id, "loss")
    assert [m.value for m in sorted(losses, key=lambda m: m.step)] == pytest.approx(
        lr.loss_history_)
    assert store.get_run(run_id).data.params["optimizer"] == "lbfgs"


def test_fits_nest_under_the_callers_active_run(sc: Any, store: Any) -> None:
    km = _kmeans(sc)
    with mlflow.start_run() as parent:
        child = tracking.log_fit(km)
    assert store.get_run(child).data.tags["mlflow.parentRunId"] == parent.info.run_id


def test_tracking_is_off_by_default_and_costs_nothing(sc: Any) -> None:
    assert not tracking.is_enabled()
    assert tracking.log_fit(_kmeans(sc)) is None


def test_enable_without_mlflow_says_how_to_install_it(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "mlflow", None)
    with pytest.raises(RddmlError, match=r"pip install 'rddml\[mlflow\]'"):
        tracking.enable()
    assert not tracking.is_enabled()
