"""Safe outputs: checked up front, locked, written aside, swapped into place.

Every job output goes through this module, which guarantees:

- **Checked before any Spark work.** :func:`check_output_path` refuses an empty path,
  ``/``, the home directory, the current directory, the repository and every ancestor
  of them (:class:`~rddml.errors.OutputPathError`), and an existing output without
  ``overwrite`` (:class:`~rddml.errors.OutputExistsError`).
- **Only rddml's outputs are replaced.** Every directory written by
  :func:`atomic_directory` carries ``_rddml_manifest.json`` (job, config, time, files
  with sizes), written last. ``overwrite`` replaces an empty directory or one holding a
  manifest; any other existing directory is refused, naming it and why.
- **One writer per output.** :func:`output_lock` holds ``fcntl.flock`` on the sibling
  ``.NAME.lock`` for as long as a job writes. The writer that locks first wins; any
  other writer of the same path fails at once with
  :class:`~rddml.errors.OutputBusyError`, before it does any work. Jobs take the lock
  at the start of ``main`` (:func:`claim_output`), so a second run started while the
  first is fitting stops immediately instead of silently replacing its result.
- **Never without an output.** The new result is written into ``.NAME.tmp-*`` and
  exchanged with the old one in one atomic ``renameat2(RENAME_EXCHANGE)`` (Linux), so
  readers always see either the complete old or the complete new output. Where the
  file system cannot exchange, the old output is renamed to ``.NAME.old-*`` and the new
  one renamed into place (two renames, microseconds apart), and the old one is put back
  if the second rename fails. No ``.tmp-*`` / ``.old-*`` directory survives a failure,
  and ones left by a killed writer are removed by the next writer of that name.

Examples
--------
>>> import tempfile, pathlib
>>> root = pathlib.Path(tempfile.mkdtemp())
>>> with atomic_directory(root / "result", job="doctest") as tmp:
...     _ = (tmp / "a.txt").write_text("done")
>>> (root / "result" / "a.txt").read_text()
'done'
>>> sorted(p.name for p in (root / "result").iterdir())
['_rddml_manifest.json', 'a.txt']
"""

from __future__ import annotations

import contextlib
import ctypes
import datetime as _dt
import errno
import fcntl
import json
import logging
import os
import re
import shutil
import socket
import threading
import uuid
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

from rddml.errors import OutputBusyError, OutputExistsError, OutputPathError

logger = logging.getLogger("rddml.io.output")

#: The file that marks a directory as an output rddml wrote (and may replace).
MANIFEST_NAME = "_rddml_manifest.json"
MANIFEST_FORMAT = 1


# --------------------------------------------------------------------------- path rules
def _label(path: str | os.PathLike[str], key: str | None) -> str:
    """How messages name the path: ``Output path 'out' (key 'output_dir')``."""
    return f"Output path {os.fspath(path)!r}" + (f" (key {key!r})" if key else "")


def resolve_output_path(path: str | os.PathLike[str], *, key: str | None = None) -> Path:
    """The absolute output path: ``.``/``..`` normalised and the parent's symlinks resolved,
    the last component kept as written (a symlink there is refused later, not followed).

    Raises
    ------
    OutputPathError
        If ``path`` is empty or only blanks.
    """
    raw = os.fspath(path)
    if not raw.strip():
        raise OutputPathError(
            f"{_label(path, key)}: the output path is empty; expected a directory or file "
            "path such as 'output/kmeans'."
        )
    lexical = Path(os.path.abspath(raw))
    if not lexical.name:  # "/" (abspath already removed trailing "/" and ".")
        return lexical
    return lexical.parent.resolve() / lexical.name


def repository_root() -> Path | None:
    """The rddml checkout this code runs from (``RDDML_ROOT`` when the launcher set it)."""
    env = os.environ.get("RDDML_ROOT")
    if env:
        return Path(env).resolve()
    here = Path(__file__).resolve()
    root = here.parents[3] if len(here.parents) > 3 else None
    if root is not None and (root / "pyproject.toml").is_file() and (root / "lib").is_dir():
        return root
    return None  # installed package or a --py-files zip: no checkout to protect


