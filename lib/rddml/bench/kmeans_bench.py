"""k-means variants measured side by side: the write-up's per-record RDD code, rddml
(both aggregations), pyspark.ml (block and row solvers), scikit-learn and a NumPy floor.

Each variant exposes one *measured unit* (an iteration, or for libraries that cannot be
stepped, a pair of fits whose time difference gives seconds per iteration), so the
benchmark can interleave them round-robin and machine noise hits them alike.
:func:`kmeans_steppers` builds any subset of them by name (the benchmark's table takes all,
its n sweep a few) from the data :func:`shared_frames` gives every Spark variant.
"""

from __future__ import annotations

import math
import re
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any

import numpy as np

from rddml.cluster.kernels import LloydStats, lloyd_partial_stats, update_centres
from rddml.cluster.kmeans import lloyd_iteration
from rddml.engine.blocks import BlockDataset
from rddml.engine.cutting import default_block_rows
from rddml.errors import ConfigError

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
#: A fit's wall time and the iterations it reports having run.
TimedFit = tuple[float, int]


def ml_kmeans_fit_seconds(df: Any, k: int, max_iter: int, solver: str, seed: int) -> TimedFit:
    """Wall time of one ``pyspark.ml`` KMeans fit (random init: it cannot take centres)
    and the iterations its summary reports (``summary.numIter``)."""
    from pyspark.ml.clustering import KMeans as MLKMeans

    est = MLKMeans(k=k, maxIter=max_iter, tol=0.0, initMode="random", seed=seed, solver=solver)
    t0 = time.perf_counter()
    model = est.fit(df)
    seconds = time.perf_counter() - t0
    return seconds, int(model.summary.numIter)


def sklearn_fit_seconds(X: np.ndarray, centres: np.ndarray, max_iter: int, threads: int,
                        copy_x: bool = True) -> TimedFit:
    """Wall time of scikit-learn Lloyd from the given centres, on ``threads`` cores, and
    the iterations it reports (``n_iter_``: it stops early once no label changes).

    ``copy_x=False`` lets scikit-learn centre ``X`` in place (and restore it, up to
    rounding) instead of copying it: no second copy of a large ``X`` in the driver.
    """
    from sklearn.cluster import KMeans as SkKMeans
    from threadpoolctl import threadpool_limits

    with threadpool_limits(threads):
        est = SkKMeans(len(centres), init=centres, n_init=1, max_iter=max_iter, tol=0.0,
                       algorithm="lloyd", copy_x=copy_x)
        t0 = time.perf_counter()
        est.fit(X)
        return time.perf_counter() - t0, int(est.n_iter_)


class IterationGapError(RuntimeError):
    """Two fits of a pair reported too few iterations apart for a per-iteration figure."""


def per_iteration_from_pair(fit: Callable[[int], TimedFit], low: int, high: int,
                            min_gap: int = 1) -> tuple[float, int, int]:
    """Seconds per iteration from two fits, ``(t(high) − t(low)) / (n_high − n_low)`` where
    ``n`` is the number of iterations each fit *reports* (a library may stop before its
    ``max_iter``), which cancels set-up and initialisation costs; also both counts.

    Raises :class:`IterationGapError` when the reported counts are fewer than ``min_gap``
    apart: a short difference divides the fit's fixed-cost noise by too few iterations.
    """
    t_low, n_low = fit(low)
    t_high, n_high = fit(high)
    if n_high - n_low < max(1, min_gap):
        raise IterationGapError(
            f"fits with max_iter {low} and {high} reported {n_low} and {n_high} iterations, "
            f"fewer than {min_gap} apart: raise ml_iter_high (or the data converges early)")
    return (t_high - t_low) / (n_high - n_low), n_low, n_high


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
    """Iterates centres with ``advance(centres) -> centres``; each call is one sample.

    ``settle``: run one untimed iteration right before each timed one. Within a fit the
    passes follow one another; in the interleaved benchmark a pass can follow a minute
    of other libraries' fits, long enough for Spark to retire its idle Python workers,
    and would then time a worker's start instead of a pass.
    """

    def __init__(self, name: str, advance: Callable[[np.ndarray], np.ndarray],
                 init: np.ndarray, settle: bool = False) -> None:
        self.centres = init.copy()
        self.settle = settle

        def step() -> None:
            self.centres = advance(self.centres)

        super().__init__(name, step)

    def measure(self) -> None:
        if self.settle:
            self.step()
        super().measure()


