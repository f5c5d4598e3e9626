"""``pyspark.ml``-compatible logistic regression (binary and multinomial) fitted by rddml.

:class:`LogisticRegression` is a real ``pyspark.ml.Estimator`` (Pipeline, CrossValidator,
TrainValidationSplit, ``copy``, ``explainParams``, persistence); its ``fit`` runs
:class:`rddml.LogisticRegression` (RDD backend on a classic session, DataFrame backend
under Spark Connect) and returns a :class:`LogisticRegressionModel` that writes the columns
pyspark.ml's does: ``rawPrediction`` = [−z, z], ``probability`` = [1 − p, p] (vectors) and
``prediction`` (double, 1.0 when p > threshold); for a multinomial model (``family``
``"multinomial"``, or ``"auto"`` with labels 0 .. K-1, K > 2) ``rawPrediction`` = the K
margins, ``probability`` = their softmax and ``prediction`` = the most probable class
(with ``thresholds``: the largest p_k / t_k, as pyspark.ml).

The model's ``summary`` (training DataFrame) and ``evaluate(df)`` are pyspark.ml's
summaries (:mod:`rddml.ml.summary`); bounds on coefficients and intercepts run a
bound-constrained L-BFGS-B fit (:mod:`rddml.linear.bounds`); ``coefficientMatrix`` is
compressed to a sparse matrix where pyspark.ml's is (:func:`compressed_matrix`).

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
from pyspark.ml.linalg import DenseMatrix, DenseVector, Matrix, SparseMatrix, SparseVector, Vector

from rddml.errors import InvalidParameterError
from rddml.ml._base import RddmlEstimator, RddmlModel, RddmlReadable
from rddml.ml._evaluation import Scorer, thresholded_argmax
from rddml.ml._params import (
    LOGISTIC_REGRESSION_PARAMS,
    LogisticRegressionParams,
    add_setters,
    optional_col,
)
from rddml.ml._sparse import binary_scores_column, multinomial_scores_column, reads_sparse
from rddml.ml.summary import (
    BinaryLogisticRegressionSummary,
    BinaryLogisticRegressionTrainingSummary,
    LogisticRegressionSummary,
    LogisticRegressionTrainingSummary,
    new_summary,
)

if TYPE_CHECKING:
    from pyspark.sql import DataFrame

FAMILIES = ("auto", "binomial", "multinomial")

#: rddml parameter -> pyspark.ml Param, for error messages.
RDDML_NAMES = {
    "step_size": "stepSize", "max_iter": "maxIter", "reg_param": "regParam",
    "l1_ratio": "elasticNetParam", "fit_intercept": "fitIntercept",
    "standardize": "standardization", "batch_fraction": "batchFraction",
    "class_weight": "classWeight", "features_col": "featuresCol", "label_col": "labelCol",
    "weight_col": "weightCol", "lower_bounds_coef": "lowerBoundsOnCoefficients",
    "upper_bounds_coef": "upperBoundsOnCoefficients",
    "lower_bounds_intercept": "lowerBoundsOnIntercepts",
    "upper_bounds_intercept": "upperBoundsOnIntercepts",
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
    labels are 0 .. K-1 with K > 2. As MLlib, the fit starts from the class log-odds
    intercepts, ``maxIter=0`` returns that start, and bounds on the coefficients or
    intercepts (original units) make it an L-BFGS-B fit (L2 penalty only).
    ``aggregationDepth`` and ``maxBlockSizeInMB`` are accepted for compatibility: rddml
    chooses its tree depth and block sizes itself.
    """

    @keyword_only
    def __init__(
        self, *, featuresCol: str = "features", labelCol: str = "label",
        predictionCol: str = "prediction", probabilityCol: str = "probability",
        rawPredictionCol: str = "rawPrediction", weightCol: str | None = None,
        maxIter: int = 100, tol: float = 1e-6, regParam: float = 0.0,
        elasticNetParam: float = 0.0, standardization: bool = True, fitIntercept: bool = True,
        threshold: float = 0.5, thresholds: list[float] | None = None, family: str = "auto",
        aggregationDepth: int = 2, lowerBoundsOnCoefficients: Matrix | None = None,
        upperBoundsOnCoefficients: Matrix | None = None,
        lowerBoundsOnIntercepts: Vector | None = None,
        upperBoundsOnIntercepts: Vector | None = None, maxBlockSizeInMB: float = 0.0,
        optimizer: str = "lbfgs", stepSize: float = 1.0, batchFraction: float = 1.0,
        classWeight: Any = None, seed: int | None = None, backend: str = "auto",
        kernels: str | None = None, float32Inputs: bool = False,
    ) -> None:
        super().__init__()
        self._set(**self._input_kwargs)
        self._checkThresholdConsistency()

    @keyword_only
    def setParams(self, **kwargs: Any) -> LogisticRegression:
        """Set Params by keyword (as ``__init__``); returns ``self``."""
        self._set(**self._input_kwargs)
        self._checkThresholdConsistency()
        return self

    def _rddml_names(self) -> dict[str, str]:
        return RDDML_NAMES

    def _rddml_estimator(self) -> Any:
        from rddml import LogisticRegression as RddmlLogisticRegression

        family = self.getOrDefault("family")
        if family not in FAMILIES:
            raise InvalidParameterError(
                "rddml.ml.LogisticRegression: the 'family' Param must be one of 'auto', "
                f"'binomial', 'multinomial', got {family!r}.")
        check_compatibility_params(self)
        thresholds = self.getOrDefault("thresholds") if self.isSet("thresholds") else None
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
            threshold=(self.getThreshold() if thresholds is None or len(thresholds) == 2
                       else 0.5),
            init_intercept="prior",
            lower_bounds_coef=_array_param(self, "lowerBoundsOnCoefficients"),
            upper_bounds_coef=_array_param(self, "upperBoundsOnCoefficients"),
            lower_bounds_intercept=_array_param(self, "lowerBoundsOnIntercepts"),
            upper_bounds_intercept=_array_param(self, "upperBoundsOnIntercepts"),
            seed=self.getOrDefault("seed"),
            features_col=self.getOrDefault("featuresCol"),
            label_col=self.getOrDefault("labelCol"),
            weight_col=optional_col(self, "weightCol"),
            backend=self.getOrDefault("backend"),
            **self.rddml_precision(),
        )


