"""Old import paths that still work: each warns once, then re-exports from the new place."""

from __future__ import annotations

import warnings


def warn_moved(old: str, new: str) -> None:
    """Warn (``FutureWarning``, shown by default) that module ``old`` moved to ``new``.

    Called at the top of a deprecated module, so the warning points at the import of it.
    """
    warnings.warn(
        f"Importing '{old}' is deprecated and will stop working in a future release of "
        f"rddml; import from '{new}' instead.",
        FutureWarning,
        stacklevel=3,
    )
