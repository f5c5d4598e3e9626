"""The Params of the :mod:`rddml.ml` stages: :class:`KMeansParams` and
:class:`LogisticRegressionParams` (each shared by an estimator and its model: names, docs,
defaults, ``getX``), and what declaring them takes: :func:`rddml_param`, the ``backend``
Param every stage has, the ``setX`` / ``getX`` accessors pyspark.ml stages have, optional
columns and the fixed default ``seed``.
"""

from __future__ import annotations

import zlib
from collections.abc import Callable
from typing import Any

from pyspark.ml.param import Param, Params, TypeConverters
from pyspark.ml.param.shared import (
    HasAggregationDepth,
    HasCheckpointInterval,
    HasDistanceMeasure,
    HasElasticNetParam,
    HasFeaturesCol,
    HasFitIntercept,
    HasLabelCol,
    HasMaxBlockSizeInMB,
    HasMaxIter,
    HasPredictionCol,
    HasProbabilityCol,
    HasRawPredictionCol,
    HasRegParam,
    HasSeed,
    HasStandardization,
    HasStepSize,
    HasThreshold,
    HasThresholds,
    HasTol,
    HasWeightCol,
)


def stable_seed(name: str) -> int:
    """The default ``seed`` of a stage: a fixed number per class name.

    pyspark.ml's default is ``hash(class name)``, which changes with every Python process
    (string hashing is randomised); rddml's stays the same, so a default fit repeats.
    """
    return zlib.crc32(name.encode()) & 0x7FFFFFFF


def rddml_param(name: str, doc: str, converter: Callable[[Any], Any]) -> Param[Any]:
    """A Param declared on a Params class (pyspark's ``Param(Params._dummy(), ...)``)."""
    return Param(Params._dummy(), name, doc, typeConverter=converter)


class HasBackend(Params):
    """The ``backend`` Param: where rddml runs the passes."""

    backend: Param[str] = rddml_param(
        "backend", "rddml: 'auto' (RDDs on a classic session, DataFrames under Spark Connect), "
        "'rdd' or 'dataframe'", TypeConverters.toString)


class HasKernels(Params):
    """rddml's kernel choice and precision: ``kernels`` (None, 'auto', 'numpy' or 'fused')
    and ``float32Inputs`` (store and multiply the features in float32, as spark-rapids-ml's
    ``float32_inputs``)."""

    kernels: Param[Any] = rddml_param(
        "kernels", "rddml: per-block kernels, None (the driver's RDDML_KERNELS, else 'auto'), "
        "'auto', 'numpy' or 'fused'", TypeConverters.identity)
    float32Inputs: Param[bool] = rddml_param(
        "float32Inputs", "rddml: store and multiply the features in float32 (sums stay "
        "float64); False: float64", TypeConverters.toBoolean)

    def rddml_precision(self) -> dict[str, Any]:
        """The rddml estimator's ``kernels`` and ``dtype`` arguments."""
        return {"kernels": self.getOrDefault("kernels"),
                "dtype": "float32" if self.getOrDefault("float32Inputs") else "float64"}


def add_setters(cls: type[Params], names: list[str]) -> None:
    """``setX(value)`` for every Param ``x`` in ``names`` (as pyspark.ml stages have)."""
    for name in names:
        def setter(self: Params, value: Any, _name: str = name) -> Params:
            return self._set(**{_name: value})

        setter.__name__ = "set" + name[0].upper() + name[1:]
        setter.__doc__ = f"Sets the value of :py:attr:`{name}`."
        if not hasattr(cls, setter.__name__):
            setattr(cls, setter.__name__, setter)


def add_getters(cls: type[Params], names: list[str]) -> None:
    """``getX()`` for every Param ``x`` in ``names`` that no pyspark mixin defines."""
    for name in names:
        def getter(self: Params, _name: str = name) -> Any:
            return self.getOrDefault(_name)

        getter.__name__ = "get" + name[0].upper() + name[1:]
        getter.__doc__ = f"Gets the value of :py:attr:`{name}` or its default value."
        if not hasattr(cls, getter.__name__):
            setattr(cls, getter.__name__, getter)


def optional_col(params: Params, name: str) -> str | None:
    """A column Param's value, or None when it is unset or empty (pyspark's convention
    for ``weightCol``, and for output columns: an empty name means "do not write it")."""
    if not params.isDefined(name):
        return None
    value = params.getOrDefault(name)
    return value or None


# ------------------------------------------------------------------ k-means
#: The number of k-means|| rounds rddml runs (Spark MLlib's default ``initSteps``).
INIT_STEPS = 2


#: KMeans ``solver`` values pyspark.ml accepts (rddml computes on NumPy blocks for all).
KMEANS_SOLVERS = ("auto", "row", "block")


