"""The benchmark's quick mode as a smoke test: every variant measured, tables produced,
and the memory target (cached blocks ≤ 1.05× raw float64 bytes) held. No timing is asserted,
so every repeat count is at its smallest that still runs each code path: 2 rounds (the
round-robin rotates) after 1 warm-up, pyspark.ml/scikit-learn pairs at 1 and 2 iterations,
one logistic s/pass sample of 2 iterations, a GD budget of 20 (it needs 13), and a
sweep of 1 round at the two quick sizes."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import pytest
from jobs import benchmark

from rddml.io.config import load_config

ROOT = Path(__file__).resolve().parents[1]


def test_quick_benchmark_measures_every_variant(spark: Any, tmp_path: Path) -> None:
    cfg = load_config(benchmark.Config, ROOT / "conf/jobs/benchmark.toml", [
        f"output_dir={tmp_path / 'bench'}", "quick=true", 'quick_sizes=["4000x2k3"]',
        'quick_logistic_sizes=["3000x3"]', "gd_max_iter=20", "rounds=2", "warmup=1",
        "ml_iter_low=1", "ml_iter_high=2", "min_iteration_gap=1", "pass_iter=2",
        "pass_repeats=1", "embedding_rounds=1",
        'quick_time_to_model_kmeans="3000x2k3"', 'quick_time_to_model_logistic="2000x3"',
        "time_to_model_iter=3", "time_to_model_rounds=1", "sweep_rounds=1",
        "sparse=false"])  # the sparse rows have their own test (test_benchmark_sparse.py)
    results = benchmark.main(spark, cfg)
    (km,) = results["kmeans"]
    expected = {"per-record RDD (write-up)", "rddml reduceByKey", "rddml tree",
                "rddml tree (spark storage)", "pyspark.ml block", "pyspark.ml row",
                "NumPy floor (1 core)", "fused floor (2 threads)"}
    assert expected <= set(km["seconds_per_iteration"])
    assert all(len(v) == cfg.rounds for v in km["samples"].values())
    assert km["raw_bytes"] == 4000 * 2 * 8
    assert km["storage"] == "executor"
    for held in km["bytes_held_by_storage"].values():  # files + handles, or cached blocks
        assert km["raw_bytes"] <= held <= 1.05 * km["raw_bytes"]
    (lr,) = results["logistic"]
    # L-BFGS must reach the optimum's log loss + 1e-4 well within its budget.
    assert lr["iterations_to_target"]["rddml lbfgs"] is not None
    # Every variant reached the target within its budget, so every one was timed.
    assert None not in lr["iterations_to_target"].values()
    assert set(lr["time_to_target_seconds"]) == set(lr["iterations_to_target"])
    assert set(lr["seconds_per_pass"]) == {"rddml lbfgs", "rddml gd", "pyspark.ml lbfgs",
                                           "per-record GD (write-up)"}
    assert abs(lr["target"] - lr["optimal_log_loss"] - 1e-4) < 1e-12
    written = json.loads((tmp_path / "bench" / "results.json").read_text())
    assert written["kmeans"][0]["n"] == 4000
    table = (tmp_path / "bench" / "results.md").read_text()
    assert "| rddml tree |" in table and "Logistic regression 3,000 × 3" in table
    ttm = results["time_to_model"]
    for case in (ttm["kmeans"], ttm["logistic"]):
        assert set(case["seconds"]) == {f"{lib}, {src}" for lib in ("rddml", "pyspark.ml")
                                        for src in ("cached DataFrame", "Parquet file")} | {
            "rddml, Parquet file, direct reader"}
        assert case["iterations_run"]["rddml"] == 3
        assert case["conversion"]["rddml_MBps"] > 0 and case["conversion"]["toPandas_MBps"] > 0
        # Local mode on Linux: the workers' peak RSS during the conversion is measured.
        conv = case["conversion"]
        assert conv["worker_peak_rss_MiB"] > 0 and conv["worker_rss_before_MiB"] is not None
        parts = spark.sparkContext.defaultParallelism  # the quick mode sets no num_partitions
        assert abs(conv["partition_MB"] - conv["megabytes"] / parts) < 1e-9
    assert "Python workers' peak RSS during the conversion" in table
    assert "## Time to model (3 iterations, best of 1)" in table
    assert "| Parquet file, direct reader |" in table
    # The sweep: every requested variant timed at every quick size, memory beside it.
    sweep = results["sweep"]
    assert [r["n"] for r in sweep["sizes"]] == [20_000, 40_000]
    names = {"rddml tree", "pyspark.ml block", "scikit-learn lloyd (2 threads)",
             "fused floor (2 threads)"}
    for row in sweep["sizes"]:
        assert set(row["seconds_per_iteration"]) == names
        assert all(len(v) == 1 and math.isfinite(v[0]) for v in row["samples"].values())
        # Stepped variants time whole iterations; pair differences may dip below 0 when
        # tiny fits meet machine noise, so only the stepped ones must be positive.
        assert row["seconds_per_iteration"]["rddml tree"] > 0
        assert row["seconds_per_iteration"]["fused floor (2 threads)"] > 0
        ratio = (row["seconds_per_iteration"]["rddml tree"]
                 / row["seconds_per_iteration"]["pyspark.ml block"])
        assert row["rddml_over_pyspark_ml"] == ratio
        assert row["raw_bytes"] == row["n"] * 2 * 8
        (held,) = row["bytes_held_by_storage"].values()
        assert row["raw_bytes"] <= held <= 1.05 * row["raw_bytes"]
        assert row["peak_rss"]["driver_jvm_mib"] > 0 and row["peak_rss"]["python_workers_mib"]
    assert "## k-means seconds per iteration against n (d = 2, k = 5)" in table
    assert "| 40,000 | 1 |" in table
    # Pairs of fits are divided by the iterations the fits report, and say so.
    for name, how in km["methods"].items():
        if name.startswith(("pyspark.ml", "scikit-learn")):
            assert "reported" in how["method"]
            assert all(high - low >= 1 for low, high in how["reported_iterations"])
        else:
            assert "reported_iterations" not in how
    assert km["seconds_per_iteration"]["rddml tree"] == min(km["samples"]["rddml tree"])
    # Wide data: float64 and float32 variants, GFLOP/s beside the measured GEMM peak.
    peak = results["gemm_peak_gflops"]
    assert set(peak) == {"float64", "float32"} and all(v > 0 for p in peak.values()
                                                        for v in p.values())
    (wide,) = results["wide"]
    assert (wide["n"], wide["d"], wide["k"]) == (3000, 32, 40)
    assert set(wide["seconds_per_iteration"]) == {
        "rddml tree", "rddml tree (float32)", "pyspark.ml block",
        "scikit-learn lloyd (2 threads)", "scikit-learn lloyd (2 threads, float32)"}
    assert wide["gflops"]["rddml tree"] == pytest.approx(
        2 * 3000 * 32 * 40 / wide["seconds_per_iteration"]["rddml tree"] / 1e9)
    held = wide["bytes_held"]
    assert held["float32"] <= 0.6 * held["executor"]
    assert wide["peak_rss"]["python_workers_mib"]
    (wlr,) = results["wide_logistic"]
    assert set(wlr["seconds_per_pass"]) == {"rddml lbfgs", "rddml lbfgs (float32)",
                                            "pyspark.ml lbfgs"}
    assert wlr["float32_relative_difference"] < 1e-4
    assert wlr["bytes_held"]["float32"] <= 0.6 * wlr["bytes_held"]["float64"]
    assert "## k-means on wide data" in table and "Measured GEMM peak" in table
    assert "## Logistic regression 3,000 × 64, dense" in table
    png = (tmp_path / "bench" / "seconds_per_iteration_vs_n.png").read_bytes()
    assert png.startswith(b"\x89PNG\r\n\x1a\n")
