"""Distributed binary logistic regression on NumPy blocks, scikit-learn style."""

from __future__ import annotations

import logging
import math
import numbers
import os
import time
from functools import partial
from typing import Any

import numpy as np

from rddml.base import BaseEstimator
from rddml.engine.backend import BACKENDS, is_dataframe, is_rdd
from rddml.engine.blocks import BlockDataset
from rddml.engine.columns import features_expression
from rddml.engine.dataset import Dataset
from rddml.engine.inputs import as_dataset
from rddml.engine.storage import STORAGES
from rddml.errors import ConvergenceError, DataValidationError, InvalidParameterError
from rddml.io import tracking
from rddml.io.checkpoint import FitCheckpoint, fit_fingerprint
from rddml.io.validation import check_logistic_model
from rddml.linear.kernels import (
    Scaling,
    balanced_class_weights,
    classification_metrics,
    penalty_mask,
    pooled_mean_std,
)
from rddml.linear.passes import (
    batch_objective,
    check_labelled,
    class_moments_pass,
    evaluate_pass,
    full_objective,
    warm_up_kernels,
)
from rddml.linear.predict import predict_blocks, predict_dataframe, predict_records, scores
from rddml.linear.solvers import (
    SolverResult,
    SolverState,
    gradient_descent,
    lbfgs,
    owlqn,
    stochastic_gradient_descent,
)
from rddml.params import (
    check_choice,
    check_float,
    check_int,
    check_is_fitted,
    check_optional_str,
    check_seed,
    check_str_list,
)

logger = logging.getLogger(__name__)

OPTIMIZERS = ("lbfgs", "gd", "sgd")


