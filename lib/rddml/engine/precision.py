"""The precision blocks are stored in: float64 (the default) or float32.

Blocks are cut and checked in float64 (:mod:`rddml.engine.cutting`); a dataset built with
``dtype="float32"`` then narrows each block's features on the executor, before it is
summarised and stored, so the stored blocks take half the bytes and the kernels run
single-precision products on them. Labels and weights stay float64; a sparse (CSR)
block narrows its stored values only (its column indices and row starts stay as they
are). A finite float64 value beyond float32's range would become infinite: that block
becomes a
:class:`~rddml.engine.records.BlockError` naming the row and the value instead.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import Any

import numpy as np

from rddml.engine.records import Block, BlockError
from rddml.engine.sparse import csr, is_sparse, row_of
from rddml.errors import InvalidParameterError

#: The precisions a dataset's blocks can be stored in.
DTYPES = ("float64", "float32")


def check_dtype(dtype: str) -> str:
    """``dtype`` if it is one of :data:`DTYPES`, else InvalidParameterError."""
    if dtype not in DTYPES:
        raise InvalidParameterError(
            f"The 'dtype' parameter must be one of {', '.join(repr(d) for d in DTYPES)}, "
            f"got {dtype!r}.")
    return dtype


def narrow(items: Iterable[Any], dtype: str) -> Iterator[Any]:
    """The items of a partition with every block's features in ``dtype``."""
    if dtype == "float64":
        yield from items
        return
    target = np.dtype(dtype)
    for item in items:
        if not isinstance(item, Block) or item.X.dtype == target:
            yield item
            continue
        if is_sparse(item.X):
            narrowed_block, error = _narrow_csr(item, target, dtype)
            if error is not None:
                yield BlockError(error)
                return
            yield narrowed_block
            continue
        X = item.X.astype(target)
        if not np.isfinite(X).all():
            row, col = (int(v[0]) for v in np.nonzero(~np.isfinite(X)))
            value = float(item.X[row, col])
            yield BlockError(
                f"partition {item.partition}, row {item.start + row} of the partition, "
                f"column {col}: {value!r} does not fit {dtype} (largest magnitude "
                f"{float(np.finfo(target).max):.4g}); use dtype='float64'")
            return
        yield item._replace(X=X)


def _narrow_csr(item: Block, target: np.dtype[Any], dtype: str) -> tuple[Block, str | None]:
    """A sparse block with its stored values in ``target`` (its column indices and row
    starts as they are), or the error naming the first value that does not fit."""
    X: Any = item.X
    data = np.asarray(X.data).astype(target)
    if not np.isfinite(data).all():
        pos = int(np.flatnonzero(~np.isfinite(data))[0])
        return item, (
            f"partition {item.partition}, row {item.start + row_of(X.indptr, pos)} of the "
            f"partition, column {int(X.indices[pos])}: {float(X.data[pos])!r} does not fit "
            f"{dtype} (largest magnitude {float(np.finfo(target).max):.4g}); use "
            "dtype='float64'")
    return item._replace(X=csr(data, X.indices, X.indptr, X.shape[1])), None


def narrow_task(index: int, items: Iterable[Any], *, dtype: str) -> Iterator[Any]:
    """``mapPartitionsWithIndex`` form of :func:`narrow`."""
    return narrow(items, dtype)


def narrowed(batches: Iterable[Any], *args: Any, to_blocks: Any, dtype: str,
             **kwargs: Any) -> Iterator[Any]:
    """``to_blocks(batches, ...)`` (a conversion's block maker) with :func:`narrow` after it."""
    return narrow(to_blocks(batches, *args, **kwargs), dtype)
