"""Lazy numba support for the fused kernels (``rddml.cluster.fused``, ``rddml.linear.fused``).

Nothing here imports numba at module import time: ``import rddml`` must work, and stay
fast, where numba is absent (the kernels then fall back to NumPy). numba is imported the
first time a fused kernel is compiled or :func:`numba_available` is asked.

The estimators' ``kernels`` parameter chooses the implementation of the per-block passes:

- ``auto``: the fused kernel where the measured rule of its module says it is faster,
  the BLAS form elsewhere (with numba's help where its module says so), NumPy when numba
  cannot be imported;
- ``fused``: always the fused kernel (NumPy only when numba cannot be imported);
- ``numpy``: NumPy and BLAS only (for comparisons and benchmarks).

The estimator resolves the choice once, on the driver (:func:`resolve_kernels`: the
parameter, or when it is None the driver's ``RDDML_KERNELS``, else ``auto``), and passes
the resolved mode to every task and to the warm-up decision, so both agree; no executor
reads the environment.

Compiled code is cached on disk (``cache=True``): next to the module in ``__pycache__``
when that is writable, else numba's user-wide cache directory, else (for example a
read-only wheel install on an executor whose home directory is not writable either) a
directory under the system temporary directory, chosen here; ``NUMBA_CACHE_DIR``, when
set, always wins.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Callable
from typing import Any

KERNELS_ENV = "RDDML_KERNELS"
KERNEL_MODES = ("auto", "fused", "numpy")

# None: not tried yet; then whether ``import numba`` worked. Tests monkeypatch it to False.
NUMBA_AVAILABLE: bool | None = None

_FMULADD: Any = None


def kernel_mode() -> str:
    """The driver's ``RDDML_KERNELS`` setting (``auto`` when unset); ValueError for anything
    else. Read only by :func:`resolve_kernels`, on the driver."""
    mode = os.environ.get(KERNELS_ENV, "auto").strip().lower() or "auto"
    if mode not in KERNEL_MODES:
        raise ValueError(f"{KERNELS_ENV}={mode!r}: expected one of {', '.join(KERNEL_MODES)}")
    return mode


def resolve_kernels(kernels: str | None) -> str:
    """The kernel mode a fit runs with: ``kernels`` itself, or for None the driver's
    ``RDDML_KERNELS`` (``auto`` when unset). The caller validates ``kernels`` first."""
    return kernel_mode() if kernels is None else kernels


def check_mode(mode: str) -> str:
    """``mode`` if it is a kernel mode, else ValueError (a task given a bad mode)."""
    if mode not in KERNEL_MODES:
        raise ValueError(f"kernels={mode!r}: expected one of {', '.join(KERNEL_MODES)}")
    return mode


def numba_available() -> bool:
    """Whether numba can be imported (tried once per process; no other effect)."""
    global NUMBA_AVAILABLE
    if NUMBA_AVAILABLE is None:
        try:
            import numba  # noqa: F401
        except Exception:  # ImportError, or a numba/NumPy version mismatch
            NUMBA_AVAILABLE = False
        else:
            NUMBA_AVAILABLE = True
    return NUMBA_AVAILABLE


def freeze_worker_heap() -> None:
    """In a Spark task's Python worker, put every object alive now out of reach of the
    cyclic garbage collector (``gc.freeze``); elsewhere (the driver) do nothing.

    PySpark's daemon runs ``gc.collect()`` after every task of a reused worker, and a
    full collection walks every tracked object: once numba is imported and the kernels
    loaded, that costs tens of milliseconds per task, more than a small task itself.
    Called after numba's import and the kernels' warm-up, so what is frozen is mostly
    modules and compiled code, which live as long as the process anyway.
    """
    import gc

    try:
        from pyspark import TaskContext

        in_task = TaskContext.get() is not None
    except Exception:  # no pyspark, or a client-only install
        return
    if in_task:
        gc.collect()
        gc.freeze()


def use_fused(rule: bool, mode: str) -> bool:
    """Whether a pass should run the fused kernel, given its module's measured ``rule`` and
    the fit's resolved kernel ``mode``."""
    if check_mode(mode) == "numpy":
        return False
    return (mode == "fused" or rule) and numba_available()


