"""Deprecated import path of the Parquet reader: ``from rddml import read_parquet``."""

from rddml._moved import PARQUET, moved

__getattr__, __dir__ = moved("rddml.data.parquet", PARQUET)
