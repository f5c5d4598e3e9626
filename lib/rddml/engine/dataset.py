"""The dataset interface every algorithm runs on, whatever the backend or storage.

An algorithm never sees an RDD or a DataFrame. It writes a *block function*
``fn(block, params)`` over a :class:`BlockView` (a features matrix with its labels,
weights and row keys) and asks a :class:`Dataset` to run it:

- :meth:`Dataset.aggregate` folds every block of a partition into one partial with
  ``merge`` before anything crosses the network, then combines the partials
  (``treeAggregate`` on RDDs; collected and merged in partition order on DataFrames);
- :meth:`Dataset.aggregate_by_key` splits each partition's partial into a few keyed
  records and combines them by key (``reduceByKey`` / ``groupBy``), optionally
  reducing each key on the executors (``finish``) before the driver sees it;
- :meth:`Dataset.rows` collects small per-block lists (samples, candidates);
- :meth:`Dataset.transform` gives a view whose blocks are rewritten on the fly
  (unit-normalised rows for cosine k-means) without a second cached copy.

``params`` travel with the pass: broadcast on RDDs when large, inside the task
otherwise (Spark Connect has no broadcast). Block functions must be picklable
module-level functions (or :func:`functools.partial` of one), so closures never
capture loop variables or an estimator.

Two implementations: :class:`~rddml.engine.blocks.BlockDataset` (RDD of cached NumPy
blocks) and :class:`~rddml.engine.frames.FrameDataset` (a cached DataFrame read as
Arrow batches by ``mapInArrow``). Both fill the same summary attributes, so the
estimators' checks apply unchanged.

Examples
--------
>>> import numpy as np
>>> view = BlockView(np.ones((3, 2)), None, None, first_row=10)
>>> view.row_keys().tolist()
[10, 11, 12]
"""

from __future__ import annotations

import copy
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, NamedTuple, TypeVar

import numpy as np

from rddml.engine.content_keys import value_keys
from rddml.errors import DatasetReleasedError

if TYPE_CHECKING:
    from rddml.engine.census import LabelCensus

T = TypeVar("T")
D = TypeVar("D", bound="Dataset")

#: A block function: one block and the pass's parameters → a partial result.
BlockFn = Callable[["BlockView", Any], Any]
#: A transform: one block and its parameters → the block with rewritten features.
Transform = tuple[Callable[["BlockView", Any], "BlockView"], Any]


class BlockView(NamedTuple):
    """What a block function sees: consecutive rows of one partition.

    ``first_row`` is the global index of the first row where the backend has a stable
    row order (RDD backend), or None (DataFrame backend: rows are keyed by content).
    ``X`` is a dense array or, for sparse data, a CSR matrix (:mod:`rddml.engine.sparse`).
    """

    X: np.ndarray
    y: np.ndarray | None
    w: np.ndarray | None
    first_row: int | None

    @property
    def n_rows(self) -> int:
        return int(self.X.shape[0])

    def row_keys(self) -> np.ndarray:
        """One 64-bit key per row for counter-based random draws (:mod:`rddml.engine.counter_rng`).

        The global row index where there is one, so a seed gives the same draws for any
        partitioning of the same ordered rows; otherwise a hash of the row's non-zero
        feature values (:func:`rddml.engine.content_keys.value_keys`), the same for any
        partitioning or row order of the same rows, and for their dense and sparse layouts.
        """
        if self.first_row is not None:
            return np.arange(self.first_row, self.first_row + self.n_rows, dtype=np.int64)
        return value_keys(self.X).astype(np.int64)


#: Parameters of at least this many bytes travel as a broadcast on the RDD backend;
#: smaller ones ride inside the task, which spares a broadcast round trip per pass.
BROADCAST_MIN_BYTES = 256 * 1024


def payload_bytes(params: Any) -> int:
    """Approximate size of a pass's parameters: the arrays' bytes, recursively."""
    if isinstance(params, np.ndarray):
        return int(params.nbytes)
    if isinstance(params, (tuple, list)):
        return sum(payload_bytes(p) for p in params)
    if isinstance(params, dict):
        return sum(payload_bytes(p) for p in params.values())
    return 64


def tree_depth(num_partitions: int) -> int:
    """``treeAggregate`` depth: with few partitions the driver merges the partials
    directly (one stage per pass); past 16 an intermediate level spares the driver."""
    return 1 if num_partitions <= 16 else 2


class Carrier:
    """Parameters shipped inside the task (small ones, or where there is no broadcast)."""

    __slots__ = ("value",)

    def __init__(self, value: Any) -> None:
        self.value = value