def protected_paths() -> dict[str, Path]:
    """Directories an output may neither be nor contain: the file-system root, the home
    directory, the current directory and the repository."""
    found = {"the file-system root": Path("/")}
    with contextlib.suppress(RuntimeError, KeyError):  # no HOME and no passwd entry
        found["the home directory"] = Path.home().resolve()
    with contextlib.suppress(OSError):  # the current directory was deleted
        found["the current directory"] = Path.cwd().resolve()
    root = repository_root()
    if root is not None:
        found["the rddml repository"] = root
    return found


def check_not_protected(target: Path, *, path: str | os.PathLike[str] | None = None,
                        key: str | None = None) -> None:
    """Refuse ``target`` when it is, or is an ancestor of, a :func:`protected_paths` entry.

    Both the path as given and its fully resolved form are checked, so a symlink to the
    home directory is refused too.
    """
    shown = _label(path if path is not None else target, key)
    candidates = {target}
    with contextlib.suppress(OSError, RuntimeError):
        candidates.add(target.resolve())
    for what, protected in protected_paths().items():
        for candidate in candidates:
            if candidate == protected:
                raise OutputPathError(
                    f"{shown}: refusing to write to {what} ({str(protected)!r}); choose a "
                    "new subdirectory such as 'output/run1'."
                )
            if candidate in protected.parents:
                raise OutputPathError(
                    f"{shown}: refusing to write to {str(candidate)!r}, which contains "
                    f"{what} ({str(protected)!r}); choose a new subdirectory such as "
                    "'output/run1'."
                )


# ---------------------------------------------------------------------------- manifests
def read_manifest(directory: str | os.PathLike[str]) -> dict[str, Any] | None:
    """The manifest of an rddml output directory, or None when it has no valid one."""
    file = Path(directory) / MANIFEST_NAME
    try:
        doc = json.loads(file.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, ValueError):
        return None
    if not isinstance(doc, dict) or doc.get("rddml_manifest") != MANIFEST_FORMAT:
        return None
    return doc


def _listing(root: Path) -> list[dict[str, Any]]:
    files = []
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames.sort()
        for name in sorted(filenames):
            full = Path(dirpath) / name
            files.append({"path": full.relative_to(root).as_posix(),
                          "bytes": full.lstat().st_size})
    return files


def write_manifest(directory: Path, target: Path, job: str | None,
                   config: Mapping[str, Any] | None) -> None:
    """Write ``_rddml_manifest.json`` into ``directory`` (last: it lists what is there)."""
    from rddml._version import __version__

    files = _listing(directory)
    doc = {
        "rddml_manifest": MANIFEST_FORMAT,
        "job": job,
        "rddml_version": __version__,
        "written_at": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
        "output": str(target),
        "config": dict(config) if config is not None else None,
        "files": files,
        "total_bytes": sum(f["bytes"] for f in files),
    }
    (directory / MANIFEST_NAME).write_text(json.dumps(doc, indent=2, default=str) + "\n",
                                           encoding="utf-8")


def _check_replaceable(target: Path, *, directory: bool, shown: str) -> None:
    """Raise unless ``overwrite`` may replace the existing ``target``."""
    if target.is_symlink():
        raise OutputExistsError(
            f"{shown} is a symbolic link; --overwrite only replaces directories and files "
            "rddml wrote itself. Remove the link or choose another output path."
        )
    if not directory:
        if target.is_dir():
            raise OutputExistsError(
                f"{shown} is a directory, but this output is a single file; --overwrite "
                "does not replace a directory with a file. Choose another output path."
            )
        return
    if not target.is_dir():
        raise OutputExistsError(
            f"{shown} is a file, not an output directory rddml wrote; --overwrite does not "
            "replace it. Remove it or choose another output path."
        )
    try:
        empty = next(target.iterdir(), None) is None
    except OSError as exc:
        raise OutputExistsError(f"{shown} cannot be listed: {exc}") from exc
    if not empty and read_manifest(target) is None:
        raise OutputExistsError(
            f"{shown} is a non-empty directory without {MANIFEST_NAME}, so it is not an "
            "output rddml wrote (or one written before rddml kept manifests); --overwrite "
            "only replaces rddml's own outputs. Remove it yourself or choose another "
            "output path."
        )


