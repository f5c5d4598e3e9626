"""The multinomial (softmax) fit of :class:`~rddml.linear.logistic.LogisticRegression`:
its setup, optimisation problem, fitted model and evaluation, as functions of explicit
arguments (the estimator keeps the checkpointing and the optimiser loop it shares with
the binary fit).

The optimisers work on the flattened (K, d + 1) parameters (see
:mod:`rddml.linear.softmax`); :func:`setup` takes the statistics from the dataset's
label census (or runs the statistics pass without one), :func:`problem` builds the
objectives, :func:`centred` gives MLlib's centred model.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import partial
from typing import Any

import numpy as np

from rddml.engine.dataset import Dataset
from rddml.linear.classes import (
    check_eval_labels,
    class_weight_vector,
    eval_labels_error,
    n_classes_from_counts,
    n_classes_from_summary,
    summary_is_complete,
)
from rddml.linear.kernels import Scaling, check_standardization, pooled_mean_std
from rddml.linear.passes import (
    check_labels_and_weights,
    label_census_pass,
    multi_evaluate_pass,
    softmax_batch_objective,
    softmax_full_objective,
)
from rddml.linear.softmax import multiclass_metrics, original_to_theta, penalty_mask

#: A flat-θ objective: θ → (objective, gradient) for the full data; (iteration, θ) →
#: the same or None for a mini-batch.
Objective = Callable[..., Any]


def setup(ds: Dataset, *, standardize: bool, class_weight: Any, solver_kind: str,
          seed: int | None) -> dict[str, Any]:
    """The class count K, class weights and standardisation statistics, with the solver
    kind and SGD seed: the fit's checkpointed setup.

    Standardising, balancing, or a label summary that may be incomplete need the label
    census: the dataset's (gathered while it was converted; it holds the invalid labels
    as the pass would) or, when it has none, one statistics pass."""
    passes = 0
    census = None
    if standardize or class_weight == "balanced" or not summary_is_complete(ds.labels):
        census = ds.label_census
        if census is None:
            census = label_census_pass(ds)
            passes += 1
        K = n_classes_from_counts(census.moments.count, census.bad)
    else:
        K = n_classes_from_summary(ds.labels)
    class_weights = class_weight_vector(
        class_weight, K, None if census is None else census.moments.weight)
    mean = std = None
    if standardize:
        assert census is not None
        mean, std = pooled_mean_std(census.moments, class_weights)
        check_standardization(mean, std)
    return {"solver_kind": solver_kind, "seed": seed,
            "class_weight": None if class_weights is None else class_weights.tolist(),
            "feature_mean": mean, "feature_std": std, "stats_passes": passes,
            "n_classes": K}


def problem(ds: Dataset, setup: dict[str, Any], coef0: np.ndarray, intercept0: np.ndarray,
            *, fit_intercept: bool, reg_param: float, l1_ratio: float,
            batch_fraction: float, centre: bool = True
            ) -> tuple[Scaling, np.ndarray, np.ndarray | None, Objective, Objective | None]:
    """The optimisation problem of a fit with ``setup`` started at ``(coef0, intercept0)``
    (original units): the scaling, θ0, the L1 weights (None without an L1 term), the full
    objective and the mini-batch one (None unless ``setup`` has an SGD seed).
    ``centre=False`` standardises without centring (a bound-constrained fit)."""
    d = ds.n_features
    K = int(setup["n_classes"])
    class_weights = (None if setup["class_weight"] is None
                     else np.asarray(setup["class_weight"], dtype=np.float64))
    mean, std = setup["feature_mean"], setup["feature_std"]
    scaling = (Scaling.from_std(mean if centre else np.zeros_like(mean), std, fit_intercept)
               if mean is not None and std is not None
               else Scaling.identity(d, fit_intercept))
    theta0 = original_to_theta(scaling, coef0, intercept0)
    l2 = reg_param * (1.0 - l1_ratio)
    l1_strength = reg_param * l1_ratio
    l1 = l1_strength * penalty_mask(K, d, fit_intercept) if l1_strength else None
    fun = partial(softmax_full_objective, ds=ds, scaling=scaling, n_classes=K,
                  class_weights=class_weights, l2=l2)
    batch_fun = None if setup["seed"] is None else partial(
        softmax_batch_objective, ds=ds, scaling=scaling, n_classes=K,
        class_weights=class_weights, l2=l2, seed=int(setup["seed"]),
        fraction=batch_fraction)
    return scaling, theta0, l1, fun, batch_fun


def centred(coef: np.ndarray, intercept: np.ndarray, reg_param: float
            ) -> tuple[np.ndarray, np.ndarray]:
    """The softmax is unchanged by a shift common to all classes: centre as MLlib does
    (intercepts always; coefficients when no penalty picks a unique optimum)."""
    intercept = intercept - intercept.mean()
    if reg_param == 0.0:
        coef = coef - coef.mean(axis=0)
    return coef, intercept


def evaluate(ds: Dataset, coef: np.ndarray, intercept: np.ndarray,
             check_width: Callable[[int], None]) -> dict[str, Any]:
    """The multiclass metrics of the K-class model on labelled ``ds`` (one pass; see
    :func:`~rddml.linear.softmax.multiclass_metrics`); ``check_width`` checks the
    data's feature count against the model's."""
    K = int(coef.shape[0])
    check_labels_and_weights(ds)
    if summary_is_complete(ds.labels):
        check_eval_labels(ds.labels, K)
    check_width(ds.n_features)
    stats, aucs = multi_evaluate_pass(ds, coef, intercept)
    if stats.n_bad:
        raise eval_labels_error(stats.bad, K)
    return multiclass_metrics(stats, aucs)
