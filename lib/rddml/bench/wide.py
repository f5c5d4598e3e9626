"""k-means on wide data (embeddings): seconds per iteration, GFLOP/s against the
machine's measured matrix-product peak, bytes held and peak memory, per size.

A Lloyd iteration on n × d points with k centres costs 2·n·d·k flops in its distance
product (the rest is O(n·d + n·k)); GFLOP/s = that ÷ seconds per iteration. The peak is
measured here, on the driver, as the best of a few square products of
:data:`PEAK_SIZE` (float64 and float32, one thread and all of Spark's cores), so the
figures are comparable on any machine.
"""

from __future__ import annotations

import gc
import logging
import shutil
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

from rddml.bench.kmeans_bench import (
    KMeansInputs,
    kmeans_steppers,
    method,
    per_iteration_samples,
    run_round_robin,
    shared_frames,
)
from rddml.bench.memory import peak_rss, reset_peak_rss

logger = logging.getLogger(__name__)
PEAK_SIZE = 2048


def gemm_peak(threads: list[int], size: int = PEAK_SIZE, repeats: int = 3
              ) -> dict[str, dict[str, float]]:
    """GFLOP/s of the best of ``repeats`` products of two size × size matrices, per dtype
    and thread count: ``{"float64": {"1": ..., "2": ...}, "float32": {...}}``."""
    from threadpoolctl import threadpool_limits

    rng = np.random.default_rng(0)
    out: dict[str, dict[str, float]] = {}
    for dtype in ("float64", "float32"):
        A = rng.standard_normal((size, size)).astype(dtype)
        out[dtype] = {}
        for t in threads:
            with threadpool_limits(t):
                A @ A  # warm-up: threads started, pages touched
                best = min(_timed_product(A) for _ in range(repeats))
            out[dtype][str(t)] = 2.0 * size**3 / best / 1e9
    return out


def _timed_product(A: np.ndarray) -> float:
    t0 = time.perf_counter()
    A @ A
    return time.perf_counter() - t0


def bench_wide_size(spark: Any, n: int, d: int, k: int, variants: list[str], *,
                    dtype: str, rounds: int, warmup: int, parts: int, seed: int,
                    ml_iter_low: int, ml_iter_high: int, min_gap: int) -> dict[str, Any]:
    """The ``variants`` on Gaussian ``n × d`` data (``dtype`` on the driver: float32 for
    embeddings, so no float64 copy is ever made), k centres from the data.

    Every variant reports the best of its measured units; the JSON also keeps the medians
    and how each figure was obtained (``methods``)."""
    reset_peak_rss(spark)
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((n, d), dtype=np.float32 if dtype == "float32" else np.float64)
    init = X[rng.choice(n, size=k, replace=False)].astype(np.float64)
    X32 = X if X.dtype == np.float32 else (
        X.astype(np.float32) if any("float32" in v for v in variants) else None)
    float64_wanted = any(v in ("rddml tree", "rddml reduceByKey") for v in variants)
    workdir = Path(tempfile.mkdtemp(prefix="rddml-wide-"))  # removed in the finally below
    datasets: dict[str, Any] = {}
    df = None
    logger.info("wide k-means %dx%d k=%d (%s): %s", n, d, k, dtype, ", ".join(variants))
    try:
        datasets, df = shared_frames(
            spark, X, parts, workdir, ["executor"] if float64_wanted else [],
            assembled=any(v.startswith("pyspark.ml") for v in variants),
            float32=any(v == "rddml tree (float32)" for v in variants))
        held = {name: ds.cached_bytes() for name, ds in datasets.items()}
        steppers = kmeans_steppers(variants, KMeansInputs(
            X=X, init=init, datasets=datasets, df=df, records=None, parts=parts, seed=seed,
            ml_iter_low=ml_iter_low, ml_iter_high=ml_iter_high, sklearn_copy_x=False,
            min_iteration_gap=min_gap,
            dataset32=datasets.get("float32"), X32=X32))
        from threadpoolctl import threadpool_limits

        with threadpool_limits(1):  # the driver's own BLAS (the executors set theirs)
            run_round_robin(steppers, rounds, warmup)
        memory = peak_rss(spark)
    finally:
        for each in datasets.values():
            each.unpersist()
        if df is not None:
            df.unpersist()
        shutil.rmtree(workdir, ignore_errors=True)
        del X, X32
        gc.collect()
    samples = {s.name: per_iteration_samples(s) for s in steppers}
    best = {name: min(v) for name, v in samples.items()}
    flops = 2.0 * n * d * k
    return {
        "n": n, "d": d, "k": k, "dtype": dtype, "partitions": parts, "rounds": rounds,
        "seconds_per_iteration": best,
        "median_seconds_per_iteration": {name: statistics.median(v)
                                         for name, v in samples.items()},
        "samples": samples,
        "methods": {s.name: method(s) for s in steppers},
        "gflops": {name: flops / sec / 1e9 if sec > 0 else None for name, sec in best.items()},
        "flops_per_iteration": flops,
        "bytes_held": held,
        "raw_bytes_float64": n * d * 8,
        "peak_rss": memory,
    }


def wide_markdown(rows: list[dict[str, Any]], peak: dict[str, dict[str, float]] | None
                  ) -> list[str]:
    """The wide-data tables: s/iteration, GFLOP/s and ratios per variant, then memory."""
    if not rows:
        return []
    lines = ["## k-means on wide data", ""]
    if peak:
        lines += ["Measured GEMM peak of this machine (best of 3 products of "
                  f"{PEAK_SIZE} × {PEAK_SIZE}), GFLOP/s: "
                  + "; ".join(f"{dt} " + ", ".join(f"{t} thread{'s' if t != '1' else ''} "
                                                    f"{v:.1f}" for t, v in per.items())
                              for dt, per in peak.items()) + ".", ""]
    for r in rows:
        base = r["seconds_per_iteration"].get("rddml tree (float32)" if r["dtype"] == "float32"
                                              else "rddml tree")
        lines += [f"### {r['n']:,} × {r['d']}, k = {r['k']} ({r['dtype']} data, "
                  f"{r['partitions']} partitions)", "",
                  "| variant | s / iteration (best) | median | GFLOP/s | ratio to this rddml | "
                  "how timed |", "|---|---:|---:|---:|---:|---|"]
        for name, sec in r["seconds_per_iteration"].items():
            m = r["methods"][name]
            how = "stepped" if "reported_iterations" not in m else (
                "pair of fits, reported iterations "
                + ", ".join(f"{a}→{b}" for a, b in m["reported_iterations"]))
            gf = r["gflops"][name]
            ratio = "—" if not base else f"{sec / base:.2f}"
            lines.append(f"| {name} | {sec:.4f} | {r['median_seconds_per_iteration'][name]:.4f}"
                         f" | {'—' if gf is None else f'{gf:.1f}'} | {ratio} | {how} |")
        mem = r["peak_rss"]
        held = ", ".join(f"{name} {b:,}" for name, b in r["bytes_held"].items())
        lines += ["", f"Bytes held by rddml's stored data: {held} (raw float64: "
                      f"{r['raw_bytes_float64']:,}). Peak RSS (MiB) from the start of this size: "
                      f"driver Python {mem.get('driver_python_mib')}, driver JVM "
                      f"{mem.get('driver_jvm_mib')}, Python workers "
                      f"{mem.get('python_workers_mib')}.", ""]
    return lines
