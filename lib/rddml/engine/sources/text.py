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
from collections.abc import Callable, Iterable, Iterator
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
from rddml.paths import (
    GLOB_PREFIX,
    escape_glob,
    expand_user,
    has_glob_characters,
    split_glob,
)

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


#: How many nested directories an error message names (it also gives their count).
NESTED_SHOWN = 10


def _hidden(name: str) -> bool:
    """Names Spark's file sources skip: ``_SUCCESS``, ``.crc`` files, ``_temporary``..."""
    return name.startswith((".", "_"))


def _walk_files(fs: Any, directory: Any) -> Iterator[Any]:
    """The visible files at any depth under ``directory`` (hidden names skipped at every
    level, directories and files alike), in sorted path order."""
    for child in sorted(fs.listStatus(directory), key=lambda s: str(s.getPath().toString())):
        if _hidden(str(child.getPath().getName())):
            continue
        if child.isDirectory():
            yield from _walk_files(fs, child.getPath())
        else:
            yield child


def list_input_files(sc: SparkContext, path: str, *, recursive: bool = False
                     ) -> list[_InputFile]:
    """The data files of ``path``, through Hadoop's FileSystem so local, HDFS, S3 and DBFS
    paths all work.

    ``path`` is taken literally (``data[1].csv`` is that file); ``glob:PATTERN`` asks for
    Hadoop's glob syntax (``glob:data/part-*.csv``), and a leading ``~`` is expanded
    (:mod:`rddml.paths`). A directory gives its visible files (names starting with
    ``.`` or ``_`` are skipped, as Spark skips them); its sub-directories are read only
    with ``recursive=True`` (Spark's ``recursiveFileLookup``), every file under them in
    path order. Without it, a sub-directory holding data files is an error naming it:
    Spark's DataFrame readers would skip it without a word, Hadoop's input formats fail.

    Raises
    ------
    DataValidationError
        The path does not exist (a pattern matches nothing), holds no data files, or has
        sub-directories with data files and ``recursive`` is False.
    """
    pattern, is_glob = split_glob(expand_user(path, what="Input path",
                                              error=DataValidationError))
    jvm: Any = sc._jvm
    conf = sc._jsc.hadoopConfiguration()
    hpath = jvm.org.apache.hadoop.fs.Path(pattern)
    fs = hpath.getFileSystem(conf)
    if is_glob:
        statuses = list(fs.globStatus(hpath) or [])
        if not statuses:
            raise DataValidationError(f"Input pattern {path!r} matches no file or directory.")
    elif fs.exists(hpath):
        statuses = [fs.getFileStatus(hpath)]
    else:
        hint = (f" (The path is taken literally; for a pattern write {GLOB_PREFIX + pattern!r}.)"
                if has_glob_characters(pattern) else "")
        raise DataValidationError(f"Input path {path!r} does not exist.{hint}")
    found = []
    nested: list[tuple[str, int]] = []
    for status in statuses:
        if not status.isDirectory():
            found.append(status)
            continue
        for child in fs.listStatus(status.getPath()):
            if _hidden(str(child.getPath().getName())):
                continue
            if not child.isDirectory():
                found.append(child)
                continue
            below = list(_walk_files(fs, child.getPath()))
            if recursive:
                found += below
            elif below:
                nested.append((display_path(str(child.getPath().toString())), len(below)))
    if nested:
        nested.sort()
        shown = "; ".join(f"{d}/ ({n} file{'s' if n > 1 else ''})"
                          for d, n in nested[:NESTED_SHOWN])
        more = f"; and {len(nested) - NESTED_SHOWN} more" if len(nested) > NESTED_SHOWN else ""
        raise DataValidationError(
            f"Input path {path!r} has {len(nested)} sub-director{'ies' if len(nested) > 1 else 'y'}"
            f" with data files, which are read only when asked: {shown}{more}. Pass "
            "recursive=True (jobs: --recursive) to read every file under the path, or "
            "point the input at the files you mean."
        )
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
    """(byte offset, line) pairs: the offset locates a bad line without a counting pass.

    ``file`` is one listed file: its glob characters are escaped, since Hadoop's input
    formats read every path they are given as a pattern."""
    return sc.hadoopFile(
        escape_glob(file),
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


class TextInputs:
    """The listed text files of one read, each read either directly by the Python tasks
    (``local``: its local path) or through Hadoop (``rdds``: its (offset, line) RDD).

    Shared by the readers of line-oriented formats, so that they split files, and name
    the file and line of a bad record, the same way.
    """

    def __init__(self, sc: SparkContext, files: list[_InputFile], reader: str) -> None:
        self.sc = sc
        self.files = files
        self.uris = [f.uri for f in files]
        self.local = [None if reader == "hadoop" else _direct_path(sc, f.uri) for f in files]
        self.rdds: list[Any] = [None if lp is not None else _text_with_offsets(sc, f.uri)
                                for f, lp in zip(files, self.local)]

    def partitions(self, split_bytes: int | None) -> tuple[Any, list[str], list[bool]]:
        r"""The RDD of all files' partitions (a direct file's :class:`TextSplit`\ s in
        Hadoop's splits, or its Hadoop records), with each partition's file URI and
        whether it is read directly."""
        sc = self.sc
        conf = sc._jsc.hadoopConfiguration()
        min_size = int(conf.getLong("mapreduce.input.fileinputformat.split.minsize", 1))
        parts: list[Any] = []
        by_partition: list[str] = []
        direct: list[bool] = []
        for f, lp, rdd in zip(self.files, self.local, self.rdds):
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
        return (parts[0] if len(parts) == 1 else sc.union(parts)), by_partition, direct

    def describe(self, error: BlockError) -> str:
        """``error``'s message prefixed by its file and line (driver side)."""
        if error.file is None or error.offset is None:
            return error.message
        # Only on the error path: count the lines before the bad one.
        idx = self.uris.index(error.file)
        lp = self.local[idx]
        if lp is not None:
            line_no = count_lines_before(lp, error.offset) + 1
        else:
            line_no = self.rdds[idx].filter(partial(_before, offset=error.offset)).count() + 1
        return f"{display_path(error.file)} line {line_no}: {error.message}"


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
    recursive: bool = False,
    check_features: Callable[[int], None] | None = None,
) -> BlockDataset:
    """Read delimited numeric text under ``path`` into a cached :class:`BlockDataset`.

    ``path`` is a file or a directory, taken literally, or ``glob:PATTERN``; a directory's
    sub-directories are read only with ``recursive=True`` (see :func:`list_input_files`).
    The number of fields is taken from the first line of the first file; every other
    line must match it. ``check_features``, when given, is called with the number of
    features as soon as it is known, before the data are converted (a caller's check
    that fails early).

    ``reader="auto"`` reads local uncompressed files directly in the Python tasks (byte
    ranges split into lines as Hadoop's LineRecordReader does, a chunk of lines parsed by
    pyarrow at a time) and everything else through Hadoop's TextInputFormat;
    ``"hadoop"`` uses Hadoop for every file. Both give the same partitions, blocks, errors
    and skip counts. ``split_bytes`` sets the split size of the direct reader (tests).
    """
    check_choice("on_bad_rows", on_bad_rows, ON_BAD_ROWS)
    check_choice("reader", reader, READERS)
    inputs = TextInputs(sc, list_input_files(sc, path, recursive=recursive), reader)
    files, uris, local, rdds = inputs.files, inputs.uris, inputs.local, inputs.rdds
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
    if check_features is not None:
        check_features(n_fields - 1 if labeled else n_fields)
    text, by_partition, direct = inputs.partitions(split_bytes)
    blocks = text.mapPartitionsWithIndex(
        partial(parse_text_partition, files=by_partition, sep=sep, n_fields=n_fields,
                labeled=labeled, skip=on_bad_rows == "skip", max_rows=max_block_rows,
                direct=direct)
    )

    ds = BlockDataset.from_blocks(blocks, source=path, describe_error=inputs.describe,
                                  storage=storage)
    # Checkpoints made from this dataset remember where it came from (see fit_fingerprint).
    ds.input_path = display_path(path)
    return ds