def apply_transforms(block: BlockView, transforms: tuple[Transform, ...]) -> BlockView:
    for fn, params in transforms:
        block = fn(block, params)
    return block


@dataclass(frozen=True)
class KeyedMerge:
    """How :meth:`Dataset.aggregate_by_key` combines: ``merge`` folds a partition's block
    results, ``split`` cuts the partial into ``(key, value)`` records, ``combine`` merges
    the values of one key across partitions, ``finish`` (optional) reduces each key's
    value on the executors; ``num_reducers`` is a hint for the shuffle."""

    merge: Callable[[Any, Any], Any]
    split: Callable[[Any], Iterable[tuple[int, Any]]]
    combine: Callable[[Any, Any], Any]
    finish: Callable[[Any], Any] | None = None
    num_reducers: int = 1


def fold_blocks(blocks: Iterable[BlockView], fn: BlockFn, params: Any,
                merge: Callable[[Any, Any], Any]) -> Iterator[Any]:
    """One partial for a partition's blocks (nothing for an empty partition).

    The accumulator belongs to the fold (a block function's fresh result, or a merge's),
    so a partial that offers ``absorb_block(other)`` (merge ``other`` into itself in
    place, returning itself) is grown in place: a sparse k-means partial then allocates
    its dense k x d sums once per partition instead of once per block."""
    acc: Any = None
    first = True
    for block in blocks:
        part = fn(block, params)
        if first:
            acc = part
        elif hasattr(acc, "absorb_block"):
            acc = acc.absorb_block(part)
        else:
            acc = merge(acc, part)
        first = False
    if not first:
        yield acc


# Partition tasks shared by both backends. ``views`` turns a partition's stored items
# (RDD blocks, Arrow batches) into BlockViews; ``carrier.value`` holds the parameters.
def fold_task(items: Iterable[Any], *, views: Callable[[Iterable[Any]], Iterator[BlockView]],
              carrier: Any, fn: BlockFn, merge: Callable[[Any, Any], Any]) -> Iterator[Any]:
    """A partition's blocks folded into one partial."""
    return fold_blocks(views(items), fn, carrier.value, merge)


def keyed_task(items: Iterable[Any], *, views: Callable[[Iterable[Any]], Iterator[BlockView]],
               carrier: Any, fn: BlockFn, keyed: KeyedMerge) -> Iterator[tuple[int, Any]]:
    """A partition folded, then split into keyed records."""
    for acc in fold_blocks(views(items), fn, carrier.value, keyed.merge):
        yield from keyed.split(acc)


def rows_task(items: Iterable[Any], *, views: Callable[[Iterable[Any]], Iterator[BlockView]],
              carrier: Any, fn: BlockFn) -> Iterator[Any]:
    """The items of every block's list, in block order."""
    params = carrier.value
    for block in views(items):
        yield from fn(block, params)


def call_task(items: Iterable[Any], *, fn: Callable[[Any], Any], params: Any) -> list[Any]:
    """``fn(params)`` once. The partition's items are read and dropped, unused: a PySpark
    worker that leaves its input unread exits after the task instead of being reused, and
    the next task forks a fresh one that must import numba and load the kernels again."""
    for _ in items:
        pass
    return [fn(params)]


def map_task(items: Iterable[Any], *, views: Callable[[Iterable[Any]], Iterator[BlockView]],
             carrier: Any, fn: BlockFn) -> Iterator[Any]:
    """One result per block."""
    params = carrier.value
    for block in views(items):
        yield fn(block, params)


class CacheState:
    """Whether a dataset's cached data is released; one object shared by the dataset and
    its :meth:`~Dataset.transform` views, so a view of a released dataset knows it."""

    __slots__ = ("released",)

    def __init__(self) -> None:
        self.released = False


