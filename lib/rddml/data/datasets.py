"""Deprecated import path of the distributed generators: ``from rddml import make_blobs,
make_classification``."""

from rddml._moved import GENERATORS, moved

__getattr__, __dir__ = moved("rddml.data.datasets", GENERATORS)
