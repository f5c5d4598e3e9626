"""The libsvm text format, as Spark reads it: bytes of lines in, sparse rows or a line error out.

One row per line: a label, then ``index:value`` pairs separated by whitespace, with
1-based feature indices in strictly increasing order::

    1 3:0.5 10:1.25 11:-2
    0 1:1 4:0.5

As Spark's ``MLUtils.loadLibSVMFile`` (and its ``libsvm`` data source): a line is
trimmed, and a blank line or one starting with ``#`` is no row; indices become 0-based;
without a given ``numFeatures`` the width is the largest index in the data. Beyond
Spark, which accepts any number Java parses, every label and value must be finite, and
a problem is reported by file and line with the offending field: an index that is not
a positive integer (0 and negative indices included), indices that are not strictly
increasing (unsorted or repeated), an index beyond ``numFeatures``, a NaN or infinite
value, a field that is not ``index:value``.

A chunk of whole lines is parsed by a few vectorised pyarrow calls (splitting on
whitespace and ``:``, casting to numbers) and checked with NumPy; only a chunk that
pyarrow refuses goes line by line through :func:`explain_line`, which finds and
explains the bad line. Lines and byte offsets follow Hadoop's rules, as in
:mod:`rddml.data.text_format` (whose splits this format reuses).

NumPy and pyarrow only (no Spark): :mod:`rddml.engine.sources.libsvm` runs it in tasks.

Examples
--------
>>> piece = parse_chunk(b"1 1:0.5 3:2\\n# a comment\\n0 2:-1\\n", 0, n_features=None)
>>> piece.labels.tolist(), piece.indptr.tolist(), piece.indices.tolist(), piece.values.tolist()
([1.0, 0.0], [0, 2, 3], [0, 2, 1], [0.5, 2.0, -1.0])
>>> piece.offsets.tolist(), piece.n_lines
([0, 23], 3)
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Iterator
from typing import NamedTuple

import numpy as np

from rddml.data.text_format import LineError, TextSplit, decode_lines, split_chunks

#: Lines per parsing call of the Hadoop path (which receives lines one by one).
CHUNK_LINES = 8192


class SparsePiece(NamedTuple):
    """Rows parsed from consecutive lines: CSR arrays (0-based indices), labels, and the
    byte offset of each row's line."""

    labels: np.ndarray
    indptr: np.ndarray
    indices: np.ndarray
    values: np.ndarray
    offsets: np.ndarray
    n_lines: int

    @property
    def n_rows(self) -> int:
        return int(self.labels.shape[0])

    @property
    def max_index(self) -> int:
        """The largest 0-based index (-1 without any stored value)."""
        return int(self.indices.max()) if self.indices.size else -1


def _empty(n_lines: int = 0) -> SparsePiece:
    return SparsePiece(np.zeros(0), np.zeros(1, np.int64), np.zeros(0, np.int64), np.zeros(0),
                       np.zeros(0, np.int64), n_lines)


# ---------------------------------------------------------------- one line
def _is_float(text: str) -> float | None:
    """``float(text)`` for a number Java's ``Double.parseDouble`` would also read
    (no ``_`` digit separators), else None."""
    if "_" in text:
        return None
    try:
        return float(text)
    except ValueError:
        return None


def explain_line(line: str, n_features: int | None) -> str | None:
    """Why a non-blank, non-comment line is not a libsvm row, or None when it is one."""
    fields = line.split()
    label = _is_float(fields[0])
    if label is None:
        return (f"the label {fields[0][:40]!r} is not a number (expected: label "
                "index:value ...)")
    if not math.isfinite(label):
        return f"the label is {fields[0]!r}; only finite numbers are accepted"
    previous = 0
    for field in fields[1:]:
        index_text, colon, value_text = field.partition(":")
        if not colon or ":" in value_text:
            return f"the field {field[:40]!r} is not index:value"
        try:
            index = int(index_text)
        except ValueError:
            return (f"the index {index_text[:40]!r} in {field[:40]!r} is not an integer "
                    "(libsvm indices are 1-based integers)")
        if index < 1:
            what = "is 0" if index == 0 else "is negative"
            return f"the index {index} {what}: libsvm indices are 1-based (1, 2, ...)"
        if index <= previous:
            what = "repeats" if index == previous else f"comes after the index {previous}"
            return (f"the index {index} {what}: indices must be strictly increasing "
                    "within a line")
        if n_features is not None and index > n_features:
            return (f"the index {index} is out of range: numFeatures is {n_features} "
                    f"(indices 1 .. {n_features})")
        value = _is_float(value_text)
        if value is None:
            return f"the value {value_text[:40]!r} of index {index} is not a number"
        if not math.isfinite(value):
            return (f"the value of index {index} is {value_text!r}; only finite numbers "
                    "are accepted")
        previous = index
    return None


