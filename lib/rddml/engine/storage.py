"""Executor-resident block storage: NumPy blocks as ``.npy`` files on the executors' disks.

With ``storage="spark"`` the RDD backend caches its blocks in Spark's block manager,
and every pass streams every cached byte from the JVM to the Python workers and
unpickles it into new arrays. With ``storage="executor"`` each partition's blocks are
written once, as ``.npy`` files on the executor, by the same task that converts and
summarises them; the JVM caches only a small :class:`Handle` per partition (host,
directory, block shapes, summary, build identity). A pass opens the files with
``np.load(mmap_mode="r")``: the page cache serves them, nothing is copied or unpickled,
and under memory pressure the OS evicts pages and the pass runs at disk speed.

Where the files live (``docs/storage.md`` lists it per cluster manager): in the
executor's own local directories, the ones its block manager uses for spilled and
cached blocks. Spark hands them to every Python worker as ``SPARK_LOCAL_DIRS``; they
sit inside the directories the cluster manager creates for the application and
deletes when it ends (standalone: the Worker's per-application ``executor-*``
directories; YARN: the container's ``appcache``; Kubernetes: the pod's volumes), so a
crashed driver or executor leaves nothing behind once the application is over. A
partition goes to ``dirs[crc32(dataset id, partition) % len(dirs)]``, which spreads the
partitions of a dataset over an executor's disks. The Spark conf key
``spark.rddml.storageDir`` (:data:`STORAGE_DIR_CONF`) names other directories, for the
rare cluster whose local directories are too small; nobody cleans those after a crash.
The layout under a root is ``rddml-blocks/<application id>/<dataset id>/p<partition>-
<build nonce>-<token>/``.

Identity: every build of a dataset (the first, and each rebuild) has a fresh nonce,
and every write of a partition its own token, so two builds never share a path. The
partition's directory holds a ``build`` file naming the application, dataset, build
nonce, partition, host and token, which a task compares with its handle before it
opens anything: a directory that is missing, on another host, incomplete or of
another build counts as missing (:class:`MissingBlocks`), never as data.

What happens then: the dataset rebuilds its handles from lineage (re-running the
conversion, which writes new files where the tasks run), checks that every
partition has the same row count and content digest as when the dataset was built,
and runs the pass again, so a pass never returns a partial result. When the
executor that cached a handle is lost, Spark itself recomputes the handle from
lineage inside the pass's task; the task checks the recomputed partition's digest
the same way. A source that gives other rows the second time (random numbers, an
unordered repartition) raises :class:`~rddml.errors.DataValidationError` naming the
partition instead of training on different data.

Removal (:meth:`ExecutorStorage.release`: ``unpersist``, the end of a fit that built
the dataset, a failed conversion) computes nothing: one task per live executor,
placed on it by a locality preference, deletes the dataset's directory under that
executor's local directories and any recorded directory of the dataset on its host.
A directory it cannot reach (a lost executor's, a task Spark placed elsewhere) goes
with Spark's local directories when the application ends.
"""

from __future__ import annotations

import contextlib
import logging
import os
import re
import shutil
import socket
import uuid
import zlib
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, replace
from functools import partial
from typing import Any

import numpy as np

from rddml.engine import sparse
from rddml.engine.dataset import BlockView, Transform, apply_transforms
from rddml.engine.records import Block, BlockError, PartitionSummary, SkippedRows, summarise_partition
from rddml.errors import DataValidationError, InvalidParameterError

logger = logging.getLogger(__name__)

#: Marker in the error text of a task that found no usable files for its handle.
MISSING_MARKER = "RDDML_MISSING_BLOCKS"
#: Marker in the error text of a task whose recomputed partition holds other rows.
CHANGED_MARKER = "RDDML_SOURCE_CHANGED"
STORAGES = ("auto", "spark", "executor")
#: Spark conf key naming the directories (comma-separated, absolute, on every executor
#: host) for block files instead of Spark's local directories.
STORAGE_DIR_CONF = "spark.rddml.storageDir"
BLOCKS_DIR = "rddml-blocks"
IDENTITY_FILE = "build"


