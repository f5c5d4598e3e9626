"""Safe outputs: checked up front, locked, written aside, swapped into place.

Every job output goes through this module, which guarantees:

- **Checked before any Spark work.** :func:`check_output_path` refuses an empty path,
  ``/``, the home directory, the current directory, the repository and every ancestor
  of them (:class:`~rddml.errors.OutputPathError`), and an existing output without
  ``overwrite`` (:class:`~rddml.errors.OutputExistsError`).
- **Only rddml's outputs are replaced.** Every directory written by
  :func:`atomic_directory` carries ``_rddml_manifest.json`` (job, config, time, every
  file with its size and SHA-256, every directory), written last. ``overwrite`` replaces
  an empty directory, or one whose contents are exactly what its manifest lists (a file
  rddml did not write, a changed file, an unlisted sub-directory or a link refuses it,
  naming the first of them and their count); any other existing directory is refused,
  naming it and why. Only the listed, still matching files are deleted afterwards; a
  path that appears between the last check and the swap is kept (``NAME.kept-*``).
- **Inputs stay out of outputs.** :func:`claim_output` refuses an input path (resolved
  through symbolic links) inside the output directory, and an output inside an input
  directory.
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
import hashlib
import json
import logging
import os
import re
import shutil
import socket
import stat
import threading
import uuid
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

from rddml.errors import OutputBusyError, OutputExistsError, OutputPathError
from rddml.paths import expand_user, glob_base, local_path, split_glob

logger = logging.getLogger("rddml.io.output")

#: The file that marks a directory as an output rddml wrote (and may replace).
MANIFEST_NAME = "_rddml_manifest.json"
#: Format 2 lists every file with its SHA-256 and every directory; format 1 (sizes only)
#: is still read, but such an output is never replaced.
MANIFEST_FORMAT = 2
KNOWN_MANIFEST_FORMATS = (1, 2)
#: A manifest larger than this is not one rddml wrote (it lists a few hundred bytes per file).
MAX_MANIFEST_BYTES = 256 << 20
#: How many foreign paths an error message shows (it also gives the total).
FOREIGN_SHOWN = 10


# --------------------------------------------------------------------------- path rules
def _label(path: str | os.PathLike[str], key: str | None) -> str:
    """How messages name the path: ``Output path 'out' (key 'output_dir')``."""
    return f"Output path {os.fspath(path)!r}" + (f" (key {key!r})" if key else "")


def resolve_output_path(path: str | os.PathLike[str], *, key: str | None = None) -> Path:
    """The absolute output path: a leading ``~`` / ``~user`` expanded (see
    :func:`rddml.paths.expand_user`), ``.``/``..`` normalised and the parent's symlinks
    resolved, the last component kept as written (a symlink there is refused later, not
    followed).

    Raises
    ------
    OutputPathError
        If ``path`` is empty or only blanks, or starts with ``~user`` of no known user.
    """
    raw = os.fspath(path)
    if not raw.strip():
        raise OutputPathError(
            f"{_label(path, key)}: the output path is empty; expected a directory or file "
            "path such as 'output/kmeans'."
        )
    raw = expand_user(raw, what="Output path", key=key, error=OutputPathError)
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
    """The manifest of an rddml output directory (any format rddml wrote), or None when it
    has no valid one."""
    file = Path(directory) / MANIFEST_NAME
    try:
        with open(file, "rb") as handle:
            # A manifest lists files, a few hundred bytes each: far below this bound.
            data = handle.read(MAX_MANIFEST_BYTES + 1)
        doc = json.loads(data.decode("utf-8"))
    except (OSError, UnicodeDecodeError, ValueError, RecursionError):
        return None
    if (not isinstance(doc, dict) or len(data) > MAX_MANIFEST_BYTES
            or doc.get("rddml_manifest") not in KNOWN_MANIFEST_FORMATS):
        return None
    return doc


def file_digest(path: str | os.PathLike[str]) -> str:
    """The SHA-256 of a file's bytes, as hex (read in 1 MiB pieces)."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for piece in iter(lambda: handle.read(1 << 20), b""):
            digest.update(piece)
    return digest.hexdigest()


