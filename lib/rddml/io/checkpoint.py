"""Checkpoints of long fits: an estimator's state saved atomically, to resume after a crash.

A fit with ``checkpoint_dir`` set writes its state (parameters being learned, the
iteration, the history, whatever its optimiser needs) to ``<checkpoint_dir>/checkpoint.json``
every ``checkpoint_interval`` iterations and when it ends. The file is replaced
atomically (written beside it, then renamed), so a driver killed at any moment leaves
either the previous state or the new one, never half of one. The same fit started again
with the same ``checkpoint_dir`` continues from the last state instead of starting over.

Each checkpoint carries a fingerprint of the estimator's parameters and of the data's
shape; a checkpoint written by a different fit is refused with an error naming what
differs. The state is JSON (floats written as their shortest round-trip repr, arrays
tagged with their dtype and shape), so a resumed fit continues from bit-identical
numbers. The file lives on the driver's file system (a local path, NFS, or ``/dbfs/...``
on Databricks).

``KMeans`` and ``LogisticRegression`` use it; their state checks on load are in
:mod:`rddml.io.validation`. Hooking an estimator in takes a few lines — ``KMeans`` does
exactly this::

    ckpt = FitCheckpoint(self.checkpoint_dir, estimator="KMeans",
                         fingerprint=fit_fingerprint(self.get_params(), ds,
                                                     exclude=("max_iter",)),
                         interval=self.checkpoint_interval)
    state = ckpt.load()            # None: start fresh; else the dict saved last
    ...
    for it in range(start, max_iter + 1):
        ...                        # one iteration
        if ckpt.due(it):
            ckpt.save(it, {"centers": centres, "history": history, ...})
    ckpt.save(it, {...}, final=True)

Examples
--------
>>> import tempfile
>>> ckpt = FitCheckpoint(tempfile.mkdtemp(), estimator="Demo", fingerprint={"k": 2})
>>> ckpt.load() is None
True
>>> ckpt.save(3, {"theta": np.array([0.5, 1.5]), "history": [1.0, 0.7, 0.6]})
>>> state = ckpt.load()
>>> state["iteration"], state["theta"]
(3, array([0.5, 1.5]))
"""

from __future__ import annotations

import datetime as _dt
import json
import logging
import os
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import numpy as np

from rddml.errors import InvalidParameterError
from rddml.io.output import atomic_file
from rddml.io.validation import (
    check_checkpoint_header,
    check_checkpoint_state,
    read_json_object,
)
from rddml.paths import expand_user

logger = logging.getLogger(__name__)

CHECKPOINT_FILE = "checkpoint.json"
FORMAT_VERSION = 1
#: Parameters that never change what a fit computes, so they are left out of fingerprints.
#: The kernel choice changes rounding only: a fit may resume under another one;
#: ``layout`` changes how the blocks hold the rows, which the data's digest records.
NOT_FINGERPRINTED = ("checkpoint_dir", "checkpoint_interval", "prediction_col",
                     "probability_col", "kernels", "layout")