class MissingBlocks(RuntimeError):
    """A handle's files are not usable on the host where the task runs."""


class SourceChanged(RuntimeError):
    """A partition recomputed from lineage holds other rows than when it was built."""


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
class Build:
    """One build of a dataset's files: the application, the dataset, a nonce fresh for
    every (re)build, and the explicit storage directories (empty: Spark's local ones)."""

    app_id: str
    dataset_id: str
    nonce: str
    storage_dirs: tuple[str, ...] = ()


@dataclass(frozen=True)
class Handle:
    """What the JVM caches for one partition: where its files are, who wrote them (the
    build, host and this write's token) and the partition's summary."""

    host: str
    directory: str
    partition: int
    blocks: tuple[BlockFile, ...]
    summary: PartitionSummary
    build: Build
    token: str

    def identity(self) -> str:
        """The text of the partition directory's ``build`` file."""
        b = self.build
        return f"{b.app_id} {b.dataset_id} {b.nonce} {self.partition} {self.host} {self.token}\n"


def _new_id() -> str:
    return uuid.uuid4().hex[:16]


def _safe(name: str) -> str:
    """A path component from an application id (they are plain, but never trust one)."""
    return re.sub(r"[^A-Za-z0-9._-]", "_", name) or "_"


def local_roots(storage_dirs: tuple[str, ...] = ()) -> list[str]:
    """This executor's directories for block files: ``storage_dirs`` when given, else the
    block manager's local directories that Spark passes to every Python worker as
    ``SPARK_LOCAL_DIRS``.

    Raises
    ------
    RuntimeError
        Outside a Spark task (no ``SPARK_LOCAL_DIRS``) with no ``storage_dirs``: there is
        no directory that Spark would clean, and no fixed system path is used instead.
    """
    if storage_dirs:
        return list(storage_dirs)
    dirs = [d for d in os.environ.get("SPARK_LOCAL_DIRS", "").split(",") if d]
    if not dirs:
        raise RuntimeError(
            "rddml's executor storage runs in Spark tasks, which get their local "
            "directories from SPARK_LOCAL_DIRS; it is not set in this process"
        )
    return dirs


def dataset_dir(root: str, build: Build) -> str:
    return os.path.join(root, BLOCKS_DIR, _safe(build.app_id), build.dataset_id)


def _root_for(roots: list[str], build: Build, partition: int) -> str:
    """One of the roots, the same for a dataset's partition on any executor with the same
    directories, spreading a dataset's partitions over the disks."""
    key = f"{build.dataset_id}:{partition}".encode()
    return roots[zlib.crc32(key) % len(roots)]


def _save(path: str, array: np.ndarray) -> None:
    # float32 features stay float32 (a dataset built with dtype="float32"); anything else
    # is stored as float64.
    dtype = np.float32 if array.dtype == np.float32 else np.float64
    with open(path, "wb") as f:
        np.save(f, np.ascontiguousarray(array, dtype=dtype), allow_pickle=False)


def _make_dir(path: str) -> None:
    """``makedirs`` that survives a removal task pruning an empty parent at that moment."""
    for attempt in range(5):
        try:
            os.makedirs(path)
            return
        except FileNotFoundError:
            if attempt == 4:
                raise


def write_partition(partition: int, items: Iterable[Block | BlockError | SkippedRows], *,
                    build: Build) -> Handle:
    """Write a partition's blocks as ``.npy`` files and summarise them, in one pass.

    The directory is written under a temporary name, its ``build`` file last, and
    renamed into place, so a killed task never leaves a partition that a later task
    could take for a complete one.
    """
    host = socket.gethostname()
    token = _new_id()[:8]
    root = _root_for(local_roots(build.storage_dirs), build, partition)
    final = os.path.join(dataset_dir(root, build), f"p{partition:05d}-{build.nonce}-{token}")
    tmp = f"{final}.tmp"
    _make_dir(tmp)
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
        handle = Handle(host, final, partition, tuple(blocks), summary, build, token)
        with open(os.path.join(tmp, IDENTITY_FILE), "w") as f:
            f.write(handle.identity())
        os.replace(tmp, final)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return handle


