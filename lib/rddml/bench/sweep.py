"""k-means seconds per iteration against n: a few variants over a range of sizes.

Each size gets its own data (the same Parquet path as the benchmark's k-means table),
its variants measured round-robin, and its peak memory; the data, the cached copies and
the files are freed before the next size, so at 5e7 × 2 the driver holds one NumPy copy
(800 MB) and the JVM one cached DataFrame plus pyspark.ml's own block cache.
"""

from __future__ import annotations

import gc
import logging
import re
import shutil
import statistics
import tempfile
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from rddml.bench.kmeans_bench import (
    KMeansInputs,
    check_variants,
    kmeans_steppers,
    method,
    per_iteration_samples,
    per_record_points,
    run_round_robin,
    shared_frames,
    storages_needed,
)
from rddml.bench.memory import peak_rss, reset_peak_rss
from rddml.errors import ConfigError

logger = logging.getLogger(__name__)
COUNT = re.compile(r"^\d+(?:e\d+)?$")
#: Where the slope-1 reference line of the plot passes through rddml's curve.
ANCHOR_N = 10_000_000


def parse_count(text: str, key: str) -> int:
    """``"5e7"`` → 50000000; a ConfigError naming ``key`` otherwise."""
    if not isinstance(text, str) or not COUNT.match(text) or int(float(text)) < 1:
        raise ConfigError(f"{key}: expected a number of points such as '1e6' or '250000', "
                          f"got {text!r}")
    return int(float(text))


def check_sweep_variants(variants: Sequence[str], key: str) -> None:
    """At least one known k-means variant, none twice; a ConfigError naming ``key``."""
    if not variants:
        raise ConfigError(f"{key}: expected at least one k-means variant, got []")
    repeated = sorted({v for v in variants if list(variants).count(v) > 1})
    if repeated:
        raise ConfigError(f"{key}: each variant once, got {repeated[0]!r} more than once")
    check_variants(variants, key)


def bench_sweep_size(spark: Any, n: int, d: int, k: int, variants: Sequence[str], *,
                     rounds: int, warmup: int, parts: int, seed: int, storage: str,
                     ml_iter_low: int, ml_iter_high: int,
                     min_iteration_gap: int = 1) -> dict[str, Any]:
    """Seconds per iteration of ``variants`` on uniform ``n × d`` data, k clusters.

    The variants run interleaved round-robin, ``rounds`` measured units each after
    ``warmup``. scikit-learn centres the driver's array in place (``copy_x=False``) rather
    than copying it. Peak RSS is counted from the start of this size.
    """
    reset_peak_rss(spark)
    t_start = time.perf_counter()
    rng = np.random.default_rng(seed)
    # Uniform data: Lloyd keeps moving for many iterations, so no variant stops early.
    X = rng.random((n, d))
    init = X[rng.choice(n, size=k, replace=False)].copy()
    raw_bytes = int(X.nbytes)
    logger.info("sweep: k-means %dx%d k=%d, %s, %d rounds", n, d, k, ", ".join(variants), rounds)
    workdir = Path(tempfile.mkdtemp(prefix="rddml-sweep-"))  # removed in the finally below
    datasets: dict[str, Any] = {}
    df = records = None
    steppers: list[Any] = []
    try:
        datasets, df = shared_frames(
            spark, X, parts, workdir, storages_needed(variants, storage),
            assembled=any(v.startswith("pyspark.ml") for v in variants))
        held = {name: ds.cached_bytes() for name, ds in datasets.items()}
        if "per-record RDD" in variants:
            records = per_record_points(datasets[storage])
        t_ready = time.perf_counter()
        steppers = kmeans_steppers(variants, KMeansInputs(
            X=X, init=init, datasets=datasets, df=df, records=records, parts=parts, seed=seed,
            ml_iter_low=ml_iter_low, ml_iter_high=ml_iter_high, sklearn_copy_x=False,
            min_iteration_gap=min_iteration_gap))
        from threadpoolctl import threadpool_limits

        with threadpool_limits(1):  # executors in local mode: one BLAS thread per task
            run_round_robin(steppers, rounds, warmup)
        samples = {s.name: per_iteration_samples(s) for s in steppers}
        methods = {s.name: method(s) for s in steppers}
        memory = peak_rss(spark)
        wall = {"data": t_ready - t_start, "measurements": time.perf_counter() - t_ready}
    finally:
        for each in datasets.values():
            each.unpersist()
        for cached in (df, records):
            if cached is not None:
                cached.unpersist()
        shutil.rmtree(workdir, ignore_errors=True)
        # The steppers hold X in reference cycles (closures over themselves): collect them
        # now, not whenever the collector next runs, so that two sizes never coexist.
        del X, steppers
        gc.collect()
    medians = {name: statistics.median(v) for name, v in samples.items()}
    best = {name: min(v) for name, v in samples.items()}
    logger.info("sweep: n=%d s/iteration (best): %s (data %.1f s, measurements %.1f s)", n,
                ", ".join(f"{name} {sec:.4f}" for name, sec in best.items()),
                wall["data"], wall["measurements"])
    rddml, ml = best.get("rddml tree"), best.get("pyspark.ml block")
    return {
        "n": n, "partitions": parts, "rounds": rounds, "warmup": warmup,
        "seconds_per_iteration": best,
        "median_seconds_per_iteration": medians,
        "methods": methods,
        "samples": samples,
        "rddml_over_pyspark_ml": None if rddml is None or ml is None else rddml / ml,
        "raw_bytes": raw_bytes,
        "storage": storage,
        "bytes_held_by_storage": held,
        "peak_rss": memory,
        "wall_seconds": wall,
    }


