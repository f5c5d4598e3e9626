"""PySpark's worker daemon, without the traceback printed when Spark stops.

Spark keeps idle Python workers for reuse (``spark.python.worker.reuse``). When the
application ends it closes their sockets; each idle worker then starts reading its next
task, finds the connection closed, tries to report that as a task failure on the same
closed socket and prints ``BrokenPipeError`` twice (``pyspark.daemon`` and
``pyspark.worker``) at the end of every successful run. Here a worker first waits for
its next task's first byte; a closed connection instead is the normal end and the worker
exits quietly. Everything else is pyspark's own daemon.

Spark starts it with ``spark.python.daemon.module rddml._daemon`` (``conf/spark-local.conf``
only: the cluster profile's packed environment does not hold rddml, whose code reaches
executors in the ``--py-files`` zip after the daemon has started), so this module must
import nothing heavy:
the daemon forks every worker, and libraries that start threads (NumPy's BLAS, pyarrow)
must not be loaded before the fork. ``import rddml`` is lazy for that reason.
"""

from __future__ import annotations

import socket
from typing import Any

import pyspark.daemon as _pyspark_daemon

_run_task = _pyspark_daemon.worker


def _peer_closed(sock: socket.socket) -> bool:
    """Block until the JVM sends the next task or closes the connection (True)."""
    try:
        return not sock.recv(1, socket.MSG_PEEK)
    except OSError:  # reset by the peer: closed as well
        return True


def worker(sock: socket.socket, authenticated: bool) -> Any:
    """Run one task on ``sock`` like pyspark's daemon, unless Spark has hung up."""
    if _peer_closed(sock):
        return 1  # non-zero: the daemon's loop stops reusing this worker and exits it
    return _run_task(sock, authenticated)


_pyspark_daemon.worker = worker  # the manager looks the function up in its module

if __name__ == "__main__":
    _pyspark_daemon.manager()
