"""Helpers of the cluster tests: the local cluster's processes, driver runs, fault injection.

Processes are found through /proc from the PIDs the cluster tool recorded (a Worker's
children are its executors), never by name, and only ever signalled by PID.
"""

from __future__ import annotations

import contextlib
import glob
import itertools
import json
import os
import re
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "tools"))

import local_cluster  # noqa: E402  (tools/local_cluster.py, not an installed package)

EXECUTOR_CLASS = "org.apache.spark.executor.CoarseGrainedExecutorBackend"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def get_json(url: str, timeout: float = 5.0) -> Any:
    with urllib.request.urlopen(url, timeout=timeout) as response:
        return json.loads(response.read())


# ---------------------------------------------------------------- the cluster
@dataclass
class Cluster:
    """The running local cluster, as recorded in its state file."""

    directory: Path

    @property
    def state(self) -> dict[str, Any]:
        state = local_cluster.read_state(self.directory)
        assert state is not None, f"no cluster state in {self.directory}"
        return state

    @property
    def master_url(self) -> str:
        return str(self.state["master_url"])

    def master_json(self) -> dict[str, Any]:
        doc = local_cluster.master_json(self.state["web_ui"], timeout=10)
        assert doc is not None, "the Master does not answer"
        return doc

    def live_workers(self) -> list[dict[str, Any]]:
        return [w for w in self.state["workers"] if local_cluster.alive(w)]

    def recorded_processes(self) -> list[dict[str, Any]]:
        state = self.state
        return [state["master"], *state["workers"]]

    def ensure_workers(self, n: int) -> None:
        """Start replacement Workers until ``n`` recorded Workers are alive."""
        while len(self.live_workers()) < n:
            added = subprocess.run([str(ROOT / "tools/local-cluster.sh"), "--dir",
                                    str(self.directory), "add-worker"],
                                   capture_output=True, text=True)
            assert added.returncode == 0, added.stderr


@dataclass(frozen=True)
class Executor:
    pid: int
    start_time: int
    executor_id: str
    app_id: str
    worker: str


def executors_of(worker: dict[str, Any], app_id: str) -> list[Executor]:
    """The live executor JVMs a Worker launched for ``app_id`` (its child processes)."""
    found = []
    for pid in local_cluster.children(int(worker["pid"])):
        args = local_cluster.process_cmdline(pid)
        start = local_cluster.process_start_time(pid)
        if EXECUTOR_CLASS not in args or start is None:
            continue
        opts = dict(itertools.pairwise(args))
        if opts.get("--app-id") == app_id:
            found.append(Executor(pid, start, opts["--executor-id"], app_id, worker["role"]))
    return found


def wait_for_executor(worker: dict[str, Any], app_id: str, timeout: float = 120.0) -> Executor:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = executors_of(worker, app_id)
        if found:
            return found[0]
        time.sleep(0.2)
    raise AssertionError(f"{worker['role']} runs no executor of {app_id} after {timeout:.0f}s")


def process_state(pid: int) -> str | None:
    """The one-letter scheduler state of ``pid`` (R running, S sleeping, ...)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except (FileNotFoundError, ProcessLookupError, PermissionError):
        return None
    return stat[stat.rindex(")") + 2]


def python_workers(executor: Executor) -> list[int]:
    """The executor's PySpark processes (its daemon and the task workers it forks)."""
    return [pid for pid in local_cluster.descendants(executor.pid)
            if "python" in " ".join(local_cluster.process_cmdline(pid)[:1])]


def sigkill_when_busy(executor: Executor, timeout: float = 30.0) -> bool:
    """SIGKILL the executor while one of its Python workers is on the CPU (so a task is
    running and fails, not only cached blocks and shuffle files are lost); after
    ``timeout`` kill it anyway. Returns whether it was caught running a task.

    Watching /proc is fast enough for tasks of a few milliseconds, where the driver's
    REST API answers late under load.
    """
    deadline = time.monotonic() + timeout
    busy = False
    workers: list[int] = []
    refreshed = 0.0
    while time.monotonic() < deadline and not busy:
        if time.monotonic() - refreshed > 0.25:
            workers, refreshed = python_workers(executor), time.monotonic()
        busy = any(process_state(pid) == "R" for pid in workers)
        if not busy:
            time.sleep(0.001)
    kill_recorded(executor.pid, executor.start_time)
    return busy


def kill_recorded(pid: int, start_time: int, sig: int = signal.SIGKILL) -> None:
    """Signal ``pid`` only if it is still the process that was recorded."""
    if local_cluster.process_start_time(pid) == start_time:
        os.kill(pid, sig)


