"""Parameter validation shared by the estimators.

One function per constraint kind, each raising :class:`InvalidParameterError`
with scikit-learn's wording: ``The 'k' parameter must be an int >= 1, got 0.``
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Iterable
from typing import Any

import numpy as np

from rddml.errors import InvalidParameterError, NotFittedError


def check_int(name: str, value: Any, *, low: int | None = None, high: int | None = None) -> int:
    """Return ``value`` as an int, or raise if it is not an integer within [low, high]."""
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise InvalidParameterError(
            f"The '{name}' parameter must be an int{_range_text(low, high)}, got {value!r}."
        )
    number = int(value)
    if (low is not None and number < low) or (high is not None and number > high):
        raise InvalidParameterError(
            f"The '{name}' parameter must be an int{_range_text(low, high)}, got {value!r}."
        )
    return number


def check_float(
    name: str,
    value: Any,
    *,
    low: float | None = None,
    high: float | None = None,
    low_inclusive: bool = True,
    high_inclusive: bool = True,
    allow_inf: bool = False,
) -> float:
    """Return ``value`` as a float within the given interval, or raise.

    NaN is always refused (it passes every bound: all its comparisons are False); so are
    ±inf unless ``allow_inf`` (e.g. a bound meaning "no limit"), still within the bounds.
    """
    ok = (
        not isinstance(value, bool)
        and isinstance(value, numbers.Real)
        and not math.isnan(float(value))
        and (allow_inf or math.isfinite(float(value)))
    )
    if ok:
        v = float(value)
        if low is not None:
            ok = v >= low if low_inclusive else v > low
        if ok and high is not None:
            ok = v <= high if high_inclusive else v < high
    if not ok:
        lo = "" if low is None else (f" >= {low}" if low_inclusive else f" > {low}")
        hi = "" if high is None else (f" <= {high}" if high_inclusive else f" < {high}")
        joiner = " and" if lo and hi else ""
        kind = "a float (not NaN)" if allow_inf else "a finite float"
        raise InvalidParameterError(
            f"The '{name}' parameter must be {kind}{lo}{joiner}{hi}, got {value!r}."
        )
    return float(value)


def check_choice(name: str, value: Any, choices: Iterable[str]) -> str:
    """Return ``value`` if it is one of ``choices``, or raise listing them."""
    options = list(choices)
    if not isinstance(value, str) or value not in options:
        listed = ", ".join(repr(c) for c in options)
        raise InvalidParameterError(
            f"The '{name}' parameter must be one of {listed}, got {value!r}."
        )
    return value


def check_seed(name: str, value: Any) -> int | None:
    """Return ``value`` if it is None or a non-negative int."""
    if value is None:
        return None
    return check_int(name, value, low=0)


def check_optional_str(name: str, value: Any) -> str | None:
    """Return ``value`` if it is None or a non-empty string."""
    if value is None or (isinstance(value, str) and value):
        return value
    raise InvalidParameterError(
        f"The '{name}' parameter must be a non-empty str or None, got {value!r}."
    )


def check_str_list(name: str, value: Any) -> list[str] | None:
    """Return ``value`` as a list of column names, or None."""
    if value is None:
        return None
    if (
        isinstance(value, (list, tuple))
        and value
        and all(isinstance(v, str) and v for v in value)
    ):
        return list(value)
    raise InvalidParameterError(
        f"The '{name}' parameter must be a non-empty list of column names or None, "
        f"got {value!r}."
    )


def check_matrix(name: str, value: Any, *, shape: tuple[int | None, int | None]) -> np.ndarray:
    """Return ``value`` as a finite float64 2-D array of the given shape (None = any)."""
    try:
        arr = np.asarray(value, dtype=np.float64)
    except (TypeError, ValueError) as exc:
        raise InvalidParameterError(
            f"The '{name}' parameter must be a numeric array, got {value!r}."
        ) from exc
    want = "x".join("n" if s is None else str(s) for s in shape)
    if arr.ndim != 2 or any(s is not None and s != a for s, a in zip(shape, arr.shape)):
        raise InvalidParameterError(
            f"The '{name}' parameter must be an array of shape ({want}), got shape {arr.shape}."
        )
    if not np.all(np.isfinite(arr)):
        raise InvalidParameterError(
            f"The '{name}' parameter must contain only finite values, got {arr.tolist()!r}."
        )
    return arr


def _range_text(low: int | None, high: int | None) -> str:
    if low is not None and high is not None:
        return f" in the range [{low}, {high}]"
    if low is not None:
        return f" >= {low}"
    if high is not None:
        return f" <= {high}"
    return ""


def check_is_fitted(estimator: object, attribute: str) -> None:
    """Raise :class:`NotFittedError` if ``estimator`` has no ``attribute`` yet."""
    if not hasattr(estimator, attribute):
        raise NotFittedError(
            f"This {type(estimator).__name__} instance is not fitted yet: call 'fit' first."
        )
