"""Validation of saved models and fit checkpoints when they are read back.

A model file or checkpoint may have been edited by hand, truncated, copied between
versions or written by something else. Loading one must either give back exactly what
was saved or fail with a :class:`~rddml.errors.DataValidationError` that names the file,
the field, what was expected and what was found::

    Model file '/m/model.json', field 'cluster_centers': expected finite numbers, found
    nan at [1][0].

Without these checks a NaN centre loaded silently and captured every point (``argmin``
over NaN distances is 0), and structural damage surfaced as a raw ``KeyError``,
``UnicodeDecodeError`` or an executor stack trace at the first ``predict``.

The checks run once, at load time: the bytes (UTF-8, JSON, a top-level object), the
format tag and version, the constructor parameters (through the estimator's own
``_validate_params``, unknown keys refused), then every fitted field's type, shape,
finiteness and its consistency with the others (``k`` rows of centres, one coefficient
per feature). Only cheap, local checks: nothing here needs Spark.
"""

from __future__ import annotations

import inspect
import json
import math
import os
import re
from collections.abc import Callable, Mapping
from typing import Any, Protocol, TypeVar

import numpy as np

from rddml.errors import DataValidationError
from rddml.io.sizes import read_limited

#: Stands for a key absent from its object (``None`` is JSON ``null``, a real value).
MISSING: Any = type("Missing", (), {"__repr__": lambda self: "MISSING"})()

KMEANS_HISTORY_KEYS = ("iteration", "cost", "shift", "empty_clusters", "seconds")
#: NumPy dtype kinds a checkpoint array may have: bool, signed and unsigned int, float.
ARRAY_KINDS = {"b": "true or false", "i": "integers", "u": "integers", "f": "numbers"}


class _Estimator(Protocol):
    def _validate_params(self) -> None: ...


E = TypeVar("E", bound=_Estimator)


# ------------------------------------------------------------------ messages
def describe(value: Any) -> str:
    """``value`` as a short phrase for the "found ..." part of a message (JSON words)."""
    if value is MISSING:
        return "nothing (the key is missing)"
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float, str)):
        text = repr(value)
        return text if len(text) <= 60 else text[:57] + "..."
    if isinstance(value, list):
        return f"a list of {len(value)} entries"
    if isinstance(value, dict):
        keys = ", ".join(repr(k) for k in list(value)[:5])
        more = ", ..." if len(value) > 5 else ""
        return f"an object with the keys {keys}{more}" if value else "an empty object"
    return type(value).__name__


