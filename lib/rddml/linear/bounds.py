"""Box constraints of a bound-constrained logistic regression (NumPy only, no Spark).

Bounds are given on the coefficients and intercepts in original units, as Spark MLlib's
``lowerBoundsOnCoefficients`` / ``upperBoundsOnCoefficients`` (one row per class:
(1, d) or (d,) for the binary model, (K, d) for the multinomial one) and
``lowerBoundsOnIntercepts`` / ``upperBoundsOnIntercepts`` (one per class). ``None`` (or
±inf) in an entry leaves that parameter free on that side.

The optimiser works on θ = (coefficient × σ_j, intercept) per class (standardised
features, not centred, so each original-unit bound is a bound on one θ component, as
MLlib maps them): :func:`theta_bounds` gives the box in that space. A constant feature
(σ = 0, absorbed by the intercept) is fixed at 0.

Examples
--------
>>> lo, hi = theta_bounds(np.array([2.0, 0.5]), 1, True, np.array([[0.0, -1.0]]), None,
...                       None, np.array([1.0]))
>>> lo.tolist(), hi.tolist()
([0.0, -0.5, -inf], [inf, inf, 1.0])
"""

from __future__ import annotations

from typing import Any

import numpy as np

from rddml.errors import InvalidParameterError

BOUND_PARAMS = ("lower_bounds_coef", "upper_bounds_coef", "lower_bounds_intercept",
                "upper_bounds_intercept")


def bound_array(name: str, value: Any, side: str) -> np.ndarray | None:
    """A bound parameter as float64 (``None`` entries become ∓inf); None when unset.

    Raises :class:`InvalidParameterError` for NaN, a non-number, or more than 2 dimensions.
    """
    if value is None:
        return None
    fill = -np.inf if side == "lower" else np.inf
    try:
        raw = np.array(value, dtype=object)
        raw[np.vectorize(lambda v: v is None, otypes=[bool])(raw)] = fill
        arr = raw.astype(np.float64)
    except (TypeError, ValueError):
        arr = np.full((0, 0, 0), np.nan)
    if arr.ndim > 2 or arr.size == 0 or np.isnan(arr).any() or np.any(arr == -fill):
        raise InvalidParameterError(
            f"The '{name}' parameter must be None or an array of numbers (None or "
            f"{'-' if side == 'lower' else ''}inf for no bound), one row per class, got "
            f"{value!r}.")
    return arr


def bounds_as_json(value: Any, side: str) -> Any:
    """A bound parameter as JSON (nested lists; ``None`` for "no bound")."""
    arr = bound_array("bound", value, side)
    if arr is None:
        return None
    entries = arr.astype(object)
    entries[np.isinf(arr)] = None
    return entries.tolist()


def check_bound_settings(params: dict[str, Any], *, optimizer: str, l1_strength: float,
                         fit_intercept: bool, checkpoint_dir: str | None) -> bool:
    """Check the bound parameters against the others; True when any bound is set."""
    arrays = {name: bound_array(name, params[name], name.split("_")[0])
              for name in BOUND_PARAMS}
    if all(a is None for a in arrays.values()):
        return False
    if optimizer != "lbfgs":
        raise InvalidParameterError(
            "Bounds on coefficients or intercepts need optimizer='lbfgs' (a bound-constrained "
            f"fit runs L-BFGS-B), got optimizer={optimizer!r}.")
    if l1_strength > 0:
        raise InvalidParameterError(
            "A bound-constrained fit supports only L2 regularisation (as Spark MLlib): set "
            "l1_ratio (elasticNetParam) to 0 or reg_param to 0, or remove the bounds.")
    if not fit_intercept and (arrays["lower_bounds_intercept"] is not None
                              or arrays["upper_bounds_intercept"] is not None):
        raise InvalidParameterError(
            "Bounds on the intercepts need fit_intercept=True (there is no intercept to "
            "bound).")
    if checkpoint_dir is not None:
        raise InvalidParameterError(
            "A bound-constrained fit cannot be checkpointed (SciPy's L-BFGS-B keeps its state "
            "internally): set checkpoint_dir=None or remove the bounds.")
    for kind in ("coef", "intercept"):
        lo, hi = arrays[f"lower_bounds_{kind}"], arrays[f"upper_bounds_{kind}"]
        if lo is not None and hi is not None and lo.shape == hi.shape and np.any(lo > hi):
            raise InvalidParameterError(
                f"The 'lower_bounds_{kind}' parameter must be <= 'upper_bounds_{kind}' "
                f"elementwise, got {lo.tolist()} and {hi.tolist()}.")
    return True


