"""Peak resident memory of the driver, its JVM and the Python workers (Linux /proc)."""

from __future__ import annotations

import os
import resource
from pathlib import Path
from typing import Any


def _status_kib(pid: int, field: str) -> int | None:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith(field):
                return int(line.split()[1])
    except OSError:
        return None
    return None


def _vm_hwm_kib(pid: int) -> int | None:
    return _status_kib(pid, "VmHWM:")


def _children(pid: int) -> list[int]:
    out: list[int] = []
    for task in Path(f"/proc/{pid}/task").glob("*"):
        try:
            out += [int(c) for c in (task / "children").read_text().split()]
        except OSError:
            continue
    return out


def _descendants(pid: int) -> list[int]:
    found, todo = [], [pid]
    while todo:
        for child in _children(todo.pop()):
            found.append(child)
            todo.append(child)
    return found


def _jvm_pid(spark: Any) -> int | None:
    gateway = getattr(spark.sparkContext, "_gateway", None)
    proc = getattr(gateway, "proc", None) or getattr(gateway, "java_process", None)
    if proc is not None:
        return int(proc.pid)
    if "PYSPARK_GATEWAY_PORT" in os.environ:
        return os.getppid()  # under spark-submit the JVM started this Python driver
    return None


def _python_workers(jvm_pid: int) -> list[int]:
    """The JVM's descendant Python processes (pyspark's daemon and its workers)."""
    found = []
    for pid in _descendants(jvm_pid):
        try:
            cmd = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()
        except OSError:
            continue
        if "pyspark" in cmd or "daemon" in cmd or "worker" in cmd:
            found.append(pid)
    return found


def _clear_peak(pid: int) -> bool:
    """Restart ``pid``'s peak RSS (``VmHWM``) at its current RSS (Linux: ``5`` written to
    ``/proc/<pid>/clear_refs``); False when that is not possible or permitted."""
    try:
        Path(f"/proc/{pid}/clear_refs").write_text("5")
    except OSError:
        return False
    return True


def reset_worker_peaks(spark: Any) -> float | None:
    """Restart the peak-RSS count (``VmHWM``) of every Python worker at its current RSS
    (Linux: ``5`` written to ``/proc/<pid>/clear_refs``), so that a later
    :func:`peak_rss` reports the peak of what ran in between (workers forked later
    start their own count). Returns the largest current RSS of a worker in MiB (0.0
    when there is none yet), or None when it could not be done (not Linux, not local
    mode, not permitted)."""
    jvm_pid = _jvm_pid(spark)
    if jvm_pid is None:
        return None
    largest = 0.0
    for pid in _python_workers(jvm_pid):
        if not _clear_peak(pid):
            return None
        largest = max(largest, (_status_kib(pid, "VmRSS:") or 0) / 1024)
    return round(largest, 1)


def peak_rss(spark: Any) -> dict[str, Any]:
    """Peak RSS (MiB) of the Python driver, the driver JVM and each Python worker process,
    since they started or since the last :func:`reset_peak_rss`.

    In local mode the executors live in the driver JVM and the Python workers are its
    descendants; on a cluster only the driver side is visible here.
    """
    own = _vm_hwm_kib(os.getpid())  # VmHWM, unlike ru_maxrss, follows reset_peak_rss
    driver_py = (own if own is not None
                 else resource.getrusage(resource.RUSAGE_SELF).ru_maxrss) / 1024
    jvm_pid = _jvm_pid(spark)
    result: dict[str, Any] = {"driver_python_mib": round(driver_py, 1)}
    if jvm_pid is not None:
        hwm = _vm_hwm_kib(jvm_pid)
        result["driver_jvm_mib"] = None if hwm is None else round(hwm / 1024, 1)
        workers = []
        for pid in _python_workers(jvm_pid):
            value = _vm_hwm_kib(pid)
            if value is not None:
                workers.append(round(value / 1024, 1))
        result["python_workers_mib"] = sorted(workers, reverse=True)
    return result


def reset_peak_rss(spark: Any) -> bool:
    """Restart the peak RSS count of the driver, its JVM and the Python workers, so that a
    later :func:`peak_rss` measures one stage of a run.

    Returns False when the kernel refused for the driver (then peaks stay cumulative).
    """
    done = _clear_peak(os.getpid())
    jvm_pid = _jvm_pid(spark)
    if jvm_pid is not None:
        for pid in [jvm_pid, *_python_workers(jvm_pid)]:
            _clear_peak(pid)
    return done
