"""Which files an input path reads: nested directories (refused unless recursive),
hidden names, literal paths with pattern characters, ``glob:`` patterns, ``~``; for
the text readers, Parquet and the jobs. Every file is written under ``tmp_path``."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from rddml import read_labeled_text, read_parquet, read_points_csv
from rddml.engine.sampling import sample_rows
from rddml.engine.sources import text
from rddml.engine.sources.text import read_text_blocks
from rddml.errors import ConfigError, DataValidationError

ROOT = Path(__file__).resolve().parents[1]
RNG = np.random.default_rng(5)
TOP = RNG.normal(size=(900, 2))
NESTED = RNG.normal(loc=5.0, size=(900, 2))


def write_csv(path: Path, X: np.ndarray) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    np.savetxt(path, X, delimiter=",", fmt="%.17g")
    return path


def all_rows(ds: Any) -> np.ndarray:
    X, _ = sample_rows(ds, ds.n_rows + 1)
    return X


@pytest.fixture
def nested_csv(tmp_path: Path) -> Path:
    """The issue's layout: 900 rows at the top, 900 in a sub-directory."""
    data = tmp_path / "data"
    write_csv(data / "a.csv", TOP)
    write_csv(data / "sub" / "b.csv", NESTED)
    return data


def test_a_nested_directory_is_refused_naming_it(sc: Any, nested_csv: Path) -> None:
    # The bug: 900 of the 1800 rows were read, without a word.
    with pytest.raises(DataValidationError, match=rf"Input path '{nested_csv}' has 1 "
                                                  rf"sub-directory with data files, which are "
                                                  rf"read only when asked: {nested_csv}/sub/ "
                                                  r"\(1 file\)\. Pass recursive=True"):
        read_points_csv(sc, str(nested_csv))


@pytest.mark.parametrize("reader", ["auto", "hadoop"])
def test_recursive_reads_every_file_in_path_order(sc: Any, nested_csv: Path,
                                                   reader: str) -> None:
    write_csv(nested_csv / "sub" / "deeper" / "c.csv", TOP[:10])
    with read_text_blocks(sc, str(nested_csv), sep=",", labeled=False, reader=reader,
                          recursive=True) as ds:
        np.testing.assert_array_equal(all_rows(ds), np.concatenate([TOP, NESTED, TOP[:10]]))


def test_hidden_and_empty_sub_directories_are_not_data(sc: Any, nested_csv: Path) -> None:
    (nested_csv / "sub" / "b.csv").unlink()            # an empty directory: nothing left out
    write_csv(nested_csv / "_temporary" / "0" / "part-00000", NESTED)
    write_csv(nested_csv / ".ipynb_checkpoints" / "a-checkpoint.csv", NESTED)
    (nested_csv / "_SUCCESS").write_text("")
    with read_points_csv(sc, str(nested_csv)) as ds:
        np.testing.assert_array_equal(all_rows(ds), TOP)
    # recursive skips hidden names at every level too
    write_csv(nested_csv / "sub" / "_hidden" / "x.csv", NESTED)
    with read_text_blocks(sc, str(nested_csv), sep=",", labeled=False, recursive=True) as ds:
        np.testing.assert_array_equal(all_rows(ds), TOP)


def test_many_nested_directories_are_counted(sc: Any, tmp_path: Path) -> None:
    write_csv(tmp_path / "d" / "a.csv", TOP[:5])
    for i in range(12):
        write_csv(tmp_path / "d" / f"s{i:02d}" / "x.csv", TOP[:5])
    with pytest.raises(DataValidationError, match=r"has 12 sub-directories with data files.*"
                                                  r"s09/ \(1 file\); and 2 more\. Pass"):
        read_points_csv(sc, str(tmp_path / "d"))


@pytest.mark.parametrize("reader", ["auto", "hadoop"])
def test_a_path_with_pattern_characters_is_that_file(sc: Any, tmp_path: Path,
                                                     reader: str) -> None:
    # The bug: data[1].csv was read as a pattern: it matched data1.csv, or nothing.
    write_csv(tmp_path / "data[1].csv", TOP[:20])
    write_csv(tmp_path / "data1.csv", NESTED[:30])
    with read_text_blocks(sc, str(tmp_path / "data[1].csv"), sep=",", labeled=False,
                          reader=reader) as ds:
        np.testing.assert_array_equal(all_rows(ds), TOP[:20])
    (tmp_path / "data[1].csv").unlink()
    with pytest.raises(DataValidationError, match=r"data\[1\]\.csv' does not exist\. \(The path "
                                                  r"is taken literally; for a pattern write "
                                                  r"'glob:.*data\[1\]\.csv'\.\)"):
        read_points_csv(sc, str(tmp_path / "data[1].csv"))