class KMeansParams(HasFeaturesCol, HasPredictionCol, HasWeightCol, HasMaxIter, HasTol,
                   HasSeed, HasDistanceMeasure, HasCheckpointInterval, HasMaxBlockSizeInMB,
                   HasBackend, HasKernels):
    """Params of :class:`~rddml.ml.KMeans` and :class:`~rddml.ml.KMeansModel`."""

    k: Param[int] = rddml_param("k", "The number of clusters to create (>= 1).",
                                TypeConverters.toInt)
    initMode: Param[str] = rddml_param(
        "initMode", "The initialization algorithm: 'k-means||' (Bahmani et al.), 'random' "
        "(k distinct points) or rddml's 'k-means++'", TypeConverters.toString)
    initSteps: Param[int] = rddml_param(
        "initSteps", "The number of steps for k-means|| initialization mode (rddml runs 2).",
        TypeConverters.toInt)
    initialCenters: Param[Any] = rddml_param(
        "initialCenters", "rddml: explicit initial centres, a list of k lists of d numbers "
        "(replaces initMode)", TypeConverters.identity)
    emptyCluster: Param[str] = rddml_param(
        "emptyCluster", "rddml: what an empty cluster does: 'farthest' (re-seed it on the "
        "farthest point), 'keep' (Spark MLlib's behaviour) or 'error'", TypeConverters.toString)
    aggregation: Param[str] = rddml_param(
        "aggregation", "rddml: how partition partials combine: 'tree' or 'reduceByKey' (same "
        "centres)", TypeConverters.toString)
    checkpointDir: Param[str] = rddml_param(
        "checkpointDir", "rddml: driver-side directory where the fit saves its state and "
        "resumes from", TypeConverters.identity)
    solver: Param[str] = rddml_param(
        "solver", "The solver algorithm for optimization. Supported options: auto, row, "
        "block (accepted for pyspark.ml compatibility: rddml always computes on NumPy "
        "blocks)", TypeConverters.toString)

    def __init__(self, *args: Any) -> None:
        super().__init__(*args)
        self._setDefault(
            k=2, initMode="k-means||", initSteps=INIT_STEPS, maxIter=20, tol=1e-4,
            distanceMeasure="euclidean", initialCenters=None, emptyCluster="farthest",
            aggregation="tree", checkpointDir=None, checkpointInterval=10, backend="auto",
            kernels=None, float32Inputs=False, seed=stable_seed("rddml.ml.KMeans"),
            solver="auto", maxBlockSizeInMB=0.0,
        )


KMEANS_PARAMS = [
    "featuresCol", "predictionCol", "weightCol", "k", "initMode", "initSteps", "maxIter",
    "tol", "seed", "distanceMeasure", "initialCenters", "emptyCluster", "aggregation",
    "checkpointDir", "checkpointInterval", "backend", "kernels", "float32Inputs", "solver",
    "maxBlockSizeInMB",
]
add_getters(KMeansParams, KMEANS_PARAMS)


