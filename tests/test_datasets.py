"""Spark tests of rddml.engine.sources.synthetic and jobs/generate_data.py.

References: scikit-learn's own generators (exact mode), the NumPy chunk generators
run on the driver, and the write-up's printed centres. Bad input must fail before
Spark is touched: those tests pass a stand-in session that fails on any use.
"""

from __future__ import annotations

import filecmp
import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from jobs.generate_data import Config, main
from sklearn.datasets import make_blobs as sk_make_blobs
from sklearn.datasets import make_classification as sk_make_classification

from rddml import KMeans
from rddml.engine.sources.synthetic import make_blobs, make_classification
from rddml.errors import ConfigError, InvalidParameterError, OutputExistsError
from rddml.io.config import load_config

ROOT = Path(__file__).resolve().parents[1]
SAMPLES = ROOT / "data" / "samples"
CONF = ROOT / "conf" / "jobs" / "generate_data.toml"
# The write-up's k-means data: per-label means as it prints them.
WRITEUP_MEANS = np.array([[8.57032532, -3.64137432], [-6.34270089, -5.91962725],
                          [1.3294662, 1.87901003], [9.31274039, 3.05338878],
                          [4.96798439, 3.09705577]])
BLOBS_SAMPLE = ["exact_sklearn=true", "single_file=true"]
CLASSIFICATION_SAMPLE = ["kind=classification", "seed=123", "exact_sklearn=true",
                         "single_file=true"]


class NoSpark:
    """A session stand-in that fails the test if anything touches it."""

    def __getattr__(self, name: str) -> Any:
        raise AssertionError(f"Spark was used (.{name}) before the input was validated")


def _rows(df: Any) -> tuple[np.ndarray, np.ndarray]:
    pdf = df.toPandas()
    return pdf.iloc[:, :-1].to_numpy(), pdf.iloc[:, -1].to_numpy()


def _block_rows(ds: Any) -> tuple[np.ndarray, np.ndarray]:
    blocks = sorted(ds.map_blocks(lambda b, _: (b.first_row, b.X, b.y), None).collect(),
                    key=lambda b: b[0])
    return np.concatenate([b[1] for b in blocks]), np.concatenate([b[2] for b in blocks])


def _job(spark: Any, overrides: list[str]) -> dict[str, Any]:
    return main(spark, load_config(Config, CONF, overrides))


# ------------------------------------------------------------------ library
def test_blobs_are_identical_for_one_and_seven_partitions(spark: Any) -> None:
    one = make_blobs(spark, 10_000, centers=4, seed=3, num_partitions=1, chunk_rows=1000)
    seven = make_blobs(spark, 10_000, centers=4, seed=3, num_partitions=7, chunk_rows=1000)
    X1, y1 = _rows(one.dataframe)
    X7, y7 = _rows(seven.dataframe)
    assert np.array_equal(X1, X7) and np.array_equal(y1, y7)
    assert seven.dataframe.rdd.getNumPartitions() == 7
    # and the rows are the NumPy generator's chunks, in order
    chunks = [one.source.chunk(i) for i in range(10)]
    assert np.array_equal(X1, np.concatenate([c[0] for c in chunks]))


def test_classification_is_identical_for_one_and_seven_partitions(spark: Any) -> None:
    kw = dict(n_features=5, n_informative=2, n_redundant=1, seed=9, chunk_rows=700)
    X1, y1 = _rows(make_classification(spark, 5000, num_partitions=1, **kw).dataframe)
    X7, y7 = _rows(make_classification(spark, 5000, num_partitions=7, **kw).dataframe)
    assert X1.shape == (5000, 5)
    assert np.array_equal(X1, X7) and np.array_equal(y1, y7)


def test_dataframe_has_a_double_column_per_feature_and_an_int_label(spark: Any) -> None:
    data = make_blobs(spark, 100, n_features=3, seed=1)
    assert [(f.name, f.dataType.simpleString()) for f in data.dataframe.schema.fields] == [
        ("x0", "double"), ("x1", "double"), ("x2", "double"), ("cluster", "int")]
    assert data.feature_cols == ("x0", "x1", "x2") and data.label_col == "cluster"
    assert data.centers is not None and data.centers.shape == (3, 3)