def _stat_key(st: os.stat_result) -> tuple[int, ...]:
    """What changes whenever a file's bytes do (ctime cannot be set back by a user)."""
    return (st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns, st.st_ctime_ns)


# Digests already computed, by (device, inode): (stat key, SHA-256). A job checks its
# output several times (before any work, under the lock, at the swap, when it deletes the
# replaced one from its new name): each file is read once unless it changed in between.
_digests_lock = threading.Lock()
_digests: dict[tuple[int, int], tuple[tuple[int, ...], str]] = {}


def _known_digest(path: Path, st: os.stat_result) -> str:
    key = _stat_key(st)
    with _digests_lock:
        known = _digests.get((st.st_dev, st.st_ino))
    if known is not None and known[0] == key:
        return known[1]
    digest = file_digest(path)
    if _stat_key(path.lstat()) == key:  # unchanged while it was read
        with _digests_lock:
            _digests[(st.st_dev, st.st_ino)] = (key, digest)
    return digest


def _forget_digest(st: os.stat_result) -> None:
    with _digests_lock:
        _digests.pop((st.st_dev, st.st_ino), None)


def _listing(root: Path) -> tuple[list[dict[str, Any]], list[str]]:
    """Files (path, bytes, SHA-256) and sub-directories of a directory rddml just wrote."""
    files = []
    directories = []
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames.sort()
        here = Path(dirpath)
        directories += [(here / name).relative_to(root).as_posix() for name in dirnames]
        for name in sorted(filenames):
            full = here / name
            st = full.lstat()
            files.append({"path": full.relative_to(root).as_posix(), "bytes": st.st_size,
                          "sha256": _known_digest(full, st)})
    return files, directories


def write_manifest(directory: Path, target: Path, job: str | None,
                   config: Mapping[str, Any] | None) -> None:
    """Write ``_rddml_manifest.json`` into ``directory`` (last: it lists what is there).

    Every file is listed with its size and SHA-256, which costs one read of the output
    (SHA-256 runs at several hundred MB/s per core; the files were just written, so they
    usually come from the page cache).
    """
    from rddml._version import __version__

    files, directories = _listing(directory)
    doc = {
        "rddml_manifest": MANIFEST_FORMAT,
        "job": job,
        "rddml_version": __version__,
        "written_at": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
        "output": str(target),
        "config": dict(config) if config is not None else None,
        "files": files,
        "directories": directories,
        "total_bytes": sum(f["bytes"] for f in files),
    }
    (directory / MANIFEST_NAME).write_text(json.dumps(doc, indent=2, default=str) + "\n",
                                           encoding="utf-8")


def _manifest_entries(doc: Mapping[str, Any]) -> tuple[dict[str, dict[str, Any]], set[str]]:
    """The files (by relative path) and directories a manifest lists; directories include
    every parent of a listed file."""
    files: dict[str, dict[str, Any]] = {}
    for entry in doc.get("files") or []:
        if (isinstance(entry, dict) and isinstance(entry.get("path"), str)
                and isinstance(entry.get("bytes"), int)
                and isinstance(entry.get("sha256"), str)):
            files[entry["path"]] = entry
    directories = {d for d in doc.get("directories") or [] if isinstance(d, str)}
    for rel in files:
        parts = rel.split("/")
        directories.update("/".join(parts[:i]) for i in range(1, len(parts)))
    return files, directories