class FileCheck:
    """Builds the errors about one file and holds the checks of single values.

    Parameters
    ----------
    file : str or path
        The file the values were read from; every message names it.
    what : str
        How the file is called in messages: ``"Model file"`` or ``"Checkpoint"``.
    """

    def __init__(self, file: str | os.PathLike[str], what: str) -> None:
        self.file = str(file)
        self.what = what

    def error(self, field: str, expected: str, found: str) -> DataValidationError:
        """The error for ``field``: ``<what> '<file>', field '<field>': expected ..., found ...``."""
        return DataValidationError(
            f"{self.what} {self.file!r}, field {field!r}: expected {expected}, found {found}."
        )

    def problem(self, text: str) -> DataValidationError:
        """An error about the whole file (its bytes or its top level)."""
        return DataValidationError(f"{self.what} {self.file!r}{text}")

    def obj(self, field: str, value: Any, expected: str = "a JSON object") -> dict[str, Any]:
        if not isinstance(value, dict):
            raise self.error(field, expected, describe(value))
        return value

    def integer(self, field: str, value: Any, *, low: int | None = 0,
                high: int | None = None) -> int:
        ok = isinstance(value, int) and not isinstance(value, bool)
        if ok and ((low is not None and value < low) or (high is not None and value > high)):
            ok = False
        if not ok:
            if low is not None and high is not None:
                expected = f"an int in [{low}, {high}]"
            else:
                expected = "an int" + ("" if low is None else f" >= {low}")
            raise self.error(field, expected, describe(value))
        return int(value)

    def number(self, field: str, value: Any, *, low: float | None = None) -> float:
        ok = _is_number(value) and _finite(value) and (low is None or value >= low)
        if not ok:
            bound = "" if low is None else f" >= {low:g}"
            raise self.error(field, f"a finite number{bound}", describe(value))
        return float(value)

    def boolean(self, field: str, value: Any) -> bool:
        if not isinstance(value, bool):
            raise self.error(field, "true or false", describe(value))
        return value

    def float_array(self, field: str, value: Any, ndim: int, *,
                    low: float | None = None) -> np.ndarray:
        """``value`` (nested JSON lists) as a float64 array of ``ndim`` dimensions, every
        entry a finite number (and ``>= low``)."""
        expected = ("a list of numbers (a 1-D array)" if ndim == 1 else
                    "a list of lists of numbers (a 2-D array)" if ndim == 2 else
                    f"nested lists of numbers (a {ndim}-D array)")
        _nested_shape(self, field, value, ndim, _is_number, expected)
        try:
            arr = np.array(value, dtype=np.float64)
        except OverflowError as exc:  # a JSON integer beyond the float range
            raise self.error(field, "finite numbers", "an integer too large for a float") \
                from exc
        if ndim > 1 and arr.size == 0:
            # [] has no row to tell the width from; keep the number of dimensions.
            arr = arr.reshape(arr.shape + (0,) * (ndim - arr.ndim))
        return self.finite(field, arr, low=low)

    def finite(self, field: str, arr: np.ndarray, *, low: float | None = None) -> np.ndarray:
        """``arr`` if every entry is finite (and ``>= low``), else the error naming the first
        offending entry."""
        bad = ~np.isfinite(arr)
        if bad.any():
            where = tuple(int(i) for i in np.argwhere(bad)[0])
            raise self.error(field, "finite numbers", f"{_number(arr[where])} at {_at(where)}")
        if low is not None and (arr < low).any():
            where = tuple(int(i) for i in np.argwhere(arr < low)[0])
            raise self.error(field, f"numbers >= {low:g}", f"{_number(arr[where])} at {_at(where)}")
        return arr


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _finite(value: int | float) -> bool:
    try:
        return math.isfinite(value)
    except OverflowError:  # a JSON integer beyond the float range
        return False


def _number(value: Any) -> str:
    return repr(float(value))


def _at(index: tuple[int, ...]) -> str:
    return "".join(f"[{i}]" for i in index)


def _nested_shape(check: FileCheck, field: str, value: Any, ndim: int,
                  accept: Callable[[Any], bool], expected: str) -> tuple[int | None, ...]:
    """The shape of ``value``, nested lists ``ndim`` deep whose leaves satisfy ``accept``;
    raises naming the first bad leaf or the first row whose length differs. Dimensions
    below an empty list are unknown (None)."""

    def walk(node: Any, depth: int, where: tuple[int, ...]) -> tuple[int | None, ...]:
        if depth == ndim:
            if not accept(node):
                raise check.error(field, expected, describe(node) + (f" at {_at(where)}"
                                                                     if where else ""))
            return ()
        if not isinstance(node, list):
            raise check.error(field, expected, describe(node) + (f" at {_at(where)}"
                                                                 if where else ""))
        if not node:
            return (0,) + (None,) * (ndim - depth - 1)
        shapes = [walk(child, depth + 1, (*where, i)) for i, child in enumerate(node)]
        for i, shape in enumerate(shapes[1:], start=1):
            if shape != shapes[0]:
                first, this = _at((*where, 0)), _at((*where, i))
                if len(shape) == 1:
                    found = f"{this} has {shape[0]} entries but {first} has {shapes[0][0]}"
                else:
                    found = f"{this} has shape {list(shape)} but {first} has {list(shapes[0])}"
                raise check.error(field, "rows of equal length", found)
        return (len(node), *shapes[0])

    return walk(value, 0, ())


# --------------------------------------------------------------- the document
def read_json_object(file: str | os.PathLike[str], what: str) -> dict[str, Any]:
    """The JSON object in ``file``; DataValidationError naming the file when it is larger
    than :func:`~rddml.io.sizes.max_model_bytes` (checked before it is read), or its
    bytes are not UTF-8, not JSON, or not an object at the top level."""
    check = FileCheck(file, what)
    data = read_limited(file, what)
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise check.problem(f" is not UTF-8 text: byte 0x{data[exc.start]:02x} at offset "
                            f"{exc.start} ({exc.reason}).") from exc
    try:
        document = json.loads(text)
    except (ValueError, RecursionError) as exc:  # JSONDecodeError is a ValueError
        raise check.problem(f" is not valid JSON: {exc}") from exc
    if not isinstance(document, dict):
        raise check.problem(f": expected a JSON object at the top level, found "
                            f"{describe(document)}.")
    return document


