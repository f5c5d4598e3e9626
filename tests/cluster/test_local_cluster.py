"""The local-cluster tool itself: what it starts, what it reports, what it refuses."""

from __future__ import annotations

import itertools
import subprocess
import sys
from pathlib import Path

import pytest
from cluster_support import ROOT, Cluster, local_cluster

TOOL = str(ROOT / "tools/local-cluster.sh")
FAST_JVM = "-XX:TieredStopAtLevel=1"


def worker_environ(pid: int) -> dict[str, str]:
    raw = Path(f"/proc/{pid}/environ").read_bytes()
    return dict(item.decode().split("=", 1) for item in raw.split(b"\0") if b"=" in item)


def tool(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([TOOL, *args], capture_output=True, text=True, timeout=120)


@pytest.mark.cluster
def test_daemons_are_bound_to_localhost_with_the_recorded_settings(cluster: Cluster) -> None:
    state = cluster.state
    master = local_cluster.process_cmdline(int(state["master"]["pid"]))
    assert local_cluster.MASTER_CLASS in master and FAST_JVM in master
    assert master[master.index("--host") + 1] == "127.0.0.1"
    assert len(cluster.live_workers()) == 2
    for worker in cluster.live_workers():
        args = local_cluster.process_cmdline(int(worker["pid"]))
        assert local_cluster.WORKER_CLASS in args and FAST_JVM in args
        opts = dict(itertools.pairwise(args))
        assert (opts["--host"], opts["--cores"], opts["--memory"]) == ("127.0.0.1", "1", "2g")
        assert args[-1] == state["master_url"]
    # Two "hosts" on disk: each Worker (and so its executors and their Python workers)
    # has its own local and temporary directories, inside the cluster's directory.
    environs = [worker_environ(int(w["pid"])) for w in cluster.live_workers()]
    for key in ("SPARK_LOCAL_DIRS", "TMPDIR"):
        values = {env[key] for env in environs}
        assert len(values) == 2, (key, values)
        assert all(Path(v).is_relative_to(cluster.directory) for v in values), values
    tmpdirs = {env["JAVA_TOOL_OPTIONS"] for env in environs}
    assert tmpdirs == {f"-Djava.io.tmpdir={env['TMPDIR']}" for env in environs}
    assert state["python"] == str(ROOT / ".venv/bin/python")


@pytest.mark.cluster
def test_status_and_url_report_the_running_cluster(cluster: Cluster) -> None:
    status = tool("--dir", str(cluster.directory), "status")
    assert status.returncode == 0, status.stderr
    assert status.stdout.count("master says ALIVE") >= 2
    assert cluster.master_json()["aliveworkers"] >= 2
    url = tool("--dir", str(cluster.directory), "url")
    assert url.stdout.strip() == cluster.master_url


@pytest.mark.cluster
def test_a_second_start_in_the_same_directory_is_refused(cluster: Cluster) -> None:
    before = cluster.state
    again = tool("--dir", str(cluster.directory), "start", "2")
    assert again.returncode == 1
    assert f"a local cluster is already running from {cluster.directory}" in again.stderr
    assert cluster.state["master"] == before["master"]


def test_tool_without_a_cluster(tmp_path: Path) -> None:
    assert tool("--dir", str(tmp_path), "url").returncode == 3
    status = tool("--dir", str(tmp_path), "status")
    assert status.returncode == 3 and "no local cluster recorded" in status.stdout
    stop = tool("--dir", str(tmp_path), "stop")
    assert stop.returncode == 0 and "no local cluster recorded" in stop.stdout
    bad = tool("--dir", str(tmp_path), "start", "0")
    assert bad.returncode == 1 and "number of workers must be >= 1, got 0" in bad.stderr


def test_a_reused_pid_is_never_signalled() -> None:
    """A recorded PID whose start time differs is some other process now: not ours."""
    me = {"pid": 1, "start_time": -1}
    assert not local_cluster.alive(me)
    local_cluster.terminate([me], timeout=0.1)  # must not signal PID 1
    assert local_cluster.process_start_time(1) is not None
    assert local_cluster.descendants(sys.maxsize) == []
