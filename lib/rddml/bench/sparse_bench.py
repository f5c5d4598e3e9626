"""The sparse benchmark: text-like data, rddml's sparse blocks against pyspark.ml.

Data: ``n`` rows of ``d`` features with about ``nnz`` non-zeros per row at Zipf-
distributed feature ids (popular ids in many rows, a long tail, as hashed words are),
positive TF-IDF-like values, and labels drawn from a logistic model over the ids. The
rows are generated on the executors, one seeded stream per partition, as a cached
DataFrame of ``SparseVector``s (what pyspark.ml reads); rddml reads the same DataFrame
into sparse blocks through Arrow (``layout="sparse"``).

Measured (interleaved, a few rounds each, medians):

- logistic regression (L2, ``reg_param``, standardisation, both libraries' defaults):
  rddml's seconds per pass, pyspark.ml's seconds per iteration ((t(2 + m) − t(2)) over
  the difference of the iterations the two fits report, at least ``min_iteration_gap``),
  and each one's time to reach the optimum's objective + 1e-4 (the smallest iteration
  budget reaching it, found by doubling and bisection, then that fit timed);
- k-means with cosine distance: seconds per iteration of both ((t(high) − t(low)) over
  the difference of the reported iteration counts, so initialisation and setup cancel);
- bytes held by rddml's cached blocks against the CSR bytes of the data (values 8 B and
  indices 4 B per non-zero, 4 B per row of offsets, 8 B per label), and the peak RSS of the
  Python workers while each library runs.
"""

from __future__ import annotations

import logging
import statistics
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from functools import partial
from typing import Any

import numpy as np

from rddml.bench.kmeans_bench import per_iteration_from_pair
from rddml.bench.memory import peak_rss, reset_peak_rss

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class SparseBench:
    """Sizes and repeat counts of the sparse benchmark."""

    n: int = 1_000_000
    d: int = 1 << 18
    nnz: int = 40
    zipf: float = 1.2
    k: int = 20
    reg_param: float = 1e-4
    pass_iter: int = 20
    kmeans_low: int = 2
    kmeans_high: int = 22
    min_iteration_gap: int = 20
    rounds: int = 3
    max_budget: int = 256
    partitions: int = 0
    seed: int = 0


def true_weights(d: int, seed: int) -> np.ndarray:
    """The logistic model behind the labels (the same in every task)."""
    rng = np.random.default_rng([seed, 1 << 20])
    return rng.normal(size=d) * 0.5


def partition_rows(index: int, _: Any, *, bench: SparseBench, rows: list[int]
                   ) -> Iterator[tuple[float, Any]]:
    """One partition's ``(label, SparseVector)`` rows (on the executors)."""
    from pyspark.ml.linalg import SparseVector

    m = rows[index]
    rng = np.random.default_rng([bench.seed, index])
    counts = np.maximum(rng.poisson(bench.nnz, m), 1)
    ids = (rng.zipf(bench.zipf, int(counts.sum())) - 1) % bench.d
    row = np.repeat(np.arange(m), counts)
    order = np.lexsort((ids, row))
    ids, row = ids[order], row[order]
    keep = np.ones(ids.size, dtype=bool)
    keep[1:] = (ids[1:] != ids[:-1]) | (row[1:] != row[:-1])
    ids, row = ids[keep], row[keep]
    values = 1.0 + rng.exponential(size=ids.size)
    starts = np.searchsorted(row, np.arange(m + 1))
    w = true_weights(bench.d, bench.seed)
    z = np.add.reduceat(values * w[ids], starts[:-1]) / np.sqrt(np.diff(starts))
    y = (rng.random(m) < 1.0 / (1.0 + np.exp(-z))).astype(np.float64)
    for i in range(m):
        lo, hi = int(starts[i]), int(starts[i + 1])
        yield float(y[i]), SparseVector(bench.d, ids[lo:hi].tolist(), values[lo:hi].tolist())


