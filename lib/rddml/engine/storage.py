"""Executor-resident block storage: NumPy blocks as ``.npy`` files on the executors' disks.

With ``storage="spark"`` the RDD backend caches its blocks in Spark's block manager,
and every pass streams every cached byte from the JVM to the Python workers and
unpickles it into new arrays. With ``storage="executor"`` each partition's blocks are
written once, as ``.npy`` files under the executor's local directory, by the same task
that converts and summarises them; the JVM caches only a small :class:`Handle` per
partition (host, directory, block shapes, summary). A pass opens the files with
``np.load(mmap_mode="r")``: the page cache serves them, nothing is copied or unpickled,
and under memory pressure the OS evicts pages and the pass runs at disk speed.

Where the files live: next to the executor's ``SparkFiles`` root (inside the
``spark-*`` directory Spark creates under ``spark.local.dir`` / ``SPARK_LOCAL_DIRS``
and deletes when the application or executor ends), in ``rddml-blocks/<dataset id>/``.

What happens when a handle cannot be opened where its task runs (the executor that
wrote it is gone and the task landed elsewhere, or the files were cleaned): the task
raises :class:`MissingBlocks` instead of computing anything, and the dataset rebuilds
its handles from lineage (re-running the conversion, which rewrites the files where
the tasks run) and runs the pass again, so a pass never returns a partial result.
When the executor that cached a handle is lost, Spark itself recomputes the handle
from lineage in the pass's task, which writes the files on the new executor.

Files are removed by :meth:`ExecutorStorage.release` (``unpersist``, the end of a fit
that built the dataset) with a task per partition, and in any case with Spark's
directory when the application ends.
"""

from __future__ import annotations

import contextlib
import logging
import os
import shutil
import socket
import uuid
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from typing import Any

import numpy as np

from rddml.engine import sparse
from rddml.engine.dataset import BlockView, Transform, apply_transforms
from rddml.engine.records import Block, BlockError, PartitionSummary, SkippedRows, summarise_partition

logger = logging.getLogger(__name__)

#: Marker in the error text of a task that found no files for its handle.
MISSING_MARKER = "RDDML_MISSING_BLOCKS"
STORAGES = ("auto", "spark", "executor")


class MissingBlocks(RuntimeError):
    """A handle's files are not on the host where the task runs."""


@dataclass(frozen=True)
class BlockFile:
    """One stored block: its first row within the partition and which arrays it has
    (a sparse block's features are three files, :func:`rddml.engine.sparse.save_csr`)."""

    start: int
    n_rows: int
    has_y: bool
    has_w: bool
    sparse: bool = False
    n_features: int = 0


@dataclass(frozen=True)
class Handle:
    """What the JVM caches for one partition: where its files are, and its summary."""

    host: str
    directory: str
    partition: int
    blocks: tuple[BlockFile, ...]
    summary: PartitionSummary


def storage_root() -> str:
    """This process's directory for block files (created on first use).

    On an executor (and in local mode) ``SparkFiles.getRootDirectory()`` sits inside the
    ``spark-*`` temporary directory of the application, which Spark deletes on exit;
    outside a Spark task the system temporary directory is used.
    """
    try:
        from pyspark import SparkFiles

        base = os.path.dirname(SparkFiles.getRootDirectory())
    except Exception:  # no SparkFiles root: a plain process (tests of this module)
        base = ""
    if not base or not os.path.isdir(base):
        import tempfile

        base = tempfile.gettempdir()
    root = os.path.join(base, "rddml-blocks")
    os.makedirs(root, exist_ok=True)
    return root


def _save(path: str, array: np.ndarray) -> None:
    with open(path, "wb") as f:
        np.save(f, np.ascontiguousarray(array, dtype=np.float64), allow_pickle=False)


def write_partition(partition: int, items: Iterable[Block | BlockError | SkippedRows], *,
                    dataset_id: str) -> Handle:
    """Write a partition's blocks as ``.npy`` files and summarise them, in one pass.

    The directory is written under a temporary name and renamed into place, so a
    killed task never leaves a half-written partition that a later task could open.
    """
    final = os.path.join(storage_root(), dataset_id, f"p{partition:05d}")
    tmp = f"{final}.tmp-{uuid.uuid4().hex[:8]}"
    os.makedirs(tmp)
    blocks: list[BlockFile] = []

    def stored(stream: Iterable[Block | BlockError | SkippedRows]) -> Iterator[Any]:
        for item in stream:
            if isinstance(item, Block):
                i = len(blocks)
                is_sparse = sparse.is_sparse(item.X)
                if is_sparse:
                    sparse.save_csr(os.path.join(tmp, f"b{i:06d}"), item.X)
                else:
                    _save(os.path.join(tmp, f"b{i:06d}.X.npy"), item.X)
                if item.y is not None:
                    _save(os.path.join(tmp, f"b{i:06d}.y.npy"), item.y)
                if item.w is not None:
                    _save(os.path.join(tmp, f"b{i:06d}.w.npy"), item.w)
                blocks.append(BlockFile(item.start, int(item.X.shape[0]), item.y is not None,
                                        item.w is not None, is_sparse, int(item.X.shape[1])))
            yield item

    try:
        summary = summarise_partition(partition, stored(items))
        if os.path.isdir(final):  # an earlier build of this partition on this host
            shutil.rmtree(final, ignore_errors=True)
        os.replace(tmp, final)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return Handle(socket.gethostname(), final, partition, tuple(blocks), summary)