def test_block_dataset_is_built_from_chunks_without_rows(spark: Any) -> None:
    data = make_blobs(spark, 10_000, centers=4, seed=3, num_partitions=3, chunk_rows=1000)
    with data.to_block_dataset() as ds:
        assert (ds.n_rows, ds.n_features, ds.num_partitions) == (10_000, 2, 3)
        assert ds.labels == (0.0, 1.0, 2.0, 3.0)
        X, y = _block_rows(ds)
        # a task yields one chunk per block, so it never holds more than one chunk
        assert max(ds.map_blocks(lambda b, _: b.n_rows, None).collect()) == 1000
    X_df, y_df = _rows(data.dataframe)
    assert np.array_equal(X, X_df) and np.array_equal(y, y_df)


def test_label_means_do_not_depend_on_partitioning(spark: Any) -> None:
    kw = dict(centers=3, seed=8, chunk_rows=500)
    counts1, means1 = make_blobs(spark, 4000, num_partitions=1, **kw).label_means()
    counts5, means5 = make_blobs(spark, 4000, num_partitions=5, **kw).label_means()
    assert np.array_equal(counts1, [1334, 1333, 1333]) and np.array_equal(counts1, counts5)
    assert np.array_equal(means1, means5)  # bitwise: sums are added in chunk order
    X, y = _rows(make_blobs(spark, 4000, num_partitions=2, **kw).dataframe)
    np.testing.assert_allclose(means1, [X[y == g].mean(axis=0) for g in range(3)], rtol=1e-12)


def test_exact_blobs_are_scikit_learns_write_up_dataset(spark: Any) -> None:
    data = make_blobs(spark, 10_000, n_features=2, centers=5, seed=12345, exact_sklearn=True,
                      num_partitions=3)
    X_sk, y_sk, centres_sk = sk_make_blobs(n_samples=10_000, n_features=2, centers=5,
                                           random_state=12345, return_centers=True)
    X, y = _rows(data.dataframe)
    assert np.array_equal(X, X_sk) and np.array_equal(y, y_sk)
    assert np.array_equal(data.centers, centres_sk)
    counts, means = data.label_means()
    assert counts.tolist() == [2000] * 5
    np.testing.assert_allclose(means, WRITEUP_MEANS, atol=5e-9)  # printed to 8 decimals


def test_exact_classification_is_scikit_learns_write_up_dataset(spark: Any) -> None:
    data = make_classification(spark, 10_000, n_features=2, n_informative=2, n_redundant=0,
                               n_clusters_per_class=1, seed=123, exact_sklearn=True)
    X_sk, y_sk = sk_make_classification(n_samples=10_000, n_features=2, n_informative=2,
                                        n_redundant=0, n_clusters_per_class=1, random_state=123)
    with data.to_block_dataset() as ds:
        X, y = _block_rows(ds)
    assert np.array_equal(X, X_sk) and np.array_equal(y, y_sk)
    assert data.centers is not None
    assert set(np.abs(data.centers).ravel().tolist()) == {1.0}  # vertices at ±class_sep


def test_kmeans_fits_generated_blocks(spark: Any) -> None:
    data = make_blobs(spark, 20_000, centers=3, cluster_std=0.5, seed=21, chunk_rows=4096)
    with data.to_block_dataset(labels=False) as ds:
        model = KMeans(k=3, seed=0).fit(ds)
    fitted = model.cluster_centers_[np.argsort(model.cluster_centers_[:, 0])]
    true = data.centers[np.argsort(data.centers[:, 0])]  # type: ignore[index]
    # 6,667 points of std 0.5 per blob: the mean's standard error is 0.006
    np.testing.assert_allclose(fitted, true, atol=0.05)


