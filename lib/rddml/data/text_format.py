"""The write-ups' delimited text formats: bytes of lines in, NumPy rows or a line error out.

Two formats, both without a header:

- points for k-means: ``x,y`` — one point per line, comma-separated;
- labelled rows for logistic regression: features then a 0/1 label, separated by
  whitespace, as ``numpy.savetxt`` writes them.

Lines follow Hadoop's rules (``\n``, ``\r\n`` or ``\r`` ends a line; a split owns the
lines starting in ``(start, end]``; a byte-order mark at the file's start is dropped), so
a Python task reading a byte range of a local file (:class:`TextSplit`,
:func:`split_chunks`) sees the lines, at the same byte offsets, that Hadoop's
TextInputFormat gives. A chunk of lines is parsed by one ``pyarrow.csv`` call (correctly
rounded, like ``float``); only a chunk that pyarrow refuses (a bad line, or a spelling
``float`` takes and pyarrow does not: ``1_000``, tabs or repeated spaces between
whitespace-separated fields, ...) goes line by line through ``float``, which decides
every case and explains a bad line (:func:`explain_line`).

No Spark here: :mod:`rddml.engine.sources.text` plans the splits and runs these in the
tasks.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Iterator
from typing import BinaryIO, NamedTuple

import numpy as np

#: Lines per parsing call of the Hadoop path (which receives lines one by one).
CHUNK_LINES = 8192


#: Bytes per parsing call of the direct reader: large enough that pyarrow's per-call cost
#: vanishes, small enough to keep a task's memory flat.
CHUNK_BYTES = 2 << 20


#: A chunk with a bad line is halved until it is this small before the line-by-line
#: explanation runs, so a few bad lines in a large file cost little with "skip".
EXPLAIN_BYTES = 64 << 10


_BOM = b"\xef\xbb\xbf"


_TERMINATORS = re.compile(rb"\r\n|\r|\n")


class LineError(Exception):
    def __init__(self, message: str, offset: int) -> None:
        super().__init__(message)
        self.offset = offset


class TextSplit(NamedTuple):
    """A byte range of a local file, read by a Python task like Hadoop's LineRecordReader.

    The split owns the lines that start in ``(start, start + length]`` (from byte 0 for
    the first split): the same lines, at the same byte offsets, as Hadoop's split.
    """

    path: str
    start: int
    length: int
    size: int


class Piece(NamedTuple):
    """Parsed rows of consecutive lines: ``rows[i]`` is from line ``lines[i]`` of the piece."""

    rows: np.ndarray
    lines: np.ndarray
    n_lines: int


def display_path(uri: str) -> str:
    """A local file's plain path (Hadoop reports ``file:/x``), other URIs unchanged."""
    return uri[len("file:"):] if uri.startswith("file:/") else uri


def split_fields(line: str, sep: str | None) -> list[str]:
    return line.split() if sep is None else [f.strip() for f in line.split(sep)]


def explain_line(line: str, sep: str | None, n_fields: int) -> str | None:
    """Why a line is not ``n_fields`` finite numbers, or None when it is fine."""
    if not line.strip():
        return "is blank"
    fields = split_fields(line, sep)
    what = "whitespace-separated" if sep is None else f"{sep!r}-separated"
    if len(fields) != n_fields:
        return (f"has {len(fields)} field(s), expected {n_fields} {what} numbers: "
                f"{line.strip()[:80]!r}")
    for i, field in enumerate(fields, start=1):
        try:
            value = float(field)
        except ValueError:
            hint = " (a header line? the input must have none)" if i == 1 else ""
            return (f"field {i} {field[:40]!r} is not a number, expected {n_fields} "
                    f"{what} numbers{hint}")
        if not math.isfinite(value):
            return f"field {i} is {field!r}; only finite numbers are accepted"
    return None


