"""Saving and loading fitted models as a directory holding one JSON document.

JSON keeps a model readable and portable (floats are written with Python's
shortest round-trip repr, so centres and coefficients reload bit-for-bit). Reading one
back is validated (:mod:`rddml.io.validation`): a damaged file is a DataValidationError
naming the file and the field, never a model that predicts nonsense.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from rddml.io.output import atomic_directory
from rddml.io.validation import FileCheck, check_tag, read_json_object
from rddml.paths import expand_user

FORMAT_VERSION = 1
MODEL_FILE = "model.json"


def save_model(path: str | os.PathLike[str], kind: str, payload: dict[str, Any],
               *, overwrite: bool = False) -> None:
    """Write ``payload`` as ``<path>/model.json`` atomically."""
    document = model_document(kind, payload)
    with atomic_directory(path, overwrite=overwrite) as tmp:
        (tmp / MODEL_FILE).write_text(json.dumps(document, indent=2, allow_nan=False) + "\n")


def model_document(kind: str, payload: dict[str, Any]) -> dict[str, Any]:
    """The JSON document of a model: its kind, the format and rddml versions, ``payload``."""
    from rddml._version import __version__

    return {"model": kind, "format_version": FORMAT_VERSION, "rddml_version": __version__,
            **payload}


def check_model_document(file: str | os.PathLike[str], document: dict[str, Any],
                         kind: str) -> None:
    """Raise a DataValidationError naming ``file`` unless ``document`` is a ``kind`` model
    of this format version."""
    check = FileCheck(file, "Model file")
    check_tag(check, document, "model", kind)
    check_tag(check, document, "format_version", FORMAT_VERSION,
              f"{FORMAT_VERSION} (this rddml's format)")


def model_file(path: str | os.PathLike[str]) -> Path:
    """The JSON document inside the model directory ``path`` (a leading ``~`` expanded)."""
    return Path(expand_user(path, what="Model path")) / MODEL_FILE


def load_model(path: str | os.PathLike[str], kind: str) -> dict[str, Any]:
    """Read a model directory written by :func:`save_model` and check its kind.

    Raises
    ------
    FileNotFoundError
        ``path`` holds no model file.
    DataValidationError
        The file is not UTF-8 JSON with an object at the top level, or its ``model`` tag
        is not ``kind``, or its ``format_version`` is not :data:`FORMAT_VERSION`; the
        message names the file (and the field). The estimator's fields are checked by
        its ``load`` (see :mod:`rddml.io.validation`).
    """
    file = model_file(path)
    if not file.is_file():
        raise FileNotFoundError(f"No saved model at {str(path)!r}: {str(file)!r} does not exist.")
    document = read_json_object(file, "Model file")
    check_model_document(file, document, kind)
    return document