def write_task(index: int, items: Iterable[Any], *, build: Build) -> list[Handle]:
    """``mapPartitionsWithIndex`` task: one handle per partition."""
    return [write_partition(index, items, build=build)]


def _missing(handle: Handle, why: str) -> MissingBlocks:
    return MissingBlocks(
        f"{MISSING_MARKER}: partition {handle.partition}'s blocks, written to "
        f"{handle.directory} on {handle.host}, {why} (task on {socket.gethostname()})"
    )


def check_identity(handle: Handle) -> None:
    """Raise :class:`MissingBlocks` unless the handle's directory is on this host and its
    ``build`` file names the handle's application, dataset, build, partition and write."""
    if handle.host != socket.gethostname():
        raise _missing(handle, "are on another host")
    try:
        with open(os.path.join(handle.directory, IDENTITY_FILE)) as f:
            found = f.read()
    except OSError:
        raise _missing(handle, "are not there") from None
    if found != handle.identity():
        raise _missing(handle, f"belong to another build ({found.strip()!r})")


def check_rebuilt(handle: Handle, expected: dict[int, tuple[int, tuple[int, int]]]) -> None:
    """Raise :class:`SourceChanged` if the handle's partition holds other rows (count or
    content digest) than the dataset was built with."""
    want = expected.get(handle.partition)
    got = (handle.summary.n_rows, handle.summary.digest)
    if want is not None and got != want:
        raise SourceChanged(
            f"{CHANGED_MARKER}: partition {handle.partition} was recomputed from its source "
            f"and now holds {got[0]} rows with content digest {got[1][0]:016x}{got[1][1]:016x}; "
            f"the dataset was built with {want[0]} rows, digest "
            f"{want[1][0]:016x}{want[1][1]:016x}. The source is not deterministic "
            "(random numbers, an unordered repartition or a changed input); cache it with "
            "storage='spark', checkpoint it, or make it deterministic.\n"
        )


def open_views(handles: Iterable[Any], offsets: np.ndarray, transforms: tuple[Transform, ...],
               expected: dict[int, tuple[int, tuple[int, int]]]) -> Iterator[BlockView]:
    """The blocks of a partition's handle, memory-mapped (no copy, no unpickling), after
    checking that they are this build's files and the rows the dataset was built with."""
    for handle in handles:
        check_rebuilt(handle, expected)
        check_identity(handle)
        base = int(offsets[handle.partition])
        maps = _worker_maps(os.path.dirname(handle.directory))
        for i, spec in enumerate(handle.blocks):
            stem = os.path.join(handle.directory, f"b{i:06d}")
            X = (maps.open_csr(handle, stem, spec.n_rows, spec.n_features) if spec.sparse
                 else maps.open(handle, f"{stem}.X.npy", spec.n_rows))
            y = maps.open(handle, f"{stem}.y.npy", spec.n_rows) if spec.has_y else None
            w = maps.open(handle, f"{stem}.w.npy", spec.n_rows) if spec.has_w else None
            view = BlockView(X, y, w, base + spec.start)
            yield apply_transforms(view, transforms)


def _mapped(handle: Handle, path: str, n_rows: int) -> np.ndarray:
    """A read-only view of a ``.npy`` file's pages (as a plain ndarray: NumPy's memmap
    subclass adds Python overhead to every operation on it); a missing, truncated or
    resized file raises :class:`MissingBlocks`."""
    try:
        array = np.asarray(np.load(path, mmap_mode="r"))
    except (OSError, ValueError) as exc:
        raise _missing(handle, f"lack a usable {os.path.basename(path)} ({exc})") from None
    if array.shape[0] != n_rows:
        raise _missing(handle, f"have {array.shape[0]} rows in {os.path.basename(path)}, "
                               f"expected {n_rows}")
    return array


