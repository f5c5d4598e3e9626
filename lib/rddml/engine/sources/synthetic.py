"""Synthetic datasets generated on the executors: ``make_blobs`` and ``make_classification``.

Each task makes its own rows, a fixed-size chunk at a time (see
:mod:`rddml.data.synthetic` for the seeding), so the driver never holds the data, a
task holds one chunk at a time, and the same ``seed`` gives the same rows for
any ``num_partitions``. The result is a :class:`SyntheticData`: a lazy DataFrame
with one double column per feature (``x0``, ``x1``, ...) and an int label
column (``cluster`` for blobs, ``label`` for classification), the generating
parameters as NumPy arrays, and :meth:`SyntheticData.to_block_dataset`, which
builds blocks straight from the chunks (no rows, no Arrow round trip).

``exact_sklearn=True`` instead runs scikit-learn on the driver (up to
:data:`~rddml.data.synthetic_exact.EXACT_MAX_ROWS` rows) and distributes its output,
to reproduce the write-up's datasets bit for bit.

Every argument is validated before Spark is touched.

Examples
--------
>>> data = make_blobs(spark, 100_000, centers=5, seed=1)  # doctest: +SKIP
>>> data.dataframe.columns  # doctest: +SKIP
['x0', 'x1', 'cluster']
>>> with data.to_block_dataset() as ds:  # doctest: +SKIP
...     model = KMeans(k=5).fit(ds)
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from functools import partial
from typing import TYPE_CHECKING, Any

import numpy as np

from rddml.data import synthetic, synthetic_exact
from rddml.data.synthetic_params import (
    check_center_box,
    check_centers,
    check_classification_params,
    check_cluster_std,
    check_common_params,
)
from rddml.engine.blocks import BlockDataset
from rddml.engine.records import Block
from rddml.params import check_int

if TYPE_CHECKING:
    from pyspark import RDD
    from pyspark.sql import DataFrame

_LABEL_COL = {"blobs": "cluster", "classification": "label"}


@dataclass(frozen=True, eq=False)
class SyntheticData:
    """A generated dataset: lazy DataFrame, generating parameters, block access.

    Attributes
    ----------
    dataframe : DataFrame with double columns ``feature_cols`` and int ``label_col``;
        lazy, regenerated (identically) by every action, so cache it to reuse it.
    kind : "blobs" or "classification"
    feature_cols : tuple of str, ``("x0", ..., "x{d-1}")``
    label_col : "cluster" (blobs: the generating centre) or "label" (classification)
    centers : ndarray (n_groups, n_features) or None. Blobs: the generating centres.
        Classification: the expected mean of each generating cluster (None when the
        exact mode could not recover scikit-learn's parameters).
    generating : dict of ndarray, every generating parameter (e.g. ``cluster_std``;
        ``centroids``, ``transforms``, ``redundant``, ``feature_order``, ``cluster_class``)
    parameters : dict, the arguments, the seed actually used and ``chunk_rows``
    num_partitions : int
    """

    dataframe: DataFrame
    kind: str
    feature_cols: tuple[str, ...]
    label_col: str
    centers: np.ndarray | None
    generating: dict[str, np.ndarray]
    parameters: dict[str, Any]
    num_partitions: int
    source: synthetic.ChunkSource = field(repr=False)
    spark: Any = field(repr=False)

    @property
    def n_samples(self) -> int:
        return int(self.source.n_samples)

    @property
    def n_features(self) -> int:
        return int(self.source.n_features)

    @property
    def n_labels(self) -> int:
        p = self.parameters
        return int(p["n_classes"]) if self.kind == "classification" else int(p["n_centers"])

    def _chunk_rdd(self, task: Any) -> RDD[Any]:
        sc = self.spark.sparkContext
        parts = self.num_partitions
        rdd: RDD[Any] = sc.parallelize(range(parts), parts).mapPartitionsWithIndex(
            partial(task, source=self.source, num_partitions=parts)
        )
        return rdd

    def to_block_dataset(self, *, labels: bool = True, storage: str = "auto") -> BlockDataset:
        """The data as a persisted :class:`BlockDataset`, one block per chunk.

        With ``labels=True`` the blocks carry ``label_col`` as ``y`` (k-means ignores it).
        """
        rdd = self._chunk_rdd(partial(_block_task, labels=labels))
        return BlockDataset.from_blocks(rdd, source=f"synthetic {self.kind} data",
                                        storage=storage)

    def text_rdd(self) -> RDD[str]:
        """One string per chunk in the write-up's text format (see :meth:`render_text`),
        lines joined by newlines; ``saveAsTextFile`` adds the last newline."""
        return self._chunk_rdd(partial(_text_task, kind=self.kind))

    def render_text(self, X: np.ndarray, y: np.ndarray) -> str:
        """Blobs: ``x,y`` lines (features only); classification: space-separated
        features then the label, as ``np.savetxt(..., fmt="%s")`` writes them."""
        return synthetic.render_text(self.kind, X, y)

    def iter_chunks(self) -> Iterator[tuple[np.ndarray, np.ndarray]]:
        """The chunks, in order, on the driver, one at a time (for single-file output)."""
        if isinstance(self.source, synthetic.ArrayChunks):
            for i in range(self.source.n_chunks):
                yield self.source.chunk(i)
            return
        n = self.source.n_chunks
        # One chunk per partition, so the driver never receives more than one chunk.
        rdd = self.spark.sparkContext.parallelize(range(n), n).map(self.source.chunk)
        yield from rdd.toLocalIterator()

    def label_means(self) -> tuple[np.ndarray, np.ndarray]:
        """Rows per label (n_labels,) and per-label feature means (n_labels, n_features).

        In-memory (exact) data uses ``X[y == g].mean(axis=0)`` like the write-up; otherwise
        one Spark pass returns per-chunk sums, added on the driver in chunk order so the
        result is the same for any ``num_partitions``. Empty labels have NaN means.
        """
        n_labels = self.n_labels
        if isinstance(self.source, synthetic.ArrayChunks):
            X, y = self.source.X, self.source.y
            counts = np.bincount(y, minlength=n_labels).astype(np.int64)
            means = np.full((n_labels, X.shape[1]), np.nan)
            for g in np.flatnonzero(counts):
                means[g] = X[y == g].mean(axis=0)
            return counts, means
        parts = self._chunk_rdd(partial(_label_sums_task, n_labels=n_labels)).collect()
        counts = np.zeros(n_labels, dtype=np.int64)
        sums = np.zeros((n_labels, self.n_features))
        for _, c, s in sorted(parts, key=lambda part: part[0]):
            counts += c
            sums += s
        with np.errstate(invalid="ignore", divide="ignore"):
            return counts, sums / counts[:, None]


# ---------------------------------------------------------------- executor tasks
def _block_task(
    partition: int, _: Any, *, source: synthetic.ChunkSource, num_partitions: int, labels: bool
) -> Iterator[Block]:
    start = 0
    for i in synthetic.partition_chunks(source.n_chunks, num_partitions, partition):
        X, y = source.chunk(i)
        yield Block(partition, start, X, y.astype(np.float64) if labels else None, None)
        start += X.shape[0]


def _text_task(
    partition: int, _: Any, *, source: synthetic.ChunkSource, num_partitions: int, kind: str
) -> Iterator[str]:
    for i in synthetic.partition_chunks(source.n_chunks, num_partitions, partition):
        yield synthetic.render_text(kind, *source.chunk(i))


def _label_sums_task(
    partition: int, _: Any, *, source: synthetic.ChunkSource, num_partitions: int, n_labels: int
) -> Iterator[tuple[int, np.ndarray, np.ndarray]]:
    for i in synthetic.partition_chunks(source.n_chunks, num_partitions, partition):
        X, y = source.chunk(i)
        yield (i, *synthetic.label_sums(X, y, n_labels))


def chunk_record_batch(X: np.ndarray, y: np.ndarray, names: tuple[str, ...]) -> Any:
    """One chunk as an Arrow record batch: a float64 column per feature, int32 label."""
    import pyarrow as pa

    columns = [pa.array(col) for col in np.ascontiguousarray(X.T)]
    columns.append(pa.array(y.astype(np.int32)))
    return pa.RecordBatch.from_arrays(columns, names=list(names))


def _arrow_task(
    batches: Iterator[Any], *, source: synthetic.ChunkSource, num_partitions: int,
    names: tuple[str, ...],
) -> Iterator[Any]:
    # The input rows are partition numbers (spark.range), so which chunks a task makes
    # is decided by the data, not by where Spark happens to run it.
    for batch in batches:
        for partition in batch.column(0).to_pylist():
            for i in synthetic.partition_chunks(source.n_chunks, num_partitions, partition):
                yield chunk_record_batch(*source.chunk(i), names)


def _dataframe(spark: Any, source: synthetic.ChunkSource, num_partitions: int,
               names: tuple[str, ...]) -> DataFrame:
    schema = ", ".join([f"{n} double" for n in names[:-1]] + [f"{names[-1]} int"])
    task = partial(_arrow_task, source=source, num_partitions=num_partitions, names=names)
    df: DataFrame = spark.range(0, num_partitions, 1, num_partitions).mapInArrow(task, schema)
    return df


def _entropy(seed: int | None) -> int:
    """The root seed: ``seed`` itself, or fresh OS entropy recorded in ``parameters``."""
    return int(np.random.SeedSequence().entropy) if seed is None else seed  # type: ignore[arg-type]


def _partitions(spark: Any, requested: int | None, n_chunks: int) -> int:
    if requested is not None:
        return requested
    # ~16 chunks (1M rows of 2-D data) per partition, at least one per core.
    parallelism = int(spark.sparkContext.defaultParallelism)
    return max(1, min(n_chunks, max(parallelism, -(-n_chunks // 16))))


def _result(spark: Any, kind: str, source: synthetic.ChunkSource, num_partitions: int | None,
            centers: np.ndarray | None, generating: dict[str, np.ndarray],
            parameters: dict[str, Any]) -> SyntheticData:
    parts = _partitions(spark, num_partitions, source.n_chunks)
    features = tuple(f"x{j}" for j in range(source.n_features))
    names = (*features, _LABEL_COL[kind])
    return SyntheticData(
        dataframe=_dataframe(spark, source, parts, names), kind=kind, feature_cols=features,
        label_col=_LABEL_COL[kind], centers=centers, generating=generating,
        parameters=parameters, num_partitions=parts, source=source, spark=spark,
    )


# ------------------------------------------------------------------------ generators
def make_blobs(
    spark: Any,
    n_samples: int,
    n_features: int = 2,
    centers: int | Any = 3,
    cluster_std: float | Any = 1.0,
    center_box: Sequence[float] = (-10.0, 10.0),
    num_partitions: int | None = None,
    seed: int | None = None,
    exact_sklearn: bool = False,
    *,
    chunk_rows: int | None = None,
) -> SyntheticData:
    """Isotropic Gaussian blobs, generated on the executors (scikit-learn's ``make_blobs``).

    Parameters
    ----------
    spark : SparkSession
    n_samples : int >= 1, split as evenly as possible between the centres (the first
        ``n_samples % n_centers`` centres get one more row), as in scikit-learn.
    n_features : int >= 1, ignored when ``centers`` is an array (its width is used).
    centers : int >= 1 (drawn uniformly in ``center_box``) or array (n_centers, n_features).
    cluster_std : float >= 0, or one per centre.
    center_box : (low, high), the box random centres are drawn from.
    num_partitions : int >= 1 or None (about 16 chunks per partition, at least
        ``defaultParallelism``). Does not change the data.
    seed : int >= 0 or None (fresh entropy, recorded in ``parameters["entropy"]``).
    exact_sklearn : bool. True: scikit-learn's exact output for ``random_state=seed``,
        made on the driver (at most 5,000,000 rows) and then distributed.
    chunk_rows : int >= 1 or None (2**16 rows, fewer for wide data). Part of the data's
        identity: the same seed with another ``chunk_rows`` gives other rows.

    Returns
    -------
    SyntheticData with label column ``cluster`` and ``centers`` the generating centres.

    Examples
    --------
    >>> data = make_blobs(spark, 10_000, centers=5, seed=12345,  # doctest: +SKIP
    ...                   exact_sklearn=True)
    >>> data.label_means()[1][0]  # doctest: +SKIP
    array([ 8.57032532, -3.64137432])
    """
    n, parts, seed, exact, rows = check_common_params(
        n_samples, num_partitions, seed, exact_sklearn, chunk_rows
    )
    d = check_int("n_features", n_features, low=1)
    cen = check_centers(centers)
    k = cen if isinstance(cen, int) else int(cen.shape[0])
    d = d if isinstance(cen, int) else int(cen.shape[1])
    std = check_cluster_std(cluster_std, k)
    box = check_center_box(center_box)
    rows = rows or synthetic.default_chunk_rows(d)
    parameters: dict[str, Any] = {
        "n_samples": n, "n_features": d, "n_centers": k,
        "centers": cen if isinstance(cen, int) else cen.tolist(),
        "cluster_std": std if isinstance(std, float) else std.tolist(),
        "center_box": list(box), "seed": seed, "exact_sklearn": exact,
    }
    asked = synthetic.BlobsParams(n_samples=n, n_features=d, centers=cen, cluster_std=std,
                                  center_box=box)
    source: synthetic.ChunkSource
    if exact:
        state = int(np.random.SeedSequence().generate_state(1)[0]) if seed is None else seed
        X, y, found = synthetic_exact.sklearn_blobs(asked, seed=state)
        source = synthetic.ArrayChunks(X, y, rows)
        parameters["random_state"] = state
        centres, stds = found["centers"], found["cluster_std"]
    else:
        entropy = _entropy(seed)
        spec = synthetic.blobs_spec(asked, entropy=entropy, chunk_rows=rows)
        source = spec
        parameters.update(entropy=entropy, chunk_rows=rows)
        centres, stds = spec.centers, spec.cluster_std
    return _result(spark, "blobs", source, parts, centres,
                   {"centers": centres, "cluster_std": stds}, parameters)


def make_classification(
    spark: Any,
    n_samples: int,
    n_features: int = 20,
    n_informative: int = 2,
    n_redundant: int = 2,
    n_clusters_per_class: int = 2,
    class_sep: float = 1.0,
    flip_y: float = 0.01,
    num_partitions: int | None = None,
    seed: int | None = None,
    exact_sklearn: bool = False,
    *,
    n_classes: int = 2,
    chunk_rows: int | None = None,
) -> SyntheticData:
    """A random classification problem, generated on the executors (scikit-learn's
    ``make_classification`` with ``n_repeated=0``, ``hypercube=True``, no shift/scale).

    Gaussian clusters (covariance ``A.T @ A``, ``A`` uniform in [-1, 1]) sit on distinct
    vertices of a hypercube of side ``2 * class_sep`` in ``n_informative`` dimensions;
    ``n_clusters_per_class`` clusters per class; ``n_redundant`` random linear
    combinations of the informative features; N(0, 1) noise for the rest; the
    columns are randomly reordered; a ``flip_y`` fraction of labels is redrawn.

    Parameters
    ----------
    spark : SparkSession
    n_samples, n_features, n_informative : int >= 1
    n_redundant : int >= 0, with ``n_informative + n_redundant <= n_features``
    n_clusters_per_class : int >= 1, ``n_classes * n_clusters_per_class <= 2**n_informative``
    class_sep : float > 0
    flip_y : float in [0, 1]
    num_partitions, seed, exact_sklearn, chunk_rows : as in :func:`make_blobs`
    n_classes : int >= 1

    Returns
    -------
    SyntheticData with label column ``label``; ``centers`` is the expected mean of each
    generating cluster (cluster ``c`` belongs to class ``c % n_classes``).

    Examples
    --------
    >>> data = make_classification(spark, 10_000, n_features=2, n_redundant=0,  # doctest: +SKIP
    ...                            n_clusters_per_class=1, seed=123, exact_sklearn=True)
    """
    n, parts, seed, exact, rows = check_common_params(
        n_samples, num_partitions, seed, exact_sklearn, chunk_rows
    )
    d, n_inf, n_red, classes, per_class, sep, flip = check_classification_params(
        n_features, n_informative, n_redundant, n_classes, n_clusters_per_class, class_sep,
        flip_y,
    )
    n_clusters = classes * per_class
    rows = rows or synthetic.default_chunk_rows(d)
    asked = synthetic.ClassificationParams(
        n_samples=n, n_features=d, n_informative=n_inf, n_redundant=n_red, n_classes=classes,
        n_clusters_per_class=per_class, class_sep=sep, flip_y=flip,
    )
    parameters: dict[str, Any] = {**vars(asked), "seed": seed, "exact_sklearn": exact}
    source: synthetic.ChunkSource
    found: dict[str, np.ndarray] | None
    if exact:
        state = int(np.random.SeedSequence().generate_state(1)[0]) if seed is None else seed
        X, y, found = synthetic_exact.sklearn_classification(asked, seed=state)
        source = synthetic.ArrayChunks(X, y, rows)
        parameters["random_state"] = state
    else:
        entropy = _entropy(seed)
        spec = synthetic.classification_spec(asked, entropy=entropy, chunk_rows=rows)
        source = spec
        parameters.update(entropy=entropy, chunk_rows=rows)
        found = {"centroids": spec.centroids, "transforms": spec.transforms,
                 "redundant": spec.redundant, "feature_order": spec.feature_order}
    centres = None
    generating: dict[str, np.ndarray] = {}
    if found is not None:
        centres = synthetic.cluster_centers(found["centroids"], found["redundant"],
                                            found["feature_order"], d)
        generating = {**found, "cluster_class": np.arange(n_clusters) % classes,
                      "cluster_centers": centres}
    return _result(spark, "classification", source, parts, centres, generating, parameters)

