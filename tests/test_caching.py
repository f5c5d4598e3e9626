"""What the estimators cache: MEMORY_AND_DISK blocks, released when the fit ends, also on error.

Losing an executor (or memory pressure) must not mean re-reading and re-parsing the source
while other executors still hold their blocks: the cached level keeps a spilled copy on
disk. And a fit that caches its input must release it however it ends. The cache is
read from the JVM (``sc._jsc.getPersistentRDDs()``), not from rddml's own bookkeeping.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest

import rddml.cluster.kmeans as kmeans_module
from rddml import BlockDataset, KMeans
from rddml.engine.sources.text import read_labeled_text, read_points_csv
from rddml.errors import ConvergenceError, DataValidationError, InvalidParameterError
from rddml.linear.logistic import LogisticRegression


def persisted(sc: Any) -> dict[int, tuple[bool, bool, bool, int]]:
    """Each persisted RDD's (memory, disk, off-heap, replication), as the JVM sees it."""
    out = {}
    for rdd_id, jrdd in sc._jsc.getPersistentRDDs().items():
        level = jrdd.getStorageLevel()
        out[int(rdd_id)] = (bool(level.useMemory()), bool(level.useDisk()),
                            bool(level.useOffHeap()), int(level.replication()))
    return out


MEMORY_AND_DISK = (True, True, False, 1)
_rng = np.random.default_rng(0)
NOISE = [(x, float(lab)) for x, lab in zip((_rng.normal(size=(200, 2)) * 10).tolist(),
                                           _rng.integers(0, 2, 200).tolist())]


def test_every_way_of_building_blocks_caches_memory_and_disk(spark: Any, sc: Any,
                                                            tmp_path: Path) -> None:
    csv = tmp_path / "points.csv"
    csv.write_text("0,1\n2,3\n4,5\n")
    txt = tmp_path / "labelled.txt"
    txt.write_text("0 1 0\n2 3 1\n")
    before = persisted(sc)
    datasets = [
        BlockDataset.from_rdd(sc.parallelize([[0.0, 1.0], [2.0, 3.0]], 2)),
        BlockDataset.from_numpy(sc, np.arange(6.0).reshape(3, 2), num_partitions=2),
        BlockDataset.from_dataframe(spark.createDataFrame([(0.0, 1.0), (2.0, 3.0)], ["a", "b"]),
                                    feature_cols=["a", "b"]),
        read_points_csv(sc, str(csv)),
        read_labeled_text(sc, str(txt)),
        read_points_csv(sc, str(csv), on_bad_rows="skip"),  # cached under a filter
    ]
    try:
        new = {k: v for k, v in persisted(sc).items() if k not in before}
        assert len(new) == len(datasets)
        assert set(new.values()) == {MEMORY_AND_DISK}
    finally:
        for ds in datasets:
            ds.unpersist()
    assert persisted(sc) == before


def test_kmeans_works_on_memory_and_disk_blocks_and_releases_them(
    sc: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    seen: list[dict[int, Any]] = []
    real_pass = kmeans_module.lloyd_pass

    def spy(*args: Any, **kwargs: Any) -> Any:
        seen.append(persisted(sc))
        return real_pass(*args, **kwargs)

    monkeypatch.setattr(kmeans_module, "lloyd_pass", spy)
    before = persisted(sc)
    rdd = sc.parallelize([[0.0, 1.0], [0.5, 1.0], [5.0, 5.0], [5.5, 5.0]], 2)
    KMeans(k=2, seed=0, max_iter=3, distance="cosine").fit(rdd)
    # During the fit: the input blocks only, MEMORY_AND_DISK. Cosine distance reads them
    # through a view that normalises each block as it is read: no second cached copy.
    during = {k: v for k, v in seen[0].items() if k not in before}
    assert len(during) == 1 and set(during.values()) == {MEMORY_AND_DISK}
    assert persisted(sc) == before


@pytest.mark.parametrize(
    ("params", "rows", "error", "match"),
    [
        # Raised in the first Lloyd iteration, after the input was cached.
        ({"k": 2, "init": [[0.0, 0.0], [100.0, 100.0]], "empty_cluster": "error"},
         [[0.0, 0.0], [1.0, 1.0], [2.0, 2.0]], DataValidationError, "empty cluster"),
        # Raised by the initialisation (a pass over the cached data).
        ({"k": 3, "init": "k-means||", "seed": 0}, [[0.0, 0.0]] * 4 + [[1.0, 1.0]] * 4,
         InvalidParameterError, "distinct points"),
        # Raised while caching the cosine-normalised copy (the input is already cached).
        ({"k": 1, "distance": "cosine"}, [[1.0, 1.0], [0.0, 0.0]], DataValidationError,
         "all zeros"),
    ],
    ids=["empty-cluster", "k-too-large", "cosine-zero-row"],
)
def test_kmeans_releases_its_cache_when_the_fit_fails(
    sc: Any, params: dict[str, Any], rows: list[Any], error: type, match: str
) -> None:
    before = persisted(sc)
    with pytest.raises(error, match=match):
        KMeans(max_iter=5, **params).fit(sc.parallelize(rows, 2))
    assert persisted(sc) == before


def test_kmeans_leaves_a_dataset_the_caller_cached_alone(sc: Any) -> None:
    with BlockDataset.from_rdd(sc.parallelize([[0.0], [1.0], [9.0]], 2)) as ds:
        before = persisted(sc)
        with pytest.raises(InvalidParameterError):
            KMeans(k=4).fit(ds)
        KMeans(k=2, seed=0, max_iter=2).fit(ds)
        assert persisted(sc) == before  # the caller's blocks are still cached


@pytest.mark.parametrize(
    ("params", "rows", "error", "match"),
    [
        ({}, [([0.0], 1.0), ([1.0], 1.0)], DataValidationError, "single class"),
        # Overlapping classes on a large scale: a huge step makes gd oscillate upwards.
        ({"optimizer": "gd", "step_size": 50.0, "standardize": False, "max_iter": 100,
          "tol": 0.0}, NOISE, ConvergenceError, "diverged"),
    ],
    ids=["single-class", "diverging-gd"],
)
def test_logistic_releases_its_cache_when_the_fit_fails(
    sc: Any, params: dict[str, Any], rows: list[Any], error: type, match: str
) -> None:
    before = persisted(sc)
    with pytest.raises(error, match=match):
        LogisticRegression(**params).fit(sc.parallelize(rows, 2))
    assert persisted(sc) == before
    LogisticRegression(max_iter=3).fit(sc.parallelize([([0.0], 0.0), ([1.0], 1.0)], 2))
    assert persisted(sc) == before
