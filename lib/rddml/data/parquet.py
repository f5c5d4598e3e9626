"""Deprecated import path of the Parquet reader: use ``from rddml import read_parquet``
(or :mod:`rddml.engine.sources.parquet`)."""

from __future__ import annotations

from rddml._moved import warn_moved

warn_moved("rddml.data.parquet", "rddml (read_parquet)")

from rddml.engine.sources.parquet import read_parquet, regroup  # noqa: E402

__all__ = ["read_parquet", "regroup"]
