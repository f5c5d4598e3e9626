"""Atomic outputs: write into a temporary sibling, then rename into place.

A failed job leaves no half-written result (the temporary directory is removed)
and an existing result is only replaced when the caller says ``overwrite=True``.

Examples
--------
>>> import tempfile, pathlib
>>> root = pathlib.Path(tempfile.mkdtemp())
>>> with atomic_directory(root / "result") as tmp:
...     _ = (tmp / "a.txt").write_text("done")
>>> (root / "result" / "a.txt").read_text()
'done'
"""

from __future__ import annotations

import contextlib
import os
import shutil
import uuid
from collections.abc import Iterator
from pathlib import Path

from rddml.errors import OutputExistsError


def check_output_path(path: str | os.PathLike[str], overwrite: bool) -> Path:
    """Fail early (before any Spark job) if ``path`` exists without ``overwrite``,
    or if its parent cannot be created or written."""
    target = Path(path)
    if target.exists() and not overwrite:
        raise OutputExistsError(
            f"Output path {str(target)!r} already exists; pass --overwrite (overwrite=True) "
            "to replace it."
        )
    parent = target.parent
    try:
        parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise OutputExistsError(
            f"Cannot create the parent directory of output path {str(target)!r}: {exc}"
        ) from exc
    if not os.access(parent, os.W_OK):
        raise OutputExistsError(
            f"Output path {str(target)!r} is not writable: no write permission on "
            f"{str(parent)!r}."
        )
    return target


@contextlib.contextmanager
def atomic_directory(path: str | os.PathLike[str], *, overwrite: bool = False) -> Iterator[Path]:
    """Yield a fresh temporary directory that becomes ``path`` when the block succeeds."""
    target = check_output_path(path, overwrite)
    tmp = target.with_name(f".{target.name}.tmp-{uuid.uuid4().hex[:12]}")
    tmp.mkdir()
    try:
        yield tmp
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    _replace(tmp, target, overwrite)


@contextlib.contextmanager
def atomic_file(path: str | os.PathLike[str], *, overwrite: bool = False) -> Iterator[Path]:
    """Yield a temporary file path that is renamed to ``path`` when the block succeeds."""
    target = check_output_path(path, overwrite)
    tmp = target.with_name(f".{target.name}.tmp-{uuid.uuid4().hex[:12]}")
    try:
        yield tmp
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            tmp.unlink()
        raise
    if target.exists() and not overwrite:
        tmp.unlink()
        raise OutputExistsError(f"Output path {str(target)!r} appeared while writing it.")
    os.replace(tmp, target)


def _replace(tmp: Path, target: Path, overwrite: bool) -> None:
    if target.exists() or target.is_symlink():
        if not overwrite:
            shutil.rmtree(tmp, ignore_errors=True)
            raise OutputExistsError(f"Output path {str(target)!r} appeared while writing it.")
        old = target.with_name(f".{target.name}.old-{uuid.uuid4().hex[:12]}")
        os.replace(target, old)
        os.replace(tmp, target)
        if old.is_dir() and not old.is_symlink():
            shutil.rmtree(old, ignore_errors=True)
        else:
            old.unlink()
    else:
        os.replace(tmp, target)
