"""Losing the driver: SIGKILL a k-means job mid-fit, run the same command again.

The job runs through ``./spark-submit.sh`` on ``local[2]`` with ``checkpoint_dir`` set;
the whole driver (the spark-submit JVM, its Python, PySpark's workers) is killed after
iteration 5 is logged. The rerun must resume from the last checkpoint, run only the
remaining iterations and end exactly where an uninterrupted fit ends (computed in the
test session on the same two input partitions).
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
    from rddml.data.text import read_points_csv

    with read_points_csv(sc, str(BLOBS)) as ds:
        return KMeans(k=5, init="random", seed=5, max_iter=MAX_ITER, tol=0.0).fit(ds)


def job_command(checkpoint: Path, output: Path) -> list[str]:
    return [
        str(ROOT / "spark-submit.sh"), "--master", "local[2]", "kmeans",
        "--set", f"input={BLOBS}", "--set", "init=random", "--set", "seed=5", "--set", "tol=0",
        "--set", f"max_iter={MAX_ITER}", "--set", f"checkpoint_dir={checkpoint}",
        "--set", f"checkpoint_interval={INTERVAL}", "--set", f"output_dir={output}",
    ]


def iterations_run(run: DriverRun) -> list[int]:
    return [int(m.group(1)) for line in run.lines
            if (m := re.search(rf"k-means iteration (\d+)/{MAX_ITER} ", line))]


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