# ------------------------------------------------------------------------------- checks
def check_output_path(path: str | os.PathLike[str], overwrite: bool, *,
                      directory: bool = True, key: str | None = None) -> Path:
    """Check everything about an output path before any work; return it, absolute.

    Parameters
    ----------
    path : str or path-like
        Where the output goes (a directory, or a file when ``directory=False``).
    overwrite : bool
        Whether an existing output rddml wrote may be replaced.
    directory : bool
        True for a directory output (needs a manifest to be replaced), False for a file.
    key : str, optional
        The config key holding ``path``, named in error messages.

    Raises
    ------
    OutputPathError
        Empty path, or a protected directory or an ancestor of one.
    OutputExistsError
        The output exists and ``overwrite`` is False, or it is not replaceable (not an
        rddml output, a symlink, a file where a directory goes), or its parent cannot be
        created or written.
    """
    target = resolve_output_path(path, key=key)
    shown = _label(path, key)
    check_not_protected(target, path=path, key=key)
    if target.exists() or target.is_symlink():
        if not overwrite:
            raise OutputExistsError(
                f"{shown} already exists; pass --overwrite (overwrite=True) to replace it."
            )
        _check_replaceable(target, directory=directory, shown=shown)
    parent = target.parent
    try:
        parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise OutputExistsError(
            f"Cannot create the parent directory of {shown[0].lower()}{shown[1:]}: {exc}"
        ) from exc
    if not os.access(parent, os.W_OK):
        raise OutputExistsError(
            f"{shown} is not writable: no write permission on {str(parent)!r}."
        )
    return target


def hadoop_local_path(path: str | os.PathLike[str]) -> str:
    """A local path as Spark/Hadoop must be given it: ``file://`` + the raw absolute path.

    ``Path.as_uri()`` percent-encodes (a space becomes ``%20``), and Hadoop's ``Path``
    does not decode a string it is given, so it wrote to a directory literally named
    ``a%20b``. Hadoop quotes the raw characters itself (space, ``%``, ``#``, ``?``, ``:``
    and non-ASCII were all checked to land at the right place); ``file://`` keeps a local
    output local when the cluster's default file system is HDFS.
    """
    return "file://" + str(Path(os.path.abspath(os.fspath(path))))


def check_spark_output_path(spark: Any, target: Path, *, key: str | None = None) -> None:
    """Refuse a non-ASCII output path when the driver JVM cannot encode file names.

    A JVM started under a non-UTF-8 locale (``LANG=C``) encodes file names in ASCII:
    Spark then fails half-way and leaves a directory named ``...??`` beside the output.
    The JVM's ``sun.jnu.encoding`` tells in advance (no Spark job is run to ask).
    """
    if str(target).isascii():
        return
    from rddml.engine.jvm import jvm_system_property

    encoding = jvm_system_property(spark, "sun.jnu.encoding")
    # None: no JVM to ask (Spark Connect), or a JVM without the property, which then uses
    # file.encoding (UTF-8 since Java 18).
    if encoding is not None and encoding.replace("-", "").upper() != "UTF8":
        raise OutputPathError(
            f"{_label(target, key)}: the path has non-ASCII characters, but Spark's JVM "
            f"encodes file names as {encoding} (a non-UTF-8 locale), so Spark would write "
            "elsewhere. Run with LC_ALL=C.UTF-8 (or another UTF-8 locale) or use an ASCII "
            "path."
        )


# -------------------------------------------------------------------------------- locks
_held_lock = threading.Lock()
_held: dict[str, tuple[int, int, int]] = {}  # lock file -> (thread ident, fd, depth)


def lock_path_of(target: Path) -> Path:
    """The lock file of an output: ``.NAME.lock`` beside it."""
    return target.with_name(f".{target.name}.lock")


