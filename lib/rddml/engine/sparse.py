"""Sparse blocks: features held as CSR matrices, for data that is mostly zeros.

Text features (``HashingTF``/``CountVectorizer`` → ``IDF``), one-hot encodings over many
categories and libsvm files have thousands to millions of columns and a few dozen
non-zeros per row. A dense block of them would be almost all zeros (a row of 2^18
features is 2 MiB), so such inputs are cut into blocks whose features are a
``scipy.sparse.csr_matrix``: three arrays, the non-zero values (float64), their column
indices (int32) and each row's start in them (int32), about 12 bytes per non-zero.

A block's layout is its features' type: :func:`is_sparse`. Every pass works on either;
the kernels of a sparse block (:mod:`rddml.linear.sparse_kernels`,
:mod:`rddml.cluster.sparse_kernels`) never form a dense row.

Every CSR block the engine makes is *canonical*: in each row the column indices are
strictly increasing (sorted, no duplicates) and within ``[0, n_features)``, and every
value is finite (:func:`check_csr`). Its matrix is flagged as such, so SciPy never
re-sorts it in place, which matters because executor storage memory-maps the arrays
read-only.

NumPy and SciPy only.

Examples
--------
>>> import numpy as np
>>> X = csr_from_dense(np.array([[0.0, 2.0, 0.0], [1.0, 0.0, 3.0]]))
>>> X.indptr.tolist(), X.indices.tolist(), X.data.tolist()
([0, 1, 3], [1, 0, 2], [2.0, 1.0, 3.0])
>>> is_sparse(X), is_sparse(X.toarray())
(True, False)
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

#: What a ``layout`` parameter takes: ``"auto"`` (sparse for sparse inputs: a
#: ``SparseVector`` column, a libsvm file, SciPy sparse arrays), or either layout forced.
LAYOUTS = ("auto", "dense", "sparse")

#: Rows per sparse block by default (at least the dense default for the width): a block
#: of text features (tens of non-zeros per row) then holds a few MiB, and a pass's fixed
#: costs per block (a d-long gradient, a k x d partial) are paid every 8192 rows, not
#: every 1024 as the dense rule would give for 2^18 columns.
SPARSE_BLOCK_ROWS = 8192

#: Names a row for an error message, from its index within a slice.
RowNamer = Callable[[int], str]


def is_sparse(X: Any) -> bool:
    """Whether a block's features are a CSR matrix (SciPy's ``csr_matrix``/``csr_array``)."""
    return getattr(X, "format", None) == "csr"


def index_dtype(n_features: int, nnz: int) -> type[np.signedinteger[Any]]:
    """int32 while both the width and the non-zeros fit (SciPy then keeps the arrays as
    they are instead of converting them), int64 beyond."""
    return np.int32 if max(n_features, nnz) < 2**31 - 1 else np.int64


def csr(data: np.ndarray, indices: np.ndarray, indptr: np.ndarray, n_features: int) -> Any:
    """A ``csr_matrix`` over the three arrays, without copying them, flagged canonical.

    The arrays must already be canonical (see the module docstring); the flags keep SciPy
    from checking (or sorting in place) read-only memory-mapped arrays.
    """
    from scipy.sparse import csr_matrix

    m = csr_matrix((data, indices, indptr), shape=(len(indptr) - 1, int(n_features)),
                   copy=False)
    m.has_sorted_indices = True
    m.has_canonical_format = True
    return m


def empty_csr(n_features: int) -> Any:
    """A CSR matrix of no rows."""
    return csr(np.zeros(0), np.zeros(0, np.int32), np.zeros(1, np.int32), n_features)


def csr_from_dense(X: np.ndarray) -> Any:
    """The CSR layout of a dense matrix (its zeros left out, -0.0 included)."""
    X = np.asarray(X, dtype=np.float64)
    n, d = X.shape
    mask = X != 0.0
    counts = mask.sum(axis=1)
    nnz = int(counts.sum())
    itype = index_dtype(d, nnz)
    indptr = np.zeros(n + 1, dtype=itype)
    np.cumsum(counts, out=indptr[1:])
    rows, cols = np.nonzero(mask)
    return csr(X[rows, cols], cols.astype(itype), indptr, d)


def canonical(X: Any) -> Any:
    """A SciPy sparse matrix as a canonical CSR matrix with float64 values and the
    engine's index dtype (duplicates summed, indices sorted)."""
    from scipy.sparse import csr_matrix

    m = csr_matrix(X, dtype=np.float64, copy=True)
    m.sum_duplicates()
    m.sort_indices()
    itype = index_dtype(m.shape[1], m.nnz)
    return csr(m.data, m.indices.astype(itype, copy=False), m.indptr.astype(itype, copy=False),
               m.shape[1])


def vstack(pieces: Sequence[Any], n_features: int) -> Any:
    """Rows of several canonical CSR matrices, in order, as one (one copy of each array)."""
    if len(pieces) == 1:
        return pieces[0]
    if not pieces:
        return empty_csr(n_features)
    nnz = sum(int(p.nnz) for p in pieces)
    itype = index_dtype(n_features, nnz)
    data = np.concatenate([p.data for p in pieces]).astype(np.float64, copy=False)
    indices = np.concatenate([p.indices for p in pieces]).astype(itype, copy=False)
    indptr = np.zeros(sum(p.shape[0] for p in pieces) + 1, dtype=itype)
    row = 0
    base = 0
    for p in pieces:
        n = p.shape[0]
        indptr[row + 1:row + n + 1] = np.asarray(p.indptr[1:], dtype=np.int64) + base
        row += n
        base += int(p.nnz)
    return csr(data, indices, indptr, n_features)


