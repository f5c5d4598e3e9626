"""pyspark.ml's logistic-regression summaries, computed by rddml.

A summary holds its model and DataFrame and computes nothing until a metric is read:
then one distributed pass (:func:`rddml.ml._evaluation.summary_pass`) gathers the
weighted (label, prediction) counts and, for a binary model, the counts at every
distinct probability, and every metric comes from them (MLlib's formulas,
:mod:`rddml.ml._metrics`). The ROC and precision-recall curves of more than
2 × 1000 distinct probabilities are down-sampled as MLlib's ``numBins=1000`` does, which
takes a second pass. ``predictions`` is the model's ``transform`` of the DataFrame (lazy,
as a DataFrame is). The columns are those of the model when the summary was made (the
fit, or ``evaluate``), while the threshold(s) are the model's when the first metric is
read, as on the JVM, whose summary keeps the columns of its ``transform`` and reads the
model's threshold when its job runs.

=================================================  =======================================
class                                              what it adds
=================================================  =======================================
:class:`LogisticRegressionSummary`                 the multiclass metrics (any model)
:class:`LogisticRegressionTrainingSummary`         ``objectiveHistory``, ``totalIterations``
:class:`BinaryLogisticRegressionSummary`           ROC / PR curves, ``areaUnderROC``, ...
:class:`BinaryLogisticRegressionTrainingSummary`   both
=================================================  =======================================
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from rddml.ml._evaluation import PassResult, binned_curve_pass, summary_pass
from rddml.ml._metrics import (
    BinaryCurve,
    MulticlassSummary,
    grouping_for,
    multiclass_summary,
)
from rddml.ml._params import optional_col

if TYPE_CHECKING:
    from pyspark.sql import DataFrame

__all__ = [
    "BinaryLogisticRegressionSummary",
    "BinaryLogisticRegressionTrainingSummary",
    "LogisticRegressionSummary",
    "LogisticRegressionTrainingSummary",
]


class PredictionsOf:
    """``predictions``: the model's ``transform`` of the summarised DataFrame, made on
    first use (a summary that is never asked for them runs no Spark job)."""

    _model: Any
    _dataset: DataFrame
    _predictions: DataFrame | None

    @property
    def predictions(self) -> DataFrame:
        """The model's ``transform`` of the DataFrame."""
        if self._predictions is None:
            self._predictions = self._model.transform(self._dataset)
        return self._predictions


def _column_of_model(param: str, doc: str) -> Any:
    """A read-only property: the summarised model's value of the column Param ``param``."""

    def get(self: Any) -> str:
        return str(self._model.getOrDefault(param))

    return property(get, doc=doc)