def _skipped(line: str) -> bool:
    text = line.strip()
    return not text or text.startswith("#")


def _parse_lines(lines: list[tuple[int, str]], n_features: int | None) -> SparsePiece:
    """The slow path, only for a chunk pyarrow refused: parse line by line, raising
    :class:`LineError` at the first bad line."""
    labels: list[float] = []
    indptr = [0]
    indices: list[int] = []
    values: list[float] = []
    offsets: list[int] = []
    for offset, line in lines:
        if _skipped(line):
            continue
        reason = explain_line(line, n_features)
        if reason is not None:
            raise LineError(reason, offset)
        fields = line.split()
        labels.append(float(fields[0]))
        for field in fields[1:]:
            index_text, _, value_text = field.partition(":")
            indices.append(int(index_text) - 1)
            values.append(float(value_text))
        indptr.append(len(indices))
        offsets.append(offset)
    return SparsePiece(np.array(labels, dtype=np.float64), np.array(indptr, dtype=np.int64),
                       np.array(indices, dtype=np.int64), np.array(values, dtype=np.float64),
                       np.array(offsets, dtype=np.int64), len(lines))


# ---------------------------------------------------------------- a chunk
def _line_starts(raw: np.ndarray) -> np.ndarray:
    """Start offsets of the lines of a chunk of whole lines (Hadoop's terminators:
    ``\\n``, ``\\r\\n``, or a ``\\r`` not followed by ``\\n``)."""
    lf = raw == 10
    cr = raw == 13
    lone_cr = cr.copy()
    lone_cr[:-1] &= ~lf[1:]
    ends = np.flatnonzero(lf | lone_cr) + 1
    starts = np.concatenate([[0], ends[ends < raw.size]])
    return starts.astype(np.int64)


def parse_chunk(data: bytes, base: int, n_features: int | None) -> SparsePiece:
    """Parse a chunk of whole lines that starts at byte ``base`` of its file; raises
    :class:`~rddml.data.text_format.LineError` (with the bad line's offset) for the
    first bad line. ``n_features``: ``numFeatures`` when given (indices beyond it are
    errors)."""
    if not data:
        return _empty()
    raw = np.frombuffer(data, dtype=np.uint8)
    starts = _line_starts(raw)
    piece = _arrow_parse(data, starts, base, n_features)
    if piece is not None:
        return piece
    return _parse_lines(decode_lines(data, base), n_features)


