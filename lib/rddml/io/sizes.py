"""Size limits checked before a model, checkpoint or stage file is read.

A saved model is a few arrays of numbers; a file much larger than any model is damaged or
not rddml's, and reading it whole (JSON into Python objects, or a line of text into the
driver JVM) would take the driver's memory before any validation could refuse it. So
the size is looked up first (a ``stat``, never a read) and a file above the limit is
refused with a message naming it, its size and the limit.

The limit is :data:`MAX_MODEL_BYTES` (1 GiB), or the environment variable
``RDDML_MAX_MODEL_BYTES`` (bytes, e.g. ``4294967296``) where a larger model is real.
Why 1 GiB: a saved model holds about 25 bytes of JSON per number, so 1 GiB is room for
some 4 * 10^7 numbers, e.g. a multinomial model of 1000 classes (the most rddml fits)
x 40 000 features, and for the L-BFGS checkpoint (ten pairs of coefficient-sized
vectors besides the model) of about 2 * 10^6 coefficients. Reading 1 GiB of JSON
already needs several times that in driver memory (the text, then a Python object per
number).
"""

from __future__ import annotations

import os

from rddml.errors import DataValidationError, InvalidParameterError

#: The default size limit of a model, metadata or checkpoint file (see the module notes).
MAX_MODEL_BYTES = 1 << 30
#: The environment variable that replaces :data:`MAX_MODEL_BYTES` (a number of bytes).
MAX_MODEL_BYTES_ENV = "RDDML_MAX_MODEL_BYTES"


def human_bytes(n: int) -> str:
    """``2147483648`` → ``'2.0 GiB (2147483648 bytes)'``."""
    size = float(n)
    for unit in ("bytes", "KiB", "MiB", "GiB", "TiB"):
        if size < 1024 or unit == "TiB":
            break
        size /= 1024
    return f"{n} bytes" if unit == "bytes" else f"{size:.1f} {unit} ({n} bytes)"


def max_model_bytes() -> int:
    """The size limit in force: ``RDDML_MAX_MODEL_BYTES`` if set, else :data:`MAX_MODEL_BYTES`.

    Raises
    ------
    InvalidParameterError
        The variable is set to something other than a positive integer.
    """
    raw = os.environ.get(MAX_MODEL_BYTES_ENV, "").strip()
    if not raw:
        return MAX_MODEL_BYTES
    try:
        value = int(raw)
    except ValueError:
        value = 0
    if value <= 0:
        raise InvalidParameterError(
            f"The environment variable {MAX_MODEL_BYTES_ENV} must be a positive number of "
            f"bytes (e.g. 4294967296 for 4 GiB), got {raw!r}."
        )
    return value


def too_large(what: str, file: str, size: int, limit: int, why: str = "",
              remedy: str | None = None) -> DataValidationError:
    """The error for a file above its size limit (``why`` says where the limit comes from,
    ``remedy`` how to raise it)."""
    remedy = remedy or f"raise the limit with the environment variable {MAX_MODEL_BYTES_ENV}"
    return DataValidationError(
        f"{what} {file!r} is {human_bytes(size)}, larger than the "
        f"{human_bytes(limit)} rddml reads{why}: no model rddml writes comes near that "
        "size, so the file is damaged or not one rddml wrote. If the model really is that "
        f"large, {remedy}."
    )


def read_limited(file: str | os.PathLike[str], what: str, limit: int | None = None) -> bytes:
    """The bytes of a local ``file`` once its size is checked against ``limit`` (default
    :func:`max_model_bytes`); a file that grows while it is read stops at the limit.

    Raises
    ------
    DataValidationError
        The file is larger than the limit (named, with its size and the limit).
    """
    bound = max_model_bytes() if limit is None else limit
    with open(file, "rb") as handle:
        size = os.fstat(handle.fileno()).st_size
        if size > bound:
            raise too_large(what, os.fspath(file), size, bound)
        data = handle.read(bound + 1)
    if len(data) > bound:
        raise too_large(what, os.fspath(file), len(data), bound)
    return data