@pytest.mark.parametrize("call,match", [
    (lambda s: make_blobs(s, 0), r"'n_samples' parameter must be an int >= 1, got 0"),
    (lambda s: make_blobs(s, 10, centers=0), r"'centers' parameter must be an int >= 1, got 0"),
    (lambda s: make_blobs(s, 10, cluster_std=-1.0), r"'cluster_std'"),
    (lambda s: make_blobs(s, 10, center_box=(1.0, -1.0)), r"'center_box'.*low <= high"),
    (lambda s: make_blobs(s, 10, num_partitions=0), r"'num_partitions'"),
    (lambda s: make_classification(s, 10, n_features=2, n_informative=2, n_redundant=1),
     r"'n_informative' \+ 'n_redundant' .* at most n_features=2, got 2 \+ 1 = 3"),
    (lambda s: make_classification(s, 10, n_informative=1, n_clusters_per_class=2),
     r"at most 2\*\*n_informative = 2"),
    (lambda s: make_classification(s, 10, flip_y=1.5), r"'flip_y'"),
    (lambda s: make_blobs(s, 5_000_001, exact_sklearn=True), r"limited to 5,000,000 rows"),
])
def test_bad_arguments_fail_before_spark_is_used(call: Any, match: str) -> None:
    with pytest.raises(InvalidParameterError, match=match):
        call(NoSpark())


# ---------------------------------------------------------------------- job
def test_job_regenerates_the_shipped_samples_byte_for_byte(tmp_path: Path, spark: Any) -> None:
    for overrides, name in ((BLOBS_SAMPLE, "blobs.csv"),
                            (CLASSIFICATION_SAMPLE, "classification.txt")):
        out = tmp_path / name
        _job(spark, [*overrides, f"output={out}"])
        for produced in (out, out.with_suffix(".json")):
            shipped = SAMPLES / produced.name
            assert filecmp.cmp(produced, shipped, shallow=False), f"{produced.name} differs"


def test_job_part_files_concatenate_to_the_single_file(tmp_path: Path, spark: Any) -> None:
    out = tmp_path / "parts"
    summary = _job(spark, ["exact_sklearn=true", "num_partitions=3", f"output={out}"])
    parts = sorted(out.glob("part-*"))
    assert len(parts) == 3
    assert b"".join(p.read_bytes() for p in parts) == (SAMPLES / "blobs.csv").read_bytes()
    np.testing.assert_allclose(summary["true_centers"], WRITEUP_MEANS, atol=5e-9)
    assert (tmp_path / "parts.json").is_file()


@pytest.mark.parametrize("fmt", ["csv", "parquet"])
def test_job_writes_inside_an_output_with_special_characters(tmp_path: Path, spark: Any,
                                                             fmt: str) -> None:
    # The bug: Path.as_uri() percent-encoded the path and Hadoop took it literally, so the
    # rows went to 'run%201...' outside the output while the job reported success.
    out = tmp_path / "run 1 %41 %zz #2 é漢"
    _job(spark, ["n_samples=500", "num_partitions=2", f"format={fmt}", f"output={out}"])
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted([out.name, out.name + ".json"])
    names = sorted(p.name for p in out.iterdir() if not p.name.startswith((".", "_")))
    assert len(names) == 2 and all(n.startswith("part-0000") for n in names)
    manifest = json.loads((out / "_rddml_manifest.json").read_text())
    assert manifest["job"] == "generate_data" and manifest["config"]["format"] == fmt
    if fmt == "parquet":
        assert spark.read.parquet(str(out)).count() == 500
    else:
        assert sum(len(p.read_text().splitlines()) for p in out.glob("part-*")) == 500


def test_job_single_file_streams_the_same_rows_as_part_files(tmp_path: Path, spark: Any) -> None:
    common = ["kind=classification", "n_samples=3000", "n_features=3", "seed=5",
              "chunk_rows=1000", "num_partitions=2"]
    _job(spark, [*common, f"output={tmp_path / 'one.txt'}", "single_file=true"])
    _job(spark, [*common, f"output={tmp_path / 'parts'}"])
    joined = b"".join(p.read_bytes() for p in sorted((tmp_path / "parts").glob("part-*")))
    assert (tmp_path / "one.txt").read_bytes() == joined
    assert joined.count(b"\n") == 3000


