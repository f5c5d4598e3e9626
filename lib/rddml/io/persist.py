"""Saving and loading fitted models as a directory holding one JSON document.

JSON keeps a model readable and portable (floats are written with Python's
shortest round-trip repr, so centres and coefficients reload bit-for-bit).
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from rddml.errors import DataValidationError
from rddml.io.output import atomic_directory

FORMAT_VERSION = 1
MODEL_FILE = "model.json"


def save_model(path: str | os.PathLike[str], kind: str, payload: dict[str, Any],
               *, overwrite: bool = False) -> None:
    """Write ``payload`` as ``<path>/model.json`` atomically."""
    from rddml._version import __version__

    document = {"model": kind, "format_version": FORMAT_VERSION,
                "rddml_version": __version__, **payload}
    with atomic_directory(path, overwrite=overwrite) as tmp:
        (tmp / MODEL_FILE).write_text(json.dumps(document, indent=2, allow_nan=False) + "\n")


def load_model(path: str | os.PathLike[str], kind: str) -> dict[str, Any]:
    """Read a model directory written by :func:`save_model` and check its kind."""
    file = Path(path) / MODEL_FILE
    if not file.is_file():
        raise FileNotFoundError(f"No saved model at {str(path)!r}: {str(file)!r} does not exist.")
    try:
        document: dict[str, Any] = json.loads(file.read_text())
    except json.JSONDecodeError as exc:
        raise DataValidationError(f"{str(file)!r} is not valid JSON: {exc}") from exc
    if document.get("model") != kind:
        raise DataValidationError(
            f"{str(file)!r} holds a {document.get('model')!r} model, expected {kind!r}."
        )
    if document.get("format_version") != FORMAT_VERSION:
        raise DataValidationError(
            f"{str(file)!r} has format_version {document.get('format_version')!r}; this rddml "
            f"reads format_version {FORMAT_VERSION}."
        )
    return document
