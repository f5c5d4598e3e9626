"""Reading Parquet files straight into a :class:`BlockDataset`, with pyarrow in the tasks.

``BlockDataset.from_dataframe(spark.read.parquet(path))`` has the JVM decode the files,
convert its column batches to Arrow, and send them over a socket to the Python tasks
that make the blocks. :func:`read_parquet` skips the JVM: each Python task opens its
files with pyarrow, reads only the model columns of its row groups, batch by batch,
and feeds them to the same block writer, checks, summary and storage
(:class:`~rddml.engine.cutting.BlockCutter`,
:func:`~rddml.engine.columns.arrow_batch_columns`,
:meth:`~rddml.engine.blocks.BlockDataset.from_blocks`).

Same rows, same order, same partitions: the work is split exactly as Spark's own scan
of ``spark.read.parquet(path)`` splits it. Spark sorts the files' byte ranges by length
(largest first) and packs them into partitions, and its Parquet reader takes a row
group into the range holding the row group's midpoint; this module asks Spark's planner
for those ranges (no job runs) and applies the same midpoint rule, so the blocks, the
row indices and every fit equal the DataFrame path's. ``num_partitions`` regroups the
ranges into that many contiguous runs, which keeps the row order.

Where the direct read cannot give the same rows it is not tried, and the log says why:
no Spark planner to ask (Spark Connect), a directory-partitioned dataset (values in the
paths), a vector-typed features column (stored as a struct), a decimal column (cast
rules), or a URI pyarrow has no filesystem for. The DataFrame path reads it instead.

Bad data is an error naming the file, the row in it (counted from 0) and the column.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterable, Iterator
from functools import partial
from typing import TYPE_CHECKING, Any
from urllib.parse import unquote

from rddml.data.text_format import display_path
from rddml.engine.blocks import BlockDataset
from rddml.engine.columns import arrow_batch_columns, column_names, select_model_columns
from rddml.engine.cutting import BlockCutter
from rddml.engine.records import BlockError
from rddml.engine.sources.text import NESTED_SHOWN, list_input_files
from rddml.errors import DataValidationError, InvalidParameterError
from rddml.paths import escape_glob, expand_user, split_glob

if TYPE_CHECKING:
    from pyspark.sql import DataFrame, SparkSession

__all__ = ["read_parquet"]

logger = logging.getLogger(__name__)

#: Rows per batch read from a file: about 5 MiB of 10 doubles, so a task holds one batch
#: and the block it fills, never a whole row group.
BATCH_ROWS = 65536

#: One byte range of one file, as Spark's scan plans it: (URI, start, length).
Split = tuple[str, int, int]

_PARTITION_ROW = re.compile(r"\brow (\d+) of the partition\b")


def read_parquet(
    spark: SparkSession,
    path: str,
    *,
    features_col: str | None = None,
    feature_cols: list[str] | None = None,
    label_col: str | None = None,
    weight_col: str | None = None,
    storage: str = "auto",
    num_partitions: int | None = None,
    max_block_rows: int | None = None,
    recursive: bool = False,
) -> BlockDataset:
    """Read Parquet files under ``path`` into a cached :class:`BlockDataset`.

    The same dataset as ``BlockDataset.from_dataframe(spark.read.parquet(path), ...)``
    (same rows in the same order, partitions, digest, labels and storage), read with
    pyarrow in the Python tasks instead of through the JVM.

    Parameters
    ----------
    spark : SparkSession
    path : str
        A Parquet file or a directory of them, taken literally, or ``glob:PATTERN``; any
        URI Hadoop and pyarrow can both open (``file:``, ``hdfs:``, ``s3:``, ``gs:`` where
        pyarrow is configured). Partition directories (``key=value``) are Spark's.
    features_col : str, optional
        One column of arrays of numbers (a vector column goes through the DataFrame path).
    feature_cols : list of str, optional
        Separate numeric columns; overrides ``features_col``.
    label_col, weight_col : str, optional
        Numeric columns.
    storage : {"auto", "spark", "executor"}
        Where the blocks are kept, as for :meth:`BlockDataset.from_dataframe`.
    num_partitions : int, optional
        Regroup Spark's planned byte ranges into this many partitions (contiguous runs,
        so the row order stays); default: the partitions Spark's scan would have.
    max_block_rows : int, optional
        Rows per block (default :func:`~rddml.engine.cutting.default_block_rows`).
    recursive : bool, default=False
        Read every file under the directory (Spark's ``recursiveFileLookup``: no partition
        discovery). Without it, files Spark's reader would leave out (those in
        sub-directories that are not ``key=value`` partitions) are an error naming them.

    Returns
    -------
    BlockDataset

    Raises
    ------
    DataValidationError
        The path does not exist or holds no files; a file lacks a column or holds a
        non-numeric one, a null, NaN or ±Inf (naming the file, row and column).
    InvalidParameterError
        A column is not in the dataset's schema or is not numeric.
    """
    if num_partitions is not None and num_partitions < 1:
        raise InvalidParameterError(
            f"The 'num_partitions' parameter must be a positive integer or None, got "
            f"{num_partitions!r}.")
    sc = spark.sparkContext
    # Every visible file under the path: a missing or empty path is a DataValidationError,
    # as for the text readers, and the files Spark leaves out are found below.
    every = list_input_files(sc, path, recursive=True)
    pattern, is_glob = split_glob(expand_user(path, what="Input path",
                                              error=DataValidationError))
    reader = spark.read.option("recursiveFileLookup", "true") if recursive else spark.read
    # spark.read globs every path: a literal one has its pattern characters escaped.
    df = reader.parquet(pattern if is_glob else escape_glob(pattern))
    if not recursive:
        check_nothing_left_out(path, [f.uri for f in every], df.inputFiles())
    if feature_cols:
        features_col = None
    try:
        select_model_columns(df, features_col=features_col, feature_cols=feature_cols,
                             label_col=label_col, weight_col=weight_col)
    except InvalidParameterError as exc:
        raise InvalidParameterError(f"Parquet input {path!r}: {exc}") from None
    names = column_names(features_col, feature_cols, label_col, weight_col)
    plan = _direct_plan(df, names)
    if isinstance(plan, str):
        logger.warning("read_parquet(%r): reading through spark.read.parquet instead of "
                       "directly: %s", path, plan)
        return BlockDataset.from_dataframe(
            df, features_col=features_col, feature_cols=feature_cols, label_col=label_col,
            weight_col=weight_col, max_block_rows=max_block_rows, storage=storage)
    if num_partitions is not None:
        plan = regroup(plan, num_partitions)
    logger.info("read_parquet(%r): %d byte ranges of Parquet read directly in %d partitions",
                path, sum(len(p) for p in plan), len(plan))
    task = partial(_read_partition, names=names, has_y=label_col is not None,
                   has_w=weight_col is not None, max_rows=max_block_rows)
    blocks = sc.parallelize(plan, len(plan)).mapPartitionsWithIndex(task)
    return BlockDataset.from_blocks(blocks, source=f"Parquet {path!r} columns {names['describe']}",
                                    storage=storage)


def _file_key(uri: str) -> str:
    """One spelling of a file's URI: Hadoop lists ``file:/x/a b``, ``inputFiles`` gives
    ``file:///x/a%20b``."""
    text = unquote(uri)
    return "/" + text[len("file:"):].lstrip("/") if text.startswith("file:") else text


