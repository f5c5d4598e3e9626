"""Sparse blocks meet the engine's checks: stored CSR files are opened through the
worker's checked maps (row counts, rebuild on a damaged file), ``dtype="float32"``
narrows the stored values and fits as float64 does to float32 rounding, predictions
check the width of sparse inputs on the driver, and sparse vectors whose indices break
the CSR form (unsorted, repeated, negative, beyond the size) are errors naming the row,
whether they come as a DataFrame column or an RDD. Small data, a few Spark jobs each."""

from __future__ import annotations

import os
import re
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import numpy as np
import pytest
import scipy.sparse as sp

from rddml import BlockDataset, KMeans, LogisticRegression
from rddml.engine import sparse, storage
from rddml.errors import DataValidationError


def text_like(seed: int, n: int = 600, d: int = 300) -> tuple[sp.csr_matrix, np.ndarray]:
    """Zipf columns (text-like), values in [0.5, 1.5), labels from a logistic model."""
    rng = np.random.default_rng(seed)
    cols = np.minimum(rng.zipf(1.3, size=(n, 10)) - 1, d - 1)
    X = sp.csr_matrix((rng.random(n * 10) + 0.5, (np.repeat(np.arange(n), 10), cols.ravel())),
                      shape=(n, d))
    X.sum_duplicates()
    z = X @ (rng.normal(size=d) * (rng.random(d) < 0.3)) - 0.2
    y = (rng.random(n) < 1.0 / (1.0 + np.exp(-z))).astype(np.float64)
    return X, y


@pytest.fixture(scope="module")
def data() -> tuple[sp.csr_matrix, np.ndarray]:
    return text_like(0)


# ------------------------------------------------------------------ stored CSR files
def _handle(directory: Path) -> Any:
    return SimpleNamespace(partition=0, directory=str(directory), host="here")


def test_stored_csr_blocks_open_through_checked_maps(tmp_path: Path,
                                                     data: tuple[sp.csr_matrix, Any]) -> None:
    X = sparse.canonical(data[0][:50])
    stem = str(tmp_path / "b000000")
    sparse.save_csr(stem, X)
    maps = storage.WorkerMaps(str(tmp_path))
    got = maps.open_csr(_handle(tmp_path), stem, 50, X.shape[1])
    assert sparse.is_sparse(got) and got.shape == X.shape
    np.testing.assert_array_equal(got.toarray(), X.toarray())
    # the arrays are the kept maps (the same pages, not a new mapping of the file)
    again = maps.open_csr(_handle(tmp_path), stem, 50, X.shape[1])
    for part in ("data", "indices", "indptr"):
        assert (getattr(again, part).__array_interface__["data"][0]
                == getattr(got, part).__array_interface__["data"][0])
    # a handle that says other row counts than the files hold (a fresh worker's maps)
    with pytest.raises(storage.MissingBlocks, match=re.escape("indptr.npy, expected 41")):
        storage.WorkerMaps(str(tmp_path)).open_csr(_handle(tmp_path), stem, 40, X.shape[1])
    # a values file with fewer entries than the row starts say is never read as data
    np.save(tmp_path / "short.npy", np.asarray(X.data[:-3]))
    os.replace(tmp_path / "short.npy", f"{stem}.data.npy")
    with pytest.raises(storage.MissingBlocks, match=re.escape(f"data.npy, expected {X.nnz}")):
        maps.open_csr(_handle(tmp_path), stem, 50, X.shape[1])


def test_a_damaged_csr_file_is_rebuilt_and_the_fit_is_unchanged(
        sc: Any, data: tuple[sp.csr_matrix, np.ndarray]) -> None:
    X, y = data
    with BlockDataset.from_numpy(sc, X, y, num_partitions=2, max_block_rows=200,
                                 storage="executor") as ds:
        assert ds.layout == "sparse"
        before = LogisticRegression(reg_param=0.01, tol=0.0, max_iter=5).fit(ds)
        handle = ds._storage.handles[1]
        path = os.path.join(handle.directory, "b000001.indices.npy")
        np.save(path + ".tmp.npy", np.load(path)[:-1])  # one index short
        os.replace(path + ".tmp.npy", path)
        after = LogisticRegression(reg_param=0.01, tol=0.0, max_iter=5).fit(ds)
        assert ds._storage.handles[1].directory != handle.directory  # a new build
    np.testing.assert_array_equal(after.coef_, before.coef_)


# ------------------------------------------------------------------ float32
def test_float32_narrows_sparse_values_and_fits_like_float64(
        sc: Any, data: tuple[sp.csr_matrix, np.ndarray]) -> None:
    X, y = data
    fits = {}
    held = {}
    for dtype in ("float64", "float32"):
        with BlockDataset.from_numpy(sc, X, y, num_partitions=2, storage="executor",
                                     dtype=dtype) as ds:
            held[dtype] = ds._storage.cached_bytes()[0]  # the block files
            fits[dtype] = (LogisticRegression(reg_param=0.01, tol=1e-10, max_iter=200).fit(ds),
                           KMeans(k=3, seed=1, tol=0.0, max_iter=5, distance="cosine").fit(ds))
            directory = ds._storage.handles[0].directory
            assert np.load(os.path.join(directory, "b000000.data.npy")).dtype == np.dtype(dtype)
            assert np.load(os.path.join(directory, "b000000.indices.npy")).dtype == np.int32
    # 4 bytes saved per stored value (12 -> 8 per non-zero; labels, row starts unchanged)
    assert held["float64"] - held["float32"] == 4 * X.nnz
    lr64, km64 = fits["float64"]
    lr32, km32 = fits["float32"]
    # float32 values differ from float64 ones by < 2^-24 relative: so do the optima
    np.testing.assert_allclose(lr32.coef_, lr64.coef_, atol=1e-5)
    np.testing.assert_allclose(km32.cluster_centers_, km64.cluster_centers_, atol=1e-5)


