"""Reading delimited text (the write-ups' formats) into a :class:`BlockDataset`.

Lines are parsed on the executors straight into NumPy blocks
(:mod:`rddml.data.text_format` holds the formats and the parsing). A malformed line
(wrong field count, non-numeric field, blank line, a header, NaN/Inf) is an error
naming the file and line — or, with ``on_bad_rows="skip"``, it is dropped and counted
in ``dataset.n_skipped`` with a few examples in ``dataset.skipped_examples``.

How the bytes get to the parser: a local, uncompressed file is read by the Python
tasks themselves, in Hadoop's splits (:func:`~rddml.data.text_format.hadoop_splits`),
so partitions, rows, blocks and byte offsets are those of ``sc.hadoopFile``. Any other
file (HDFS, S3, DBFS, ``.gz``...) comes through Hadoop's TextInputFormat as (byte
offset, line) pairs. Both paths give the same blocks, errors and skip counts.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Iterator
from functools import partial
from typing import TYPE_CHECKING, Any, NamedTuple

from rddml.data.text_format import (
    LineError,
    TextSplit,
    count_lines_before,
    display_path,
    first_line_of_file,
    hadoop_pieces,
    hadoop_splits,
    split_fields,
    split_pieces,
)
from rddml.engine.blocks import BlockDataset
from rddml.engine.cutting import BlockCutter
from rddml.engine.records import Block, BlockError, SkippedRows
from rddml.errors import DataValidationError, InvalidParameterError
from rddml.params import check_choice

if TYPE_CHECKING:
    from pyspark import SparkContext

ON_BAD_ROWS = ("error", "skip")
READERS = ("auto", "hadoop")


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
    skipped: list[str] = []
    if direct is not None and direct[partition]:
        pieces = split_pieces(records, sep, n_fields, skip, skipped, file)
    else:
        pieces = hadoop_pieces(records, sep, n_fields, skip, skipped, file)
    # The parser has checked every value (and names a bad one by file and line).
    cutter = BlockCutter(partition, max_rows, labeled, False, check=False)
    try:
        for piece in pieces:
            rows = piece.rows
            yield from cutter.add(rows[:, :n_features], rows[:, n_features] if labeled else None,
                                  None)
        yield from cutter.flush()
        if skipped:
            yield SkippedRows(len(skipped), tuple(skipped[:5]))
    except LineError as exc:
        yield BlockError(str(exc), file=file, offset=exc.offset)


class _InputFile(NamedTuple):
    uri: str
    size: int
    block_size: int


def list_input_files(sc: SparkContext, path: str) -> list[_InputFile]:
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
    files = list_input_files(sc, path)
    uris = [f.uri for f in files]
    local = [None if reader == "hadoop" else _direct_path(sc, f.uri) for f in files]
    rdds: list[Any] = [None if lp is not None else _text_with_offsets(sc, f.uri)
                       for f, lp in zip(files, local)]
    # The first line of the first non-empty file sets the number of fields (an empty part
    # file, e.g. an empty partition Spark wrote, is just an empty partition).
    first, first_file = None, uris[0]
    for f, lp, rdd in zip(files, local, rdds):
        first = first_line_of_file(lp, f.size) if lp is not None else _first_line(rdd)
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
    n_fields = len(split_fields(first, sep))
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
            line_no = count_lines_before(lp, error.offset) + 1
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
