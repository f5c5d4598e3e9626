"""What the executors send back while data becomes blocks: blocks, errors, summaries.

Conversion never raises on an executor (Spark would bury the message in a Java stack
trace): a task emits a :class:`BlockError`, and the one summary pass per dataset
returns each partition's :class:`PartitionSummary` (rows, width, labels, minimum
weight, first error, content digest and, for labelled rows, the per-class feature
moments of :class:`~rddml.engine.census.LabelCensus`). :func:`apply_summaries` turns
those into the dataset's attributes on the driver and :func:`check_summaries` raises
:class:`DataValidationError` for the first problem found. Both backends use these, so
their checks and messages agree.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any, NamedTuple

import numpy as np

from rddml.engine.census import LabelCensus, block_label_census
from rddml.engine.content_keys import row_key_sums, value_key_sums
from rddml.errors import DataValidationError

MAX_LABELS = 16  # distinct labels kept per partition (enough to report bad labels)
#: A partition keeps its label census while classes x features stays at most this: the
#: census's means and squared deviations are then at most 1 MiB in the summary, which
#: every partition sends to the driver (and, with executor storage, keeps in the handle
#: each pass reads). Beyond it the summary has no census and a fit that needs the
#: statistics runs its own pass (whose partials are that large anyway).
MAX_CENSUS_VALUES = 1 << 16
_DIGEST_SALT = np.uint64(0x452821E638D01377)
_MASK = (1 << 64) - 1


class Block(NamedTuple):
    """A slice of consecutive rows of one partition, as the RDD backend stores it.

    ``X`` is a dense ``(rows, d)`` array, or for sparse data a canonical CSR matrix
    (:mod:`rddml.engine.sparse`).
    """

    partition: int
    start: int
    X: np.ndarray
    y: np.ndarray | None
    w: np.ndarray | None


class BlockError(NamedTuple):
    """A conversion failure, carried back to the driver instead of raised on an executor.

    ``file``/``offset`` locate the bad line of a text input by byte offset; the driver
    turns that into a line number only when it has to report the error.
    """

    message: str
    file: str | None = None
    offset: int | None = None


class SkippedRows(NamedTuple):
    """Rows a partition dropped because the user asked for ``on_bad_rows="skip"``."""

    n_rows: int
    examples: tuple[str, ...]


@dataclass(frozen=True)
class PartitionSummary:
    """What the summary pass learns about one partition.

    ``census`` is the per-class row count and weighted feature moments of the
    partition's labelled rows (:class:`~rddml.engine.census.LabelCensus`), or None: no
    labels, an error, or more than :data:`MAX_CENSUS_VALUES` classes x features. It
    takes no part in comparisons (it holds arrays). ``sparse``: the blocks are CSR.
    ``nnz``: values the blocks store (the non-zeros of CSR blocks, rows x features of
    dense ones).
    """

    partition: int
    n_rows: int
    n_features: int | None
    has_labels: bool
    has_weights: bool
    labels: tuple[float, ...]
    min_weight: float | None
    error: BlockError | None
    skipped: int = 0
    skipped_examples: tuple[str, ...] = ()
    digest: tuple[int, int] = (0, 0)
    census: LabelCensus | None = field(default=None, compare=False)
    sparse: bool = False
    nnz: int = field(default=0, compare=False)


def content_digest(X: np.ndarray, y: np.ndarray | None, w: np.ndarray | None) -> tuple[int, int]:
    """Two 64-bit sums of per-row hashes of (features, label, weight).

    A sum of row hashes is the same for any partitioning, block size or row order of
    the same rows, and partitions combine by addition: the digest costs one vectorised
    hash per row during the summary pass and no extra job. The row hash is
    :func:`~rddml.engine.content_keys.row_keys`; the second sum is of SplitMix64 of each
    row hash xor a salt (:func:`~rddml.engine.content_keys.row_key_sums`).

    CSR blocks hash each row's stored values instead
    (:func:`~rddml.engine.content_keys.value_key_sums`): the dense row hash chains every
    column, zeros included, which a sparse row of 2^18 columns cannot afford. So the
    two layouts of the same rows have different digests (and a dataset's digest names
    its layout, see :func:`apply_summaries`); making them equal would change the digest
    of every dense dataset, which checkpoints made earlier hold.
    """
    if not isinstance(X, np.ndarray):
        return value_key_sums(X, y, w, salt=_DIGEST_SALT)
    return row_key_sums(X, y, w, salt=_DIGEST_SALT)


def summarise_partition(
    partition: int, items: Iterable[Block | BlockError | SkippedRows]
) -> PartitionSummary:
    """One partition's row count, width, label set, digest, label census and first error
    (executors).

    The census is :func:`~rddml.engine.census.block_label_census` of every block, merged
    in block order, as :func:`rddml.linear.passes.label_census_pass` folds a partition:
    a fit then finds its standardisation statistics here and needs no pass for them.
    """
    n_rows = 0
    n_features: int | None = None
    has_y = has_w = False
    labels: set[float] = set()
    min_w: float | None = None
    skipped = 0
    examples: list[str] = []
    d1 = d2 = 0
    census: LabelCensus | None = None
    census_ok = True  # False once a block has no labels or the census grew too large
    is_sparse = False
    nnz = 0
    for item in items:
        if isinstance(item, BlockError):
            return PartitionSummary(partition, n_rows, n_features, has_y, has_w, (), None, item)
        if isinstance(item, SkippedRows):
            skipped += item.n_rows
            examples.extend(item.examples[: max(0, 5 - len(examples))])
            continue
        n_rows += item.X.shape[0]
        if n_features is not None and item.X.shape[1] != n_features:
            return PartitionSummary(
                partition, n_rows, n_features, has_y, has_w, (), None,
                BlockError(f"partition {partition} has blocks of {n_features} and "
                           f"{item.X.shape[1]} features"),
            )
        n_features = item.X.shape[1]
        block_sparse = not isinstance(item.X, np.ndarray)
        is_sparse = is_sparse or block_sparse
        nnz += int(getattr(item.X, "nnz", 0)) if block_sparse else int(item.X.size)
        if n_features > MAX_CENSUS_VALUES:  # a census this wide is never kept: skip it
            census_ok = False
        if item.y is not None:
            has_y = True
            if len(labels) <= MAX_LABELS:
                labels.update(np.unique(item.y).tolist())
            if census_ok:
                part = block_label_census(item.X, item.y, item.w)
                census = part if census is None else census.merge(part)
                census_ok = census.n_classes * item.X.shape[1] <= MAX_CENSUS_VALUES
        else:
            census_ok = False
        if item.w is not None:
            has_w = True
            bmin = float(item.w.min()) if item.w.size else None
            if bmin is not None:
                min_w = bmin if min_w is None else min(min_w, bmin)
        a, b = content_digest(item.X, item.y, item.w)
        d1, d2 = (d1 + a) & _MASK, (d2 + b) & _MASK
    return PartitionSummary(
        partition, n_rows, n_features, has_y, has_w, tuple(sorted(labels)), min_w, None,
        skipped, tuple(examples), (d1, d2), census if census_ok else None, is_sparse, nnz,
    )


def check_summaries(
    summaries: list[PartitionSummary], source: str,
    describe_error: Callable[[BlockError], str] | None = None,
) -> None:
    """Raise :class:`DataValidationError` for the first error, mixed widths or no rows."""
    errors = [s.error for s in sorted(summaries, key=lambda s: s.partition) if s.error]
    if errors:
        if describe_error is not None:
            raise DataValidationError(describe_error(errors[0]))
        raise DataValidationError(f"Invalid data in {source}: {errors[0].message}")
    widths = sorted({s.n_features for s in summaries if s.n_features is not None})
    if len(widths) > 1:
        raise DataValidationError(
            f"Invalid data in {source}: rows have differing numbers of features "
            f"{widths} in different partitions; every row needs the same dimension."
        )
    if sum(s.n_rows for s in summaries) == 0:
        raise DataValidationError(f"Invalid data in {source}: it has no rows (empty input).")


def apply_summaries(ds: Any, summaries: list[PartitionSummary]) -> None:
    """Set a dataset's summary attributes (see :class:`~rddml.engine.dataset.Dataset`)."""
    summaries = sorted(summaries, key=lambda s: s.partition)
    widths = {s.n_features for s in summaries if s.n_features is not None}
    ds.n_rows = int(sum(s.n_rows for s in summaries))
    ds.n_features = int(widths.pop()) if widths else 0
    ds.has_labels = any(s.has_labels for s in summaries)
    ds.has_weights = any(s.has_weights for s in summaries)
    labels: set[float] = set()
    for s in summaries:
        labels.update(s.labels)
    ds.labels = tuple(sorted(labels))
    weights = [s.min_weight for s in summaries if s.min_weight is not None]
    ds.min_weight = min(weights) if weights else None
    ds.n_skipped = int(sum(s.skipped for s in summaries))
    ds.skipped_examples = tuple(e for s in summaries for e in s.skipped_examples)[:5]
    d1 = sum(s.digest[0] for s in summaries) & _MASK
    d2 = sum(s.digest[1] for s in summaries) & _MASK
    ds.layout = "sparse" if any(s.sparse for s in summaries) else "dense"
    ds.nnz = int(sum(s.nnz for s in summaries))
    # Sparse blocks hash their rows another way (see content_digest): say so in the digest.
    kind = "csr:" if ds.layout == "sparse" else ""
    ds.digest = f"{ds.n_rows}:{ds.n_features}:{kind}{d1:016x}{d2:016x}"
    ds.label_census = merged_census(summaries)


def merged_census(summaries: list[PartitionSummary]) -> LabelCensus | None:
    """The dataset's label census: the partitions' censuses merged in partition order
    (the order :meth:`~rddml.engine.dataset.Dataset.aggregate` merges up to 16 partials
    in, so it equals what :func:`rddml.linear.passes.label_census_pass` computes); None
    when there are no labelled rows or a partition with rows has no census. Partitions
    without rows are left out: they have no census and add nothing to one."""
    census: LabelCensus | None = None
    for s in sorted(summaries, key=lambda s: s.partition):
        if s.n_rows == 0:
            continue
        if s.census is None:
            return None
        census = s.census if census is None else census.merge(s.census)
    return census