def _arrow_parse(data: bytes, sep: str | None, n_fields: int, n_lines: int | None) -> np.ndarray | None:
    """Parse whole lines of text with pyarrow's CSV reader (vectorised, correctly rounded
    like ``float``), or None when any line is not ``n_fields`` finite numbers.

    None sends the caller to the line-by-line explanation, which decides every case the
    same way as before; this only has to never accept what ``float`` would not (quotes,
    null markers and a leading byte-order mark are therefore switched off or refused).
    ``n_lines``, when known, must equal the number of rows (a last blank line joined
    from a list of lines would otherwise vanish).
    """
    import pyarrow as pa
    import pyarrow.csv as pacsv

    if not data:
        return np.empty((0, n_fields)) if not n_lines else None
    if data.startswith(_BOM):  # pyarrow would drop it; float() refuses it
        return None
    names = [f"f{i}" for i in range(n_fields)]
    try:
        table = pacsv.read_csv(
            pa.py_buffer(data),
            read_options=pacsv.ReadOptions(column_names=names, use_threads=False,
                                           block_size=len(data) + 1),
            parse_options=pacsv.ParseOptions(
                delimiter=" " if sep is None else sep, quote_char=False, double_quote=False,
                escape_char=False, newlines_in_values=False, ignore_empty_lines=False),
            convert_options=pacsv.ConvertOptions(
                column_types={name: pa.float64() for name in names}, null_values=[],
                strings_can_be_null=False, quoted_strings_can_be_null=False),
        )
    except (pa.ArrowInvalid, pa.ArrowTypeError):
        return None
    if n_lines is not None and table.num_rows != n_lines:
        return None
    arr = np.empty((table.num_rows, n_fields))
    for j, column in enumerate(table.columns):
        arr[:, j] = column.to_numpy()
    return arr if np.isfinite(arr).all() else None


def _explain_lines(
    lines: list[tuple[int, str]], sep: str | None, n_fields: int, skip: bool,
    skipped: list[str], file: str,
) -> Piece:
    """The slow path, only for a chunk with a bad line: find and explain it line by line."""
    good: list[list[float]] = []
    index: list[int] = []
    for i, (offset, line) in enumerate(lines):
        reason = explain_line(line, sep, n_fields)
        if reason is None:
            good.append([float(f) for f in split_fields(line, sep)])
            index.append(i)
        elif skip:
            skipped.append(f"{display_path(file)} at byte {offset}: {reason}")
        else:
            raise LineError(reason, offset)
    rows = np.array(good, dtype=np.float64).reshape(len(good), n_fields)
    return Piece(rows, np.array(index, dtype=np.int64), len(lines))


def _parse_chunk(
    lines: list[tuple[int, str]], sep: str | None, n_fields: int, skip: bool, skipped: list[str],
    file: str,
) -> Piece:
    """Parse a chunk of (byte offset, line) pairs (the Hadoop path)."""
    try:
        data = "\n".join([line for _, line in lines]).encode()
    except UnicodeEncodeError:
        data = b""
    arr = _arrow_parse(data, sep, n_fields, len(lines)) if data else None
    if arr is not None:
        return Piece(arr, np.arange(len(lines)), len(lines))
    return _explain_lines(lines, sep, n_fields, skip, skipped, file)


def decode_lines(data: bytes, base: int) -> list[tuple[int, str]]:
    """(byte offset, line) pairs of whole lines, split as Hadoop's LineReader splits them
    (``\n``, ``\r\n`` or ``\r``), decoded as Hadoop's Text is (invalid UTF-8 replaced)."""
    out: list[tuple[int, str]] = []
    if base == 0 and data == _BOM:  # Hadoop reads a file of only a byte-order mark as empty
        return out
    pos = 0
    for match in _TERMINATORS.finditer(data):
        out.append((base + pos, data[pos:match.start()].decode("utf-8", "replace")))
        pos = match.end()
    if pos < len(data):
        out.append((base + pos, data[pos:].decode("utf-8", "replace")))
    if base == 0 and out and data.startswith(_BOM):
        out[0] = (0, out[0][1][1:])  # Hadoop drops a byte-order mark at the file's start
    return out


def _line_count(data: bytes) -> int:
    """Lines in ``data`` (whole lines; the last may lack its terminator), vectorised."""
    if not data:
        return 0
    crlf = data.count(b"\r\n")
    n = data.count(b"\n") + data.count(b"\r") - crlf
    return n + (0 if data.endswith((b"\n", b"\r")) else 1)


