"""The classes of a logistic regression: which family, how many classes, their weights.

Driver-side checks only (no Spark, no pass): the family from the dataset's label
summary, the class count K from the summary or from the multinomial statistics pass
(:func:`rddml.linear.passes.label_census_pass`), and the per-class weights. Labels
must be the integers 0 .. K − 1, every class with rows, and K at most
:data:`~rddml.labels.MAX_CLASSES`.

Examples
--------
>>> resolve_family("auto", (0.0, 1.0))
'binomial'
>>> resolve_family("auto", (0.0, 1.0, 2.0))
'multinomial'
>>> n_classes_from_counts(np.array([3, 4, 5]), ())
3
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Sequence
from typing import Any

import numpy as np

from rddml.engine.records import MAX_LABELS
from rddml.errors import DataValidationError, InvalidParameterError
from rddml.labels import MAX_CLASSES
from rddml.linear.softmax import balanced_weights

FAMILIES = ("auto", "binomial", "multinomial")


def summary_is_complete(labels: Sequence[float]) -> bool:
    """Whether a dataset's ``labels`` summary lists every distinct label.

    Each partition stops collecting after more than ``MAX_LABELS`` distinct values, so
    a union of at most ``MAX_LABELS`` values is complete (every partition kept all of its
    labels); a longer one may not be.
    """
    return len(labels) <= MAX_LABELS


def resolve_family(family: str, labels: Sequence[float]) -> str:
    """``"binomial"`` or ``"multinomial"``: ``auto`` picks binomial when the labels are
    within {0, 1} (as Spark MLlib: two classes), multinomial otherwise."""
    if family != "auto":
        return family
    if summary_is_complete(labels) and set(labels) <= {0.0, 1.0}:
        return "binomial"
    return "multinomial"


def check_binomial_labels(labels: Sequence[float]) -> None:
    """With ``family="binomial"``, integer labels beyond 1 mean several classes: say so."""
    extra = [v for v in labels if float(v).is_integer() and v > 1]
    if extra and all(float(v).is_integer() and v >= 0 for v in labels):
        shown = ", ".join(f"{v:g}" for v in list(labels)[:10])
        more = "" if summary_is_complete(labels) else ", ..."
        raise DataValidationError(
            "family='binomial' needs the labels 0 and 1, but the data has more than 2 classes "
            f"(labels {shown}{more}); use family='multinomial' or family='auto'."
        )


def _bad_labels_error(bad: Sequence[float]) -> DataValidationError:
    values = sorted(float(v) for v in bad)
    too_large = [v for v in values if v.is_integer() and v >= MAX_CLASSES]
    if too_large and len(too_large) == len(values):
        top = int(max(too_large))
        return DataValidationError(
            f"The data has the label {top}, so at least {top + 1} classes; multinomial "
            f"logistic regression supports at most {MAX_CLASSES} classes (labels 0 to "
            f"{MAX_CLASSES - 1})."
        )
    return DataValidationError(
        "Multinomial logistic regression needs labels that are the integers 0 .. K-1 "
        f"(K <= {MAX_CLASSES}), found the label value(s) {values[:10]}."
    )


def n_classes_from_counts(counts: np.ndarray, bad: Sequence[float]) -> int:
    """K from the per-class row counts of a census (class k = label k) and its invalid
    labels; raises :class:`DataValidationError` for invalid labels, an empty class, or
    fewer than 2 classes."""
    if bad:
        raise _bad_labels_error(bad)
    K = int(counts.shape[0])
    present = [k for k in range(K) if counts[k] > 0]
    if K < 2:
        raise DataValidationError(
            "The training data has a single class (every label is 0); logistic regression "
            "needs rows of at least two classes."
        )
    missing = [k for k in range(K) if counts[k] <= 0]
    if missing:
        raise DataValidationError(
            f"Labels must be the integers 0 .. K-1 with rows in every class; the largest "
            f"label is {K - 1}, but class(es) {missing[:10]} have no rows (labels present: "
            f"{present[:20]})."
        )
    return K


def n_classes_from_summary(labels: Sequence[float]) -> int:
    """K from a complete label summary (see :func:`summary_is_complete`), checked as
    :func:`n_classes_from_counts` does."""
    values = np.asarray(labels, dtype=np.float64)
    ok = (np.isfinite(values) & (values == np.floor(values)) & (values >= 0)
          & (values < MAX_CLASSES))
    if not ok.all():
        raise _bad_labels_error(values[~ok].tolist())
    K = int(values.max()) + 1 if values.size else 0
    counts = np.zeros(K, dtype=np.int64)
    counts[values.astype(np.int64)] = 1
    return n_classes_from_counts(counts, ())


def check_eval_labels(labels: Sequence[float], n_classes: int) -> None:
    """Labels of data to evaluate a K-class model on must be classes 0 .. K-1 (checked
    from the summary here; the pass checks the rest)."""
    bad = [v for v in labels if not (float(v).is_integer() and 0 <= v < n_classes)]
    if bad:
        raise eval_labels_error(bad, n_classes)


def eval_labels_error(bad: Sequence[float], n_classes: int) -> DataValidationError:
    return DataValidationError(
        f"The model has {n_classes} classes, so labels must be the integers 0 .. "
        f"{n_classes - 1}; found the label value(s) {sorted(float(v) for v in bad)[:10]}."
    )


# -------------------------------------------------------------- class weights
def check_class_weight_dict(value: Any, *, binary: bool = False) -> dict[int, float]:
    """A ``class_weight`` dict as ``{class: weight}``: keys integers 0 .. MAX_CLASSES-1
    (only 0 and 1 when ``binary``; maybe as strings or floats, as JSON gives them back),
    weights finite and >= 0."""
    out: dict[int, float] = {}
    for key, weight in value.items():
        cls = binary_class_key(key) if binary else class_key(key)
        if cls is None or not isinstance(weight, numbers.Real) or isinstance(weight, bool) \
                or not math.isfinite(float(weight)) or float(weight) < 0:
            raise InvalidParameterError(
                "The 'class_weight' parameter must map the classes 0 and 1 to finite "
                f"weights >= 0, got {value!r}." if binary else
                "The 'class_weight' parameter must map the classes 0 and 1 (0 .. K-1, K <= "
                f"{MAX_CLASSES}, for a multinomial model) to finite weights >= 0, got {value!r}."
            )
        out[cls] = float(weight)
    return out


def class_key(key: Any) -> int | None:
    """A ``class_weight`` key as its class 0 .. MAX_CLASSES-1 (None when it is none)."""
    try:
        number = float(key)
    except (TypeError, ValueError):
        return None
    if not (math.isfinite(number) and number.is_integer() and 0 <= number < MAX_CLASSES):
        return None
    return int(number)


def binary_class_key(key: Any) -> int | None:
    """A ``class_weight`` key as the class 0 or 1 (None when it is neither)."""
    cls = class_key(key)
    return cls if cls in (0, 1) else None


def class_weight_vector(value: Any, n_classes: int,
                        class_totals: np.ndarray | None) -> np.ndarray | None:
    """The K class weights of ``class_weight``: None, ``"balanced"`` (from the per-class
    total weights) or a dict (absent classes weigh 1; a class beyond K is an error)."""
    if value is None:
        return None
    if value == "balanced":
        assert class_totals is not None
        if float(np.min(class_totals)) <= 0:
            raise DataValidationError(
                "class_weight='balanced' needs a positive total weight in every class, got "
                f"{np.asarray(class_totals).tolist()} for classes 0 .. {n_classes - 1}."
            )
        return balanced_weights(class_totals)
    weights = np.ones(n_classes)
    for cls, weight in check_class_weight_dict(value).items():
        if cls >= n_classes:
            raise InvalidParameterError(
                f"The 'class_weight' parameter names class {cls}, but the data has "
                f"{n_classes} classes (0 .. {n_classes - 1})."
            )
        weights[cls] = weight
    return weights
