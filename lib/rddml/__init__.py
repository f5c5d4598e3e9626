"""rddml: distributed k-means and logistic regression on Apache Spark.

Importing rddml never starts Spark: estimators receive RDDs, DataFrames or
:class:`~rddml.engine.blocks.BlockDataset` objects built from a session you own.
"""

from __future__ import annotations

from rddml._version import __version__
from rddml.cluster.kmeans import KMeans
from rddml.engine.blocks import BlockDataset
from rddml.linear.logistic import LogisticRegression

__all__ = ["BlockDataset", "KMeans", "LogisticRegression", "__version__"]
