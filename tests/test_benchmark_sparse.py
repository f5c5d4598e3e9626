"""The sparse benchmark's quick mode as a smoke test: both libraries measured on the
same sparse rows, the table written, and the memory target held (bytes held ≤ 1.2×
the CSR bytes). No timing is asserted. ``sparse_only`` leaves every other section out."""

from __future__ import annotations

import dataclasses
import math
from typing import Any

from jobs import benchmark

from rddml.bench.sparse_bench import SparseBench, run_sparse_bench, sparse_markdown


def test_quick_sparse_benchmark_measures_both_libraries(spark: Any) -> None:
    # 2^17 features: wider than a partition's label census is kept for, as in the real rows
    bench = SparseBench(n=3000, d=1 << 17, nnz=15, k=4, reg_param=0.1, pass_iter=2,
                        kmeans_low=1, kmeans_high=2, min_iteration_gap=1, rounds=1,
                        max_budget=16)
    r = run_sparse_bench(spark, bench)
    assert r["n"] == 3000 and r["d"] == 1 << 17
    assert 10 < r["nnz_per_row"] < 16  # Poisson(15) ids, repeats within a row merged
    assert r["csr_bytes"] == r["nnz"] * 12 + 3000 * 12
    assert r["csr_bytes"] <= r["bytes_held"] <= 1.2 * r["csr_bytes"]
    lr = r["logistic"]
    # both reach the target within the budget, so both were timed
    assert None not in lr["iterations_to_target"].values()
    assert all(v is not None and v > 0 for v in lr["time_to_target_seconds"].values())
    assert lr["seconds_per_pass"]["rddml"] > 0
    assert abs(lr["target"] - lr["optimal_objective"] - 1e-4) < 1e-12
    km = r["kmeans"]
    assert set(km["seconds_per_iteration"]) == {"rddml", "pyspark.ml"}
    assert all(math.isfinite(v) for v in km["seconds_per_iteration"].values())
    assert lr["peak_rss"]["python_workers_mib"]
    table = "\n".join(sparse_markdown(r))
    assert "## Sparse features 3,000 × 131,072" in table and "| rddml |" in table


def test_sparse_only_empties_every_other_section() -> None:
    fields = {f.name: f for f in dataclasses.fields(benchmark.Config)}
    # every list of sizes and every optional section is named, so a section added
    # later cannot run unnoticed in a sparse-only benchmark
    sections = {name for name in fields if name.endswith("sizes")} | {"time_to_model",
                                                                        "gemm_peak"}
    assert sections <= set(benchmark.NOT_SPARSE)
    config = dataclasses.replace(benchmark.Config(), **benchmark.NOT_SPARSE)
    assert config.sparse and not config.time_to_model and not config.gemm_peak
    assert all(getattr(config, name) == [] for name in fields if name.endswith("sizes"))
