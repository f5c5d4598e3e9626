"""Bad input across the project: each case is a clear error naming what and where.

The bad-input table of docs/bad-input.md points at these tests and at the ones already in
test_kmeans.py, test_kmeans_job.py and test_logistic.py (not repeated here).
"""

from __future__ import annotations

import dataclasses
import importlib
import re
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from rddml import BlockDataset, KMeans
from rddml.engine.sources.text import read_labeled_text, read_points_csv
from rddml.errors import ConfigError, DataValidationError, InvalidParameterError
from rddml.io.config import load_config
from rddml.io.jobkit import spark_failure
from rddml.linear.logistic import LogisticRegression

ROOT = Path(__file__).resolve().parents[1]
JOBS = sorted(p.stem for p in (ROOT / "jobs").glob("*.py") if not p.stem.startswith("_"))


def write(path: Path, text: str) -> str:
    path.write_text(text)
    return str(path)


# ------------------------------------------------------------ malformed text
@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("1,2\n3,4,5\n6,7\n", r"line 2: has 3 field\(s\), expected 2 ','-separated numbers: '3,4,5'"),
        ("1,2\n3\n", r"line 2: has 1 field\(s\), expected 2"),
        ("1,2\n\n3,4\n", r"line 2: is blank"),
        ("x,y\n1,2\n", r"line 1: field 1 'x' is not a number, expected 2 ','-separated numbers "
                       r"\(a header line\? the input must have none\)"),
        ("1,2\n3,four\n", r"line 2: field 2 'four' is not a number"),
        ("1,2\n3,nan\n", r"line 2: field 2 is 'nan'; only finite numbers are accepted"),
        ("1,2\n-inf,4\n", r"line 2: field 1 is '-inf'; only finite numbers are accepted"),
        ("", r"line 1: the file is empty"),
        ("\n1,2\n", r"line 1: is blank"),
    ],
    ids=["extra-field", "missing-field", "blank-line", "header", "non-numeric", "nan", "inf",
         "empty-file", "blank-first-line"],
)
def test_malformed_points_csv_names_file_and_line(sc: Any, tmp_path: Path, text: str,
                                                   message: str) -> None:
    path = write(tmp_path / "points.csv", text)
    with pytest.raises(DataValidationError, match=re.escape(path) + " " + message):
        read_points_csv(sc, path)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("0.5 1.5 0\n0.1 1\n", r"line 2: has 2 field\(s\), expected 3 whitespace-separated"),
        ("0.5 1.5 0\n0.1 yes 1\n", r"line 2: field 2 'yes' is not a number"),
        ("0.5 1.5 0\n0.1 inf 1\n", r"line 2: field 2 is 'inf'; only finite numbers"),
        ("a b label\n0.5 1.5 0\n", r"line 1: field 1 'a' is not a number.*header line"),
        ("0.5\n", r"line 1 has 1 field\(s\); labelled data needs at least one feature and a label"),
    ],
    ids=["missing-field", "non-numeric", "inf", "header", "no-label"],
)
def test_malformed_labelled_text_names_file_and_line(sc: Any, tmp_path: Path, text: str,
                                                      message: str) -> None:
    path = write(tmp_path / "rows.txt", text)
    with pytest.raises(DataValidationError, match=re.escape(path) + " " + message):
        read_labeled_text(sc, path)


def test_bad_line_is_located_in_the_right_file_of_a_directory(sc: Any, tmp_path: Path) -> None:
    data = tmp_path / "parts"
    data.mkdir()
    write(data / "part-0.csv", "1,2\n3,4\n")
    write(data / "part-1.csv", "5,6\n7,8\n9,x\n")
    with pytest.raises(DataValidationError, match=r"part-1\.csv line 3: field 2 'x'"):
        read_points_csv(sc, str(data))


def test_skipped_labelled_rows_are_counted_with_examples(sc: Any, tmp_path: Path) -> None:
    path = write(tmp_path / "rows.txt", "0 1 0\n\n1 x 1\n2 3 1\n4 5 0 9\n")
    with read_labeled_text(sc, path, on_bad_rows="skip") as ds:
        assert (ds.n_rows, ds.n_skipped) == (2, 3)
        assert len(ds.skipped_examples) == 3
        assert all(e.startswith(f"{path} at byte ") for e in ds.skipped_examples)
        assert "is blank" in ds.skipped_examples[0]


