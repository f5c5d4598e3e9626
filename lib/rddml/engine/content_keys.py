"""Counter-RNG keys from a row's values, for data that has no global row index.

The RDD backend draws each row's random numbers from ``(seed, stream, global row
index)`` (:mod:`rddml.engine.counter_rng`). A DataFrame has no stable global index: its row
order changes with repartitioning and shuffles. The DataFrame backend keys the same
counter RNG on a 64-bit hash of the row's *values* instead, so a seeded draw depends
only on the multiset of rows, never on partitioning, batch size or order.

The price: rows with identical values get the identical draw. A point repeated m
times is sampled like one point carrying its weight (not m independent chances), and
a mini-batch keeps or drops all copies together. For continuous data this never
matters; for data with many exact duplicates (one-hot features) the randomised
initialisations are still valid and reproducible, just not distributed exactly as
on the RDD backend.

NumPy only (no Spark), so it runs on executors and in tests alike.

Examples
--------
>>> import numpy as np
>>> X = np.array([[1.0, 2.0], [3.0, 4.0], [1.0, 2.0], [-0.0, 0.0]])
>>> keys = row_keys(X)
>>> bool(keys[0] == keys[2]), bool(keys[0] == keys[1])
(True, False)
>>> bool(row_keys(np.zeros((1, 2)))[0] == keys[3])  # -0.0 and 0.0 are the same value
True
"""

from __future__ import annotations

from typing import Any

import numpy as np

from rddml.engine.counter_rng import _GOLDEN, _MUL1, _MUL2

_START = np.uint64(0x243F6A8885A308D3)  # π's fraction: any odd constant works


_CHUNK = 8192  # rows hashed at a time: the scratch arrays stay in the CPU cache
_MASK = (1 << 64) - 1
_S30, _S27, _S31 = np.uint64(30), np.uint64(27), np.uint64(31)


def row_keys(X: np.ndarray, *extra: np.ndarray | None) -> np.ndarray:
    """A uint64 hash of each row of ``X`` (and of the given extra per-row columns).

    Each float64 is hashed by its bit pattern after ``+ 0.0`` (which turns -0.0 into
    0.0, so equal values give equal keys); columns are folded in one at a time with
    SplitMix64's finaliser. Computed in cache-sized chunks of rows with in-place
    arithmetic (no copy of the rows, no temporaries the size of a column).
    """
    columns, n = _columns(X, extra)
    keys = np.empty(n, dtype=np.uint64)
    value = np.empty(min(n, _CHUNK), dtype=np.float64)
    scratch = np.empty(min(n, _CHUNK), dtype=np.uint64)
    with np.errstate(over="ignore"):
        for lo in range(0, n, _CHUNK):
            hi = min(n, lo + _CHUNK)
            _hash_rows(columns, lo, hi, keys[lo:hi], value[:hi - lo], scratch[:hi - lo])
    return keys


def row_key_sums(X: np.ndarray, *extra: np.ndarray | None, salt: np.uint64) -> tuple[int, int]:
    """``(sum of row_keys, sum of SplitMix64(row_keys ^ salt))``, each modulo 2**64.

    The same two numbers as summing :func:`row_keys` and the mix of it, computed chunk
    by chunk in cache-sized scratch arrays: no array of keys for the whole input, and
    no temporaries the size of one (the content digest's cost per row).
    """
    columns, n = _columns(X, extra)
    size = min(n, _CHUNK)
    keys = np.empty(size, dtype=np.uint64)
    value = np.empty(size, dtype=np.float64)
    scratch = np.empty(size, dtype=np.uint64)
    first = second = 0
    with np.errstate(over="ignore"):
        for lo in range(0, n, _CHUNK):
            hi = min(n, lo + _CHUNK)
            k, t = keys[:hi - lo], scratch[:hi - lo]
            _hash_rows(columns, lo, hi, k, value[:hi - lo], t)
            first += int(k.sum(dtype=np.uint64))
            np.bitwise_xor(k, salt, out=k)
            _mix_inplace(k, t)
            second += int(k.sum(dtype=np.uint64))
    return first & _MASK, second & _MASK


def _columns(X: np.ndarray, extra: tuple[np.ndarray | None, ...]
             ) -> tuple[list[np.ndarray], int]:
    """The 2-D float64 column groups to hash (features, then each extra column) and
    the number of rows."""
    X = np.asarray(X, dtype=np.float64)
    columns = [X if X.ndim == 2 else X.reshape(len(X), -1)]
    columns += [np.asarray(e, dtype=np.float64).reshape(-1, 1) for e in extra if e is not None]
    return columns, columns[0].shape[0]


def _hash_rows(columns: list[np.ndarray], lo: int, hi: int, k: np.ndarray,
               v: np.ndarray, t: np.ndarray) -> None:
    """Fill ``k`` with the keys of rows ``lo:hi`` (``v``, ``t``: scratch of that length)."""
    b = v.view(np.uint64)
    k[:] = _START
    for block in columns:
        for j in range(block.shape[1]):
            np.add(block[lo:hi, j], 0.0, out=v)
            np.multiply(k, _GOLDEN, out=k)
            np.bitwise_xor(k, b, out=k)
            _mix_inplace(k, t)


