"""Old import paths that still work: each name warns once used, then comes from its new home.

A deprecated module is a stub: ``__getattr__, __dir__ = moved(__name__, NAMES)``. Looking
a name up (``from rddml.csv_input import read_points_csv``, or ``csv_input.read_points_csv``)
warns with ``FutureWarning``, shown by default and pointing at the caller's line, and
returns the object from the module that now holds it. Nothing is loaded before a name is
used.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable
from importlib import import_module
from typing import Any

_TEXT = "rddml.engine.sources.text"
_FORMAT = "rddml.data.text_format"
_SYNTHETIC = "rddml.engine.sources.synthetic"

#: The text readers' old home (``rddml.csv_input``, ``rddml.data.text``): name → new module.
TEXT_READERS = {
    "read_points_csv": _TEXT, "read_labeled_text": _TEXT, "read_text_blocks": _TEXT,
    "parse_text_partition": _TEXT, "spark_context": _TEXT, "ON_BAD_ROWS": _TEXT,
    "READERS": _TEXT, "CHUNK_BYTES": _FORMAT, "CHUNK_LINES": _FORMAT, "TextSplit": _FORMAT,
    "display_path": _FORMAT, "hadoop_splits": _FORMAT, "split_chunks": _FORMAT,
}
#: The distributed generators' old home (``rddml.datasets``, ``rddml.data.datasets``).
GENERATORS = {name: _SYNTHETIC for name in
              ("make_blobs", "make_classification", "SyntheticData", "chunk_record_batch")}
#: The Parquet reader's old home (``rddml.data.parquet``).
PARQUET = {name: "rddml.engine.sources.parquet" for name in ("read_parquet", "regroup")}

#: Where to look instead, as the warning says it.
_PUBLIC = {"read_points_csv": "rddml", "read_labeled_text": "rddml", "read_parquet": "rddml",
           "make_blobs": "rddml", "make_classification": "rddml"}


def moved(old: str, names: dict[str, str]) -> tuple[Callable[[str], Any], Callable[[], list[str]]]:
    """``(__getattr__, __dir__)`` for the deprecated module ``old`` whose ``names`` moved."""

    def __getattr__(name: str) -> Any:
        if name not in names:
            raise AttributeError(f"module {old!r} has no attribute {name!r}")
        new = _PUBLIC.get(name, names[name])
        warnings.warn(
            f"Importing {name!r} from '{old}' is deprecated and will stop working in a "
            f"future release of rddml; import it from '{new}' instead.",
            FutureWarning,
            stacklevel=2,
        )
        return getattr(import_module(names[name]), name)

    def __dir__() -> list[str]:
        return sorted(names)

    return __getattr__, __dir__