def check_nothing_left_out(path: str, listed: list[str], read: list[str]) -> None:
    """Raise unless every listed file under ``path`` is among those Spark's reader will
    read: a sub-directory that is not a ``key=value`` partition is skipped by Spark's
    partition discovery without a word.

    Raises
    ------
    DataValidationError
        Naming the directories of the files left out (and how many), and the remedy.
    """
    kept = {_file_key(u) for u in read}
    left = [u for u in listed if _file_key(u) not in kept]
    if not left:
        return
    by_dir: dict[str, int] = {}
    for uri in left:
        parent = display_path(uri).rsplit("/", 1)[0]
        by_dir[parent] = by_dir.get(parent, 0) + 1
    shown = "; ".join(f"{d}/ ({n} file{'s' if n > 1 else ''})"
                      for d, n in sorted(by_dir.items())[:NESTED_SHOWN])
    more = f"; and {len(by_dir) - NESTED_SHOWN} more" if len(by_dir) > NESTED_SHOWN else ""
    raise DataValidationError(
        f"Input path {path!r}: Spark's Parquet reader would leave out {len(left)} file(s) "
        f"in sub-directories that are not key=value partitions: {shown}{more}. Pass "
        "recursive=True (jobs: --recursive) to read every file under the path, or point "
        "the input at the files you mean."
    )


