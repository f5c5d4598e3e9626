"""The local standalone cluster of the cluster tests: started once, always stopped.

``local_cluster`` starts a Master and two Workers through the user-facing launcher
(``./spark-submit.sh --start-local-cluster 2``) in a temporary state directory, and stops
them in its teardown, checking that no process it recorded (or any executor they
started) survives. Deselect these tests with ``-m "not cluster"``.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from cluster_support import ROOT, Cluster, local_cluster

N_WORKERS = 2


def pytest_configure(config: Any) -> None:
    config.addinivalue_line(
        "markers", "cluster: starts a local Spark standalone cluster (tests/cluster/)")


@pytest.fixture(scope="session")
def local_cluster_dir() -> Iterator[Path]:
    # A short path of its own, not under pytest's basetemp: PySpark's daemons open Unix
    # sockets under the Workers' temporary directories, and a socket path has at most 107
    # bytes (pytest-xdist's popen-gwN level pushed some past it).
    directory = Path(tempfile.mkdtemp(prefix="rddml-lc-"))
    yield directory
    shutil.rmtree(directory, ignore_errors=True)


@pytest.fixture(scope="session")
def cluster(local_cluster_dir: Path) -> Iterator[Cluster]:
    env = {**os.environ, "RDDML_LOCAL_CLUSTER_DIR": str(local_cluster_dir)}
    began = time.monotonic()
    started = subprocess.run([str(ROOT / "spark-submit.sh"), "--start-local-cluster",
                              str(N_WORKERS)], env=env, capture_output=True, text=True)
    handle = Cluster(local_cluster_dir)
    try:
        assert started.returncode == 0, started.stderr + started.stdout
        print(f"\nlocal cluster up in {time.monotonic() - began:.1f}s: {started.stdout}")
        yield handle
    finally:
        state = local_cluster.read_state(local_cluster_dir) or {"master": None, "workers": []}
        recorded = [r for r in [state["master"], *state["workers"]] if r]
        spawned = [
            {"pid": pid, "start_time": local_cluster.process_start_time(pid)}
            for r in recorded if local_cluster.alive(r)
            for pid in local_cluster.descendants(int(r["pid"]))
        ]
        stopped = subprocess.run([str(ROOT / "spark-submit.sh"), "--stop-local-cluster"],
                                 env=env, capture_output=True, text=True)
        survivors = [r["pid"] for r in recorded + spawned if r["start_time"] is not None
                     and local_cluster.alive(r)]
        # Never leave daemons behind, even if the check below fails.
        local_cluster.terminate([r for r in recorded + spawned if r["start_time"] is not None])
        assert stopped.returncode == 0, stopped.stderr
        assert not survivors, f"still running after --stop-local-cluster: {survivors}"
        assert not (local_cluster_dir / "cluster.json").exists()