def check_tag(check: FileCheck, document: Mapping[str, Any], key: str, expected: Any,
              expected_text: str | None = None) -> None:
    """Raise unless ``document[key]`` is exactly ``expected`` (same type: 1 is not True)."""
    value = document.get(key, MISSING)
    if type(value) is not type(expected) or value != expected:
        raise check.error(key, expected_text or repr(expected), describe(value))


def estimator_from_params(check: FileCheck, cls: type[E], params: Any) -> E:
    """``cls(**params)`` once ``params`` passed the constructor's own validation.

    Keys must be constructor parameters (absent ones take their default, so a file
    written before a parameter existed still loads). The estimator's
    ``InvalidParameterError`` (which names the parameter, what it accepts and the value)
    becomes a DataValidationError on the field ``params.<name>``.
    """
    name = cls.__name__
    params = check.obj("params", params, f"a JSON object of {name} parameters")
    known = [p for p in inspect.signature(cls).parameters]
    unknown = [key for key in params if key not in known]
    if unknown:
        raise check.error("params", f"only {name} parameters ({', '.join(known)})",
                          "the unknown key(s) " + ", ".join(repr(k) for k in unknown))
    model = cls(**params)
    try:
        model._validate_params()
    except (TypeError, ValueError) as exc:
        # The constructor checks word every message "The 'x' parameter must be ...".
        match = re.search(r"The '(\w+)' parameter", str(exc))
        field = f"params.{match.group(1)}" if match else "params"
        raise DataValidationError(f"{check.what} {check.file!r}, field {field!r}: {exc}") \
            from exc
    return model


def _check_width(check: FileCheck, field: str, names: Any, d: int, what: str) -> None:
    """A list-valued parameter (``feature_cols``, ``init_coef``) must have ``d`` entries."""
    if names is not None and len(names) != d:
        raise check.error(field, f"{d} {what}", str(len(names)))


# -------------------------------------------------------------------- KMeans
def check_kmeans_model(file: str | os.PathLike[str], document: Mapping[str, Any],
                       cls: type[E]) -> tuple[E, dict[str, Any]]:
    """Validate a KMeans model document (already through :func:`read_json_object` and its
    tag check).

    Returns
    -------
    model : KMeans
        Constructed from the validated parameters.
    fitted : dict
        ``cluster_centers`` (float64 array (k, d)), ``n_iter``, ``converged``, ``inertia``
        and ``history``, checked and typed.
    """
    check = FileCheck(file, "Model file")
    model = estimator_from_params(check, cls, document.get("params", MISSING))
    k = int(getattr(model, "k"))  # noqa: B009 - E is a protocol without k
    centres = check_centres(check, "cluster_centers", document.get("cluster_centers", MISSING),
                            k, as_array=False)
    d = centres.shape[1]
    _check_width(check, "params.feature_cols", getattr(model, "feature_cols"), d,  # noqa: B009
                 "column names (one per feature of cluster_centers)")
    init = getattr(model, "init")  # noqa: B009
    if not isinstance(init, str):
        # _validate_params checked its k rows; its width is known only with the centres.
        width = np.asarray(init, dtype=np.float64).shape[1]
        if width != d:
            raise check.error("params.init", f"{d} columns (as cluster_centers)",
                              f"{width} columns")
    history = check_kmeans_history(check, "history", document.get("history", MISSING), k)
    n_iter = check.integer("n_iter", document.get("n_iter", MISSING))
    if n_iter != len(history):
        raise check.error("n_iter", f"{len(history)} (one per history entry)", str(n_iter))
    fitted = {
        "cluster_centers": centres,
        "n_iter": n_iter,
        "converged": check.boolean("converged", document.get("converged", MISSING)),
        "inertia": check.number("inertia", document.get("inertia", MISSING), low=0.0),
        "history": history,
    }
    return model, fitted