# ---------------------------------------------------------------- the driver's plan
def _direct_plan(df: DataFrame, names: dict[str, Any]) -> list[list[Split]] | str:
    """Spark's scan of ``df`` as byte ranges per partition, or why it cannot be read
    directly with the same result."""
    from pyspark.sql import types as T

    fields = {f.name: f.dataType for f in df.schema.fields}
    wanted = [*names["feature_source"], names["label_source"], names["weight_source"]]
    for name in (c for c in wanted if c):
        dtype = fields[name]
        if isinstance(dtype, T.ArrayType):
            dtype = dtype.elementType
        if type(dtype).__name__ == "VectorUDT":
            return f"column {name!r} is a vector (a struct in the files)"
        if isinstance(dtype, T.DecimalType):
            return f"column {name!r} is a decimal (Spark's cast to double applies)"
    try:
        plan = _scan_splits(df)
    except Exception as exc:  # py4j errors, another Spark version's plan classes
        return f"Spark's file scan plan is not reachable ({type(exc).__name__}: {exc})"
    if isinstance(plan, str):
        return plan
    uris = [s[0] for part in plan for s in part]
    reason = _pyarrow_cannot_open(uris[0]) if uris else None
    if reason:
        return reason
    if not plan:
        plan = [[]]  # no files with rows: one empty partition, as Spark's empty scan
    return plan


def _pyarrow_cannot_open(uri: str) -> str | None:
    """Why pyarrow cannot open ``uri`` here (None when it can): built without that
    filesystem, or not configured for it."""
    try:
        from pyarrow.fs import FileSystem

        FileSystem.from_uri(uri)
    except Exception as exc:
        return f"pyarrow cannot open {uri!r} ({type(exc).__name__}: {exc})"
    return None


def _scan_splits(df: DataFrame) -> list[list[Split]] | str:
    """The byte ranges of each partition of ``df``'s file scan, from Spark's planner (no
    job runs): ``FileSourceScanExec.inputRDD`` is the ``FileScanRDD`` whose partitions
    ``spark.read.parquet(path).rdd`` has."""
    jdf = getattr(df, "_jdf", None)
    if jdf is None:
        return "no JVM DataFrame (Spark Connect)"
    leaves = jdf.queryExecution().executedPlan().collectLeaves()
    if leaves.size() != 1 or not leaves.apply(0).getClass().getName().endswith(
            "FileSourceScanExec"):
        return "the DataFrame's plan is not a single file scan"
    scan = leaves.apply(0)
    if scan.relation().partitionSchema().size() > 0:
        return "the dataset is partitioned by directory (column values are in the paths)"
    plan: list[list[Split]] = []
    for partition in scan.inputRDD().partitions():
        splits: list[Split] = []
        for f in partition.files():
            uri = f.filePath()  # a SparkPath since Spark 3.4, a URI string before
            splits.append((uri if isinstance(uri, str) else uri.urlEncoded(),
                           int(f.start()), int(f.length())))
        plan.append(splits)
    return plan


def regroup(plan: list[list[Split]], num_partitions: int) -> list[list[Split]]:
    """The ranges of ``plan``, in order, cut into at most ``num_partitions`` contiguous
    runs of about equal bytes: the row order is kept."""
    splits = [s for part in plan for s in part]
    total = sum(s[2] for s in splits) or 1
    out: list[list[Split]] = [[] for _ in range(num_partitions)]
    done = 0
    for split in splits:
        # The run holding the range's middle byte: non-decreasing, so runs stay in order.
        out[min(int((done + split[2] / 2) * num_partitions / total), num_partitions - 1)].append(
            split)
        done += split[2]
    return [run for run in out if run] or [[]]


# ---------------------------------------------------------------- the tasks
def row_group_midpoint(row_group: Any) -> int:
    """Where Parquet's Java reader places a row group when it splits a file (the rule of
    parquet-mr's ``filterFileMetaDataByMidpoint``): the first column chunk's offset
    (its dictionary page when it comes first) plus half the compressed size."""
    first = row_group.column(0)
    offset = int(first.data_page_offset)
    if first.has_dictionary_page and first.dictionary_page_offset is not None:
        offset = min(offset, int(first.dictionary_page_offset))
    size = sum(int(row_group.column(j).total_compressed_size)
               for j in range(row_group.num_columns))
    return offset + size // 2


def _numeric(dtype: Any) -> bool:
    import pyarrow as pa

    return bool(pa.types.is_integer(dtype) or pa.types.is_floating(dtype))