def _mix_inplace(z: np.ndarray, t: np.ndarray) -> None:
    """:func:`~rddml.engine.counter_rng._mix` of ``z`` in place (``t``: scratch)."""
    np.right_shift(z, _S30, out=t)
    np.bitwise_xor(z, t, out=z)
    np.multiply(z, _MUL1, out=z)
    np.right_shift(z, _S27, out=t)
    np.bitwise_xor(z, t, out=z)
    np.multiply(z, _MUL2, out=z)
    np.right_shift(z, _S31, out=t)
    np.bitwise_xor(z, t, out=z)


# ------------------------------------------------------- layout-independent keys
#: Salt of a column's key in :func:`value_keys` (any odd constant works: e's fraction).
_COLUMN_SALT = np.uint64(0xB7E151628AED2A6B)
_ROW_START = np.uint64(0x13198A2E03707344)


def _column_keys(columns: np.ndarray) -> np.ndarray:
    """A uint64 key per column index (vectorised SplitMix64 of the salted index)."""
    with np.errstate(over="ignore"):
        z = columns.astype(np.uint64) * _GOLDEN
        z ^= _COLUMN_SALT
        t = np.empty_like(z)
        _mix_inplace(z, t)
    return z


def value_keys(X: Any, *extra: np.ndarray | None) -> np.ndarray:
    """A uint64 hash of each row's non-zero values, the same for a dense matrix and the
    CSR layout of the same rows (and of the given extra per-row columns).

    Each non-zero entry ``(j, v)`` contributes ``mix(bits(v + 0.0) ^ key(j)) −
    mix(key(j))`` to a sum modulo 2**64 (so a zero, or an explicitly stored zero of a CSR
    matrix, contributes nothing, and -0.0 counts as 0.0), then the sum is mixed once;
    extra columns are folded in one at a time as :func:`row_keys` folds columns.
    Where :func:`row_keys` chains every column in order (so it would have to walk every
    zero of a sparse row), this one only sums over the stored values: the row keys of
    the DataFrame backend's random draws, whatever the layout.
    """
    if getattr(X, "format", None) == "csr":
        acc = _sparse_value_sums(X)
    else:
        acc = _dense_value_sums(np.asarray(X, dtype=np.float64))
    with np.errstate(over="ignore"):
        acc += _ROW_START
        t = np.empty_like(acc)
        _mix_inplace(acc, t)
        value = np.empty(acc.shape[0], dtype=np.float64)
        bits = value.view(np.uint64)
        for e in extra:
            if e is None:
                continue
            np.add(np.asarray(e, dtype=np.float64), 0.0, out=value)
            np.multiply(acc, _GOLDEN, out=acc)
            np.bitwise_xor(acc, bits, out=acc)
            _mix_inplace(acc, t)
    return acc


def value_key_sums(X: Any, *extra: np.ndarray | None, salt: np.uint64) -> tuple[int, int]:
    """``(sum of value_keys, sum of SplitMix64(value_keys ^ salt))``, each modulo 2**64:
    the content digest of sparse blocks (see :func:`row_key_sums` for dense ones)."""
    keys = value_keys(X, *extra)
    with np.errstate(over="ignore"):
        first = int(keys.sum(dtype=np.uint64))
        np.bitwise_xor(keys, salt, out=keys)
        _mix_inplace(keys, np.empty_like(keys))
        second = int(keys.sum(dtype=np.uint64))
    return first & _MASK, second & _MASK


def _entry_terms(values: np.ndarray, column_keys: np.ndarray) -> np.ndarray:
    """``mix(bits(v + 0.0) ^ key) − mix(key)`` for each entry (uint64, wrapping)."""
    v = np.add(values, 0.0)
    z = v.view(np.uint64) ^ column_keys
    t = np.empty_like(z)
    _mix_inplace(z, t)
    base = column_keys.copy()
    _mix_inplace(base, t)
    z -= base
    return z


def _sparse_value_sums(X: Any) -> np.ndarray:
    n = X.shape[0]
    acc = np.zeros(n, dtype=np.uint64)
    if X.nnz == 0:
        return acc
    with np.errstate(over="ignore"):
        terms = _entry_terms(np.asarray(X.data, dtype=np.float64),
                             _column_keys(np.asarray(X.indices)))
    lengths = np.diff(np.asarray(X.indptr))
    nonempty = lengths > 0
    acc[nonempty] = np.add.reduceat(terms, np.asarray(X.indptr[:-1])[nonempty])
    return acc


def _dense_value_sums(X: np.ndarray) -> np.ndarray:
    if X.ndim == 1:
        X = X.reshape(len(X), -1)
    n, d = X.shape
    acc = np.zeros(n, dtype=np.uint64)
    keys = _column_keys(np.arange(d))
    with np.errstate(over="ignore"):
        for lo in range(0, n, _CHUNK):
            hi = min(n, lo + _CHUNK)
            out = acc[lo:hi]
            for j in range(d):
                out += _entry_terms(X[lo:hi, j], np.full(hi - lo, keys[j]))
    return acc
