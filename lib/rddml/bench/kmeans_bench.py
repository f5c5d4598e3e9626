"""k-means variants measured side by side: the write-up's per-record RDD code, rddml
(both aggregations), pyspark.ml (block and row solvers), scikit-learn and a NumPy floor.

Each variant exposes one *measured unit* (an iteration, or for libraries that cannot be
stepped, a pair of fits whose time difference gives seconds per iteration), so the
benchmark can interleave them round-robin and machine noise hits them alike.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from functools import partial
from typing import Any

import numpy as np

from rddml.cluster.kernels import LloydStats, lloyd_partial_stats, update_centres
from rddml.cluster.kmeans import lloyd_iteration
from rddml.engine.blocks import BlockDataset, default_block_rows

Point = tuple[float, ...]


# ------------------------------------------------------- the write-up's per-record code
def closest_mean(point: Point, means: list[Point]) -> int:
    """Index of the closest mean, one point at a time (as the write-up's findClosest)."""
    best, best_i = math.inf, 0
    for i, m in enumerate(means):
        dist = 0.0
        for a, b in zip(point, m):
            dist += (a - b) * (a - b)
        if dist < best:
            best, best_i = dist, i
    return best_i


def _pair_with_closest(point: Point, *, means: list[Point]) -> tuple[int, tuple[Point, int]]:
    return closest_mean(point, means), (point, 1)


def _add_point_sums(a: tuple[Point, int], b: tuple[Point, int]) -> tuple[Point, int]:
    return tuple(x + y for x, y in zip(a[0], b[0])), a[1] + b[1]


def per_record_iteration(points: Any, means: np.ndarray) -> np.ndarray:
    """One iteration of the write-up's updateMeans: map to (closest, (point, 1)),
    reduceByKey, average. Empty clusters keep their mean."""
    as_tuples = [tuple(m) for m in means.tolist()]
    sums = points.map(partial(_pair_with_closest, means=as_tuples)).reduceByKey(
        _add_point_sums).collectAsMap()
    new = means.copy()
    for j, (total, count) in sums.items():
        new[j] = np.asarray(total) / count
    return new


def _block_rows(block: Any, _: None) -> list[Point]:
    return [tuple(r) for r in block.X.tolist()]


def _items(items: list[Any]) -> list[Any]:
    return items


def cached_records(ds: BlockDataset, to_records: Callable[[Any, None], list[Any]]) -> Any:
    """An RDD of one Python object per row, made by ``to_records`` from each block and
    cached (the write-up's representation, which the per-record variants iterate)."""
    from pyspark import StorageLevel

    rdd = ds.map_blocks(to_records, None).flatMap(_items).persist(StorageLevel.MEMORY_AND_DISK)
    rdd.count()
    return rdd


def per_record_points(ds: BlockDataset) -> Any:
    """The data as an RDD of per-point tuples, cached."""
    return cached_records(ds, _block_rows)


# --------------------------------------------------------------------------- rddml
def rddml_iteration(ds: BlockDataset, centres: np.ndarray, aggregation: str) -> np.ndarray:
    """Exactly one iteration of ``KMeans.fit``'s loop (one ``history_`` entry)."""
    _, new, _ = lloyd_iteration(ds, centres, aggregation, "farthest")
    return new


def numpy_floor_step(X: np.ndarray, centres: np.ndarray) -> np.ndarray:
    """One assignment + update step on one core, no Spark: the floor for this hardware.

    It walks ``X`` in rddml's block size: one pass over all of ``X`` at once builds an
    (n, k) temporary that falls out of the CPU caches and runs several times slower than
    the same arithmetic block by block, which would make the "floor" slower than Spark.
    """
    k, d = centres.shape
    rows = default_block_rows(d)
    stats = LloydStats.empty(k, d)
    for start in range(0, X.shape[0], rows):
        stats = stats.merge(lloyd_partial_stats(X[start:start + rows], None, centres, n_far=0))
    new, _ = update_centres(stats, centres, "keep")
    return new


def fused_floor_step(X: np.ndarray, centres: np.ndarray, threads: int) -> np.ndarray:
    """One Lloyd step with rddml's fused kernel over in-memory blocks on ``threads``
    threads (numba releases the GIL), no Spark: what the kernel allows on this machine."""
    from concurrent.futures import ThreadPoolExecutor

    from rddml.cluster.fused import lloyd_sums

    k, d = centres.shape
    rows = default_block_rows(d)
    blocks = [X[start:start + rows] for start in range(0, X.shape[0], rows)]
    with ThreadPoolExecutor(threads) as pool:
        parts = list(pool.map(lambda b: lloyd_sums(b, None, centres), blocks))
    stats = LloydStats.empty(k, d)
    stats.sums = np.sum([p[0] for p in parts], axis=0)
    stats.counts = np.sum([p[1] for p in parts], axis=0)
    new, _ = update_centres(stats, centres, "keep")
    return new


# ---------------------------------------------------------------- fitted-library pairs
def ml_kmeans_fit_seconds(df: Any, k: int, max_iter: int, solver: str, seed: int) -> float:
    """Wall time of one ``pyspark.ml`` KMeans fit (random init: it cannot take centres)."""
    from pyspark.ml.clustering import KMeans as MLKMeans

    est = MLKMeans(k=k, maxIter=max_iter, tol=0.0, initMode="random", seed=seed, solver=solver)
    t0 = time.perf_counter()
    est.fit(df)
    return time.perf_counter() - t0


def sklearn_fit_seconds(X: np.ndarray, centres: np.ndarray, max_iter: int, threads: int) -> float:
    """Wall time of scikit-learn Lloyd from the given centres, on ``threads`` cores."""
    from sklearn.cluster import KMeans as SkKMeans
    from threadpoolctl import threadpool_limits

    with threadpool_limits(threads):
        est = SkKMeans(len(centres), init=centres, n_init=1, max_iter=max_iter, tol=0.0,
                       algorithm="lloyd")
        t0 = time.perf_counter()
        est.fit(X)
        return time.perf_counter() - t0


def per_iteration_from_pair(fit: Callable[[int], float], low: int, high: int) -> float:
    """Seconds per iteration from two fits: (t(high) − t(low)) / (high − low), which
    cancels set-up and initialisation costs."""
    return (fit(high) - fit(low)) / (high - low)


class Stepper:
    """A variant that can be advanced one measured unit at a time."""

    def __init__(self, name: str, step: Callable[[], None]) -> None:
        self.name = name
        self.step = step
        self.samples: list[float] = []

    def measure(self) -> None:
        t0 = time.perf_counter()
        self.step()
        self.samples.append(time.perf_counter() - t0)


class CentreStepper(Stepper):
    """Iterates centres with ``advance(centres) -> centres``; each call is one sample."""

    def __init__(self, name: str, advance: Callable[[np.ndarray], np.ndarray],
                 init: np.ndarray) -> None:
        self.centres = init.copy()

        def step() -> None:
            self.centres = advance(self.centres)

        super().__init__(name, step)


class PairStepper(Stepper):
    """A library that cannot be stepped: each sample is a per-iteration time from two fits
    (warm-up calls run the fits but record nothing)."""

    def __init__(self, name: str, fit: Callable[[int], float], low: int, high: int) -> None:
        self.pair_samples: list[float] = []
        self._fit, self._low, self._high = fit, low, high
        super().__init__(name, lambda: None)
        self.step = self._warm

    def _warm(self) -> None:
        per_iteration_from_pair(self._fit, self._low, self._high)

    def measure(self) -> None:
        self.pair_samples.append(per_iteration_from_pair(self._fit, self._low, self._high))

    def per_iteration(self) -> list[float]:
        return self.pair_samples


def run_round_robin(steppers: list[Stepper], rounds: int, warmup: int = 1) -> None:
    """Warm up every variant, then measure them interleaved, rotating the order each round."""
    for _ in range(warmup):
        for s in steppers:
            s.step()
    for r in range(rounds):
        order = steppers[r % len(steppers):] + steppers[: r % len(steppers)]
        for s in order:
            s.measure()


def per_iteration_samples(stepper: Stepper) -> list[float]:
    """Seconds per iteration for each measured unit of a variant."""
    if isinstance(stepper, PairStepper):
        return stepper.per_iteration()
    return stepper.samples
