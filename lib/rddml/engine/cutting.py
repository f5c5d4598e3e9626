"""Cutting a partition's rows into blocks: the one place that decides block boundaries.

Every conversion (RDD records, Arrow batches from a DataFrame or a Parquet file, parsed
text, arrays on the driver) feeds its rows, a slice at a time, to a :class:`BlockCutter`,
which copies them into preallocated blocks of exactly ``max_rows`` rows (the last block
of a partition holds the rest). A block's boundaries therefore depend only on the rows
and the block size, never on how the rows arrived (batch sizes, text chunks, file
splits), so every reader of the same rows makes the same blocks, and a fit gives the
same result bit for bit whichever way its data came in.

NumPy only.

Examples
--------
>>> import numpy as np
>>> cutter = BlockCutter(partition=0, max_rows=2, has_y=False, has_w=False)
>>> blocks = [*cutter.add(np.arange(6.0).reshape(3, 2), None, None), *cutter.flush()]
>>> [(b.start, b.X.shape[0]) for b in blocks]
[(0, 2), (2, 1)]
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from functools import partial

import numpy as np

import rddml.engine.sparse as sparse
from rddml.engine.records import Block

#: Aim for blocks of about 4 MiB of features: large enough that NumPy's per-call
#: overhead vanishes, small enough that an (n, k) distance matrix stays cheap.
TARGET_BLOCK_BYTES = 4 * 1024 * 1024

#: Names a row for an error message, from its index within the partition.
RowNamer = Callable[[int], str]


def default_block_rows(n_features: int) -> int:
    """Rows per block for a given number of features."""
    return max(1024, TARGET_BLOCK_BYTES // (8 * max(1, n_features)))


def partition_row(r: int, *, base: int = 0) -> str:
    """``"row N of the partition"``: how Arrow and array conversions name a row."""
    return f"row {base + r} of the partition"


def check_finite(X: np.ndarray, where: RowNamer, what: str = "features") -> None:
    """Raise ValueError naming the first row (and feature) holding NaN or ±Inf.

    ``where(r)`` names row ``r`` of ``X`` (a matrix of features, or a vector of labels or
    weights named by ``what``).
    """
    with np.errstate(over="ignore", invalid="ignore"):
        if np.isfinite(np.sum(X)):  # NaN or ±Inf anywhere makes the sum non-finite
            return
    bad = ~np.isfinite(X)
    if not bad.any():
        return
    if bad.ndim == 2:
        row = int(np.flatnonzero(bad.any(axis=1))[0])
        col = int(np.flatnonzero(bad[row])[0])
        raise ValueError(
            f"{where(row)} has a non-finite value {float(X[row, col])!r} in feature {col}; "
            "expected finite numbers"
        )
    row = int(np.flatnonzero(bad)[0])
    raise ValueError(f"{where(row)} has a non-finite {what} {float(X[row])!r}; expected a "
                     "finite number")


class BlockCutter:
    """Copies a partition's rows into blocks of ``max_rows`` rows (default
    :func:`default_block_rows` of the first slice's width).

    Feed slices with :meth:`add` (each yields the blocks it fills) and end with
    :meth:`flush`. A slice is a features matrix, or a sequence of feature columns (as
    Arrow hands them over: copied column by column, never stacked first), with optional
    label and weight vectors.

    ``where`` names a row of the partition in error messages. When ``check`` is true,
    every copied row is checked for NaN/±Inf (raising ValueError with that name); readers
    that have checked their rows already (text, with file offsets) pass False. Every slice
    must have the partition's number of features, at least one.

    ``layout``: ``"dense"`` blocks hold an ndarray; ``"sparse"`` blocks a canonical CSR
    matrix (:mod:`rddml.engine.sparse`, default :func:`~rddml.engine.sparse.sparse_block_rows`
    rows); ``"auto"`` takes the layout of the first slice (a SciPy sparse slice makes
    sparse blocks). A slice of the other layout is converted. Sparse slices are always
    checked for canonical form (sorted, distinct, in-range indices); ``check`` adds the
    finite-value check.
    """

    def __init__(self, partition: int, max_rows: int | None, has_y: bool, has_w: bool, *,
                 where: RowNamer = partition_row, check: bool = True,
                 layout: str = "dense") -> None:
        self.partition = partition
        self.max_rows = max_rows
        self.has_y, self.has_w = has_y, has_w
        self.where = where
        self.check = check
        self.layout = layout
        # Sparse blocks are made of the slices' row ranges, stacked when a block is full.
        self._pieces: list[tuple[object, np.ndarray | None, np.ndarray | None]] = []
        self.d: int | None = None
        self.limit = 0
        self.start = 0  # partition row of the current block's first row
        self.filled = 0
        self.X = self.y = self.w = np.empty(0)
        self._open_block = False  # no block allocated until a row arrives for it

    @property
    def rows(self) -> int:
        """Rows added so far."""
        return self.start + self.filled

    def _open(self) -> None:
        self.X = np.empty((self.limit, self.d or 0), dtype=np.float64)
        self.y = np.empty(self.limit if self.has_y else 0, dtype=np.float64)
        self.w = np.empty(self.limit if self.has_w else 0, dtype=np.float64)
        self.filled = 0
        self._open_block = True

    def add(self, X: np.ndarray | Sequence[np.ndarray], y: np.ndarray | None,
            w: np.ndarray | None, n: int | None = None) -> Iterator[Block]:
        """Copy ``n`` rows (default: all of ``X``'s) in; yield every block that fills up."""
        if self.layout == "auto":
            self.layout = "sparse" if sparse.is_sparse(X) else "dense"
        if self.layout == "sparse":
            yield from self._add_sparse(X, y, w, n)
            return
        if sparse.is_sparse(X):
            X = sparse.to_dense_rows(X if n is None else sparse.row_slice(X, 0, n))
        columns = not isinstance(X, np.ndarray)
        if n is None:
            n = len(X[0]) if columns else int(X.shape[0])  # type: ignore[union-attr]
        if not n:
            return
        d = len(X) if columns else int(X.shape[1])  # type: ignore[union-attr]
        if self.d is None:
            if d == 0:
                raise ValueError(f"{self.where(self.rows)} has no features")
            self.d, self.limit = d, self.max_rows or default_block_rows(d)
        elif d != self.d:
            raise ValueError(f"{self.where(self.rows)} has {d} features, expected "
                             f"{self.d} like the first row of the partition")
        pos = 0
        while pos < n:
            if not self._open_block:
                self._open()
            take = min(n - pos, self.limit - self.filled)
            lo, hi = self.filled, self.filled + take
            seg = self.X[lo:hi]
            if columns:
                for j, col in enumerate(X):
                    seg[:, j] = col[pos:pos + take]
            else:
                seg[:] = X[pos:pos + take]
            where = partial(_shifted, where=self.where, base=self.start + lo)
            if self.check:
                check_finite(seg, where)
            if y is not None:
                self.y[lo:hi] = y[pos:pos + take]
                if self.check:
                    check_finite(self.y[lo:hi], where, "label")
            if w is not None:
                self.w[lo:hi] = w[pos:pos + take]
                if self.check:
                    check_finite(self.w[lo:hi], where, "weight")
            self.filled = hi
            pos += take
            if self.filled == self.limit:
                yield from self.flush()

    def _add_sparse(self, X: object, y: np.ndarray | None, w: np.ndarray | None,
                    n: int | None) -> Iterator[Block]:
        """:meth:`add` for sparse blocks: check the slice, keep its row ranges."""
        if not sparse.is_sparse(X):
            X = sparse.csr_from_dense(_as_matrix(X))
        rows = int(X.shape[0]) if n is None else n  # type: ignore[attr-defined]
        if not rows:
            return
        d = int(X.shape[1])  # type: ignore[attr-defined]
        if self.d is None:
            if d == 0:
                raise ValueError(f"{self.where(self.rows)} has no features")
            self.d = d
            self.limit = self.max_rows or sparse.sparse_block_rows(d, default_block_rows(d))
        elif d != self.d:
            raise ValueError(f"{self.where(self.rows)} has {d} features, expected "
                             f"{self.d} like the first row of the partition")
        where = partial(_shifted, where=self.where, base=self.rows)
        X = sparse.row_slice(X, 0, rows)
        sparse.check_csr(X, where)  # canonical form always; its values are finite then too
        for v, what in ((y, "label"), (w, "weight")):
            if v is not None and self.check:
                check_finite(np.asarray(v[:rows], dtype=np.float64), where, what)
        pos = 0
        while pos < rows:
            take = min(rows - pos, self.limit - self.filled)
            self._pieces.append((sparse.row_slice(X, pos, pos + take),
                                 None if y is None else np.asarray(y[pos:pos + take]),
                                 None if w is None else np.asarray(w[pos:pos + take])))
            self.filled += take
            pos += take
            if self.filled == self.limit:
                yield from self.flush()

    def _flush_sparse(self) -> Iterator[Block]:
        k = self.filled
        X = sparse.vstack([p[0] for p in self._pieces], self.d or 0)
        y = (np.concatenate([np.asarray(p[1], dtype=np.float64) for p in self._pieces])
             if self.has_y else None)
        w = (np.concatenate([np.asarray(p[2], dtype=np.float64) for p in self._pieces])
             if self.has_w else None)
        if len(self._pieces) == 1:  # a view of the slice: copy it so it holds only its rows
            X = sparse.csr(np.array(X.data, dtype=np.float64), np.array(X.indices),
                           np.array(X.indptr), X.shape[1])
        self._pieces = []
        yield Block(self.partition, self.start, X, y, w)
        self.start += k
        self.filled = 0

    def flush(self) -> Iterator[Block]:
        """The partly filled block, if any (the partition's last)."""
        if not self.filled:
            return
        if self.layout == "sparse":
            yield from self._flush_sparse()
            return
        k = self.filled
        # The last, partial block of a partition is copied so it holds only its rows.
        X, y, w = (self.X, self.y, self.w) if k == self.limit else (
            self.X[:k].copy(), self.y[:k].copy(), self.w[:k].copy())
        yield Block(self.partition, self.start, X, y if self.has_y else None,
                    w if self.has_w else None)
        self.start += k
        self.filled = 0
        self._open_block = False


def _shifted(r: int, *, where: RowNamer, base: int) -> str:
    return where(base + r)


def _as_matrix(X: object) -> np.ndarray:
    """A dense slice (a matrix, or a sequence of feature columns) as an (n, d) matrix."""
    if isinstance(X, np.ndarray):
        return X
    columns = [np.asarray(c, dtype=np.float64) for c in X]  # type: ignore[attr-defined]
    return np.column_stack(columns) if columns else np.zeros((0, 0))
