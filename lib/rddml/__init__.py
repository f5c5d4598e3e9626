"""rddml: distributed k-means and logistic regression on Apache Spark.

Importing rddml never starts Spark: estimators receive RDDs, DataFrames or
:class:`~rddml.engine.blocks.BlockDataset` objects built from a session you own.
"""

from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING, Any

from rddml._version import __version__

if TYPE_CHECKING:
    from rddml.cluster.kmeans import KMeans
    from rddml.engine.blocks import BlockDataset
    from rddml.engine.sources.libsvm import read_libsvm
    from rddml.engine.sources.parquet import read_parquet
    from rddml.engine.sources.synthetic import make_blobs, make_classification
    from rddml.engine.sources.text import read_labeled_text, read_points_csv
    from rddml.linear.logistic import LogisticRegression

__all__ = ["BlockDataset", "KMeans", "LogisticRegression", "__version__", "make_blobs",
           "make_classification", "read_labeled_text", "read_libsvm", "read_parquet",
           "read_points_csv"]

# The public classes load on first use, not on ``import rddml``: Spark's worker daemon
# (rddml._daemon) imports the package before it forks its workers, and NumPy must not be
# loaded (its BLAS starts threads) before a fork.
_LAZY = {
    "KMeans": "rddml.cluster.kmeans",
    "BlockDataset": "rddml.engine.blocks",
    "LogisticRegression": "rddml.linear.logistic",
    "read_parquet": "rddml.engine.sources.parquet",
    "read_libsvm": "rddml.engine.sources.libsvm",
    "read_points_csv": "rddml.engine.sources.text",
    "read_labeled_text": "rddml.engine.sources.text",
    "make_blobs": "rddml.engine.sources.synthetic",
    "make_classification": "rddml.engine.sources.synthetic",
}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        value = getattr(import_module(_LAZY[name]), name)
        globals()[name] = value  # later lookups skip this function
        return value
    raise AttributeError(f"module 'rddml' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted([*globals(), *_LAZY])