def _acquire(lock_file: Path, shown: str) -> int:
    for _ in range(20):
        fd = os.open(lock_file, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = ""
            with contextlib.suppress(OSError):
                holder = os.pread(fd, 200, 0).decode("utf-8", "replace").strip()
            os.close(fd)
            raise OutputBusyError(
                f"{shown} is being written by another rddml job ({holder or 'unknown'}, "
                f"lock file {str(lock_file)!r}); wait for it to finish or choose another "
                "output path."
            ) from None
        except BaseException:
            os.close(fd)
            raise
        # The previous holder unlinks the lock file before unlocking: if we locked an
        # unlinked inode, someone else may hold the new file, so start again.
        try:
            same = os.path.samestat(os.fstat(fd), os.stat(lock_file))
        except FileNotFoundError:
            same = False
        if same:
            os.ftruncate(fd, 0)
            stamp = _dt.datetime.now().astimezone().isoformat(timespec="seconds")
            os.write(fd, f"pid {os.getpid()} on {socket.gethostname()} since {stamp}\n".encode())
            return fd
        os.close(fd)
    raise OutputBusyError(f"{shown}: could not lock {str(lock_file)!r} (it keeps changing).")


@contextlib.contextmanager
def output_lock(target: Path, *, key: str | None = None) -> Iterator[Path]:
    """Hold the exclusive lock of output ``target`` (re-entrant within one thread).

    Raises
    ------
    OutputBusyError
        If another process, or another thread of this one, holds it.
    """
    lock_file = lock_path_of(target)
    name = str(lock_file)
    me = threading.get_ident()
    with _held_lock:
        held = _held.get(name)
        if held is not None and held[0] == me:
            _held[name] = (me, held[1], held[2] + 1)
            fd = None
        else:
            fd = -1
    if fd is not None:
        fd = _acquire(lock_file, _label(target, key))
        with _held_lock:
            _held[name] = (me, fd, 1)
    try:
        yield lock_file
    finally:
        with _held_lock:
            owner, held_fd, depth = _held[name]
            if depth > 1:
                _held[name] = (owner, held_fd, depth - 1)
            else:
                del _held[name]
                # Unlink while still locked (see _acquire), then unlock by closing.
                with contextlib.suppress(FileNotFoundError):
                    lock_file.unlink()
                os.close(held_fd)


def _remove_stale(target: Path) -> None:
    """Remove ``.NAME.tmp-*`` / ``.NAME.old-*`` left by a writer that was killed: only the
    lock holder creates them, so under the lock any that exist are leftovers."""
    pattern = re.compile(rf"\.{re.escape(target.name)}\.(tmp|old)-[0-9a-f]{{12}}")
    with contextlib.suppress(OSError):
        for entry in target.parent.iterdir():
            if pattern.fullmatch(entry.name):
                logger.warning("removing %s, left by an interrupted writer", entry)
                _remove(entry)


@contextlib.contextmanager
def claim_output(path: str | os.PathLike[str], *, overwrite: bool, directory: bool = True,
                 key: str | None = None, spark: Any = None) -> Iterator[Path]:
    """Check an output path and hold its lock for the whole block (a job's ``main``).

    Call it first in a job, before reading any data: a bad or busy output is then
    reported before any Spark work, and no other writer can start on the same path
    until this one has finished. Yields the absolute path.
    """
    target = check_output_path(path, overwrite, directory=directory, key=key)
    if spark is not None:
        check_spark_output_path(spark, target, key=key)
    with output_lock(target, key=key):
        # Checked again under the lock: the output may have changed while we waited.
        check_output_path(path, overwrite, directory=directory, key=key)
        yield target


# ------------------------------------------------------------------------------ renames
_AT_FDCWD = -100
_RENAME_NOREPLACE = 1
_RENAME_EXCHANGE = 2


def _load_renameat2() -> Any:
    try:
        func = ctypes.CDLL(None, use_errno=True).renameat2
    except (AttributeError, OSError):  # not glibc >= 2.28 / not Linux
        return None
    func.argtypes = [ctypes.c_int, ctypes.c_char_p, ctypes.c_int, ctypes.c_char_p,
                     ctypes.c_uint]
    func.restype = ctypes.c_int
    return func


_renameat2 = _load_renameat2()


def _rename2(src: Path, dst: Path, flags: int) -> bool:
    """``renameat2(src, dst, flags)``; False when the system or file system lacks it."""
    if _renameat2 is None:
        return False
    if _renameat2(_AT_FDCWD, os.fsencode(src), _AT_FDCWD, os.fsencode(dst), flags) == 0:
        return True
    err = ctypes.get_errno()
    if err in (errno.ENOSYS, errno.EINVAL, errno.EOPNOTSUPP, errno.ENOTSUP):
        return False
    raise OSError(err, os.strerror(err), str(src), None, str(dst))


def _remove(path: Path) -> None:
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path, ignore_errors=True)
    else:
        with contextlib.suppress(FileNotFoundError):
            path.unlink()
    if path.exists() or path.is_symlink():
        logger.warning("could not remove %s completely", path)


