"""Benchmark rddml against per-record RDD code, pyspark.ml and scikit-learn, interleaved.

For each k-means size (``NxD kK``): the same data, the same initial centres (pyspark.ml
cannot take centres: its seconds per iteration come from fits at two maxIter values), at
least 5 measured units per variant after a warm-up, all variants round-robin so machine
noise hits them alike. Also the cached size of the training data against raw float64
bytes, and peak RSS of the driver and Python workers. With ``sweep_sizes``, a few
variants' seconds per iteration against n (d = 2 by default), one size at a time. Writes
``results.json``, ``results.md``, ``seconds_per_iteration.png`` and (with the sweep)
``seconds_per_iteration_vs_n.png`` into ``output_dir``.
"""

from __future__ import annotations

import json
import logging
import platform
import re
import shutil
import statistics
import tempfile
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field, replace
from functools import partial
from pathlib import Path
from typing import Any

import numpy as np

from rddml import BlockDataset
from rddml.bench.kmeans_bench import (
    CentreStepper,
    KMeansInputs,
    Stepper,
    kmeans_steppers,
    method,
    per_iteration_samples,
    per_record_points,
    run_round_robin,
    shared_frames,
)
from rddml.bench.memory import peak_rss, reset_peak_rss
from rddml.bench.sweep import (
    check_sweep_variants,
    parse_count,
    run_sweep,
    sweep_markdown,
    write_sweep_plot,
)
from rddml.bench.time_to_model import time_to_model_markdown
from rddml.bench.wide import wide_markdown
from rddml.errors import ConfigError
from rddml.io.jobkit import run_job
from rddml.io.output import atomic_directory, claim_output

logger = logging.getLogger("rddml.jobs.benchmark")
SIZE = re.compile(r"^(\d+(?:e\d+)?)x(\d+)k(\d+)$")