add_setters(LogisticRegression, LOGISTIC_REGRESSION_PARAMS)


def _array_param(params: Any, name: str) -> Any:
    """A Matrix / Vector Param as a NumPy array (None when unset)."""
    if not params.isDefined(name) or params.getOrDefault(name) is None:
        return None
    return params.getOrDefault(name).toArray()


def check_compatibility_params(params: Any) -> None:
    """``aggregationDepth`` (>= 2) and ``maxBlockSizeInMB`` (>= 0) must be what
    pyspark.ml accepts, though rddml does not use them."""
    depth = params.getOrDefault("aggregationDepth")
    if depth < 2:
        raise InvalidParameterError(
            f"rddml.ml.LogisticRegression: the 'aggregationDepth' Param must be >= 2, got "
            f"{depth!r}.")
    size = params.getOrDefault("maxBlockSizeInMB")
    if size < 0:
        raise InvalidParameterError(
            f"rddml.ml.LogisticRegression: the 'maxBlockSizeInMB' Param must be >= 0, got "
            f"{size!r}.")


def compressed_matrix(values: np.ndarray) -> Matrix:
    """A row-major matrix as Spark's ``Matrix.compressed`` stores it: dense when that is
    no larger than the smaller sparse layout, else CSC when it is no larger than CSR,
    else CSR (sizes in bytes as MLlib counts them). ``isTransposed`` is 1 / 0, as the
    matrices pyspark.ml returns from the JVM have it."""
    m, n = values.shape
    nnz = int(np.count_nonzero(values))

    def sparse_size(n_ptrs: int) -> int:
        return 12 * nnz + 4 * n_ptrs + 3 * 12 + 9

    dense_size = 8 * m * n + 12 + 9
    csc, csr = sparse_size(n + 1), sparse_size(m + 1)
    if dense_size <= min(csc, csr):
        return DenseMatrix(m, n, values.ravel().tolist(), isTransposed=1)  # type: ignore[arg-type]
    if csc <= csr:
        col_of, row_of = np.nonzero(values.T)  # in column-major order
        ptrs = np.concatenate([[0], np.cumsum(np.bincount(col_of, minlength=n))])
        return SparseMatrix(m, n, ptrs.tolist(), row_of.tolist(),
                            values[row_of, col_of].tolist(), isTransposed=0)  # type: ignore[arg-type]
    rows, cols = np.nonzero(values)
    ptrs = np.concatenate([[0], np.cumsum(np.bincount(rows, minlength=m))])
    return SparseMatrix(m, n, ptrs.tolist(), cols.tolist(), values[rows, cols].tolist(),
                        isTransposed=1)  # type: ignore[arg-type]


