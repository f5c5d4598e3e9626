"""Reading delimited text (the write-up's formats) into a :class:`BlockDataset`.

Two formats, both without a header:

- points for k-means: ``x,y`` — one point per line, comma-separated;
- labelled rows for logistic regression: features then a 0/1 label, separated by
  whitespace, as ``numpy.savetxt`` writes them.

Lines are parsed on the executors straight into NumPy blocks. A malformed line
(wrong field count, non-numeric field, blank line, a header, NaN/Inf) is an error
naming the file and line — or, with ``on_bad_rows="skip"``, it is dropped and
counted in ``dataset.n_skipped`` with a few examples in ``dataset.skipped_examples``.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Iterator
from functools import partial
from typing import TYPE_CHECKING, Any

import numpy as np

from rddml.engine.blocks import Block, BlockDataset, BlockError, SkippedRows, default_block_rows
from rddml.errors import DataValidationError, InvalidParameterError
from rddml.params import check_choice

if TYPE_CHECKING:
    from pyspark import SparkContext

ON_BAD_ROWS = ("error", "skip")
CHUNK_LINES = 8192


class _LineError(Exception):
    def __init__(self, message: str, offset: int) -> None:
        super().__init__(message)
        self.offset = offset


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


def _parse_chunk(
    lines: list[tuple[int, str]], sep: str | None, n_fields: int, skip: bool, skipped: list[str],
    file: str,
) -> np.ndarray:
    """Parse a chunk of (byte offset, line) pairs into an (n, n_fields) array."""
    try:
        rows = [_split(line, sep) for _, line in lines]
        arr = np.array(rows, dtype=np.float64)
        if arr.ndim == 2 and arr.shape[1] == n_fields and np.isfinite(arr).all():
            return arr
    except ValueError:
        pass
    # Slow path, only for a chunk with a bad line: find and explain it line by line.
    good: list[list[float]] = []
    for offset, line in lines:
        reason = _explain_line(line, sep, n_fields)
        if reason is None:
            good.append([float(f) for f in _split(line, sep)])
        elif skip:
            skipped.append(f"{display_path(file)} at byte {offset}: {reason}")
        else:
            raise _LineError(reason, offset)
    return np.array(good, dtype=np.float64).reshape(len(good), n_fields)


def parse_text_partition(
    partition: int,
    records: Iterable[tuple[int, str]],
    *,
    files: list[str],
    sep: str | None,
    n_fields: int,
    labeled: bool,
    skip: bool,
    max_rows: int | None = None,
) -> Iterator[Block | BlockError | SkippedRows]:
    """Parse one partition of ``(byte offset, line)`` pairs into blocks (on the executors)."""
    file = files[partition]
    n_features = n_fields - 1 if labeled else n_fields
    limit = max_rows or default_block_rows(n_features)
    start = 0
    skipped: list[str] = []
    chunk: list[tuple[int, str]] = []
    parts: list[np.ndarray] = []
    pending = 0

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

    try:
        for record in records:
            chunk.append(record)
            if len(chunk) >= CHUNK_LINES:
                arr = _parse_chunk(chunk, sep, n_fields, skip, skipped, file)
                chunk = []
                parts.append(arr)
                pending += arr.shape[0]
                if pending >= limit:
                    yield from emit()
        if chunk:
            arr = _parse_chunk(chunk, sep, n_fields, skip, skipped, file)
            parts.append(arr)
            pending += arr.shape[0]
        yield from emit()
        if skipped:
            yield SkippedRows(len(skipped), tuple(skipped[:5]))
    except _LineError as exc:
        yield BlockError(str(exc), file=file, offset=exc.offset)


def _list_files(sc: SparkContext, path: str) -> list[str]:
    """Files under ``path`` (a file, a directory or a glob), through Hadoop's FileSystem so
    local, HDFS, S3 and DBFS paths all work. Hidden and ``_``-prefixed files are ignored."""
    jvm: Any = sc._jvm
    conf = sc._jsc.hadoopConfiguration()
    hpath = jvm.org.apache.hadoop.fs.Path(path)
    fs = hpath.getFileSystem(conf)
    statuses = fs.globStatus(hpath)
    if statuses is None or len(statuses) == 0:
        raise DataValidationError(f"Input path {path!r} does not exist.")
    files: list[str] = []
    for status in statuses:
        if status.isDirectory():
            for child in fs.listStatus(status.getPath()):
                name = child.getPath().getName()
                if child.isFile() and not name.startswith((".", "_")):
                    files.append(child.getPath().toString())
        else:
            files.append(status.getPath().toString())
    if not files:
        raise DataValidationError(f"Input path {path!r} contains no data files.")
    return sorted(files)


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
) -> BlockDataset:
    """Read delimited numeric text under ``path`` into a cached :class:`BlockDataset`.

    The number of fields is taken from the first line of the first file; every other
    line must match it.
    """
    check_choice("on_bad_rows", on_bad_rows, ON_BAD_ROWS)
    files = _list_files(sc, path)
    rdds = [_text_with_offsets(sc, f) for f in files]
    # The first line of the first non-empty file sets the number of fields (an empty part
    # file, e.g. an empty partition Spark wrote, is just an empty partition).
    first, first_file = None, files[0]
    for file, rdd in zip(files, rdds):
        first, first_file = _first_line(rdd), file
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
    by_partition = [f for f, r in zip(files, rdds) for _ in range(r.getNumPartitions())]
    text = rdds[0] if len(rdds) == 1 else sc.union(rdds)
    blocks = text.mapPartitionsWithIndex(
        partial(parse_text_partition, files=by_partition, sep=sep, n_fields=n_fields,
                labeled=labeled, skip=on_bad_rows == "skip", max_rows=max_block_rows)
    )

    def describe(error: BlockError) -> str:
        if error.file is None or error.offset is None:
            return error.message
        # Only on the error path: count the lines before the bad one (one small job).
        idx = files.index(error.file)
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