# ------------------------------------------------------- logistic regression
class LogisticRegressionParams(
    HasFeaturesCol, HasLabelCol, HasPredictionCol, HasProbabilityCol, HasRawPredictionCol,
    HasWeightCol, HasMaxIter, HasTol, HasRegParam, HasElasticNetParam, HasStandardization,
    HasFitIntercept, HasThreshold, HasThresholds, HasAggregationDepth, HasMaxBlockSizeInMB,
    HasStepSize, HasSeed, HasBackend, HasKernels,
):
    """Params of :class:`~rddml.ml.LogisticRegression` and
    :class:`~rddml.ml.LogisticRegressionModel`, with pyspark.ml's ``threshold`` /
    ``thresholds`` accessors (setting one clears the other; a 2-long ``thresholds`` is the
    binary ``threshold`` 1 / (1 + t₀/t₁))."""

    lowerBoundsOnCoefficients: Param[Any] = rddml_param(
        "lowerBoundsOnCoefficients", "The lower bounds on coefficients if fitting under bound "
        "constrained optimization. The bound matrix must be compatible with the shape (1, "
        "number of features) for binomial regression, or (number of classes, number of "
        "features) for multinomial regression.", TypeConverters.toMatrix)
    upperBoundsOnCoefficients: Param[Any] = rddml_param(
        "upperBoundsOnCoefficients", "The upper bounds on coefficients if fitting under bound "
        "constrained optimization. The bound matrix must be compatible with the shape (1, "
        "number of features) for binomial regression, or (number of classes, number of "
        "features) for multinomial regression.", TypeConverters.toMatrix)
    lowerBoundsOnIntercepts: Param[Any] = rddml_param(
        "lowerBoundsOnIntercepts", "The lower bounds on intercepts if fitting under bound "
        "constrained optimization. The bounds vector size must be equal with 1 for binomial "
        "regression, or the number of classes for multinomial regression.",
        TypeConverters.toVector)
    upperBoundsOnIntercepts: Param[Any] = rddml_param(
        "upperBoundsOnIntercepts", "The upper bounds on intercepts if fitting under bound "
        "constrained optimization. The bound vector size must be equal with 1 for binomial "
        "regression, or the number of classes for multinomial regression.",
        TypeConverters.toVector)

    family: Param[str] = rddml_param(
        "family", "label distribution: 'auto' (binomial for labels 0/1, else multinomial), "
        "'binomial' or 'multinomial' (labels 0 .. K-1)", TypeConverters.toString)
    optimizer: Param[str] = rddml_param(
        "optimizer", "rddml: 'lbfgs' (L-BFGS, OWL-QN with an L1 term; Spark MLlib's choice), "
        "'gd' (fixed-step gradient descent) or 'sgd' (mini-batches)", TypeConverters.toString)
    batchFraction: Param[float] = rddml_param(
        "batchFraction", "rddml: fraction of the rows in each 'sgd' mini-batch, in (0, 1]",
        TypeConverters.toFloat)
    classWeight: Param[Any] = rddml_param(
        "classWeight", "rddml: None, 'balanced' or {class: weight}; multiplies the row weights",
        TypeConverters.identity)

    def __init__(self, *args: Any) -> None:
        super().__init__(*args)
        self._setDefault(
            maxIter=100, tol=1e-6, regParam=0.0, elasticNetParam=0.0, standardization=True,
            fitIntercept=True, threshold=0.5, family="auto", optimizer="lbfgs", stepSize=1.0,
            batchFraction=1.0, classWeight=None, backend="auto", kernels=None,
            float32Inputs=False, aggregationDepth=2, maxBlockSizeInMB=0.0,
            seed=stable_seed("rddml.ml.LogisticRegression"),
        )

    def setThreshold(self, value: float) -> Any:
        """Sets the value of :py:attr:`threshold` and clears :py:attr:`thresholds`."""
        self._set(threshold=value)
        self.clear(self.thresholds)
        return self

    def getThreshold(self) -> float:
        """The binary threshold: from a 2-long :py:attr:`thresholds` when that is set
        (1 / (1 + t₀/t₁)), else :py:attr:`threshold` or its default."""
        self._checkThresholdConsistency()
        if self.isSet(self.thresholds):
            ts = self.getOrDefault(self.thresholds)
            if len(ts) != 2:
                raise ValueError(
                    "Logistic Regression getThreshold only applies to binary classification, "
                    f"but thresholds has length != 2.  thresholds: {ts}")
            return 1.0 / (1.0 + ts[0] / ts[1])
        return float(self.getOrDefault(self.threshold))

    def setThresholds(self, value: list[float]) -> Any:
        """Sets the value of :py:attr:`thresholds` and clears :py:attr:`threshold`."""
        self._set(thresholds=value)
        self.clear(self.threshold)
        return self

    def getThresholds(self) -> list[float]:
        """:py:attr:`thresholds` when set; else, when :py:attr:`threshold` is set,
        ``[1 - threshold, threshold]``; else an error, as pyspark.ml."""
        self._checkThresholdConsistency()
        if not self.isSet(self.thresholds) and self.isSet(self.threshold):
            t = self.getOrDefault(self.threshold)
            return [1.0 - t, t]
        return list(self.getOrDefault("thresholds"))

    def _checkThresholdConsistency(self) -> None:
        if self.isSet(self.threshold) and self.isSet(self.thresholds):
            ts = self.getOrDefault(self.thresholds)
            if len(ts) != 2:
                raise ValueError(
                    "Logistic Regression getThreshold only applies to binary classification, "
                    f"but thresholds has length != 2. thresholds: {ts}")
            t = 1.0 / (1.0 + ts[0] / ts[1])
            t2 = self.getOrDefault(self.threshold)
            if abs(t2 - t) >= 1e-5:
                raise ValueError(
                    "Logistic Regression getThreshold found inconsistent values for threshold "
                    f"({t2:g}) and thresholds (equivalent to {t:g})")


LOGISTIC_REGRESSION_PARAMS = [
    "featuresCol", "labelCol", "predictionCol", "probabilityCol", "rawPredictionCol",
    "weightCol", "maxIter", "tol", "regParam", "elasticNetParam", "standardization",
    "fitIntercept", "threshold", "thresholds", "stepSize", "seed", "family", "optimizer",
    "batchFraction", "classWeight", "backend", "kernels", "float32Inputs", "aggregationDepth",
    "maxBlockSizeInMB", "lowerBoundsOnCoefficients", "upperBoundsOnCoefficients",
    "lowerBoundsOnIntercepts", "upperBoundsOnIntercepts",
]
add_getters(LogisticRegressionParams, LOGISTIC_REGRESSION_PARAMS)