def sparse_frame(spark: Any, bench: SparseBench) -> Any:
    """The cached DataFrame ``(label double, features vector)`` of the benchmark's rows."""
    from pyspark.ml.linalg import VectorUDT
    from pyspark.sql.types import DoubleType, StructField, StructType
    from pyspark.storagelevel import StorageLevel

    parts = bench.partitions or spark.sparkContext.defaultParallelism
    rows = [len(r) for r in np.array_split(np.arange(bench.n), parts)]
    rdd = spark.sparkContext.parallelize(range(parts), parts).mapPartitionsWithIndex(
        partial(partition_rows, bench=bench, rows=rows))
    schema = StructType([StructField("label", DoubleType(), False),
                         StructField("features", VectorUDT(), False)])
    df = spark.createDataFrame(rdd, schema).persist(StorageLevel.MEMORY_AND_DISK)
    df.count()
    return df


def timed(fn: Callable[[], Any]) -> float:
    t0 = time.perf_counter()
    fn()
    return time.perf_counter() - t0


# ------------------------------------------------------------------ logistic
def fit_rddml_lr(ds: Any, bench: SparseBench, max_iter: int) -> Any:
    from rddml import LogisticRegression

    return LogisticRegression(reg_param=bench.reg_param, tol=0.0, max_iter=max_iter).fit(ds)


def fit_ml_lr(df: Any, bench: SparseBench, max_iter: int) -> Any:
    from pyspark.ml.classification import LogisticRegression

    return LogisticRegression(regParam=bench.reg_param, tol=0.0, maxIter=max_iter,
                              standardization=True).fit(df)


def objective(ds: Any, std: np.ndarray, reg_param: float, coef: np.ndarray,
              intercept: float) -> float:
    """Both libraries' objective at ``(coef, intercept)``: the mean log loss (one pass)
    plus ``reg_param / 2 · Σ (coef_j σ_j)²`` (the L2 penalty on standardised coefficients)."""
    from rddml.linear.passes import loss_grad_pass

    sums = loss_grad_pass(ds, coef, intercept)
    scaled = coef * std
    return float(sums.loss / sums.weight + 0.5 * reg_param * float(scaled @ scaled))


def _ml_lr_reported(df: Any, bench: SparseBench, max_iter: int) -> tuple[float, int]:
    """Seconds of a pyspark.ml fit and the iterations it reports."""
    t0 = time.perf_counter()
    model = fit_ml_lr(df, bench, max_iter)
    return time.perf_counter() - t0, int(model.summary.totalIterations)