def test_labels_outside_0_1_in_a_text_file(sc: Any, tmp_path: Path) -> None:
    path = write(tmp_path / "rows.txt", "0 1 0\n1 2 1\n2 3 2\n")
    with read_labeled_text(sc, path) as ds, pytest.raises(
            DataValidationError,
            match=r"family='binomial' needs the labels 0 and 1.*\(labels 0, 1, 2\)"):
        LogisticRegression(family="binomial").fit(ds)


def test_fractional_labels_in_a_text_file(sc: Any, tmp_path: Path) -> None:
    path = write(tmp_path / "rows.txt", "0 1 0\n1 2 1\n2 3 0.5\n")
    with read_labeled_text(sc, path) as ds, pytest.raises(
            DataValidationError, match=r"Labels must be 0 or 1, found the label value\(s\) \[0\.5\]"):
        LogisticRegression(family="binomial").fit(ds)


# ----------------------------------------------------------- missing / empty
def test_missing_input_path(sc: Any, tmp_path: Path) -> None:
    missing = str(tmp_path / "nowhere.csv")
    with pytest.raises(DataValidationError, match=rf"Input path '{re.escape(missing)}' does not exist"):
        read_points_csv(sc, missing)
    with pytest.raises(DataValidationError, match="does not exist"):
        read_labeled_text(sc, str(tmp_path / "no*.txt"))


def test_directory_without_data_files(sc: Any, tmp_path: Path) -> None:
    (tmp_path / "_SUCCESS").write_text("")
    with pytest.raises(DataValidationError, match=r"contains no data files"):
        read_points_csv(sc, str(tmp_path))


def test_missing_parquet_input_of_the_job(spark: Any, tmp_path: Path) -> None:
    from jobs import kmeans as job

    config = load_config(job.Config, ROOT / "conf/jobs/kmeans.toml", [
        f"input={tmp_path / 'none.parquet'}", "input_format=parquet",
        f"output_dir={tmp_path / 'out'}"])
    with pytest.raises(DataValidationError, match=r"none\.parquet' does not exist"):
        job.main(spark, config)
    assert not (tmp_path / "out").exists()


# ------------------------------------------------------------ empty partitions
# 17 partitions for 10 rows: 7 are empty, between non-empty ones (parallelize slices
# [0, 1, 0, 1, 0, 1, 1, 0, 1, 0, 1, 1, 0, 1, 0, 1, 1] rows), and more than 16 partitions
# take the two-level treeAggregate (rddml.engine.dataset.tree_depth), so empty partials
# are merged at both levels. (Each partition is a task in every pass: 100 cost a minute.)
MANY_PARTITIONS = 17


def test_empty_partitions_give_the_same_kmeans(sc: Any) -> None:
    from rddml.engine.dataset import tree_depth

    assert tree_depth(MANY_PARTITIONS) == 2
    X = np.array([[0.0, 0.0], [0.1, 0.2], [0.2, 0.1], [5.0, 5.0], [5.1, 5.2],
                  [5.2, 4.9], [9.0, 0.0], [9.1, 0.1], [8.9, 0.2], [9.0, -0.1]])
    fits = []
    for partitions in (1, MANY_PARTITIONS):
        rdd = sc.parallelize(X.tolist(), partitions)
        assert rdd.getNumPartitions() == partitions
        fits.append(KMeans(k=3, init="random", seed=1, max_iter=5).fit(rdd))
    np.testing.assert_allclose(fits[1].cluster_centers_, fits[0].cluster_centers_, rtol=0,
                               atol=1e-12)
    assert fits[1].inertia_ == pytest.approx(fits[0].inertia_, rel=1e-12)


def test_empty_partitions_give_the_same_logistic_regression(sc: Any) -> None:
    rows = [([float(i), float(i % 3)], float(i % 2 == 0 if i < 6 else i % 2)) for i in range(10)]
    fits = [LogisticRegression(optimizer="gd", max_iter=5, tol=0.0).fit(sc.parallelize(rows, p))
            for p in (1, MANY_PARTITIONS)]
    assert fits[1].loss_history_ == pytest.approx(fits[0].loss_history_, rel=1e-12)
    np.testing.assert_allclose(fits[1].coef_, fits[0].coef_, rtol=1e-9, atol=1e-12)
    assert fits[1].intercept_ == pytest.approx(fits[0].intercept_, rel=1e-9, abs=1e-12)


def test_empty_files_in_an_input_directory_are_empty_partitions(sc: Any, tmp_path: Path) -> None:
    data = tmp_path / "parts"
    data.mkdir()
    write(data / "a.csv", "")
    write(data / "b.csv", "0,0\n1,1\n")
    write(data / "c.csv", "")
    with read_points_csv(sc, str(data)) as ds:
        assert ds.n_rows == 2 and ds.n_features == 2
        km = KMeans(k=1, max_iter=2).fit(ds)
    np.testing.assert_array_equal(km.cluster_centers_, [[0.5, 0.5]])


