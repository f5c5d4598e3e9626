"""The benchmark's "time to model": from data to a fitted model, whole fits.

What a user waits for is the whole fit: conversion of the input into blocks, the
initialisation and every iteration. For each algorithm the same data is fitted from a
cached DataFrame of double columns and from a Parquet file on disk, by rddml and by
pyspark.ml (behind the ``VectorAssembler`` it needs), with the same iteration count; rddml
reads the file both through ``spark.read.parquet`` and with its direct reader
(:func:`rddml.engine.sources.parquet.read_parquet`, compared with pyspark.ml's Parquet fit);
the variants alternate and each keeps its best of ``rounds``. The conversion alone is
timed beside ``toPandas()`` of the same columns (Spark's own Arrow export), the two
alternated ``rounds`` times.
"""

from __future__ import annotations

import logging
import shutil
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from rddml.bench.memory import peak_rss, reset_worker_peaks

logger = logging.getLogger(__name__)


def _timed(fn: Callable[[], Any]) -> float:
    t0 = time.perf_counter()
    fn()
    return time.perf_counter() - t0


def _write_parquet(path: Path, columns: dict[str, np.ndarray]) -> None:
    import pyarrow as pa
    import pyarrow.parquet as pq

    pq.write_table(pa.table(columns), path, row_group_size=1 << 20)


def _best_of(fits: dict[str, Callable[[], Any]], rounds: int) -> dict[str, float]:
    """Each fit ``rounds`` times, interleaved; the best time of each."""
    best = {name: float("inf") for name in fits}
    for _ in range(rounds):
        for name, fit in fits.items():
            seconds = _timed(fit)
            best[name] = min(best[name], seconds)
            logger.info("time to model: %s %.2fs", name, seconds)
    return best


def _conversion(spark: Any, cached: Any, cols: list[str], label: str | None, mb: float,
                parts: int, rounds: int = 1) -> dict[str, Any]:
    """The conversion into blocks beside ``toPandas()`` of the same columns, alternated
    ``rounds`` times (best of each), so both see the same machine load; with the Python
    workers' peak RSS during the conversions themselves (:func:`reset_worker_peaks`
    before each; None where that cannot be measured) beside the size of a partition."""
    from rddml import BlockDataset

    select = [*cols, label] if label else cols
    storage: list[str] = []
    peaks: list[float] = []
    before: list[float | None] = []

    def convert() -> None:
        before.append(reset_worker_peaks(spark))
        ds = BlockDataset.from_dataframe(cached, features_col=None, feature_cols=cols,
                                         label_col=label)
        peaks.extend(peak_rss(spark).get("python_workers_mib", []))  # a few /proc reads
        storage.append(ds.storage)
        ds.unpersist()

    best = _best_of({"toPandas": lambda: cached.select(*select).toPandas(),
                     "rddml": convert}, rounds)
    pandas_s, convert_s = best["toPandas"], best["rddml"]
    known = [b for b in before if b is not None]
    measured = len(known) == len(before) and bool(peaks)
    return {"megabytes": mb, "toPandas_seconds": pandas_s, "toPandas_MBps": mb / pandas_s,
            "rddml_seconds": convert_s, "rddml_MBps": mb / convert_s,
            "ratio_to_toPandas": convert_s / pandas_s, "storage": storage[0],
            "rounds": rounds, "partition_MB": mb / parts,
            "worker_rss_before_MiB": max(known) if measured else None,
            "worker_peak_rss_MiB": max(peaks) if measured else None}


def _whole_fits(spark: Any, path: Path, parts: int, cols: list[str], label: str | None,
                rddml_fit: Callable[[Any], Any], ml_stage: Any, rounds: int,
                iterations: Callable[[Any, Any], dict[str, int]]) -> dict[str, Any]:
    """Conversion and whole fits of one problem, from a cached DataFrame and from Parquet.

    ``ml_stage`` is the pyspark.ml estimator, fitted behind the VectorAssembler it needs;
    ``iterations(rddml_model, ml_pipeline_model)`` reads how many iterations each ran.
    """
    from pyspark.ml import Pipeline
    from pyspark.ml.feature import VectorAssembler

    def ml_fit(df: Any) -> Any:
        return Pipeline(stages=[VectorAssembler(inputCols=cols, outputCol="features"),
                                ml_stage]).fit(df)

    def parquet() -> Any:
        return spark.read.parquet(str(path))

    def direct_fit() -> Any:
        # The file read by pyarrow in the tasks (rddml.engine.sources.parquet), then the same fit.
        from rddml.engine.sources.parquet import read_parquet

        ds = read_parquet(spark, str(path), feature_cols=cols, label_col=label)
        try:
            return rddml_fit(ds)
        finally:
            ds.unpersist()

    cached = parquet().repartition(parts).persist()
    n = cached.count()
    try:
        megabytes = n * (len(cols) + bool(label)) * 8 / 1e6
        conversion = _conversion(spark, cached, cols, label, megabytes, parts, rounds)
        memory = peak_rss(spark)
        best = _best_of({
            "rddml, cached DataFrame": lambda: rddml_fit(cached),
            "pyspark.ml, cached DataFrame": lambda: ml_fit(cached),
            "rddml, Parquet file": lambda: rddml_fit(parquet()),
            "rddml, Parquet file, direct reader": direct_fit,
            "pyspark.ml, Parquet file": lambda: ml_fit(parquet()),
        }, rounds)
        ran = iterations(rddml_fit(cached), ml_fit(cached))
    finally:
        cached.unpersist()
    return {"conversion": conversion, "seconds": best, "iterations_run": ran,
            "peak_rss_after_conversion": memory}