@dataclass(frozen=True)
class Config:
    """Settings of the benchmark job (``conf/jobs/benchmark.toml``)."""

    kmeans_sizes: list[str] = field(
        default_factory=lambda: ["1e6x2k5", "4e6x2k5", "1e6x20k20"],
        metadata={"help": "k-means problems as NxDkK, e.g. 4e6x2k5"})
    quick: bool = field(default=False, metadata={"help": "CI smoke test: one small size"})
    quick_sizes: list[str] = field(default_factory=lambda: ["2e4x2k5"])
    rounds: int = field(default=5, metadata={"min": 1, "help": "measured units per variant"})
    warmup: int = field(default=1, metadata={"min": 0})
    logistic_sizes: list[str] = field(
        default_factory=lambda: ["1e6x10"], metadata={"help": "logistic problems as NxD"})
    quick_logistic_sizes: list[str] = field(default_factory=lambda: ["2e4x5"])
    gd_step: float = field(default=2.0, metadata={"min": 0.0,
                                                  "help": "rddml GD step (standardised)"})
    gd_max_iter: int = field(default=300, metadata={"min": 1})
    per_record: bool = field(default=True, metadata={"help": "include the write-up's code"})
    per_record_max_rows: int = field(default=4_000_000, metadata={"min": 1})
    storages: list[str] = field(
        default_factory=lambda: ["executor", "spark"],
        metadata={"help": "rddml block storages to compare (the first is measured in full)"})
    time_to_model: bool = field(default=True, metadata={"help": "the whole-fit table"})
    time_to_model_kmeans: str = field(default="1e7x2k5", metadata={"nonempty": True})
    time_to_model_logistic: str = field(default="5e6x10", metadata={"nonempty": True})
    quick_time_to_model_kmeans: str = "2e4x2k5"
    quick_time_to_model_logistic: str = "2e4x5"
    time_to_model_iter: int = field(default=20, metadata={"min": 1})
    time_to_model_rounds: int = field(default=2, metadata={"min": 1, "help": "best of"})
    ml_iter_low: int = field(default=2, metadata={"min": 1})
    ml_iter_high: int = field(default=27, metadata={"min": 2})
    min_iteration_gap: int = field(default=20, metadata={
        "min": 1, "help": "pairs of fits must report at least this many iterations apart"})
    wide_sizes: list[str] = field(default_factory=lambda: ["2e5x256k256"], metadata={
        "help": "wide k-means problems NxDkK (Gaussian data, float64 and float32)"})
    quick_wide_sizes: list[str] = field(default_factory=lambda: ["3000x32k40"])
    wide_variants: list[str] = field(
        default_factory=lambda: ["rddml tree", "rddml tree (float32)", "pyspark.ml block",
                                 "scikit-learn lloyd", "scikit-learn lloyd (float32)"])
    embedding_sizes: list[str] = field(default_factory=lambda: ["1e6x768k1000"], metadata={
        "help": "float32 embedding k-means problems NxDkK ([] = none)"})
    quick_embedding_sizes: list[str] = field(default_factory=list)
    embedding_variants: list[str] = field(
        default_factory=lambda: ["rddml tree (float32)", "pyspark.ml block",
                                 "scikit-learn lloyd (float32)"])
    embedding_rounds: int = field(default=1, metadata={"min": 1})
    embedding_iter_low: int = field(default=1, metadata={"min": 1})
    embedding_iter_high: int = field(default=3, metadata={"min": 2})
    gemm_peak: bool = field(default=True, metadata={"help": "measure the GEMM peak"})
    wide_logistic_sizes: list[str] = field(default_factory=lambda: ["1e6x512"], metadata={
        "help": "dense logistic problems NxD: s/pass and float32 against float64"})
    quick_wide_logistic_sizes: list[str] = field(default_factory=lambda: ["3000x64"])
    wide_logistic_fit_iter: int = field(default=100, metadata={
        "min": 1, "help": "L-BFGS iterations of the float64/float32 agreement fits"})
    pass_iter: int = field(default=20, metadata={
        "min": 1, "help": "logistic s/pass: iterations per timed fit (pyspark.ml: "
                          "(t(2+n) - t(2)) / difference of reported iterations)"})
    pass_repeats: int = field(default=3, metadata={"min": 1,
                                                   "help": "logistic s/pass: median of this many"})
    sweep_sizes: list[str] = field(default_factory=list, metadata={
        "help": "s/iteration against n: numbers of points, e.g. 1e7 ([] = no sweep)"})
    quick_sweep_sizes: list[str] = field(default_factory=lambda: ["2e4", "4e4"])
    sweep_d: int = field(default=2, metadata={"min": 1})
    sweep_k: int = field(default=5, metadata={"min": 1})
    sweep_variants: list[str] = field(
        default_factory=lambda: ["rddml tree", "pyspark.ml block", "scikit-learn lloyd",
                                 "fused floor"],
        metadata={"help": "k-means variants the sweep measures"})
    sweep_rounds: int = field(default=5, metadata={"min": 1})
    sweep_large_n: int = field(default=10_000_000, metadata={
        "min": 1, "help": "sizes with at least this many points get sweep_large_rounds"})
    sweep_large_rounds: int = field(default=3, metadata={"min": 1})
    sparse: bool = field(default=True, metadata={
        "help": "the sparse rows (text-like, Zipf ids): logistic and cosine k-means vs pyspark.ml"})
    sparse_rows: int = field(default=1_000_000, metadata={"min": 1})
    sparse_features: int = field(default=1 << 18, metadata={"min": 1})
    sparse_nnz: int = field(default=40, metadata={"min": 1, "help": "mean non-zeros per row"})
    sparse_k: int = field(default=20, metadata={"min": 1})
    quick_sparse_rows: int = 20_000
    quick_sparse_features: int = 1 << 14
    quick_sparse_nnz: int = 20
    sparse_only: bool = field(default=False, metadata={
        "help": "measure the sparse rows only (every other section's sizes emptied)"})
    num_partitions: int = field(default=0, metadata={"min": 0, "help": "0 = default parallelism"})
    seed: int = field(default=0, metadata={"min": 0})
    output_dir: str = field(default="output/benchmark",
                            metadata={"nonempty": True, "path": "output"})
    overwrite: bool = False


def parse_size(text: str) -> tuple[int, int, int]:
    """``"4e6x2k5"`` → (4000000, 2, 5)."""
    match = SIZE.match(text)
    if not match:
        raise ConfigError(f"kmeans_sizes: expected NxDkK such as '4e6x2k5', got {text!r}")
    return int(float(match.group(1))), int(match.group(2)), int(match.group(3))