def row_slice(X: Any, lo: int, hi: int) -> Any:
    """Rows ``lo:hi`` of a canonical CSR matrix (views of its arrays, a new indptr)."""
    a, b = int(X.indptr[lo]), int(X.indptr[hi])
    indptr = np.asarray(X.indptr[lo:hi + 1]) - X.indptr.dtype.type(a)
    return csr(X.data[a:b], X.indices[a:b], indptr, X.shape[1])


def nnz_rows(X: Any) -> np.ndarray:
    """The row of every stored value (length ``nnz``)."""
    return np.repeat(np.arange(X.shape[0]), np.diff(X.indptr))


def row_of(indptr: np.ndarray, position: int) -> int:
    """The row holding stored value number ``position``."""
    return int(np.searchsorted(indptr, position, side="right") - 1)


def check_csr(X: Any, where: RowNamer) -> None:
    """Raise ValueError naming the first row (by ``where``) that breaks the canonical
    form: a non-finite value, a column index out of ``[0, n_features)``, or indices
    that are not strictly increasing (unsorted, or repeated)."""
    data, indices, indptr = X.data, X.indices, X.indptr
    d = X.shape[1]
    if indices.size == 0:
        return
    with np.errstate(over="ignore", invalid="ignore"):
        finite = bool(np.isfinite(np.sum(data)))
    if not finite:
        pos = int(np.flatnonzero(~np.isfinite(data))[0])
        raise ValueError(
            f"{where(row_of(indptr, pos))} has a non-finite value {float(data[pos])!r} in "
            f"feature {int(indices[pos])}; expected finite numbers")
    low, high = int(indices.min()), int(indices.max())
    if low < 0 or high >= d:
        pos = int(np.flatnonzero((indices < 0) | (indices >= d))[0])
        raise ValueError(
            f"{where(row_of(indptr, pos))} has the feature index {int(indices[pos])}, "
            f"outside 0 .. {d - 1} (the vectors have {d} features)")
    step = np.diff(indices.astype(np.int64))
    starts = np.zeros(indices.size, dtype=bool)
    starts[np.asarray(indptr[:-1])[np.diff(indptr) > 0]] = True
    bad = (step <= 0) & ~starts[1:]
    if bad.any():
        pos = int(np.flatnonzero(bad)[0]) + 1
        prev, cur = int(indices[pos - 1]), int(indices[pos])
        what = (f"repeats the feature index {cur}" if cur == prev else
                f"has the feature index {cur} after {prev}")
        raise ValueError(
            f"{where(row_of(indptr, pos))} {what}; the indices of a sparse vector must be "
            "strictly increasing")


def row_norms_sq(X: Any) -> np.ndarray:
    """‖x‖² of every row of a CSR matrix."""
    sq = np.asarray(X.data, dtype=np.float64) ** 2
    return segment_sums(sq, X.indptr)


def segment_sums(values: np.ndarray, indptr: np.ndarray) -> np.ndarray:
    """Per-row sums of a CSR matrix's stored ``values`` (empty rows give 0), each row
    summed on its own (``np.add.reduceat``: no prefix sums, which would lose the
    precision of small rows after large ones)."""
    n = len(indptr) - 1
    out = np.zeros(n, dtype=values.dtype)
    lengths = np.diff(np.asarray(indptr))
    nonempty = lengths > 0
    if values.size:
        out[nonempty] = np.add.reduceat(values, np.asarray(indptr[:-1])[nonempty])
    return out


def sparse_block_rows(n_features: int, dense_rows: int) -> int:
    """Rows per sparse block: :data:`SPARSE_BLOCK_ROWS`, or the dense rule's
    ``dense_rows`` when that is larger (few columns)."""
    return max(int(dense_rows), SPARSE_BLOCK_ROWS) if n_features else SPARSE_BLOCK_ROWS


def to_dense_rows(X: Any) -> np.ndarray:
    """The rows as a dense float64 matrix (for the few rows a driver keeps: samples,
    far points)."""
    if is_sparse(X):
        return np.asarray(X.toarray(), dtype=np.float64)
    return np.asarray(X, dtype=np.float64)


# ------------------------------------------------------------ block files
#: The arrays of a stored CSR block, each its own ``.npy`` file next to the labels.
CSR_PARTS = ("data", "indices", "indptr")


def save_csr(stem: str, X: Any) -> None:
    """Write a CSR block as ``<stem>.data.npy``, ``.indices.npy`` and ``.indptr.npy``
    (values float32 when the block's are, else float64; indices as they are: int32
    unless the block needs int64). Executor storage opens them again through its
    checked memory maps (:meth:`rddml.engine.storage.WorkerMaps.open_csr`)."""
    dtype = np.float32 if X.data.dtype == np.float32 else np.float64
    arrays = (np.ascontiguousarray(X.data, dtype=dtype), np.ascontiguousarray(X.indices),
              np.ascontiguousarray(X.indptr))
    for part, array in zip(CSR_PARTS, arrays):
        with open(f"{stem}.{part}.npy", "wb") as f:
            np.save(f, array, allow_pickle=False)
