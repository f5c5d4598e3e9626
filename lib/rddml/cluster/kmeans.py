"""Distributed k-means (Lloyd's algorithm) on NumPy blocks, scikit-learn style."""

from __future__ import annotations

import logging
import os
import time
from functools import partial
from typing import Any

import numpy as np

import rddml._jit as _jit
from rddml.base import BaseEstimator
from rddml.cluster import sparse_kernels as sparse_km
from rddml.cluster.init import INITIALISERS
from rddml.cluster.kernels import LloydStats, centre_shift, closest_centre, update_centres
from rddml.cluster.passes import (
    AGGREGATIONS,
    cost_pass,
    lloyd_pass,
    unit_rows_view,
    warm_up_kernels,
)
from rddml.engine.backend import is_dataframe, is_rdd
from rddml.engine.blocks import BlockDataset, is_scipy_sparse
from rddml.engine.columns import features_expression, with_features_column
from rddml.engine.convert import score_records
from rddml.engine.dataset import BlockView, Dataset
from rddml.engine.inputs import check_engine_params
from rddml.engine.sparse import canonical, csr, is_sparse, row_norms_sq
from rddml.engine.sparse_columns import (
    sparse_scoring,
    vector_column_width,
    with_sparse_features_column,
)
from rddml.engine.widths import check_width, dataframe_width, rdd_width
from rddml.errors import InvalidParameterError
from rddml.io.checkpoint import FitCheckpoint, fit_fingerprint
from rddml.io.validation import check_kmeans_model
from rddml.params import (
    check_choice,
    check_float,
    check_int,
    check_is_fitted,
    check_matrix,
    check_seed,
)
from rddml.progress import Bar, progress_bar

logger = logging.getLogger(__name__)

INITS = ("random", "k-means++", "k-means||")
DISTANCES = ("euclidean", "cosine")
EMPTY_CLUSTER = ("farthest", "keep", "error")


def lloyd_iteration(ds: Dataset, centres: np.ndarray, aggregation: str,
                    empty_cluster: str, kernels: str = "auto"
                    ) -> tuple[LloydStats, np.ndarray, int]:
    """One Lloyd step: returns the pass's statistics, the new centres and the number of
    empty clusters.

    Re-seeding an empty cluster needs the points farthest from their centres, and finding
    them costs a per-point distance and a top-k in every block. They are only needed when
    a cluster empties, which is rare: the pass runs without them and, in that case, runs
    again from the same centres with them, so the result equals always collecting them.
    """
    stats = lloyd_pass(ds, centres, aggregation=aggregation, n_far=0, kernels=kernels)
    if empty_cluster == "farthest" and bool((stats.counts <= 0).any()):
        stats = lloyd_pass(ds, centres, aggregation=aggregation, n_far=centres.shape[0],
                           kernels=kernels)
    new, n_empty = update_centres(stats, centres, empty_cluster)
    return stats, new, n_empty