def bench_kmeans_size(spark: Any, config: Config, n: int, d: int, k: int) -> dict[str, Any]:
    """All k-means variants on one problem size; returns medians, ratios and memory."""
    sc = spark.sparkContext
    rng = np.random.default_rng(config.seed)
    # Uniform data: Lloyd keeps moving for many iterations, so no variant stops early.
    X = rng.random((n, d))
    init = X[rng.choice(n, size=k, replace=False)].copy()
    parts = config.num_partitions or sc.defaultParallelism
    logger.info("k-means %dx%d k=%d on %d partitions", n, d, k, parts)
    workdir = Path(tempfile.mkdtemp(prefix="rddml-bench-"))  # removed in the finally below
    datasets, df = shared_frames(spark, X, parts, workdir, config.storages)
    ds = datasets[config.storages[0]]
    held = {name: d.cached_bytes() for name, d in datasets.items()}
    cached = held[config.storages[0]]
    records = None
    variants = ["rddml reduceByKey", "rddml tree",
                *[f"rddml tree ({name} storage)" for name in config.storages[1:]],
                "pyspark.ml block", "pyspark.ml row", "scikit-learn lloyd", "NumPy floor",
                "fused floor"]
    if config.per_record and n <= config.per_record_max_rows:
        records = per_record_points(ds)
        variants.insert(0, "per-record RDD")
    steppers = kmeans_steppers(variants, KMeansInputs(
        X=X, init=init, datasets=datasets, df=df, records=records, parts=parts,
        seed=config.seed, ml_iter_low=config.ml_iter_low, ml_iter_high=config.ml_iter_high,
        min_iteration_gap=config.min_iteration_gap))
    try:
        from threadpoolctl import threadpool_limits

        with threadpool_limits(1):  # executors in local mode: one BLAS thread per task
            run_round_robin(steppers, config.rounds, config.warmup)
    finally:
        for each in datasets.values():
            each.unpersist()
        df.unpersist()
        if records is not None:
            records.unpersist()
        shutil.rmtree(workdir, ignore_errors=True)
    medians = {s.name: statistics.median(per_iteration_samples(s)) for s in steppers}
    best = {s.name: min(per_iteration_samples(s)) for s in steppers}
    base = best["rddml tree"]  # the default aggregation
    logger.info("k-means %dx%d k=%d s/iteration (best): %s", n, d, k,
                ", ".join(f"{name} {sec:.4f}" for name, sec in best.items()))
    return {
        "n": n, "d": d, "k": k, "partitions": parts,
        "seconds_per_iteration": best,
        "median_seconds_per_iteration": medians,
        "methods": {s.name: method(s) for s in steppers},
        "samples": {s.name: per_iteration_samples(s) for s in steppers},
        "ratio_to_rddml": {name: value / base for name, value in best.items()},
        "cached_bytes": cached,
        "bytes_held_by_storage": held,
        "storage": config.storages[0],
        "raw_bytes": int(X.nbytes),
        "cached_over_raw": cached / X.nbytes if X.nbytes else None,
    }


def parse_lr_size(text: str) -> tuple[int, int]:
    """``"1e6x10"`` → (1000000, 10)."""
    match = re.match(r"^(\d+(?:e\d+)?)x(\d+)$", text)
    if not match:
        raise ConfigError(f"logistic_sizes: expected NxD such as '1e6x10', got {text!r}")
    return int(float(match.group(1))), int(match.group(2))


def _labelled_frames(spark: Any, X: np.ndarray, y: np.ndarray, parts: int,
                     workdir: Path, storage: str, dtypes: tuple[str, ...] = ("float64",)
                     ) -> tuple[list[BlockDataset], Any]:
    """rddml datasets of (X, y) in each of ``dtypes`` and pyspark.ml's cached vector
    DataFrame, all read from one Parquet file. The datasets are built first, while the
    heap the cached copy will hold is still free for their repartition shuffle."""
    import pyarrow as pa
    import pyarrow.parquet as pq
    from pyspark.ml.feature import VectorAssembler
    from pyspark.storagelevel import StorageLevel

    cols = [f"x{j}" for j in range(X.shape[1])]
    path = workdir / "labelled.parquet"
    table = {c: X[:, j] for j, c in enumerate(cols)} | {"label": y}
    pq.write_table(pa.table(table), path)
    raw = spark.read.parquet(str(path)).repartition(parts)
    datasets = [BlockDataset.from_dataframe(raw, feature_cols=cols, label_col="label",
                                            storage=storage, dtype=dtype)
                for dtype in dtypes]
    df = (VectorAssembler(inputCols=cols, outputCol="features").transform(raw)
          .select("features", "label").persist(StorageLevel.MEMORY_AND_DISK))
    df.count()
    return datasets, df


