"""Deprecated import path of the distributed generators: use ``from rddml import
make_blobs, make_classification`` (or :mod:`rddml.engine.sources.synthetic`)."""

from __future__ import annotations

from rddml._moved import warn_moved

warn_moved("rddml.datasets", "rddml (make_blobs, make_classification)")

from rddml.engine.sources.synthetic import (  # noqa: E402
    SyntheticData,
    chunk_record_batch,
    make_blobs,
    make_classification,
)

__all__ = ["SyntheticData", "chunk_record_batch", "make_blobs", "make_classification"]
