"""NumPy-only math of the synthetic data generators, one fixed-size chunk at a time.

The rows of a synthetic dataset are cut into chunks of ``chunk_rows`` consecutive
rows. Chunk ``i`` draws from its own generator, seeded with
``SeedSequence(entropy, spawn_key=(1, i))`` — the same seed as
``SeedSequence(entropy).spawn(2)[1].spawn(n_chunks)[i]``, but computable alone,
so a task makes its chunks without the driver spawning them all. The small
generating parameters (centres, hypercube vertices, linear transforms) are drawn
once from ``SeedSequence(entropy, spawn_key=(0,))``. Rows therefore depend only
on the seed and ``chunk_rows``, never on how chunks are spread over partitions.

Group sizes follow scikit-learn exactly: with ``k`` groups, group ``g`` gets
``n // k + (g < n % k)`` rows. Row ``r`` belongs to group ``r % k`` before its
chunk's labels are shuffled, which keeps those counts exact and every chunk a
balanced random mix.

Nothing here imports Spark; :mod:`rddml.engine.sources.synthetic` runs these on the executors.

Examples
--------
>>> asked = BlobsParams(n_samples=10, n_features=2, centers=3, cluster_std=1.0,
...                     center_box=(-10.0, 10.0))
>>> spec = blobs_spec(asked, entropy=0, chunk_rows=4)
>>> spec.n_chunks
3
>>> X, y = spec.chunk(2)
>>> X.shape, sorted(y.tolist())  # rows 8 and 9: groups 8 % 3 and 9 % 3
((2, 2), [0, 2])
>>> bool(np.array_equal(spec.chunk(2)[0], X))
True
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Protocol

import numpy as np

#: Upper bound of a chunk: 2**16 rows ...
MAX_CHUNK_ROWS = 1 << 16
#: ... and 2**22 values (32 MiB of float64), so wide data gets shorter chunks.
MAX_CHUNK_VALUES = 1 << 22


class ChunkSource(Protocol):
    """Anything that makes chunk ``i`` of a dataset on demand (spec or in-memory arrays)."""

    @property
    def n_samples(self) -> int: ...

    @property
    def n_features(self) -> int: ...

    @property
    def chunk_rows(self) -> int: ...

    @property
    def n_chunks(self) -> int: ...

    def chunk(self, i: int) -> tuple[np.ndarray, np.ndarray]: ...


def default_chunk_rows(n_features: int) -> int:
    """Rows per chunk: the largest power of two within both bounds (at least 1)."""
    rows = max(1, min(MAX_CHUNK_ROWS, MAX_CHUNK_VALUES // max(1, n_features)))
    return 1 << (rows.bit_length() - 1)


def count_chunks(n_samples: int, chunk_rows: int) -> int:
    """Number of chunks of ``chunk_rows`` rows (the last may be shorter)."""
    return -(-n_samples // chunk_rows)


def chunk_bounds(n_samples: int, chunk_rows: int, i: int) -> tuple[int, int]:
    """Global row range ``[start, stop)`` of chunk ``i``."""
    start = i * chunk_rows
    return start, min(n_samples, start + chunk_rows)


def partition_chunks(n_chunks: int, num_partitions: int, partition: int) -> range:
    """The consecutive chunks partition ``partition`` of ``num_partitions`` generates."""
    return range(partition * n_chunks // num_partitions,
                 (partition + 1) * n_chunks // num_partitions)


def parameter_rng(entropy: int) -> np.random.Generator:
    """The driver's generator for the small generating parameters."""
    return np.random.Generator(np.random.PCG64(np.random.SeedSequence(entropy, spawn_key=(0,))))


def chunk_rng(entropy: int, i: int) -> np.random.Generator:
    """Chunk ``i``'s generator: ``SeedSequence(entropy).spawn(2)[1].spawn(n)[i]``."""
    return np.random.Generator(np.random.PCG64(np.random.SeedSequence(entropy, spawn_key=(1, i))))


def balanced_groups(start: int, stop: int, n_groups: int, rng: np.random.Generator) -> np.ndarray:
    """Group ids of global rows ``[start, stop)``: ``row % n_groups``, shuffled in the chunk."""
    return rng.permutation(np.arange(start, stop, dtype=np.int64) % n_groups)


# --------------------------------------------------------------------------- blobs
@dataclass(frozen=True, eq=False)
class BlobsParams:
    """What a blobs dataset is asked for (checked by :func:`rddml.engine.sources.synthetic.make_blobs`);
    both :func:`blobs_spec` and the exact mode
    (:func:`rddml.data.synthetic_exact.sklearn_blobs`) generate from it."""

    n_samples: int
    n_features: int
    centers: int | np.ndarray
    cluster_std: float | np.ndarray
    center_box: tuple[float, float]


