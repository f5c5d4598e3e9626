"""The k-means job end to end: config, outputs, atomicity, refusals."""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from jobs import kmeans as job

from rddml import KMeans
from rddml.errors import ConfigError, DataValidationError, OutputExistsError
from rddml.io.config import load_config
from rddml.io.output import MANIFEST_NAME

ROOT = Path(__file__).resolve().parents[1]
CONF = ROOT / "conf/jobs/kmeans.toml"


def config(tmp_path: Path, *sets: str) -> job.Config:
    return load_config(job.Config, CONF, [f"output_dir={tmp_path / 'out'}", *sets])


def test_job_writes_centres_model_summary_and_plot(spark: Any, tmp_path: Path) -> None:
    cfg = config(tmp_path, f"input={ROOT / 'data/samples/blobs.csv'}", "write_assignments=true")
    summary = job.main(spark, cfg)
    out = tmp_path / "out"
    assert sorted(p.name for p in out.iterdir()) == [
        "_rddml_manifest.json", "assignments", "centers.csv", "clusters.png", "model",
        "summary.json"]
    manifest = json.loads((out / MANIFEST_NAME).read_text())
    assert manifest["job"] == "kmeans" and manifest["config"]["write_assignments"] is True
    centers_bytes = (out / "centers.csv").read_bytes()
    assert {"path": "centers.csv", "bytes": len(centers_bytes),
            "sha256": hashlib.sha256(centers_bytes).hexdigest()} in manifest["files"]
    centres = np.loadtxt(out / "centers.csv", delimiter=",")
    np.testing.assert_array_equal(centres, np.array(summary["cluster_centers"]))
    assert summary["n_rows"] == 10000 and summary["rows_skipped"] == 0
    assert json.loads((out / "summary.json").read_text())["inertia"] == summary["inertia"]
    np.testing.assert_array_equal(KMeans.load(str(out / "model")).cluster_centers_, centres)
    lines = [ln for f in sorted((out / "assignments").glob("part-*")) for ln in
             f.read_text().splitlines()]
    assert len(lines) == 10000
    first = np.array([float(v) for v in lines[0].split(",")])
    assert int(first[2]) == int(((centres - first[:2]) ** 2).sum(1).argmin())
    assert (out / "clusters.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_job_refuses_to_overwrite_without_flag(spark: Any, tmp_path: Path) -> None:
    (tmp_path / "out").mkdir()
    (tmp_path / "out" / "keep.txt").write_text("precious")
    with pytest.raises(OutputExistsError, match="already exists; pass --overwrite"):
        job.main(spark, config(tmp_path))
    # Not an output rddml wrote (no manifest): --overwrite refuses it too.
    with pytest.raises(OutputExistsError, match=r"\(key 'output_dir'\) is a non-empty "
                                                r"directory without _rddml_manifest\.json"):
        job.main(spark, replace(config(tmp_path), overwrite=True))
    assert (tmp_path / "out" / "keep.txt").read_text() == "precious"
    (tmp_path / "out" / "keep.txt").unlink()
    first = job.main(spark, replace(config(tmp_path, "max_iter=2"), overwrite=True))
    second = job.main(spark, replace(config(tmp_path, "max_iter=3", "seed=4"), overwrite=True))
    assert json.loads((tmp_path / "out" / "summary.json").read_text()) == json.loads(
        json.dumps(second)) != json.loads(json.dumps(first))
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out"]


SPECIAL = "run 1 %41 %zz #2 é漢"   # space, valid and invalid %-escapes, '#', non-ASCII


def test_assignments_land_inside_an_output_dir_with_special_characters(
        spark: Any, tmp_path: Path) -> None:
    # The bug: .as_uri() turned ' ' into %20, Hadoop took it literally, the job exited 0
    # without assignments/ and the part files went to a directory outside output_dir.
    base = tmp_path / SPECIAL
    base.mkdir()
    points = np.random.default_rng(1).normal(size=(300, 2))
    np.savetxt(base / "in put #1.csv", points, delimiter=",", fmt="%.17g")
    cfg = load_config(job.Config, CONF, [f"input={base / 'in put #1.csv'}",
                                         f"output_dir={base / SPECIAL}", "k=3",
                                         "write_assignments=true"])
    summary = job.main(spark, cfg)
    out = base / SPECIAL
    lines = [ln for f in sorted((out / "assignments").glob("part-*"))
             for ln in f.read_text().splitlines()]
    assert len(lines) == 300 and summary["n_rows"] == 300
    assert sorted(p.name for p in base.iterdir()) == ["in put #1.csv", SPECIAL]
    assert sorted(p.name for p in tmp_path.iterdir()) == [SPECIAL]
    manifest = json.loads((out / MANIFEST_NAME).read_text())
    assert any(f["path"].startswith("assignments/part-") for f in manifest["files"])


class NoSpark:
    """A session stand-in that fails the test if anything touches it."""

    def __getattr__(self, name: str) -> Any:
        raise AssertionError(f"Spark was used (.{name}) before the config was validated")


@pytest.mark.parametrize(("content", "message"), [
    (None, r"key 'true_centers' \('.*centres\.json'\): file not found"),
    ("{not json", r"key 'true_centers' \('.*'\): not a readable JSON file"),
    ('{"means": [[0, 0]]}', r"expected a key 'true_centers', 'cluster_means' or 'centers', "
                            r"found \['means'\]"),
    ('{"centers": [1, 2]}', r"expected a non-empty list of centres, each a list of finite "
                            r"numbers of the same length, got \[1, 2\]"),
    ('[[0, 0], [1]]', r"expected a non-empty list of centres"),
    ('[[0, "x"]]', r"expected a non-empty list of centres"),
    ("[]", r"expected a non-empty list of centres"),
    ("\xff\xfe", r"not a readable JSON file"),
])
def test_bad_true_centers_fail_before_any_spark_work(tmp_path: Path, content: str | None,
                                                     message: str) -> None:
    # The bug: a missing or malformed file was found only after the whole fit.
    file = tmp_path / "centres.json"
    if content is not None:
        file.write_bytes(content.encode("latin-1") if content.startswith("\xff") else
                         content.encode())
    cfg = config(tmp_path, f"true_centers={file}")
    with pytest.raises(ConfigError, match=message):
        job.main(NoSpark(), cfg)
    assert sorted(p.name for p in tmp_path.iterdir()) == (["centres.json"] if content else [])


def test_good_true_centers_are_read(tmp_path: Path) -> None:
    (tmp_path / "c.json").write_text('{"true_centers": [[0, 1], [2.5, 3]]}')
    np.testing.assert_array_equal(job.read_true_centres(str(tmp_path / "c.json")),
                                  [[0.0, 1.0], [2.5, 3.0]])
    assert job.read_true_centres("") is None


def test_true_centers_of_another_dimension_are_refused_before_the_fit(
        spark: Any, tmp_path: Path) -> None:
    # The bug: 3-D centres on 2-D data were cut to two coordinates in the plot.
    (tmp_path / "c.json").write_text('{"true_centers": [[0, 1, 2], [2.5, 3, 4]]}')
    cfg = config(tmp_path, f"true_centers={tmp_path / 'c.json'}")
    with pytest.raises(ConfigError, match=r"key 'true_centers' \('.*c\.json'\): the centres "
                                          r"have 3 coordinate\(s\), but the input has 2 "
                                          r"feature\(s\); expected centres of 2 coordinates"):
        job.main(spark, cfg)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["c.json"]


def test_failed_job_leaves_no_output(spark: Any, tmp_path: Path) -> None:
    bad = tmp_path / "bad.csv"
    bad.write_text("1,2\n3,4\n5,x\n")
    with pytest.raises(DataValidationError, match=r"bad.csv line 3: field 2 'x' is not a number"):
        job.main(spark, config(tmp_path, f"input={bad}", "k=1"))
    assert list(tmp_path.iterdir()) == [bad]


def test_skipped_rows_are_counted_and_reported(spark: Any, tmp_path: Path) -> None:
    bad = tmp_path / "bad.csv"
    bad.write_text("1,2\n3,4\n\nx,y\n5,6\n")
    summary = job.main(spark, config(tmp_path, f"input={bad}", "k=1", "on_bad_rows=skip"))
    assert summary["n_rows"] == 3 and summary["rows_skipped"] == 2
    assert "is blank" in summary["skipped_examples"][0]
    np.testing.assert_allclose(summary["cluster_centers"], [[3.0, 4.0]])


def test_parquet_input_with_feature_columns(spark: Any, tmp_path: Path) -> None:
    X = np.random.default_rng(0).normal(size=(300, 3))
    spark.createDataFrame([tuple(r) for r in X.tolist()], ["a", "b", "c"]).write.parquet(
        str(tmp_path / "pts.parquet"))
    summary = job.main(spark, config(
        tmp_path, f"input={tmp_path / 'pts.parquet'}", "input_format=parquet",
        'feature_cols=["a", "b", "c"]', "k=2", "init=random"))
    assert summary["n_features"] == 3 and not (tmp_path / "out" / "clusters.png").exists()


@pytest.mark.parametrize(
    ("sets", "message"),
    [
        (["k=0"], r"--set: key 'k': expected an int >= 1, got 0"),
        (["k=two"], r"--set: key 'k': expected an int >= 1, got 'two'"),
        (["init=kmeans"], r"key 'init': expected one of 'k-means\|\|', 'k-means\+\+', 'random'"),
        (["colour=red"], r"--set: unknown key 'colour'; the known keys are: aggregation"),
        (["tol=-1"], r"key 'tol': expected a finite number >= 0.0, got -1"),
        (["tol=nan"], r"--set: key 'tol': expected a finite number >= 0.0, got nan"),
        (["tol=inf"], r"--set: key 'tol': expected a finite number >= 0.0, got inf"),
        (["input="], r"--set: key 'input': expected a non-empty string, got ''"),
        (['input=""'], r"--set: key 'input': expected a non-empty string, got ''"),
        (["output_dir=  "], r"--set: key 'output_dir': expected a non-empty string"),
    ],
)
def test_bad_overrides_name_key_expected_and_value(tmp_path: Path, sets: list[str], message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        config(tmp_path, *sets)


def test_bad_config_file_names_the_file(tmp_path: Path) -> None:
    conf = tmp_path / "k.toml"
    conf.write_text('k = "five"\n')
    with pytest.raises(ConfigError, match=rf"{conf}: key 'k': expected an int >= 1, got 'five'"):
        load_config(job.Config, conf)
    conf.write_text("k = 5\nmax_iters = 3\n")
    with pytest.raises(ConfigError, match=rf"{conf}: unknown key 'max_iters'"):
        load_config(job.Config, conf)


def test_importing_a_job_starts_no_spark() -> None:
    code = ("import sys; import jobs.kmeans, rddml; "
            "from pyspark import SparkContext; "
            "sys.exit(1 if SparkContext._active_spark_context else 0)")
    subprocess.run([sys.executable, "-c", code], cwd=ROOT, check=True)


def test_launcher_help_lists_jobs() -> None:
    out = subprocess.run([str(ROOT / "spark-submit.sh"), "--help"], capture_output=True,
                         text=True, check=True).stdout
    assert "kmeans" in out and "Fit k-means on CSV points or Parquet" in out


def test_launcher_rejects_unknown_job() -> None:
    res = subprocess.run([str(ROOT / "spark-submit.sh"), "nosuchjob"], capture_output=True,
                         text=True)
    assert res.returncode == 2 and "unknown job 'nosuchjob'" in res.stderr


def test_launcher_applies_job_spark_conf_before_command_line(tmp_path: Path) -> None:
    # A stand-in spark-submit on PATH records the arguments the launcher passes.
    fake = tmp_path / "spark-submit"
    fake.write_text('#!/usr/bin/env bash\nprintf "%s\\n" "$@"\n')
    fake.chmod(0o755)
    env = {**os.environ, "PATH": f"{tmp_path}:{os.environ['PATH']}"}
    args = subprocess.run(
        [str(ROOT / "spark-submit.sh"), "--spark-conf", "spark.driver.memory=3g", "benchmark",
         "--quick"], capture_output=True, text=True, check=True, env=env).stdout.splitlines()
    confs = [args[i + 1] for i, a in enumerate(args) if a == "--conf"]
    # conf/jobs/benchmark.spark-local.conf: the JVM defaults pyspark.ml is measured with...
    assert "spark.driver.extraJavaOptions=-XX:+UseG1GC" in confs
    # ...and the command line still wins (spark-submit keeps the last --conf of a key).
    assert confs.index("spark.driver.memory=6g") < confs.index("spark.driver.memory=3g")
    assert args[args.index("--properties-file") + 1].endswith("conf/spark-local.conf")
    # Jobs without an overlay get none.
    other = subprocess.run([str(ROOT / "spark-submit.sh"), "kmeans", "--help"],
                           capture_output=True, text=True, check=True, env=env).stdout
    assert "spark.driver.memory=6g" not in other
