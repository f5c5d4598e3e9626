"""Distributed logistic regression (binary and multinomial) on NumPy blocks, scikit-learn style."""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Callable
from functools import partial
from typing import Any

import numpy as np

import rddml._jit as _jit
from rddml.base import BaseEstimator
from rddml.engine.backend import is_dataframe, is_rdd
from rddml.engine.blocks import BlockDataset, is_scipy_sparse
from rddml.engine.columns import features_expression
from rddml.engine.dataset import Dataset
from rddml.engine.inputs import check_engine_params
from rddml.engine.sparse import canonical
from rddml.engine.sparse_columns import sparse_scoring, vector_column_width
from rddml.engine.widths import check_width, dataframe_width, rdd_width
from rddml.errors import ConvergenceError, DataValidationError, InvalidParameterError
from rddml.io.checkpoint import FitCheckpoint, fit_fingerprint
from rddml.io.validation import check_logistic_model
from rddml.linear import multinomial
from rddml.linear.bounds import (
    BOUND_PARAMS,
    bounds_as_json,
    check_bound_settings,
    original_bounds,
    theta_bounds,
)
from rddml.linear.classes import (
    FAMILIES,
    binary_class_key,
    check_binomial_labels,
    check_class_weight_dict,
    resolve_family,
)
from rddml.linear.kernels import (
    Scaling,
    balanced_class_weights,
    check_standardization,
    classification_metrics,
    penalty_mask,
    pooled_mean_std,
)
from rddml.linear.passes import (
    batch_objective,
    check_labelled,
    check_labels_and_weights,
    evaluate_pass,
    full_objective,
    label_census_pass,
    warm_up_kernels,
)
from rddml.linear.predict import (
    features_of,
    predict_blocks,
    predict_dataframe,
    predict_records,
    predict_sparse_dataframe,
    scores,
)
from rddml.linear.softmax import theta_to_original
from rddml.linear.solvers import (
    SolverResult,
    SolverState,
    gradient_descent,
    lbfgs,
    lbfgsb,
    owlqn,
    stochastic_gradient_descent,
)
from rddml.params import (
    check_choice,
    check_float,
    check_int,
    check_is_fitted,
    check_seed,
)
from rddml.progress import Bar, progress_bar

logger = logging.getLogger(__name__)

OPTIMIZERS = ("lbfgs", "gd", "sgd")