def _kmeans_case(spark: Any, n: int, d: int, k: int, *, iterations: int, rounds: int,
                 seed: int, parts: int, workdir: Path) -> dict[str, Any]:
    from pyspark.ml.clustering import KMeans as MLKMeans

    from rddml import KMeans

    X = np.random.default_rng(seed).random((n, d))
    cols = [f"x{j}" for j in range(d)]
    path = workdir / "kmeans.parquet"
    _write_parquet(path, {c: X[:, j] for j, c in enumerate(cols)})
    del X

    def rddml_fit(df: Any) -> Any:
        return KMeans(k=k, max_iter=iterations, tol=0.0, seed=seed, feature_cols=cols).fit(df)

    result = _whole_fits(
        spark, path, parts, cols, None, rddml_fit,
        MLKMeans(k=k, maxIter=iterations, tol=0.0, seed=seed), rounds,
        lambda ours, theirs: {"rddml": ours.n_iter_,
                              "pyspark.ml": theirs.stages[-1].summary.numIter})
    return {"n": n, "d": d, "k": k, **result}


def _logistic_case(spark: Any, n: int, d: int, *, iterations: int, rounds: int, seed: int,
                   parts: int, workdir: Path) -> dict[str, Any]:
    from pyspark.ml.classification import LogisticRegression as MLLR

    from rddml import LogisticRegression

    rng = np.random.default_rng(seed + 1)
    X = rng.normal(size=(n, d))
    y = (rng.random(n) < 1 / (1 + np.exp(-(X @ rng.normal(size=d) + 0.3)))).astype(float)
    cols = [f"x{j}" for j in range(d)]
    path = workdir / "logistic.parquet"
    _write_parquet(path, {**{c: X[:, j] for j, c in enumerate(cols)}, "label": y})
    del X, y

    def rddml_fit(df: Any) -> Any:
        return LogisticRegression(max_iter=iterations, tol=0.0, feature_cols=cols,
                                  features_col=None).fit(df)

    result = _whole_fits(
        spark, path, parts, cols, "label", rddml_fit,
        MLLR(maxIter=iterations, tol=0.0, regParam=0.0), rounds,
        lambda ours, theirs: {"rddml": ours.n_iter_,
                              "pyspark.ml": theirs.stages[-1].summary.totalIterations})
    return {"n": n, "d": d, **result}


def bench_time_to_model(spark: Any, kmeans: tuple[int, int, int], logistic: tuple[int, int], *,
                        iterations: int, rounds: int, seed: int, parts: int) -> dict[str, Any]:
    """Whole fits of both algorithms from a cached DataFrame and from Parquet."""
    workdir = Path(tempfile.mkdtemp(prefix="rddml-ttm-"))  # removed below
    try:
        n, d, k = kmeans
        km = _kmeans_case(spark, n, d, k, iterations=iterations, rounds=rounds, seed=seed,
                          parts=parts, workdir=workdir)
        n, d = logistic
        lr = _logistic_case(spark, n, d, iterations=iterations, rounds=rounds, seed=seed,
                            parts=parts, workdir=workdir)
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    return {"iterations": iterations, "rounds": rounds, "kmeans": km, "logistic": lr}


def time_to_model_markdown(ttm: dict[str, Any]) -> list[str]:
    """Markdown tables of :func:`bench_time_to_model`'s result (results.md)."""
    lines = [f"## Time to model ({ttm['iterations']} iterations, best of {ttm['rounds']})", ""]
    for name, case in (("k-means", ttm["kmeans"]), ("logistic regression", ttm["logistic"])):
        shape = f"{case['n']:,} × {case['d']}" + (f", k = {case['k']}" if "k" in case else "")
        sec = case["seconds"]
        lines += [f"### {name} {shape}", "", "| source | rddml (s) | pyspark.ml (s) | ratio |",
                  "|---|---:|---:|---:|"]
        for source, ml_source in (("cached DataFrame", "cached DataFrame"),
                                  ("Parquet file", "Parquet file"),
                                  ("Parquet file, direct reader", "Parquet file")):
            if f"rddml, {source}" not in sec:  # results written before the direct reader
                continue
            ours, theirs = sec[f"rddml, {source}"], sec[f"pyspark.ml, {ml_source}"]
            lines.append(f"| {source} | {ours:.2f} | {theirs:.2f} | {ours / theirs:.2f} |")
        conv = case["conversion"]
        lines += ["", f"Iterations run: {case['iterations_run']}. Conversion of "
                      f"{conv['megabytes']:.0f} MB into blocks ({conv['storage']} storage): "
                      f"{conv['rddml_seconds']:.2f} s = {conv['rddml_MBps']:.0f} MB/s; "
                      f"`toPandas()` of the same columns {conv['toPandas_seconds']:.2f} s = "
                      f"{conv['toPandas_MBps']:.0f} MB/s "
                      f"({conv['rddml_seconds'] / conv['toPandas_seconds']:.2f}× its time; "
                      f"alternated, best of {conv.get('rounds', 1)})."]
        if conv.get("worker_peak_rss_MiB") is not None:
            lines[-1] += (f" Python workers' peak RSS during the conversion "
                          f"{conv['worker_peak_rss_MiB']:.0f} MiB (at most "
                          f"{conv['worker_rss_before_MiB']:.0f} MiB before it), partitions "
                          f"of {conv['partition_MB']:.0f} MB.")
        lines.append("")
        if "peak_rss_after_conversion" in case:
            mem = case["peak_rss_after_conversion"]
            lines += [f"Peak RSS after the conversions: Python workers "
                      f"{mem.get('python_workers_mib')} MiB, driver Python "
                      f"{mem.get('driver_python_mib')} MiB.", ""]
    return lines
