"""Where executor block files live on a real cluster, and that none outlives its application.

The two Workers of the local cluster are two "hosts" on disk: each has its own local
directories, work directory and temporary directory (``TMPDIR``, ``java.io.tmpdir``),
and nothing is shared through /tmp. A driver fits on the cluster while the test looks
at, deletes or kills what it created; after each scenario it checks that no
``rddml-blocks`` entry of the application or its datasets is left anywhere: in the
Workers' local, work and temporary directories, or in /tmp. The scenarios: a normal end
(dataset unpersisted), a dataset never unpersisted, a block file deleted mid-fit, the
driver SIGKILLed mid-fit (here), an executor SIGKILLed mid-fit (``test_faults.py``).
Models must equal the same fit in the test session (``local[2]``, the same two input
partitions), rebuild or not.
"""

from __future__ import annotations

import itertools
import json
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from cluster_support import (
    ROOT,
    Cluster,
    DriverRun,
    application,
    block_files,
    fit_driver,
    free_port,
    rddml_leftovers,
    wait_for_app_end,
    wait_for_no_leftovers,
)

pytestmark = pytest.mark.cluster

BLOBS = ROOT / "data/samples/blobs.csv"
MAX_ITER = 8


@pytest.fixture(scope="module")
def reference(sc: Any) -> dict[str, Any]:
    from rddml import KMeans, read_points_csv

    with read_points_csv(sc, str(BLOBS)) as ds:
        km = KMeans(k=5, init="random", seed=5, max_iter=MAX_ITER, tol=0.0).fit(ds)
    return {"centers": km.cluster_centers_.tolist(), "costs": [h["cost"] for h in km.history_]}


def under_a_workers_local_dir(cluster: Cluster, path: Path) -> bool:
    """True if ``path`` is inside one Worker's local directories, in the per-application
    directory that Worker made for the executor (``executor-*``, which it deletes when
    the application ends), in the executor's block-manager directory (``blockmgr-*``)."""
    for worker in cluster.state["workers"]:
        local = Path(worker["local_dir"])
        if local in path.parents:
            parts = path.relative_to(local).parts
            return any(a.startswith("executor-") and b.startswith("blockmgr-")
                       for a, b in itertools.pairwise(parts))
    return False


def test_files_live_in_the_workers_local_dirs_and_never_outlive_the_application(
        cluster: Cluster, tmp_path: Path, reference: dict[str, Any]) -> None:
    control = tmp_path / "control"
    control.mkdir()
    out = tmp_path / "result.json"
    run = DriverRun([sys.executable, str(ROOT / "tests/cluster/storage_driver.py"),
                     "--master", cluster.master_url, "--input", str(BLOBS),
                     "--control", str(control), "--out", str(out),
                     "--ui-port", str(free_port()), "--max-iter", str(MAX_ITER)])
    try:
        app_id = run.wait_for(r"application (\S+)").group(1)
        a = run.wait_for(r"dataset a (\S+)").group(1)
        # Mid-fit: the files are in the Workers' own local directories, nowhere else.
        run.wait_for(r"pause delete")
        files = block_files(cluster, app_id, a)
        assert files and all(under_a_workers_local_dir(cluster, f) for f in files), files
        outside = [p for p in rddml_leftovers(cluster, [app_id, a])
                   if not any(under_a_workers_local_dir(cluster, f)
                              for f in Path(p).rglob("*.npy"))]
        assert not outside, outside
        files[0].unlink()  # one block file lost; its directory stays
        (control / "delete").touch()
        # Normal end of a dataset: unpersist removes its files at once, everywhere.
        run.wait_for(r"pause released")
        assert block_files(cluster, app_id, a) == []
        assert rddml_leftovers(cluster, [a]) == []
        (control / "released").touch()
        # A dataset never unpersisted: its files are there until the application ends.
        b = run.wait_for(r"dataset b (\S+)").group(1)
        run.wait_for(r"pause kept")
        assert block_files(cluster, app_id, b)
        (control / "kept").touch()
        assert run.wait() == 0, run.tail()
    finally:
        if run.proc.poll() is None:
            run.kill()
    # The lost file was rebuilt from the source, and the models equal local mode's.
    assert run.count(r"block files are missing or stale on an executor; rebuilding") >= 1
    result = json.loads(out.read_text())
    for name in ("a", "b"):
        np.testing.assert_array_equal(result[name]["centers"], reference["centers"])
        assert result[name]["costs"] == reference["costs"]
    wait_for_app_end(cluster, app_id)
    assert wait_for_no_leftovers(cluster, [app_id, a, b]) == []


def test_a_driver_killed_mid_fit_leaves_no_block_files(cluster: Cluster, tmp_path: Path) -> None:
    run = fit_driver(cluster.master_url, "kmeans", BLOBS, tmp_path / "result.json",
                     max_iter=200)
    try:
        app_id, _ = application(run)
        dataset = run.wait_for(r"dataset (\S+)").group(1)
        run.wait_for(r"iteration 3/")
        assert block_files(cluster, app_id, dataset)  # there, mid-fit
    finally:
        run.kill()  # SIGKILL: no unpersist, no SparkContext.stop
    # The Master sees the driver go and ends the application; each Worker kills its
    # executor and deletes the application's directories, block files included.
    wait_for_app_end(cluster, app_id)
    assert wait_for_no_leftovers(cluster, [app_id, dataset]) == []