class LogisticRegression(BaseEstimator):
    """Logistic regression (binary or multinomial) whose every optimiser step is one pass
    over Spark data.

    A pass broadcasts the coefficients, lets each partition compute the weighted log
    loss and its gradient on its NumPy blocks (two matrix products per block),
    and tree-aggregates the partial sums; the driver updates the parameters. The
    objective is Spark MLlib's: the weighted mean log loss plus
    ``reg_param * (l1_ratio * |w|_1 + (1 - l1_ratio) / 2 * |w|_2^2)``, intercepts unpenalised.
    (scikit-learn's ``C`` corresponds to ``reg_param = 1 / (C * total weight)``.)

    With K > 2 classes (labels 0 .. K-1, ``family="auto"`` or ``"multinomial"``) the model
    is the softmax over K coefficient rows: ``coef_`` is (K, d), ``intercept_`` (K,),
    the penalty covers every row, and the optimisers work on the flattened (K, d + 1)
    parameters. As MLlib, the fitted intercepts are centred (they sum to 0; the
    softmax does not change), and so are each feature's coefficients across classes
    when ``reg_param == 0`` (otherwise the penalty makes the optimum unique).

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
        Maximum number of iterations (parameter updates); 0 returns the initial model
        (``init_coef`` / ``init_intercept``) after one pass that records its objective.
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
        Optimise on features scaled to unit variance, as Spark MLlib's
        ``standardization``: the penalty then applies to the standardised coefficients.
        ``coef_`` is always in the original units. The statistics (and the class totals
        of ``class_weight="balanced"``) come from the dataset's label census, gathered
        while the data was converted; a dataset without one (a transformed view) costs
        one extra pass.
    batch_fraction : float in (0, 1], default=1.0
        Fraction of rows per ``"sgd"`` mini-batch, drawn per iteration from ``seed`` and
        each row's global index (the same batches for any partitioning).
    class_weight : None, "balanced" or dict {class: weight}, default=None
        Multiplies the row weights; ``"balanced"`` is ``W / (K * W_c)`` with ``W_c`` the
        total row weight of class c (the row count when unweighted), as scikit-learn.
        Classes a dict leaves out weigh 1.
    init_coef : array of shape (d,) ((K, d) for multinomial) or None, default=None
        Starting coefficients in original units (zeros by default).
    init_intercept : float (array of shape (K,) for multinomial), "prior" or None, default=None
        Starting intercept(s) (0 by default). ``"prior"`` starts where Spark MLlib does:
        log(W₁ / W₀) for the binary model and the centred log(1 + W_k) for the
        multinomial one, W_k the weighted class totals (class weights applied); 0
        without an intercept.
    threshold : float in [0, 1], default=0.5
        Binary: ``predict`` gives 1 when P(y=1) > threshold (multinomial: the most
        probable class; the threshold is not used).
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
    family : {"auto", "binomial", "multinomial"}, default="auto"
        As Spark MLlib: ``"auto"`` fits the binary model when the labels are 0 and 1 and
        the multinomial one otherwise. Labels must be the integers 0 .. K-1 (every class
        present, K <= 1000); ``"multinomial"`` with K = 2 fits two softmax rows.
    lower_bounds_coef, upper_bounds_coef : array of shape (d,) or (1, d) (binary), (K, d)
        (multinomial), or None, default=None
        Box constraints on the coefficients in original units (``None`` or ±inf in an
        entry: no bound there), as Spark MLlib's ``lower/upperBoundsOnCoefficients``.
        With any bound the fit runs L-BFGS-B (SciPy, on the driver; each evaluation is
        one pass) on standardised, uncentred features, and the multinomial model is not
        centred (see :mod:`rddml.linear.bounds`); it needs ``optimizer="lbfgs"``, no L1
        term and no ``checkpoint_dir``.
    lower_bounds_intercept, upper_bounds_intercept : float or array of shape (K,), or None
        Box constraints on the intercept(s) (``fit_intercept=True`` only).
    kernels : {"auto", "numpy", "fused"} or None, default=None
        The implementation of the binomial loss/gradient pass, as for
        :class:`~rddml.cluster.kmeans.KMeans` (None: the driver's ``RDDML_KERNELS``, else
        ``"auto"``); resolved once in ``fit`` and passed to every task.
    dtype : {"float64", "float32"}, default="float64"
        The precision the blocks are stored and multiplied in; ``"float32"`` halves the
        cached blocks and runs single-precision matrix-vector products, with the per-row
        terms and all sums in float64 (docs/performance-kernels.md states the agreement).
    layout : {"auto", "dense", "sparse"}, default="auto"
        How the features are held in the cached blocks (:mod:`rddml.engine.sparse`):
        ``"sparse"`` as CSR matrices, never densified (margins ``X·w`` and gradients
        ``Xᵀ·r`` from the non-zeros); ``"auto"`` picks sparse for sparse inputs (a wide
        column of SparseVectors, an RDD of sparse vectors, SciPy sparse arrays) and logs
        the choice. Both layouts give the same model (to rounding). A dataset built
        beforehand keeps its own layout.
        Sparse blocks run their own CSR kernels whatever ``kernels`` says, and
        ``dtype="float32"`` narrows their stored values only (docs/sparse.md).

    Attributes
    ----------
    coef_ : ndarray of shape (d,) (binary) or (K, d) (multinomial)
    intercept_ : float (binary) or ndarray of shape (K,) (multinomial)
    family_ : {"binomial", "multinomial"}
        The model fitted (``family="auto"`` resolved from the labels).
    classes_ : ndarray of shape (K,)
        The classes in the order of ``coef_``'s rows and the probabilities' columns
        (0.0, 1.0, ..., K-1).
    n_iter_ : int
        Iterations (parameter updates) run.
    converged_ : bool
        True if the stopping rule of ``tol`` was met before ``max_iter``.
    loss_history_ : list of float
        The objective at the parameters each iteration started from (for ``"lbfgs"``:
        at every point the optimiser evaluated, one per pass; for ``"sgd"``: on the
        iteration's mini-batch).
    objective_history_ : list of float
        For ``"lbfgs"``: the objective at the start and after each iteration
        (``n_iter_ + 1`` values, Spark MLlib's ``objectiveHistory``); for ``"gd"`` and
        ``"sgd"``, ``loss_history_``. Set by ``fit`` (a loaded model has none).
    n_passes_ : int
        Passes over the data during ``fit`` (a statistics pass included, when one ran);
        for a resumed fit, those of the whole fit, as if it had not been interrupted.
    class_weight_ : tuple (w0, w1) (binary), tuple of K weights (multinomial), or None
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

    _labeled = True

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
        init_intercept: float | str | None = None,
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
        family: str = "auto",
        lower_bounds_coef: Any = None,
        upper_bounds_coef: Any = None,
        lower_bounds_intercept: Any = None,
        upper_bounds_intercept: Any = None,
        kernels: str | None = None,
        dtype: str = "float64",
        layout: str = "auto",
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
        self.family = family
        self.lower_bounds_coef = lower_bounds_coef
        self.upper_bounds_coef = upper_bounds_coef
        self.lower_bounds_intercept = lower_bounds_intercept
        self.upper_bounds_intercept = upper_bounds_intercept
        self.kernels = kernels
        self.dtype = dtype
        self.layout = layout

    # ---------------------------------------------------------------- params
    def _validate_params(self) -> None:
        check_choice("optimizer", self.optimizer, OPTIMIZERS)
        check_float("step_size", self.step_size, low=0.0, low_inclusive=False)
        check_int("max_iter", self.max_iter, low=0)
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
        check_choice("family", self.family, FAMILIES)
        if self.family == "binomial" or _binary_class_weight(self.class_weight):
            _class_weight_pair(self.class_weight)
        else:
            _class_weight_any(self.class_weight)
        if self.init_coef is not None:
            _init_coef(self.init_coef, None, self.family != "binomial")
        if self.init_intercept is not None and not _is_prior(self.init_intercept):
            _init_intercept(self.init_intercept, None, self.family != "binomial")
            if not self.fit_intercept and np.any(np.asarray(self.init_intercept) != 0):
                raise InvalidParameterError(
                    "The 'init_intercept' parameter must be None or 0 when "
                    f"fit_intercept=False, got {self.init_intercept!r}."
                )
        check_float("threshold", self.threshold, low=0.0, high=1.0)
        check_seed("seed", self.seed)
        check_engine_params(self, columns=("features_col", "label_col", "weight_col",
                                           "prediction_col", "probability_col"))
        self._bounded()

    def _bounded(self) -> bool:
        """Whether bounds are set (checked against the other parameters)."""
        return check_bound_settings(
            {name: getattr(self, name) for name in BOUND_PARAMS}, optimizer=self.optimizer,
            l1_strength=float(self.reg_param) * float(self.l1_ratio),
            fit_intercept=bool(self.fit_intercept), checkpoint_dir=self.checkpoint_dir)

    # ------------------------------------------------------------------- fit
    def fit(self, data: Any) -> LogisticRegression:
        """Fit on ``data``: an RDD of ``(features, label)`` or ``(features, label, weight)``
        tuples, a DataFrame, or a labelled dataset (:class:`~rddml.BlockDataset` or
        :class:`~rddml.engine.frames.FrameDataset`). Labels must be 0 or 1. Returns ``self``."""
        return self._fit(data)

    def _fit_dataset(self, ds: Dataset) -> None:
        check_labels_and_weights(ds)
        family = resolve_family(str(self.family), ds.labels)
        if family == "multinomial":
            self._fit_multinomial(ds)
            return
        if self.family == "binomial":
            check_binomial_labels(ds.labels)
        self._fit_binomial(ds)

    def _fit_binomial(self, ds: Dataset) -> None:
        started = time.perf_counter()
        check_labelled(ds, require_both=True)
        kernels = _jit.resolve_kernels(self.kernels)
        warm_up_kernels(ds, kernels, self.dtype)
        d = ds.n_features
        ckpt, setup, solver_state = self._start(ds, self._setup, SETUP_KEYS,
                                                "logistic regression")
        class_weights = None if setup["class_weight"] is None else (
            float(setup["class_weight"][0]), float(setup["class_weight"][1]))
        mean, std = setup["feature_mean"], setup["feature_std"]
        if setup["seed"] is not None:
            self.seed_ = int(setup["seed"])
        bounded = self._bounded()
        if mean is not None and std is not None:
            # Bounds are per coefficient in original units: standardise without centring,
            # so each stays a bound on one parameter (as MLlib).
            scaling = Scaling.from_std(np.zeros(d) if bounded else mean, std,
                                       bool(self.fit_intercept))
        else:
            scaling = Scaling.identity(d, bool(self.fit_intercept))
        coef0 = np.zeros(d) if self.init_coef is None else _init_coef(self.init_coef, d, False)
        if _is_prior(self.init_intercept):
            intercept0 = float(self._prior_intercept(ds, 2, class_weights, solver_state,
                                                     binary=True)[1])
        else:
            intercept0 = (0.0 if self.init_intercept is None
                          else float(_init_intercept(self.init_intercept, None, False)[0]))
        theta0 = scaling.from_original(coef0, intercept0)
        box = self._theta_box(scaling, 1, d) if bounded else None
        l2 = float(self.reg_param) * (1.0 - float(self.l1_ratio))
        l1_strength = float(self.reg_param) * float(self.l1_ratio)
        l1 = l1_strength * penalty_mask(d, bool(self.fit_intercept)) if l1_strength else None
        fun = partial(full_objective, ds=ds, scaling=scaling, class_weights=class_weights,
                      l2=l2, kernels=kernels)
        batch_fun = None if setup["seed"] is None else partial(
            batch_objective, ds=ds, scaling=scaling, class_weights=class_weights, l2=l2,
            seed=int(setup["seed"]), fraction=float(self.batch_fraction), kernels=kernels)
        result = self._solve(fun, batch_fun, theta0, l1, solver_state, ckpt, setup, box)
        coef, intercept = scaling.to_original(result.theta)
        self._check_finite(coef, intercept, result.n_iter)
        self._fitted(coef, intercept, result, setup, class_weights,
                     np.array([0.0, 1.0]), "binomial")
        logger.info("logistic regression (%s, %s layout): %d iterations, %d passes, "
                    "objective %.10g, converged=%s, %.2fs", self.optimizer, ds.layout,
                    self.n_iter_, self.n_passes_,
                    self.loss_history_[-1] if self.loss_history_ else float("nan"),
                    self.converged_, time.perf_counter() - started)

    def _check_finite(self, coef: np.ndarray, intercept: Any, n_iter: int) -> None:
        if not (np.all(np.isfinite(coef)) and np.all(np.isfinite(intercept))):
            raise ConvergenceError(
                f"optimizer={self.optimizer!r} produced non-finite coefficients after "
                f"iteration {n_iter}. Use a smaller step_size or standardize=True."
            )

    def _fitted(self, coef: np.ndarray, intercept: Any, result: SolverResult,
                setup: dict[str, Any], class_weight: tuple[float, ...] | None,
                classes: np.ndarray, family: str) -> None:
        """Set the fitted attributes (the statistics from the fit's ``setup``)."""
        self.coef_ = coef
        self.intercept_ = intercept
        self.n_iter_ = result.n_iter
        self.converged_ = result.converged
        self.loss_history_ = [float(v) for v in result.history]
        self.objective_history_ = [float(v) for v in (
            result.path if result.path is not None else result.history)]
        self.n_passes_ = int(setup["stats_passes"]) + result.n_evals
        self.class_weight_ = class_weight
        self.feature_mean_ = setup["feature_mean"]
        self.feature_std_ = setup["feature_std"]
        self.n_features_in_ = coef.shape[-1]
        self.classes_ = classes
        self.family_ = family

    def _start(self, ds: Dataset, setup_fn: Callable[[Dataset], dict[str, Any]],
               keys: tuple[str, ...], what: str
               ) -> tuple[FitCheckpoint, dict[str, Any], SolverState | None]:
        """The fit's checkpoint, its setup and the solver state to resume from: the last
        checkpoint's when there is one (``keys`` name the setup's fields in it), else a
        fresh ``setup_fn(ds)`` (saved at once) and None. Sets ``resumed_iteration_``."""
        ckpt = self._checkpoint(ds)
        state = ckpt.load()
        if state is None:
            setup = setup_fn(ds)
            # The statistics pass is checkpointed too (iteration 0, no solver state yet).
            ckpt.save(0, {**setup, "solver": None})
            solver_state = None
        else:
            setup = {key: state[key] for key in keys}
            solver_state = state["solver"]
            logger.info("%s: resumed from checkpoint %s at iteration %d/%d (written %s)",
                        what, ckpt.path, state["iteration"], self.max_iter,
                        state["written"])
        self.resumed_iteration_ = 0 if state is None else int(state["iteration"])
        return ckpt, setup, solver_state

    def _setup(self, ds: Dataset) -> dict[str, Any]:
        """What the fit computes before its first iteration: the class weights and the
        standardisation statistics (from the dataset's label census, or one pass when it
        has none), the SGD seed and the solver. All of it goes into the checkpoint, so a
        resumed fit repeats none of it."""
        class_weights = _class_weight_pair(self.class_weight)
        passes = 0
        mean = std = None
        if self.standardize or self.class_weight == "balanced":
            census = ds.label_census  # gathered while the data was converted
            if census is None:  # a transformed view, or too many classes x features
                census = label_census_pass(ds)
                passes += 1
            moments = census.class_moments(2)  # labels were checked to be 0/1
            if self.class_weight == "balanced":
                if float(moments.weight.min()) <= 0:
                    raise DataValidationError(
                        "class_weight='balanced' needs a positive total weight in both "
                        f"classes, got {moments.weight.tolist()} for classes [0, 1]."
                    )
                class_weights = balanced_class_weights(moments.weight)
            if self.standardize:
                mean, std = pooled_mean_std(moments, class_weights)
                check_standardization(mean, std)
        return {"solver_kind": self._solver_kind(), "seed": self._sgd_seed(),
                "class_weight": None if class_weights is None else list(class_weights),
                "feature_mean": mean, "feature_std": std, "stats_passes": passes}

    def _theta_box(self, scaling: Scaling, n_rows: int, d: int
                   ) -> tuple[np.ndarray, np.ndarray]:
        """The bounds as a box on the optimiser's θ (see :mod:`rddml.linear.bounds`)."""
        lc, uc, li, ui = original_bounds({name: getattr(self, name) for name in BOUND_PARAMS},
                                         n_rows, d)
        return theta_bounds(scaling.scale, n_rows, bool(self.fit_intercept), lc, uc, li, ui)

    def _prior_intercept(self, ds: Dataset, n_classes: int, class_weights: Any,
                         resume: SolverState | None, *, binary: bool) -> np.ndarray:
        """MLlib's starting intercepts (``init_intercept="prior"``): log(W₁/W₀) for the
        binary model (returned as [0, that]), the centred log(1 + W_k) for K classes; 0
        without an intercept, or when the fit resumes (its start is already past)."""
        if not self.fit_intercept or resume is not None:
            return np.zeros(n_classes)
        census = ds.label_census
        if census is None:
            census = label_census_pass(ds)
        totals = np.asarray(census.class_moments(n_classes).weight, dtype=np.float64)
        if class_weights is not None:
            totals = totals * np.asarray(class_weights, dtype=np.float64)
        if binary:
            with np.errstate(divide="ignore", invalid="ignore"):
                log_odds = float(np.log(totals[1] / totals[0]))
            return np.array([0.0, log_odds if np.isfinite(log_odds) else 0.0])
        raw = np.log1p(totals)
        return np.asarray(raw - raw.mean())

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

    def _solve(self, fun: Any, batch_fun: Any, theta0: np.ndarray, l1: np.ndarray | None,
               resume: SolverState | None, ckpt: FitCheckpoint,
               setup: dict[str, Any],
               box: tuple[np.ndarray, np.ndarray] | None = None) -> SolverResult:
        """Run the optimiser on the flat θ: ``fun`` is the full objective (one pass per
        call), ``batch_fun`` the mini-batch one (``"sgd"``); ``ckpt`` gets the state with
        ``setup`` every ``checkpoint_interval`` iterations and at the end. With ``box``
        (lower, upper) the fit is L-BFGS-B within it (never checkpointed)."""
        if box is not None:
            return lbfgsb(fun, theta0, box[0], box[1], max_iter=int(self.max_iter),
                          tol=float(self.tol))
        result = self._run_solver(fun, batch_fun, theta0, l1, resume,
                                  _SolverCheckpoint(ckpt, setup, int(self.max_iter)))
        # The final state too: running the same fit again then runs no pass at all.
        ckpt.save(result.n_iter, {**setup, "solver": result.state}, final=True)
        return result

    def _run_solver(self, fun: Any, batch_fun: Any, theta0: np.ndarray,
                    l1: np.ndarray | None, resume: SolverState | None,
                    checkpoint: _SolverCheckpoint) -> SolverResult:
        description = f"{type(self).__name__} ({self.optimizer})"
        done = 0 if resume is None else int(resume.get("n_iter", 0))
        with progress_bar(description, int(self.max_iter), "it", done) as bar:
            report = partial(_report_iteration, bar=bar)
            return self._call_solver(fun, batch_fun, theta0, l1, resume, checkpoint, report)

    def _call_solver(self, fun: Any, batch_fun: Any, theta0: np.ndarray,
                     l1: np.ndarray | None, resume: SolverState | None,
                     checkpoint: _SolverCheckpoint, report: Callable[[int, float], None]
                     ) -> SolverResult:
        max_iter, tol = int(self.max_iter), float(self.tol)
        kind = self._solver_kind()
        if kind == "gd":
            return gradient_descent(fun, theta0, step=float(self.step_size),
                                    max_iter=max_iter, tol=tol, l1=l1, resume=resume,
                                    checkpoint=checkpoint, on_iteration=report)
        if kind == "sgd":
            assert batch_fun is not None
            return stochastic_gradient_descent(batch_fun, theta0, step=float(self.step_size),
                                               max_iter=max_iter, tol=tol, l1=l1,
                                               resume=resume, checkpoint=checkpoint,
                                               on_iteration=report)
        if kind == "owlqn":
            assert l1 is not None
            return owlqn(fun, theta0, l1, max_iter=max_iter, tol=tol, resume=resume,
                         checkpoint=checkpoint, on_iteration=report)
        return lbfgs(fun, theta0, max_iter=max_iter, tol=tol, resume=resume,
                     checkpoint=checkpoint, on_iteration=report)

    # ----------------------------------------------------------- multinomial
    def _fit_multinomial(self, ds: Dataset) -> None:
        """The softmax model over K classes: the same loop as the binary fit, on the
        flattened (K, d + 1) parameters (see :mod:`rddml.linear.multinomial`)."""
        started = time.perf_counter()
        d = ds.n_features
        ckpt, setup, solver_state = self._start(ds, self._setup_multinomial,
                                                MULTINOMIAL_SETUP_KEYS,
                                                "multinomial logistic regression")
        K = int(setup["n_classes"])
        if setup["seed"] is not None:
            self.seed_ = int(setup["seed"])
        coef0 = (np.zeros((K, d)) if self.init_coef is None
                 else _init_coef(self.init_coef, d, True, K))
        if _is_prior(self.init_intercept):
            intercept0 = self._prior_intercept(ds, K, setup["class_weight"], solver_state,
                                               binary=False)
        else:
            intercept0 = (np.zeros(K) if self.init_intercept is None
                          else _init_intercept(self.init_intercept, K, True))
        bounded = self._bounded()
        scaling, theta0, l1, fun, batch_fun = multinomial.problem(
            ds, setup, coef0, intercept0, fit_intercept=bool(self.fit_intercept),
            reg_param=float(self.reg_param), l1_ratio=float(self.l1_ratio),
            batch_fraction=float(self.batch_fraction), centre=not bounded)
        box = self._theta_box(scaling, K, d) if bounded else None
        result = self._solve(fun, batch_fun, theta0, l1, solver_state, ckpt, setup, box)
        coef, intercept = theta_to_original(scaling, result.theta, K)
        self._check_finite(coef, intercept, result.n_iter)
        if not bounded:  # a bounded optimum is not shift-invariant: MLlib keeps it as is
            coef, intercept = multinomial.centred(coef, intercept, float(self.reg_param))
        self._fitted(coef, intercept, result, setup,
                     None if setup["class_weight"] is None
                     else tuple(float(v) for v in setup["class_weight"]),
                     np.arange(K, dtype=np.float64), "multinomial")
        logger.info("multinomial logistic regression (%s, K=%d, %s layout): %d iterations, "
                    "%d passes, objective %.10g, converged=%s, %.2fs", self.optimizer, K,
                    ds.layout, self.n_iter_,
                    self.n_passes_,
                    self.loss_history_[-1] if self.loss_history_ else float("nan"),
                    self.converged_, time.perf_counter() - started)

    def _setup_multinomial(self, ds: Dataset) -> dict[str, Any]:
        """:func:`rddml.linear.multinomial.setup` with this estimator's parameters."""
        return multinomial.setup(ds, standardize=bool(self.standardize),
                                 class_weight=self.class_weight,
                                 solver_kind=self._solver_kind(), seed=self._sgd_seed())

    def _sgd_seed(self) -> int | None:
        if self.optimizer != "sgd":
            return None
        if self.seed is not None:
            return int(self.seed)
        return int(np.random.SeedSequence().entropy) % 2**31  # type: ignore[arg-type]

    # --------------------------------------------------------------- predict
    def predict_proba(self, data: Any) -> Any:
        """P(y = 1) for each row (binary) or the K class probabilities (multinomial), in
        the same kind as the input.

        RDD (of feature vectors or ``(features, label[, weight])`` tuples) → RDD of floats
        (multinomial: lists of K floats) in the same order; DataFrame → the DataFrame plus
        a double ``probability_col`` (multinomial: ``array<double>`` of K); BlockDataset →
        RDD of arrays, one per block ((rows, K) for multinomial); NumPy array (n, d) →
        array (n,) (multinomial: (n, K)); a SciPy sparse matrix likewise. A DataFrame whose
        features are sparse vectors (``layout``) is scored from their non-zeros.
        """
        return self._score(data, threshold=None, out_col=self.probability_col)

    def predict(self, data: Any) -> Any:
        """Predicted class as a float (binary: 1.0 when P(y=1) > ``threshold``, else 0.0;
        multinomial: the most probable class), same kinds as :meth:`predict_proba`; a
        DataFrame gets a double ``prediction_col``."""
        return self._score(data, threshold=float(self.threshold), out_col=self.prediction_col)

    def _score(self, data: Any, *, threshold: float | None, out_col: str) -> Any:
        check_is_fitted(self, "coef_")
        coef = self.coef_
        intercept = (np.asarray(self.intercept_, dtype=np.float64) if coef.ndim == 2
                     else float(self.intercept_))
        d = coef.shape[-1]
        if isinstance(data, np.ndarray) or is_scipy_sparse(data):
            X = canonical(data) if is_scipy_sparse(data) else np.asarray(data, dtype=np.float64)
            if X.ndim != 2 or X.shape[1] != d:
                raise InvalidParameterError(
                    f"The 'data' array must have shape (n, {d}), got {X.shape}."
                )
            return scores(X, coef, intercept, threshold)
        if isinstance(data, BlockDataset):
            self._check_width(data.n_features)
            return predict_blocks(data, coef, intercept, threshold)
        if is_rdd(data):
            check_width(rdd_width(data, features_of), d, "RDD")
            return predict_records(data, coef, intercept, threshold)
        if is_dataframe(data):
            if sparse_scoring(data, self.features_col, self.feature_cols, str(self.layout)):
                assert self.features_col is not None
                check_width(vector_column_width(data, self.features_col), d, "DataFrame")
                return predict_sparse_dataframe(data, features_col=self.features_col,
                                                out_col=out_col, coef=coef,
                                                intercept=intercept, threshold=threshold)
            features = features_expression(data, self.features_col, self.feature_cols)
            check_width(dataframe_width(data, self.features_col, self.feature_cols, features),
                        d, "DataFrame")
            return predict_dataframe(data, features=features, out_col=out_col, coef=coef,
                                     intercept=intercept, threshold=threshold)
        raise InvalidParameterError(
            "The 'data' argument must be a pyspark RDD, a pyspark DataFrame, an rddml "
            f"BlockDataset or a NumPy array, got {type(data).__name__}."
        )

    def _check_width(self, n_features: int) -> None:
        if n_features != self.coef_.shape[-1]:
            raise DataValidationError(
                f"The data has {n_features} features, but the model was fitted on "
                f"{self.coef_.shape[-1]}."
            )

    def evaluate(self, data: Any) -> dict[str, Any]:
        """Metrics on labelled ``data``, computed distributed in one pass (no row is
        collected): ``accuracy``, ``log_loss``, ``auc`` (exact ROC AUC; None when one
        class is absent), ``precision``, ``recall``, ``f1`` (of class 1, 0 when undefined),
        ``confusion_matrix`` ``[[tn, fp], [fn, tp]]``, ``weight`` (rows or total weight)
        and ``threshold``. Row weights apply; class weights do not.

        A multinomial model gives instead ``accuracy``, ``log_loss``, ``precision_macro``,
        ``recall_macro``, ``f1_macro``, the ``*_weighted`` averages, ``precision_per_class``
        / ``recall_per_class`` / ``f1_per_class`` / ``support_per_class``, the K×K
        ``confusion_matrix`` (rows: true class, columns: predicted), ``auc_ovr`` (one-vs-rest
        ROC AUC of each class, None for a class absent or alone) and ``auc_macro``, all in
        one pass (see :func:`~rddml.linear.softmax.multiclass_metrics`)."""
        check_is_fitted(self, "coef_")
        if self.coef_.ndim == 2:
            return self._evaluate_multinomial(data)
        with self._data(data) as ds:
            check_labelled(ds, require_both=False)
            self._check_width(ds.n_features)
            stats, auc = evaluate_pass(ds, self.coef_, float(self.intercept_),
                                       float(self.threshold))
        metrics = classification_metrics(stats, auc)
        metrics["threshold"] = float(self.threshold)
        return metrics

    def _evaluate_multinomial(self, data: Any) -> dict[str, Any]:
        with self._data(data) as ds:
            return multinomial.evaluate(ds, self.coef_, np.asarray(self.intercept_),
                                        self._check_width)

    # ----------------------------------------------------------- persistence
    _fitted_attribute = "coef_"

    def _saved_params(self) -> dict[str, Any]:
        params = self.get_params()
        if isinstance(params["class_weight"], dict):
            if params["family"] == "binomial" or _binary_class_weight(params["class_weight"]):
                pair = _class_weight_pair(params["class_weight"])
                params["class_weight"] = {"0": pair[0], "1": pair[1]} if pair else None
            else:
                params["class_weight"] = {
                    str(k): w for k, w in sorted(_class_weight_any(params["class_weight"])
                                                 .items())}
        if params["init_coef"] is not None:
            params["init_coef"] = np.asarray(params["init_coef"], dtype=float).tolist()
        for name in BOUND_PARAMS:
            params[name] = bounds_as_json(params[name], name.split("_")[0])
        if isinstance(params["init_intercept"], (list, tuple, np.ndarray)):
            params["init_intercept"] = np.asarray(params["init_intercept"],
                                                  dtype=float).tolist()
        return params

    def _model_document(self) -> dict[str, Any]:
        def listed(a: np.ndarray | None) -> list[float] | None:
            return None if a is None else a.tolist()

        if self.coef_.ndim == 2:
            # Multinomial: the classes, in the order of the coefficient rows.
            return {"family": "multinomial", "classes": [int(c) for c in self.classes_],
                    "coef": self.coef_.tolist(),
                    "intercept": np.asarray(self.intercept_, dtype=float).tolist(),
                    "n_iter": self.n_iter_, "converged": self.converged_,
                    "loss_history": self.loss_history_, "n_passes": self.n_passes_,
                    "class_weight": list(self.class_weight_) if self.class_weight_ else None,
                    "feature_mean": listed(self.feature_mean_),
                    "feature_std": listed(self.feature_std_)}
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
        self.n_features_in_ = self.coef_.shape[-1]
        if self.coef_.ndim == 2:
            self.classes_ = np.arange(self.coef_.shape[0], dtype=np.float64)
            self.family_ = "multinomial"
        else:
            self.classes_ = np.array([0.0, 1.0])
            self.family_ = "binomial"


# ------------------------------------------------------------------ helpers
#: The checkpoint's fields besides the solver's state (see ``LogisticRegression._setup``).
SETUP_KEYS = ("solver_kind", "seed", "class_weight", "feature_mean", "feature_std",
              "stats_passes")
#: ... of a multinomial fit, which adds the class count K.
MULTINOMIAL_SETUP_KEYS = (*SETUP_KEYS, "n_classes")


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
    weights = check_class_weight_dict(value, binary=True)
    return weights.get(0, 1.0), weights.get(1, 1.0)


def _binary_class_weight(value: Any) -> bool:
    """Whether ``class_weight`` is None, "balanced", or a dict naming only classes 0 and 1
    (then it is kept as the binary model's pair)."""
    return not isinstance(value, dict) or all(binary_class_key(k) is not None for k in value)


def _class_weight_any(value: Any) -> dict[int, float]:
    """Validate ``class_weight`` for any number of classes; a dict as ``{class: weight}``."""
    if value is None or value == "balanced":
        return {}
    if not isinstance(value, dict):
        raise InvalidParameterError(
            "The 'class_weight' parameter must be None, 'balanced' or a dict {class: weight}, "
            f"got {value!r}."
        )
    return check_class_weight_dict(value)


def _init_coef(value: Any, d: int | None, multinomial: bool,
               n_classes: int | None = None) -> np.ndarray:
    """``init_coef`` as an array: (d,) for the binary model; (K, d) for the multinomial one
    (where ``multinomial`` allows 2-D; the shape is checked once d and K are known)."""
    try:
        arr = np.asarray(value, dtype=np.float64)
    except (TypeError, ValueError):
        arr = np.zeros((0, 0, 0))
    ndims = (1, 2) if multinomial and n_classes is None else (2,) if multinomial else (1,)
    shape_ok = arr.ndim in ndims and (d is None or arr.shape[-1] == d) and (
        n_classes is None or arr.shape[0] == n_classes)
    if not shape_ok or not np.all(np.isfinite(arr)):
        want_d = "n" if d is None else str(d)
        if multinomial:
            want_k = "K" if n_classes is None else str(n_classes)
            shape = f"2-D array of {want_k} x {want_d} finite numbers (one row per class)"
        else:
            shape = f"1-D array of {want_d} finite numbers (one per feature)"
        raise InvalidParameterError(
            f"The 'init_coef' parameter must be a {shape}, got {value!r}."
        )
    return arr


def _init_intercept(value: Any, n_classes: int | None, multinomial: bool) -> np.ndarray:
    """``init_intercept`` as an array: a float (every class the same), or for a multinomial
    model one number per class."""
    if np.ndim(value) == 0:
        check_float("init_intercept", value)
        return np.full(n_classes or 1, float(value))
    try:
        arr = np.asarray(value, dtype=np.float64)
    except (TypeError, ValueError):
        arr = np.zeros((0, 0))
    if (not multinomial or arr.ndim != 1 or not np.all(np.isfinite(arr))
            or (n_classes is not None and arr.shape[0] != n_classes)):
        want = ("a float" if not multinomial else
                f"a float or a 1-D array of {n_classes or 'K'} finite numbers (one per class)")
        raise InvalidParameterError(
            f"The 'init_intercept' parameter must be {want}, got {value!r}."
        )
    return arr


def _is_prior(value: Any) -> bool:
    """``init_intercept="prior"``: start from MLlib's intercepts (class log-odds)."""
    return isinstance(value, str) and value == "prior"


def _report_iteration(iteration: int, objective: float, *, bar: Bar) -> None:
    bar.update_to(iteration, objective=f"{objective:.6g}")