def write_task(index: int, items: Iterable[Any], *, dataset_id: str) -> list[Handle]:
    """``mapPartitionsWithIndex`` task: one handle per partition."""
    return [write_partition(index, items, dataset_id=dataset_id)]


def open_views(handles: Iterable[Any], offsets: np.ndarray,
               transforms: tuple[Transform, ...]) -> Iterator[BlockView]:
    """The blocks of a partition's handle, memory-mapped (no copy, no unpickling)."""
    for handle in handles:
        if not os.path.isdir(handle.directory):
            raise MissingBlocks(
                f"{MISSING_MARKER}: partition {handle.partition}'s blocks were written to "
                f"{handle.directory} on {handle.host}, not present on {socket.gethostname()}"
            )
        base = int(offsets[handle.partition])
        for i, spec in enumerate(handle.blocks):
            stem = os.path.join(handle.directory, f"b{i:06d}")
            X = (sparse.load_csr(stem, spec.n_features) if spec.sparse
                 else _mapped(f"{stem}.X.npy"))
            y = _mapped(f"{stem}.y.npy") if spec.has_y else None
            w = _mapped(f"{stem}.w.npy") if spec.has_w else None
            view = BlockView(X, y, w, base + spec.start)
            yield apply_transforms(view, transforms)


def _mapped(path: str) -> np.ndarray:
    """A read-only view of a ``.npy`` file's pages (as a plain ndarray: NumPy's memmap
    subclass adds Python overhead to every operation on it)."""
    return np.asarray(np.load(path, mmap_mode="r"))


def delete_task(handles: Iterable[Any], *, dataset_id: str) -> list[int]:
    """Remove this host's files of the dataset (the handles' directories and anything
    else under the dataset's directory, e.g. files of an earlier build)."""
    removed = 0
    for handle in handles:
        if os.path.isdir(handle.directory):
            shutil.rmtree(handle.directory, ignore_errors=True)
            removed += 1
    # Another task on this host may empty or remove the directory at the same time.
    with contextlib.suppress(OSError):
        os.rmdir(os.path.join(storage_root(), dataset_id))
    return [removed]


def is_missing_blocks(exc: BaseException) -> bool:
    """True for a Spark job failure caused by :class:`MissingBlocks` in a task."""
    return MISSING_MARKER in str(exc)


def handles_from_blocks(source: Any) -> Callable[[str], Any]:
    """A builder of handles from an RDD of ``Block``/``BlockError``/``SkippedRows`` items."""
    from functools import partial

    def build(dataset_id: str) -> Any:
        return source.mapPartitionsWithIndex(partial(write_task, dataset_id=dataset_id))

    return build


class ExecutorStorage:
    """The executor-resident storage of a :class:`~rddml.engine.blocks.BlockDataset`.

    ``build(dataset_id)`` returns the uncached RDD of one :class:`Handle` per partition
    whose tasks convert, summarise and write the blocks (:func:`write_partition`); its
    lineage runs again only to rebuild lost files.
    """

    name = "executor"

    def __init__(self, build: Callable[[str], Any]) -> None:
        from pyspark import StorageLevel

        self.dataset_id = f"{uuid.uuid4().hex}"
        self._build_handles = build
        self._level = StorageLevel.MEMORY_AND_DISK
        self.rdd = self._build()
        try:
            self.handles: list[Handle] = self.rdd.collect()
        except BaseException:
            self.release()
            raise

    def _build(self) -> Any:
        return self._build_handles(self.dataset_id).persist(self._level)

    @property
    def summaries(self) -> list[PartitionSummary]:
        return [h.summary for h in self.handles]

    def views(self, offsets: np.ndarray, transforms: tuple[Transform, ...]
              ) -> Callable[[Iterable[Any]], Iterator[BlockView]]:
        from functools import partial

        return partial(open_views, offsets=offsets, transforms=transforms)

    def run(self, action: Callable[[], Any]) -> Any:
        """Run a pass; if a task found no files for its handle, rebuild every handle from
        lineage and run it once more (the same answer, never a partial one)."""
        try:
            return action()
        except Exception as exc:
            if not is_missing_blocks(exc):
                raise
        self.rebuild()
        return action()

    def rebuild(self) -> None:
        old = self.rdd
        self.rdd = self._build()
        self.handles = self.rdd.collect()
        old.unpersist()

    def release(self) -> None:
        from functools import partial

        try:
            self.rdd.mapPartitions(partial(delete_task, dataset_id=self.dataset_id)).collect()
        except Exception as exc:  # never mask the fit's own result or error
            logger.warning("could not remove the block files of dataset %s now (%s); Spark "
                           "removes them when the application ends", self.dataset_id, exc)
        finally:
            self.rdd.unpersist()

    def cached_bytes(self) -> tuple[int, int]:
        """(bytes of block files, bytes of cached handles in the JVM)."""
        files = sum(_file_bytes(h) for h in self.handles)
        sc = self.rdd.context
        jvm = 0
        for info in sc._jsc.sc().getRDDStorageInfo():
            if info.id() == self.rdd.id():
                jvm = int(info.memSize() + info.diskSize())
        return files, jvm


def _file_bytes(handle: Handle) -> int:
    total = 0
    for name in os.listdir(handle.directory) if os.path.isdir(handle.directory) else ():
        total += os.path.getsize(os.path.join(handle.directory, name))
    return total