def test_only_empty_partitions_is_empty_input(sc: Any, tmp_path: Path) -> None:
    with pytest.raises(DataValidationError, match=r"no rows \(empty input\)"):
        BlockDataset.from_rdd(sc.parallelize([], 100))
    for name in ("a.csv", "b.csv"):
        write(tmp_path / name, "")
    with pytest.raises(DataValidationError, match=rf"'{re.escape(str(tmp_path))}': all 2 files are "
                                                  r"empty"):
        read_points_csv(sc, str(tmp_path))


# ----------------------------------------------------------------- weights
def test_negative_kmeans_weight(sc: Any) -> None:
    with pytest.raises(InvalidParameterError, match=r"weights must be >= 0, got a minimum "
                                                    r"weight of -1\.0"):
        KMeans(k=1).fit(sc.parallelize([([0.0, 0.0], 1.0), ([1.0, 1.0], -1.0)], 2))


# ------------------------------------------------------------------ configs
@pytest.mark.parametrize("name", JOBS)
def test_every_job_config_rejects_unknown_keys_and_wrong_types(name: str, tmp_path: Path) -> None:
    module = importlib.import_module(f"jobs.{name}")
    shipped = ROOT / "conf/jobs" / f"{name}.toml"
    load_config(module.Config, shipped)  # the shipped config is valid
    with pytest.raises(ConfigError, match=r"--set: unknown key 'no_such_key'; the known keys "
                                          r"are: "):
        load_config(module.Config, shipped, ["no_such_key=1"])
    text_key = next(f.name for f in dataclasses.fields(module.Config) if f.type in (str, "str"))
    bad = tmp_path / "bad.toml"
    bad.write_text(f"{text_key} = 5\n")
    with pytest.raises(ConfigError, match=rf"{re.escape(str(bad))}: key '{text_key}': expected "
                                          r"(a string|a non-empty string|one of .*), got 5"):
        load_config(module.Config, bad)


def test_config_file_that_is_not_toml(tmp_path: Path) -> None:
    from jobs import kmeans as job

    bad = tmp_path / "bad.toml"
    bad.write_text("k = [1,\n")
    with pytest.raises(ConfigError, match=rf"{re.escape(str(bad))}: not valid TOML"):
        load_config(job.Config, bad)
    with pytest.raises(ConfigError, match=r"config file not found"):
        load_config(job.Config, tmp_path / "missing.toml")


# ---------------------------------------------------------- failed Spark jobs
class Py4JJavaError(Exception):
    """Stands in for py4j's exception (same name, same text layout)."""


def test_failed_spark_job_is_summarised_in_one_line() -> None:
    exc = Py4JJavaError(
        "An error occurred while calling z:org.apache.spark.api.python.PythonRDD.collectAndServe.\n"
        ": org.apache.spark.SparkException: Job aborted due to stage failure: Task 1 in stage "
        "10.0 failed 1 times, most recent failure: Lost task 1.0 in stage 10.0 (TID 16) "
        "(127.0.0.1 executor 0): ExecutorLostFailure (executor 0 exited caused by one of the "
        "running tasks) Reason: Command exited with code 137\n"
        "Driver stacktrace:\n\tat org.apache.spark.scheduler.DAGScheduler.abortStage")
    assert spark_failure(exc) == (
        "Job aborted due to stage failure: Task 1 in stage 10.0 failed 1 times, most recent "
        "failure: Lost task 1.0 in stage 10.0 (TID 16) (127.0.0.1 executor 0): "
        "ExecutorLostFailure (executor 0 exited caused by one of the running tasks) Reason: "
        "Command exited with code 137")
    assert spark_failure(ValueError("a bug")) is None


# ------------------------------------------------- checks that came too late
NONEMPTY = {
    "kmeans": ["input", "features_col", "output_dir"],
    "logistic_regression": ["input", "features_col", "label_col", "output_dir"],
    "heart_disease": ["data_dir", "output_dir"],
    "generate_data": ["output"],
    "demo": ["blobs_csv", "classification_txt", "heart_data_dir", "output_dir"],
    "benchmark": ["output_dir"],
    "benchmark_datagen": ["output_dir"],
}


