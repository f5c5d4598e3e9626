"""Reading libsvm files (Spark's format) into a :class:`BlockDataset` of sparse blocks.

Lines are parsed on the executors (:mod:`rddml.data.libsvm_format`) straight into CSR
slices, cut into sparse blocks by the engine's :class:`~rddml.engine.cutting.BlockCutter`:
no row is ever densified (``layout="dense"`` asks for dense blocks explicitly). Files
are found and split as :mod:`rddml.engine.sources.text` does: a local, uncompressed
file is read by the Python tasks in Hadoop's splits, anything else (HDFS, S3, ``.gz``)
through Hadoop's TextInputFormat; a bad line is an error naming the file and line.

Without ``n_features`` (Spark's ``numFeatures``) the width is the largest index in the
data, found by a first job over the files (as Spark's reader does); with it, an index
beyond it is an error.

Examples
--------
>>> ds = read_libsvm(spark, "data/sample_libsvm_data.txt")  # doctest: +SKIP
>>> ds.layout, ds.n_features  # doctest: +SKIP
('sparse', 692)
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from functools import partial
from typing import Any

from rddml.data.libsvm_format import SparsePiece, hadoop_pieces, split_pieces
from rddml.data.text_format import LineError, display_path
from rddml.engine import sparse
from rddml.engine.blocks import BlockDataset
from rddml.engine.cutting import BlockCutter
from rddml.engine.precision import check_dtype
from rddml.engine.records import Block, BlockError
from rddml.engine.sources.text import READERS, TextInputs, list_input_files, spark_context
from rddml.errors import DataValidationError, InvalidParameterError
from rddml.params import check_choice


def _pieces(partition: int, records: Iterable[Any], *, direct: list[bool],
            n_features: int | None) -> Iterator[SparsePiece]:
    if direct[partition]:
        return split_pieces(records, n_features)
    return hadoop_pieces(records, n_features)


def _max_index_task(partition: int, records: Iterable[Any], *, files: list[str],
                    direct: list[bool]) -> list[tuple[int, int, BlockError | None]]:
    """``(partition, largest 0-based index, first error)`` of one partition."""
    top = -1
    try:
        for piece in _pieces(partition, records, direct=direct, n_features=None):
            top = max(top, piece.max_index)
    except LineError as exc:
        return [(partition, top, BlockError(str(exc), file=files[partition],
                                            offset=exc.offset))]
    return [(partition, top, None)]


def parse_libsvm_partition(partition: int, records: Iterable[Any], *, files: list[str],
                           direct: list[bool], n_features: int, max_rows: int | None,
                           layout: str) -> Iterator[Block | BlockError]:
    """One partition's lines as blocks (on the executors): CSR slices into the cutter."""
    file = files[partition]
    cutter = BlockCutter(partition, max_rows, True, False, layout=layout)
    try:
        for piece in _pieces(partition, records, direct=direct, n_features=n_features):
            if not piece.n_rows:
                continue
            itype = sparse.index_dtype(n_features, int(piece.indices.size))
            X = sparse.csr(piece.values, piece.indices.astype(itype),
                           piece.indptr.astype(itype), n_features)
            yield from cutter.add(X, piece.labels, None)
        yield from cutter.flush()
    except LineError as exc:
        yield BlockError(str(exc), file=file, offset=exc.offset)
    except ValueError as exc:  # cannot happen for checked lines; kept as a clear error
        yield BlockError(f"{display_path(file)}: {exc}")


def read_libsvm(
    spark_or_sc: Any,
    path: str,
    *,
    n_features: int | None = None,
    layout: str = "auto",
    storage: str = "auto",
    max_block_rows: int | None = None,
    reader: str = "auto",
    split_bytes: int | None = None,
    dtype: str = "float64",
) -> BlockDataset:
    """Read labelled libsvm files under ``path`` (a file, a directory or a glob) into a
    cached :class:`BlockDataset` of sparse (CSR) blocks.

    Parameters
    ----------
    spark_or_sc : SparkSession or SparkContext
    path : str
        Any path Hadoop reads (local, HDFS, S3, DBFS, ``.gz`` files...).
    n_features : int or None, default=None
        Spark's ``numFeatures``: the vectors' width. None: the largest index in the data
        (one extra job). An index beyond it is an error.
    layout : {"auto", "sparse", "dense"}, default="auto"
        ``"auto"`` and ``"sparse"`` make CSR blocks; ``"dense"`` dense ones.
    storage, max_block_rows, reader, split_bytes
        As :func:`rddml.engine.sources.text.read_text_blocks`.
    dtype : {"float64", "float32"}, default="float64"
        The precision the stored values are kept in (:mod:`rddml.engine.precision`).

    Raises
    ------
    DataValidationError
        Naming the file and line of the first bad line: a label or value that is not a
        finite number, a field that is not ``index:value``, an index that is not a
        positive integer, indices not strictly increasing (unsorted or repeated), or an
        index beyond ``n_features``; or when the files hold no row.
    """
    check_choice("layout", layout, sparse.LAYOUTS)
    check_choice("reader", reader, READERS)
    check_dtype(dtype)
    if n_features is not None and (not isinstance(n_features, int) or isinstance(
            n_features, bool) or n_features < 1):
        raise InvalidParameterError(
            f"The 'n_features' parameter must be None or an int >= 1, got {n_features!r}.")
    sc = spark_context(spark_or_sc)
    inputs = TextInputs(sc, list_input_files(sc, path), reader)
    text, by_partition, direct = inputs.partitions(split_bytes)
    describe = inputs.describe

    width = n_features
    if width is None:
        found = text.mapPartitionsWithIndex(
            partial(_max_index_task, files=by_partition, direct=direct)).collect()
        errors = [e for _, _, e in sorted(found, key=lambda t: t[0]) if e is not None]
        if errors:
            raise DataValidationError(describe(errors[0]))
        width = max([top for _, top, _ in found], default=-1) + 1
        if width == 0:
            width = 1  # rows without any stored value still have a width
    blocks = text.mapPartitionsWithIndex(partial(
        parse_libsvm_partition, files=by_partition, direct=direct, n_features=int(width),
        max_rows=max_block_rows, layout="dense" if layout == "dense" else "sparse"))
    ds = BlockDataset.from_blocks(blocks, source=path, describe_error=describe, storage=storage,
                                  dtype=dtype)
    ds.input_path = display_path(path)
    return ds