def _arrow_parse(data: bytes, starts: np.ndarray, base: int,
                 n_features: int | None) -> SparsePiece | None:
    """The vectorised parse, or None when pyarrow refuses the chunk or a check fails (the
    caller then explains it line by line)."""
    import pyarrow as pa
    import pyarrow.compute as pc

    n_lines = int(starts.size)
    bounds = np.append(starts, len(data)).astype(np.int32 if len(data) < 2**31 else np.int64)
    string_type = pa.string() if bounds.dtype == np.int32 else pa.large_string()
    try:
        lines = pa.Array.from_buffers(string_type, n_lines,
                                      [None, pa.py_buffer(bounds), pa.py_buffer(data)])
        lines.validate(full=True)  # valid UTF-8, else the slow path decodes as Hadoop does
        tokens = pc.utf8_split_whitespace(lines)
    except (pa.ArrowInvalid, pa.ArrowTypeError):
        return None
    counts = np.asarray(pc.list_value_length(tokens).fill_null(0), dtype=np.int64)
    flat = tokens.flatten()
    firsts = np.concatenate([[0], np.cumsum(counts)[:-1]]).astype(np.int64)
    has_tokens = counts > 0
    first_tokens = flat.take(pa.array(firsts[has_tokens]))
    comment = np.asarray(pc.starts_with(first_tokens, "#"), dtype=bool)
    rows = np.flatnonzero(has_tokens)[~comment]
    if rows.size == 0:
        return _empty(n_lines)
    label_at = firsts[rows]
    n_feat = counts[rows] - 1
    feature_at = np.repeat(label_at + 1 - np.concatenate([[0], np.cumsum(n_feat)[:-1]]),
                           n_feat) + np.arange(int(n_feat.sum()))
    try:
        labels = np.asarray(pc.cast(flat.take(pa.array(label_at)), pa.float64()),
                            dtype=np.float64)
        pairs = pc.split_pattern(flat.take(pa.array(feature_at)), ":")
        if n_feat.sum() and not np.all(np.asarray(pc.list_value_length(pairs)) == 2):
            return None
        parts = pairs.flatten()
        index = np.asarray(pc.cast(parts.take(pa.array(np.arange(0, len(parts), 2))),
                                   pa.int64()), dtype=np.int64)
        values = np.asarray(pc.cast(parts.take(pa.array(np.arange(1, len(parts), 2))),
                                    pa.float64()), dtype=np.float64)
    except (pa.ArrowInvalid, pa.ArrowTypeError, pa.ArrowNotImplementedError):
        return None
    indptr = np.concatenate([[0], np.cumsum(n_feat)]).astype(np.int64)
    if not _valid(labels, indptr, index, values, n_features):
        return None
    return SparsePiece(labels, indptr, index - 1, values, base + starts[rows], n_lines)


def _valid(labels: np.ndarray, indptr: np.ndarray, index: np.ndarray, values: np.ndarray,
           n_features: int | None) -> bool:
    """Whether every parsed row passes the format's checks (else the slow path finds and
    explains the first bad line)."""
    if not (np.isfinite(labels).all() and np.isfinite(values).all()):
        return False
    if index.size == 0:
        return True
    if int(index.min()) < 1 or (n_features is not None and int(index.max()) > n_features):
        return False
    starts = np.zeros(index.size, dtype=bool)
    starts[indptr[:-1][np.diff(indptr) > 0]] = True
    return bool(np.all((np.diff(index) > 0) | starts[1:]))


# ---------------------------------------------------------------- streams
def split_pieces(splits: Iterable[TextSplit], n_features: int | None) -> Iterator[SparsePiece]:
    """Parsed pieces of the lines of local file splits (the direct path)."""
    for split in splits:
        for base, data in split_chunks(split):
            if base == 0 and data.startswith(b"\xef\xbb\xbf"):
                # Hadoop drops a byte-order mark at the file's start: blank it (offsets stay).
                data = b"   " + data[3:]
            yield parse_chunk(data, base, n_features)


def hadoop_pieces(records: Iterable[tuple[int, str]], n_features: int | None
                  ) -> Iterator[SparsePiece]:
    """Parsed pieces of (byte offset, line) pairs from Hadoop's TextInputFormat."""
    chunk: list[tuple[int, str]] = []
    for record in records:
        chunk.append(record)
        if len(chunk) >= CHUNK_LINES:
            yield _parse_record_chunk(chunk, n_features)
            chunk = []
    if chunk:
        yield _parse_record_chunk(chunk, n_features)


def _parse_record_chunk(chunk: list[tuple[int, str]], n_features: int | None) -> SparsePiece:
    data = "\n".join(line for _, line in chunk).encode("utf-8", "replace") + b"\n"
    piece = _arrow_parse(data, _line_starts(np.frombuffer(data, dtype=np.uint8)), 0,
                         n_features)
    if piece is None or piece.n_lines != len(chunk):
        return _parse_lines(chunk, n_features)
    # Map the joined text's line starts back to the lines' own offsets.
    starts = _line_starts(np.frombuffer(data, dtype=np.uint8))
    line_no = np.searchsorted(starts, piece.offsets)
    offsets = np.array([offset for offset, _ in chunk], dtype=np.int64)[line_no]
    return piece._replace(offsets=offsets)
