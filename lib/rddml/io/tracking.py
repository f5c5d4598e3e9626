"""Optional MLflow tracking of fits (``pip install 'rddml[mlflow]'``).

Off by default and free when off: estimators call :func:`log_fit` once at the end
of a successful ``fit``, and it returns at once unless :func:`enable` was called.
When on, each fit becomes one MLflow run (nested under the caller's active run, if
any) holding

- the estimator's parameters (``get_params``; arrays are summarised by shape),
- per-iteration metrics from the fitted history, with MLflow ``step`` = iteration:
  ``cost``, ``shift``, ``empty_clusters``, ``seconds`` for k-means (``history_``),
  ``loss`` for logistic regression (``loss_history_``),
- final metrics (``inertia_``, ``n_iter_``, ``converged_``, ``n_passes_``),
- the saved model (``estimator.save``) as the run's ``model/`` artifacts, and
- tags ``rddml.estimator``, ``rddml.version`` and ``rddml.engine.backend``.

Metrics are written after the fit in one batch (the history already holds them),
so tracking adds no work to the iterations and needs no hook inside them.

On Databricks MLflow is preinstalled and the tracking URI defaults to the
workspace; locally pass ``tracking_uri`` (a ``file:`` store needs
``MLFLOW_ALLOW_FILE_STORE=true`` with MLflow ≥ 3, or use ``sqlite:``).

Examples
--------
>>> from rddml import KMeans, tracking
>>> tracking.enable(experiment="/Shared/rddml")  # doctest: +SKIP
>>> KMeans(k=3).fit(df)  # doctest: +SKIP   (one MLflow run per fit)
>>> tracking.disable()
"""

from __future__ import annotations

import numbers
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from rddml.errors import RddmlError

MAX_PARAM_CHARS = 500  # MLflow rejects parameter values longer than a few thousand characters
FINAL_METRICS = ("inertia_", "n_iter_", "converged_", "n_passes_")


@dataclass(frozen=True)
class TrackingSettings:
    """What :func:`enable` was called with."""

    experiment: str | None = None
    tracking_uri: str | None = None
    log_model: bool = True
    run_name: str | None = None
    tags: dict[str, str] = field(default_factory=dict)


_settings: TrackingSettings | None = None


def _mlflow() -> Any:
    try:
        import mlflow
    except ImportError as exc:
        raise RddmlError(
            "MLflow tracking needs the mlflow package: pip install 'rddml[mlflow]' (or "
            "mlflow / mlflow-skinny); it is preinstalled on Databricks runtimes for ML."
        ) from exc
    return mlflow


def enable(
    *,
    experiment: str | None = None,
    tracking_uri: str | None = None,
    log_model: bool = True,
    run_name: str | None = None,
    tags: dict[str, str] | None = None,
) -> None:
    """Log every following fit to MLflow (until :func:`disable`).

    Sets MLflow's tracking URI and experiment now (for the caller's own runs too).

    Parameters
    ----------
    experiment : str or None
        Experiment name (created if missing); None keeps MLflow's current one.
    tracking_uri : str or None
        Where runs go; None keeps MLflow's default (the workspace on Databricks).
    log_model : bool, default=True
        Also log the saved model directory as the run's ``model/`` artifacts.
    run_name : str or None
        Name of each run; None lets MLflow pick one.
    tags : dict or None
        Extra tags on every run.

    Raises
    ------
    RddmlError
        When mlflow is not installed (checked now, not at the first fit).
    """
    global _settings
    mlflow = _mlflow()
    # Set once here, not per fit, so the caller's own runs go to the same place.
    if tracking_uri:
        mlflow.set_tracking_uri(tracking_uri)
    if experiment:
        mlflow.set_experiment(experiment)
    _settings = TrackingSettings(experiment, tracking_uri, bool(log_model), run_name,
                                 dict(tags or {}))


def disable() -> None:
    """Stop logging fits."""
    global _settings
    _settings = None


def is_enabled() -> bool:
    """True between :func:`enable` and :func:`disable`."""
    return _settings is not None


@contextmanager
def enabled(**settings: Any) -> Iterator[None]:
    """Tracking on inside a ``with`` block only (the previous state and tracking URI are
    restored afterwards)."""
    global _settings
    previous = _settings
    previous_uri = _mlflow().get_tracking_uri()
    enable(**settings)
    try:
        yield
    finally:
        _settings = previous
        _mlflow().set_tracking_uri(previous_uri)


def _param_value(value: Any) -> str:
    if isinstance(value, (list, tuple, np.ndarray)) and np.asarray(value).ndim >= 1 \
            and np.asarray(value).dtype != object:
        arr = np.asarray(value)
        text = repr(arr.tolist())
        return text if len(text) <= MAX_PARAM_CHARS else f"array{arr.shape}"
    return str(value)[:MAX_PARAM_CHARS]


def iteration_metrics(estimator: Any) -> list[tuple[str, float, int]]:
    """``(name, value, step)`` triples from the fitted history (see the module doc)."""
    out: list[tuple[str, float, int]] = []
    for entry in getattr(estimator, "history_", None) or []:
        step = int(entry.get("iteration", len(out)))
        out += [(key, float(value), step) for key, value in entry.items()
                if key != "iteration" and isinstance(value, numbers.Real)]
    for step, value in enumerate(getattr(estimator, "loss_history_", None) or []):
        out.append(("loss", float(value), step))
    return out


def final_metrics(estimator: Any) -> dict[str, float]:
    """The numeric summary attributes of a fitted estimator (names without the ``_``)."""
    out = {}
    for name in FINAL_METRICS:
        value = getattr(estimator, name, None)
        if isinstance(value, (numbers.Real, np.bool_)):
            out[name.rstrip("_")] = float(value)
    return out


def log_fit(estimator: Any, *, backend: str | None = None) -> str | None:
    """Log a just-fitted estimator as one MLflow run; returns the run id (None when off).

    Estimators call this as the last step of ``fit``. It never changes the estimator.
    """
    if _settings is None:
        return None
    settings = _settings
    mlflow = _mlflow()
    from mlflow.entities import Metric
    from mlflow.tracking import MlflowClient

    from rddml._version import __version__

    nested = mlflow.active_run() is not None
    with mlflow.start_run(run_name=settings.run_name, nested=nested) as run:
        run_id = run.info.run_id
        mlflow.set_tags({"rddml.estimator": type(estimator).__name__,
                         "rddml.version": __version__,
                         "rddml.engine.backend": backend or "unknown", **settings.tags})
        mlflow.log_params({k: _param_value(v) for k, v in estimator.get_params().items()})
        now = int(time.time() * 1000)
        metrics = [Metric(name, value, now, step) for name, value, step in
                   iteration_metrics(estimator)]
        metrics += [Metric(name, value, now, 0) for name, value in
                    final_metrics(estimator).items()]
        client = MlflowClient()
        for start in range(0, len(metrics), 1000):  # MLflow's batch limit is 1000 metrics
            client.log_batch(run_id, metrics=metrics[start:start + 1000])
        if settings.log_model and hasattr(estimator, "save"):
            with tempfile.TemporaryDirectory() as tmp:
                path = Path(tmp) / "model"
                estimator.save(str(path))
                mlflow.log_artifacts(str(path), artifact_path="model")
    return str(run_id)