class WorkerMaps:
    """The memory maps of one dataset's block files, kept by a Python worker between
    passes.

    Mapping a file again in every pass costs its header parse and, worse, a page fault
    on every page the kernel then reads (the pages are cached, but the new mapping is
    not); a reused worker that keeps its maps reads them at memory speed from the second
    pass on. A map is reused only while the file is the one mapped (same inode and
    modification time: a rebuilt partition replaces its directory), and a worker keeps
    the maps of one dataset only (the last one it read), so it never holds more than one
    dataset's pages mapped, and a released dataset's files are unmapped as soon as the
    worker reads another one.
    """

    def __init__(self, dataset_dir: str) -> None:
        self.dataset_dir = dataset_dir
        self._maps: dict[str, tuple[tuple[int, int], np.ndarray]] = {}

    def open(self, handle: Handle, path: str, n_rows: int) -> np.ndarray:
        try:
            st = os.stat(path)
        except OSError as exc:
            raise _missing(handle, f"lack a usable {os.path.basename(path)} ({exc})") from None
        key = (st.st_ino, st.st_mtime_ns)
        found = self._maps.get(path)
        if found is not None and found[0] == key:
            return found[1]
        array = _mapped(handle, path, n_rows)
        self._maps[path] = (key, array)
        return array

    def open_csr(self, handle: Handle, stem: str, n_rows: int, n_features: int) -> Any:
        """A stored CSR block (:func:`rddml.engine.sparse.save_csr`) over its maps, with
        the same checks as a dense block: ``n_rows + 1`` row starts from 0, and as many
        values and column indices as the last row start says."""
        indptr = self.open(handle, f"{stem}.indptr.npy", n_rows + 1)
        nnz = int(indptr[-1])
        if int(indptr[0]) != 0 or nnz < 0:
            raise _missing(handle, f"have a corrupt {os.path.basename(stem)}.indptr.npy")
        data = self.open(handle, f"{stem}.data.npy", nnz)
        indices = self.open(handle, f"{stem}.indices.npy", nnz)
        return sparse.csr(data, indices, indptr, n_features)


_MAPS: list[WorkerMaps] = []


def _worker_maps(dataset_dir: str) -> WorkerMaps:
    """This worker's maps for the dataset under ``dataset_dir`` (dropping another's)."""
    if not _MAPS or _MAPS[0].dataset_dir != dataset_dir:
        _MAPS[:] = [WorkerMaps(dataset_dir)]
    return _MAPS[0]


def forget_maps(dataset_dir: str) -> None:
    """Drop this worker's maps of the dataset under ``dataset_dir`` (its files are being
    deleted: the maps would keep their disk space allocated)."""
    if _MAPS and _MAPS[0].dataset_dir == dataset_dir:
        _MAPS.clear()


# ------------------------------------------------------------ executor-side upkeep
def _prune(path: str, stop: str) -> None:
    """Remove ``path`` and its parents up to (not including) ``stop`` while empty."""
    while path.startswith(stop) and path != stop:
        try:
            os.rmdir(path)
        except OSError:
            return
        path = os.path.dirname(path)


def _root_of(directory: str) -> str:
    """The root a partition directory was written under (the part before ``rddml-blocks``)."""
    return directory[: directory.rfind(os.sep + BLOCKS_DIR + os.sep)]


def _is_kept(name: str, keep: str | None) -> bool:
    return keep is not None and f"-{keep}-" in name