def bench_logistic_size(spark: Any, config: Config, n: int, d: int) -> dict[str, Any]:
    """Time to reach the optimum's log loss + 1e-4, and seconds per pass, per variant."""
    from rddml import LogisticRegression
    from rddml.bench import logistic_bench as lb

    sc = spark.sparkContext
    rng = np.random.default_rng(config.seed + 1)
    X = rng.normal(size=(n, d))
    true_w = rng.normal(size=d)
    y = (rng.random(n) < 1 / (1 + np.exp(-(X @ true_w + 0.3)))).astype(float)
    best, _, _ = lb.optimum(X, y)
    target = best + 1e-4
    parts = config.num_partitions or sc.defaultParallelism
    logger.info("logistic %dx%d: optimal log loss %.8f, target %.8f", n, d, best, target)
    workdir = Path(tempfile.mkdtemp(prefix="rddml-bench-"))
    (ds,), df = _labelled_frames(spark, X, y, parts, workdir, config.storages[0])
    records = lb.per_record_rdd(ds) if config.per_record and n <= config.per_record_max_rows \
        else None

    def loss(result: tuple[np.ndarray, float]) -> float:
        return lb.mean_log_loss(X, y, *result)

    try:
        fits: dict[str, Any] = {
            "rddml lbfgs": partial(lb.fit_rddml, ds, "lbfgs"),
            "pyspark.ml lbfgs": partial(lb.fit_ml, df),
            f"scikit-learn lbfgs ({parts} threads)": partial(lb.fit_sklearn, X, y,
                                                            threads=parts),
        }
        budgets = {name: lb.smallest_budget(fit, loss, target) for name, fit in fits.items()}
        # GD: one long run gives the whole loss curve, hence the iterations needed.
        gd = LogisticRegression(optimizer="gd", step_size=config.gd_step, tol=0.0,
                                max_iter=config.gd_max_iter).fit(ds)
        gd_iters = lb.iterations_to_target(gd.loss_history_, target)
        fits["rddml gd"] = partial(lb.fit_rddml, ds, "gd", step=config.gd_step)
        budgets["rddml gd"] = (gd_iters, gd.loss_history_[-1])
        # The write-up's GD (unstandardised, step 3) makes the same iterates as rddml's
        # GD with standardize=False: its iteration count comes from rddml's loss curve.
        raw_gd = LogisticRegression(optimizer="gd", step_size=3.0, tol=0.0, standardize=False,
                                    max_iter=config.gd_max_iter).fit(ds)
        raw_iters = lb.iterations_to_target(raw_gd.loss_history_, target)
        steppers: list[Stepper] = [
            Stepper(name, partial(_fit_at, fits[name], budget))
            for name, (budget, _) in budgets.items() if budget is not None
        ]
        passes: dict[str, float] = {}
        if records is not None:
            params = np.zeros(d + 1)
            steppers.append(CentreStepper(
                "per-record GD (write-up)", partial(lb.per_record_gd_step, records, step=3.0),
                params))
        iters = config.pass_iter
        per_pass: dict[str, Callable[[], float]] = {
            "rddml lbfgs": lambda: _rddml_pass_seconds(ds, "lbfgs", iters),
            "rddml gd": lambda: _rddml_pass_seconds(ds, "gd", iters, step=config.gd_step),
            "pyspark.ml lbfgs": partial(lb.ml_pass_seconds, df, 2, 2 + iters),
        }
        from threadpoolctl import threadpool_limits

        with threadpool_limits(1):
            run_round_robin(steppers, config.rounds, config.warmup)
            pass_samples = {name: [fn() for _ in range(config.pass_repeats)]
                            for name, fn in per_pass.items()}
        passes = {name: min(v) for name, v in pass_samples.items()}  # best of pass_repeats
    finally:
        ds.unpersist()
        df.unpersist()
        if records is not None:
            records.unpersist()
        shutil.rmtree(workdir, ignore_errors=True)
    medians = {s.name: statistics.median(s.samples) for s in steppers}
    per_record_step = medians.pop("per-record GD (write-up)", None)
    time_to_target: dict[str, float | None] = {name: medians.get(name) for name in budgets}
    if per_record_step is not None:
        passes["per-record GD (write-up)"] = per_record_step
        time_to_target["per-record GD (write-up)"] = (
            None if raw_iters is None else raw_iters * per_record_step)
    logger.info("logistic %dx%d time to target (s): %s; s/pass: %s", n, d,
                ", ".join(f"{k} {v:.3f}" for k, v in time_to_target.items() if v is not None),
                ", ".join(f"{k} {v:.4f}" for k, v in passes.items()))
    iterations = {name: b for name, (b, _) in budgets.items()}
    iterations["per-record GD (write-up)"] = raw_iters
    return {
        "n": n, "d": d, "partitions": parts, "optimal_log_loss": best, "target": target,
        "iterations_to_target": iterations,
        "final_loss_at_budget": {name: v for name, (_, v) in budgets.items()},
        "time_to_target_seconds": time_to_target,
        "seconds_per_pass": passes,
    }


