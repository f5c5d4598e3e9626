"""Peak resident memory of the driver, its JVM and the Python workers (Linux /proc)."""

from __future__ import annotations

import os
import resource
from pathlib import Path
from typing import Any


def _vm_hwm_kib(pid: int) -> int | None:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1])
    except OSError:
        return None
    return None


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


def peak_rss(spark: Any) -> dict[str, Any]:
    """Peak RSS (MiB) of the Python driver, the driver JVM and each Python worker process.

    In local mode the executors live in the driver JVM and the Python workers are its
    descendants; on a cluster only the driver side is visible here.
    """
    driver_py = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    jvm_pid = None
    gateway = getattr(spark.sparkContext, "_gateway", None)
    proc = getattr(gateway, "proc", None) or getattr(gateway, "java_process", None)
    if proc is not None:
        jvm_pid = proc.pid
    elif "PYSPARK_GATEWAY_PORT" in os.environ:
        jvm_pid = os.getppid()  # under spark-submit the JVM started this Python driver
    result: dict[str, Any] = {"driver_python_mib": round(driver_py, 1)}
    if jvm_pid is not None:
        hwm = _vm_hwm_kib(jvm_pid)
        result["driver_jvm_mib"] = None if hwm is None else round(hwm / 1024, 1)
        workers = []
        for pid in _descendants(jvm_pid):
            try:
                cmd = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()
            except OSError:
                continue
            if "pyspark" in cmd or "daemon" in cmd or "worker" in cmd:
                value = _vm_hwm_kib(pid)
                if value is not None:
                    workers.append(round(value / 1024, 1))
        result["python_workers_mib"] = sorted(workers, reverse=True)
    return result