def run_sweep(spark: Any, sizes: Sequence[int], d: int, k: int, variants: Sequence[str], *,
              rounds_for: Callable[[int], int], warmup: int, parts: int, seed: int, storage: str,
              ml_iter_low: int, ml_iter_high: int, min_iteration_gap: int = 1
              ) -> dict[str, Any]:
    """:func:`bench_sweep_size` at each of ``sizes`` (ascending), ``rounds_for(n)`` rounds."""
    rows = [bench_sweep_size(spark, n, d, k, variants, rounds=rounds_for(n), warmup=warmup,
                             parts=parts, seed=seed, storage=storage,
                             ml_iter_low=ml_iter_low, ml_iter_high=ml_iter_high,
                             min_iteration_gap=min_iteration_gap)
            for n in sorted(sizes)]
    return {"d": d, "k": k, "variants": list(variants), "sizes": rows}


def _mib(value: Any) -> str:
    if isinstance(value, list):
        return "+".join(f"{v:.0f}" for v in value) if value else "—"
    return "—" if value is None else f"{value:.0f}"


def sweep_markdown(sweep: dict[str, Any]) -> list[str]:
    """The sweep's tables: s/iteration per size and variant, then memory per size."""
    rows = sweep["sizes"]
    if not rows:
        return []
    names = list(rows[0]["seconds_per_iteration"])
    rounds = sorted({r["rounds"] for r in rows})
    lines = [f"## k-means seconds per iteration against n (d = {sweep['d']}, k = {sweep['k']})",
             "", f"Best s / iteration of {', '.join(str(x) for x in rounds)} measured units "
             f"per variant (see the rounds column: fewer at large n) after "
             f"{rows[0]['warmup']} warm-up, variants interleaved round-robin within each size "
             "(the JSON keeps the medians); pyspark.ml and scikit-learn by pairs of fits over "
             "the iterations they reported; ratio = rddml tree ÷ pyspark.ml block.", "",
             "| n | rounds | " + " | ".join(names) + " | ratio |",
             "|---:|---:|" + "---:|" * (len(names) + 1)]
    for r in rows:
        sec = r["seconds_per_iteration"]
        ratio = r["rddml_over_pyspark_ml"]
        lines.append(f"| {r['n']:,} | {r['rounds']} | "
                     + " | ".join(f"{sec[name]:.4f}" for name in names)
                     + f" | {'—' if ratio is None else f'{ratio:.2f}'} |")
    if any(v <= 0 for r in rows for v in r["seconds_per_iteration"].values()):
        lines += ["", "A value ≤ 0 means the two fits of a library that cannot be stepped "
                  "differed by less than the machine's noise (too small a size); the log-log "
                  "plot leaves it out."]
    lines += ["", "Memory per size (peak RSS in MiB counted from the start of that size; "
              "bytes held by rddml's stored data against raw float64 bytes):", "",
              "| n | driver Python | driver JVM | Python workers | rddml bytes held (× raw) |",
              "|---:|---:|---:|---:|---|"]
    for r in rows:
        mem = r["peak_rss"]
        held = ", ".join(f"{name} {b:,} ({b / r['raw_bytes']:.3f}×)"
                         for name, b in r["bytes_held_by_storage"].items())
        lines.append(f"| {r['n']:,} | {_mib(mem.get('driver_python_mib'))} | "
                     f"{_mib(mem.get('driver_jvm_mib'))} | "
                     f"{_mib(mem.get('python_workers_mib'))} | {held} |")
    return [*lines, ""]


def _pyplot() -> Any:
    import matplotlib

    matplotlib.use("Agg")  # headless drivers
    import matplotlib.pyplot as plt

    return plt


def reference_anchor(sweep: dict[str, Any]) -> tuple[str, int, float] | None:
    """(variant, n, s/iteration) the slope-1 line passes through: rddml tree at n = 1e7,
    else at its largest n (the first variant when rddml tree was not measured)."""
    rows = sweep["sizes"]
    if not rows:
        return None
    names = list(rows[0]["seconds_per_iteration"])
    name = "rddml tree" if "rddml tree" in names else names[0]
    at = [r for r in rows if r["n"] == ANCHOR_N] or [max(rows, key=lambda r: r["n"])]
    return name, at[0]["n"], at[0]["seconds_per_iteration"][name]


def plot_seconds_vs_n(sweep: dict[str, Any]) -> Any:
    """Log-log figure of s/iteration against n, one line per variant, with a dashed line
    of slope 1 (cost ∝ n) through :func:`reference_anchor`. The caller saves and closes it."""
    plt = _pyplot()
    rows = sweep["sizes"]
    fig, ax = plt.subplots(figsize=(7, 4.8))
    ns = [r["n"] for r in rows]
    for name in (list(rows[0]["seconds_per_iteration"]) if rows else []):
        ax.plot(ns, [r["seconds_per_iteration"][name] for r in rows], marker="o", label=name)
    anchor = reference_anchor(sweep)
    if anchor is not None:
        name, n0, t0 = anchor
        span = np.array([min(ns), max(ns)], dtype=float)
        ax.plot(span, t0 * span / n0, linestyle="--", color="0.4", linewidth=1,
                label=f"slope 1 (∝ n) through {name} at n = {n0:.0e}")
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel(f"points n (d = {sweep['d']}, k = {sweep['k']})")
    ax.set_ylabel("seconds per iteration")
    ax.set_title("k-means seconds per iteration against n")
    ax.grid(alpha=0.3, which="both")
    ax.legend(fontsize=8)
    fig.tight_layout()
    return fig


def write_sweep_plot(path: Path, sweep: dict[str, Any]) -> None:
    """:func:`plot_seconds_vs_n` as a PNG at ``path``."""
    fig = plot_seconds_vs_n(sweep)
    fig.savefig(path, dpi=110)
    _pyplot().close(fig)