def test_job_writes_parquet_that_reads_back_as_the_dataframe(tmp_path: Path, spark: Any) -> None:
    out = tmp_path / "gen"
    overrides = ["kind=classification", "n_samples=3000", "n_features=4", "n_redundant=1",
                 "seed=4", "chunk_rows=1000", "format=parquet"]
    summary = _job(spark, [*overrides, f"output={out}"])
    back = spark.read.parquet(str(out)).toPandas().sort_values(["x0", "x1"])
    data = make_classification(spark, 3000, n_features=4, n_informative=2, n_redundant=1,
                               n_clusters_per_class=1, seed=4, chunk_rows=1000)
    expected = data.dataframe.toPandas().sort_values(["x0", "x1"])
    assert np.array_equal(back.to_numpy(), expected.to_numpy())
    assert sum(summary["label_counts"]) == 3000 and summary["parameters"]["chunk_rows"] == 1000


def test_job_refuses_an_existing_output_and_replaces_it_with_overwrite(
    tmp_path: Path, spark: Any
) -> None:
    out = tmp_path / "blobs.csv"
    out.write_text("old\n")
    with pytest.raises(OutputExistsError, match=r"already exists; pass --overwrite"):
        main(NoSpark(), load_config(Config, CONF, [*BLOBS_SAMPLE, f"output={out}"]))
    assert out.read_text() == "old\n"
    _job(spark, [*BLOBS_SAMPLE, f"output={out}", "overwrite=true"])
    assert out.read_bytes() == (SAMPLES / "blobs.csv").read_bytes()


def test_job_refuses_an_unwritable_output_before_spark(tmp_path: Path) -> None:
    # A regular file as the parent directory: unwritable even for root (chmod is not).
    (tmp_path / "file").write_text("")
    config = load_config(Config, CONF, [f"output={tmp_path / 'file' / 'blobs.csv'}"])
    with pytest.raises(OutputExistsError, match=r"Cannot create the parent directory"):
        main(NoSpark(), config)


def test_job_rejects_bad_settings_before_spark(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"key 'n_samples': expected an int >= 1, got 0"):
        load_config(Config, CONF, ["n_samples=0"])
    with pytest.raises(ConfigError, match=r"key 'centers': expected an int >= 1, got 0"):
        load_config(Config, CONF, ["centers=0"])
    with pytest.raises(ConfigError, match=r"reserved for the parameters file"):
        main(NoSpark(), load_config(Config, CONF, [f"output={tmp_path / 'x.json'}"]))
    bad = load_config(Config, CONF, ["kind=classification", "n_redundant=1",
                                     f"output={tmp_path / 'c'}"])
    with pytest.raises(InvalidParameterError, match=r"at most n_features=2, got 2 \+ 1 = 3"):
        main(NoSpark(), bad)
    assert not list(tmp_path.iterdir())  # nothing written


def test_benchmark_reports_speed_and_memory_on_a_tiny_size(tmp_path: Path, spark: Any) -> None:
    from jobs.benchmark_datagen import Config as BenchConfig
    from jobs.benchmark_datagen import main as bench_main

    config = load_config(BenchConfig, ROOT / "conf" / "jobs" / "benchmark_datagen.toml",
                         ["n_samples=3000", "sklearn_rows=1000", f"output_dir={tmp_path / 'b'}"])
    results = bench_main(spark, config)
    assert results["rddml"]["rows"] == 3000 and results["sklearn"]["rows"] == 1000
    peaks = results["rddml"]["rss_peak_mib"]
    assert peaks["driver_python"] > 0 and peaks["jvm"] > 0 and peaks["worker_max"] > 0
    assert (tmp_path / "b" / "results.json").is_file()
    assert not (tmp_path / "b" / "blobs").exists()  # data removed unless keep_data