@dataclass(frozen=True, eq=False)
class BlobsSpec:
    """Isotropic Gaussian blobs: row ``r`` of group ``g`` is ``centers[g] + std[g] * N(0, I)``.

    Attributes
    ----------
    centers : ndarray of shape (k, n_features)
    cluster_std : ndarray of shape (k,)
    entropy : int, the root seed of every chunk
    """

    n_samples: int
    n_features: int
    centers: np.ndarray
    cluster_std: np.ndarray
    entropy: int
    chunk_rows: int

    @property
    def n_chunks(self) -> int:
        return count_chunks(self.n_samples, self.chunk_rows)

    def chunk(self, i: int) -> tuple[np.ndarray, np.ndarray]:
        """Features (m, n_features) and cluster ids (m,) of chunk ``i``."""
        start, stop = chunk_bounds(self.n_samples, self.chunk_rows, i)
        rng = chunk_rng(self.entropy, i)
        y = balanced_groups(start, stop, self.centers.shape[0], rng)
        X = rng.standard_normal((stop - start, self.n_features))
        X *= self.cluster_std[y, None]
        X += self.centers[y]
        return X, y


def blobs_spec(asked: BlobsParams, *, entropy: int, chunk_rows: int) -> BlobsSpec:
    """Draw the centres (uniform in ``center_box``, unless given) from the parameter seed."""
    centers = asked.centers
    if isinstance(centers, (int, np.integer)):
        low, high = asked.center_box
        centres = parameter_rng(entropy).uniform(low, high, size=(int(centers), asked.n_features))
    else:
        centres = np.array(centers, dtype=np.float64)
    return BlobsSpec(asked.n_samples, centres.shape[1], centres,
                     broadcast_std(asked.cluster_std, centres.shape[0]), entropy, chunk_rows)


def broadcast_std(cluster_std: float | np.ndarray, k: int) -> np.ndarray:
    """The standard deviation of each of the ``k`` blobs, (k,) float64."""
    return np.broadcast_to(np.asarray(cluster_std, dtype=np.float64), (k,)).copy()


# ------------------------------------------------------------------ classification
@dataclass(frozen=True, eq=False)
class ClassificationParams:
    """What a classification dataset is asked for (checked by
    :func:`rddml.engine.sources.synthetic.make_classification`); both :func:`classification_spec` and
    the exact mode (:func:`rddml.data.synthetic_exact.sklearn_classification`) generate
    from it."""

    n_samples: int
    n_features: int
    n_informative: int
    n_redundant: int
    n_classes: int
    n_clusters_per_class: int
    class_sep: float
    flip_y: float