class LogisticRegression(BaseEstimator):
    """Binary logistic regression whose every optimiser step is one pass over Spark data.

    A pass broadcasts the coefficients, lets each partition compute the weighted log
    loss and its gradient on its NumPy blocks (two matrix-vector products per block),
    and tree-aggregates the partial sums; the driver updates the parameters. The
    objective is Spark MLlib's: the weighted mean log loss plus
    ``reg_param * (l1_ratio * |w|_1 + (1 - l1_ratio) / 2 * |w|_2^2)``, intercept unpenalised.
    (scikit-learn's ``C`` corresponds to ``reg_param = 1 / (C * total weight)``.)

    Parameters
    ----------
    optimizer : {"lbfgs", "gd", "sgd"}, default="lbfgs"
        ``"lbfgs"``: L-BFGS on the driver (rddml's own, strong-Wolfe line search) with
        distributed loss+gradient (OWL-QN when there is an L1 term); ``"gd"``: full-batch
        gradient descent with a fixed ``step_size`` (the write-up's algorithm; proximal
        for L1); ``"sgd"``: mini-batches of ``batch_fraction`` of the rows with step
        ``step_size / sqrt(t)``.
    step_size : float, default=1.0
        Learning rate of ``"gd"``/``"sgd"`` (ignored by ``"lbfgs"``).
    max_iter : int, default=100
        Maximum number of iterations (parameter updates).
    tol : float, default=1e-6
        ``"gd"``/``"sgd"``: stop when ‖Δθ‖ < tol·max(‖θ‖, 1) (MLlib's rule); ``"lbfgs"``:
        stop when the largest (pseudo-)gradient component ≤ tol or an iteration lowers
        the objective by ≤ tol² relative. ``tol=0`` runs all ``max_iter`` iterations.
    reg_param : float, default=0.0
        Regularisation strength λ.
    l1_ratio : float, default=0.0
        Elastic-net mixing: 0 = L2 (ridge), 1 = L1 (lasso).
    fit_intercept : bool, default=True
    standardize : bool, default=True
        Optimise on features scaled to unit variance (statistics from one extra pass),
        as Spark MLlib's ``standardization``: the penalty then applies to the standardised
        coefficients. ``coef_`` is always in the original units.
    batch_fraction : float in (0, 1], default=1.0
        Fraction of rows per ``"sgd"`` mini-batch, drawn per iteration from ``seed`` and
        each row's global index (the same batches for any partitioning).
    class_weight : None, "balanced" or dict {0: w0, 1: w1}, default=None
        Multiplies the row weights; ``"balanced"`` is ``W / (2 * W_c)`` with ``W_c`` the
        total row weight of class c (the row count when unweighted), as scikit-learn.
    init_coef : array of shape (d,) or None, default=None
        Starting coefficients in original units (zeros by default).
    init_intercept : float or None, default=None
        Starting intercept (0 by default).
    threshold : float in [0, 1], default=0.5
        ``predict`` gives 1 when P(y=1) > threshold.
    seed : int or None, default=None
        Seed of the ``"sgd"`` mini-batches (drawn at random when None; see ``seed_``).
    features_col, feature_cols, label_col, weight_col, prediction_col, probability_col
        DataFrame column names, as in Spark ML (``feature_cols`` of numeric columns
        takes precedence over the vector/array ``features_col``).
    checkpoint_dir : str or None, default=None
        A directory on the driver's file system where the fit saves its state atomically
        after the statistics pass, every ``checkpoint_interval`` iterations and at the
        end: θ, the iteration, the history, the SGD seed, the standardisation statistics
        and class weights (saved, so a resumed fit needs no statistics pass), and for
        ``"lbfgs"`` (L-BFGS or OWL-QN) the objective and gradient at θ and the last 10
        curvature pairs (s, y). A fit started again with the same directory resumes from
        the last state and takes exactly the steps an uninterrupted fit takes; one whose
        parameters (other than ``max_iter`` and ``threshold``) or data differ is refused.
        See :mod:`rddml.io.checkpoint`.
    checkpoint_interval : int, default=10
        Iterations (parameter updates) between checkpoints.
    backend, storage : str, default="auto"
        Where the passes run and how the RDD backend keeps the blocks between passes, as
        for :class:`~rddml.cluster.kmeans.KMeans`.

    Attributes
    ----------
    coef_ : ndarray of shape (d,)
    intercept_ : float
    n_iter_ : int
        Iterations (parameter updates) run.
    converged_ : bool
        True if the stopping rule of ``tol`` was met before ``max_iter``.
    loss_history_ : list of float
        The objective at the parameters each iteration started from (for ``"lbfgs"``:
        at every point the optimiser evaluated, one per pass; for ``"sgd"``: on the
        iteration's mini-batch).
    n_passes_ : int
        Passes over the data during ``fit`` (statistics pass included); for a resumed
        fit, those of the whole fit, as if it had not been interrupted.
    class_weight_ : tuple (w0, w1) or None
    feature_mean_, feature_std_ : ndarray of shape (d,) or None
        Weighted feature statistics when ``standardize=True``.
    resumed_iteration_ : int
        The iteration restored from ``checkpoint_dir`` (0 when the fit started afresh).

    Examples
    --------
    >>> rdd = sc.parallelize([([0.0], 0), ([1.0], 0), ([2.0], 1), ([3.0], 1)])  # doctest: +SKIP
    >>> lr = LogisticRegression(reg_param=0.1).fit(rdd)  # doctest: +SKIP
    >>> lr.predict(rdd).collect()  # doctest: +SKIP
    [0.0, 0.0, 1.0, 1.0]
    """

    _repr_params = ("optimizer", "reg_param", "l1_ratio", "max_iter", "standardize")

    def __init__(
        self,
        optimizer: str = "lbfgs",
        step_size: float = 1.0,
        max_iter: int = 100,
        tol: float = 1e-6,
        reg_param: float = 0.0,
        l1_ratio: float = 0.0,
        fit_intercept: bool = True,
        standardize: bool = True,
        batch_fraction: float = 1.0,
        class_weight: str | dict[Any, float] | None = None,
        init_coef: Any = None,
        init_intercept: float | None = None,
        threshold: float = 0.5,
        seed: int | None = None,
        features_col: str | None = "features",
        feature_cols: list[str] | None = None,
        label_col: str = "label",
        weight_col: str | None = None,
        prediction_col: str = "prediction",
        probability_col: str = "probability",
        checkpoint_dir: str | None = None,
        checkpoint_interval: int = 10,
        backend: str = "auto",
        storage: str = "auto",
    ) -> None:
        self.optimizer = optimizer
        self.step_size = step_size
        self.max_iter = max_iter
        self.tol = tol
        self.reg_param = reg_param
        self.l1_ratio = l1_ratio
        self.fit_intercept = fit_intercept
        self.standardize = standardize
        self.batch_fraction = batch_fraction
        self.class_weight = class_weight
        self.init_coef = init_coef
        self.init_intercept = init_intercept
        self.threshold = threshold
        self.seed = seed
        self.features_col = features_col
        self.feature_cols = feature_cols
        self.label_col = label_col
        self.weight_col = weight_col
        self.prediction_col = prediction_col
        self.probability_col = probability_col
        self.checkpoint_dir = checkpoint_dir
        self.checkpoint_interval = checkpoint_interval
        self.backend = backend
        self.storage = storage

    # ---------------------------------------------------------------- params
    def _validate_params(self) -> None:
        check_choice("optimizer", self.optimizer, OPTIMIZERS)
        check_float("step_size", self.step_size, low=0.0, low_inclusive=False)
        check_int("max_iter", self.max_iter, low=1)
        check_float("tol", self.tol, low=0.0)
        check_float("reg_param", self.reg_param, low=0.0)
        check_float("l1_ratio", self.l1_ratio, low=0.0, high=1.0)
        _check_bool("fit_intercept", self.fit_intercept)
        _check_bool("standardize", self.standardize)
        check_float("batch_fraction", self.batch_fraction, low=0.0, high=1.0,
                    low_inclusive=False)
        if self.batch_fraction < 1.0 and self.optimizer != "sgd":
            raise InvalidParameterError(
                f"The 'batch_fraction' parameter must be 1.0 unless optimizer='sgd', got "
                f"{self.batch_fraction!r} with optimizer={self.optimizer!r}."
            )
        _class_weight_pair(self.class_weight)
        if self.init_coef is not None:
            _init_coef(self.init_coef, None)
        if self.init_intercept is not None:
            check_float("init_intercept", self.init_intercept)
            if not self.fit_intercept and self.init_intercept != 0:
                raise InvalidParameterError(
                    "The 'init_intercept' parameter must be None or 0 when "
                    f"fit_intercept=False, got {self.init_intercept!r}."
                )
        check_float("threshold", self.threshold, low=0.0, high=1.0)
        check_seed("seed", self.seed)
        check_optional_str("features_col", self.features_col)
        check_str_list("feature_cols", self.feature_cols)
        check_optional_str("label_col", self.label_col)
        check_optional_str("weight_col", self.weight_col)
        check_optional_str("prediction_col", self.prediction_col)
        check_optional_str("probability_col", self.probability_col)
        check_optional_str("checkpoint_dir", self.checkpoint_dir)
        check_int("checkpoint_interval", self.checkpoint_interval, low=1)
        check_choice("backend", self.backend, BACKENDS)
        check_choice("storage", self.storage, STORAGES)

    # ------------------------------------------------------------------- fit
    def fit(self, data: Any) -> LogisticRegression:
        """Fit on ``data``: an RDD of ``(features, label)`` or ``(features, label, weight)``
        tuples, a DataFrame, or a labelled dataset (:class:`~rddml.BlockDataset` or
        :class:`~rddml.engine.frames.FrameDataset`). Labels must be 0 or 1. Returns ``self``."""
        self._validate_params()
        ds, owned = self._dataset(data)
        try:
            self._fit_dataset(ds)
        finally:
            if owned:
                ds.unpersist()
        tracking.log_fit(self, backend=ds.backend)
        return self

    def _dataset(self, data: Any) -> tuple[Dataset, bool]:
        """An engine dataset of ``data`` on the backend ``backend`` resolves to."""
        return as_dataset(
            data, backend=self.backend, storage=self.storage, labeled=True, features_col=self.features_col,
            feature_cols=self.feature_cols, label_col=self.label_col, weight_col=self.weight_col,
        )

    def _fit_dataset(self, ds: Dataset) -> None:
        started = time.perf_counter()
        check_labelled(ds, require_both=True)
        warm_up_kernels(ds)
        d = ds.n_features
        ckpt = self._checkpoint(ds)
        state = ckpt.load()
        if state is None:
            setup = self._setup(ds)
            # The statistics pass is checkpointed too (iteration 0, no solver state yet).
            ckpt.save(0, {**setup, "solver": None})
            solver_state = None
        else:
            setup = {key: state[key] for key in SETUP_KEYS}
            solver_state = state["solver"]
            logger.info("logistic regression: resumed from checkpoint %s at iteration %d/%d "
                        "(written %s)", ckpt.path, state["iteration"], self.max_iter,
                        state["written"])
        self.resumed_iteration_ = 0 if state is None else int(state["iteration"])
        class_weights = None if setup["class_weight"] is None else (
            float(setup["class_weight"][0]), float(setup["class_weight"][1]))
        mean, std = setup["feature_mean"], setup["feature_std"]
        if setup["seed"] is not None:
            self.seed_ = int(setup["seed"])
        if mean is not None and std is not None:
            scaling = Scaling.from_std(mean, std, bool(self.fit_intercept))
        else:
            scaling = Scaling.identity(d, bool(self.fit_intercept))
        coef0 = np.zeros(d) if self.init_coef is None else _init_coef(self.init_coef, d)
        theta0 = scaling.from_original(coef0, float(self.init_intercept or 0.0))
        l2 = float(self.reg_param) * (1.0 - float(self.l1_ratio))
        l1_strength = float(self.reg_param) * float(self.l1_ratio)
        l1 = l1_strength * penalty_mask(d, bool(self.fit_intercept)) if l1_strength else None
        result = self._solve(ds, scaling, class_weights, theta0, l2, l1, setup["seed"],
                             solver_state, _SolverCheckpoint(ckpt, setup, int(self.max_iter)))
        # The final state too: running the same fit again then runs no pass at all.
        ckpt.save(result.n_iter, {**setup, "solver": result.state}, final=True)
        coef, intercept = scaling.to_original(result.theta)
        if not (np.all(np.isfinite(coef)) and math.isfinite(intercept)):
            raise ConvergenceError(
                f"optimizer={self.optimizer!r} produced non-finite coefficients after "
                f"iteration {result.n_iter}. Use a smaller step_size or standardize=True."
            )
        self.coef_ = coef
        self.intercept_ = intercept
        self.n_iter_ = result.n_iter
        self.converged_ = result.converged
        self.loss_history_ = [float(v) for v in result.history]
        self.n_passes_ = int(setup["stats_passes"]) + result.n_evals
        self.class_weight_ = class_weights
        self.feature_mean_ = mean
        self.feature_std_ = std
        self.n_features_in_ = d
        self.classes_ = np.array([0.0, 1.0])
        logger.info("logistic regression (%s): %d iterations, %d passes, objective %.10g, "
                    "converged=%s, %.2fs", self.optimizer, self.n_iter_, self.n_passes_,
                    self.loss_history_[-1] if self.loss_history_ else float("nan"),
                    self.converged_, time.perf_counter() - started)

    def _setup(self, ds: Dataset) -> dict[str, Any]:
        """What the fit computes before its first iteration: the class weights and the
        standardisation statistics (one pass when needed), the SGD seed and the solver.
        All of it goes into the checkpoint, so a resumed fit repeats none of it."""
        class_weights = _class_weight_pair(self.class_weight)
        passes = 0
        mean = std = None
        if self.standardize or self.class_weight == "balanced":
            moments = class_moments_pass(ds)
            passes += 1
            if self.class_weight == "balanced":
                if float(moments.weight.min()) <= 0:
                    raise DataValidationError(
                        "class_weight='balanced' needs a positive total weight in both "
                        f"classes, got {moments.weight.tolist()} for classes [0, 1]."
                    )
                class_weights = balanced_class_weights(moments.weight)
            if self.standardize:
                mean, std = pooled_mean_std(moments, class_weights)
        seed = None
        if self.optimizer == "sgd":
            seed = self.seed
            if seed is None:
                seed = int(np.random.SeedSequence().entropy) % 2**31  # type: ignore[arg-type]
        return {"solver_kind": self._solver_kind(), "seed": seed,
                "class_weight": None if class_weights is None else list(class_weights),
                "feature_mean": mean, "feature_std": std, "stats_passes": passes}

    def _solver_kind(self) -> str:
        """``"gd"``, ``"sgd"``, ``"lbfgs"`` or ``"owlqn"`` (lbfgs with an L1 term)."""
        if self.optimizer == "lbfgs" and float(self.reg_param) * float(self.l1_ratio) > 0:
            return "owlqn"
        return str(self.optimizer)

    def _checkpoint(self, ds: Dataset) -> FitCheckpoint:
        # max_iter may grow between runs (a finished fit can be continued); the threshold
        # only matters to predict.
        return FitCheckpoint(
            self.checkpoint_dir, estimator="LogisticRegression",
            fingerprint=fit_fingerprint(self._saved_params(), ds,
                                        exclude=("max_iter", "threshold")),
            interval=int(self.checkpoint_interval),
        )

    def _solve(self, ds: Dataset, scaling: Scaling,
               class_weights: tuple[float, float] | None, theta0: np.ndarray, l2: float,
               l1: np.ndarray | None, seed: int | None, resume: SolverState | None,
               checkpoint: _SolverCheckpoint) -> SolverResult:
        fun = partial(full_objective, ds=ds, scaling=scaling, class_weights=class_weights,
                      l2=l2)
        max_iter, tol = int(self.max_iter), float(self.tol)
        kind = self._solver_kind()
        if kind == "gd":
            return gradient_descent(fun, theta0, step=float(self.step_size),
                                    max_iter=max_iter, tol=tol, l1=l1, resume=resume,
                                    checkpoint=checkpoint)
        if kind == "sgd":
            assert seed is not None
            batch_fun = partial(batch_objective, ds=ds, scaling=scaling,
                                class_weights=class_weights, l2=l2, seed=seed,
                                fraction=float(self.batch_fraction))
            return stochastic_gradient_descent(batch_fun, theta0, step=float(self.step_size),
                                               max_iter=max_iter, tol=tol, l1=l1,
                                               resume=resume, checkpoint=checkpoint)
        if kind == "owlqn":
            assert l1 is not None
            return owlqn(fun, theta0, l1, max_iter=max_iter, tol=tol, resume=resume,
                         checkpoint=checkpoint)
        return lbfgs(fun, theta0, max_iter=max_iter, tol=tol, resume=resume,
                     checkpoint=checkpoint)

    # --------------------------------------------------------------- predict
    def predict_proba(self, data: Any) -> Any:
        """P(y = 1) for each row, in the same kind as the input.

        RDD (of feature vectors or ``(features, label[, weight])`` tuples) → RDD of floats
        in the same order; DataFrame → the DataFrame plus a double ``probability_col``;
        BlockDataset → RDD of arrays, one per block; NumPy array (n, d) → array (n,).
        """
        return self._score(data, threshold=None, out_col=self.probability_col)

    def predict(self, data: Any) -> Any:
        """Predicted class (0.0 or 1.0, 1 when P(y=1) > ``threshold``), same kinds as
        :meth:`predict_proba`; a DataFrame gets a double ``prediction_col``."""
        return self._score(data, threshold=float(self.threshold), out_col=self.prediction_col)

    def _score(self, data: Any, *, threshold: float | None, out_col: str) -> Any:
        check_is_fitted(self, "coef_")
        coef, intercept = self.coef_, float(self.intercept_)
        if isinstance(data, np.ndarray):
            X = np.asarray(data, dtype=np.float64)
            if X.ndim != 2 or X.shape[1] != coef.shape[0]:
                raise InvalidParameterError(
                    f"The 'data' array must have shape (n, {coef.shape[0]}), got {X.shape}."
                )
            return scores(X, coef, intercept, threshold)
        if isinstance(data, BlockDataset):
            self._check_width(data.n_features)
            return predict_blocks(data, coef, intercept, threshold)
        if is_rdd(data):
            return predict_records(data, coef, intercept, threshold)
        if is_dataframe(data):
            features = features_expression(data, self.features_col, self.feature_cols)
            return predict_dataframe(data, features=features, out_col=out_col, coef=coef,
                                     intercept=intercept, threshold=threshold)
        raise InvalidParameterError(
            "The 'data' argument must be a pyspark RDD, a pyspark DataFrame, an rddml "
            f"BlockDataset or a NumPy array, got {type(data).__name__}."
        )

    def _check_width(self, n_features: int) -> None:
        if n_features != self.coef_.shape[0]:
            raise DataValidationError(
                f"The data has {n_features} features, but the model was fitted on "
                f"{self.coef_.shape[0]}."
            )

    def evaluate(self, data: Any) -> dict[str, Any]:
        """Metrics on labelled ``data``, computed distributed in one pass (no row is
        collected): ``accuracy``, ``log_loss``, ``auc`` (exact ROC AUC; None when one
        class is absent), ``precision``, ``recall``, ``f1`` (of class 1, 0 when undefined),
        ``confusion_matrix`` ``[[tn, fp], [fn, tp]]``, ``weight`` (rows or total weight)
        and ``threshold``. Row weights apply; class weights do not."""
        check_is_fitted(self, "coef_")
        ds, owned = self._dataset(data)
        try:
            check_labelled(ds, require_both=False)
            self._check_width(ds.n_features)
            stats, auc = evaluate_pass(ds, self.coef_, float(self.intercept_),
                                       float(self.threshold))
        finally:
            if owned:
                ds.unpersist()
        metrics = classification_metrics(stats, auc)
        metrics["threshold"] = float(self.threshold)
        return metrics

    # ----------------------------------------------------------- persistence
    _fitted_attribute = "coef_"

    def _saved_params(self) -> dict[str, Any]:
        params = self.get_params()
        if isinstance(params["class_weight"], dict):
            pair = _class_weight_pair(params["class_weight"])
            params["class_weight"] = {"0": pair[0], "1": pair[1]} if pair else None
        if params["init_coef"] is not None:
            params["init_coef"] = np.asarray(params["init_coef"], dtype=float).tolist()
        return params

    def _model_document(self) -> dict[str, Any]:
        def listed(a: np.ndarray | None) -> list[float] | None:
            return None if a is None else a.tolist()

        return {"coef": self.coef_.tolist(), "intercept": float(self.intercept_),
                "n_iter": self.n_iter_, "converged": self.converged_,
                "loss_history": self.loss_history_, "n_passes": self.n_passes_,
                "class_weight": list(self.class_weight_) if self.class_weight_ else None,
                "feature_mean": listed(self.feature_mean_),
                "feature_std": listed(self.feature_std_)}

    @classmethod
    def _check_model_document(cls, file: str | os.PathLike[str], document: dict[str, Any]
                              ) -> tuple[LogisticRegression, dict[str, Any]]:
        return check_logistic_model(file, document, cls)

    def _loaded(self) -> None:
        self.n_features_in_ = self.coef_.shape[0]
        self.classes_ = np.array([0.0, 1.0])


