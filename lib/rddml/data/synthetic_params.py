"""Argument checks of the synthetic data generators (no Spark: they run before any job).

Messages follow scikit-learn's wording and name the parameter, the constraint and
the value received.

Examples
--------
>>> check_classification_params(2, 2, 0, 2, 1, 1.0, 0.01)
(2, 2, 0, 2, 1, 1.0, 0.01)
>>> check_classification_params(2, 2, 1, 2, 1, 1.0, 0.01)  # doctest: +ELLIPSIS
Traceback (most recent call last):
...
rddml.errors.InvalidParameterError: The 'n_informative' + 'n_redundant' parameters must sum ...
"""

from __future__ import annotations

from typing import Any

import numpy as np

from rddml.data import synthetic_exact
from rddml.errors import InvalidParameterError
from rddml.params import check_float, check_int, check_matrix, check_seed

#: Per-cluster transforms are shipped to every task; keep them small.
MAX_TRANSFORM_VALUES = 1 << 24


def check_bool(name: str, value: Any) -> bool:
    """Return ``value`` if it is a bool."""
    if not isinstance(value, (bool, np.bool_)):
        raise InvalidParameterError(f"The '{name}' parameter must be a bool, got {value!r}.")
    return bool(value)


def check_common_params(
    n_samples: Any, num_partitions: Any, seed: Any, exact_sklearn: Any, chunk_rows: Any
) -> tuple[int, int | None, int | None, bool, int | None]:
    """Validated ``(n_samples, num_partitions, seed, exact_sklearn, chunk_rows)``; the exact
    mode's size limit is checked here too."""
    n = check_int("n_samples", n_samples, low=1)
    parts = None if num_partitions is None else check_int("num_partitions", num_partitions,
                                                          low=1)
    exact = check_bool("exact_sklearn", exact_sklearn)
    if exact:
        synthetic_exact.check_exact_size(n)
    rows = None if chunk_rows is None else check_int("chunk_rows", chunk_rows, low=1)
    return n, parts, check_seed("seed", seed), exact, rows


def check_centers(centers: Any) -> int | np.ndarray:
    """An int number of centres >= 1, or a finite (n_centers, n_features) array."""
    if isinstance(centers, (int, np.integer)) and not isinstance(centers, bool):
        return check_int("centers", int(centers), low=1)
    if isinstance(centers, (bool, float, str)) or centers is None:
        raise InvalidParameterError(
            f"The 'centers' parameter must be an int >= 1 or an array of shape "
            f"(n_centers, n_features), got {centers!r}."
        )
    arr = check_matrix("centers", centers, shape=(None, None))
    if arr.shape[0] < 1 or arr.shape[1] < 1:
        raise InvalidParameterError(
            f"The 'centers' parameter must have at least one centre and one feature, got "
            f"shape {arr.shape}."
        )
    return arr


def check_cluster_std(cluster_std: Any, n_centers: int) -> float | np.ndarray:
    """A float >= 0, or one finite value >= 0 per centre."""
    if np.ndim(cluster_std) == 0:
        return check_float("cluster_std", cluster_std, low=0.0)
    try:
        arr = np.asarray(cluster_std, dtype=np.float64)
    except (TypeError, ValueError):
        arr = np.array([np.nan])
    if arr.shape != (n_centers,) or not np.all(np.isfinite(arr)) or np.any(arr < 0):
        raise InvalidParameterError(
            f"The 'cluster_std' parameter must be a float >= 0 or {n_centers} such values "
            f"(one per centre), got {cluster_std!r}."
        )
    return arr


def check_center_box(center_box: Any) -> tuple[float, float]:
    """A ``(low, high)`` pair of finite floats with low <= high."""
    ok = isinstance(center_box, (tuple, list)) and len(center_box) == 2
    if ok:
        try:
            lo = check_float("center_box[0]", center_box[0])
            hi = check_float("center_box[1]", center_box[1])
        except InvalidParameterError:
            ok = False
        else:
            ok = lo <= hi
    if not ok:
        raise InvalidParameterError(
            f"The 'center_box' parameter must be a pair of finite floats (low, high) with "
            f"low <= high, got {center_box!r}."
        )
    return lo, hi


def check_classification_params(
    n_features: Any, n_informative: Any, n_redundant: Any, n_classes: Any,
    n_clusters_per_class: Any, class_sep: Any, flip_y: Any,
) -> tuple[int, int, int, int, int, float, float]:
    """Validated ``(n_features, n_informative, n_redundant, n_classes,
    n_clusters_per_class, class_sep, flip_y)`` of ``make_classification``."""
    d = check_int("n_features", n_features, low=1)
    n_inf = check_int("n_informative", n_informative, low=1)
    n_red = check_int("n_redundant", n_redundant, low=0)
    if n_inf + n_red > d:
        raise InvalidParameterError(
            f"The 'n_informative' + 'n_redundant' parameters must sum to at most "
            f"n_features={d}, got {n_inf} + {n_red} = {n_inf + n_red}."
        )
    classes = check_int("n_classes", n_classes, low=1)
    per_class = check_int("n_clusters_per_class", n_clusters_per_class, low=1)
    n_clusters = classes * per_class
    if n_inf < 63 and n_clusters > (1 << n_inf):
        raise InvalidParameterError(
            f"The 'n_classes' * 'n_clusters_per_class' parameters must be at most "
            f"2**n_informative = {1 << n_inf} (one hypercube vertex per cluster), got "
            f"{classes} * {per_class} = {n_clusters}."
        )
    if n_clusters * n_inf * n_inf > MAX_TRANSFORM_VALUES:
        raise InvalidParameterError(
            f"The per-cluster transforms would hold n_classes * n_clusters_per_class * "
            f"n_informative**2 = {n_clusters * n_inf * n_inf:,} values; at most "
            f"{MAX_TRANSFORM_VALUES:,} are supported."
        )
    sep = check_float("class_sep", class_sep, low=0.0, low_inclusive=False)
    flip = check_float("flip_y", flip_y, low=0.0, high=1.0)
    return d, n_inf, n_red, classes, per_class, sep, flip