@dataclass(frozen=True, eq=False)
class ClassificationSpec(ClassificationParams):
    """scikit-learn's ``make_classification`` model (hypercube, no repeated features),
    with the parameters drawn for the asked :class:`ClassificationParams`.

    Cluster ``c`` (class ``c % n_classes``) has informative features
    ``z @ transforms[c] + centroids[c]`` with ``z ~ N(0, I)``; the redundant features
    are ``informative @ redundant``; the rest are N(0, 1) noise. Columns are then
    reordered by ``feature_order`` (output column j = generated column
    ``feature_order[j]``) and a ``flip_y`` fraction of labels is redrawn uniformly.
    """

    centroids: np.ndarray  # (n_clusters, n_informative), vertices of the hypercube
    transforms: np.ndarray  # (n_clusters, n_informative, n_informative)
    redundant: np.ndarray  # (n_informative, n_redundant)
    feature_order: np.ndarray  # (n_features,) permutation
    entropy: int
    chunk_rows: int

    @property
    def n_chunks(self) -> int:
        return count_chunks(self.n_samples, self.chunk_rows)

    @property
    def n_clusters(self) -> int:
        return int(self.centroids.shape[0])

    def cluster_centers(self) -> np.ndarray:
        """Expected mean of each cluster in the output feature space, (n_clusters, n_features)."""
        return cluster_centers(self.centroids, self.redundant, self.feature_order, self.n_features)

    def chunk(self, i: int) -> tuple[np.ndarray, np.ndarray]:
        """Features (m, n_features) and class labels (m,) of chunk ``i``."""
        X, y, _ = self.chunk_with_clusters(i)
        return X, y

    def chunk_with_clusters(self, i: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Features, (possibly flipped) labels and the generating cluster of each row."""
        start, stop = chunk_bounds(self.n_samples, self.chunk_rows, i)
        m, n_inf = stop - start, self.n_informative
        rng = chunk_rng(self.entropy, i)
        cluster = balanced_groups(start, stop, self.n_clusters, rng)
        z = rng.standard_normal((m, n_inf))
        X = np.empty((m, self.n_features))
        informative = X[:, :n_inf]
        # Rows sorted by cluster make each cluster a contiguous run: one matrix product
        # per cluster, O(m log m + n_clusters) instead of one mask per cluster.
        order = np.argsort(cluster, kind="stable")
        ends = np.cumsum(np.bincount(cluster, minlength=self.n_clusters))
        lo = 0
        for c, hi in enumerate(ends.tolist()):
            if hi > lo:
                rows = order[lo:hi]
                informative[rows] = z[rows] @ self.transforms[c] + self.centroids[c]
            lo = hi
        n_red = self.n_redundant
        if n_red:
            X[:, n_inf:n_inf + n_red] = informative @ self.redundant
        n_random = self.n_features - n_inf - n_red
        if n_random:
            X[:, n_inf + n_red:] = rng.standard_normal((m, n_random))
        y = cluster % self.n_classes
        flip = rng.random(m) < self.flip_y
        y[flip] = rng.integers(0, self.n_classes, size=int(flip.sum()))
        return np.ascontiguousarray(X[:, self.feature_order]), y, cluster


def cluster_centers(
    centroids: np.ndarray, redundant: np.ndarray, feature_order: np.ndarray, n_features: int
) -> np.ndarray:
    """Each cluster's expected row: centroid, its redundant image, zero noise, reordered."""
    n_random = n_features - centroids.shape[1] - redundant.shape[1]
    full = np.hstack([centroids, centroids @ redundant, np.zeros((centroids.shape[0], n_random))])
    return full[:, feature_order]


def hypercube_vertices(n_vertices: int, dim: int, rng: np.random.Generator) -> np.ndarray:
    """``n_vertices`` distinct vertices of the unit hypercube in ``dim`` dimensions (0/1).

    Like scikit-learn, the last ``min(dim, 30)`` coordinates are distinct codes drawn
    without replacement and any further coordinates are free random bits.
    """
    low = min(dim, 30)
    codes = rng.choice(1 << low, size=n_vertices, replace=False)
    bits = (codes[:, None] >> np.arange(low - 1, -1, -1)) & 1
    if dim > low:
        bits = np.hstack([rng.integers(0, 2, size=(n_vertices, dim - low)), bits])
    return bits.astype(np.float64)


def classification_spec(asked: ClassificationParams, *, entropy: int, chunk_rows: int
                        ) -> ClassificationSpec:
    """Draw vertices, per-cluster transforms, the redundant map and the column order."""
    rng = parameter_rng(entropy)
    n_inf, sep = asked.n_informative, asked.class_sep
    n_clusters = asked.n_classes * asked.n_clusters_per_class
    centroids = hypercube_vertices(n_clusters, n_inf, rng) * (2 * sep) - sep
    transforms = 2 * rng.random((n_clusters, n_inf, n_inf)) - 1
    redundant = 2 * rng.random((n_inf, asked.n_redundant)) - 1
    feature_order = rng.permutation(asked.n_features)
    return ClassificationSpec(
        **vars(asked), centroids=centroids, transforms=transforms, redundant=redundant,
        feature_order=feature_order, entropy=entropy, chunk_rows=chunk_rows,
    )


# ------------------------------------------------------------- in-memory (exact mode)
@dataclass(frozen=True, eq=False)
class ArrayChunks:
    """Chunks of arrays already in memory (the exact scikit-learn mode)."""

    X: np.ndarray
    y: np.ndarray
    chunk_rows: int

    @property
    def n_samples(self) -> int:
        return int(self.X.shape[0])

    @property
    def n_features(self) -> int:
        return int(self.X.shape[1])

    @property
    def n_chunks(self) -> int:
        return count_chunks(self.n_samples, self.chunk_rows)

    def chunk(self, i: int) -> tuple[np.ndarray, np.ndarray]:
        start, stop = chunk_bounds(self.n_samples, self.chunk_rows, i)
        return self.X[start:stop], self.y[start:stop]


# ------------------------------------------------------------------- text rendering
def points_csv_text(X: np.ndarray) -> str:
    """Rows as ``x,y`` lines (the write-up's ``data.csv``), no trailing newline.

    ``repr`` of a float is the shortest string that reads back to the same double,
    so the values round-trip exactly.
    """
    return "\n".join([",".join(map(repr, row)) for row in X.tolist()])


def labeled_text(X: np.ndarray, y: np.ndarray) -> str:
    """Rows as space-separated features then the integer label, no trailing newline.

    Byte for byte what ``np.savetxt(f, np.column_stack((X.astype(str), y.astype(str))),
    fmt="%s")`` writes: NumPy's ``str`` of a float64 is Python's shortest ``repr``.
    """
    rows = zip(X.tolist(), y.tolist(), strict=True)
    return "\n".join([" ".join(map(repr, row)) + f" {label}" for row, label in rows])


def render_text(kind: str, X: np.ndarray, y: np.ndarray) -> str:
    """A chunk in the write-up's format for ``kind``: blobs as :func:`points_csv_text`
    (features only), classification as :func:`labeled_text`."""
    return points_csv_text(X) if kind == "blobs" else labeled_text(X, y)


def label_sums(
    X: np.ndarray, y: np.ndarray, n_labels: int
) -> tuple[np.ndarray, np.ndarray]:
    """Rows per label (n_labels,) and per-label feature sums (n_labels, n_features)."""
    counts = np.bincount(y, minlength=n_labels).astype(np.int64)
    sums = np.empty((n_labels, X.shape[1]))
    for j in range(X.shape[1]):
        sums[:, j] = np.bincount(y, weights=X[:, j], minlength=n_labels)
    return counts, sums


def as_json_value(value: Any) -> Any:
    """NumPy arrays and scalars as plain lists/numbers for ``json.dumps`` (NaN/inf → None)."""
    if isinstance(value, (np.ndarray, np.generic)):
        return as_json_value(value.tolist())
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {k: as_json_value(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [as_json_value(v) for v in value]
    return value
