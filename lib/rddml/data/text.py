"""Reading delimited text (the write-up's formats) into a :class:`BlockDataset`.

Two formats, both without a header:

- points for k-means: ``x,y`` — one point per line, comma-separated;
- labelled rows for logistic regression: features then a 0/1 label, separated by
  whitespace, as ``numpy.savetxt`` writes them.

Lines are parsed on the executors straight into NumPy blocks. A malformed line
(wrong field count, non-numeric field, blank line, a header, NaN/Inf) is an error
naming the file and line — or, with ``on_bad_rows="skip"``, it is dropped and
counted in ``dataset.n_skipped`` with a few examples in ``dataset.skipped_examples``.

How the bytes get to the parser: a local, uncompressed file is read by the Python
tasks themselves, in Hadoop's splits (:func:`hadoop_splits`) and with Hadoop's line
rules (``\n``, ``\r\n`` or ``\r`` ends a line; a split owns the lines starting in
``(start, end]``; a byte-order mark at the file's start is dropped), so partitions,
rows, blocks and byte offsets are those of ``sc.hadoopFile``. Any other file (HDFS,
S3, DBFS, ``.gz``...) comes through Hadoop's TextInputFormat as (byte offset, line)
pairs. Either way a chunk of lines is parsed by one ``pyarrow.csv`` call (correctly
rounded, like ``float``); only a chunk that pyarrow refuses (a bad line, or a spelling
``float`` takes and pyarrow does not: ``1_000``, tabs or repeated spaces between
whitespace-separated fields, ...) goes line by line through ``float``, which decides
every case exactly as the line-by-line reader did.
"""

from __future__ import annotations

import math
import os
import re
from collections.abc import Iterable, Iterator
from functools import partial
from typing import TYPE_CHECKING, Any, BinaryIO, NamedTuple

import numpy as np

from rddml.engine.blocks import Block, BlockDataset, BlockError, SkippedRows, default_block_rows
from rddml.errors import DataValidationError, InvalidParameterError
from rddml.params import check_choice

if TYPE_CHECKING:
    from pyspark import SparkContext

ON_BAD_ROWS = ("error", "skip")
READERS = ("auto", "hadoop")
#: Lines per parsing unit of the Hadoop path; blocks are also cut at multiples of it, on
#: both paths, so both give the same blocks.
CHUNK_LINES = 8192
#: Bytes per parsing call of the direct reader: large enough that pyarrow's per-call cost
#: vanishes, small enough to keep a task's memory flat.
CHUNK_BYTES = 2 << 20
#: A chunk with a bad line is halved until it is this small before the line-by-line
#: explanation runs, so a few bad lines in a large file cost little with "skip".
EXPLAIN_BYTES = 64 << 10
_BOM = b"\xef\xbb\xbf"
_TERMINATORS = re.compile(rb"\r\n|\r|\n")


class _LineError(Exception):
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


class _Piece(NamedTuple):
    """Parsed rows of consecutive lines: ``rows[i]`` is from line ``lines[i]`` of the piece."""

    rows: np.ndarray
    lines: np.ndarray
    n_lines: int


def display_path(uri: str) -> str:
    """A local file's plain path (Hadoop reports ``file:/x``), other URIs unchanged."""
    return uri[len("file:"):] if uri.startswith("file:/") else uri


def _split(line: str, sep: str | None) -> list[str]:
    return line.split() if sep is None else [f.strip() for f in line.split(sep)]


def _explain_line(line: str, sep: str | None, n_fields: int) -> str | None:
    """Why a line is not ``n_fields`` finite numbers, or None when it is fine."""
    if not line.strip():
        return "is blank"
    fields = _split(line, sep)
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
) -> _Piece:
    """The slow path, only for a chunk with a bad line: find and explain it line by line."""
    good: list[list[float]] = []
    index: list[int] = []
    for i, (offset, line) in enumerate(lines):
        reason = _explain_line(line, sep, n_fields)
        if reason is None:
            good.append([float(f) for f in _split(line, sep)])
            index.append(i)
        elif skip:
            skipped.append(f"{display_path(file)} at byte {offset}: {reason}")
        else:
            raise _LineError(reason, offset)
    rows = np.array(good, dtype=np.float64).reshape(len(good), n_fields)
    return _Piece(rows, np.array(index, dtype=np.int64), len(lines))