def foreign_entries(directory: Path, doc: Mapping[str, Any], *,
                    digests: bool = True) -> list[str]:
    """What ``directory`` holds beyond what its manifest ``doc`` lists, each as
    ``'path (why)'``: a file or directory the manifest does not list, a listed file whose
    size or SHA-256 differs, a symbolic link, anything that is not a regular file.

    Files the manifest lists but the directory lacks are not reported (nothing of the
    user's would be lost). With ``digests=False`` only names, types and sizes are compared
    (no file is read).
    """
    files, directories = _manifest_entries(doc)
    found: list[str] = []
    candidates: list[tuple[str, Path, os.stat_result]] = []
    for dirpath, dirnames, filenames in os.walk(directory, onerror=None):
        here = Path(dirpath)
        keep = []
        for name in sorted(dirnames):
            full = here / name
            rel = full.relative_to(directory).as_posix()
            if full.is_symlink():
                found.append(f"{rel} (a symbolic link)")
            elif rel not in directories:
                found.append(f"{rel}/ (a directory the manifest does not list)")
            else:
                keep.append(name)
        dirnames[:] = keep  # a foreign directory is reported once, not walked
        for name in sorted(filenames):
            full = here / name
            rel = full.relative_to(directory).as_posix()
            if rel == MANIFEST_NAME:
                continue
            try:
                st = full.lstat()
            except FileNotFoundError:
                continue
            entry = files.get(rel)
            if stat.S_ISLNK(st.st_mode):
                found.append(f"{rel} (a symbolic link)")
            elif not stat.S_ISREG(st.st_mode):
                found.append(f"{rel} (not a regular file)")
            elif entry is None:
                found.append(f"{rel} (a file the manifest does not list)")
            elif st.st_size != entry["bytes"]:
                found.append(f"{rel} ({st.st_size} bytes; rddml wrote {entry['bytes']})")
            else:
                candidates.append((rel, full, st))
    if digests and not found:  # only read files when nothing cheaper already refuses
        for rel, full, st in candidates:
            if _known_digest(full, st) != files[rel]["sha256"]:
                found.append(f"{rel} (changed since rddml wrote it: its SHA-256 differs)")
    return found