class PairStepper(Stepper):
    """A library that cannot be stepped: each sample is a per-iteration time from two fits
    over their reported iteration counts (a warm-up call runs one fit and records
    nothing); ``reported`` keeps each sample's two counts."""

    def __init__(self, name: str, fit: Callable[[int], TimedFit], low: int, high: int,
                 min_gap: int = 1) -> None:
        self.pair_samples: list[float] = []
        self.reported: list[tuple[int, int]] = []
        self._fit, self._low, self._high, self._min_gap = fit, low, high, min_gap
        super().__init__(name, lambda: None)
        self.step = self._warm

    def _warm(self) -> None:
        self._fit(self._high)

    def measure(self) -> None:
        seconds, n_low, n_high = per_iteration_from_pair(self._fit, self._low, self._high,
                                                         self._min_gap)
        self.pair_samples.append(seconds)
        self.reported.append((n_low, n_high))

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


#: How each variant's seconds per iteration are obtained (the tables and JSON state it).
METHOD_STEPPED = "one iteration timed per measured unit; best of the units"
METHOD_SETTLED = ("one iteration timed per measured unit, right after an untimed one; best of "
                  "the units")
METHOD_PAIR = ("(t(fit at ml_iter_high) - t(fit at ml_iter_low)) / (difference of the "
               "iterations the two fits reported), after a warm-up fit; best of the pairs")


def method(stepper: Stepper) -> dict[str, Any]:
    """How a variant was timed, with the reported iteration counts of a pair's fits."""
    if isinstance(stepper, PairStepper):
        return {"method": METHOD_PAIR, "reported_iterations": stepper.reported}
    if isinstance(stepper, CentreStepper) and stepper.settle:
        return {"method": METHOD_SETTLED}
    return {"method": METHOD_STEPPED}


# ------------------------------------------------------------- data and the variants
PARQUET_CHUNK_ROWS = 1 << 20


def shared_frames(spark: Any, X: np.ndarray, parts: int, workdir: Path, storages: list[str],
                  assembled: bool = True, float32: bool = False
                  ) -> tuple[dict[str, BlockDataset], Any]:
    """The same data for every Spark variant, read from one Parquet file: rddml datasets
    in each of ``storages`` and (if ``assembled``) pyspark.ml's cached vector DataFrame.

    (``parallelize`` would embed the arrays in every task of every iteration, which is
    not how real data reaches Spark and would distort all Spark timings.) The file is
    written in chunks of rows, so the driver never holds a second full copy of ``X``.
    ``float32``: also an rddml dataset with float32 features, under the key "float32"
    (``storages`` may then be empty). A float32 ``X`` is written as float32 columns.
    """
    import pyarrow as pa
    import pyarrow.parquet as pq
    from pyspark.ml.feature import VectorAssembler
    from pyspark.storagelevel import StorageLevel

    cols = [f"x{j}" for j in range(X.shape[1])]
    path = workdir / f"points-{X.shape[0]}x{X.shape[1]}.parquet"
    schema = pa.schema([(c, pa.from_numpy_dtype(X.dtype)) for c in cols])
    with pq.ParquetWriter(path, schema) as writer:
        for start in range(0, X.shape[0], PARQUET_CHUNK_ROWS):
            chunk = X[start:start + PARQUET_CHUNK_ROWS]
            writer.write_table(pa.table({c: chunk[:, j] for j, c in enumerate(cols)},
                                        schema=schema))
    raw = spark.read.parquet(str(path)).repartition(parts)
    datasets = {s: BlockDataset.from_dataframe(raw, feature_cols=cols, storage=s)
                for s in storages}
    if float32:  # under the key "float32": the first storage, features stored as float32
        datasets["float32"] = BlockDataset.from_dataframe(
            raw, feature_cols=cols, storage=storages[0] if storages else "auto",
            dtype="float32")
    if not assembled:
        return datasets, None
    df = VectorAssembler(inputCols=cols, outputCol="features").transform(raw).select("features")
    df = df.persist(StorageLevel.MEMORY_AND_DISK)
    df.count()
    return datasets, df


KMEANS_VARIANTS = ("per-record RDD", "rddml reduceByKey", "rddml tree", "pyspark.ml block",
                   "pyspark.ml row", "scikit-learn lloyd", "NumPy floor", "fused floor",
                   "rddml tree (float32)", "scikit-learn lloyd (float32)")
"""The k-means variants by name; also "rddml tree (NAME storage)" for a storage other
than the default one (e.g. "rddml tree (spark storage)")."""
OTHER_STORAGE = re.compile(r"^rddml tree \((\w+) storage\)$")