def test_a_glob_prefix_reads_a_pattern(sc: Any, tmp_path: Path) -> None:
    write_csv(tmp_path / "d" / "part-0.csv", TOP[:10])
    write_csv(tmp_path / "d" / "part-1.csv", TOP[10:30])
    write_csv(tmp_path / "d" / "other.csv", NESTED[:5])
    with read_points_csv(sc, f"glob:{tmp_path}/d/part-*.csv") as ds:
        np.testing.assert_array_equal(all_rows(ds), TOP[:30])
    with read_points_csv(sc, f"glob:{tmp_path}/d/part-[1].csv") as ds:
        np.testing.assert_array_equal(all_rows(ds), TOP[10:30])
    with pytest.raises(DataValidationError, match=r"Input pattern 'glob:.*/d/nothing-\*' "
                                                  r"matches no file or directory\."):
        read_points_csv(sc, f"glob:{tmp_path}/d/nothing-*")
    # Without the prefix, * is a character of the name.
    with pytest.raises(DataValidationError, match=r"part-\*\.csv' does not exist"):
        read_points_csv(sc, f"{tmp_path}/d/part-*.csv")


def test_a_tilde_input_is_read_from_the_home_directory(sc: Any, tmp_path: Path,
                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HOME", str(tmp_path))
    np.savetxt(tmp_path / "rows.txt", np.column_stack([TOP[:50], np.arange(50) % 2]))
    with read_labeled_text(sc, "~/rows.txt") as ds:
        assert ds.n_rows == 50


# ------------------------------------------------------------------- Parquet
def write_parquet(path: Path, X: np.ndarray) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    pq.write_table(pa.table({"a": X[:, 0], "b": X[:, 1]}), path)


def test_parquet_in_a_nested_directory_is_refused_or_read_recursively(
        spark: Any, tmp_path: Path) -> None:
    write_parquet(tmp_path / "p" / "a.parquet", TOP)
    write_parquet(tmp_path / "p" / "sub" / "b.parquet", NESTED)
    # spark.read.parquet itself reads 900 of the 1800 rows here.
    assert spark.read.parquet(str(tmp_path / "p")).count() == 900
    with pytest.raises(DataValidationError, match=r"Spark's Parquet reader would leave out 1 "
                                                  r"file\(s\) in sub-directories that are not "
                                                  r"key=value partitions: .*/p/sub/ \(1 file\)"):
        read_parquet(spark, str(tmp_path / "p"), feature_cols=["a", "b"])
    with read_parquet(spark, str(tmp_path / "p"), feature_cols=["a", "b"],
                      recursive=True) as ds:
        np.testing.assert_array_equal(all_rows(ds), np.concatenate([TOP, NESTED]))


def test_parquet_partition_directories_are_read(spark: Any, tmp_path: Path) -> None:
    write_parquet(tmp_path / "p" / "year=2020" / "a.parquet", TOP)
    write_parquet(tmp_path / "p" / "year=2021" / "b.parquet", NESTED)
    with read_parquet(spark, str(tmp_path / "p"), feature_cols=["a", "b"]) as ds:
        assert ds.n_rows == 1800
        np.testing.assert_allclose(all_rows(ds).mean(axis=0),
                                   np.concatenate([TOP, NESTED]).mean(axis=0), rtol=1e-12)


def test_parquet_paths_are_literal_unless_a_glob(spark: Any, tmp_path: Path) -> None:
    write_parquet(tmp_path / "d[1]" / "a.parquet", TOP[:40])
    write_parquet(tmp_path / "d1" / "a.parquet", NESTED[:10])
    with read_parquet(spark, str(tmp_path / "d[1]"), feature_cols=["a", "b"]) as ds:
        np.testing.assert_array_equal(all_rows(ds), TOP[:40])
    with read_parquet(spark, f"glob:{tmp_path}/d1*", feature_cols=["a", "b"]) as ds:
        np.testing.assert_array_equal(all_rows(ds), NESTED[:10])


# ---------------------------------------------------------------------- jobs
def job_config(module: Any, name: str, *sets: str) -> Any:
    from rddml.io.config import load_config

    return load_config(module.Config, ROOT / "conf/jobs" / f"{name}.toml", list(sets))


def test_the_kmeans_job_refuses_a_nested_input_and_reads_it_with_recursive(
        spark: Any, nested_csv: Path, tmp_path: Path) -> None:
    from jobs import kmeans as job

    out = tmp_path / "out"
    config = job_config(job, "kmeans", f"input={nested_csv}", f"output_dir={out}", "k=2")
    with pytest.raises(DataValidationError, match=r"sub-directory with data files"):
        job.main(spark, config)
    assert not out.exists()
    summary = job.main(spark, job_config(job, "kmeans", f"input={nested_csv}",
                                         f"output_dir={out}", "k=2", "recursive=true"))
    assert summary["n_rows"] == 1800
    assert json.loads((out / "summary.json").read_text())["config"]["recursive"] is True


def test_true_centers_of_another_width_stop_the_job_before_the_conversion(
        spark: Any, nested_csv: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from jobs import kmeans as job

    def no_conversion(*args: Any, **kwargs: Any) -> Any:
        raise AssertionError("the data were converted before the width was checked")

    monkeypatch.setattr(text.BlockDataset, "from_blocks", no_conversion)
    (tmp_path / "c.json").write_text("[[0, 0, 0], [1, 1, 1]]")
    config = job_config(job, "kmeans", f"input={nested_csv / 'a.csv'}",
                        f"output_dir={tmp_path / 'out'}", f"true_centers={tmp_path / 'c.json'}")
    with pytest.raises(ConfigError, match=r"the centres have 3 coordinate\(s\), but the input "
                                          r"has 2 feature\(s\)"):
        job.main(spark, config)
    assert not (tmp_path / "out").exists()