def remove_files(*, build: Build, keep: str | None,
                 recorded: tuple[tuple[str, str], ...]) -> dict[str, Any]:
    """Delete this executor's files of ``build``'s dataset (every build but ``keep``'s):
    its directory under each local root, and any ``recorded`` (host, directory) on this
    host (e.g. under the roots of a lost executor of the same host)."""
    host = socket.gethostname()
    roots = local_roots(build.storage_dirs)
    removed = 0
    for root in roots:
        ddir = dataset_dir(root, build)
        forget_maps(ddir)
        with contextlib.suppress(FileNotFoundError):
            for name in os.listdir(ddir):
                if not _is_kept(name, keep):
                    shutil.rmtree(os.path.join(ddir, name), ignore_errors=True)
                    removed += 1
        _prune(ddir, root)
    confirmed = []
    for where, directory in recorded:
        if where != host:
            continue
        if not _is_kept(os.path.basename(directory), keep) and os.path.isdir(directory):
            forget_maps(os.path.dirname(directory))
            shutil.rmtree(directory, ignore_errors=True)
            removed += 1
            _prune(os.path.dirname(directory), _root_of(directory))
        confirmed.append(directory)
    return {"host": host, "roots": roots, "removed": removed, "confirmed": confirmed}


def stat_files(*, build: Build, recorded: tuple[tuple[str, str], ...]) -> dict[str, Any]:
    """Bytes of every file of ``build``'s dataset that this executor can see: under its
    local roots, and the ``recorded`` directories on its host."""
    host = socket.gethostname()
    dirs: set[str] = set()
    for root in local_roots(build.storage_dirs):
        ddir = dataset_dir(root, build)
        with contextlib.suppress(FileNotFoundError):
            dirs.update(os.path.join(ddir, name) for name in os.listdir(ddir))
    dirs.update(d for h, d in recorded if h == host and os.path.isdir(d))
    sizes: dict[str, int] = {}
    for directory in dirs:
        total = 0
        with contextlib.suppress(FileNotFoundError):
            for entry in os.scandir(directory):
                with contextlib.suppress(FileNotFoundError):
                    total += entry.stat().st_size
        sizes[os.path.realpath(directory)] = total
    return {"host": host, "sizes": sizes}


def _executor_task(items: Iterable[Any], *, fn: Callable[..., dict[str, Any]],
                   kwargs: dict[str, Any]) -> list[dict[str, Any]]:
    for _ in items:  # read the input, so the Python worker is reused afterwards
        pass
    return [fn(**kwargs)]


# -------------------------------------------------------------- driver-side plumbing
def storage_dirs_from_conf(sc: Any) -> tuple[str, ...]:
    """The directories of :data:`STORAGE_DIR_CONF` (empty when unset), checked."""
    value = sc.getConf().get(STORAGE_DIR_CONF, None)
    if not value:
        return ()
    dirs = tuple(d.strip() for d in str(value).split(",") if d.strip())
    bad = [d for d in dirs if not os.path.isabs(d)]
    if bad or not dirs:
        raise InvalidParameterError(
            f"The Spark conf {STORAGE_DIR_CONF!r} must be a comma-separated list of absolute "
            f"directory paths on the executor hosts, got {value!r}."
        )
    return dirs


def executor_locations(sc: Any) -> list[str]:
    """A Spark task location for each live executor (``executor_<host>_<id>``), from the
    application's status store: the driver's in local mode, none when a cluster
    application has no executor right now (dynamic allocation scaled it to zero)."""
    found: list[tuple[str, str]] = []
    executors = sc._jsc.sc().statusStore().executorList(True).iterator()
    while executors.hasNext():
        summary = executors.next()
        found.append((str(summary.id()), str(summary.hostPort())))
    live = [f for f in found if f[0] != "driver"]
    if not live and str(sc.master).startswith("local"):
        live = found
    locations = []
    for executor_id, host_port in live:
        host = host_port.rsplit(":", 1)[0].strip("[]")
        locations.append(f"executor_{host}_{executor_id}")
    return locations