def check_centres(check: FileCheck, field: str, value: Any, k: int | None,
                  d: int | None = None, *, as_array: bool) -> np.ndarray:
    """Centres: finite, shape (k, d) with d >= 1. ``as_array``: ``value`` is a decoded
    checkpoint array (else nested JSON lists)."""
    if as_array:
        want = f"({k}, {d})" if k is not None and d is not None else "(k, d)"
        if not isinstance(value, np.ndarray) or value.dtype.kind != "f":
            raise check.error(field, f"an encoded float array of shape {want}", describe(value))
        if k is not None and d is not None and value.shape != (k, d):
            raise check.error(field, f"an array of shape {want} (params.k, n_features)",
                              f"shape {tuple(value.shape)}")
        centres = check.finite(field, value.astype(np.float64, copy=False))
    else:
        centres = check.float_array(field, value, 2)
    if k is not None and centres.shape[0] != k:
        raise check.error(field, f"{k} rows (one per cluster: params.k is {k})",
                          f"{centres.shape[0]} rows")
    if centres.shape[1] < 1:
        raise check.error(field, "at least 1 column", f"{centres.shape[1]} columns")
    return centres


def check_kmeans_history(check: FileCheck, field: str, value: Any,
                         k: int) -> list[dict[str, Any]]:
    """A KMeans ``history``: one object per iteration, numbered from 1, with a finite
    ``cost``, a finite ``shift >= 0``, ``empty_clusters`` in [0, k] and ``seconds >= 0``.
    Extra keys are kept (a newer rddml may record more)."""
    if not isinstance(value, list):
        raise check.error(field, "a list of per-iteration objects", describe(value))
    history = []
    for i, entry in enumerate(value):
        where = f"{field}[{i}]"
        entry = check.obj(where, entry, "an object with the keys " + ", ".join(KMEANS_HISTORY_KEYS))
        iteration = check.integer(f"{where}.iteration", entry.get("iteration", MISSING), low=1)
        if iteration != i + 1:
            raise check.error(f"{where}.iteration", str(i + 1), str(iteration))
        history.append({
            **entry,
            "iteration": iteration,
            "cost": check.number(f"{where}.cost", entry.get("cost", MISSING)),
            "shift": check.number(f"{where}.shift", entry.get("shift", MISSING), low=0.0),
            "empty_clusters": check.integer(f"{where}.empty_clusters",
                                            entry.get("empty_clusters", MISSING), low=0, high=k),
            "seconds": check.number(f"{where}.seconds", entry.get("seconds", MISSING), low=0.0),
        })
    return history