def compressed_vector(values: np.ndarray) -> Vector:
    """Spark's ``Vector.compressed``: sparse when 1.5 · (nnz + 1) < size."""
    nnz = np.flatnonzero(values)
    if 1.5 * (nnz.size + 1.0) < values.size:
        return SparseVector(values.size, nnz.tolist(), values[nnz].tolist())
    return DenseVector(values)


class LogisticRegressionModel(RddmlModel, LogisticRegressionParams,
                              RddmlReadable["LogisticRegressionModel"]):
    """A fitted :class:`LogisticRegression`: pyspark.ml's attributes, output columns,
    ``summary`` (after a fit) and ``evaluate``."""

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
    def coefficients(self) -> Vector:
        """Coefficients in the original feature units (binomial models; a multinomial one
        has :attr:`coefficientMatrix`, as in pyspark.ml): dense, or sparse where
        :attr:`coefficientMatrix` is."""
        if self._multinomial:
            raise InvalidParameterError(
                "Multinomial models contain a matrix of coefficients, use coefficientMatrix "
                "instead.")
        coef = np.asarray(self.rddmlModel.coef_, dtype=np.float64)
        if isinstance(self.coefficientMatrix, SparseMatrix):
            nonzero = np.flatnonzero(coef)
            return SparseVector(coef.size, nonzero.tolist(), coef[nonzero].tolist())
        return DenseVector(coef)

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
    def coefficientMatrix(self) -> Matrix:
        """The coefficients as a numClasses × numFeatures matrix (1 × numFeatures for a
        binomial model), stored as pyspark.ml stores it: sparse when that is smaller
        (an L1 fit's zeros), see :func:`compressed_matrix`."""
        coef = np.atleast_2d(np.asarray(self.rddmlModel.coef_, dtype=np.float64))
        return compressed_matrix(coef)

    @property
    def interceptVector(self) -> Vector:
        """The intercepts, one per class (length 1 for a binomial model); sparse when that
        is smaller, as pyspark.ml's (the zeros of a multinomial fit without intercept)."""
        values = np.atleast_1d(np.asarray(self.rddmlModel.intercept_, dtype=np.float64))
        return compressed_vector(values) if self._multinomial else DenseVector(values)

    @property
    def numFeatures(self) -> int:
        """Number of features the model was fitted on."""
        return int(np.asarray(self.rddmlModel.coef_).shape[-1])

    @property
    def numClasses(self) -> int:
        """2 for a binomial model, K for a multinomial one."""
        return int(np.asarray(self.rddmlModel.coef_).shape[0]) if self._multinomial else 2

    # -------------------------------------------------------------- summaries
    @property
    def summary(self) -> LogisticRegressionTrainingSummary:
        """The training summary (pyspark.ml's): metrics on the training DataFrame, computed
        in one pass when first read, ``objectiveHistory`` and ``totalIterations``
        (``BinaryLogisticRegressionTrainingSummary`` for a binary model). A loaded or
        wrapped model has none (``hasSummary`` is False): RuntimeError."""
        return self._training_summary()  # type: ignore[no-any-return]

    def evaluate(self, dataset: DataFrame) -> LogisticRegressionSummary:
        """The summary of this model on ``dataset`` (needs the label column): the same
        metrics as :attr:`summary` (a ``BinaryLogisticRegressionSummary`` for a binary
        model), computed in one pass when first read."""
        from rddml.engine.backend import is_dataframe

        if not is_dataframe(dataset):
            raise TypeError(f"dataset must be a DataFrame but got {type(dataset)}.")
        return new_summary(self, dataset, training=False)  # type: ignore[no-any-return]

    def _new_training_summary(self, dataset: DataFrame) -> Any:
        if self.isSet("thresholds"):  # MLlib checks them against the classes at fit time
            check_thresholds(np.asarray(self.getOrDefault("thresholds"), dtype=np.float64),
                             self.numClasses)
        return new_summary(self, dataset, training=True)

    def _scorer(self) -> Scorer:
        """The model's scoring as its ``transform`` does it, for the summary pass."""
        coef = np.asarray(self.rddmlModel.coef_, dtype=np.float64)
        if not self._multinomial:
            return Scorer(coef, float(self.rddmlModel.intercept_),
                          threshold=self.getThreshold())
        return Scorer(coef, np.asarray(self.rddmlModel.intercept_, dtype=np.float64),
                      thresholds=self._class_thresholds())

    def _class_thresholds(self) -> np.ndarray | None:
        """``thresholds`` (checked against numClasses) when set, for a multinomial model."""
        if not self.isSet("thresholds"):
            return None
        ts = np.asarray(self.getOrDefault("thresholds"), dtype=np.float64)
        check_thresholds(ts, self.numClasses)
        return ts

    # ------------------------------------------------------------ prediction
    def predictRaw(self, value: Vector) -> DenseVector:
        """[−z, z] for one feature vector (multinomial: the K margins)."""
        if self._multinomial:
            coef = np.asarray(self.rddmlModel.coef_, dtype=np.float64)
            return DenseVector(coef @ value.toArray() + np.asarray(self.rddmlModel.intercept_))
        z = float(np.dot(np.asarray(self.rddmlModel.coef_), value.toArray())) + self.intercept
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
        most probable class (with ``thresholds``: the largest p_k / t_k)."""
        if self._multinomial:
            thresholds = self._class_thresholds()
            if thresholds is not None:
                P = self.predictProbability(value).toArray()[None, :]
                return float(thresholded_argmax(P, thresholds)[0])
            return float(np.argmax(self.predictRaw(value).toArray()))
        return 1.0 if self.predictProbability(value)[1] > self.getThreshold() else 0.0

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
        threshold = float(self.getThreshold())
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
        """The K-class columns: margins, softmax probabilities (vectors), argmax class
        (of p_k / t_k with ``thresholds``)."""
        import pandas as pd
        from pyspark.ml.functions import array_to_vector
        from pyspark.sql import functions as F

        from rddml.engine.columns import features_expression
        from rddml.linear.softmax import softmax_rows
        from rddml.ml._base import feature_matrix, series_udf

        coef = np.asarray(self.rddmlModel.coef_, dtype=np.float64)
        intercept = np.asarray(self.rddmlModel.intercept_, dtype=np.float64)
        thresholds = self._class_thresholds()
        d = coef.shape[1]
        features_col = self.getOrDefault("featuresCol")
        tmp = "__rddml_scores"
        if reads_sparse(dataset, features_col):  # scored from the vectors' non-zeros
            scored = dataset.withColumn(
                tmp, multinomial_scores_column(features_col, coef, intercept, thresholds))
        else:
            features = features_expression(dataset, features_col, None)

            def score(col: pd.Series) -> pd.DataFrame:
                Z = feature_matrix(col, d) @ coef.T + intercept
                P = softmax_rows(Z) if len(Z) else Z
                k = (np.argmax(Z, axis=1) if thresholds is None
                     else thresholded_argmax(P, thresholds))
                return pd.DataFrame({"z": list(Z), "p": list(P), "k": k.astype(np.float64)})

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


def check_thresholds(thresholds: np.ndarray, n_classes: int) -> None:
    """``thresholds`` must have one value per class, all >= 0, at most one 0 (pyspark.ml)."""
    if thresholds.shape != (n_classes,):
        raise InvalidParameterError(
            f"rddml.ml.LogisticRegressionModel: the 'thresholds' Param must have "
            f"numClasses={n_classes} values, got {len(thresholds)} ({thresholds.tolist()}).")
    if np.any(thresholds < 0) or np.count_nonzero(thresholds == 0) > 1:
        raise InvalidParameterError(
            "rddml.ml.LogisticRegressionModel: the 'thresholds' Param must hold values >= 0 "
            f"with at most one 0, got {thresholds.tolist()}.")


add_setters(LogisticRegressionModel,
            ["featuresCol", "predictionCol", "probabilityCol", "rawPredictionCol", "threshold",
             "thresholds"])
LogisticRegression._model_class = LogisticRegressionModel

__all__ = [
    "BinaryLogisticRegressionSummary",
    "BinaryLogisticRegressionTrainingSummary",
    "LogisticRegression",
    "LogisticRegressionModel",
    "LogisticRegressionSummary",
    "LogisticRegressionTrainingSummary",
]