def test_a_sparse_value_beyond_float32_names_its_row_and_column(sc: Any) -> None:
    X = sp.csr_matrix(([1.0, 2.0, 1e300], ([0, 1, 2], [4, 2, 7])), shape=(3, 10))
    with pytest.raises(DataValidationError, match=r"row 2 of the partition, column 7: 1e\+300 "
                                                  r"does not fit float32"):
        BlockDataset.from_numpy(sc, X, num_partitions=1, dtype="float32")


# ------------------------------------------------------------------ predict widths
def test_predictions_check_the_width_of_sparse_inputs_on_the_driver(
        spark: Any, sc: Any, data: tuple[sp.csr_matrix, np.ndarray]) -> None:
    from pyspark.ml.linalg import Vectors

    X, y = data
    lr = LogisticRegression(reg_param=0.01, max_iter=20).fit(BlockDataset.from_numpy(sc, X, y))
    km = KMeans(k=2, seed=0, max_iter=3).fit(BlockDataset.from_numpy(sc, X))
    wide = X.shape[1] + 5
    df = spark.createDataFrame([(Vectors.sparse(wide, [1, 300], [1.0, 2.0]),)], ["features"])
    records = sc.parallelize([Vectors.sparse(wide, [3], [1.0])], 1)
    rows = sc.parallelize([sp.csr_matrix(([1.0], ([0], [3])), shape=(1, wide))], 1)
    for model in (lr, km):
        for what, bad in (("DataFrame", df), ("RDD", records), ("RDD", rows)):
            # raised by predict itself, before any action on the returned data
            with pytest.raises(DataValidationError, match=f"fitted on {X.shape[1]} features, "
                                                          f"but the {what} has {wide}"):
                model.predict(bad)


def test_scoring_records_with_bad_indices_names_the_element(
        sc: Any, data: tuple[sp.csr_matrix, np.ndarray]) -> None:
    from pyspark.mllib.linalg import Vectors

    X, y = data
    d = X.shape[1]
    lr = LogisticRegression(reg_param=0.01, max_iter=5).fit(BlockDataset.from_numpy(sc, X, y))
    bad = Vectors.sparse(d, [-1, 3], [5.0, 1.0])  # mllib's constructor lets -1 through
    for first in (Vectors.sparse(d, [3], [1.0]), [0.0] * d):  # scored sparse, then dense
        with pytest.raises(Exception, match="element 1 of partition 0 has the feature "
                                            f"index -1, outside 0 .. {d - 1}"):
            lr.predict_proba(sc.parallelize([first, bad], 1)).collect()


# ------------------------------------------------------------------ bad indices
def _broken(size: int, indices: list[int], values: list[float]) -> Any:
    """A SparseVector holding indices its checked constructor would refuse (as vectors
    written by other tools arrive from the JVM)."""
    from pyspark.ml.linalg import Vectors

    v = Vectors.sparse(size, list(range(len(indices))), values)
    v.indices = np.asarray(indices, dtype=np.int32)
    return v


BAD_INDICES = [
    ([4, 2], "has the feature index 2 after 4; the indices of a sparse vector must be "
             "strictly increasing"),
    ([3, 3], "repeats the feature index 3"),
    ([-1, 2], "has the feature index -1, outside 0 .. 9"),
    ([2, 10], "has the feature index 10, outside 0 .. 9"),
]


@pytest.mark.parametrize(("indices", "message"), BAD_INDICES)
def test_bad_indices_in_a_vector_column_name_the_row(spark: Any, indices: list[int],
                                                     message: str) -> None:
    from pyspark.ml.linalg import Vectors

    df = spark.createDataFrame([(Vectors.sparse(10, [1], [1.0]), 0.0),
                                (_broken(10, indices, [1.0, 2.0]), 1.0)],
                               ["features", "label"]).coalesce(1)
    with pytest.raises(DataValidationError, match=re.escape(f"row 1 of the partition {message}")):
        BlockDataset.from_dataframe(df, label_col="label", layout="sparse")


@pytest.mark.parametrize("layout", ["sparse", "dense"])
@pytest.mark.parametrize(("indices", "message"), BAD_INDICES[2:])
def test_bad_indices_in_rdd_records_name_the_element(sc: Any, indices: list[int],
                                                     message: str, layout: str) -> None:
    from pyspark.mllib.linalg import Vectors

    # Pickled vectors are rebuilt by their constructors, which refuse unsorted and repeated
    # indices (a TypeError of pyspark's); mllib's accepts negative and too large ones.
    rdd = sc.parallelize([(Vectors.sparse(10, [1], [1.0]), 0.0),
                          (Vectors.sparse(10, indices, [1.0, 2.0]), 1.0)], 1)
    # densified or not: a negative index never wraps to the end of the row
    with pytest.raises(DataValidationError, match=re.escape(f"element 1 of partition 0 {message}")):
        BlockDataset.from_rdd(rdd, labeled=True, layout=layout)


def test_nan_in_rdd_records_names_the_element(sc: Any) -> None:
    from pyspark.ml.linalg import Vectors

    rdd = sc.parallelize([(Vectors.sparse(10, [1], [1.0]), 0.0),
                          (Vectors.sparse(10, [2, 5], [1.0, float("nan")]), 1.0)], 1)
    with pytest.raises(DataValidationError, match="element 1 of partition 0 has a non-finite "
                                                  "value nan in feature 5"):
        LogisticRegression().fit(rdd)