def located_rdd(sc: Any, locations: list[str]) -> Any:
    """An RDD with one partition per location, each task preferring its location.

    ``SparkContext.makeRDD`` with location preferences has no Python API; the element
    of each partition is the location string itself.
    """
    from pyspark.rdd import RDD
    from pyspark.serializers import UTF8Deserializer

    jvm = sc._jvm
    to_seq = jvm.org.apache.spark.api.python.PythonUtils.toSeq
    pairs = [jvm.scala.Tuple2(loc, to_seq([loc])) for loc in locations]
    tag = jvm.scala.reflect.ClassTag.apply(jvm.java.lang.Class.forName("java.lang.String"))
    jrdd = sc._jsc.sc().makeRDD(to_seq(pairs), tag)
    return RDD(jrdd.toJavaRDD(), sc, UTF8Deserializer())


def on_every_executor(sc: Any, fn: Callable[..., dict[str, Any]], **kwargs: Any
                      ) -> list[dict[str, Any]]:
    """``fn(**kwargs)`` in one task per live executor (a locality preference places each
    task; one Spark job); the reports, one per task."""
    locations = executor_locations(sc)
    if not locations:
        return []
    rdd = located_rdd(sc, locations)
    return list(rdd.mapPartitions(partial(_executor_task, fn=fn, kwargs=kwargs)).collect())


def is_missing_blocks(exc: BaseException) -> bool:
    """True for a Spark job failure caused by :class:`MissingBlocks` in a task."""
    return MISSING_MARKER in str(exc)


def source_changed(exc: BaseException) -> str | None:
    """The message of a :class:`SourceChanged` raised in a task of a failed job, or None."""
    match = re.search(rf"{CHANGED_MARKER}: ([^\n]*)", str(exc))
    return match.group(1) if match else None


def handles_from_blocks(source: Any) -> Callable[[Build], Any]:
    """A builder of handles from an RDD of ``Block``/``BlockError``/``SkippedRows`` items."""

    def build(spec: Build) -> Any:
        return source.mapPartitionsWithIndex(partial(write_task, build=spec))

    return build