class LogisticRegressionSummary(PredictionsOf):
    """Results of a :class:`~rddml.ml.LogisticRegressionModel` on a DataFrame: its
    ``predictions`` and pyspark.ml's ``ClassificationSummary`` metrics (``labels``,
    ``accuracy``, by-label and weighted precision / recall / F-measure / TPR / FPR)."""

    def __init__(self, model: Any, dataset: DataFrame) -> None:
        self._model = summary_model(model)
        self._scoring = model  # the threshold(s) are read when the first metric is
        self._dataset = dataset
        self._predictions: DataFrame | None = None
        self._result: PassResult | None = None
        self._metrics: MulticlassSummary | None = None

    # --------------------------------------------------------------- columns
    predictionCol = _column_of_model(
        "predictionCol", "Field in ``predictions`` which gives the prediction of each class.")
    probabilityCol = _column_of_model(
        "probabilityCol",
        "Field in ``predictions`` which gives the probability of each class as a vector.")
    labelCol = _column_of_model(
        "labelCol", "Field in ``predictions`` which gives the true label of each instance.")
    featuresCol = _column_of_model(
        "featuresCol",
        "Field in ``predictions`` which gives the features of each instance as a vector.")

    @property
    def weightCol(self) -> str:
        """Field in ``predictions`` which gives the weight of each instance; ``"weightCol"``
        (a column that does not exist: every row weighs 1) when the model has none, as
        pyspark.ml's summary says."""
        return optional_col(self._model, "weightCol") or "weightCol"

    # ---------------------------------------------------------------- metrics
    def _pass(self) -> PassResult:
        if self._result is None:
            self._result = summary_pass(
                self._dataset, features_col=self.featuresCol, label_col=self.labelCol,
                weight_col=optional_col(self._model, "weightCol"),
                scorer=self._scoring._scorer())
        return self._result

    def _multiclass(self) -> MulticlassSummary:
        if self._metrics is None:
            self._metrics = multiclass_summary(self._pass().confusion)
        return self._metrics

    @property
    def labels(self) -> list[float]:
        """The labels in ascending order (the order of the by-label metrics): those of the
        DataFrame's rows."""
        return self._multiclass().labels

    @property
    def truePositiveRateByLabel(self) -> list[float]:
        """True positive rate for each label."""
        return self._multiclass().true_positive_rate_by_label

    @property
    def falsePositiveRateByLabel(self) -> list[float]:
        """False positive rate for each label."""
        return self._multiclass().false_positive_rate_by_label

    @property
    def precisionByLabel(self) -> list[float]:
        """Precision for each label (0 when nothing is predicted as it)."""
        return self._multiclass().precision_by_label

    @property
    def recallByLabel(self) -> list[float]:
        """Recall for each label."""
        return self._multiclass().recall_by_label

    def fMeasureByLabel(self, beta: float = 1.0) -> list[float]:
        """F-measure for each label."""
        return self._multiclass().f_measure_by_label(beta)

    @property
    def accuracy(self) -> float:
        """Weight of the correctly classified rows over the total weight."""
        return self._multiclass().accuracy

    @property
    def weightedTruePositiveRate(self) -> float:
        """True positive rate averaged over the labels, weighted by their weight."""
        m = self._multiclass()
        return m.weighted(m.true_positive_rate_by_label)

    @property
    def weightedFalsePositiveRate(self) -> float:
        """False positive rate averaged over the labels, weighted by their weight."""
        m = self._multiclass()
        return m.weighted(m.false_positive_rate_by_label)

    @property
    def weightedRecall(self) -> float:
        """Recall averaged over the labels, weighted by their weight."""
        m = self._multiclass()
        return m.weighted(m.recall_by_label)

    @property
    def weightedPrecision(self) -> float:
        """Precision averaged over the labels, weighted by their weight."""
        m = self._multiclass()
        return m.weighted(m.precision_by_label)

    def weightedFMeasure(self, beta: float = 1.0) -> float:
        """F-measure averaged over the labels, weighted by their weight."""
        m = self._multiclass()
        return m.weighted(m.f_measure_by_label(beta))


class _TrainingSummary:
    """``objectiveHistory`` (the objective at the start and after each iteration of
    L-BFGS, Spark MLlib's; for rddml's ``"gd"`` / ``"sgd"`` optimisers, one value per
    iteration), ``totalIterations`` and rddml's ``converged``."""

    _fitted: Any

    @property
    def objectiveHistory(self) -> list[float]:
        """Objective (mean loss + regularisation) at each iteration, the start included."""
        return list(getattr(self._fitted, "objective_history_", self._fitted.loss_history_))

    @property
    def totalIterations(self) -> int:
        """Number of training iterations until termination."""
        return int(self._fitted.n_iter_)

    @property
    def converged(self) -> bool:
        """rddml: True when the ``tol`` rule stopped the fit before ``maxIter``."""
        return bool(self._fitted.converged_)


class LogisticRegressionTrainingSummary(LogisticRegressionSummary, _TrainingSummary):
    """The summary of a fit on its training DataFrame (multinomial models)."""

    def __init__(self, model: Any, dataset: DataFrame) -> None:
        super().__init__(model, dataset)
        self._fitted = model.rddmlModel