def use_numba_helpers(mode: str) -> bool:
    """Whether a BLAS-form pass may use numba for the work around the matrix product (the
    argmin and the per-cluster sums): every mode but ``numpy``, where numba imports."""
    return check_mode(mode) != "numpy" and numba_available()


_BLAS_THREADS: int | None = None


def limit_blas_threads() -> None:
    """In a Spark task's Python worker, limit BLAS (and OpenMP) to the task's cores
    (``spark.task.cpus``), once per process; elsewhere do nothing.

    Each task runs in its own Python worker, and OpenBLAS starts as many threads as the
    machine has cores in every one of them: with one task per core that oversubscribes
    the cores by their number and a matrix product runs slower than on one thread.
    """
    global _BLAS_THREADS
    if _BLAS_THREADS is not None:
        return
    try:
        from pyspark import TaskContext

        context = TaskContext.get()
    except Exception:  # no pyspark, or a client-only install
        context = None
    if context is None:
        return
    cpus = max(1, int(context.cpus()))
    _BLAS_THREADS = cpus
    try:
        from threadpoolctl import threadpool_limits
    except ImportError:  # an optional dependency: BLAS then keeps its own default
        return
    threadpool_limits(cpus)


def fallback_cache_dir() -> str:
    """A writable cache directory under the system temporary directory (per user)."""
    uid = os.getuid() if hasattr(os, "getuid") else 0
    path = os.path.join(tempfile.gettempdir(), f"rddml-numba-cache-{uid}")
    os.makedirs(path, exist_ok=True)
    return path


def njit(pyfunc: Callable[..., Any]) -> Any:
    """``numba.njit(cache=True, nogil=True, fastmath=False)`` of ``pyfunc``.

    numba looks for a writable cache directory when the function is decorated and raises
    RuntimeError when it finds none: then the temporary directory is used, and if even
    that fails the function is compiled without an on-disk cache.
    """
    import numba
    from numba.core import config

    options: dict[str, Any] = {"cache": True, "nogil": True, "fastmath": False}
    try:
        return numba.njit(**options)(pyfunc)
    except RuntimeError:
        pass
    try:
        config.CACHE_DIR = fallback_cache_dir()  # type: ignore[attr-defined]
        return numba.njit(**options)(pyfunc)
    except (RuntimeError, OSError):
        options["cache"] = False
        return numba.njit(**options)(pyfunc)


def fmuladd() -> Any:
    """numba intrinsic ``a * b + c`` as LLVM's ``llvm.fmuladd``: one fused multiply-add
    where the CPU has FMA (as OpenBLAS's kernels do, so the dot products round like
    NumPy's matrix products more often), a multiply and an add where it has not."""
    global _FMULADD
    if _FMULADD is None:
        from llvmlite import ir
        from numba.core import cgutils, types
        from numba.extending import intrinsic

        @intrinsic  # type: ignore[misc]
        def _fmuladd(typingctx: Any, a: Any, b: Any, c: Any) -> Any:
            sig = types.float64(types.float64, types.float64, types.float64)

            def codegen(context: Any, builder: Any, signature: Any, args: Any) -> Any:
                dbl = ir.DoubleType()
                fn = cgutils.get_or_insert_function(
                    builder.module, ir.FunctionType(dbl, [dbl] * 3), "llvm.fmuladd.f64")
                return builder.call(fn, args)

            return sig, codegen

        _FMULADD = _fmuladd
    return _FMULADD


def compiled_kernel(namespace: dict[str, Any], cache: dict[str, Any], name: str,
                    pyfunc: Callable[..., Any]) -> Any:
    """The compiled ``pyfunc`` (compiled, or loaded from numba's cache, on first use).

    The kernels call ``fmuladd`` by its global name, which numba resolves in the kernel
    module's ``namespace`` when it compiles: it is bound there first.
    """
    if name not in cache:
        namespace["fmuladd"] = fmuladd()
        cache[name] = njit(pyfunc)
    return cache[name]
