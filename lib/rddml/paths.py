"""Paths as a user writes them: ``~`` expanded as a shell would, taken literally unless a
glob is asked for.

- ``~`` and ``~user`` at the start of a path are expanded (``os.path.expanduser``: the
  ``HOME`` variable, else the password database); a ``~user`` with no such user is
  refused rather than becoming a directory literally named ``~user``. A ``~`` anywhere
  else is an ordinary character, as in a shell.
- A path names exactly one file or directory: ``data[1].csv`` is the file of that name,
  not a pattern. A pattern is asked for with the prefix ``glob:`` (``glob:data/part-*.csv``);
  its syntax is Hadoop's (``*``, ``?``, ``[abc]``, ``[a-z]``, ``{a,b}``), which Spark
  uses for its own readers.

Examples
--------
>>> split_glob("glob:data/part-*.csv")
('data/part-*.csv', True)
>>> split_glob("data[1].csv")
('data[1].csv', False)
>>> escape_glob("data[1].csv")
'data\\\\[1\\\\].csv'
"""

from __future__ import annotations

import os
import re
from pathlib import Path

from rddml.errors import InvalidParameterError, RddmlError

#: The prefix that makes an input path a glob pattern.
GLOB_PREFIX = "glob:"
#: Characters Hadoop's glob syntax gives a meaning (escaped in a literal path).
_GLOB_SPECIAL = re.compile(r"([\\*?\[\]{}])")


def _label(what: str, path: str, key: str | None) -> str:
    return f"{what} {path!r}" + (f" (key {key!r})" if key else "")


def expand_user(path: str | os.PathLike[str], *, what: str = "Path", key: str | None = None,
                error: type[RddmlError] = InvalidParameterError) -> str:
    """``path`` with a leading ``~`` or ``~user`` expanded; other paths unchanged.

    Raises
    ------
    RddmlError (``error``)
        The path starts with ``~user`` and there is no such user (or ``~`` and no home
        directory is known), naming the path, its key and what was expected.
    """
    raw = os.fspath(path)
    prefix = GLOB_PREFIX if raw.startswith(GLOB_PREFIX) else ""
    body = raw[len(prefix):]
    if not body.startswith("~"):
        return raw
    expanded = os.path.expanduser(body)
    if expanded.startswith("~"):
        head = body.split("/", 1)[0]
        who = "the current user" if head == "~" else f"a user named {head[1:]!r}"
        raise error(
            f"{_label(what, raw, key)}: {head!r} would be the home directory of {who}, and "
            "there is none; write the path without '~', or with the home directory "
            "spelled out."
        )
    return prefix + expanded


def split_glob(path: str) -> tuple[str, bool]:
    """``(path without the glob: prefix, whether it is a pattern)``."""
    if path.startswith(GLOB_PREFIX):
        return path[len(GLOB_PREFIX):], True
    return path, False


def has_glob_characters(path: str) -> bool:
    """Whether Hadoop would read ``path`` as a pattern if it were given as one."""
    return _GLOB_SPECIAL.search(path) is not None


def escape_glob(path: str) -> str:
    """``path`` with Hadoop's glob characters escaped, for APIs that always glob their
    input (``sc.hadoopFile``, ``spark.read``): it then names that one file or directory."""
    return _GLOB_SPECIAL.sub(r"\\\1", path)


def glob_base(pattern: str) -> str:
    """The directory part of a pattern before its first special character
    (``out/a*/x`` → ``out``): every match lies under it."""
    match = _GLOB_SPECIAL.search(pattern)
    if match is None:
        return pattern
    head = pattern[:match.start()]
    return head.rsplit("/", 1)[0] if "/" in head else "."


def local_path(path: str) -> Path | None:
    """The local file-system path of a plain path or a ``file:`` URI, absolute; None for
    another file system (``hdfs://``, ``s3a://``, ``dbfs:/`` ...)."""
    if path.startswith("file://"):
        path = path[len("file://"):]
    elif path.startswith("file:"):
        path = path[len("file:"):]
    elif re.match(r"^[A-Za-z][A-Za-z0-9+.-]*:", path):
        return None
    return Path(os.path.abspath(path))