def read_points_csv(
    sc: SparkContext, path: str, *, on_bad_rows: str = "error", storage: str = "auto",
    recursive: bool = False, check_features: Callable[[int], None] | None = None,
) -> BlockDataset:
    """k-means input in the write-up's ``data.csv`` format: ``x,y,...`` per line, no header
    (``path``, ``recursive`` and ``check_features`` as in :func:`read_text_blocks`)."""
    return read_text_blocks(sc, path, sep=",", labeled=False, on_bad_rows=on_bad_rows,
                            storage=storage, recursive=recursive,
                            check_features=check_features)


def read_labeled_text(
    sc: SparkContext, path: str, *, on_bad_rows: str = "error", storage: str = "auto",
    recursive: bool = False,
) -> BlockDataset:
    """Logistic-regression input as ``numpy.savetxt`` writes it: features then label,
    whitespace-separated, no header (``path`` and ``recursive`` as in
    :func:`read_text_blocks`)."""
    return read_text_blocks(sc, path, sep=None, labeled=True, on_bad_rows=on_bad_rows,
                            storage=storage, recursive=recursive)


def spark_context(spark_or_sc: Any) -> SparkContext:
    """Accept a SparkSession or a SparkContext."""
    sc = getattr(spark_or_sc, "sparkContext", spark_or_sc)
    if not hasattr(sc, "hadoopFile"):
        raise InvalidParameterError(
            f"Expected a SparkSession or SparkContext, got {type(spark_or_sc).__name__}."
        )
    return sc  # type: ignore[no-any-return]
