"""Time the fused (numba) kernels against the NumPy ones on one block, single-threaded.

Usage: OPENBLAS_NUM_THREADS=1 PYTHONPATH=lib python tools/bench_fused.py [--reps 7]

Prints, per (d, k), milliseconds per block (the minimum over ``--reps`` runs, the
implementations interleaved) and the fused kernel's throughput in GB/s of features read;
the tables in ``docs/benchmark/fused-kernels-*.md`` come from it. The Lloyd
table also times the chunked BLAS step (``rddml.cluster.blas``, numba reduction) and
scikit-learn's own Lloyd chunk kernel on the same block and one thread (``blas_ms``,
``sklearn_ms``; ``--wide`` adds d = 256, 768 and k = 256, 1000).
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable
from functools import partial

import numpy as np
from threadpoolctl import threadpool_limits

from rddml.cluster import blas
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
    parser.add_argument("--wide", action="store_true", help="also wide shapes")
    args = parser.parse_args()
    cluster_fused.warm_up()
    blas.warm_up(("float64", "float32"))
    linear_fused.warm_up()
    ds = DS + ((256, 768) if args.wide else ())
    ks = KS + ((256, 1000) if args.wide else ())
    rng = np.random.default_rng(0)
    with threadpool_limits(1):
        print("lloyd: d k rows numpy_ms fused_ms speedup fused_GB/s numpy_GB/s blas_ms "
              "sklearn_ms blas_GFLOP/s")
        for d in ds:
            n = args.rows or default_block_rows(d)
            X = rng.standard_normal((n, d))
            for k in ks:
                C = rng.standard_normal((k, d))
                t_np, t_fu, t_bl, t_sk = _best_ms(
                    [partial(lloyd_partial_stats, X, None, C, 0),
                     partial(cluster_fused.lloyd_block_fused, X, None, C),
                     partial(blas.lloyd_block_blas, X, None, C, numba_helpers=True),
                     _sklearn_lloyd(X, C)], args.reps)
                gb = X.nbytes / 1e9
                gflops = 2.0 * n * d * k / 1e9
                print(f"lloyd {d:4d} {k:4d} {n:7d} {t_np:8.2f} {t_fu:8.2f} {t_np / t_fu:6.2f} "
                      f"{gb / t_fu * 1e3:6.2f} {gb / t_np * 1e3:6.2f} {t_bl:8.2f} {t_sk:8.2f} "
                      f"{gflops / t_bl * 1e3:6.1f}", flush=True)
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


def _sklearn_lloyd(X: np.ndarray, C: np.ndarray) -> Callable[[], object]:
    """One Lloyd step of scikit-learn's chunk kernel (its BLAS product per 256 rows) on
    one thread, with its buffers allocated once."""
    from sklearn.cluster._k_means_lloyd import lloyd_iter_chunked_dense

    n, k = X.shape[0], C.shape[0]
    w = np.ones(n, dtype=X.dtype)
    new = np.zeros_like(C)
    weight_in = np.zeros(k, dtype=X.dtype)
    labels = np.zeros(n, dtype=np.int32)
    shift = np.zeros(k, dtype=X.dtype)
    return partial(lloyd_iter_chunked_dense, X, w, np.ascontiguousarray(C, dtype=X.dtype), new,
                   weight_in, labels, shift, 1, True)


if __name__ == "__main__":
    main()