@dataclass(frozen=True)
class KMeansInputs:
    """What the k-means variants of one size run on.

    ``datasets`` maps a storage to the rddml dataset, the default storage first; ``df`` is
    pyspark.ml's cached vector DataFrame and ``records`` the per-record RDD (None when no
    variant needs them).
    """

    X: np.ndarray
    init: np.ndarray
    datasets: dict[str, BlockDataset]
    df: Any
    records: Any
    parts: int
    seed: int
    ml_iter_low: int
    ml_iter_high: int
    sklearn_copy_x: bool = True
    min_iteration_gap: int = 1
    #: The data with float32 features (the "(float32)" variants): the rddml dataset built
    #: with dtype="float32" and the driver's float32 copy for scikit-learn.
    dataset32: BlockDataset | None = None
    X32: np.ndarray | None = None


def check_variants(variants: Sequence[str], key: str) -> None:
    """Raise ConfigError naming ``key`` for a name that is not a k-means variant."""
    for name in variants:
        if name not in KMEANS_VARIANTS and not OTHER_STORAGE.match(name):
            raise ConfigError(f"{key}: unknown k-means variant {name!r}; expected one of "
                              + ", ".join(repr(v) for v in KMEANS_VARIANTS)
                              + " or 'rddml tree (NAME storage)'")


def storages_needed(variants: Sequence[str], default: str) -> list[str]:
    """The rddml storages the variants read, ``default`` first (and always present)."""
    others = [m.group(1) for m in map(OTHER_STORAGE.match, variants) if m]
    return [default, *[s for s in dict.fromkeys(others) if s != default]]


def kmeans_steppers(variants: Sequence[str], data: KMeansInputs) -> list[Stepper]:
    """One stepper per variant, in the given order, named as in the benchmark's tables
    (thread counts spelt out: "scikit-learn lloyd (2 threads)")."""
    check_variants(variants, "variants")
    default = next(iter(data.datasets.values()))
    k, parts = len(data.init), data.parts
    steppers: list[Stepper] = []
    for name in variants:
        other = OTHER_STORAGE.match(name)
        if name == "per-record RDD":
            steppers.append(CentreStepper("per-record RDD (write-up)",
                                          partial(per_record_iteration, data.records), data.init,
                                          settle=True))
        elif name in ("rddml tree", "rddml reduceByKey"):
            steppers.append(CentreStepper(name, partial(rddml_iteration, default,
                                                        aggregation=name.split()[1]), data.init,
                                          settle=True))
        elif other:
            steppers.append(CentreStepper(name, partial(rddml_iteration,
                                                        data.datasets[other.group(1)],
                                                        aggregation="tree"), data.init,
                                          settle=True))
        elif name.startswith("pyspark.ml "):
            steppers.append(PairStepper(name, partial(_ml_fit, data.df, k, name.split()[1],
                                                      data.seed),
                                        data.ml_iter_low, data.ml_iter_high,
                                        data.min_iteration_gap))
        elif name == "rddml tree (float32)":
            if data.dataset32 is None:
                raise ConfigError("variant 'rddml tree (float32)' needs the float32 dataset")
            steppers.append(CentreStepper(name, partial(rddml_iteration, data.dataset32,
                                                        aggregation="tree"), data.init,
                                          settle=True))
        elif name == "scikit-learn lloyd (float32)":
            if data.X32 is None:
                raise ConfigError("variant 'scikit-learn lloyd (float32)' needs float32 data")
            steppers.append(PairStepper(f"scikit-learn lloyd ({parts} threads, float32)",
                                        partial(_sklearn_fit, data.X32,
                                                data.init.astype(np.float32), parts,
                                                data.sklearn_copy_x),
                                        data.ml_iter_low, data.ml_iter_high,
                                        data.min_iteration_gap))
        elif name == "scikit-learn lloyd":
            steppers.append(PairStepper(f"scikit-learn lloyd ({parts} threads)",
                                        partial(_sklearn_fit, data.X, data.init, parts,
                                                data.sklearn_copy_x),
                                        data.ml_iter_low, data.ml_iter_high,
                                        data.min_iteration_gap))
        elif name == "NumPy floor":
            steppers.append(CentreStepper("NumPy floor (1 core)",
                                          partial(numpy_floor_step, data.X), data.init))
        else:  # "fused floor"
            steppers.append(CentreStepper(f"fused floor ({parts} threads)",
                                          partial(fused_floor_step, data.X, threads=parts),
                                          data.init))
    return steppers


def _ml_fit(df: Any, k: int, solver: str, seed: int, max_iter: int) -> TimedFit:
    return ml_kmeans_fit_seconds(df, k, max_iter, solver, seed)


def _sklearn_fit(X: np.ndarray, init: np.ndarray, threads: int, copy_x: bool,
                 max_iter: int) -> TimedFit:
    return sklearn_fit_seconds(X, init, max_iter, threads, copy_x)