class BinaryLogisticRegressionSummary(LogisticRegressionSummary):
    """A binary model's summary: the multiclass metrics and the curves over the
    probability of class 1 (``scoreCol``): ``roc``, ``pr``, ``areaUnderROC`` and
    ``fMeasureByThreshold`` / ``precisionByThreshold`` / ``recallByThreshold``
    (DataFrames, as pyspark.ml's)."""

    def __init__(self, model: Any, dataset: DataFrame) -> None:
        super().__init__(model, dataset)
        self._curve: BinaryCurve | None = None

    @property
    def scoreCol(self) -> str:
        """Field in ``predictions`` with the score of each class: the probability."""
        return self.probabilityCol

    def _binary_curve(self) -> BinaryCurve:
        if self._curve is None:
            result = self._pass()
            grouping = grouping_for(result.n_distinct)
            if result.has_every_score():
                self._curve = result.curve(grouping)
            else:
                self._curve = binned_curve_pass(
                    self._dataset, features_col=self.featuresCol, label_col=self.labelCol,
                    weight_col=optional_col(self._model, "weightCol"),
                    scorer=self._scoring._scorer(), grouping=grouping)
        return self._curve

    def _frame(self, rows: list[tuple[float, float]], names: tuple[str, str]) -> DataFrame:
        schema = f"`{names[0]}` double, `{names[1]}` double"
        return self._dataset.sparkSession.createDataFrame(
            [(float(a), float(b)) for a, b in rows], schema)

    @property
    def roc(self) -> DataFrame:
        """The ROC curve: (FPR, TPR) with (0, 0) first and (1, 1) last."""
        return self._frame(self._binary_curve().roc(), ("FPR", "TPR"))

    @property
    def areaUnderROC(self) -> float:
        """Area under :attr:`roc` (trapezoids), as MLlib computes it: on the down-sampled
        curve when there are more than 2 × 1000 distinct probabilities."""
        return self._binary_curve().area_under_roc()

    @property
    def pr(self) -> DataFrame:
        """The precision-recall curve: (recall, precision) with (0, first precision) first."""
        return self._frame(self._binary_curve().pr(), ("recall", "precision"))

    @property
    def fMeasureByThreshold(self) -> DataFrame:
        """(threshold, F-Measure) with β = 1, one row per distinct probability."""
        curve = self._binary_curve()
        return self._frame(curve.by_threshold(curve.f_measure(1.0)),
                           ("threshold", "F-Measure"))

    @property
    def precisionByThreshold(self) -> DataFrame:
        """(threshold, precision), one row per distinct probability."""
        curve = self._binary_curve()
        return self._frame(curve.by_threshold(curve.precision()), ("threshold", "precision"))

    @property
    def recallByThreshold(self) -> DataFrame:
        """(threshold, recall), one row per distinct probability."""
        curve = self._binary_curve()
        return self._frame(curve.by_threshold(curve.recall()), ("threshold", "recall"))


class BinaryLogisticRegressionTrainingSummary(BinaryLogisticRegressionSummary,
                                              _TrainingSummary):
    """The summary of a binary fit on its training DataFrame."""

    def __init__(self, model: Any, dataset: DataFrame) -> None:
        super().__init__(model, dataset)
        self._fitted = model.rddmlModel


def summary_model(model: Any) -> Any:
    """The model whose ``transform`` gives a summary's predictions: a copy of ``model``
    with its Params as they are now, writing the probability and prediction columns under
    pyspark.ml's default names where ``model``'s are empty (as MLlib's
    ``findSummaryModel``)."""
    missing = {name: default for name, default in (("probabilityCol", "probability"),
                                                    ("predictionCol", "prediction"))
               if not optional_col(model, name)}
    copy = model.copy()  # the Params of this moment: later setters leave the summary alone
    copy._summary = None
    return copy._set(**missing) if missing else copy


def new_summary(model: Any, dataset: DataFrame, *, training: bool) -> Any:
    """The summary class pyspark.ml returns for ``model`` (binary when it has at most two
    classes) on ``dataset``."""
    binary = model.numClasses <= 2
    if training:
        cls: Any = (BinaryLogisticRegressionTrainingSummary if binary
                    else LogisticRegressionTrainingSummary)
    else:
        cls = BinaryLogisticRegressionSummary if binary else LogisticRegressionSummary
    return cls(model, dataset)