def _wide_logistic_data(seed: int, n: int, d: int) -> tuple[np.ndarray, np.ndarray]:
    """The dense logistic benchmark's data, the same for the same seed."""
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((n, d))
    true_w = rng.standard_normal(d) / np.sqrt(d)
    y = (rng.random(n) < 1 / (1 + np.exp(-(X @ true_w + 0.3)))).astype(float)
    return X, y


def bench_logistic_wide(spark: Any, config: Config, n: int, d: int) -> dict[str, Any]:
    """Dense logistic regression: seconds per pass of rddml (float64, float32) and of
    pyspark.ml, each the best of ``pass_repeats`` differences of two fits (2 and
    2 + ``pass_iter`` iterations) over the passes or iterations they report; and the
    objective float32 reaches against float64's after ``wide_logistic_fit_iter``
    iterations (the mean log loss recomputed in float64 from each model)."""
    from rddml import LogisticRegression
    from rddml.bench import logistic_bench as lb

    sc = spark.sparkContext
    X, y = _wide_logistic_data(config.seed + 2, n, d)
    raw_bytes = int(X.nbytes)
    parts = config.num_partitions or sc.defaultParallelism
    workdir = Path(tempfile.mkdtemp(prefix="rddml-bench-"))
    reset_peak_rss(spark)
    (ds, ds32), df = _labelled_frames(spark, X, y, parts, workdir, config.storages[0],
                                      dtypes=("float64", "float32"))
    # The driver's copy is not needed while the fits run, and held beside the JVM it can
    # push the executors' block files out of the page cache: made again for the losses.
    del X, y
    low, high = 2, 2 + config.pass_iter
    try:
        held = {"float64": ds.cached_bytes(), "float32": ds32.cached_bytes()}
        timers = {
            "rddml lbfgs": partial(lb.rddml_pass_seconds, ds, low, high),
            "rddml lbfgs (float32)": partial(lb.rddml_pass_seconds, ds32, low, high),
            "pyspark.ml lbfgs": partial(lb.ml_pass_seconds, df, low, high),
        }
        lb.ml_fit_reported(df, low)  # warm-up fits: workers, JIT, the first reads
        for data in (ds, ds32):
            LogisticRegression(max_iter=low, tol=0.0).fit(data)
        samples = {name: [fn() for _ in range(config.pass_repeats)]
                   for name, fn in timers.items()}
        fits = {name: LogisticRegression(max_iter=config.wide_logistic_fit_iter, tol=1e-9
                                         ).fit(data) for name, data in (("float64", ds),
                                                                        ("float32", ds32))}
        memory = peak_rss(spark)
    finally:
        ds.unpersist()
        ds32.unpersist()
        df.unpersist()
        shutil.rmtree(workdir, ignore_errors=True)
    X, y = _wide_logistic_data(config.seed + 2, n, d)
    losses = {name: lb.mean_log_loss(X, y, m.coef_, float(m.intercept_))
              for name, m in fits.items()}
    best = {name: min(v) for name, v in samples.items()}
    logger.info("logistic %dx%d s/pass (best): %s; log loss float64 %.10f float32 %.10f",
                n, d, ", ".join(f"{k} {v:.4f}" for k, v in best.items()),
                losses["float64"], losses["float32"])
    return {
        "n": n, "d": d, "partitions": parts, "seconds_per_pass": best, "samples": samples,
        "method": f"(t(fit at {high}) - t(fit at {low})) / difference of the passes "
                  "(rddml n_passes_) or iterations (pyspark.ml summary.totalIterations) "
                  f"the two fits report; best of {config.pass_repeats}",
        "log_loss": losses,
        "float32_relative_difference": abs(losses["float32"] - losses["float64"])
        / abs(losses["float64"]),
        "iterations": {name: m.n_iter_ for name, m in fits.items()},
        "bytes_held": held, "raw_bytes_float64": raw_bytes, "peak_rss": memory,
    }