def _listed(found: list[str], limit: int = FOREIGN_SHOWN) -> str:
    shown = "; ".join(found[:limit])
    return shown + (f"; and {len(found) - limit} more" if len(found) > limit else "")


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
    if empty:
        return
    doc = read_manifest(target)
    if doc is None:
        raise OutputExistsError(
            f"{shown} is a non-empty directory without {MANIFEST_NAME}, so it is not an "
            "output rddml wrote (or one written before rddml kept manifests); --overwrite "
            "only replaces rddml's own outputs. Remove it yourself or choose another "
            "output path."
        )
    if doc["rddml_manifest"] != MANIFEST_FORMAT:
        raise OutputExistsError(
            f"{shown} was written by an older rddml whose {MANIFEST_NAME} records no "
            "SHA-256 of its files, so --overwrite cannot tell whether they are still the "
            "files rddml wrote. Remove it yourself or choose another output path."
        )
    found = foreign_entries(target, doc)
    if found:
        raise OutputExistsError(
            f"{shown} holds {len(found)} path(s) that are not rddml's output as its "
            f"{MANIFEST_NAME} lists it, and --overwrite never deletes those: "
            f"{_listed(found)}. Move them out of the directory (or delete them) and run "
            "again, or choose another output path."
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
    lock holder creates them, so under the lock any that exist are leftovers.

    A leftover with a manifest is a complete output (the new one, or the one being
    replaced) and goes through :func:`discard_output`; one without is a new output that was
    still being written, rddml's alone.
    """
    pattern = re.compile(rf"\.{re.escape(target.name)}\.(tmp|old)-[0-9a-f]{{12}}")
    with contextlib.suppress(OSError):
        for entry in target.parent.iterdir():
            if pattern.fullmatch(entry.name):
                logger.warning("removing %s, left by an interrupted writer", entry)
                if (entry.is_dir() and not entry.is_symlink()
                        and (entry / MANIFEST_NAME).exists()):
                    discard_output(entry, target)
                else:
                    _remove(entry)


def check_inputs_outside(target: Path, inputs: Mapping[str, str], *,
                         key: str | None = None) -> None:
    """Refuse an input inside the output ``target`` (``--overwrite`` would delete it, and
    a failed run could leave it half replaced) and an output inside an input directory
    (the next run would read it as input). Paths are compared fully resolved, through
    symbolic links; inputs on other file systems (``hdfs://`` ...) cannot be inside a
    local output and are skipped. ``inputs`` maps config keys to paths ('' = unset).

    Raises
    ------
    OutputPathError
        Naming both paths and their keys.
    """
    with contextlib.suppress(OSError, RuntimeError):
        target = target.resolve()
    for input_key, raw in inputs.items():
        if not raw:
            continue
        plain, is_glob = split_glob(expand_user(raw, what="Input path", key=input_key,
                                                error=OutputPathError))
        found = local_path(glob_base(plain) if is_glob else plain)
        if found is None:
            continue
        with contextlib.suppress(OSError, RuntimeError):
            found = found.resolve()
        where = f"input path {raw!r} (key {input_key!r})"
        if found == target or target in found.parents:
            raise OutputPathError(
                f"{_label(target, key)}: the {where} is inside it, so --overwrite would "
                "delete the job's own input; move the input elsewhere or choose another "
                "output path."
            )
        if found in target.parents:
            raise OutputPathError(
                f"{_label(target, key)} is inside the {where}, so a later run would read "
                "this job's output as input; choose an output path outside the input "
                "directory."
            )


@contextlib.contextmanager
def claim_output(path: str | os.PathLike[str], *, overwrite: bool, directory: bool = True,
                 key: str | None = None, spark: Any = None,
                 inputs: Mapping[str, str] | None = None) -> Iterator[Path]:
    """Check an output path and hold its lock for the whole block (a job's ``main``).

    Call it first in a job, before reading any data: a bad or busy output is then
    reported before any Spark work, and no other writer can start on the same path
    until this one has finished. ``inputs`` (config key -> path) are the job's input
    paths, checked with :func:`check_inputs_outside`. Yields the absolute path.
    """
    # Inputs first: "your input is in there" explains more than "there are foreign files".
    check_inputs_outside(resolve_output_path(path, key=key), inputs or {}, key=key)
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


def discard_output(old: Path, target: Path) -> None:
    """Delete a replaced output directory ``old``: the files its manifest lists that still
    match it (size and SHA-256), the manifest, then the directories left empty.

    Whatever else it holds (a file added after the last check, moments before the swap)
    is kept: ``old`` is renamed to ``NAME.kept-*`` beside the output, with a warning.
    """
    doc = read_manifest(old)
    if doc is not None and doc["rddml_manifest"] == MANIFEST_FORMAT:
        files, _ = _manifest_entries(doc)
        for rel, entry in files.items():
            full = old / rel
            try:
                st = full.lstat()
            except OSError:
                continue
            if (stat.S_ISREG(st.st_mode) and st.st_size == entry["bytes"]
                    and _known_digest(full, st) == entry["sha256"]):
                full.unlink()
                _forget_digest(st)
        (old / MANIFEST_NAME).unlink(missing_ok=True)
    for dirpath, _, _ in os.walk(old, topdown=False):
        with contextlib.suppress(OSError):  # not empty: something to keep
            os.rmdir(dirpath)
    if old.exists() or old.is_symlink():
        kept = target.with_name(f"{target.name}.kept-{uuid.uuid4().hex[:12]}")
        os.rename(old, kept)
        left = sorted(p.relative_to(kept).as_posix() for p in kept.rglob("*"))
        logger.warning("%s: the replaced output held paths rddml did not write (%s); "
                       "they were kept in %s", target, _listed(left), kept)


def _discard_replaced(old: Path, target: Path, directory: bool) -> None:
    if directory:
        discard_output(old, target)
    else:
        _remove(old)


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
        _discard_replaced(tmp, target, directory)  # tmp now holds the old output
        return
    old = target.with_name(f".{target.name}.old-{uuid.uuid4().hex[:12]}")
    os.rename(target, old)
    try:
        os.rename(tmp, target)
    except BaseException:
        os.rename(old, target)  # put the old output back
        raise
    _discard_replaced(old, target, directory)


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
