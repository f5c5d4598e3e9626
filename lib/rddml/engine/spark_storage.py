"""Blocks cached in Spark's block manager: the ``storage="spark"`` option.

Each pass streams the cached blocks from the JVM to the Python workers and unpickles
them; :mod:`rddml.engine.storage` keeps them as files on the executors instead (the
default). Both offer the same small interface to
:class:`~rddml.engine.blocks.BlockDataset`: ``rdd``, ``summaries``, ``views``, ``run``,
``release`` and ``cached_bytes``.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from functools import partial
from typing import TYPE_CHECKING, Any, TypeVar

import numpy as np

from rddml.engine import dataset as engine
from rddml.engine.dataset import BlockView, Transform
from rddml.engine.records import Block, PartitionSummary, summarise_partition

if TYPE_CHECKING:
    from pyspark import RDD

T = TypeVar("T")


def _views(items: Iterable[Any], offsets: np.ndarray,
           transforms: tuple[Transform, ...]) -> Iterator[BlockView]:
    """The stored blocks of a partition as the views block functions see."""
    for item in items:
        if isinstance(item, Block):
            view = BlockView(item.X, item.y, item.w, int(offsets[item.partition]) + item.start)
            yield engine.apply_transforms(view, transforms)


def _summary_task(index: int, items: Iterable[Any]) -> list[PartitionSummary]:
    return [summarise_partition(index, items)]


class SparkStorage:
    """Blocks cached in Spark's block manager (``MEMORY_AND_DISK``): each pass streams
    them from the JVM to the Python workers."""

    name = "spark"

    def __init__(self, source: RDD[Any]) -> None:
        from pyspark import StorageLevel

        self._cached = source.persist(StorageLevel.MEMORY_AND_DISK)
        try:
            self.summaries: list[PartitionSummary] = self._cached.mapPartitionsWithIndex(
                _summary_task).collect()
        except BaseException:
            self._cached.unpersist()
            raise
        skipped = any(s.skipped for s in self.summaries)
        self.rdd = self._cached.filter(_is_block) if skipped else self._cached

    def views(self, offsets: np.ndarray, transforms: tuple[Transform, ...]
              ) -> Callable[[Iterable[Any]], Iterator[BlockView]]:
        return partial(_views, offsets=offsets, transforms=transforms)

    @staticmethod
    def run(action: Callable[[], T]) -> T:
        return action()

    def release(self) -> None:
        # blocking=False: executors drop the blocks in the background.
        self._cached.unpersist()

    def cached_bytes(self) -> tuple[int, int]:
        sc = self._cached.context
        for info in sc._jsc.sc().getRDDStorageInfo():
            if info.id() == self._cached.id():
                return int(info.memSize() + info.diskSize()), 0
        return 0, 0


def _is_block(item: Any) -> bool:
    return isinstance(item, Block)