def _coef_bound(name: str, arr: np.ndarray | None, n_rows: int, d: int,
                fill: float) -> np.ndarray:
    if arr is None:
        return np.full((n_rows, d), fill)
    shaped = arr.reshape(1, -1) if arr.ndim == 1 and n_rows == 1 else arr
    if shaped.shape != (n_rows, d):
        want = f"({n_rows}, {d})" + (f" or ({d},)" if n_rows == 1 else "")
        raise InvalidParameterError(
            f"The '{name}' parameter must have shape {want} (classes x features), got "
            f"shape {arr.shape}.")
    return shaped


def _intercept_bound(name: str, arr: np.ndarray | None, n_rows: int, fill: float
                     ) -> np.ndarray:
    if arr is None:
        return np.full(n_rows, fill)
    flat = arr.reshape(-1)
    if flat.shape != (n_rows,) or arr.ndim > 1:
        raise InvalidParameterError(
            f"The '{name}' parameter must have {n_rows} value(s) (one per class), got "
            f"shape {arr.shape}.")
    return flat


def original_bounds(params: dict[str, Any], n_rows: int, d: int
                    ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """``(lower coef (K, d), upper coef, lower intercept (K,), upper intercept)`` in
    original units, ±inf where unbounded; shapes checked against K rows and d features."""
    lc = _coef_bound("lower_bounds_coef",
                     bound_array("lower_bounds_coef", params["lower_bounds_coef"], "lower"),
                     n_rows, d, -np.inf)
    uc = _coef_bound("upper_bounds_coef",
                     bound_array("upper_bounds_coef", params["upper_bounds_coef"], "upper"),
                     n_rows, d, np.inf)
    li = _intercept_bound(
        "lower_bounds_intercept",
        bound_array("lower_bounds_intercept", params["lower_bounds_intercept"], "lower"),
        n_rows, -np.inf)
    ui = _intercept_bound(
        "upper_bounds_intercept",
        bound_array("upper_bounds_intercept", params["upper_bounds_intercept"], "upper"),
        n_rows, np.inf)
    if np.any(lc > uc) or np.any(li > ui):
        raise InvalidParameterError(
            "Every lower bound must be <= its upper bound, got coefficients "
            f"{lc.tolist()} .. {uc.tolist()} and intercepts {li.tolist()} .. {ui.tolist()}.")
    return lc, uc, li, ui


def theta_bounds(scale: np.ndarray, n_rows: int, fit_intercept: bool,
                 lower_coef: np.ndarray | None, upper_coef: np.ndarray | None,
                 lower_intercept: np.ndarray | None, upper_intercept: np.ndarray | None
                 ) -> tuple[np.ndarray, np.ndarray]:
    """The box on the flat θ ((K, d [+ 1]) rows) for original-unit bounds (None: free).

    θ_kj = coef_kj · scale_j, so a coefficient bound scales by σ_j (σ_j > 0); a feature
    with scale 0 is fixed at 0. The intercept entries are the intercept bounds.
    """
    d = scale.shape[0]

    def coef_side(b: np.ndarray | None, fill: float) -> np.ndarray:
        out = np.full((n_rows, d), fill) if b is None else np.asarray(b, dtype=np.float64) \
            .reshape(n_rows, d) * scale
        return np.where(scale > 0, out, 0.0)

    lo, hi = coef_side(lower_coef, -np.inf), coef_side(upper_coef, np.inf)
    if fit_intercept:
        li = np.full(n_rows, -np.inf) if lower_intercept is None else lower_intercept
        ui = np.full(n_rows, np.inf) if upper_intercept is None else upper_intercept
        lo = np.hstack([lo, np.asarray(li, dtype=np.float64).reshape(n_rows, 1)])
        hi = np.hstack([hi, np.asarray(ui, dtype=np.float64).reshape(n_rows, 1)])
    return lo.ravel(), hi.ravel()
