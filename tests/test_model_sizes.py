"""Model, checkpoint and stage files are size-checked before anything reads them, and a
saved rddml.ml stage's metadata and read errors name the file.

Oversized files are sparse (``os.truncate`` beyond the end): gigabytes of size, no
gigabytes written. Each test changes only files it created under ``tmp_path``.
"""

from __future__ import annotations

import json
import os
import resource
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from rddml import KMeans, LogisticRegression
from rddml.errors import DataValidationError, InvalidParameterError
from rddml.io.checkpoint import FitCheckpoint
from rddml.io.sizes import MAX_MODEL_BYTES, MAX_MODEL_BYTES_ENV

GIB = 1 << 30


def kmeans_model() -> KMeans:
    model = KMeans(k=2)
    model._restore({"cluster_centers": np.array([[0.0, 1.0], [2.0, 3.0]]), "n_iter": 0,
                    "converged": True, "inertia": 0.0, "history": []})
    model._loaded()
    return model


def logistic_model() -> LogisticRegression:
    model = LogisticRegression()
    model._restore({"coef": np.array([0.5, -0.25]), "intercept": 0.125, "n_iter": 0,
                    "converged": True, "loss_history": [], "n_passes": 0,
                    "class_weight": None, "feature_mean": None, "feature_std": None})
    model._loaded()
    return model


def peak_rss() -> int:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


@pytest.mark.parametrize("make", [kmeans_model, logistic_model])
def test_a_2_gib_model_file_is_refused_before_it_is_read(tmp_path: Path, make: Any) -> None:
    # The bug: a 2 GiB model.json was read whole (seconds, gigabytes) before the error.
    model = make()
    model.save(str(tmp_path / "m"))
    assert type(model).load(str(tmp_path / "m")).get_params() == model.get_params()
    file = tmp_path / "m" / "model.json"
    os.truncate(file, 2 * GIB)
    before = peak_rss()
    with pytest.raises(DataValidationError, match=rf"Model file '{file}' is 2\.0 GiB "
                                                  rf"\(2147483648 bytes\), larger than the "
                                                  rf"1\.0 GiB \(1073741824 bytes\) rddml reads"):
        type(model).load(str(tmp_path / "m"))
    assert peak_rss() - before < 256 << 20      # nothing near the file's size was read


def test_an_oversized_checkpoint_is_refused_before_it_is_read(tmp_path: Path) -> None:
    ckpt = FitCheckpoint(tmp_path / "ck", estimator="KMeans", fingerprint={"k": 2})
    ckpt.save(1, {"centers": np.zeros((2, 2))})
    assert json.loads((tmp_path / "ck" / "checkpoint.json").read_text())["iteration"] == 1
    os.truncate(tmp_path / "ck" / "checkpoint.json", 3 * GIB)
    with pytest.raises(DataValidationError, match=r"Checkpoint '.*checkpoint\.json' is 3\.0 GiB"):
        ckpt.load()


