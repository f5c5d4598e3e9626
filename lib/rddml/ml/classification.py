"""``pyspark.ml``-compatible binary logistic regression fitted by rddml.

:class:`LogisticRegression` is a real ``pyspark.ml.Estimator`` (Pipeline, CrossValidator,
TrainValidationSplit, ``copy``, ``explainParams``, persistence); its ``fit`` runs
:class:`rddml.LogisticRegression` (RDD backend on a classic session, DataFrame backend
under Spark Connect) and returns a :class:`LogisticRegressionModel` that writes the columns
pyspark.ml's does: ``rawPrediction`` = [−z, z], ``probability`` = [1 − p, p] (vectors) and
``prediction`` (double, 1.0 when p > threshold).

Examples
--------
>>> from rddml.ml import LogisticRegression
>>> lr = LogisticRegression(regParam=0.01, elasticNetParam=0.5)
>>> lr.getRegParam(), lr.getMaxIter(), lr.getOptimizer()
(0.01, 100, 'lbfgs')
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np
from pyspark import keyword_only
from pyspark.ml.linalg import DenseMatrix, DenseVector, Vector

from rddml.errors import InvalidParameterError
from rddml.ml._base import RddmlEstimator, RddmlModel, RddmlReadable
from rddml.ml._params import (
    LOGISTIC_REGRESSION_PARAMS,
    LogisticRegressionParams,
    add_setters,
    optional_col,
)

if TYPE_CHECKING:
    from pyspark.sql import DataFrame

FAMILIES = ("auto", "binomial")

#: rddml parameter -> pyspark.ml Param, for error messages.
RDDML_NAMES = {
    "step_size": "stepSize", "max_iter": "maxIter", "reg_param": "regParam",
    "l1_ratio": "elasticNetParam", "fit_intercept": "fitIntercept",
    "standardize": "standardization", "batch_fraction": "batchFraction",
    "class_weight": "classWeight", "features_col": "featuresCol", "label_col": "labelCol",
    "weight_col": "weightCol",
}


class LogisticRegression(RddmlEstimator["LogisticRegressionModel"], LogisticRegressionParams,
                         RddmlReadable["LogisticRegression"]):
    """Binary logistic regression with pyspark.ml's Params, fitted by rddml.

    The objective is Spark MLlib's (mean weighted log loss + ``regParam`` ×
    (``elasticNetParam``·|w|₁ + (1 − ``elasticNetParam``)/2·|w|²), intercept unpenalised,
    penalty on standardised coefficients when ``standardization``), so with the same data
    and a tight ``tol`` the coefficients equal pyspark.ml's. rddml's own settings
    (``optimizer``, ``stepSize``, ``batchFraction``, ``classWeight``, ``backend``) are
    Params too. ``family="multinomial"`` is not supported yet (binary labels 0/1 only).
    """

    @keyword_only
    def __init__(
        self, *, featuresCol: str = "features", labelCol: str = "label",
        predictionCol: str = "prediction", probabilityCol: str = "probability",
        rawPredictionCol: str = "rawPrediction", weightCol: str | None = None,
        maxIter: int = 100, tol: float = 1e-6, regParam: float = 0.0,
        elasticNetParam: float = 0.0, standardization: bool = True, fitIntercept: bool = True,
        threshold: float = 0.5, family: str = "auto", optimizer: str = "lbfgs",
        stepSize: float = 1.0, batchFraction: float = 1.0, classWeight: Any = None,
        seed: int | None = None, backend: str = "auto",
    ) -> None:
        super().__init__()
        self._set(**self._input_kwargs)

    def _rddml_names(self) -> dict[str, str]:
        return RDDML_NAMES

    def _rddml_estimator(self) -> Any:
        from rddml import LogisticRegression as RddmlLogisticRegression

        family = self.getOrDefault("family")
        if family == "multinomial":
            raise InvalidParameterError(
                "rddml.ml.LogisticRegression: family='multinomial' is not supported yet; rddml "
                "fits binary logistic regression (labels 0 and 1). Use family='auto' or "
                "'binomial', or pyspark.ml.classification.LogisticRegression for more than two "
                "classes.")
        if family not in FAMILIES:
            raise InvalidParameterError(
                f"rddml.ml.LogisticRegression: the 'family' Param must be one of 'auto', "
                f"'binomial' ('multinomial' is not supported yet), got {family!r}.")
        return RddmlLogisticRegression(
            optimizer=self.getOrDefault("optimizer"),
            step_size=self.getOrDefault("stepSize"),
            max_iter=self.getOrDefault("maxIter"),
            tol=self.getOrDefault("tol"),
            reg_param=self.getOrDefault("regParam"),
            l1_ratio=self.getOrDefault("elasticNetParam"),
            fit_intercept=self.getOrDefault("fitIntercept"),
            standardize=self.getOrDefault("standardization"),
            batch_fraction=self.getOrDefault("batchFraction"),
            class_weight=self.getOrDefault("classWeight"),
            threshold=self.getOrDefault("threshold"),
            seed=self.getOrDefault("seed"),
            features_col=self.getOrDefault("featuresCol"),
            label_col=self.getOrDefault("labelCol"),
            weight_col=optional_col(self, "weightCol"),
            backend=self.getOrDefault("backend"),
        )


add_setters(LogisticRegression, LOGISTIC_REGRESSION_PARAMS)


class LogisticRegressionTrainingSummary:
    """What the fit did: ``objectiveHistory`` (the objective at every point the optimiser
    evaluated, one per pass over the data), ``totalIterations`` and ``converged``."""

    def __init__(self, fitted: Any) -> None:
        self.objectiveHistory: list[float] = list(fitted.loss_history_)
        self.totalIterations: int = int(fitted.n_iter_)
        self.converged: bool = bool(fitted.converged_)


class LogisticRegressionModel(RddmlModel, LogisticRegressionParams,
                              RddmlReadable["LogisticRegressionModel"]):
    """A fitted :class:`LogisticRegression`: pyspark.ml's attributes and output columns."""

    _rddml_kind = "LogisticRegression"

    @classmethod
    def fromRddml(cls, fitted: Any) -> LogisticRegressionModel:
        """Wrap a fitted :class:`rddml.LogisticRegression` as a pyspark.ml Model (e.g. to
        append it to a fitted preprocessing ``PipelineModel``); its column names,
        threshold and training settings become the model's Params."""
        return cls._wrap(fitted, "coef_", {
            "labelCol": fitted.label_col, "threshold": fitted.threshold,
            "regParam": fitted.reg_param, "elasticNetParam": fitted.l1_ratio,
            "fitIntercept": fitted.fit_intercept, "standardization": fitted.standardize,
            "optimizer": fitted.optimizer, "stepSize": fitted.step_size,
            "batchFraction": fitted.batch_fraction})

    # ------------------------------------------------------------ attributes
    @property
    def coefficients(self) -> DenseVector:
        """Coefficients in the original feature units."""
        return DenseVector(np.asarray(self.rddmlModel.coef_, dtype=np.float64))

    @property
    def intercept(self) -> float:
        """The intercept (0.0 when ``fitIntercept`` was False)."""
        return float(self.rddmlModel.intercept_)

    @property
    def coefficientMatrix(self) -> DenseMatrix:
        """The coefficients as a 1 × numFeatures matrix (pyspark.ml's binomial form)."""
        coef = self.coefficients.toArray()
        return DenseMatrix(1, coef.size, coef.tolist(), isTransposed=True)

    @property
    def interceptVector(self) -> DenseVector:
        """The intercept as a vector of length 1."""
        return DenseVector([self.intercept])

    @property
    def numFeatures(self) -> int:
        """Number of features the model was fitted on."""
        return int(np.asarray(self.rddmlModel.coef_).shape[0])

    @property
    def numClasses(self) -> int:
        """Always 2 (binary logistic regression)."""
        return 2

    @property
    def summary(self) -> LogisticRegressionTrainingSummary:
        """Training summary: ``objectiveHistory``, ``totalIterations``, ``converged``."""
        return LogisticRegressionTrainingSummary(self.rddmlModel)

    def predictRaw(self, value: Vector) -> DenseVector:
        """[−z, z] for one feature vector."""
        z = float(np.dot(self.coefficients.toArray(), value.toArray())) + self.intercept
        return DenseVector([-z, z])

    def predictProbability(self, value: Vector) -> DenseVector:
        """[1 − p, p] for one feature vector."""
        from rddml.linear.kernels import sigmoid

        p = float(sigmoid(np.asarray([self.predictRaw(value)[1]]))[0])
        return DenseVector([1.0 - p, p])

    def predict(self, value: Vector) -> float:
        """0.0 or 1.0 for one feature vector (1.0 when p > threshold)."""
        return 1.0 if self.predictProbability(value)[1] > self.getOrDefault("threshold") else 0.0

    # -------------------------------------------------------------- transform
    def _transform(self, dataset: DataFrame) -> DataFrame:
        import pandas as pd
        from pyspark.ml.functions import array_to_vector
        from pyspark.sql import functions as F

        from rddml.engine.columns import features_expression
        from rddml.linear.kernels import sigmoid
        from rddml.ml._base import check_new_columns, feature_matrix, series_udf

        raw_col = optional_col(self, "rawPredictionCol")
        prob_col = optional_col(self, "probabilityCol")
        pred_col = optional_col(self, "predictionCol")
        outputs = [c for c in (raw_col, prob_col, pred_col) if c]
        if not outputs:
            return dataset
        check_new_columns(dataset, outputs, "rddml.ml.LogisticRegressionModel")
        coef = np.asarray(self.rddmlModel.coef_, dtype=np.float64)
        intercept = float(self.rddmlModel.intercept_)
        threshold = float(self.getOrDefault("threshold"))
        d = coef.shape[0]
        features = features_expression(dataset, self.getOrDefault("featuresCol"), None)

        def score(col: pd.Series) -> pd.DataFrame:
            z = feature_matrix(col, d) @ coef + intercept
            return pd.DataFrame({"z": z, "p": np.asarray(sigmoid(z), dtype=np.float64)})

        udf = series_udf(score, pd.DataFrame, "z double, p double")
        tmp = "__rddml_scores"
        scored = dataset.withColumn(tmp, udf(features))
        z, p = F.col(f"{tmp}.z"), F.col(f"{tmp}.p")
        columns = []
        if raw_col:
            columns.append(array_to_vector(F.array(-z, z)).alias(raw_col))
        if prob_col:
            columns.append(array_to_vector(F.array(F.lit(1.0) - p, p)).alias(prob_col))
        if pred_col:
            columns.append(F.when(p > F.lit(threshold), F.lit(1.0)).otherwise(F.lit(0.0))
                           .alias(pred_col))
        return scored.select("*", *columns).drop(tmp)

    def __repr__(self) -> str:
        if self._rddml is None:
            return f"LogisticRegressionModel: uid={self.uid}, not fitted"
        return (f"LogisticRegressionModel: uid={self.uid}, numClasses=2, "
                f"numFeatures={self.numFeatures}")


add_setters(LogisticRegressionModel,
            ["featuresCol", "predictionCol", "probabilityCol", "rawPredictionCol", "threshold"])
LogisticRegression._model_class = LogisticRegressionModel