class KMeans(BaseEstimator):
    """k-means clustering with Lloyd iterations distributed over Spark.

    Each iteration broadcasts the centres, lets every partition reduce its NumPy
    blocks to per-cluster partial sums and weights (plus its cost), aggregates those
    partials (``reduceByKey`` on the cluster id, or a tree reduce), and updates the
    centres on the driver.

    Parameters
    ----------
    k : int, default=2
        Number of clusters, ``>= 1`` and at most the number of distinct points.
    init : {"k-means||", "k-means++", "random"} or array of shape (k, d), default="k-means||"
        ``"random"`` picks k distinct points uniformly (the write-up's ``takeSample``);
        ``"k-means++"`` is exact D² seeding (k passes); ``"k-means||"`` is the scalable
        variant of Bahmani et al. (a few passes), Spark MLlib's default.
    max_iter : int, default=20
        Maximum number of Lloyd iterations; 0 keeps the initial centres.
    tol : float, default=1e-4
        Stop when every centre moved less than ``tol`` (Euclidean) in an iteration.
    seed : int or None, default=None
        Seed of the initialisation; the same seed gives the same result for any
        partitioning of the data.
    distance : {"euclidean", "cosine"}, default="euclidean"
        ``"cosine"`` runs spherical k-means: points and centres are unit-normalised and
        the cost is the sum of ``1 - cos``.
    empty_cluster : {"farthest", "keep", "error"}, default="farthest"
        What to do when no point is closest to a centre: move it onto the point farthest
        from its centre (scikit-learn), keep it (Spark MLlib), or raise.
    aggregation : {"tree", "reduceByKey"}, default="tree"
        How partition partials are combined; both give the same centres. ``"reduceByKey"``
        is the write-up's design (at most k + 1 records per partition shuffled by cluster
        id); ``"tree"`` tree-aggregates the k×d partials in the same job. The default is
        ``"tree"`` because the shuffle adds a stage, a fixed cost, to every iteration
        (docs/performance.md).
    features_col, feature_cols, weight_col, prediction_col : str, list of str or None
        DataFrame column names, as in Spark ML. ``feature_cols`` (numeric columns)
        takes precedence over ``features_col`` (a vector or array column).
    checkpoint_dir : str or None, default=None
        A directory on the driver's file system where the fit saves its state (centres,
        iteration, history, initial centres, seed) atomically after the initialisation,
        every ``checkpoint_interval`` iterations and at the end. A fit started again with
        the same directory resumes from the last state (same result as an uninterrupted
        fit); one whose parameters (other than ``max_iter``) or data shape differ is
        refused. See :mod:`rddml.io.checkpoint`.
    checkpoint_interval : int, default=10
        Iterations between checkpoints.
    backend : {"auto", "rdd", "dataframe"}, default="auto"
        Where the passes run (:mod:`rddml.engine.backend`): RDDs where a SparkContext
        exists, the DataFrame API under Spark Connect.
    storage : {"auto", "executor", "spark"}, default="auto"
        How the RDD backend keeps the cached blocks between passes
        (:mod:`rddml.engine.storage`): ``"executor"`` as ``.npy`` files on the executors'
        local disks, memory-mapped by each pass (no JVM→Python copy); ``"spark"`` in
        Spark's block manager (for environments that forbid local files); ``"auto"``
        is ``"executor"``, the faster of the two (docs/performance.md).
    kernels : {"auto", "numpy", "fused"} or None, default=None
        The implementation of the per-block Lloyd step (:mod:`rddml._jit`): ``"auto"`` the
        fused numba kernel for few centres and features, BLAS with a numba reduction
        above; ``"fused"`` always the fused kernel; ``"numpy"`` NumPy and BLAS only. None
        reads ``RDDML_KERNELS`` on the driver (``"auto"`` when unset). Resolved once, in
        ``fit``, and passed to every task; the centres are the same up to rounding.
    dtype : {"float64", "float32"}, default="float64"
        The precision the blocks are stored and multiplied in. ``"float32"`` halves the
        memory the cached blocks hold and runs single-precision BLAS; sums, weights and
        costs still accumulate in float64, and the centres stay float64
        (docs/performance-kernels.md states the agreement with float64).
    layout : {"auto", "dense", "sparse"}, default="auto"
        How the features are held in the cached blocks (:mod:`rddml.engine.sparse`):
        ``"sparse"`` as CSR matrices, never densified (distances ‖x‖² − 2x·c + ‖c‖² with a
        sparse-dense product, dense centres; ``"cosine"`` normalises the non-zeros: the
        spherical k-means of TF-IDF text); ``"auto"`` picks sparse for sparse inputs (a
        wide column of SparseVectors, an RDD of sparse vectors, SciPy sparse arrays) and
        logs the choice. Both layouts give the same model (to rounding).
        Sparse blocks run their own CSR kernels whatever ``kernels`` says, and
        ``dtype="float32"`` narrows their stored values only (docs/sparse.md).

    Attributes
    ----------
    cluster_centers_ : ndarray of shape (k, d)
    n_iter_ : int
    converged_ : bool
        True if the fit stopped because every centre moved less than ``tol``.
    inertia_ : float
        Weighted sum of squared distances to the closest centre (``1 - cos`` for cosine).
    history_ : list of dict
        Per iteration: ``iteration``, ``cost`` (at the centres the iteration started
        from), ``shift``, ``empty_clusters`` and ``seconds``.
    init_centers_ : ndarray of shape (k, d)
        The centres the first iteration started from.
    resumed_iteration_ : int
        The iteration restored from ``checkpoint_dir`` (0 when the fit started afresh).

    Examples
    --------
    >>> from rddml import KMeans
    >>> points = spark.sparkContext.parallelize([[0, 0], [0, 1], [9, 9], [9, 8]])  # doctest: +SKIP
    >>> km = KMeans(k=2, seed=0).fit(points)  # doctest: +SKIP
    >>> km.cluster_centers_[np.argsort(km.cluster_centers_[:, 0])]  # doctest: +SKIP
    array([[0. , 0.5],
           [9. , 8.5]])
    """

    _repr_params = ("k", "init", "max_iter", "seed", "distance")

    def __init__(
        self,
        k: int = 2,
        init: str | Any = "k-means||",
        max_iter: int = 20,
        tol: float = 1e-4,
        seed: int | None = None,
        distance: str = "euclidean",
        empty_cluster: str = "farthest",
        aggregation: str = "tree",
        features_col: str | None = "features",
        feature_cols: list[str] | None = None,
        weight_col: str | None = None,
        prediction_col: str = "prediction",
        checkpoint_dir: str | None = None,
        checkpoint_interval: int = 10,
        backend: str = "auto",
        storage: str = "auto",
        kernels: str | None = None,
        dtype: str = "float64",
        layout: str = "auto",
    ) -> None:
        self.k = k
        self.init = init
        self.max_iter = max_iter
        self.tol = tol
        self.seed = seed
        self.distance = distance
        self.empty_cluster = empty_cluster
        self.aggregation = aggregation
        self.features_col = features_col
        self.feature_cols = feature_cols
        self.weight_col = weight_col
        self.prediction_col = prediction_col
        self.checkpoint_dir = checkpoint_dir
        self.checkpoint_interval = checkpoint_interval
        self.backend = backend
        self.storage = storage
        self.kernels = kernels
        self.dtype = dtype
        self.layout = layout

    # ---------------------------------------------------------------- params
    def _validate_params(self) -> None:
        check_int("k", self.k, low=1)
        check_int("max_iter", self.max_iter, low=0)
        check_float("tol", self.tol, low=0.0)
        check_seed("seed", self.seed)
        check_choice("distance", self.distance, DISTANCES)
        check_choice("empty_cluster", self.empty_cluster, EMPTY_CLUSTER)
        check_choice("aggregation", self.aggregation, AGGREGATIONS)
        check_engine_params(self, columns=("features_col", "weight_col", "prediction_col"))
        if isinstance(self.init, str):
            check_choice("init", self.init, INITS)
        else:
            check_matrix("init", self.init, shape=(self.k, None))

    # ------------------------------------------------------------------- fit
    def fit(self, data: Any) -> KMeans:
        """Cluster ``data``: an RDD of points (or ``(point, weight)`` pairs), a DataFrame,
        or a dataset built with :class:`~rddml.BlockDataset` /
        :class:`~rddml.engine.frames.FrameDataset`. Returns ``self``."""
        return self._fit(data)

    def _fit_dataset(self, ds: Dataset) -> None:
        """The fit on an engine dataset: initialisation, Lloyd loop, checkpoints."""
        if self.distance == "cosine":
            ds = unit_rows_view(ds)
        k = int(self.k)
        if ds.has_weights and ds.min_weight is not None and ds.min_weight < 0:
            raise InvalidParameterError(
                f"Sample weights must be >= 0, got a minimum weight of {ds.min_weight}."
            )
        if k > ds.n_rows:
            raise InvalidParameterError(
                f"The 'k' parameter must be <= the number of points ({ds.n_rows}), got {k}."
            )
        ckpt = self._checkpoint(ds)
        state = ckpt.load()
        kernels = _jit.resolve_kernels(self.kernels)
        warm_up_kernels(ds, k, kernels, self.dtype)
        if state is None:
            seed = self.seed if self.seed is not None else int(
                np.random.SeedSequence().generate_state(1)[0])
            started = time.perf_counter()
            centres = self._initial_centres(ds, k, seed)
            logger.debug("k-means init %s: %d centres in %.2fs", self._init_name(), k,
                         time.perf_counter() - started)
            init_centres = centres.copy()
            history: list[dict[str, Any]] = []
            converged = False
            done = 0
            # The initialisation can cost several passes: checkpoint it too.
            ckpt.save(0, _kmeans_state(seed, init_centres, centres, history, converged))
        else:
            seed, centres = int(state["seed"]), state["centers"]
            init_centres, history = state["init_centers"], list(state["history"])
            converged, done = bool(state["converged"]), int(state["iteration"])
            logger.info("k-means: resumed from checkpoint %s at iteration %d/%d (written %s)",
                        ckpt.path, done, self.max_iter, state["written"])
        self.seed_ = seed
        self.init_centers_ = init_centres.copy()
        self.resumed_iteration_ = 0 if state is None else done
        with progress_bar(f"KMeans (k={k})", int(self.max_iter), "it", done) as bar:
            centres, history, converged, done = self._lloyd_loop(
                ds, ckpt, bar, seed, init_centres, centres, history, converged, done, kernels)
        # The final state too: running the same fit again then only recomputes the inertia.
        ckpt.save(done, _kmeans_state(seed, init_centres, centres, history, converged),
                  final=True)
        inertia = cost_pass(ds, centres)
        self.cluster_centers_ = centres
        self.inertia_ = inertia / 2 if self.distance == "cosine" else inertia
        self.n_iter_ = len(history)
        self.converged_ = converged
        self.history_ = history
        self.n_features_in_ = ds.n_features
        logger.info("k-means (k=%d, init=%s, %s, %s layout): %d iterations, converged=%s, "
                    "inertia %.6g", k, self._init_name(), self.distance, ds.layout,
                    self.n_iter_, converged, self.inertia_)

    def _lloyd_loop(self, ds: Dataset, ckpt: FitCheckpoint, bar: Bar, seed: int,
                    init_centres: np.ndarray, centres: np.ndarray,
                    history: list[dict[str, Any]], converged: bool, done: int, kernels: str
                    ) -> tuple[np.ndarray, list[dict[str, Any]], bool, int]:
        """Lloyd iterations from ``done`` + 1 to ``max_iter`` (or convergence), with their
        checkpoints, each pass run with the resolved ``kernels`` mode: ``(centres, history,
        converged, iterations done)``."""
        for it in range(done + 1, int(self.max_iter) + 1):
            if converged:
                break
            t0 = time.perf_counter()
            stats, new, n_empty = lloyd_iteration(ds, centres, self.aggregation,
                                                  self.empty_cluster, kernels)
            if self.distance == "cosine":
                new = _unit_rows(new)
            shift = centre_shift(centres, new)
            seconds = time.perf_counter() - t0
            cost = stats.cost / 2 if self.distance == "cosine" else stats.cost
            history.append({"iteration": it, "cost": cost, "shift": shift,
                            "empty_clusters": n_empty, "seconds": seconds})
            logger.debug("k-means iteration %d/%d cost=%.6g shift=%.3g empty=%d %.3fs",
                         it, self.max_iter, cost, shift, n_empty, seconds)
            bar.update_to(it, cost=f"{cost:.6g}", shift=f"{shift:.3g}")
            centres = new
            converged = shift < self.tol and n_empty == 0
            done = it
            if ckpt.due(it) and not converged and it < self.max_iter:
                ckpt.save(it, _kmeans_state(seed, init_centres, centres, history, converged))
        return centres, history, converged, done

    def _checkpoint(self, ds: Any) -> FitCheckpoint:
        # max_iter may grow between runs: a finished fit can then be continued.
        return FitCheckpoint(
            self.checkpoint_dir, estimator="KMeans",
            fingerprint=fit_fingerprint(self.get_params(), ds, exclude=("max_iter",)),
            interval=int(self.checkpoint_interval),
        )

    def _init_name(self) -> str:
        return self.init if isinstance(self.init, str) else "explicit"

    def _initial_centres(self, ds: Dataset, k: int, seed: int) -> np.ndarray:
        if not isinstance(self.init, str):
            centres = check_matrix("init", self.init, shape=(k, ds.n_features))
            return _unit_rows(centres) if self.distance == "cosine" else centres.copy()
        return INITIALISERS[self.init](ds, k, seed)

    # --------------------------------------------------------------- predict
    def predict(self, data: Any) -> Any:
        """Index of the closest centre for each point, in the same kind as the input.

        RDD → RDD of ints (same order); DataFrame → the DataFrame with an int
        ``prediction_col``; BlockDataset → RDD of int arrays, one per block; a NumPy
        array of shape (n, d) → array of n ints, computed on the driver.
        """
        check_is_fitted(self, "cluster_centers_")
        centres = self.cluster_centers_
        cosine = self.distance == "cosine"
        if is_scipy_sparse(data):
            X = canonical(data)
            if X.shape[1] != centres.shape[1]:
                raise InvalidParameterError(
                    f"The 'data' matrix must have shape (n, {centres.shape[1]}), got {X.shape}.")
            return assign_points(X, centres, cosine)
        if isinstance(data, np.ndarray):
            X = check_matrix("data", data, shape=(None, centres.shape[1]))
            return assign_points(X, centres, cosine)
        d = centres.shape[1]
        if isinstance(data, BlockDataset):
            check_width(data.n_features, d, "dataset")
            return data.map_blocks(_predict_block, (centres, cosine))
        if isinstance(data, Dataset):
            raise InvalidParameterError(
                f"predict takes an RDD, a DataFrame, a BlockDataset or an array; for a "
                f"{type(data).__name__} pass the DataFrame it was built from."
            )
        if is_rdd(data):
            check_width(rdd_width(data, _record_features), d, "RDD")
            return data.mapPartitionsWithIndex(
                partial(score_records, d=d, features_of=_record_features,
                        score=partial(assign_points, centres=centres, cosine=cosine))
            )
        if is_dataframe(data):
            return _predict_dataframe(self, data)
        raise InvalidParameterError(
            "The 'data' argument must be a pyspark RDD, a pyspark DataFrame or an "
            f"rddml BlockDataset, got {type(data).__name__}."
        )

    def compute_cost(self, data: Any) -> float:
        """Weighted sum of squared distances of ``data`` to the fitted centres (``1 - cos``
        summed for ``distance="cosine"``): one pass, on the backend ``fit`` would use."""
        check_is_fitted(self, "cluster_centers_")
        with self._data(data) as ds:
            work = unit_rows_view(ds) if self.distance == "cosine" else ds
            cost = cost_pass(work, self.cluster_centers_)
        return cost / 2 if self.distance == "cosine" else cost

    # ----------------------------------------------------------- persistence
    _fitted_attribute = "cluster_centers_"

    def _saved_params(self) -> dict[str, Any]:
        params = self.get_params()
        if not isinstance(params["init"], str):
            params["init"] = np.asarray(params["init"], dtype=float).tolist()
        return params

    def _model_document(self) -> dict[str, Any]:
        return {"cluster_centers": self.cluster_centers_.tolist(), "n_iter": self.n_iter_,
                "converged": self.converged_, "inertia": self.inertia_,
                "history": self.history_}

    @classmethod
    def _check_model_document(cls, file: str | os.PathLike[str],
                              document: dict[str, Any]) -> tuple[KMeans, dict[str, Any]]:
        return check_kmeans_model(file, document, cls)

    def _loaded(self) -> None:
        self.n_features_in_ = self.cluster_centers_.shape[1]