# -------------------------------------------------------- LogisticRegression
def check_logistic_model(file: str | os.PathLike[str], document: Mapping[str, Any],
                         cls: type[E]) -> tuple[E, dict[str, Any]]:
    """Validate a LogisticRegression model document (already through
    :func:`read_json_object` and its tag check).

    Returns
    -------
    model : LogisticRegression
        Constructed from the validated parameters; a ``class_weight`` dict gets int keys
        again (JSON keys are strings).
    fitted : dict
        ``coef`` (float64 (d,)), ``intercept``, ``n_iter``, ``converged``, ``loss_history``
        (list of float), ``n_passes``, ``class_weight`` (pair or None), ``feature_mean``
        and ``feature_std`` (float64 (d,) or None), checked and typed. A multinomial
        model (a document with ``"family": "multinomial"`` and ``classes`` 0 .. K-1) has
        ``coef`` (K, d), ``intercept`` (K,) and K class weights.
    """
    check = FileCheck(file, "Model file")
    model = estimator_from_params(check, cls, document.get("params", MISSING))
    class_weight = getattr(model, "class_weight")  # noqa: B009
    if isinstance(class_weight, dict):
        # Validated: every key is a class (maybe as "0", "1.0"), every weight a number.
        model.class_weight = {  # type: ignore[attr-defined]
            int(float(key)): float(w) for key, w in class_weight.items()}
    multinomial = document.get("family", "binomial") == "multinomial"
    if (not multinomial and isinstance(class_weight, dict)
            and any(key not in (0, 1) for key in model.class_weight)):  # type: ignore[attr-defined]
        raise DataValidationError(
            f"{check.what} {check.file!r}, field 'params.class_weight': The 'class_weight' "
            "parameter must map the classes 0 and 1 (the model is binary) to finite weights "
            f">= 0, got {class_weight!r}.")
    if document.get("family", "binomial") not in ("binomial", "multinomial"):
        raise check.error("family", "'binomial' or 'multinomial'",
                          describe(document.get("family")))
    coef = check.float_array("coef", document.get("coef", MISSING), 2 if multinomial else 1)
    d = coef.shape[-1]
    if d < 1:
        raise check.error("coef", "at least 1 coefficient", "0")
    n_classes = 2
    if multinomial:
        classes = check.float_array("classes", document.get("classes", MISSING), 1)
        n_classes = classes.shape[0]
        if n_classes < 2 or not np.array_equal(classes, np.arange(n_classes)):
            raise check.error("classes", "the classes 0, 1, ..., K-1 in order (K >= 2)",
                              describe(document.get("classes")))
        if coef.shape[0] != n_classes:
            raise check.error("coef", f"{n_classes} rows (one per class)",
                              str(coef.shape[0]))
    _check_width(check, "params.feature_cols", getattr(model, "feature_cols"), d,  # noqa: B009
                 "column names (one per coefficient)")
    init_coef = getattr(model, "init_coef")  # noqa: B009
    if not (multinomial and init_coef is not None and np.ndim(init_coef) == 2):
        _check_width(check, "params.init_coef", init_coef, d,
                     "entries (one per coefficient)")
    intercept: float | np.ndarray
    if multinomial:
        intercept = check.float_array("intercept", document.get("intercept", MISSING), 1)
        if intercept.shape[0] != n_classes:
            raise check.error("intercept", f"{n_classes} entries (one per class)",
                              str(intercept.shape[0]))
        if not getattr(model, "fit_intercept") and np.any(intercept != 0.0):  # noqa: B009
            raise check.error("intercept", "zeros (params.fit_intercept is false)",
                              describe(document.get("intercept")))
    else:
        intercept = check.number("intercept", document.get("intercept", MISSING))
        if not getattr(model, "fit_intercept") and intercept != 0.0:  # noqa: B009
            raise check.error("intercept", "0.0 (params.fit_intercept is false)",
                              repr(intercept))
    # Older files may lack the optional fields; absent means null, as when they were read.
    pair = document.get("class_weight")
    if pair is not None:
        pair = check.float_array("class_weight", pair, 1, low=0.0)
        if pair.shape[0] != n_classes:
            what = ("the weights of classes 0 and 1" if not multinomial
                    else "the weights of the classes")
            raise check.error("class_weight", f"{n_classes} entries ({what})",
                              str(pair.shape[0]))
    stats: dict[str, np.ndarray | None] = {}
    for field in ("feature_mean", "feature_std"):
        value = document.get(field)
        if value is None:
            stats[field] = None
            continue
        # The std of a constant feature is 0 (Scaling then ignores it), so 0 is valid.
        arr = check.float_array(field, value, 1, low=0.0 if field == "feature_std" else None)
        if arr.shape[0] != d:
            raise check.error(field, f"{d} entries (one per coefficient)", str(arr.shape[0]))
        stats[field] = arr
    if (stats["feature_mean"] is None) != (stats["feature_std"] is None):
        missing, present = (("feature_mean", "feature_std") if stats["feature_mean"] is None
                            else ("feature_std", "feature_mean"))
        raise check.error(missing, f"a list of numbers like {present} (both or neither)",
                          describe(document.get(missing)))
    fitted = {
        "coef": coef,
        "intercept": intercept,
        "n_iter": check.integer("n_iter", document.get("n_iter", MISSING)),
        "converged": check.boolean("converged", document.get("converged", MISSING)),
        "loss_history": check.float_array(
            "loss_history", document.get("loss_history", MISSING), 1).tolist(),
        "n_passes": check.integer("n_passes", document.get("n_passes", MISSING)),
        "class_weight": None if pair is None else tuple(float(v) for v in pair),
        "feature_mean": stats["feature_mean"],
        "feature_std": stats["feature_std"],
    }
    return model, fitted


# ---------------------------------------------------------------- checkpoints
def check_checkpoint_header(file: str | os.PathLike[str], document: Mapping[str, Any],
                            format_version: int) -> None:
    """The fields that say whose checkpoint this is, before it is compared with the fit."""
    check = FileCheck(file, "Checkpoint")
    estimator = document.get("estimator", MISSING)
    if not isinstance(estimator, str) or not estimator:
        raise check.error("estimator", "the name of an estimator", describe(estimator))
    check_tag(check, document, "format_version", format_version,
              f"{format_version} (this rddml's format)")
    check.obj("fingerprint", document.get("fingerprint", MISSING))


