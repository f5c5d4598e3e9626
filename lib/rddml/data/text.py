"""Deprecated import path of the text readers: use ``from rddml import read_points_csv,
read_labeled_text`` (or :mod:`rddml.engine.sources.text`, :mod:`rddml.data.text_format`)."""

from __future__ import annotations

from rddml._moved import warn_moved

warn_moved("rddml.data.text", "rddml (read_points_csv, read_labeled_text)")

from rddml.data.text_format import (  # noqa: E402
    CHUNK_BYTES,
    CHUNK_LINES,
    TextSplit,
    display_path,
    hadoop_splits,
    split_chunks,
)
from rddml.engine.sources.text import (  # noqa: E402
    ON_BAD_ROWS,
    READERS,
    parse_text_partition,
    read_labeled_text,
    read_points_csv,
    read_text_blocks,
    spark_context,
)

__all__ = ["CHUNK_BYTES", "CHUNK_LINES", "ON_BAD_ROWS", "READERS", "TextSplit", "display_path",
           "hadoop_splits", "parse_text_partition", "read_labeled_text", "read_points_csv",
           "read_text_blocks", "spark_context", "split_chunks"]