# ------------------------------------------------------------------ helpers
def _kmeans_state(seed: int, init_centres: np.ndarray, centres: np.ndarray,
                  history: list[dict[str, Any]], converged: bool) -> dict[str, Any]:
    return {"seed": seed, "init_centers": init_centres, "centers": centres,
            "history": history, "converged": converged}


def _unit_rows(X: np.ndarray) -> np.ndarray:
    norms = np.sqrt((X * X).sum(axis=1))
    norms[norms == 0] = 1.0
    return X / norms[:, None]


def assign_points(X: Any, centres: np.ndarray, cosine: bool = False) -> np.ndarray:
    """Closest-centre index of each row of ``X`` (rows unit-normalised first for cosine;
    a CSR ``X`` from its non-zeros)."""
    if is_sparse(X):
        if cosine:
            norms = np.sqrt(row_norms_sq(X))
            norms[norms == 0] = 1.0
            X = csr(np.asarray(X.data) * np.repeat(1.0 / norms, np.diff(X.indptr)),
                    X.indices, X.indptr, X.shape[1])
        return sparse_km.assign(X, centres)[0]
    if cosine:
        X = _unit_rows(X)
    return closest_centre(X, centres)[0]


def _predict_block(block: BlockView, params: tuple[np.ndarray, bool]) -> np.ndarray:
    centres, cosine = params
    return assign_points(block.X, centres, cosine)


def _record_features(record: Any) -> Any:
    """The features of an RDD element: the element, or the first of a ``(features, x)`` pair."""
    is_pair = isinstance(record, tuple) and len(record) == 2 and not np.isscalar(record[0])
    return record[0] if is_pair else record


def _predict_dataframe(model: KMeans, df: Any) -> Any:
    centres = model.cluster_centers_
    d = centres.shape[1]
    assign = partial(_assign_int32, centres=centres, cosine=model.distance == "cosine")
    if sparse_scoring(df, model.features_col, model.feature_cols, str(model.layout)):
        assert model.features_col is not None
        check_width(vector_column_width(df, model.features_col), d, "DataFrame")
        return with_sparse_features_column(df, model.features_col, model.prediction_col,
                                           assign, d, "int")
    expr = features_expression(df, model.features_col, model.feature_cols)
    check_width(dataframe_width(df, model.features_col, model.feature_cols, expr), d,
                "DataFrame")
    return with_features_column(df, expr, model.prediction_col, assign, d, "int")


def _assign_int32(X: np.ndarray, *, centres: np.ndarray, cosine: bool) -> np.ndarray:
    return assign_points(X, centres, cosine).astype(np.int32)
