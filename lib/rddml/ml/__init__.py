"""A drop-in for ``pyspark.ml``: rddml's estimators as ``pyspark.ml`` stages.

``from rddml.ml import LogisticRegression`` in place of
``from pyspark.ml.classification import LogisticRegression`` (and ``KMeans`` in place of
``pyspark.ml.clustering.KMeans``): the same Param names, defaults and output columns, so
Pipeline, CrossValidator, TrainValidationSplit, the evaluators and ``PipelineModel.load``
work unchanged, while the fit runs rddml (RDD backend on a classic session, DataFrame
backend under Spark Connect); models have pyspark.ml's training summaries, ``evaluate``
and (k-means) PMML export. Importing this package imports pyspark. Where rddml.ml
differs from pyspark.ml: docs/pyspark-ml.md.

==========================================  =============================================
class                                        fitted by
==========================================  =============================================
:class:`~rddml.ml.classification.LogisticRegression`  :class:`rddml.LogisticRegression`
:class:`~rddml.ml.clustering.KMeans`                  :class:`rddml.KMeans`
==========================================  =============================================
"""

from __future__ import annotations

from rddml.ml.classification import LogisticRegression, LogisticRegressionModel
from rddml.ml.clustering import KMeans, KMeansModel, KMeansSummary
from rddml.ml.summary import (
    BinaryLogisticRegressionSummary,
    BinaryLogisticRegressionTrainingSummary,
    LogisticRegressionSummary,
    LogisticRegressionTrainingSummary,
)

__all__ = [
    "BinaryLogisticRegressionSummary",
    "BinaryLogisticRegressionTrainingSummary",
    "KMeans",
    "KMeansModel",
    "KMeansSummary",
    "LogisticRegression",
    "LogisticRegressionModel",
    "LogisticRegressionSummary",
    "LogisticRegressionTrainingSummary",
]