def _fit_at(fit: Any, budget: int) -> None:
    fit(budget)


def _rddml_pass_seconds(ds: BlockDataset, optimizer: str, iters: int, step: float = 1.0) -> float:
    from rddml import LogisticRegression

    t0 = time.perf_counter()
    lr = LogisticRegression(optimizer=optimizer, max_iter=iters, tol=0.0, step_size=step).fit(ds)
    return (time.perf_counter() - t0) / lr.n_passes_


def results_markdown(results: dict[str, Any]) -> str:
    """The Markdown tables of results.md."""
    lines = ["# rddml benchmark", "",
             f"Machine: {results['machine']}. Spark master `{results['master']}`, "
             f"{results['rounds']} measured units per variant after {results['warmup']} warm-up, "
             "variants interleaved round-robin. Best seconds per iteration of the measured units "
             "(the JSON keeps the medians); ratio = variant ÷ rddml (tree aggregation, the "
             "default). Libraries that cannot be stepped (pyspark.ml, scikit-learn): "
             "(t(fit at ml_iter_high) − t(fit at ml_iter_low)) ÷ the difference of the "
             "iterations the two fits report, after a warm-up fit.", ""]
    for r in results["kmeans"]:
        lines += [f"## k-means {r['n']:,} × {r['d']}, k = {r['k']} ({r['partitions']} partitions)",
                  "", "| variant | s / iteration | ratio to rddml |", "|---|---:|---:|"]
        for name, sec in r["seconds_per_iteration"].items():
            lines.append(f"| {name} | {sec:.4f} | {r['ratio_to_rddml'][name]:.2f} |")
        held = ", ".join(f"{name} storage {b:,} ({b / r['raw_bytes']:.3f}×)"
                         for name, b in r.get("bytes_held_by_storage", {}).items())
        lines += ["", f"Bytes held for {r['raw_bytes']:,} raw float64 bytes: {held}. "
                      f"\"rddml tree\" and \"reduceByKey\" use {r.get('storage')} storage.", ""]
    for r in results.get("logistic", []):
        lines += [f"## Logistic regression {r['n']:,} × {r['d']} ({r['partitions']} partitions)",
                  "", f"Optimal mean log loss {r['optimal_log_loss']:.8f}; target = optimum + 1e-4.",
                  "", "| variant | iterations to target | time to target (s) | s / pass |",
                  "|---|---:|---:|---:|"]
        names = list(r["iterations_to_target"])
        for name in names:
            its = r["iterations_to_target"][name]
            ttt = r["time_to_target_seconds"].get(name)
            spp = r["seconds_per_pass"].get(name)
            lines.append(f"| {name} | {'not reached' if its is None else its} | "
                         f"{'—' if ttt is None else f'{ttt:.3f}'} | "
                         f"{'—' if spp is None else f'{spp:.4f}'} |")
        lines.append("")
    ttm = results.get("time_to_model")
    if ttm:
        lines += time_to_model_markdown(ttm)
    if results.get("sparse"):
        from rddml.bench.sparse_bench import sparse_markdown

        lines += sparse_markdown(results["sparse"])
    mem = results["peak_rss"]
    before = " (before the sweep below)" if results.get("sweep") else ""
    lines += ["## Peak memory", "", f"Driver Python {mem.get('driver_python_mib')} MiB, driver "
              f"JVM {mem.get('driver_jvm_mib')} MiB, Python workers "
              f"{mem.get('python_workers_mib')} MiB{before}.", ""]
    lines += wide_markdown(results.get("wide", []), results.get("gemm_peak_gflops"))
    lines += wide_logistic_markdown(results.get("wide_logistic", []))
    if results.get("sweep"):
        lines += sweep_markdown(results["sweep"])
    return "\n".join(lines)


