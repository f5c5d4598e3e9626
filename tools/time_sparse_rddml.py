"""rddml alone on the sparse benchmark's data: cosine k-means seconds per iteration and
logistic-regression seconds per pass, timed as ``jobs/benchmark.py`` times them.

For checking a change to the sparse kernels without the whole sparse benchmark (whose
pyspark.ml fits take most of its ~45 minutes); the ratio to pyspark.ml comes only from
the benchmark itself, where both run in one session. Usage::

    .venv/bin/python tools/time_sparse_rddml.py [--rows 1000000] [--rounds 3]
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from functools import partial

import numpy as np


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()

    # The Python workers run this interpreter (rddml and its dependencies), not the PATH's.
    os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
    from pyspark.sql import SparkSession

    from rddml import BlockDataset
    from rddml.bench.kmeans_bench import per_iteration_from_pair
    from rddml.bench.sparse_bench import (
        SparseBench,
        fit_rddml_lr,
        sparse_frame,
        timed_rddml_kmeans,
    )

    spark = (SparkSession.builder.master("local[2]").config("spark.driver.memory", "6g")
             .getOrCreate())
    bench = SparseBench(n=args.rows, kmeans_low=2, kmeans_high=27)
    df = sparse_frame(spark, bench)
    ds = BlockDataset.from_dataframe(df, features_col="features", label_col="label",
                                     layout="sparse")
    init = np.asarray([r.features.toArray() for r in df.select("features").head(bench.k)])

    kmeans = partial(timed_rddml_kmeans, ds, bench, init)
    kmeans(2)  # warm-up
    per_iter = [per_iteration_from_pair(kmeans, 2, 27, 20)[0] for _ in range(args.rounds)]
    passes = []
    for _ in range(args.rounds):
        t0 = time.perf_counter()
        model = fit_rddml_lr(ds, bench, bench.pass_iter)
        passes.append((time.perf_counter() - t0) / model.n_passes_)
    print(f"rddml cosine k-means k={bench.k}: s/iteration {min(per_iter):.4f} (best of "
          f"{args.rounds}; all {[round(v, 4) for v in per_iter]})")
    print(f"rddml logistic regression: s/pass {min(passes):.4f} (best of {args.rounds}; "
          f"all {[round(v, 4) for v in passes]})")
    ds.unpersist()
    spark.stop()


if __name__ == "__main__":
    main()