def _file_columns(schema: Any, names: dict[str, Any], where: str) -> list[str]:
    """The model columns a file must have, checked against its own schema (one file
    can differ from the one Spark read the schema from)."""
    import pyarrow as pa

    have = {schema.field(i).name: schema.field(i).type for i in range(len(schema))}
    roles = [("feature", c) for c in names["feature_source"]]
    roles += [(role, names[f"{role}_source"]) for role in ("label", "weight")
              if names[f"{role}_source"]]
    for role, name in roles:
        if name not in have:
            raise ValueError(f"{where} has no {role} column {name!r}; its columns are "
                             f"{sorted(have)}")
        dtype = have[name]
        whole = len(names["feature_source"]) == 1 and role == "feature" and (
            pa.types.is_list(dtype) or pa.types.is_large_list(dtype))
        if not _numeric(dtype.value_type if whole else dtype):
            raise ValueError(f"{where}: the {role} column {name!r} must be numeric"
                             f"{' (an array of numbers)' if whole else ''}, but it has type "
                             f"{dtype}")
    return [name for _, name in roles]


def _as_doubles(col: Any) -> Any:
    """A numeric Arrow column (or list of numbers) as float64, as Spark's cast to double
    (``safe=False``: a large integer rounds instead of raising)."""
    import pyarrow as pa

    if pa.types.is_list(col.type) or pa.types.is_large_list(col.type):
        if pa.types.is_float64(col.type.value_type):
            return col
        return col.cast(pa.list_(pa.float64()), safe=False)
    return col if pa.types.is_float64(col.type) else col.cast(pa.float64(), safe=False)


def _open(uri: str) -> tuple[Any, str, str]:
    """(pyarrow filesystem, its path of the file, the file's name for messages)."""
    from pyarrow.fs import FileSystem, LocalFileSystem

    fs, local = FileSystem.from_uri(uri)
    return fs, local, local if isinstance(fs, LocalFileSystem) else unquote(uri)


def _split_batches(split: Split, names: dict[str, Any], where: list[Any]) -> Iterator[Any]:
    """The model columns of one byte range's row groups, as float64 record batches.
    ``where`` is set to (file, its row of the next batch's first row) for messages."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    uri, start, length = split
    fs, local, shown = _open(uri)
    where[:] = [shown, 0]  # a file that cannot be read is named too
    with fs.open_input_file(local) as source:
        parquet = pq.ParquetFile(source)
        meta = parquet.metadata
        columns = _file_columns(parquet.schema_arrow, names, f"file {shown}")
        file_row = 0
        groups: list[int] = []
        for i in range(meta.num_row_groups):
            group = meta.row_group(i)
            if start <= row_group_midpoint(group) < start + length:
                groups.append(i)
            elif not groups:
                file_row += group.num_rows
        if not groups:
            return
        read = list(dict.fromkeys(columns))  # a column may serve twice (feature and label)
        out_names = [f"c{j}" for j in range(len(columns))]
        where[:] = [shown, file_row]
        for batch in parquet.iter_batches(batch_size=BATCH_ROWS, row_groups=groups,
                                          columns=read, use_threads=False):
            yield pa.RecordBatch.from_arrays(
                [_as_doubles(batch.column(name)) for name in columns], names=out_names)
            where[1] += batch.num_rows


def _read_partition(
    index: int,
    splits: Iterable[list[Split]],
    *,
    names: dict[str, Any],
    has_y: bool,
    has_w: bool,
    max_rows: int | None,
) -> Iterator[Any]:
    """``mapPartitionsWithIndex`` task: one partition's byte ranges → validated blocks,
    or the first error with its file, row and column."""
    cutter = BlockCutter(index, max_rows, has_y, has_w)
    seen = 0  # partition row of the current batch's first row
    where: list[Any] = ["", 0]
    try:
        for part in splits:
            for split in part:
                for batch in _split_batches(split, names, where):
                    n = batch.num_rows
                    if not n:
                        continue
                    seen = cutter.rows
                    X, y, w = arrow_batch_columns(batch, has_y, has_w, names, seen)
                    yield from cutter.add(X, y, w, n)
        yield from cutter.flush()
    except ValueError as exc:
        yield BlockError(_in_file(str(exc), where, seen))
    except OSError as exc:  # a file that vanished or cannot be read
        yield BlockError(f"file {where[0] or '?'}: cannot be read: {exc}")


def _in_file(message: str, where: list[Any], batch_row: int) -> str:
    """A partition-row message (the shared checks count rows by partition) restated as
    the row of the file being read: ``batch_row`` is the partition row of the batch's
    first row, ``where`` its file and row in the file."""
    shown, file_row = where
    if not shown or message.startswith("file "):
        return message

    def restate(match: re.Match[str]) -> str:
        return f"row {file_row + int(match.group(1)) - batch_row} (0-based) of file {shown}"

    restated, count = _PARTITION_ROW.subn(restate, message, count=1)
    return restated if count else f"file {shown}: {message}"