def check_checkpoint_state(file: str | os.PathLike[str], document: Mapping[str, Any],
                           fingerprint: Mapping[str, Any]) -> dict[str, Any]:
    """The decoded state of a checkpoint of this fit, with its ``iteration``, ``final``
    and ``written`` fields, every array well-formed (and, for an estimator with a state
    check in :data:`STATE_CHECKS`, its fields checked against the fit's ``fingerprint``).
    """
    check = FileCheck(file, "Checkpoint")
    iteration = check.integer("iteration", document.get("iteration", MISSING))
    final = check.boolean("final", document.get("final", False))
    written = document.get("written")
    if written is not None and not isinstance(written, str):
        raise check.error("written", "a date string or null", describe(written))
    state = decode_state(check, "state", check.obj("state", document.get("state", MISSING)))
    state_check = STATE_CHECKS.get(str(document.get("estimator")))
    if state_check is not None:
        state_check(check, state, iteration, fingerprint)
    state["iteration"] = iteration
    state["final"] = final
    state["written"] = written
    return state


def decode_state(check: FileCheck, field: str, value: Any) -> Any:
    """:func:`rddml.io.checkpoint.decode`, refusing malformed encoded arrays (unknown or
    non-numeric dtype, a shape that does not match the data, ragged or non-numeric data).
    Non-finite numbers are kept: whether they are allowed is the estimator's business."""
    if isinstance(value, dict):
        if "__ndarray__" in value:
            return _decode_array(check, field, value)
        return {k: decode_state(check, f"{field}.{k}", v) for k, v in value.items()}
    if isinstance(value, list):
        return [decode_state(check, f"{field}[{i}]", v) for i, v in enumerate(value)]
    return value


def _decode_array(check: FileCheck, field: str, value: dict[str, Any]) -> np.ndarray:
    if set(value) != {"__ndarray__", "dtype", "shape"}:
        raise check.error(field, "an encoded array with the keys '__ndarray__', 'dtype' and "
                          "'shape'", describe(value))
    name = value["dtype"]
    try:
        dtype = np.dtype(name) if isinstance(name, str) else None
    except TypeError:
        dtype = None
    if dtype is None or dtype.kind not in ARRAY_KINDS:
        raise check.error(f"{field}.dtype", "a boolean, integer or floating-point NumPy dtype "
                          "name", describe(name))
    shape = value["shape"]
    if not (isinstance(shape, list)
            and all(isinstance(s, int) and not isinstance(s, bool) and s >= 0 for s in shape)):
        raise check.error(f"{field}.shape", "a list of ints >= 0", describe(shape))
    kind = dtype.kind
    accept: Callable[[Any], bool] = (
        (lambda x: isinstance(x, bool)) if kind == "b"
        else _is_number if kind == "f"
        else (lambda x: isinstance(x, int) and not isinstance(x, bool)))
    found = _nested_shape(check, field, value["__ndarray__"], len(shape), accept,
                          ARRAY_KINDS[kind])
    if any(f is not None and f != s for f, s in zip(found, shape)):
        shown = [f if f is not None else "?" for f in found]
        raise check.error(field, f"data of the declared shape {shape}", f"shape {shown}")
    try:
        return np.array(value["__ndarray__"], dtype=dtype).reshape(shape)
    except (OverflowError, ValueError) as exc:  # e.g. 300 in a uint8 array
        raise check.error(field, f"values that fit the dtype {name}", str(exc)) from exc


def _check_kmeans_state(check: FileCheck, state: dict[str, Any], iteration: int,
                        fingerprint: Mapping[str, Any]) -> None:
    """A KMeans checkpoint: ``centers`` and ``init_centers`` finite of shape (k, d),
    ``iteration`` history entries, a seed and the converged flag."""
    params, data = fingerprint.get("params", {}), fingerprint.get("data", {})
    k = params.get("k") if isinstance(params.get("k"), int) else None
    d = data.get("n_features") if isinstance(data.get("n_features"), int) else None
    for name in ("init_centers", "centers"):
        state[name] = check_centres(check, f"state.{name}", state.get(name, MISSING), k, d,
                                    as_array=True)
    k = state["centers"].shape[0]
    history = check_kmeans_history(check, "state.history", state.get("history", MISSING), k)
    if len(history) != iteration:
        raise check.error("state.history", f"{iteration} entries (one per iteration done)",
                          str(len(history)))
    state["history"] = history
    state["seed"] = check.integer("state.seed", state.get("seed", MISSING))
    state["converged"] = check.boolean("state.converged", state.get("converged", MISSING))