class Dataset(ABC):
    """Model columns cached as NumPy blocks, with the summary the estimators check.

    Attributes
    ----------
    n_rows, n_features, num_partitions : int
    has_labels, has_weights : bool
    labels : tuple of float
        The distinct label values (up to 17, enough to report bad ones).
    min_weight : float or None
    n_skipped : int
        Rows dropped because the reader was asked to skip bad rows.
    digest : str
        A hash of the rows' contents (features, labels, weights) that does not depend
        on partitioning or row order: checkpoints use it to refuse other data.
    input_path : str or None
        The file or directory the rows were read from, when a reader knows it
        (:mod:`rddml.engine.sources.text`); checkpoints refuse to resume from another path.
    layout : {"dense", "sparse"}
        How the blocks hold the features: arrays, or CSR matrices
        (:mod:`rddml.engine.sparse`).
    nnz : int
        Values the blocks store: the non-zeros of sparse blocks, rows x features of dense ones.
    label_census : LabelCensus or None
        Per-class row counts, weights and weighted feature means and squared deviations
        of the labelled rows, with the invalid labels seen
        (:class:`~rddml.engine.census.LabelCensus`, class k = label k), gathered by the
        conversion's summary pass, so a fit needs no pass for its standardisation
        statistics or class totals: what :func:`~rddml.linear.passes.label_census_pass`
        computes (to rounding: the tree aggregation of more than 16 partitions merges
        in another order). None when the rows are
        unlabelled, when some partition could not keep one (too many classes x
        features, :data:`~rddml.engine.records.MAX_CENSUS_VALUES`), and on a view whose
        rows differ from the converted ones (:meth:`transform`): then run the pass.
    backend : {"rdd", "dataframe"}
    """

    backend: str = ""
    n_rows: int
    n_features: int
    has_labels: bool
    has_weights: bool
    labels: tuple[float, ...]
    min_weight: float | None
    n_skipped: int
    skipped_examples: tuple[str, ...]
    digest: str
    input_path: str | None = None
    layout: str = "dense"
    nnz: int = 0
    label_census: LabelCensus | None = None
    _transforms: tuple[Transform, ...] = ()
    _owner: bool = True  # False for a transform() view, which shares the cached data
    _state: CacheState  # set by each backend's __init__, shared with transform() views

    @property
    @abstractmethod
    def num_partitions(self) -> int:
        """Partitions the passes run over."""

    # ------------------------------------------------------------------ passes
    @abstractmethod
    def aggregate(self, fn: BlockFn, params: Any, zero: T,
                  merge: Callable[[T, T], T]) -> T:
        """``merge(zero, fn(b1), fn(b2), ...)`` over every block: one Spark job.

        Each partition folds its blocks first, so only one partial per partition
        leaves it; ``merge`` must not modify its arguments.
        """

    @abstractmethod
    def aggregate_by_key(self, fn: BlockFn, params: Any, keyed: KeyedMerge) -> dict[int, Any]:
        """Fold each partition, split its partial into ``(key, value)`` records, combine the
        values of each key across partitions (a shuffle) and return ``{key: finish(value)}``.
        """

    @abstractmethod
    def per_partition(self, fn: Callable[[Any], Any], params: Any) -> list[Any]:
        """``fn(params)`` once in every partition's task, without reading its blocks
        (warming up compiled kernels in the workers): one job."""

    @abstractmethod
    def rows(self, fn: BlockFn, params: Any) -> list[Any]:
        """Concatenation of ``fn(block, params)`` (a list per block), in partition order."""

    def transform(self: D, fn: Callable[[BlockView, Any], BlockView], params: Any) -> D:
        """A view whose every pass sees ``fn(block, params)`` instead of ``block``.

        The view shares the cached data (no copy); unpersisting it does nothing. It has
        no :attr:`label_census` (its rows are not the converted ones).
        """
        view = copy.copy(self)
        view._transforms = (*self._transforms, (fn, params))
        view._owner = False
        # The census describes the converted rows, not the rewritten ones: a fit on the
        # view must compute its statistics from what the view's passes see.
        view.label_census = None
        return view

    # --------------------------------------------------------------- lifecycle
    def unpersist(self) -> None:
        """Release the cached data (a :meth:`transform` view releases nothing).

        Nothing is computed, and a second call does nothing. Any pass afterwards (on
        the dataset or one of its views) raises :class:`~rddml.errors.DatasetReleasedError`
        instead of reading the source again on every pass.
        """
        if self._owner and not self._state.released:
            self._state.released = True
            self._release()

    @property
    def released(self) -> bool:
        """True once the dataset (or the one a view was made from) was unpersisted."""
        return self._state.released

    def _check_live(self) -> None:
        """Raise :class:`~rddml.errors.DatasetReleasedError` after :meth:`unpersist`."""
        if self._state.released:
            raise DatasetReleasedError(
                f"This {type(self).__name__} was unpersisted: its cached data is gone, and a "
                "pass over it would read the source again on every iteration. Build a new "
                "dataset, or pass the source data (RDD or DataFrame) to fit(), which caches "
                "it for the fit."
            )

    @abstractmethod
    def _release(self) -> None:
        """Drop the cached data from the executors."""

    def __enter__(self: D) -> D:
        return self

    def __exit__(self, *exc: object) -> None:
        self.unpersist()

    def __repr__(self) -> str:
        layout = ", layout='sparse'" if self.layout == "sparse" else ""
        return (f"{type(self).__name__}(n_rows={self.n_rows}, n_features={self.n_features}, "
                f"partitions={self.num_partitions}, labels={self.has_labels}, "
                f"weights={self.has_weights}{layout})")
