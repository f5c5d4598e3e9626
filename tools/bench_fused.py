"""Time the fused (numba) kernels against the NumPy ones on one block, single-threaded.

Usage: OPENBLAS_NUM_THREADS=1 PYTHONPATH=lib python tools/bench_fused.py [--reps 7]

Prints, per (d, k), milliseconds per block (the minimum over ``--reps`` runs, the two
implementations interleaved) and the fused kernel's throughput in GB/s of features read;
the tables in ``docs/benchmark/fused-kernels-*.md`` come from it.
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable
from functools import partial

import numpy as np
from threadpoolctl import threadpool_limits

from rddml.cluster import fused as cluster_fused
from rddml.cluster.kernels import lloyd_partial_stats
from rddml.engine.cutting import default_block_rows
from rddml.linear import fused as linear_fused
from rddml.linear.kernels import block_loss_grad

DS = (2, 10, 20, 50, 100)
KS = (2, 5, 20, 100)


def _best_ms(fns: list[Callable[[], object]], reps: int) -> list[float]:
    best = [float("inf")] * len(fns)
    for _ in range(reps):
        for i, fn in enumerate(fns):
            start = time.perf_counter()
            fn()
            best[i] = min(best[i], time.perf_counter() - start)
    return [b * 1e3 for b in best]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--reps", type=int, default=7)
    parser.add_argument("--rows", type=int, default=0, help="rows per block (0: 4 MiB blocks)")
    args = parser.parse_args()
    cluster_fused.warm_up()
    linear_fused.warm_up()
    rng = np.random.default_rng(0)
    with threadpool_limits(1):
        print("lloyd: d k rows numpy_ms fused_ms speedup fused_GB/s numpy_GB/s")
        for d in DS:
            n = args.rows or default_block_rows(d)
            X = rng.standard_normal((n, d))
            for k in KS:
                C = rng.standard_normal((k, d))
                t_np, t_fu = _best_ms(
                    [partial(lloyd_partial_stats, X, None, C, 0),
                     partial(cluster_fused.lloyd_block_fused, X, None, C)], args.reps)
                gb = X.nbytes / 1e9
                print(f"lloyd {d:4d} {k:4d} {n:7d} {t_np:8.2f} {t_fu:8.2f} {t_np / t_fu:6.2f} "
                      f"{gb / t_fu * 1e3:6.2f} {gb / t_np * 1e3:6.2f}", flush=True)
        print("logistic: d rows numpy_ms fused_ms speedup fused_GB/s numpy_GB/s")
        for d in DS:
            n = args.rows or default_block_rows(d)
            X = rng.standard_normal((n, d))
            y = (rng.random(n) < 0.5).astype(np.float64)
            coef = rng.standard_normal(d) / np.sqrt(d)
            t_np, t_fu = _best_ms(
                [partial(block_loss_grad, X, y, None, coef, 0.1),
                 partial(linear_fused.loss_grad_block_fused, X, y, None, coef, 0.1)], args.reps)
            gb = X.nbytes / 1e9
            print(f"logistic {d:4d} {n:7d} {t_np:8.2f} {t_fu:8.2f} {t_np / t_fu:6.2f} "
                  f"{gb / t_fu * 1e3:6.2f} {gb / t_np * 1e3:6.2f}", flush=True)


if __name__ == "__main__":
    main()
