"""Deprecated import path of the text readers: ``from rddml import read_points_csv, read_labeled_text``."""

from rddml._moved import TEXT_READERS, moved

__getattr__, __dir__ = moved("rddml.csv_input", TEXT_READERS)