class ExecutorStorage:
    """The executor-resident storage of a :class:`~rddml.engine.blocks.BlockDataset`.

    ``build(spec)`` returns the uncached RDD of one :class:`Handle` per partition whose
    tasks convert, summarise and write the blocks (:func:`write_partition`); its lineage
    runs again only to rebuild lost files.
    """

    name = "executor"

    def __init__(self, build: Callable[[Build], Any], sc: Any) -> None:
        from pyspark import StorageLevel

        self._sc = sc
        self.build = Build(str(sc.applicationId), _new_id(), _new_id()[:12],
                           storage_dirs_from_conf(sc))
        self.dataset_id = self.build.dataset_id
        self._build_handles = build
        self._level = StorageLevel.MEMORY_AND_DISK
        self.released = False
        self.handles: list[Handle] = []
        #: Every (host, directory) a collected handle named: removal confirms each one.
        self._written: set[tuple[str, str]] = set()
        self.rdd = self._build_handles(self.build).persist(self._level)
        try:
            self._collect()
        except BaseException:
            self.release()
            raise
        self._expected = {h.partition: (h.summary.n_rows, h.summary.digest)
                          for h in self.handles}

    def _collect(self) -> None:
        self.handles = self.rdd.collect()
        self._written.update((h.host, h.directory) for h in self.handles)

    @property
    def summaries(self) -> list[PartitionSummary]:
        return [h.summary for h in self.handles]

    def views(self, offsets: np.ndarray, transforms: tuple[Transform, ...]
              ) -> Callable[[Iterable[Any]], Iterator[BlockView]]:
        return partial(open_views, offsets=offsets, transforms=transforms,
                       expected=self._expected)

    def run(self, action: Callable[[], Any]) -> Any:
        """Run a pass; if a task found no usable files for its handle, rebuild every
        handle from lineage and run it once more (the same answer, never a partial one).
        A partition whose rows changed when recomputed raises DataValidationError."""
        try:
            return self._checked(action)
        except Exception as exc:
            if not is_missing_blocks(exc):
                raise
            logger.warning("dataset %s: block files are missing or stale on an executor; "
                           "rebuilding them from the source", self.dataset_id)
        self.rebuild()
        return self._checked(action)

    @staticmethod
    def _checked(action: Callable[[], Any]) -> Any:
        try:
            return action()
        except Exception as exc:
            message = source_changed(exc)
            if message is None:
                raise
            raise DataValidationError(message) from None

    def rebuild(self) -> None:
        """Write every partition again from lineage (a new build), check that each one
        holds the rows it held, then drop the older builds' files."""
        old = self.rdd
        self.build = replace(self.build, nonce=_new_id()[:12])
        self.rdd = self._build_handles(self.build).persist(self._level)
        self._collect()
        old.unpersist()
        changed = [h for h in self.handles
                   if (h.summary.n_rows, h.summary.digest) != self._expected.get(h.partition)]
        if changed:
            parts = ", ".join(str(h.partition) for h in changed[:10])
            raise DataValidationError(
                f"Partition(s) {parts} of the dataset were rebuilt from their source after "
                "block files went missing, and now hold other rows (row count or content "
                "digest differs from when the dataset was built). The source is not "
                "deterministic (random numbers, an unordered repartition or a changed "
                "input); cache it with storage='spark', checkpoint it, or make it "
                "deterministic."
            )
        try:
            self._remove(keep=self.build.nonce)
        except Exception as exc:  # the older files go at release or with Spark's dirs
            logger.warning("dataset %s: could not remove the files of earlier builds now "
                           "(%s)", self.dataset_id, exc)

    def _remove(self, keep: str | None) -> None:
        """Delete the dataset's files (all builds but ``keep``'s) on every executor, then
        once more where a recorded directory was not confirmed gone."""
        pending = {(h, d) for h, d in self._written
                   if not _is_kept(os.path.basename(d), keep)}
        for _ in range(2):
            reports = on_every_executor(self._sc, remove_files, build=self.build, keep=keep,
                                        recorded=tuple(sorted(pending)))
            confirmed = {(r["host"], d) for r in reports for d in r["confirmed"]}
            self._written -= confirmed
            pending -= confirmed
            if not pending:
                return
        where = "Spark removes them with its local directories when the application ends"
        if self.build.storage_dirs:
            where = (f"they are under {STORAGE_DIR_CONF}={','.join(self.build.storage_dirs)}, "
                     "which nothing else cleans: remove them by hand")
        logger.warning("dataset %s: %d block directories could not be reached for removal "
                       "(their executor is gone or busy); %s: %s", self.dataset_id,
                       len(pending), where, sorted(d for _, d in pending)[:5])

    def release(self) -> None:
        """Delete the files and drop the cached handles; computes nothing, and does
        nothing the second time."""
        if self.released:
            return
        self.released = True
        try:
            self._remove(keep=None)
        except Exception as exc:  # never mask the fit's own result or error
            logger.warning("could not remove the block files of dataset %s now (%s); Spark "
                           "removes them when the application ends", self.dataset_id, exc)
        finally:
            self.rdd.unpersist()

    def cached_bytes(self) -> tuple[int, int]:
        """(bytes of block files, stat'ed on the executors; bytes of cached handles in
        the JVM)."""
        if self.released:
            return 0, 0
        reports = on_every_executor(self._sc, stat_files, build=self.build,
                                    recorded=tuple(sorted(self._written)))
        files: dict[tuple[str, str], int] = {}
        for report in reports:
            for directory, size in report["sizes"].items():
                files[(report["host"], directory)] = size
        jvm = 0
        for info in self._sc._jsc.sc().getRDDStorageInfo():
            if info.id() == self.rdd.id():
                jvm = int(info.memSize() + info.diskSize())
        return sum(files.values()), jvm