def _move_into_place(tmp: Path, target: Path, *, overwrite: bool, directory: bool,
                     shown: str) -> None:
    """Rename ``tmp`` to ``target``, replacing it (only when ``overwrite``) with no moment
    at which ``target`` is missing, where the system allows."""
    if not (target.exists() or target.is_symlink()):
        try:
            if _rename2(tmp, target, _RENAME_NOREPLACE):
                return
        except FileExistsError:
            pass  # it appeared just now: handled below
        else:
            if not (target.exists() or target.is_symlink()):
                os.rename(tmp, target)
                return
    if not overwrite:
        raise OutputExistsError(f"{shown} appeared while writing it (not by rddml: it was "
                                "locked); pass --overwrite to replace it.")
    _check_replaceable(target, directory=directory, shown=shown)
    if _rename2(tmp, target, _RENAME_EXCHANGE):
        _remove(tmp)  # now holds the old output
        return
    old = target.with_name(f".{target.name}.old-{uuid.uuid4().hex[:12]}")
    os.rename(target, old)
    try:
        os.rename(tmp, target)
    except BaseException:
        os.rename(old, target)  # put the old output back
        raise
    _remove(old)


# ----------------------------------------------------------------------- atomic writers
@contextlib.contextmanager
def atomic_directory(path: str | os.PathLike[str], *, overwrite: bool = False,
                     job: str | None = None, config: Mapping[str, Any] | None = None,
                     key: str | None = None) -> Iterator[Path]:
    """Yield a fresh temporary directory that becomes ``path`` when the block succeeds.

    The directory gets a manifest (``job``, ``config``, time, files with sizes) after the
    block, and replaces an existing ``path`` only when ``overwrite`` and that is an empty
    directory or an rddml output. The output's lock is held throughout (re-entrant: a job
    that already holds it through :func:`claim_output` keeps it).
    """
    target = check_output_path(path, overwrite, key=key)
    shown = _label(path, key)
    with output_lock(target, key=key):
        check_output_path(path, overwrite, key=key)
        _remove_stale(target)
        tmp = target.with_name(f".{target.name}.tmp-{uuid.uuid4().hex[:12]}")
        tmp.mkdir()
        try:
            yield tmp
            write_manifest(tmp, target, job, config)
            _move_into_place(tmp, target, overwrite=overwrite, directory=True, shown=shown)
        except BaseException:
            _remove(tmp)
            raise


@contextlib.contextmanager
def atomic_file(path: str | os.PathLike[str], *, overwrite: bool = False,
                key: str | None = None) -> Iterator[Path]:
    """Yield a temporary file path that is renamed to ``path`` when the block succeeds.

    ``overwrite`` replaces an existing file, never a directory or a symlink.
    """
    target = check_output_path(path, overwrite, directory=False, key=key)
    shown = _label(path, key)
    with output_lock(target, key=key):
        check_output_path(path, overwrite, directory=False, key=key)
        _remove_stale(target)
        tmp = target.with_name(f".{target.name}.tmp-{uuid.uuid4().hex[:12]}")
        try:
            yield tmp
            if not tmp.exists():
                raise FileNotFoundError(f"{str(tmp)!r} was not written")
            if target.exists() or target.is_symlink():
                if not overwrite:
                    raise OutputExistsError(f"{shown} appeared while writing it; pass "
                                            "--overwrite to replace it.")
                _check_replaceable(target, directory=False, shown=shown)
                os.replace(tmp, target)  # atomic for files: no moment without one
            else:
                _move_into_place(tmp, target, overwrite=overwrite, directory=False,
                                 shown=shown)
        except BaseException:
            _remove(tmp)
            raise
