"""MLflow tracking of fits: the public import path of :mod:`rddml.io.tracking`.

>>> from rddml import tracking
>>> tracking.enable(experiment="/Shared/rddml")  # doctest: +SKIP
"""

from __future__ import annotations

from rddml.io.tracking import disable, enable, enabled, is_enabled, log_fit

__all__ = ["disable", "enable", "enabled", "is_enabled", "log_fit"]
