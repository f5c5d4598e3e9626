"""rddml._daemon: pyspark's worker daemon, quiet when Spark closes an idle worker.

pyspark's daemon, handed a connection that the JVM has already closed (an idle reused
worker at the end of an application), reports a task failure on the closed socket and
prints ``BrokenPipeError``. Each case runs in its own interpreter: the daemon's worker
function installs signal handlers.
"""

from __future__ import annotations

import subprocess
import sys
import textwrap

import pytest

# A worker handed a socket whose other end (the JVM's) is closed, or has a task waiting.
PROBE = textwrap.dedent("""
    import os, socket, sys
    os.environ["PYTHON_UNIX_DOMAIN_ENABLED"] = "true"  # as conf/spark-local.conf
    module, peer = sys.argv[1], sys.argv[2]
    sys.argv = sys.argv[:1]  # pyspark.daemon reads a worker module name from argv[1]
    import importlib
    daemon = importlib.import_module(module)
    import pyspark.daemon
    ran = []
    if peer == "task":  # stand in for pyspark's task runner: only whether it is called
        daemon._run_task = lambda sock, authenticated: ran.append(1) or 0
    ours, theirs = socket.socketpair()
    if peer == "closed":
        theirs.close()
    else:
        theirs.sendall(b"\\x00\\x00\\x00\\x00")
    code = pyspark.daemon.worker(ours, True)
    print(f"code={code} ran={len(ran)}")
""")


def probe(module: str, peer: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-c", PROBE, module, peer], capture_output=True,
                          text=True, timeout=120)


def test_pyspark_daemon_prints_broken_pipe_on_a_closed_connection() -> None:
    """The defect: why conf/spark-local.conf replaces the daemon module."""
    done = probe("pyspark.daemon", "closed")
    assert "BrokenPipeError" in done.stderr, done


def test_rddml_daemon_ends_a_closed_worker_quietly() -> None:
    done = probe("rddml._daemon", "closed")
    assert done.returncode == 0, done.stderr
    assert done.stderr == ""
    # Non-zero: pyspark's loop stops reusing the worker, which then exits.
    assert done.stdout.strip() == "code=1 ran=0"


def test_rddml_daemon_runs_a_waiting_task_with_pyspark() -> None:
    done = probe("rddml._daemon", "task")
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "code=0 ran=1"


@pytest.mark.parametrize("module", ["rddml", "rddml._daemon"])
def test_importing_before_the_fork_loads_no_numpy(module: str) -> None:
    """The daemon forks every worker after importing rddml: NumPy (whose BLAS starts
    threads) must not be loaded yet, so ``import rddml`` is lazy."""
    code = (f"import sys, {module}; "
            "print(sorted(m for m in ('numpy', 'pyarrow', 'pandas') if m in sys.modules))")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          timeout=120)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "[]"


def test_lazy_package_attributes() -> None:
    import rddml
    from rddml.cluster.kmeans import KMeans

    assert rddml.KMeans is KMeans
    assert {"KMeans", "LogisticRegression", "BlockDataset"} <= set(dir(rddml))
    with pytest.raises(AttributeError, match="no attribute 'nope'"):
        _ = rddml.nope  # type: ignore[attr-defined]