def bench_logistic(spark: Any, ds: Any, df: Any, bench: SparseBench) -> dict[str, Any]:
    """Seconds per pass / iteration and time to the optimum + 1e-4 of both libraries."""
    from rddml.bench.logistic_bench import smallest_budget
    from rddml.linear.kernels import pooled_mean_std
    from rddml.linear.passes import label_census_pass

    census = ds.label_census or label_census_pass(ds)
    _, std = pooled_mean_std(census.class_moments(2), None)
    value = partial(objective, ds, std, bench.reg_param)
    long_ours = fit_rddml_lr(ds, bench, bench.max_budget)
    long_theirs = fit_ml_lr(df, bench, bench.max_budget)
    best = min(value(long_ours.coef_, float(long_ours.intercept_)),
               value(long_theirs.coefficients.toArray(), float(long_theirs.intercept)))
    target = best + 1e-4

    def ours(budget: int) -> tuple[np.ndarray, float]:
        m = fit_rddml_lr(ds, bench, budget)
        return m.coef_, float(m.intercept_)

    def theirs(budget: int) -> tuple[np.ndarray, float]:
        m = fit_ml_lr(df, bench, budget)
        return m.coefficients.toArray(), float(m.intercept)

    def loss(result: tuple[np.ndarray, float]) -> float:
        return value(*result)

    budgets = {"rddml": smallest_budget(ours, loss, target, bench.max_budget)[0],
               "pyspark.ml": smallest_budget(theirs, loss, target, bench.max_budget)[0]}
    fits = {"rddml": partial(fit_rddml_lr, ds, bench),
            "pyspark.ml": partial(fit_ml_lr, df, bench)}
    to_target: dict[str, list[float]] = {name: [] for name in fits}
    per_pass: dict[str, list[float]] = {"rddml": [], "pyspark.ml": []}
    m = bench.pass_iter
    for _ in range(bench.rounds):
        for name, fit in fits.items():
            if budgets[name] is not None:
                to_target[name].append(timed(partial(fit, budgets[name])))
        t0 = time.perf_counter()
        model = fit_rddml_lr(ds, bench, m)
        per_pass["rddml"].append((time.perf_counter() - t0) / model.n_passes_)
        per_pass["pyspark.ml"].append(per_iteration_from_pair(
            partial(_ml_lr_reported, df, bench), 2, 2 + m, bench.min_iteration_gap)[0])
    seconds = {name: statistics.median(v) for name, v in per_pass.items()}
    reach = {name: statistics.median(v) if v else None for name, v in to_target.items()}
    return {"optimal_objective": best, "target": target, "iterations_to_target": budgets,
            "time_to_target_seconds": reach, "time_to_target_samples": to_target,
            "seconds_per_pass": seconds, "seconds_per_pass_samples": per_pass,
            "ratio_seconds_per_pass": seconds["rddml"] / seconds["pyspark.ml"],
            "ratio_time_to_target": (None if None in reach.values() else
                                     reach["rddml"] / reach["pyspark.ml"])}  # type: ignore[operator]


# ------------------------------------------------------------------ k-means
def timed_rddml_kmeans(ds: Any, bench: SparseBench, init: np.ndarray, iters: int
                       ) -> tuple[float, int]:
    """Seconds and reported iterations of one rddml cosine k-means fit from ``init``."""
    from rddml import KMeans

    t0 = time.perf_counter()
    model = KMeans(k=bench.k, init=init, distance="cosine", tol=0.0, max_iter=iters).fit(ds)
    return time.perf_counter() - t0, int(model.n_iter_)


def bench_kmeans(ds: Any, df: Any, bench: SparseBench) -> dict[str, Any]:
    """Seconds per cosine k-means iteration of both libraries (iteration-count pairs)."""
    from pyspark.ml.clustering import KMeans as MLKMeans

    init = np.asarray([r.features.toArray() for r in df.select("features").head(bench.k)])

    ours = partial(timed_rddml_kmeans, ds, bench, init)

    def theirs(iters: int) -> tuple[float, int]:
        t0 = time.perf_counter()
        model = MLKMeans(k=bench.k, distanceMeasure="cosine", tol=0.0, maxIter=iters,
                         seed=bench.seed).fit(df)
        return time.perf_counter() - t0, int(model.summary.numIter)

    # Both timed by the difference of two fits over the iterations each REPORTS, at
    # least min_iteration_gap apart (the main benchmark's rule for pyspark.ml).
    samples: dict[str, list[float]] = {"rddml": [], "pyspark.ml": []}
    for _ in range(bench.rounds):
        for name, fit in (("rddml", ours), ("pyspark.ml", theirs)):
            samples[name].append(per_iteration_from_pair(
                fit, bench.kmeans_low, bench.kmeans_high, bench.min_iteration_gap)[0])
    seconds = {name: statistics.median(v) for name, v in samples.items()}
    return {"k": bench.k, "seconds_per_iteration": seconds, "samples": samples,
            "ratio": seconds["rddml"] / seconds["pyspark.ml"] if seconds["pyspark.ml"] > 0
            else None}