def wait_gone(pid: int, start_time: int, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while local_cluster.process_start_time(pid) == start_time:
        assert time.monotonic() < deadline, f"process {pid} is still running"
        time.sleep(0.1)


# ------------------------------------------------------------------ driver runs
class DriverRun:
    """A driver process (spark-submit or a driver script) whose stderr is read live.

    The process gets its own session (process group), so the whole driver — the
    spark-submit JVM and the Python it starts — can be killed at once.
    """

    def __init__(self, args: list[str], *, env: dict[str, str] | None = None,
                 cwd: Path = ROOT) -> None:
        full_env = dict(os.environ)
        full_env.update(env or {})
        self.args = args
        self.lines: list[str] = []
        self._cond = threading.Condition()
        self.proc = subprocess.Popen(
            args, cwd=cwd, env=full_env, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT, text=True, start_new_session=True,
        )
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            with self._cond:
                self.lines.append(line.rstrip("\n"))
                self._cond.notify_all()
        with self._cond:
            self._cond.notify_all()

    @property
    def output(self) -> str:
        with self._cond:
            return "\n".join(self.lines)

    def wait_for(self, pattern: str, timeout: float = 240.0, after: int = 0) -> re.Match[str]:
        """Block until a line (index >= ``after``) matches ``pattern``; fail on timeout or
        if the process ends first."""
        regex = re.compile(pattern)
        deadline = time.monotonic() + timeout
        with self._cond:
            seen = after
            while True:
                for line in self.lines[seen:]:
                    match = regex.search(line)
                    if match:
                        return match
                seen = len(self.lines)
                if self.proc.poll() is not None and not self._reader.is_alive():
                    raise AssertionError(f"{self.args[0]} exited with {self.proc.returncode} "
                                         f"before printing /{pattern}/:\n{self.tail()}")
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise AssertionError(f"no line matched /{pattern}/ within {timeout:.0f}s:\n"
                                         f"{self.tail()}")
                self._cond.wait(min(remaining, 0.5))

    def count(self, pattern: str) -> int:
        regex = re.compile(pattern)
        with self._cond:
            return sum(1 for line in self.lines if regex.search(line))

    def wait(self, timeout: float = 300.0) -> int:
        try:
            rc = self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.kill()
            raise AssertionError(f"{self.args[0]} still running after {timeout:.0f}s:\n"
                                 f"{self.tail()}") from None
        self._reader.join(10)
        return rc

    def descendants(self) -> list[tuple[int, int]]:
        """(pid, start time) of the driver and everything it started."""
        out = []
        for pid in [self.proc.pid, *local_cluster.descendants(self.proc.pid)]:
            start = local_cluster.process_start_time(pid)
            if start is not None:
                out.append((pid, start))
        return out

    def kill(self) -> list[tuple[int, int]]:
        """SIGKILL the driver's process group and any descendant that left it (PySpark's
        daemon starts its own group); return what was killed."""
        procs = self.descendants()
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.proc.pid, signal.SIGKILL)
        for pid, start in procs:
            kill_recorded(pid, start)
        self.proc.wait(30)
        # SIGKILL is delivered asynchronously: on a busy machine a process can still be
        # listed for a moment after the signal.
        for pid, start in procs:
            wait_gone(pid, start)
        return procs

    def tail(self, n: int = 40) -> str:
        with self._cond:
            return "\n".join(self.lines[-n:])


def fit_driver(master: str, estimator: str, input_path: Path, out: Path, *,
               max_iter: int = 15, max_failures: int = 4) -> DriverRun:
    """Start ``tests/cluster/fit_driver.py`` against ``master`` with the venv's Python."""
    return DriverRun([
        sys.executable, str(ROOT / "tests/cluster/fit_driver.py"), "--master", master,
        "--estimator", estimator, "--input", str(input_path), "--out", str(out),
        "--ui-port", str(free_port()), "--max-iter", str(max_iter),
        "--max-failures", str(max_failures),
    ])


# --------------------------------------------------------- files left behind
def block_files(cluster: Cluster, app_id: str, dataset_id: str) -> list[Path]:
    """The ``.npy`` block files of a dataset under the Workers' local directories."""
    found: list[Path] = []
    for worker in cluster.state["workers"]:
        found.extend(Path(worker["local_dir"]).glob(
            f"**/rddml-blocks/{app_id}/{dataset_id}/*/*.npy"))
    return sorted(found)


def rddml_leftovers(cluster: Cluster, ids: list[str]) -> list[str]:
    """Every ``rddml-blocks`` entry of the given applications or datasets (``ids``) in the
    cluster's directories (each Worker's local, temporary and work directories) and in
    the system temporary directory, where no Spark clean-up reaches."""
    found: list[str] = []
    bases = [str(cluster.directory), "/tmp/rddml-blocks", *glob.glob("/tmp/*/rddml-blocks"),
             *glob.glob("/tmp/*/*/rddml-blocks")]
    for base in bases:
        for path, dirs, _ in os.walk(base):
            inside = "rddml-blocks" in Path(path).parts or Path(base).name == "rddml-blocks"
            for name in dirs:
                if inside and name in ids:
                    found.append(os.path.join(path, name))
    return sorted(set(found))


def wait_for_no_leftovers(cluster: Cluster, ids: list[str], timeout: float = 60.0) -> list[str]:
    """Poll :func:`rddml_leftovers` until it is empty (the Workers delete an ended
    application's directories in the background); what is left after ``timeout``."""
    deadline = time.monotonic() + timeout
    while True:
        left = rddml_leftovers(cluster, ids)
        if not left or time.monotonic() > deadline:
            return left
        time.sleep(0.5)


def wait_for_app_end(cluster: Cluster, app_id: str, timeout: float = 60.0) -> None:
    """Wait until the Master no longer lists ``app_id`` as active."""
    deadline = time.monotonic() + timeout
    while any(a.get("id") == app_id for a in cluster.master_json().get("activeapps", [])):
        assert time.monotonic() < deadline, f"{app_id} still active after {timeout:.0f}s"
        time.sleep(0.5)


def application(run: DriverRun) -> tuple[str, str]:
    """(application id, driver UI URL) from the driver script's first log line."""
    match = run.wait_for(r"application (\S+) ui (\S+)")
    return match.group(1), match.group(2)