def plot_scaling(path: Path, results: dict[str, Any]) -> None:
    """Seconds per iteration against n (one line per variant, 2-D problems)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rows = sorted((r for r in results["kmeans"] if r["d"] == 2), key=lambda r: r["n"])
    if not rows:
        return
    fig, ax = plt.subplots(figsize=(7, 4.5))
    for name in rows[0]["seconds_per_iteration"]:
        pts = [(r["n"], r["seconds_per_iteration"][name]) for r in rows
               if name in r["seconds_per_iteration"]]
        ax.plot([p[0] for p in pts], [p[1] for p in pts], marker="o", label=name)
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel("points (d = 2)")
    ax.set_ylabel("seconds per iteration")
    ax.set_title("k-means seconds per iteration")
    ax.grid(alpha=0.3, which="both")
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def _wide_results(spark: Any, config: Config) -> dict[str, Any]:
    """The wide k-means sizes, the float32 embedding sizes, the dense logistic sizes and
    the machine's GEMM peak (each size restarts the peak RSS count)."""
    from rddml.bench.wide import bench_wide_size, gemm_peak

    parts = config.num_partitions or spark.sparkContext.defaultParallelism
    quick = config.quick
    out: dict[str, Any] = {}
    if config.gemm_peak:
        out["gemm_peak_gflops"] = gemm_peak(sorted({1, parts}), size=256 if quick else 2048)
    common = {"parts": parts, "seed": config.seed}
    out["wide"] = [
        bench_wide_size(spark, n, d, k, config.wide_variants, dtype="float64",
                        rounds=config.rounds, warmup=config.warmup,
                        ml_iter_low=config.ml_iter_low, ml_iter_high=config.ml_iter_high,
                        min_gap=config.min_iteration_gap, **common)
        for n, d, k in map(parse_size, config.quick_wide_sizes if quick else config.wide_sizes)]
    out["wide"] += [
        bench_wide_size(spark, n, d, k, config.embedding_variants, dtype="float32",
                        rounds=config.embedding_rounds, warmup=0,
                        ml_iter_low=config.embedding_iter_low,
                        ml_iter_high=config.embedding_iter_high, min_gap=1, **common)
        for n, d, k in map(parse_size, config.quick_embedding_sizes if quick
                           else config.embedding_sizes)]
    out["wide_logistic"] = [
        bench_logistic_wide(spark, config, n, d)
        for n, d in map(parse_lr_size, config.quick_wide_logistic_sizes if quick
                        else config.wide_logistic_sizes)]
    return out


def wide_logistic_markdown(rows: list[dict[str, Any]]) -> list[str]:
    """Seconds per pass on dense data and float32's objective against float64's."""
    lines: list[str] = []
    for r in rows:
        ml = r["seconds_per_pass"].get("pyspark.ml lbfgs")
        lines += [f"## Logistic regression {r['n']:,} × {r['d']}, dense "
                  f"({r['partitions']} partitions)", "", f"Method: {r['method']}.", "",
                  "| variant | s / pass | ratio to pyspark.ml |", "|---|---:|---:|"]
        for name, sec in r["seconds_per_pass"].items():
            lines.append(f"| {name} | {sec:.4f} | {'—' if not ml else f'{sec / ml:.2f}'} |")
        lines += ["", f"Mean log loss after {r['iterations']['float64']} (float64) and "
                      f"{r['iterations']['float32']} (float32) iterations: "
                      f"{r['log_loss']['float64']:.10f} and {r['log_loss']['float32']:.10f} "
                      f"(relative difference {r['float32_relative_difference']:.2e}). Bytes "
                      f"held: float64 {r['bytes_held']['float64']:,}, float32 "
                      f"{r['bytes_held']['float32']:,}. Peak RSS (MiB): Python workers "
                      f"{r['peak_rss'].get('python_workers_mib')}, driver JVM "
                      f"{r['peak_rss'].get('driver_jvm_mib')}.", ""]
    return lines


def _sweep_rounds(config: Config, n: int) -> int:
    return config.sweep_large_rounds if n >= config.sweep_large_n else config.sweep_rounds


def main(spark: Any, config: Config) -> dict[str, Any]:
    """Run the benchmark; returns what is written to ``results.json``."""
    # The output is checked and locked before the (long) measurements.
    with claim_output(config.output_dir, overwrite=config.overwrite, key="output_dir",
                      spark=spark):
        return _measure_and_write(spark, config)