LOGISTIC_SOLVERS = ("gd", "sgd", "lbfgs", "owlqn")


def _check_logistic_state(check: FileCheck, state: dict[str, Any], iteration: int,
                          fingerprint: Mapping[str, Any]) -> None:
    """A LogisticRegression checkpoint: the setup (solver kind, SGD seed, class weights,
    standardisation statistics of shape (d,)) agrees with the fit's parameters, and the
    solver's state (null only at iteration 0) has a finite θ of d (+1 with an intercept)
    entries, ``iteration`` iterations, a finite history of a length those iterations
    allow, and for L-BFGS/OWL-QN a finite objective and gradient and at most ``memory``
    curvature pairs (s, y) of positive curvature."""
    params, data = fingerprint.get("params", {}), fingerprint.get("data", {})
    d = data.get("n_features") if isinstance(data.get("n_features"), int) else None
    kind = state.get("solver_kind", MISSING)
    if kind not in LOGISTIC_SOLVERS:
        raise check.error("state.solver_kind", "one of " + ", ".join(map(repr, LOGISTIC_SOLVERS)),
                          describe(kind))
    expected_kind = _logistic_solver_kind(params)
    if expected_kind is not None and kind != expected_kind:
        raise check.error("state.solver_kind", f"{expected_kind!r} (from the parameters)",
                          repr(kind))
    seed = state.get("seed", MISSING)
    if kind == "sgd" or seed is not None:
        state["seed"] = check.integer("state.seed", seed)
    # A multinomial fit's state has its class count K (θ then holds K rows).
    n_classes = None
    if state.get("n_classes") is not None:
        n_classes = check.integer("state.n_classes", state.get("n_classes"), low=2, high=1000)
        state["n_classes"] = n_classes
    pair = state.get("class_weight", MISSING)
    if pair is not None:
        pair = check.float_array("state.class_weight", pair, 1, low=0.0)
        if pair.shape[0] != (n_classes or 2):
            what = ("the weights of classes 0 and 1" if n_classes is None
                    else "one weight per class")
            raise check.error("state.class_weight", f"{n_classes or 2} entries ({what})",
                              str(pair.shape[0]))
        state["class_weight"] = [float(v) for v in pair]
    standardize = params.get("standardize")
    for name in ("feature_mean", "feature_std"):
        value = state.get(name, MISSING)
        if value is None and standardize is not True:
            continue
        want = f"a float array of shape ({d if d is not None else 'd'},)"
        if standardize is True and value is None:
            raise check.error(f"state.{name}", f"{want} (params.standardize is true)", "null")
        if standardize is False:
            raise check.error(f"state.{name}", "null (params.standardize is false)",
                              describe(value))
        state[name] = _state_vector(check, f"state.{name}", value, d,
                                    low=0.0 if name == "feature_std" else None)
    state["stats_passes"] = check.integer("state.stats_passes", state.get("stats_passes", MISSING),
                                          low=0, high=1)
    solver = state.get("solver", MISSING)
    if solver is None and iteration == 0:
        return
    solver = check.obj("state.solver", solver,
                       "a JSON object (null only at iteration 0)" if iteration else
                       "a JSON object or null")
    if solver.get("kind") != kind:
        raise check.error("state.solver.kind", f"{kind!r} (as state.solver_kind)",
                          describe(solver.get("kind", MISSING)))
    p = None if d is None else d + (1 if params.get("fit_intercept", True) else 0)
    if p is not None and n_classes is not None:
        p *= n_classes
    theta = _state_vector(check, "state.solver.theta", solver.get("theta", MISSING), p)
    p = theta.shape[0]
    n_iter = check.integer("state.solver.n_iter", solver.get("n_iter", MISSING))
    if n_iter != iteration:
        raise check.error("state.solver.n_iter", f"{iteration} (the checkpoint's iteration)",
                          str(n_iter))
    history = check.float_array("state.solver.history", solver.get("history", MISSING), 1)
    n = history.shape[0]
    ok, want = {
        "gd": (n == iteration, f"{iteration} entries (one per iteration)"),
        "sgd": (n <= iteration, f"at most {iteration} entries (one per non-empty mini-batch)"),
    }.get(kind, (n >= iteration + 1, f"at least {iteration + 1} entries (one per pass)"))
    if not ok:
        raise check.error("state.solver.history", want, f"{n} entries")
    solver["history"] = history.tolist()
    solver["converged"] = check.boolean("state.solver.converged",
                                        solver.get("converged", MISSING))
    solver["stopped"] = check.boolean("state.solver.stopped", solver.get("stopped", MISSING))
    solver["theta"] = theta
    if kind == "gd":
        solver["best"] = check.number("state.solver.best", solver.get("best", MISSING))
        solver["best_at"] = check.integer("state.solver.best_at", solver.get("best_at", MISSING),
                                          low=0, high=iteration)
        solver["above"] = check.integer("state.solver.above", solver.get("above", MISSING))
    elif kind in ("lbfgs", "owlqn"):
        solver["value"] = check.number("state.solver.value", solver.get("value", MISSING))
        solver["grad"] = _state_vector(check, "state.solver.grad", solver.get("grad", MISSING), p)
        memory = check.integer("state.solver.memory", solver.get("memory", MISSING), low=1)
        pairs = []
        for name in ("s", "y"):
            arr = solver.get(name, MISSING)
            if not isinstance(arr, np.ndarray) or arr.dtype.kind != "f" or arr.ndim != 2 \
                    or arr.shape[1] != p:
                raise check.error(f"state.solver.{name}",
                                  f"an encoded float array of shape (pairs, {p})",
                                  f"shape {tuple(arr.shape)}" if isinstance(arr, np.ndarray)
                                  else describe(arr))
            if arr.shape[0] > memory:
                raise check.error(f"state.solver.{name}",
                                  f"at most {memory} pairs (state.solver.memory)",
                                  f"{arr.shape[0]} pairs")
            pairs.append(check.finite(f"state.solver.{name}", arr.astype(np.float64)))
        s, y = pairs
        if s.shape != y.shape:
            raise check.error("state.solver.y", f"{s.shape[0]} pairs (as state.solver.s)",
                              f"{y.shape[0]} pairs")
        curvature = (s * y).sum(axis=1)
        if (curvature <= 0).any():
            i = int(np.argmax(curvature <= 0))
            raise check.error("state.solver.s", "pairs of positive curvature s·y > 0",
                              f"s·y = {_number(float(curvature[i]))} at [{i}]")
        solver["s"], solver["y"] = s, y


