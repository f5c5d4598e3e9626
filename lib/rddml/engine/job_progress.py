"""A progress bar over the tasks of the Spark jobs a block of code runs (conversions).

The jobs started by this thread inside :func:`spark_tasks_progress` carry a job tag of
their own (``SparkContext.addJobTag``: thread-local and added to the user's tags and
group, never replacing them); a daemon thread asks Spark's status tracker how many of
their tasks are done and moves the bar. Nothing runs when bars are off
(:func:`rddml.progress.progress_enabled`) or there is no JVM to ask (Spark Connect).
"""

from __future__ import annotations

import contextlib
import threading
import uuid
from collections.abc import Iterator
from typing import Any

from rddml.progress import Bar, progress_bar, progress_enabled

#: Seconds between two questions to the status tracker.
POLL_SECONDS = 0.25


def task_counts(sc: Any, tag: str) -> tuple[int, int]:
    """``(done, total)`` tasks of every stage of the jobs tagged ``tag`` so far."""
    tracker = sc._jsc.sc().statusTracker()
    done = total = 0
    for job_id in tracker.getJobIdsForTag(tag):
        job = tracker.getJobInfo(job_id)
        if job.isEmpty():
            continue
        for stage_id in job.get().stageIds():
            stage = tracker.getStageInfo(stage_id)
            if stage.isEmpty():
                continue
            info = stage.get()
            total += int(info.numTasks())
            done += int(info.numCompletedTasks())
    return done, total


@contextlib.contextmanager
def spark_tasks_progress(spark_or_sc: Any, description: str) -> Iterator[None]:
    """Show the progress of the Spark jobs this thread runs inside the block."""
    sc = getattr(spark_or_sc, "sparkContext", spark_or_sc)
    if not progress_enabled() or getattr(sc, "_jsc", None) is None:
        yield
        return
    tag = f"rddml-progress-{uuid.uuid4().hex[:12]}"
    sc.addJobTag(tag)
    stop = threading.Event()
    try:
        with progress_bar(description, None, "task") as bar:
            poller = threading.Thread(target=_poll, args=(sc, tag, bar, stop), daemon=True,
                                      name="rddml-progress")
            poller.start()
            try:
                yield
            finally:
                stop.set()
                poller.join()
    finally:
        sc.removeJobTag(tag)


def _poll(sc: Any, tag: str, bar: Bar, stop: threading.Event) -> None:
    while not stop.wait(POLL_SECONDS):
        try:
            done, total = task_counts(sc, tag)
        except Exception:  # the session is stopping: the bar simply stops moving
            return
        if total:
            bar.update_to(done, total)
