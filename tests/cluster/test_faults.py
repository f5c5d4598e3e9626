"""Faults on a real standalone cluster: losing an executor or a whole Worker mid-fit.

(The driver killed mid-fit, and what each fault leaves on disk: ``test_storage_cleanup.py``.)

A driver (``fit_driver.py``, the venv's Python) fits on the local cluster while the test
SIGKILLs processes the cluster tool recorded. Lost cached blocks are recomputed from
the lineage (the CSV file), lost shuffle outputs by re-running their map tasks, and the
fit must end exactly where an undisturbed fit ends: the reference is the same fit in the
test session (``local[2]``, the same two input partitions). Exact equality holds because
the partitioning is the same and every merge is in partition order or a single,
commutative addition of two partials.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from cluster_support import (
    ROOT,
    Cluster,
    DriverRun,
    application,
    fit_driver,
    kill_recorded,
    local_cluster,
    python_workers,
    sigkill_when_busy,
    wait_for_app_end,
    wait_for_executor,
    wait_for_no_leftovers,
    wait_gone,
)

pytestmark = pytest.mark.cluster

BLOBS = ROOT / "data/samples/blobs.csv"
CLASSIFICATION = ROOT / "data/samples/classification.txt"
MAX_ITER = 20
KILL_AFTER = r"iteration 3/"


@pytest.fixture(scope="module")
def kmeans_reference(sc: Any) -> dict[str, Any]:
    from rddml import KMeans
    from rddml.engine.sources.text import read_points_csv

    with read_points_csv(sc, str(BLOBS)) as ds:
        km = KMeans(k=5, init="random", seed=5, max_iter=MAX_ITER, tol=0.0).fit(ds)
    return {"centers": km.cluster_centers_.tolist(), "costs": [h["cost"] for h in km.history_],
            "inertia": km.inertia_}


@pytest.fixture(scope="module")
def logistic_reference(sc: Any) -> dict[str, Any]:
    from rddml.engine.sources.text import read_labeled_text
    from rddml.linear.logistic import LogisticRegression

    with read_labeled_text(sc, str(CLASSIFICATION)) as ds:
        lr = LogisticRegression(optimizer="gd", step_size=1.0, max_iter=MAX_ITER, tol=0.0,
                                standardize=False).fit(ds)
    return {"coef": lr.coef_.tolist(), "intercept": lr.intercept_, "losses": lr.loss_history_}


def finish(run: DriverRun, out: Path) -> dict[str, Any]:
    rc = run.wait()
    assert rc == 0, run.tail()
    result: dict[str, Any] = json.loads(out.read_text())
    return result


def removed(result: dict[str, Any], executor_id: str) -> dict[str, Any]:
    [entry] = [e for e in result["executors"] if e["id"] == executor_id]
    assert not entry["isActive"], entry
    return entry


def iterations_after(run: DriverRun, line_index: int) -> int:
    """Iteration lines the driver logged after the given output line."""
    return sum(1 for line in run.lines[line_index:] if " iteration " in line)


def test_kmeans_fit_survives_an_executor_kill(cluster: Cluster, tmp_path: Path,
                                             kmeans_reference: dict[str, Any]) -> None:
    out = tmp_path / "result.json"
    run = fit_driver(cluster.master_url, "kmeans", BLOBS, out, max_iter=MAX_ITER)
    try:
        app_id, _ = application(run)
        dataset = run.wait_for(r"dataset (\S+)").group(1)
        run.wait_for(KILL_AFTER)
        victim = wait_for_executor(cluster.live_workers()[0], app_id)
        # Executors get the fast-start JVM flags and run the project's Python.
        assert "-XX:TieredStopAtLevel=1" in local_cluster.process_cmdline(victim.pid)
        pythons = {local_cluster.process_cmdline(pid)[0] for pid in python_workers(victim)}
        assert pythons == {str(ROOT / ".venv/bin/python")}, pythons
        assert sigkill_when_busy(victim), "the executor never ran a task"
        killed_at = len(run.lines)
        result = finish(run, out)
    finally:
        if run.proc.poll() is None:
            run.kill()
    # The kill happened mid-fit: the fit went on for more iterations afterwards.
    assert iterations_after(run, killed_at) >= 5
    assert removed(result, victim.executor_id)["removeReason"]
    assert result["n_iter"] == MAX_ITER
    np.testing.assert_array_equal(result["centers"], kmeans_reference["centers"])
    assert result["costs"] == kmeans_reference["costs"]
    assert result["inertia"] == kmeans_reference["inertia"]
    # The killed executor's block files stay in its local directories until the
    # application ends; then its Worker deletes them with the application's directories.
    wait_for_app_end(cluster, app_id)
    assert wait_for_no_leftovers(cluster, [app_id, dataset]) == []


def test_logistic_fit_survives_an_executor_kill(cluster: Cluster, tmp_path: Path,
                                               logistic_reference: dict[str, Any]) -> None:
    out = tmp_path / "result.json"
    run = fit_driver(cluster.master_url, "logistic", CLASSIFICATION, out, max_iter=MAX_ITER)
    try:
        app_id, _ = application(run)
        run.wait_for(KILL_AFTER)
        victim = wait_for_executor(cluster.live_workers()[0], app_id)
        assert sigkill_when_busy(victim), "the executor never ran a task"
        killed_at = len(run.lines)
        result = finish(run, out)
    finally:
        if run.proc.poll() is None:
            run.kill()
    assert iterations_after(run, killed_at) >= 5
    assert removed(result, victim.executor_id)["removeReason"]
    assert result["n_iter"] == MAX_ITER
    np.testing.assert_array_equal(result["coef"], logistic_reference["coef"])
    assert result["intercept"] == logistic_reference["intercept"]
    assert result["losses"] == logistic_reference["losses"]


def test_kmeans_fit_finishes_on_the_remaining_worker(cluster: Cluster, tmp_path: Path,
                                                    kmeans_reference: dict[str, Any]) -> None:
    out = tmp_path / "result.json"
    run = fit_driver(cluster.master_url, "kmeans", BLOBS, out, max_iter=MAX_ITER)
    lost, kept = cluster.live_workers()[:2]
    try:
        app_id, _ = application(run)
        run.wait_for(KILL_AFTER)
        victim = wait_for_executor(lost, app_id)
        # A machine lost: the Worker and the executor it runs die at the same moment.
        kill_recorded(int(lost["pid"]), int(lost["start_time"]))
        kill_recorded(victim.pid, victim.start_time)
        killed_at = len(run.lines)
        wait_gone(int(lost["pid"]), int(lost["start_time"]))
        result = finish(run, out)
    finally:
        if run.proc.poll() is None:
            run.kill()
        cluster.ensure_workers(2)
    assert iterations_after(run, killed_at) >= 5
    removed(result, victim.executor_id)
    # Everything still alive at the end ran on the Worker that was kept.
    survivors = [e for e in result["executors"] if e["isActive"]]
    assert survivors and all(f":{kept['webui_port']}/" in e["executorLogs"]["stderr"]
                             for e in survivors), survivors
    np.testing.assert_array_equal(result["centers"], kmeans_reference["centers"])
    assert result["costs"] == kmeans_reference["costs"]


def test_job_fails_cleanly_without_task_retries(cluster: Cluster, tmp_path: Path) -> None:
    """spark.task.maxFailures=1: an executor kill that fails a task fails the k-means job
    with one clear line, and the output directory never appears (no partial or temporary
    files).

    The tasks of this small input last milliseconds, so a kill can land between two tasks:
    then no task fails, Spark recomputes the lost cached blocks from lineage and the job
    rightly succeeds. Such a run is checked for a complete output and the kill is tried
    again (up to three runs) until one lands inside a task.
    """
    for attempt in range(3):
        output = tmp_path / f"out{attempt}"
        run = DriverRun([
            str(ROOT / "spark-submit.sh"), "--master", cluster.master_url,
            "--spark-conf", "spark.task.maxFailures=1",
            "kmeans", "--verbose", "--set", f"input={BLOBS}", "--set", f"output_dir={output}",
            "--set", "init=random", "--set", "seed=5", "--set", "tol=0", "--set", "max_iter=40",
            # Spark-cached blocks: every task deserialises its blocks, the longest tasks
            # this input can have.
            "--set", "storage=spark",
        ])
        try:
            run.wait_for(KILL_AFTER)
            app_id = cluster.master_json()["activeapps"][0]["id"]
            victim = wait_for_executor(cluster.live_workers()[0], app_id)
            assert sigkill_when_busy(victim), "the executor never ran a task"
            rc = run.wait()
        finally:
            if run.proc.poll() is None:
                run.kill()
        if rc == 0 and run.count(r"Lost task") == 0:
            assert (output / "summary.json").exists(), run.tail()  # whole, not partial
            continue
        assert rc == 1, run.tail()
        # One line at the end says what happened (the traceback is logged above it).
        [last] = [line for line in run.lines[-5:] if line.startswith("error: ")] or [run.tail()]
        assert last.startswith("error: Spark job failed: Job aborted due to stage failure"), last
        assert "failed 1 times" in last and f"executor {victim.executor_id}" in last, last
        assert run.count(r"iteration 40/") == 0
        assert not output.exists()
        # Nothing else either: no temporary, partial or lock file beside the outputs.
        assert sorted(p.name for p in tmp_path.iterdir()) == [f"out{i}" for i in range(attempt)]
        return
    pytest.fail("three executor kills all landed between tasks; none failed a task")