def test_the_limit_is_a_named_constant_and_the_environment_can_change_it(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    assert MAX_MODEL_BYTES == GIB
    kmeans_model().save(str(tmp_path / "m"))
    size = (tmp_path / "m" / "model.json").stat().st_size
    monkeypatch.setenv(MAX_MODEL_BYTES_ENV, str(size - 1))
    with pytest.raises(DataValidationError, match=rf"is {size} bytes, larger than the "
                                                  rf"{size - 1} bytes rddml reads.*"
                                                  rf"{MAX_MODEL_BYTES_ENV}"):
        KMeans.load(str(tmp_path / "m"))
    monkeypatch.setenv(MAX_MODEL_BYTES_ENV, str(size))
    np.testing.assert_array_equal(KMeans.load(str(tmp_path / "m")).cluster_centers_,
                                  kmeans_model().cluster_centers_)
    monkeypatch.setenv(MAX_MODEL_BYTES_ENV, "1GB")
    with pytest.raises(InvalidParameterError, match=rf"{MAX_MODEL_BYTES_ENV} must be a "
                                                    r"positive number of bytes .* got '1GB'"):
        KMeans.load(str(tmp_path / "m"))


# ------------------------------------------------------------------ rddml.ml stages
@pytest.fixture
def saved_stage(spark: Any, tmp_path: Path) -> Path:
    from rddml.ml import KMeansModel

    path = tmp_path / "stage"
    KMeansModel.fromRddml(kmeans_model()).save(str(path))
    return path


def part_file(directory: Path) -> Path:
    [part] = [p for p in directory.iterdir() if p.name.startswith("part-")]
    return part


def crc_of(file: Path) -> Path:
    return file.with_name(f".{file.name}.crc")


@pytest.mark.parametrize("part", ["data", "metadata"])
def test_a_2_gib_stage_file_is_refused_and_the_jvm_survives(spark: Any, saved_stage: Path,
                                                            part: str) -> None:
    # The bug: a 2 GiB data/part-* was read by spark.read.text and killed the driver JVM.
    from rddml.ml import KMeansModel

    assert KMeansModel.load(str(saved_stage)).clusterCenters()[1].tolist() == [2.0, 3.0]
    file = part_file(saved_stage / part)
    os.truncate(file, 2 * GIB)
    with pytest.raises(DataValidationError, match=rf"Model stage file '.*{file}' is 2\.0 GiB "
                                                  r"\(2147483648 bytes\), larger than"):
        KMeansModel.load(str(saved_stage))
    assert spark.range(5).count() == 5                  # the JVM is alive


def test_a_stage_file_above_the_jvms_share_of_the_heap_is_refused(
        spark: Any, saved_stage: Path) -> None:
    # Below rddml's own limit, but more than the driver JVM can read whole: the test
    # session's heap is Spark's default (1 GiB or less), so 300 MiB is above an eighth.
    from rddml.engine.file_sizes import driver_heap_bytes
    from rddml.ml import KMeansModel

    heap = driver_heap_bytes(spark)
    assert heap < 2 * GIB
    file = part_file(saved_stage / "data")
    os.truncate(file, 300 << 20)
    with pytest.raises(DataValidationError, match=r"rddml reads into the driver JVM \(1/8 of "
                                                  r"its .* heap.*larger spark\.driver\.memory"):
        KMeansModel.load(str(saved_stage))
    assert spark.range(5).count() == 5


def rewrite_metadata(stage: Path, change: Any, *, keep_crc: bool = False) -> Path:
    file = part_file(stage / "metadata")
    doc = json.loads(file.read_text())
    change(doc)
    file.write_text(json.dumps(doc) + "\n")
    if not keep_crc:
        crc_of(file).unlink()
    return file


def test_a_wrong_typed_metadata_param_names_the_file_and_param(saved_stage: Path) -> None:
    # The bug: a raw TypeError naming no file.
    from rddml.ml import KMeansModel

    rewrite_metadata(saved_stage, lambda doc: doc["paramMap"].update(k="three"))
    with pytest.raises(DataValidationError, match=rf"Stage metadata '{saved_stage}/metadata': "
                                                  r"paramMap\.k is 'three', which is not a "
                                                  r"valid value of the Param 'k'"):
        KMeansModel.load(str(saved_stage))


def test_an_unknown_metadata_param_names_the_file(saved_stage: Path) -> None:
    from rddml.ml import KMeansModel

    rewrite_metadata(saved_stage, lambda doc: doc["defaultParamMap"].update(kk=3))
    with pytest.raises(DataValidationError, match=r"defaultParamMap\.kk: KMeansModel has no "
                                                  r"Param 'kk'"):
        KMeansModel.load(str(saved_stage))


def test_metadata_params_that_are_fine_still_load(saved_stage: Path) -> None:
    from rddml.ml import KMeansModel

    rewrite_metadata(saved_stage, lambda doc: doc["paramMap"].update(k=2, predictionCol="p"))
    loaded = KMeansModel.load(str(saved_stage))
    assert loaded.getK() == 2 and loaded.getPredictionCol() == "p"


@pytest.mark.parametrize("part", ["data", "metadata"])
def test_a_hand_edited_file_with_a_stale_crc_names_the_file(saved_stage: Path,
                                                            part: str) -> None:
    # The bug: a raw ChecksumException from the JVM.
    from rddml.ml import KMeansModel

    file = part_file(saved_stage / part)
    text = file.read_text()
    file.write_text(text.replace("2", "4", 1) if part == "data" else text + " ")
    assert crc_of(file).exists()
    with pytest.raises(DataValidationError, match=rf"Model stage file '{file}' does not match "
                                                  rf"its checksum file '{crc_of(file)}': it was "
                                                  r"changed after Spark wrote it"):
        KMeansModel.load(str(saved_stage))


def test_file_sizes_come_from_listings_without_reading(spark: Any, tmp_path: Path) -> None:
    # Both listings: Hadoop's (classic sessions) and the binaryFile source's (what Spark
    # Connect uses; it works on a classic session too). A 3 GiB file could not be read
    # into a binaryFile row at all, so its length is proof that nothing was read.
    from rddml.engine.file_sizes import _connect_sizes, file_sizes, parse_memory

    d = tmp_path / "d"
    d.mkdir()
    (d / "part-0").write_text("x")
    (d / "part-1").touch()
    os.truncate(d / "part-1", 3 * GIB)
    (d / "_SUCCESS").touch()
    (d / ".part-0.crc").write_text("crc")
    for lister in (file_sizes, _connect_sizes):
        found = lister(spark, str(d))
        assert found is not None
        assert [(Path(p).name, n) for p, n in found] == [("part-0", 1), ("part-1", 3 * GIB)]
        assert lister(spark, str(tmp_path / "missing")) is None
    assert [(Path(p).name, n) for p, n in file_sizes(spark, str(d / "part-1")) or []] == [
        ("part-1", 3 * GIB)]
    assert parse_memory("1g") == GIB and parse_memory("512m") == 512 << 20
    assert parse_memory("2048") == 2048 << 20 and parse_memory("lots") is None