# ------------------------------------------------------------------ all
def run_sparse_bench(spark: Any, bench: SparseBench) -> dict[str, Any]:
    """The whole sparse benchmark (see the module docstring)."""
    from rddml import BlockDataset

    t0 = time.perf_counter()
    df = sparse_frame(spark, bench)
    generated = time.perf_counter() - t0
    reset_peak_rss(spark)
    t0 = time.perf_counter()
    ds = BlockDataset.from_dataframe(df, features_col="features", label_col="label",
                                     layout="sparse")
    converted = time.perf_counter() - t0
    csr_bytes = ds.nnz * 12 + ds.n_rows * 4 + ds.n_rows * 8
    held = ds.cached_bytes()
    logger.info("sparse %d x %d, %d non-zeros: generated in %.1fs, converted in %.1fs, "
                "%d bytes held for %d CSR bytes", ds.n_rows, ds.n_features, ds.nnz, generated,
                converted, held, csr_bytes)
    try:
        reset_peak_rss(spark)
        logistic = bench_logistic(spark, ds, df, bench)
        logistic["peak_rss"] = peak_rss(spark)
        reset_peak_rss(spark)
        kmeans = bench_kmeans(ds, df, bench)
        kmeans["peak_rss"] = peak_rss(spark)
    finally:
        ds.unpersist()
        df.unpersist()
    return {"n": ds.n_rows, "d": ds.n_features, "nnz": ds.nnz, "partitions": ds.num_partitions,
            "nnz_per_row": ds.nnz / max(1, ds.n_rows), "bytes_held": held,
            "csr_bytes": csr_bytes, "held_over_csr": held / csr_bytes,
            "conversion_seconds": converted, "logistic": logistic, "kmeans": kmeans,
            "config": bench.__dict__}


def sparse_markdown(r: dict[str, Any]) -> list[str]:
    """The sparse section of results.md."""
    lr, km = r["logistic"], r["kmeans"]

    def fmt(v: float | None, digits: int = 3) -> str:
        return "—" if v is None else f"{v:.{digits}f}"

    def workers(mem: dict[str, Any]) -> str:
        return ", ".join(str(v) for v in mem.get("python_workers_mib", [])) or "—"

    lines = [f"## Sparse features {r['n']:,} × {r['d']:,}, {r['nnz_per_row']:.1f} non-zeros "
             f"per row ({r['partitions']} partitions)", "",
             f"Bytes held {r['bytes_held']:,} for {r['csr_bytes']:,} CSR bytes "
             f"({r['held_over_csr']:.3f}×); conversion from the cached DataFrame "
             f"{r['conversion_seconds']:.1f} s.", "",
             f"Logistic regression (L2 {r['config']['reg_param']:g}, standardised): optimum "
             f"{lr['optimal_objective']:.8f}, target + 1e-4.", "",
             "| library | s / pass (s / iteration) | iterations to target | time to target (s) |",
             "|---|---:|---:|---:|"]
    for name in ("rddml", "pyspark.ml"):
        its = lr["iterations_to_target"][name]
        lines.append(f"| {name} | {fmt(lr['seconds_per_pass'][name], 4)} | "
                     f"{'not reached' if its is None else its} | "
                     f"{fmt(lr['time_to_target_seconds'][name])} |")
    lines += ["", f"Ratios rddml ÷ pyspark.ml: s/pass {fmt(lr['ratio_seconds_per_pass'], 2)}, "
                  f"time to target {fmt(lr['ratio_time_to_target'], 2)}. Python workers' peak "
                  f"RSS (MiB): {workers(lr['peak_rss'])}.", "",
              f"k-means, cosine, k = {km['k']}: s / iteration rddml "
              f"{fmt(km['seconds_per_iteration']['rddml'], 4)}, pyspark.ml "
              f"{fmt(km['seconds_per_iteration']['pyspark.ml'], 4)} (ratio {fmt(km['ratio'], 2)}); "
              f"Python workers' peak RSS (MiB): {workers(km['peak_rss'])}.", ""]
    return lines