def _logistic_solver_kind(params: Mapping[str, Any]) -> str | None:
    """The solver the parameters choose (None when they are not readable)."""
    optimizer = params.get("optimizer")
    if optimizer not in ("gd", "sgd", "lbfgs"):
        return None
    if optimizer == "lbfgs":
        reg, ratio = params.get("reg_param"), params.get("l1_ratio")
        if isinstance(reg, (int, float)) and isinstance(ratio, (int, float)) \
                and float(reg) * float(ratio) > 0:
            return "owlqn"
    return str(optimizer)


def _state_vector(check: FileCheck, field: str, value: Any, n: int | None, *,
                  low: float | None = None) -> np.ndarray:
    """A decoded checkpoint array: 1-D floats, ``n`` entries (when known), finite."""
    if not isinstance(value, np.ndarray) or value.dtype.kind != "f" or value.ndim != 1:
        want = f"an encoded float array of shape ({n if n is not None else 'n'},)"
        found = f"shape {tuple(value.shape)}" if isinstance(value, np.ndarray) else describe(value)
        raise check.error(field, want, found)
    if n is not None and value.shape[0] != n:
        raise check.error(field, f"{n} entries", str(value.shape[0]))
    return check.finite(field, value.astype(np.float64, copy=False), low=low)


#: Per-estimator checks of a checkpoint's decoded state (estimators without one get
#: only the well-formed-array check of :func:`decode_state`).
STATE_CHECKS: dict[str, Callable[[FileCheck, dict[str, Any], int, Mapping[str, Any]], None]] = {
    "KMeans": _check_kmeans_state,
    "LogisticRegression": _check_logistic_state,
}


__all__ = [
    "MISSING",
    "FileCheck",
    "check_checkpoint_header",
    "check_checkpoint_state",
    "check_kmeans_model",
    "check_logistic_model",
    "check_tag",
    "decode_state",
    "describe",
    "estimator_from_params",
    "read_json_object",
]