def _parse_bytes(
    data: bytes, base: int, sep: str | None, n_fields: int, skip: bool, skipped: list[str],
    file: str,
) -> list[Piece]:
    """Parse whole lines of a file starting at byte ``base`` (the direct path)."""
    body, start = (data[len(_BOM):], len(_BOM)) if base == 0 and data.startswith(_BOM) else (data, 0)
    arr = _arrow_parse(body, sep, n_fields, None) if body else np.empty((0, n_fields))
    if arr is not None:
        # pyarrow drops nothing (empty lines are rows, and fail), so rows are lines.
        return [Piece(arr, np.arange(arr.shape[0]), arr.shape[0])]
    if len(data) > EXPLAIN_BYTES:
        cut = _last_line_start(data, len(data) // 2)
        if cut > start:
            return (_parse_bytes(data[:cut], base, sep, n_fields, skip, skipped, file)
                    + _parse_bytes(data[cut:], base + cut, sep, n_fields, skip, skipped, file))
    return [_explain_lines(decode_lines(data, base), sep, n_fields, skip, skipped, file)]


def _last_line_start(data: bytes, end: int) -> int:
    """The last line start in ``data[1:end]`` (0 if none): after a ``\n``, or after a ``\r``
    whose next byte is known and is not ``\n``."""
    lf = data.rfind(b"\n", 0, end)
    cr = data.rfind(b"\r", 0, end)
    cut = lf + 1
    if cr > lf and cr + 1 < len(data) and data[cr + 1:cr + 2] != b"\n":
        cut = cr + 1
    return cut


def _after_terminator(f: BinaryIO, pos: int, size: int) -> int:
    """The position after the first line terminator at or after ``pos`` (Hadoop skips to
    there from a split's start, and reads its last line up to there), or ``size``."""
    f.seek(pos)
    while pos < size:
        buf = f.read(64 << 10)
        if not buf:
            break
        m = _TERMINATORS.search(buf)
        if m is not None:
            if m.group() == b"\r" and m.end() == len(buf):  # is it "\r\n" across the read?
                return pos + m.end() + (1 if f.read(1) == b"\n" else 0)
            return pos + m.end()
        pos += len(buf)
    return size


def split_chunks(split: TextSplit, chunk_bytes: int = CHUNK_BYTES) -> Iterator[tuple[int, bytes]]:
    """(byte offset, bytes) chunks of the whole lines a split owns (see :class:`TextSplit`)."""
    with open(split.path, "rb") as f:
        pos = 0 if split.start == 0 else _after_terminator(f, split.start, split.size)
        end = split.start + split.length
        stop = split.size if end >= split.size else _after_terminator(f, end, split.size)
        f.seek(pos)
        carry = b""
        while pos < stop:
            data = carry + f.read(min(chunk_bytes, stop - pos - len(carry)))
            if pos + len(data) >= stop:
                yield pos, data
                return
            cut = _last_line_start(data, len(data))
            if cut == 0:  # one line longer than a chunk: read on
                carry = data
                chunk_bytes *= 2
                continue
            yield pos, data[:cut]
            pos += cut
            carry = data[cut:]


def hadoop_pieces(
    records: Iterable[tuple[int, str]], sep: str | None, n_fields: int, skip: bool,
    skipped: list[str], file: str,
) -> Iterator[Piece]:
    chunk: list[tuple[int, str]] = []
    for record in records:
        chunk.append(record)
        if len(chunk) >= CHUNK_LINES:
            yield _parse_chunk(chunk, sep, n_fields, skip, skipped, file)
            chunk = []
    if chunk:
        yield _parse_chunk(chunk, sep, n_fields, skip, skipped, file)


def split_pieces(
    splits: Iterable[TextSplit], sep: str | None, n_fields: int, skip: bool,
    skipped: list[str], file: str,
) -> Iterator[Piece]:
    for split in splits:
        for base, data in split_chunks(split):
            yield from _parse_bytes(data, base, sep, n_fields, skip, skipped, file)


def hadoop_splits(
    size: int, block_size: int, min_partitions: int, min_size: int = 1,
    split_bytes: int | None = None,
) -> list[tuple[int, int]]:
    """(start, length) of the splits ``sc.hadoopFile`` makes of one file (the ``mapred``
    FileInputFormat's rule), so the direct reader has Hadoop's partitions. ``split_bytes``
    replaces the computed split size (tests use small ones)."""
    if size == 0:
        return [(0, 0)]
    goal = size // max(1, min_partitions)
    split = split_bytes or max(min_size, min(goal, block_size))
    splits = []
    remaining = size
    while remaining / split > 1.1:  # Hadoop's SPLIT_SLOP
        splits.append((size - remaining, split))
        remaining -= split
    if remaining:
        splits.append((size - remaining, remaining))
    return splits


def first_line_of_file(path: str, size: int) -> str | None:
    """The first line of a local file as Hadoop would give it, read on the driver."""
    if size == 0:
        return None
    with open(path, "rb") as f:
        end = _after_terminator(f, 0, size)
        f.seek(0)
        data = f.read(end)
    lines = decode_lines(data, 0)
    return lines[0][1] if lines else None


def count_lines_before(path: str, offset: int) -> int:
    """Lines that start before byte ``offset`` (a line start) of a local file."""
    n = 0
    with open(path, "rb") as f:
        pos = 0
        carry = b""
        while pos < offset:
            data = carry + f.read(min(CHUNK_BYTES, offset - pos - len(carry)))
            if not data:
                break
            if pos + len(data) >= offset:
                return n + _line_count(data)
            cut = _last_line_start(data, len(data))
            if cut == 0:  # one line longer than a chunk: read on
                carry = data
                continue
            n += _line_count(data[:cut])
            pos += cut
            carry = data[cut:]
    return n