def _parse_chunk(
    lines: list[tuple[int, str]], sep: str | None, n_fields: int, skip: bool, skipped: list[str],
    file: str,
) -> _Piece:
    """Parse a chunk of (byte offset, line) pairs (the Hadoop path)."""
    try:
        data = "\n".join([line for _, line in lines]).encode()
    except UnicodeEncodeError:
        data = b""
    arr = _arrow_parse(data, sep, n_fields, len(lines)) if data else None
    if arr is not None:
        return _Piece(arr, np.arange(len(lines)), len(lines))
    return _explain_lines(lines, sep, n_fields, skip, skipped, file)


def _decode_lines(data: bytes, base: int) -> list[tuple[int, str]]:
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
) -> list[_Piece]:
    """Parse whole lines of a file starting at byte ``base`` (the direct path)."""
    body, start = (data[len(_BOM):], len(_BOM)) if base == 0 and data.startswith(_BOM) else (data, 0)
    arr = _arrow_parse(body, sep, n_fields, None) if body else np.empty((0, n_fields))
    if arr is not None:
        # pyarrow drops nothing (empty lines are rows, and fail), so rows are lines.
        return [_Piece(arr, np.arange(arr.shape[0]), arr.shape[0])]
    if len(data) > EXPLAIN_BYTES:
        cut = _last_line_start(data, len(data) // 2)
        if cut > start:
            return (_parse_bytes(data[:cut], base, sep, n_fields, skip, skipped, file)
                    + _parse_bytes(data[cut:], base + cut, sep, n_fields, skip, skipped, file))
    return [_explain_lines(_decode_lines(data, base), sep, n_fields, skip, skipped, file)]


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


def _cut_blocks(
    partition: int, pieces: Iterable[_Piece], n_features: int, labeled: bool, limit: int,
) -> Iterator[Block]:
    """Blocks of the rows of a partition's pieces, cut where the line-by-line reader cut
    them: after a multiple of CHUNK_LINES input lines, once ``limit`` rows are pending."""
    start = 0
    parts: list[np.ndarray] = []
    pending = 0
    line0 = 0  # the partition's line number of the current piece's first line
    check = CHUNK_LINES

    def emit() -> Iterator[Block]:
        nonlocal start, parts, pending
        if not pending:
            return
        arr = np.concatenate(parts) if len(parts) > 1 else parts[0]
        X = np.ascontiguousarray(arr[:, :n_features])
        y = arr[:, n_features].copy() if labeled else None
        yield Block(partition, start, X, y, None)
        start += pending
        parts, pending = [], 0

    for piece in pieces:
        taken = 0
        while check <= line0 + piece.n_lines:
            upto = int(np.searchsorted(piece.lines, check - line0))
            if upto > taken:
                parts.append(piece.rows[taken:upto])
                pending += upto - taken
                taken = upto
            if pending >= limit:
                yield from emit()
            check += CHUNK_LINES
        if taken < piece.rows.shape[0]:
            parts.append(piece.rows[taken:])
            pending += piece.rows.shape[0] - taken
        line0 += piece.n_lines
    yield from emit()


def _hadoop_pieces(
    records: Iterable[tuple[int, str]], sep: str | None, n_fields: int, skip: bool,
    skipped: list[str], file: str,
) -> Iterator[_Piece]:
    chunk: list[tuple[int, str]] = []
    for record in records:
        chunk.append(record)
        if len(chunk) >= CHUNK_LINES:
            yield _parse_chunk(chunk, sep, n_fields, skip, skipped, file)
            chunk = []
    if chunk:
        yield _parse_chunk(chunk, sep, n_fields, skip, skipped, file)


def _split_pieces(
    splits: Iterable[TextSplit], sep: str | None, n_fields: int, skip: bool,
    skipped: list[str], file: str,
) -> Iterator[_Piece]:
    for split in splits:
        for base, data in split_chunks(split):
            yield from _parse_bytes(data, base, sep, n_fields, skip, skipped, file)


def parse_text_partition(
    partition: int,
    records: Iterable[Any],
    *,
    files: list[str],
    sep: str | None,
    n_fields: int,
    labeled: bool,
    skip: bool,
    max_rows: int | None = None,
    direct: list[bool] | None = None,
) -> Iterator[Block | BlockError | SkippedRows]:
    """Parse one partition into blocks (on the executors).

    Its records are ``(byte offset, line)`` pairs from Hadoop, or, when
    ``direct[partition]``, the :class:`TextSplit` the task reads itself.
    """
    file = files[partition]
    n_features = n_fields - 1 if labeled else n_fields
    limit = max_rows or default_block_rows(n_features)
    skipped: list[str] = []
    if direct is not None and direct[partition]:
        pieces = _split_pieces(records, sep, n_fields, skip, skipped, file)
    else:
        pieces = _hadoop_pieces(records, sep, n_fields, skip, skipped, file)
    try:
        yield from _cut_blocks(partition, pieces, n_features, labeled, limit)
        if skipped:
            yield SkippedRows(len(skipped), tuple(skipped[:5]))
    except _LineError as exc:
        yield BlockError(str(exc), file=file, offset=exc.offset)


class _InputFile(NamedTuple):
    uri: str
    size: int
    block_size: int


def _list_files(sc: SparkContext, path: str) -> list[_InputFile]:
    """Files under ``path`` (a file, a directory or a glob), through Hadoop's FileSystem so
    local, HDFS, S3 and DBFS paths all work. Hidden and ``_``-prefixed files are ignored."""
    jvm: Any = sc._jvm
    conf = sc._jsc.hadoopConfiguration()
    hpath = jvm.org.apache.hadoop.fs.Path(path)
    fs = hpath.getFileSystem(conf)
    statuses = fs.globStatus(hpath)
    if statuses is None or len(statuses) == 0:
        raise DataValidationError(f"Input path {path!r} does not exist.")
    found = []
    for status in statuses:
        if status.isDirectory():
            for child in fs.listStatus(status.getPath()):
                name = child.getPath().getName()
                if child.isFile() and not name.startswith((".", "_")):
                    found.append(child)
        else:
            found.append(status)
    if not found:
        raise DataValidationError(f"Input path {path!r} contains no data files.")
    files = [_InputFile(s.getPath().toString(), int(s.getLen()), int(s.getBlockSize()))
             for s in found]
    return sorted(files)


def _direct_path(sc: SparkContext, uri: str) -> str | None:
    """The local path a Python task can read ``uri`` from, or None: Hadoop reads it
    (another file system, or a compressed file Hadoop decompresses by its extension)."""
    if not uri.startswith("file:/"):
        return None
    jvm: Any = sc._jvm
    factory = jvm.org.apache.hadoop.io.compress.CompressionCodecFactory(
        sc._jsc.hadoopConfiguration())
    if factory.getCodec(jvm.org.apache.hadoop.fs.Path(uri)) is not None:
        return None
    local = str(jvm.org.apache.hadoop.fs.Path(uri).toUri().getPath())
    return local if os.path.isfile(local) else None


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


def _text_with_offsets(sc: SparkContext, file: str) -> Any:
    """(byte offset, line) pairs: the offset locates a bad line without a counting pass."""
    return sc.hadoopFile(
        file,
        "org.apache.hadoop.mapred.TextInputFormat",
        "org.apache.hadoop.io.LongWritable",
        "org.apache.hadoop.io.Text",
    )


def _first_line(rdd: Any) -> str | None:
    for _, line in rdd.take(1):
        return str(line)
    return None


def _first_line_direct(path: str, size: int) -> str | None:
    """The first line of a local file as Hadoop would give it, read on the driver."""
    if size == 0:
        return None
    with open(path, "rb") as f:
        end = _after_terminator(f, 0, size)
        f.seek(0)
        data = f.read(end)
    lines = _decode_lines(data, 0)
    return lines[0][1] if lines else None


def _count_lines_before(path: str, offset: int) -> int:
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


def _before(item: tuple[int, str], *, offset: int) -> bool:
    return item[0] < offset


def read_text_blocks(
    sc: SparkContext,
    path: str,
    *,
    sep: str | None,
    labeled: bool,
    on_bad_rows: str = "error",
    storage: str = "auto",
    max_block_rows: int | None = None,
    reader: str = "auto",
    split_bytes: int | None = None,
) -> BlockDataset:
    """Read delimited numeric text under ``path`` into a cached :class:`BlockDataset`.

    The number of fields is taken from the first line of the first file; every other
    line must match it.

    ``reader="auto"`` reads local uncompressed files directly in the Python tasks (byte
    ranges split into lines as Hadoop's LineRecordReader does, a chunk of lines parsed by
    pyarrow at a time) and everything else through Hadoop's TextInputFormat;
    ``"hadoop"`` uses Hadoop for every file. Both give the same partitions, blocks, errors
    and skip counts. ``split_bytes`` sets the split size of the direct reader (tests).
    """
    check_choice("on_bad_rows", on_bad_rows, ON_BAD_ROWS)
    check_choice("reader", reader, READERS)
    files = _list_files(sc, path)
    uris = [f.uri for f in files]
    local = [None if reader == "hadoop" else _direct_path(sc, f.uri) for f in files]
    rdds: list[Any] = [None if lp is not None else _text_with_offsets(sc, f.uri)
                       for f, lp in zip(files, local)]
    # The first line of the first non-empty file sets the number of fields (an empty part
    # file, e.g. an empty partition Spark wrote, is just an empty partition).
    first, first_file = None, uris[0]
    for f, lp, rdd in zip(files, local, rdds):
        first = _first_line_direct(lp, f.size) if lp is not None else _first_line(rdd)
        first_file = f.uri
        if first is not None:
            break
    if first is None and len(files) > 1:
        raise DataValidationError(
            f"Input path {path!r}: all {len(files)} files are empty; expected lines of numbers."
        )
    if first is None or not first.strip():
        raise DataValidationError(
            f"{display_path(first_file)} line 1: "
            f"{'the file is empty' if first is None else 'is blank'}; expected a line of numbers."
        )
    n_fields = len(_split(first, sep))
    if labeled and n_fields < 2:
        raise DataValidationError(
            f"{display_path(first_file)} line 1 has {n_fields} field(s); labelled data needs at "
            "least one feature and a label per line."
        )
    conf = sc._jsc.hadoopConfiguration()
    min_size = int(conf.getLong("mapreduce.input.fileinputformat.split.minsize", 1))
    parts: list[Any] = []
    by_partition: list[str] = []
    direct: list[bool] = []
    for f, lp, rdd in zip(files, local, rdds):
        if lp is None:
            parts.append(rdd)
            n = rdd.getNumPartitions()
        else:
            splits = [TextSplit(lp, start, length, f.size) for start, length in hadoop_splits(
                f.size, f.block_size, sc.defaultMinPartitions, min_size, split_bytes)]
            n = len(splits)
            parts.append(sc.parallelize(splits, n))
        by_partition += [f.uri] * n
        direct += [lp is not None] * n
    text = parts[0] if len(parts) == 1 else sc.union(parts)
    blocks = text.mapPartitionsWithIndex(
        partial(parse_text_partition, files=by_partition, sep=sep, n_fields=n_fields,
                labeled=labeled, skip=on_bad_rows == "skip", max_rows=max_block_rows,
                direct=direct)
    )

    def describe(error: BlockError) -> str:
        if error.file is None or error.offset is None:
            return error.message
        # Only on the error path: count the lines before the bad one.
        idx = uris.index(error.file)
        lp = local[idx]
        if lp is not None:
            line_no = _count_lines_before(lp, error.offset) + 1
        else:
            line_no = rdds[idx].filter(partial(_before, offset=error.offset)).count() + 1
        return f"{display_path(error.file)} line {line_no}: {error.message}"

    ds = BlockDataset.from_blocks(blocks, source=path, describe_error=describe, storage=storage)
    # Checkpoints made from this dataset remember where it came from (see fit_fingerprint).
    ds.input_path = display_path(path)
    return ds


def read_points_csv(
    sc: SparkContext, path: str, *, on_bad_rows: str = "error", storage: str = "auto"
) -> BlockDataset:
    """k-means input in the write-up's ``data.csv`` format: ``x,y,...`` per line, no header."""
    return read_text_blocks(sc, path, sep=",", labeled=False, on_bad_rows=on_bad_rows,
                            storage=storage)


def read_labeled_text(
    sc: SparkContext, path: str, *, on_bad_rows: str = "error", storage: str = "auto"
) -> BlockDataset:
    """Logistic-regression input as ``numpy.savetxt`` writes it: features then label,
    whitespace-separated, no header."""
    return read_text_blocks(sc, path, sep=None, labeled=True, on_bad_rows=on_bad_rows,
                            storage=storage)


def spark_context(spark_or_sc: Any) -> SparkContext:
    """Accept a SparkSession or a SparkContext."""
    sc = getattr(spark_or_sc, "sparkContext", spark_or_sc)
    if not hasattr(sc, "hadoopFile"):
        raise InvalidParameterError(
            f"Expected a SparkSession or SparkContext, got {type(spark_or_sc).__name__}."
        )
    return sc  # type: ignore[no-any-return]
