"""Start, inspect and stop a Spark standalone cluster on this machine (127.0.0.1 only).

Uses nothing but what the pip ``pyspark`` package ships: ``spark-class`` runs the
``Master`` and ``Worker`` daemons directly (the package has no ``sbin/start-*.sh``).
Every process started is recorded (PID and kernel start time) in a state file, and
``stop`` signals exactly those processes and their descendants (executors, Python
workers), never anything found by name.

Run it through ``tools/local-cluster.sh`` (or ``./spark-submit.sh --start-local-cluster
N`` / ``--stop-local-cluster``)::

    tools/local-cluster.sh start 2      # Master + 2 Workers (1 core, 2g each)
    tools/local-cluster.sh status       # master URL, workers, running applications
    ./spark-submit.sh --master "$(tools/local-cluster.sh url)" kmeans
    tools/local-cluster.sh add-worker   # one more Worker (e.g. after a fault test)
    tools/local-cluster.sh stop

The state lives in ``--dir`` (default ``$RDDML_LOCAL_CLUSTER_DIR`` or
``build/local-cluster``): ``cluster.json``, the daemons' logs in ``logs/``. Each Worker is
a separate "host" on disk, as on a real cluster: its executors' logs in
``work/worker-N/``, its local directories (shuffle, spill, cached blocks, rddml's block
files, all per application and deleted when the application ends) in
``local/worker-N/``, and its own temporary directory ``tmp/worker-N/`` (``TMPDIR`` and
the JVMs' ``java.io.tmpdir``); no two Workers share a directory, and none uses /tmp.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
STATE_FILE = "cluster.json"
MASTER_CLASS = "org.apache.spark.deploy.master.Master"
WORKER_CLASS = "org.apache.spark.deploy.worker.Worker"
# C1-only JIT and the serial GC halve JVM start-up and footprint on small machines.
JVM_OPTS = "-XX:TieredStopAtLevel=1 -XX:+UseSerialGC"


class ClusterError(Exception):
    """The cluster could not be started, found or stopped; the message says why."""


# ------------------------------------------------------------------- processes
def process_start_time(pid: int) -> int | None:
    """The kernel start time of ``pid`` (clock ticks since boot), None if it is gone.

    Recorded with each PID so that a PID reused by an unrelated process is never
    signalled.
    """
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except (FileNotFoundError, ProcessLookupError, PermissionError):
        return None
    fields = stat[stat.rindex(")") + 2:].split()
    if fields[0] == "Z":  # a zombie has exited already
        return None
    return int(fields[19])


def process_cmdline(pid: int) -> list[str]:
    try:
        raw = Path(f"/proc/{pid}/cmdline").read_bytes()
    except (FileNotFoundError, ProcessLookupError, PermissionError):
        return []
    return [part.decode(errors="replace") for part in raw.split(b"\0") if part]


def children(pid: int) -> list[int]:
    """Direct children of ``pid`` (from each process's parent PID in /proc)."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except (FileNotFoundError, ProcessLookupError, PermissionError):
            continue
        if int(stat[stat.rindex(")") + 2:].split()[1]) == pid:
            found.append(int(entry.name))
    return sorted(found)


def descendants(pid: int) -> list[int]:
    """Children, grandchildren, ... of ``pid``, parents before their children."""
    out: list[int] = []
    todo = children(pid)
    while todo:
        child = todo.pop(0)
        out.append(child)
        todo.extend(children(child))
    return out


def alive(record: dict[str, Any]) -> bool:
    """True if the process in ``record`` (pid + start_time) is still the one we started."""
    return process_start_time(int(record["pid"])) == int(record["start_time"])


def _signal_recorded(records: list[dict[str, Any]], sig: int) -> None:
    for record in records:
        if alive(record):
            with contextlib.suppress(ProcessLookupError):
                os.kill(int(record["pid"]), sig)


def terminate(records: list[dict[str, Any]], timeout: float = 15.0) -> None:
    """SIGTERM the recorded processes, wait, then SIGKILL whatever is left."""
    _signal_recorded(records, signal.SIGTERM)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and any(alive(r) for r in records):
        time.sleep(0.2)
    _signal_recorded(records, signal.SIGKILL)
    deadline = time.monotonic() + 5.0
    while time.monotonic() < deadline and any(alive(r) for r in records):
        time.sleep(0.1)


def record_of(pid: int, **extra: Any) -> dict[str, Any]:
    start = process_start_time(pid)
    if start is None:
        raise ClusterError(f"process {pid} exited right after it was started")
    return {"pid": pid, "start_time": start, **extra}


# ----------------------------------------------------------------------- state
def state_dir(arg: str | None) -> Path:
    chosen = arg or os.environ.get("RDDML_LOCAL_CLUSTER_DIR") or str(ROOT / "build/local-cluster")
    return Path(chosen).resolve()


def read_state(directory: Path) -> dict[str, Any] | None:
    file = directory / STATE_FILE
    if not file.is_file():
        return None
    try:
        state: dict[str, Any] = json.loads(file.read_text())
    except json.JSONDecodeError as exc:
        raise ClusterError(f"{file} is not valid JSON ({exc}); remove it by hand") from exc
    return state


def write_state(directory: Path, state: dict[str, Any]) -> None:
    """Write the state file atomically, so a reader never sees half of it."""
    file = directory / STATE_FILE
    tmp = file.with_name(f".{file.name}.tmp-{os.getpid()}")
    tmp.write_text(json.dumps(state, indent=2) + "\n")
    os.replace(tmp, file)


def free_port() -> int:
    """A TCP port free on 127.0.0.1 right now (Spark retries the next one if it is taken)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def spark_home() -> Path:
    import pyspark

    return Path(pyspark.__file__).resolve().parent


def daemon_env(directory: Path, name: str = "master") -> dict[str, str]:
    """Environment of the daemon ``name``; a Worker passes it on to its executors (and
    they to their Python workers), so each Worker's local and temporary directories are
    its own."""
    env = dict(os.environ)
    home = spark_home()
    env.update({
        # Only the pip package: a SPARK_HOME pointing at another Spark is ignored here.
        "SPARK_HOME": str(home),
        "SPARK_CONF_DIR": str(ROOT / "conf/cluster"),
        "SPARK_DAEMON_JAVA_OPTS": JVM_OPTS,
        "SPARK_DAEMON_MEMORY": env.get("RDDML_DAEMON_MEMORY", "512m"),
        "SPARK_LOCAL_IP": "127.0.0.1",
        "SPARK_LOCAL_DIRS": str(directory / "local" / name),
        "TMPDIR": str(directory / "tmp" / name),
        # Read by every JVM it starts: the Worker and the executors it launches.
        "JAVA_TOOL_OPTIONS": f"-Djava.io.tmpdir={directory / 'tmp' / name}",
        # The executors' Python is the project's venv (jobs also set spark.pyspark.python).
        "PYSPARK_PYTHON": env.get("PYSPARK_PYTHON", str(ROOT / ".venv/bin/python")),
    })
    return env


def launch(directory: Path, name: str, args: list[str]) -> subprocess.Popen[bytes]:
    """Start ``spark-class ARGS`` detached (own session), its output in ``logs/NAME.log``
    (replacing the log of an earlier cluster in the same directory).

    ``spark-class`` ends with ``exec java ...``, so the PID is the daemon's JVM.
    """
    logs = directory / "logs"
    logs.mkdir(parents=True, exist_ok=True)
    env = daemon_env(directory, name)
    for key in ("SPARK_LOCAL_DIRS", "TMPDIR"):
        Path(env[key]).mkdir(parents=True, exist_ok=True)
    spark_class = spark_home() / "bin" / "spark-class"
    with open(logs / f"{name}.log", "wb") as log:
        return subprocess.Popen(
            [str(spark_class), *args], stdin=subprocess.DEVNULL, stdout=log,
            stderr=subprocess.STDOUT, cwd=directory, env=env,
            start_new_session=True,
        )


def master_json(web_ui: str, timeout: float = 2.0) -> dict[str, Any] | None:
    """The Master's ``/json/`` status document, or None while it is not answering."""
    try:
        with urllib.request.urlopen(f"{web_ui}/json/", timeout=timeout) as response:
            doc: dict[str, Any] = json.loads(response.read())
            return doc
    except (urllib.error.URLError, OSError, ValueError):
        return None


def alive_workers(doc: dict[str, Any] | None) -> int:
    if not doc:
        return 0
    return sum(1 for w in doc.get("workers", []) if w.get("state") == "ALIVE")


def tail(path: Path, lines: int = 15) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except FileNotFoundError:
        return "(no log)"


def _check_started(directory: Path, records: list[dict[str, Any]]) -> None:
    for record in records:
        if not alive(record):
            log = Path(record["log"])
            raise ClusterError(
                f"{record['role']} (pid {record['pid']}) exited during start-up; the end of "
                f"{log}:\n{tail(log)}"
            )


def wait_for_workers(state: dict[str, Any], want: int, timeout: float,
                     started: list[dict[str, Any]]) -> dict[str, Any]:
    """Poll the Master's /json/ until ``want`` workers are ALIVE; return the document.
    Fails early if the Master or one of the ``started`` Workers exits."""
    directory = Path(state["dir"])
    deadline = time.monotonic() + timeout
    doc = None
    while time.monotonic() < deadline:
        _check_started(directory, [state["master"], *started])
        doc = master_json(state["web_ui"])
        if alive_workers(doc) >= want:
            assert doc is not None
            return doc
        time.sleep(0.25)
    raise ClusterError(
        f"after {timeout:.0f}s the Master at {state['web_ui']} lists {alive_workers(doc)} ALIVE "
        f"worker(s), expected {want}; the end of {state['master']['log']}:\n"
        f"{tail(Path(state['master']['log']))}"
    )


def start_worker(state: dict[str, Any], cores: int, memory: str) -> dict[str, Any]:
    directory = Path(state["dir"])
    index = 1 + max((int(w["index"]) for w in state["workers"]), default=0)
    name = f"worker-{index}"
    port, webui = free_port(), free_port()
    work_dir = directory / "work" / name
    work_dir.mkdir(parents=True, exist_ok=True)
    proc = launch(directory, name, [
        WORKER_CLASS, "--host", "127.0.0.1", "--port", str(port), "--webui-port", str(webui),
        "--cores", str(cores), "--memory", memory, "--work-dir", str(work_dir),
        state["master_url"],
    ])
    env = daemon_env(directory, name)
    record = record_of(proc.pid, role=name, index=index, port=port, webui_port=webui,
                       cores=cores, memory=memory, work_dir=str(work_dir),
                       local_dir=env["SPARK_LOCAL_DIRS"], tmp_dir=env["TMPDIR"],
                       log=str(directory / "logs" / f"{name}.log"))
    state["workers"].append(record)
    write_state(directory, state)
    return record


def running_state(directory: Path) -> dict[str, Any] | None:
    """The recorded state if its Master is still running, else None."""
    state = read_state(directory)
    if state and alive(state["master"]):
        return state
    return None


# -------------------------------------------------------------------- commands
def start(directory: Path, n_workers: int, cores: int, memory: str, timeout: float) -> dict[str, Any]:
    """Start a Master and ``n_workers`` Workers; return the recorded state."""
    if n_workers < 1:
        raise ClusterError(f"the number of workers must be >= 1, got {n_workers}")
    running = running_state(directory)
    if running:
        raise ClusterError(
            f"a local cluster is already running from {directory} (master "
            f"{running['master_url']}); stop it first: tools/local-cluster.sh stop --dir {directory}"
        )
    stale = read_state(directory)
    if stale:  # the Master died: clean up what is left of that cluster first
        stop(directory, quiet=True)
    directory.mkdir(parents=True, exist_ok=True)
    began = time.monotonic()
    port, webui = free_port(), free_port()
    proc = launch(directory, "master", [
        MASTER_CLASS, "--host", "127.0.0.1", "--port", str(port), "--webui-port", str(webui),
    ])
    state: dict[str, Any] = {
        "dir": str(directory),
        "master_url": f"spark://127.0.0.1:{port}",
        "web_ui": f"http://127.0.0.1:{webui}",
        "python": daemon_env(directory)["PYSPARK_PYTHON"],
        "master": record_of(proc.pid, role="master", port=port, webui_port=webui,
                            log=str(directory / "logs" / "master.log")),
        "workers": [],
    }
    write_state(directory, state)
    try:
        deadline = time.monotonic() + timeout
        doc = None
        while doc is None:
            _check_started(directory, [state["master"]])
            if time.monotonic() > deadline:
                raise ClusterError(f"the Master did not answer on {state['web_ui']} within "
                                   f"{timeout:.0f}s; see {state['master']['log']}")
            time.sleep(0.25)
            doc = master_json(state["web_ui"])
        # The Master moves to the next port if its port was taken meanwhile: trust /json/.
        state["master_url"] = doc.get("url", state["master_url"])
        write_state(directory, state)
        started = [start_worker(state, cores, memory) for _ in range(n_workers)]
        wait_for_workers(state, n_workers, max(5.0, deadline - time.monotonic()), started)
    except BaseException:
        stop(directory, quiet=True)
        raise
    state["started_seconds"] = round(time.monotonic() - began, 2)
    write_state(directory, state)
    return state


def add_worker(directory: Path, cores: int | None, memory: str | None,
               timeout: float) -> dict[str, Any]:
    """Start one more Worker on the running cluster and wait until it is ALIVE."""
    state = running_state(directory)
    if not state:
        raise ClusterError(f"no local cluster is running from {directory}")
    last: dict[str, Any] = state["workers"][-1] if state["workers"] else {"cores": 1,
                                                                          "memory": "2g"}
    record = start_worker(state, cores or int(last["cores"]), memory or str(last["memory"]))
    live = sum(1 for w in state["workers"] if alive(w))
    wait_for_workers(state, live, timeout, [record])
    return record


def stop(directory: Path, quiet: bool = False) -> int:
    """Stop the recorded Workers (with their executors) and the Master; return how many
    recorded processes were still running."""
    state = read_state(directory)
    if state is None:
        if not quiet:
            print(f"no local cluster recorded in {directory}")
        return 0
    workers = [w for w in state["workers"] if alive(w)]
    # Executors and their Python workers are the Workers' descendants: note them before
    # the Workers go, then make sure none outlives its Worker.
    found = [record_of_quiet(pid) for w in workers for pid in descendants(int(w["pid"]))]
    spawned = [r for r in found if r is not None]
    terminate(workers)
    terminate(spawned, timeout=5.0)
    running = len(workers) + int(alive(state["master"]))
    terminate([state["master"]])
    (directory / STATE_FILE).unlink(missing_ok=True)
    if not quiet:
        print(f"stopped the local cluster in {directory} ({running} daemon(s) were running)")
    return running


def record_of_quiet(pid: int) -> dict[str, Any] | None:
    start_time = process_start_time(pid)
    return None if start_time is None else {"pid": pid, "start_time": start_time}


def status(directory: Path) -> int:
    state = read_state(directory)
    if state is None:
        print(f"no local cluster recorded in {directory}")
        return 3
    master_up = alive(state["master"])
    doc = master_json(state["web_ui"]) if master_up else None
    print(f"master  {state['master_url']}  pid {state['master']['pid']}  "
          f"{'running' if master_up else 'NOT RUNNING'}  web UI {state['web_ui']}")
    registered = {int(w.get("webuiaddress", ":0").rsplit(":", 1)[-1]): w.get("state")
                  for w in (doc or {}).get("workers", [])}
    for w in state["workers"]:
        up = alive(w)
        print(f"{w['role']:<9} pid {w['pid']}  {'running' if up else 'NOT RUNNING'}  "
              f"{w['cores']} core(s), {w['memory']}  master says "
              f"{registered.get(int(w['webui_port']), 'unknown')}")
    for app in (doc or {}).get("activeapps", []):
        print(f"app     {app.get('id')}  {app.get('name')}  {app.get('state')}")
    return 0 if master_up and doc is not None else 3


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="tools/local-cluster.sh",
        description="A Spark standalone cluster on 127.0.0.1 from the pip pyspark package.",
    )
    parser.add_argument("--dir", help="state directory (default $RDDML_LOCAL_CLUSTER_DIR or "
                        "build/local-cluster)")
    sub = parser.add_subparsers(dest="command", required=True)
    p_start = sub.add_parser("start", help="start a Master and N Workers")
    p_start.add_argument("workers", type=int, nargs="?", default=2)
    p_start.add_argument("--cores", type=int, default=1, help="cores per Worker (default 1)")
    p_start.add_argument("--memory", default="2g", help="memory per Worker (default 2g)")
    p_start.add_argument("--timeout", type=float, default=120.0)
    p_add = sub.add_parser("add-worker", help="start one more Worker")
    p_add.add_argument("--cores", type=int)
    p_add.add_argument("--memory")
    p_add.add_argument("--timeout", type=float, default=60.0)
    sub.add_parser("stop", help="stop the recorded processes")
    sub.add_parser("status", help="show the daemons and running applications")
    sub.add_parser("url", help="print the master URL (exit 3 when not running)")
    args = parser.parse_args(argv)
    directory = state_dir(args.dir)
    try:
        if args.command == "start":
            state = start(directory, args.workers, args.cores, args.memory, args.timeout)
            print(f"local Spark cluster up in {state['started_seconds']:.1f}s: master "
                  f"{state['master_url']} (web UI {state['web_ui']}), {args.workers} worker(s) "
                  f"x {args.cores} core(s), {args.memory}; state in {directory / STATE_FILE}")
            print(f"run a job:  ./spark-submit.sh --master {state['master_url']} kmeans")
            print("stop it:    ./spark-submit.sh --stop-local-cluster")
            return 0
        if args.command == "add-worker":
            record = add_worker(directory, args.cores, args.memory, args.timeout)
            print(f"started {record['role']} (pid {record['pid']})")
            return 0
        if args.command == "stop":
            stop(directory)
            return 0
        if args.command == "status":
            return status(directory)
        running = running_state(directory)
        if not running:
            print(f"error: no local cluster is running from {directory}", file=sys.stderr)
            return 3
        print(running["master_url"])
        return 0
    except ClusterError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
