"""Progress bars for long fits and conversions: shown in notebooks and terminals only.

A bar appears when a fit or a conversion has run for :data:`DELAY_SECONDS` (short ones
stay silent) and only where someone watches: an IPython or Databricks notebook, or a
terminal on standard error. Batch jobs, CI and redirected logs get none; their record
is the log (one INFO line per fit, the per-iteration detail at DEBUG).

The choice can be forced either way with :func:`show_progress` or the ``RDDML_PROGRESS``
environment variable (``1``/``0``). Bars are drawn by `tqdm <https://tqdm.github.io>`_
(its notebook widget where one is available); without tqdm there are none.

Examples
--------
>>> import rddml.progress
>>> rddml.progress.show_progress(False)   # never draw bars in this process
>>> rddml.progress.show_progress(None)    # back to: only where someone watches
"""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

#: A bar appears only once its task has run this long.
DELAY_SECONDS = 2.0
#: tqdm's least interval between two redraws, seconds.
MIN_INTERVAL = 0.1

_forced: bool | None = None


def show_progress(enabled: bool | None) -> None:
    """Draw progress bars always (True), never (False), or where someone watches (None,
    the default: a notebook, or a terminal on standard error)."""
    global _forced
    if enabled is not None and not isinstance(enabled, bool):
        raise TypeError(f"show_progress takes True, False or None, got {enabled!r}")
    _forced = enabled


def progress_enabled() -> bool:
    """Whether bars are drawn now (see :func:`show_progress`)."""
    if _forced is not None:
        return _forced
    env = os.environ.get("RDDML_PROGRESS", "").strip().lower()
    if env in ("0", "false", "off", "no"):
        return False
    if env in ("1", "true", "on", "yes"):
        return True
    return _watched()


def _watched() -> bool:
    if "DATABRICKS_RUNTIME_VERSION" in os.environ or "ipykernel" in sys.modules:
        return True
    stream = sys.stderr
    return bool(stream is not None and hasattr(stream, "isatty") and stream.isatty())


class Bar:
    """One progress bar (or nothing, when bars are off): move it with :meth:`update_to`."""

    def __init__(self, bar: Any = None) -> None:
        self._bar = bar

    def update_to(self, done: int, total: int | None = None, **postfix: Any) -> None:
        """Show ``done`` of ``total`` (the total may change, e.g. when tasks are retried)
        and ``postfix`` values (cost, objective) beside the bar."""
        if self._bar is None:
            return
        if total is not None and total != self._bar.total:
            self._bar.total = total
        if postfix:
            self._bar.set_postfix(postfix, refresh=False)
        self._bar.update(done - self._bar.n)

    def close(self) -> None:
        if self._bar is not None:
            self._bar.close()


@contextmanager
def progress_bar(description: str, total: int | None, unit: str, initial: int = 0
                 ) -> Iterator[Bar]:
    """A :class:`Bar` for the duration of the block (an inert one when bars are off)."""
    bar = Bar(_tqdm(description, total, unit, initial) if progress_enabled() else None)
    try:
        yield bar
    finally:
        bar.close()


def _tqdm(description: str, total: int | None, unit: str, initial: int) -> Any:
    try:
        from tqdm.auto import tqdm
    except ImportError:  # an environment without tqdm: no bars
        return None
    return tqdm(total=total, desc=description, unit=unit, initial=initial,
                delay=DELAY_SECONDS, mininterval=MIN_INTERVAL, leave=False, file=sys.stderr,
                dynamic_ncols=True)
