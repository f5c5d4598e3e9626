"""Logs and progress: one INFO line per fit, iterations at DEBUG, bars only when watched."""

from __future__ import annotations

import logging
import sys
from collections.abc import Iterator
from typing import Any

import numpy as np
import pytest

import rddml.progress
from rddml import KMeans, LogisticRegression
from rddml.engine.blocks import BlockDataset
from rddml.engine.job_progress import spark_tasks_progress, task_counts
from rddml.io.jobkit import parse_job_args


@pytest.fixture
def bars_forced(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.setattr(rddml.progress, "DELAY_SECONDS", 0.0)
    monkeypatch.setattr(rddml.progress, "MIN_INTERVAL", 0.0)  # draw every update
    rddml.progress.show_progress(True)
    yield
    rddml.progress.show_progress(None)


@pytest.fixture(scope="module")
def blobs(sc: Any) -> Iterator[BlockDataset]:
    rng = np.random.default_rng(3)
    X = np.concatenate([rng.normal(c, 0.1, size=(200, 2)) for c in (0.0, 5.0, 10.0)])
    y = (X[:, 0] > 5.0).astype(np.float64)
    ds = BlockDataset.from_numpy(sc, X, y, num_partitions=2)
    yield ds
    ds.unpersist()


def _rddml_records(caplog: pytest.LogCaptureFixture, level: int) -> list[str]:
    return [r.getMessage() for r in caplog.records
            if r.name.startswith("rddml") and r.levelno == level]


@pytest.mark.parametrize("make", [
    lambda: KMeans(k=3, init="k-means++", max_iter=6, tol=0.0, seed=1),
    lambda: LogisticRegression(optimizer="lbfgs", max_iter=8, tol=0.0),
    lambda: LogisticRegression(optimizer="gd", step_size=1.0, max_iter=6, tol=0.0),
], ids=["kmeans", "lbfgs", "gd"])
def test_a_fit_logs_one_info_summary_and_its_iterations_at_debug(
        make: Any, blobs: BlockDataset, caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.DEBUG, logger="rddml"):
        model = make().fit(blobs)
    infos = _rddml_records(caplog, logging.INFO)
    assert len(infos) == 1, infos
    assert f"{model.n_iter_} iterations" in infos[0]
    iteration_lines = [m for m in _rddml_records(caplog, logging.DEBUG)
                       if " iteration " in m and "/" in m]
    assert len(iteration_lines) == model.n_iter_, iteration_lines


def test_no_bar_is_drawn_where_nobody_watches(blobs: BlockDataset, capsys: Any,
                                              monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("RDDML_PROGRESS", raising=False)
    monkeypatch.setattr(rddml.progress, "DELAY_SECONDS", 0.0)
    assert not sys.stderr.isatty()  # pytest captures it
    assert rddml.progress.progress_enabled() is False
    KMeans(k=3, max_iter=3, seed=0).fit(blobs)
    assert "KMeans" not in capsys.readouterr().err
    monkeypatch.setenv("RDDML_PROGRESS", "1")
    assert rddml.progress.progress_enabled() is True
    rddml.progress.show_progress(False)  # the explicit choice beats the environment
    try:
        assert rddml.progress.progress_enabled() is False
    finally:
        rddml.progress.show_progress(None)


def test_a_fit_draws_a_bar_of_its_iterations_when_asked(blobs: BlockDataset, capsys: Any,
                                                         bars_forced: None) -> None:
    model = KMeans(k=3, max_iter=4, tol=0.0, seed=0).fit(blobs)
    err = capsys.readouterr().err
    assert "KMeans (k=3)" in err
    assert f"{model.n_iter_}/4" in err  # the bar reached the last iteration
    LogisticRegression(max_iter=5, tol=0.0).fit(blobs)
    assert "LogisticRegression (lbfgs)" in capsys.readouterr().err


def test_the_conversion_bar_counts_the_tagged_jobs_tasks(sc: Any, bars_forced: None,
                                                         capsys: Any) -> None:
    rdd = sc.parallelize(range(100), 5)
    with spark_tasks_progress(sc, "rddml: reading test rows"):
        rdd.map(lambda x: x + 1).count()
        tags = sc.getJobTags()
    assert any(t.startswith("rddml-progress-") for t in tags)
    tag = next(t for t in tags if t.startswith("rddml-progress-"))
    assert task_counts(sc, tag) == (5, 5)
    assert not any(t.startswith("rddml-progress-") for t in sc.getJobTags())  # removed
    assert "rddml: reading test rows" in capsys.readouterr().err


def test_verbose_flag_turns_the_iteration_lines_on() -> None:
    from dataclasses import dataclass

    @dataclass(frozen=True)
    class Config:
        k: int = 2

    rddml_logger = logging.getLogger("rddml")
    before = rddml_logger.level
    try:
        parse_job_args(Config, "a job", ["--verbose"])
        assert rddml_logger.getEffectiveLevel() == logging.DEBUG
    finally:
        rddml_logger.setLevel(before)


def test_show_progress_refuses_other_values() -> None:
    with pytest.raises(TypeError, match="True, False or None"):
        rddml.progress.show_progress("yes")  # type: ignore[arg-type]