def encode(value: Any) -> Any:
    """``value`` as plain JSON types; NumPy arrays become tagged dicts (see :func:`decode`)."""
    if isinstance(value, np.ndarray):
        return {"__ndarray__": value.tolist(), "dtype": str(value.dtype),
                "shape": list(value.shape)}
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, Mapping):
        return {str(k): encode(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [encode(v) for v in value]
    return value


def decode(value: Any) -> Any:
    """Invert :func:`encode`: tagged dicts become NumPy arrays again."""
    if isinstance(value, dict):
        if "__ndarray__" in value:
            return np.array(value["__ndarray__"], dtype=value["dtype"]).reshape(value["shape"])
        return {k: decode(v) for k, v in value.items()}
    if isinstance(value, list):
        return [decode(v) for v in value]
    return value


def fit_fingerprint(params: Mapping[str, Any], data: Any,
                    exclude: Iterable[str] = ()) -> dict[str, Any]:
    """What must match for a checkpoint to be resumed: the parameters (without
    ``exclude`` and :data:`NOT_FINGERPRINTED`), the shape of ``data`` (an engine
    dataset: rows, features, labels, weights) and its content digest (a hash of every
    row computed by the summary pass, independent of partitioning and row order), so
    other data of the same shape is refused; and the input path when the dataset was
    read from files, so a checkpoint is not resumed on a copy of the data elsewhere."""
    skip = set(exclude) | set(NOT_FINGERPRINTED)
    shape = {
        "n_rows": int(data.n_rows),
        "n_features": int(data.n_features),
        "labels": [float(v) for v in getattr(data, "labels", ())],
        "weighted": bool(getattr(data, "has_weights", False)),
        "content": str(getattr(data, "digest", "")),
    }
    if getattr(data, "input_path", None):
        shape["input_path"] = str(data.input_path)
    chosen = {k: v for k, v in params.items() if k not in skip}
    return _normalised({"params": chosen, "data": shape})


def _normalised(value: Any) -> Any:
    """The JSON round trip of ``value``, so tuples and lists (etc.) compare equal."""
    return json.loads(json.dumps(encode(value), allow_nan=True))


def _differences(stored: Any, current: Any, where: str = "") -> list[str]:
    if isinstance(stored, dict) and isinstance(current, dict):
        out = []
        for key in sorted(set(stored) | set(current)):
            path = f"{where}.{key}" if where else key
            if key not in stored or key not in current:
                out.append(f"{path} only {'here' if key in current else 'in the checkpoint'}")
            else:
                out.extend(_differences(stored[key], current[key], path))
        return out
    if stored != current:
        return [f"{where}={_short(current)} here but {_short(stored)} in the checkpoint"]
    return []


def _short(value: Any) -> str:
    text = repr(value)
    if len(text) <= 60:
        return text
    # A path differs at its end more often than at its start: keep both ends.
    return text[:20] + "..." + text[-37:] if isinstance(value, str) else text[:57] + "..."


class FitCheckpoint:
    """The checkpoint of one fit in ``directory`` (a no-op when ``directory`` is None).

    Parameters
    ----------
    directory : str, path or None
        Where ``checkpoint.json`` is written; created if missing.
    estimator : str
        The estimator's name, stored and checked on load.
    fingerprint : dict
        JSON-able description of the fit (see :func:`fit_fingerprint`); a checkpoint
        whose fingerprint differs is refused.
    interval : int, default=10
        :meth:`due` is true every ``interval`` iterations.
    """

    def __init__(self, directory: str | os.PathLike[str] | None, *, estimator: str,
                 fingerprint: Mapping[str, Any], interval: int = 10) -> None:
        self.directory = None if directory is None else Path(
            expand_user(directory, what="Checkpoint directory", key="checkpoint_dir"))
        self.estimator = estimator
        self.fingerprint = _normalised(dict(fingerprint))
        self.interval = int(interval)
        self.last_saved: int | None = None

    @property
    def enabled(self) -> bool:
        return self.directory is not None

    @property
    def path(self) -> Path | None:
        return None if self.directory is None else self.directory / CHECKPOINT_FILE

    def load(self) -> dict[str, Any] | None:
        """The state saved last (with its ``iteration`` and ``final`` flag), or None when
        there is no checkpoint yet.

        Raises
        ------
        InvalidParameterError
            The checkpoint belongs to another estimator or to a fit with other parameters
            or data shape.
        DataValidationError
            The file is damaged: not UTF-8 JSON, a field missing or of the wrong type, a
            malformed array, or (for estimators with a state check, such as KMeans)
            non-finite or misshapen state; the message names the file and the field
            (see :mod:`rddml.io.validation`).
        """
        path = self.path
        if path is None or not path.is_file():
            return None
        doc = read_json_object(path, "Checkpoint")
        check_checkpoint_header(path, doc, FORMAT_VERSION)
        if doc["estimator"] != self.estimator:
            raise InvalidParameterError(
                f"The 'checkpoint_dir' parameter points at {str(self.directory)!r}, which holds "
                f"a checkpoint of {doc['estimator']!r}, not of {self.estimator!r}. Use another "
                "checkpoint_dir or delete that one."
            )
        diffs = _differences(doc["fingerprint"], self.fingerprint)
        if diffs:
            raise InvalidParameterError(
                f"The 'checkpoint_dir' parameter points at {str(self.directory)!r}, which holds "
                f"the checkpoint of a different {self.estimator} fit: {'; '.join(diffs[:5])}. "
                "Use another checkpoint_dir, or delete that one to start over."
            )
        # Only now is the state this fit's: check it against the fit's k and d.
        state = check_checkpoint_state(path, doc, self.fingerprint)
        self.last_saved = state["iteration"]
        return state

    def due(self, iteration: int) -> bool:
        """True when ``iteration`` should be saved (every ``interval`` iterations)."""
        return self.enabled and iteration % self.interval == 0

    def save(self, iteration: int, state: Mapping[str, Any], *, final: bool = False) -> None:
        """Replace the checkpoint by ``state`` at ``iteration`` (atomically)."""
        path = self.path
        if path is None:
            return
        from rddml._version import __version__

        doc = {
            "estimator": self.estimator,
            "format_version": FORMAT_VERSION,
            "rddml_version": __version__,
            "written": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
            "iteration": int(iteration),
            "final": bool(final),
            "fingerprint": self.fingerprint,
            "state": encode(dict(state)),
        }
        # NaN/Inf (a diverging history) are kept: Python reads them back.
        text = json.dumps(doc) + "\n"
        with atomic_file(path, overwrite=True) as tmp:
            tmp.write_text(text)
            # The rename must not reach the disk before the data does.
            with open(tmp, "rb+") as handle:
                os.fsync(handle.fileno())
        self.last_saved = int(iteration)
        logger.debug("checkpoint of %s at iteration %d written to %s", self.estimator,
                     iteration, path)