# ------------------------------------------------------------------ helpers
#: The checkpoint's fields besides the solver's state (see ``LogisticRegression._setup``).
SETUP_KEYS = ("solver_kind", "seed", "class_weight", "feature_mean", "feature_std",
              "stats_passes")


class _SolverCheckpoint:
    """The solvers' :class:`~rddml.linear.solvers.Checkpointer`: saves the solver's state
    with the fit's setup, every ``checkpoint_interval`` iterations."""

    def __init__(self, ckpt: FitCheckpoint, setup: dict[str, Any], max_iter: int) -> None:
        self.ckpt = ckpt
        self.setup = setup
        self.max_iter = max_iter

    def due(self, iteration: int) -> bool:
        return self.ckpt.due(iteration) and iteration < self.max_iter

    def save(self, iteration: int, state: SolverState) -> None:
        self.ckpt.save(iteration, {**self.setup, "solver": state})


def _check_bool(name: str, value: Any) -> None:
    if not isinstance(value, (bool, np.bool_)):
        raise InvalidParameterError(f"The '{name}' parameter must be a bool, got {value!r}.")


def _class_weight_pair(value: Any) -> tuple[float, float] | None:
    """Validate ``class_weight``; a dict becomes ``(w0, w1)`` (missing classes weigh 1)."""
    if value is None or value == "balanced":
        return None
    if not isinstance(value, dict):
        raise InvalidParameterError(
            "The 'class_weight' parameter must be None, 'balanced' or a dict {0: w0, 1: w1}, "
            f"got {value!r}."
        )
    pair = [1.0, 1.0]
    for key, weight in value.items():
        cls = _as_class(key)
        if cls is None or not isinstance(weight, numbers.Real) or isinstance(weight, bool) \
                or not math.isfinite(float(weight)) or float(weight) < 0:
            raise InvalidParameterError(
                "The 'class_weight' parameter must map the classes 0 and 1 to finite "
                f"weights >= 0, got {value!r}."
            )
        pair[cls] = float(weight)
    return pair[0], pair[1]


def _as_class(key: Any) -> int | None:
    try:
        number = float(key)
    except (TypeError, ValueError):
        return None
    return int(number) if number in (0.0, 1.0) else None


def _init_coef(value: Any, d: int | None) -> np.ndarray:
    try:
        arr = np.asarray(value, dtype=np.float64)
    except (TypeError, ValueError):
        arr = np.zeros((0, 0))
    if arr.ndim != 1 or not np.all(np.isfinite(arr)) or (d is not None and arr.shape[0] != d):
        want = "n" if d is None else str(d)
        raise InvalidParameterError(
            f"The 'init_coef' parameter must be a 1-D array of {want} finite numbers (one per "
            f"feature), got {value!r}."
        )
    return arr