#: What ``sparse_only`` empties or turns off: every section but the sparse rows.
NOT_SPARSE: dict[str, Any] = {
    "kmeans_sizes": [], "quick_sizes": [], "logistic_sizes": [], "quick_logistic_sizes": [],
    "time_to_model": False, "wide_sizes": [], "quick_wide_sizes": [], "embedding_sizes": [],
    "quick_embedding_sizes": [], "wide_logistic_sizes": [], "quick_wide_logistic_sizes": [],
    "gemm_peak": False, "sweep_sizes": [], "quick_sweep_sizes": [], "sparse": True,
}


def _measure_and_write(spark: Any, config: Config) -> dict[str, Any]:
    if config.sparse_only:
        config = replace(config, **NOT_SPARSE)
    sizes = [parse_size(s) for s in (config.quick_sizes if config.quick else config.kmeans_sizes)]
    lr_sizes = [parse_lr_size(s) for s in
                (config.quick_logistic_sizes if config.quick else config.logistic_sizes)]
    sweep_key = "quick_sweep_sizes" if config.quick else "sweep_sizes"
    sweep_sizes = [parse_count(text, sweep_key) for text in getattr(config, sweep_key)]
    check_sweep_variants(config.sweep_variants, "sweep_variants")
    results: dict[str, Any] = {
        "config": asdict(config),
        "machine": f"{platform.machine()}, {spark.sparkContext.defaultParallelism} cores "
                   f"for Spark, Python {platform.python_version()}, Spark {spark.version}",
        "master": spark.sparkContext.master,
        "rounds": config.rounds,
        "warmup": config.warmup,
        "kmeans": [bench_kmeans_size(spark, config, n, d, k) for n, d, k in sizes],
        "logistic": [bench_logistic_size(spark, config, n, d) for n, d in lr_sizes],
    }
    if config.time_to_model:
        from rddml.bench.time_to_model import bench_time_to_model

        km = parse_size(config.quick_time_to_model_kmeans if config.quick
                        else config.time_to_model_kmeans)
        lr = parse_lr_size(config.quick_time_to_model_logistic if config.quick
                           else config.time_to_model_logistic)
        results["time_to_model"] = bench_time_to_model(
            spark, km, lr, iterations=config.time_to_model_iter,
            rounds=config.time_to_model_rounds, seed=config.seed,
            parts=config.num_partitions or spark.sparkContext.defaultParallelism)
    if config.sparse:
        from rddml.bench.sparse_bench import SparseBench, run_sparse_bench

        results["sparse"] = run_sparse_bench(spark, SparseBench(
            n=config.quick_sparse_rows if config.quick else config.sparse_rows,
            d=config.quick_sparse_features if config.quick else config.sparse_features,
            nnz=config.quick_sparse_nnz if config.quick else config.sparse_nnz,
            k=config.sparse_k, pass_iter=config.pass_iter, kmeans_low=config.ml_iter_low,
            kmeans_high=config.ml_iter_high, min_iteration_gap=config.min_iteration_gap,
            rounds=config.rounds, partitions=config.num_partitions, seed=config.seed))
    results["peak_rss"] = peak_rss(spark)
    results.update(_wide_results(spark, config))
    # After the peak above: the sweep restarts the peak RSS count at each of its sizes.
    if sweep_sizes:
        results["sweep"] = run_sweep(
            spark, sweep_sizes, config.sweep_d,
            config.sweep_k, config.sweep_variants,
            rounds_for=partial(_sweep_rounds, config), warmup=config.warmup,
            parts=config.num_partitions or spark.sparkContext.defaultParallelism,
            seed=config.seed, storage=config.storages[0], ml_iter_low=config.ml_iter_low,
            ml_iter_high=config.ml_iter_high, min_iteration_gap=config.min_iteration_gap)
    with atomic_directory(config.output_dir, overwrite=config.overwrite, job="benchmark",
                          config=asdict(config), key="output_dir") as tmp:
        (tmp / "results.json").write_text(json.dumps(results, indent=2) + "\n")
        (tmp / "results.md").write_text(results_markdown(results) + "\n")
        plot_scaling(tmp / "seconds_per_iteration.png", results)
        if "sweep" in results:
            write_sweep_plot(tmp / "seconds_per_iteration_vs_n.png", results["sweep"])
    logger.info("benchmark written to %s", config.output_dir)
    return results


if __name__ == "__main__":
    run_job(main, Config, __doc__)
