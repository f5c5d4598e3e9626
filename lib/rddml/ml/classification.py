"""``pyspark.ml``-compatible logistic regression (binary and multinomial) fitted by rddml.

:class:`LogisticRegression` is a real ``pyspark.ml.Estimator`` (Pipeline, CrossValidator,
TrainValidationSplit, ``copy``, ``explainParams``, persistence); its ``fit`` runs
:class:`rddml.LogisticRegression` (RDD backend on a classic session, DataFrame backend
under Spark Connect) and returns a :class:`LogisticRegressionModel` that writes the columns
pyspark.ml's does: ``rawPrediction`` = [−z, z], ``probability`` = [1 − p, p] (vectors) and
``prediction`` (double, 1.0 when p > threshold); for a multinomial model (``family``
``"multinomial"``, or ``"auto"`` with labels 0 .. K-1, K > 2) ``rawPrediction`` = the K
margins, ``probability`` = their softmax and ``prediction`` = the most probable class.

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
from rddml.ml._sparse import binary_scores_column, multinomial_scores_column, reads_sparse

if TYPE_CHECKING:
    from pyspark.sql import DataFrame

FAMILIES = ("auto", "binomial", "multinomial")

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
    """Logistic regression (binary or multinomial) with pyspark.ml's Params, fitted by rddml.

    The objective is Spark MLlib's (mean weighted log loss + ``regParam`` ×
    (``elasticNetParam``·|w|₁ + (1 − ``elasticNetParam``)/2·|w|²), intercept unpenalised,
    penalty on standardised coefficients when ``standardization``), so with the same data
    and a tight ``tol`` the coefficients equal pyspark.ml's. rddml's own settings
    (``optimizer``, ``stepSize``, ``batchFraction``, ``classWeight``, ``backend``) are
    Params too. ``family`` is MLlib's: ``"auto"`` fits the softmax over K classes when the
    labels are 0 .. K-1 with K > 2.
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
        seed: int | None = None, backend: str = "auto", kernels: str | None = None,
        float32Inputs: bool = False,
    ) -> None:
        super().__init__()
        self._set(**self._input_kwargs)

    def _rddml_names(self) -> dict[str, str]:
        return RDDML_NAMES

    def _rddml_estimator(self) -> Any:
        from rddml import LogisticRegression as RddmlLogisticRegression

        family = self.getOrDefault("family")
        if family not in FAMILIES:
            raise InvalidParameterError(
                "rddml.ml.LogisticRegression: the 'family' Param must be one of 'auto', "
                f"'binomial', 'multinomial', got {family!r}.")
        return RddmlLogisticRegression(
            family=family,
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
            **self.rddml_precision(),
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
            "batchFraction": fitted.batch_fraction, "family": fitted.family})

    # ------------------------------------------------------------ attributes
    @property
    def _multinomial(self) -> bool:
        return bool(np.ndim(self.rddmlModel.coef_) == 2)

    @property
    def coefficients(self) -> DenseVector:
        """Coefficients in the original feature units (binomial models; a multinomial one
        has :attr:`coefficientMatrix`, as in pyspark.ml)."""
        if self._multinomial:
            raise InvalidParameterError(
                "Multinomial models contain a matrix of coefficients, use coefficientMatrix "
                "instead.")
        return DenseVector(np.asarray(self.rddmlModel.coef_, dtype=np.float64))

    @property
    def intercept(self) -> float:
        """The intercept (0.0 when ``fitIntercept`` was False; binomial models, a
        multinomial one has :attr:`interceptVector`)."""
        if self._multinomial:
            raise InvalidParameterError(
                "Multinomial models contain a vector of intercepts, use interceptVector "
                "instead.")
        return float(self.rddmlModel.intercept_)

    @property
    def coefficientMatrix(self) -> DenseMatrix:
        """The coefficients as a numClasses × numFeatures matrix (1 × numFeatures for a
        binomial model, pyspark.ml's form)."""
        coef = np.atleast_2d(np.asarray(self.rddmlModel.coef_, dtype=np.float64))
        return DenseMatrix(coef.shape[0], coef.shape[1], coef.ravel().tolist(),
                           isTransposed=True)

    @property
    def interceptVector(self) -> DenseVector:
        """The intercepts, one per class (length 1 for a binomial model)."""
        return DenseVector(np.atleast_1d(np.asarray(self.rddmlModel.intercept_,
                                                    dtype=np.float64)))

    @property
    def numFeatures(self) -> int:
        """Number of features the model was fitted on."""
        return int(np.asarray(self.rddmlModel.coef_).shape[-1])

    @property
    def numClasses(self) -> int:
        """2 for a binomial model, K for a multinomial one."""
        return int(np.asarray(self.rddmlModel.coef_).shape[0]) if self._multinomial else 2

    @property
    def summary(self) -> LogisticRegressionTrainingSummary:
        """Training summary: ``objectiveHistory``, ``totalIterations``, ``converged``."""
        return LogisticRegressionTrainingSummary(self.rddmlModel)

    def predictRaw(self, value: Vector) -> DenseVector:
        """[−z, z] for one feature vector (multinomial: the K margins)."""
        if self._multinomial:
            coef = np.asarray(self.rddmlModel.coef_, dtype=np.float64)
            return DenseVector(coef @ value.toArray() + np.asarray(self.rddmlModel.intercept_))
        z = float(np.dot(self.coefficients.toArray(), value.toArray())) + self.intercept
        return DenseVector([-z, z])

    def predictProbability(self, value: Vector) -> DenseVector:
        """[1 − p, p] for one feature vector (multinomial: the K class probabilities)."""
        from rddml.linear.kernels import sigmoid
        from rddml.linear.softmax import softmax_rows

        if self._multinomial:
            return DenseVector(softmax_rows(self.predictRaw(value).toArray()[None, :])[0])
        p = float(sigmoid(np.asarray([self.predictRaw(value)[1]]))[0])
        return DenseVector([1.0 - p, p])

    def predict(self, value: Vector) -> float:
        """0.0 or 1.0 for one feature vector (1.0 when p > threshold); multinomial: the
        most probable class."""
        if self._multinomial:
            return float(np.argmax(self.predictRaw(value).toArray()))
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
        if self._multinomial:
            return self._transform_multinomial(dataset, raw_col, prob_col, pred_col)
        coef = np.asarray(self.rddmlModel.coef_, dtype=np.float64)
        intercept = float(self.rddmlModel.intercept_)
        threshold = float(self.getOrDefault("threshold"))
        d = coef.shape[0]
        features_col = self.getOrDefault("featuresCol")
        tmp = "__rddml_scores"
        if reads_sparse(dataset, features_col):  # scored from the vectors' non-zeros
            scored = dataset.withColumn(tmp, binary_scores_column(features_col, coef, intercept))
        else:
            features = features_expression(dataset, features_col, None)

            def score(col: pd.Series) -> pd.DataFrame:
                z = feature_matrix(col, d) @ coef + intercept
                return pd.DataFrame({"z": z, "p": np.asarray(sigmoid(z), dtype=np.float64)})

            udf = series_udf(score, pd.DataFrame, "z double, p double")
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

    def _transform_multinomial(self, dataset: DataFrame, raw_col: str | None,
                               prob_col: str | None, pred_col: str | None) -> DataFrame:
        """The K-class columns: margins, softmax probabilities (vectors), argmax class."""
        import pandas as pd
        from pyspark.ml.functions import array_to_vector
        from pyspark.sql import functions as F

        from rddml.engine.columns import features_expression
        from rddml.linear.softmax import softmax_rows
        from rddml.ml._base import feature_matrix, series_udf

        coef = np.asarray(self.rddmlModel.coef_, dtype=np.float64)
        intercept = np.asarray(self.rddmlModel.intercept_, dtype=np.float64)
        d = coef.shape[1]
        features_col = self.getOrDefault("featuresCol")
        tmp = "__rddml_scores"
        if reads_sparse(dataset, features_col):  # scored from the vectors' non-zeros
            scored = dataset.withColumn(
                tmp, multinomial_scores_column(features_col, coef, intercept))
        else:
            features = features_expression(dataset, features_col, None)

            def score(col: pd.Series) -> pd.DataFrame:
                Z = feature_matrix(col, d) @ coef.T + intercept
                P = softmax_rows(Z) if len(Z) else Z
                return pd.DataFrame({"z": list(Z), "p": list(P),
                                     "k": np.argmax(Z, axis=1).astype(np.float64)})

            udf = series_udf(score, pd.DataFrame, "z array<double>, p array<double>, k double")
            scored = dataset.withColumn(tmp, udf(features))
        columns = []
        if raw_col:
            columns.append(array_to_vector(F.col(f"{tmp}.z")).alias(raw_col))
        if prob_col:
            columns.append(array_to_vector(F.col(f"{tmp}.p")).alias(prob_col))
        if pred_col:
            columns.append(F.col(f"{tmp}.k").alias(pred_col))
        return scored.select("*", *columns).drop(tmp)

    def __repr__(self) -> str:
        if self._rddml is None:
            return f"LogisticRegressionModel: uid={self.uid}, not fitted"
        return (f"LogisticRegressionModel: uid={self.uid}, numClasses={self.numClasses}, "
                f"numFeatures={self.numFeatures}")


add_setters(LogisticRegressionModel,
            ["featuresCol", "predictionCol", "probabilityCol", "rawPredictionCol", "threshold"])
LogisticRegression._model_class = LogisticRegressionModel