@pytest.mark.parametrize(("name", "key"), [(n, k) for n, keys in NONEMPTY.items() for k in keys])
def test_empty_path_and_column_keys_are_config_errors(name: str, key: str) -> None:
    # The bug: input="" got through the config and failed later with a traceback and a
    # message that did not name the key.
    module = importlib.import_module(f"jobs.{name}")
    shipped = ROOT / "conf/jobs" / f"{name}.toml"
    for raw in (f"{key}=", f'{key}=""', f"{key}=  "):
        with pytest.raises(ConfigError, match=rf"--set: key '{key}': expected a non-empty "
                                              r"string, got '\s*'"):
            load_config(module.Config, shipped, [raw])


@pytest.mark.parametrize("value", ["nan", "inf", "-inf", "+inf"])
def test_non_finite_floats_are_config_errors(value: str) -> None:
    # The bug: tol=nan and tol=inf passed the config (nan compares False with any bound).
    from jobs import kmeans, logistic_regression

    for module in (kmeans, logistic_regression):
        with pytest.raises(ConfigError, match=rf"--set: key 'tol': expected a finite number "
                                              rf">= 0.0, got {value.lstrip('+')}"):
            load_config(module.Config, None, [f"tol={value}"])


def test_allow_inf_metadata_admits_infinity_but_never_nan() -> None:
    @dataclasses.dataclass(frozen=True)
    class Limits:
        budget: float = dataclasses.field(default=1.0, metadata={"min": 0.0, "allow_inf": True})

    assert load_config(Limits, None, ["budget=inf"]).budget == float("inf")
    with pytest.raises(ConfigError, match=r"key 'budget': expected a number >= 0.0, got nan"):
        load_config(Limits, None, ["budget=nan"])


def test_check_float_refuses_non_finite_unless_infinity_is_allowed() -> None:
    from rddml.params import check_float

    for value in (float("nan"), float("inf"), float("-inf")):
        with pytest.raises(InvalidParameterError, match=r"The 'tol' parameter must be a finite "
                                                        r"float >= 0.0, got "):
            check_float("tol", value, low=0.0)
    assert check_float("cap", float("inf"), low=0.0, allow_inf=True) == float("inf")
    with pytest.raises(InvalidParameterError, match=r"must be a float \(not NaN\) >= 0.0, got nan"):
        check_float("cap", float("nan"), low=0.0, allow_inf=True)
    with pytest.raises(InvalidParameterError, match=r"must be a float \(not NaN\) >= 0.0, got -inf"):
        check_float("cap", float("-inf"), low=0.0, allow_inf=True)
    # The estimators refuse them before touching the data (None here).
    for estimator in (KMeans(k=1, tol=float("nan")), LogisticRegression(tol=float("inf"))):
        with pytest.raises(InvalidParameterError, match=r"The 'tol' parameter must be a finite"):
            estimator.fit(None)


def test_binary_config_file_is_a_config_error(tmp_path: Path) -> None:
    # The bug: UnicodeDecodeError with a traceback.
    from jobs import kmeans as job

    binary = tmp_path / "conf.toml"
    binary.write_bytes(b"k = 3\n\x89PNG\r\n\x1a\n\x00\xff")
    with pytest.raises(ConfigError, match=rf"{re.escape(str(binary))}: not a TOML text file: "
                                          r"byte 0x89 at offset 6 is not UTF-8 \(a binary "
                                          r"file\?\)"):
        load_config(job.Config, binary)
    with pytest.raises(ConfigError, match=r"config file not found"):
        load_config(job.Config, tmp_path)           # a directory


@pytest.mark.parametrize(("args", "line"), [
    (["--set", "input="], "error: --set: key 'input': expected a non-empty string, got ''"),
    (["--set", "tol=nan"], "error: --set: key 'tol': expected a finite number >= 0.0, got nan"),
    (["--config", "BINARY"], "error: BINARY: not a TOML text file: byte 0xff at offset 0 is "
                             "not UTF-8 (a binary file?)"),
])
def test_job_prints_one_error_line_and_exits_2(tmp_path: Path, args: list[str],
                                               line: str) -> None:
    import os
    import subprocess
    import sys

    binary = tmp_path / "binary.toml"
    binary.write_bytes(b"\xff\xfe\x00")
    args = [str(binary) if a == "BINARY" else a for a in args]
    env = {**os.environ, "PYTHONPATH": f"{ROOT / 'lib'}:{ROOT}"}
    res = subprocess.run([sys.executable, str(ROOT / "jobs/kmeans.py"), *args],
                         capture_output=True, text=True, env=env, cwd=tmp_path, timeout=120)
    assert (res.returncode, res.stderr) == (2, line.replace("BINARY", str(binary)) + "\n")
