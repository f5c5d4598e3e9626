"""Aggregating per-partition statistics before anything crosses the network.

Each partition folds its blocks into one partial result; only those partials
are shuffled (``reduceByKey``) or tree-reduced (``treeAggregate``-style reduce),
so network traffic depends on the number of partitions, not on the rows.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from functools import partial, reduce
from typing import TYPE_CHECKING, Any, TypeVar

if TYPE_CHECKING:
    from pyspark import RDD

T = TypeVar("T")


def fold_partition(
    items: Iterable[Any], *, partial_fn: Callable[[Any], T], merge: Callable[[T, T], T]
) -> Iterator[T]:
    """Fold the blocks of one partition into a single partial (none for an empty partition)."""
    acc: T | None = None
    for item in items:
        part = partial_fn(item)
        acc = part if acc is None else merge(acc, part)
    if acc is not None:
        yield acc


def _fold_into(acc: T, item: Any, *, partial_fn: Callable[[Any], T],
               merge: Callable[[T, T], T]) -> T:
    return merge(acc, partial_fn(item))


def tree_aggregate(
    rdd: RDD[Any],
    partial_fn: Callable[[Any], T],
    merge: Callable[[T, T], T],
    zero: T,
    depth: int = 2,
) -> T:
    """Per-partition fold from ``zero``, then a tree reduce of the partials (one job).

    ``merge`` must not modify its arguments: ``zero`` is reused by every partition.
    """
    seq = partial(_fold_into, partial_fn=partial_fn, merge=merge)
    return rdd.treeAggregate(zero, seq, merge, depth=depth)


def keyed_partials(
    items: Iterable[Any],
    *,
    partial_fn: Callable[[Any], T],
    merge: Callable[[T, T], T],
    split: Callable[[T], Iterable[tuple[int, Any]]],
) -> Iterator[tuple[int, Any]]:
    """Fold a partition, then split the partial into keyed records for ``reduceByKey``."""
    for acc in fold_partition(items, partial_fn=partial_fn, merge=merge):
        yield from split(acc)


def reduce_by_key(
    rdd: RDD[Any],
    partial_fn: Callable[[Any], T],
    merge: Callable[[T, T], T],
    split: Callable[[T], Iterable[tuple[int, Any]]],
    combine: Callable[[Any, Any], Any],
    num_reducers: int = 1,
) -> dict[int, Any]:
    """Per-partition fold, split into at most a few keyed records, ``reduceByKey``, collect."""
    keyed = rdd.mapPartitions(
        partial(keyed_partials, partial_fn=partial_fn, merge=merge, split=split)
    )
    return dict(keyed.reduceByKey(combine, numPartitions=num_reducers).collect())


def merge_all(parts: Iterable[T], merge: Callable[[T, T], T], zero: T) -> T:
    """Merge partials on the driver."""
    return reduce(merge, parts, zero)
