"""Losing the driver: SIGKILL a k-means or logistic-regression job mid-fit, run the same
command again.

The job runs through ``./spark-submit.sh`` on ``local[2]`` with ``checkpoint_dir`` set;
the whole driver (the spark-submit JVM, its Python, PySpark's workers) is killed after
iteration 5 (k-means) or 8 (L-BFGS) is logged. The rerun must resume from the last
checkpoint, run only the remaining iterations and end exactly where an uninterrupted fit
ends (computed in the test session on the same two input partitions). For L-BFGS that
needs the quasi-Newton memory in the checkpoint: without it the resumed steps differ.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from cluster_support import ROOT, DriverRun, local_cluster

pytestmark = pytest.mark.cluster

BLOBS = ROOT / "data/samples/blobs.csv"
MAX_ITER = 20
INTERVAL = 2


@pytest.fixture(scope="module")
def reference(sc: Any) -> Any:
    from rddml import KMeans
    from rddml.engine.sources.text import read_points_csv

    with read_points_csv(sc, str(BLOBS)) as ds:
        return KMeans(k=5, init="random", seed=5, max_iter=MAX_ITER, tol=0.0).fit(ds)


def job_command(checkpoint: Path, output: Path) -> list[str]:
    return [
        str(ROOT / "spark-submit.sh"), "--master", "local[2]", "kmeans", "--verbose",
        "--set", f"input={BLOBS}", "--set", "init=random", "--set", "seed=5", "--set", "tol=0",
        "--set", f"max_iter={MAX_ITER}", "--set", f"checkpoint_dir={checkpoint}",
        "--set", f"checkpoint_interval={INTERVAL}", "--set", f"output_dir={output}",
    ]


def iterations_run(run: DriverRun, solver: str = "k-means", max_iter: int = MAX_ITER
                   ) -> list[int]:
    return [int(m.group(1)) for line in run.lines
            if (m := re.search(rf"{solver} iteration (\d+)/{max_iter} ", line))]


def test_killed_driver_resumes_from_its_checkpoint(tmp_path: Path, reference: Any) -> None:
    checkpoint, output = tmp_path / "checkpoint", tmp_path / "out"
    first = DriverRun(job_command(checkpoint, output))
    try:
        first.wait_for(rf"k-means iteration 5/{MAX_ITER} ")
    finally:
        killed = first.kill()
    for pid, start in killed:  # nothing of the killed driver lives on
        assert local_cluster.process_start_time(pid) != start, f"pid {pid} survived"
    saved = json.loads((checkpoint / "checkpoint.json").read_text())
    resumed_at = saved["iteration"]
    assert resumed_at >= 4 and resumed_at % INTERVAL == 0 and not saved["final"]
    assert not output.exists()

    second = DriverRun(job_command(checkpoint, output))
    assert second.wait() == 0, second.tail()
    second.wait_for(rf"resumed from checkpoint \S+ at iteration {resumed_at}/{MAX_ITER}")
    assert iterations_run(second) == list(range(resumed_at + 1, MAX_ITER + 1))
    summary = json.loads((output / "summary.json").read_text())
    assert summary["resumed_from_iteration"] == resumed_at and summary["n_iter"] == MAX_ITER
    np.testing.assert_array_equal(summary["cluster_centers"], reference.cluster_centers_)
    np.testing.assert_array_equal(np.loadtxt(output / "centers.csv", delimiter=","),
                                  reference.cluster_centers_)
    assert [h["cost"] for h in summary["history"]] == [h["cost"] for h in reference.history_]
    assert summary["inertia"] == reference.inertia_


# ------------------------------------------------------------ logistic regression
LR_MAX_ITER = 60
LR_INTERVAL = 5
#: Unstandardised, unevenly scaled features: L-BFGS needs ~90 iterations to converge, so
#: the run is still going when the kill lands, and its steps lean on the memory.
LR_PARAMS = {"optimizer": "lbfgs", "standardize": False, "reg_param": 1e-4, "tol": 0.0}


@pytest.fixture(scope="module")
def scaled_text(tmp_path_factory: pytest.TempPathFactory) -> Path:
    rng = np.random.default_rng(15)
    X = rng.normal(size=(3000, 5)) * np.array([1e-3, 1.0, 100.0, 10.0, 1e3])
    z = X @ np.array([500.0, 1.0, 0.01, -0.1, 0.001]) + 0.5
    y = (rng.uniform(size=3000) < 1.0 / (1.0 + np.exp(-z))).astype(float)
    path = tmp_path_factory.mktemp("lr-data") / "scaled.txt"
    np.savetxt(path, np.column_stack([X, y]))
    return path


@pytest.fixture(scope="module")
def lr_reference(sc: Any, scaled_text: Path) -> Any:
    from rddml import LogisticRegression
    from rddml.engine.sources.text import read_labeled_text

    with read_labeled_text(sc, str(scaled_text)) as ds:
        return LogisticRegression(max_iter=LR_MAX_ITER, init_intercept=0.0, **LR_PARAMS).fit(ds)


def lr_command(data: Path, checkpoint: Path, output: Path) -> list[str]:
    sets = {"input": data, **LR_PARAMS, "init_coef": "[]", "init_intercept": 0,
            "max_iter": LR_MAX_ITER, "checkpoint_dir": checkpoint,
            "checkpoint_interval": LR_INTERVAL, "output_dir": output}
    args = [str(ROOT / "spark-submit.sh"), "--master", "local[2]", "logistic_regression",
            "--verbose"]
    for key, value in sets.items():
        text = str(value).lower() if isinstance(value, bool) else str(value)
        args += ["--set", f"{key}={text}"]
    return args


def test_killed_logistic_regression_driver_resumes_from_its_checkpoint(
        tmp_path: Path, scaled_text: Path, lr_reference: Any) -> None:
    checkpoint, output = tmp_path / "checkpoint", tmp_path / "out"
    first = DriverRun(lr_command(scaled_text, checkpoint, output))
    try:
        first.wait_for(rf"lbfgs iteration 8/{LR_MAX_ITER} ")
    finally:
        killed = first.kill()
    for pid, start in killed:
        assert local_cluster.process_start_time(pid) != start, f"pid {pid} survived"
    saved = json.loads((checkpoint / "checkpoint.json").read_text())
    resumed_at = saved["iteration"]
    assert resumed_at >= 5 and resumed_at % LR_INTERVAL == 0 and not saved["final"]
    assert saved["state"]["solver"]["kind"] == "lbfgs"
    assert saved["state"]["solver"]["s"]["shape"][0] >= 1  # the memory travels along
    assert not output.exists()

    second = DriverRun(lr_command(scaled_text, checkpoint, output))
    assert second.wait() == 0, second.tail()
    second.wait_for(rf"resumed from checkpoint \S+ at iteration {resumed_at}/{LR_MAX_ITER}")
    assert iterations_run(second, "lbfgs", LR_MAX_ITER) == list(
        range(resumed_at + 1, LR_MAX_ITER + 1))
    metrics = json.loads((output / "metrics.json").read_text())
    assert metrics["resumed_from_iteration"] == resumed_at
    assert metrics["n_iter"] == LR_MAX_ITER == lr_reference.n_iter_
    np.testing.assert_allclose(metrics["coef"], lr_reference.coef_, rtol=0, atol=1e-9)
    assert metrics["intercept"] == pytest.approx(lr_reference.intercept_, rel=0, abs=1e-9)
    # In fact bit-identical: the same steps from the same state.
    assert metrics["coef"] == lr_reference.coef_.tolist()
    assert metrics["loss_history"] == lr_reference.loss_history_
    assert metrics["n_passes"] == lr_reference.n_passes_
