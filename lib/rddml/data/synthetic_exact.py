"""scikit-learn's own generators on the driver, for data that must match it exactly.

The write-up's figures come from ``sklearn.datasets.make_blobs`` and
``make_classification`` with fixed ``random_state``; no chunked generator can
reproduce that stream, so the exact mode calls scikit-learn itself (on one
machine, hence the size limit) and :mod:`rddml.engine.sources.synthetic` distributes the result.

``make_classification`` does not return its generating parameters. They are
recovered by replaying its draws on a second ``RandomState`` with the same
seed, and kept only if the replay reproduces scikit-learn's output bit for
bit (otherwise, e.g. after an upstream change, they are reported as unknown).

Examples
--------
>>> from rddml.data.synthetic import BlobsParams
>>> X, y, params = sklearn_blobs(BlobsParams(n_samples=6, n_features=2, centers=2,
...                                          cluster_std=1.0, center_box=(-10.0, 10.0)), seed=0)
>>> X.shape, params["centers"].shape
((6, 2), (2, 2))
"""

from __future__ import annotations

import logging
from typing import Any

import numpy as np

from rddml.data.synthetic import BlobsParams, ClassificationParams, broadcast_std
from rddml.errors import InvalidParameterError

logger = logging.getLogger(__name__)

#: The exact mode holds the whole dataset on the driver; beyond this it must not be used.
EXACT_MAX_ROWS = 5_000_000


def _require_sklearn() -> Any:
    try:
        import sklearn.datasets
    except ImportError as exc:  # pragma: no cover - sklearn is a dev dependency
        raise InvalidParameterError(
            "exact_sklearn=True needs scikit-learn installed on the driver "
            "(pip install scikit-learn), or pass exact_sklearn=False."
        ) from exc
    return sklearn.datasets


def check_exact_size(n_samples: int) -> None:
    """Refuse the exact mode above :data:`EXACT_MAX_ROWS` rows."""
    if n_samples > EXACT_MAX_ROWS:
        raise InvalidParameterError(
            f"exact_sklearn=True generates the whole dataset on the driver with scikit-learn "
            f"and is limited to {EXACT_MAX_ROWS:,} rows, got n_samples={n_samples:,}; use "
            "exact_sklearn=False to generate it on the executors."
        )


def sklearn_blobs(asked: BlobsParams, *, seed: int
                  ) -> tuple[np.ndarray, np.ndarray, dict[str, Any]]:
    """``make_blobs(..., random_state=seed)``: features, cluster ids and the centres."""
    datasets = _require_sklearn()
    X, y, centres = datasets.make_blobs(**vars(asked), random_state=seed, return_centers=True)
    return X, y, {"centers": np.asarray(centres, dtype=np.float64),
                  "cluster_std": broadcast_std(asked.cluster_std, centres.shape[0])}


def sklearn_classification(asked: ClassificationParams, *, seed: int
                           ) -> tuple[np.ndarray, np.ndarray, dict[str, Any] | None]:
    """``make_classification(..., random_state=seed)``: features, labels and, when the
    replay confirms them, the generating parameters (else None)."""
    datasets = _require_sklearn()
    args: dict[str, Any] = {**vars(asked), "n_repeated": 0}
    X, y = datasets.make_classification(**args, random_state=seed)
    X_replay, y_replay, params = replay_classification(**args, seed=seed)
    if not (np.array_equal(X, X_replay) and np.array_equal(y, y_replay)):
        logger.warning("could not recover make_classification's generating parameters "
                       "(this scikit-learn draws differently); reporting them as unknown")
        return X, y, None
    return X, y, params


def replay_classification(
    *,
    n_samples: int,
    n_features: int,
    n_informative: int,
    n_redundant: int,
    n_repeated: int,
    n_classes: int,
    n_clusters_per_class: int,
    flip_y: float,
    class_sep: float,
    seed: int,
) -> tuple[np.ndarray, np.ndarray, dict[str, Any]]:
    """scikit-learn 1.x's ``make_classification`` draws, in order, for its default
    ``hypercube=True, shift=0, scale=1, shuffle=True, weights=None, n_repeated=0``."""
    from sklearn.utils import shuffle as shuffle_rows
    from sklearn.utils.random import sample_without_replacement

    rng = np.random.RandomState(seed)
    n_clusters = n_classes * n_clusters_per_class
    # scikit-learn's float arithmetic, kept as is so that the counts agree for every n.
    per_cluster = [int(n_samples * (1.0 / n_classes) / n_clusters_per_class)] * n_clusters
    for i in range(n_samples - sum(per_cluster)):
        per_cluster[i % n_clusters] += 1
    if n_informative > 30:
        high = rng.randint(2, size=(n_clusters, n_informative - 30))
    codes = sample_without_replacement(2 ** min(n_informative, 30), n_clusters, random_state=rng)
    bits = np.unpackbits(codes.astype(">u4").view(">u1")).reshape((-1, 32))
    vertices = bits[:, -min(n_informative, 30):]
    if n_informative > 30:
        vertices = np.hstack([high, vertices])
    centroids = vertices.astype(float) * (2 * class_sep) - class_sep
    X = np.zeros((n_samples, n_features))
    y = np.zeros(n_samples, dtype=int)
    X[:, :n_informative] = rng.standard_normal(size=(n_samples, n_informative))
    transforms = np.empty((n_clusters, n_informative, n_informative))
    stop = 0
    for k in range(n_clusters):
        start, stop = stop, stop + per_cluster[k]
        y[start:stop] = k % n_classes
        transforms[k] = 2 * rng.uniform(size=(n_informative, n_informative)) - 1
        X[start:stop, :n_informative] = X[start:stop, :n_informative] @ transforms[k]
        X[start:stop, :n_informative] += centroids[k]
    redundant = np.zeros((n_informative, 0))
    if n_redundant > 0:
        redundant = 2 * rng.uniform(size=(n_informative, n_redundant)) - 1
        X[:, n_informative:n_informative + n_redundant] = X[:, :n_informative] @ redundant
    n_random = n_features - n_informative - n_redundant - n_repeated
    if n_random > 0:
        X[:, -n_random:] = rng.standard_normal(size=(n_samples, n_random))
    flip = rng.uniform(size=n_samples) < flip_y
    y[flip] = rng.randint(n_classes, size=flip.sum())
    X, y = shuffle_rows(X, y, random_state=rng)
    order = np.arange(n_features)
    rng.shuffle(order)
    X[:, :] = X[:, order]
    params = {"centroids": centroids, "transforms": transforms, "redundant": redundant,
              "feature_order": order}
    return X, y, params
