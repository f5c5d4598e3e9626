"""``pyspark.ml``-compatible k-means fitted by rddml.

:class:`KMeans` is a real ``pyspark.ml.Estimator`` with pyspark.ml's Params (``k``,
``initMode``, ``initSteps``, ``maxIter``, ``tol``, ``seed``, ``distanceMeasure``,
``weightCol``...) plus rddml's (``initialCenters``, ``emptyCluster``, ``aggregation``,
``checkpointDir``, ``checkpointInterval``, ``backend``); ``fit`` runs :class:`rddml.KMeans`
and returns a :class:`KMeansModel` that writes an int ``prediction`` column, as
pyspark.ml's does, so ``ClusteringEvaluator`` scores it unchanged. The model's
``summary`` is pyspark.ml's :class:`KMeansSummary` (``clusterSizes``, ``predictions``...)
and ``write().format("pmml")`` exports it as PMML (:mod:`rddml.ml.pmml`).

Examples
--------
>>> from rddml.ml import KMeans
>>> km = KMeans(k=3, initMode="k-means++", seed=1)
>>> km.getK(), km.getInitMode(), km.getMaxIter(), km.getEmptyCluster()
(3, 'k-means++', 20, 'farthest')
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np
from pyspark import keyword_only
from pyspark.ml.linalg import Vector

from rddml.errors import InvalidParameterError
from rddml.ml._base import RddmlEstimator, RddmlModel, RddmlReadable
from rddml.ml._params import (
    INIT_STEPS,
    KMEANS_PARAMS,
    KMEANS_SOLVERS,
    KMeansParams,
    add_setters,
    optional_col,
)
from rddml.ml._sparse import cluster_column, reads_sparse
from rddml.ml.summary import PredictionsOf

if TYPE_CHECKING:
    from pyspark.sql import DataFrame

RDDML_NAMES = {
    "max_iter": "maxIter", "distance": "distanceMeasure", "empty_cluster": "emptyCluster",
    "features_col": "featuresCol", "weight_col": "weightCol", "init": "initMode",
    "checkpoint_dir": "checkpointDir", "checkpoint_interval": "checkpointInterval",
}


class KMeans(RddmlEstimator["KMeansModel"], KMeansParams, RddmlReadable["KMeans"]):
    """k-means with pyspark.ml's Params, fitted by rddml (Lloyd iterations on NumPy blocks).

    ``initialCenters`` (rddml) fixes the initial centres; otherwise ``initMode`` and
    ``seed`` draw them. ``initSteps`` other than 2 is refused (rddml's k-means|| runs two
    rounds). ``emptyCluster`` defaults to rddml's ``"farthest"``; ``"keep"`` is Spark
    MLlib's behaviour. ``maxIter=0`` returns the initial centres. ``solver`` and
    ``maxBlockSizeInMB`` are accepted (and checked) for compatibility: rddml always
    computes on NumPy blocks of its own size.
    """

    @keyword_only
    def __init__(
        self, *, featuresCol: str = "features", predictionCol: str = "prediction",
        k: int = 2, initMode: str = "k-means||", initSteps: int = INIT_STEPS,
        tol: float = 1e-4, maxIter: int = 20, seed: int | None = None,
        distanceMeasure: str = "euclidean", weightCol: str | None = None,
        solver: str = "auto", maxBlockSizeInMB: float = 0.0,
        initialCenters: Any = None, emptyCluster: str = "farthest", aggregation: str = "tree",
        checkpointDir: str | None = None, checkpointInterval: int = 10, backend: str = "auto",
        kernels: str | None = None, float32Inputs: bool = False,
    ) -> None:
        super().__init__()
        self._set(**self._input_kwargs)

    def _rddml_names(self) -> dict[str, str]:
        if self.getOrDefault("initialCenters") is None:
            return RDDML_NAMES
        return {**RDDML_NAMES, "init": "initialCenters"}

    def _rddml_estimator(self) -> Any:
        from rddml import KMeans as RddmlKMeans

        solver = self.getOrDefault("solver")
        if solver not in KMEANS_SOLVERS:
            raise InvalidParameterError(
                f"rddml.ml.KMeans: the 'solver' Param must be one of 'auto', 'row', 'block', "
                f"got {solver!r}.")
        if self.getOrDefault("maxBlockSizeInMB") < 0:
            raise InvalidParameterError(
                "rddml.ml.KMeans: the 'maxBlockSizeInMB' Param must be >= 0, got "
                f"{self.getOrDefault('maxBlockSizeInMB')!r}.")
        steps = self.getOrDefault("initSteps")
        if steps != INIT_STEPS:
            raise InvalidParameterError(
                f"rddml.ml.KMeans: the 'initSteps' Param must be {INIT_STEPS} (rddml's k-means|| "
                f"runs {INIT_STEPS} rounds; other values are not supported yet), got {steps!r}.")
        centres = self.getOrDefault("initialCenters")
        init = self.getOrDefault("initMode") if centres is None else \
            np.asarray(centres, dtype=np.float64)
        return RddmlKMeans(
            k=self.getOrDefault("k"), init=init, max_iter=self.getOrDefault("maxIter"),
            tol=self.getOrDefault("tol"), seed=self.getOrDefault("seed"),
            distance=self.getOrDefault("distanceMeasure"),
            empty_cluster=self.getOrDefault("emptyCluster"),
            aggregation=self.getOrDefault("aggregation"),
            features_col=self.getOrDefault("featuresCol"),
            weight_col=optional_col(self, "weightCol"),
            prediction_col=self.getOrDefault("predictionCol") or "prediction",
            checkpoint_dir=self.getOrDefault("checkpointDir"),
            checkpoint_interval=self.getOrDefault("checkpointInterval"),
            backend=self.getOrDefault("backend"),
            **self.rddml_precision(),
        )


add_setters(KMeans, KMEANS_PARAMS)


class KMeansSummary(PredictionsOf):
    """pyspark.ml's summary of a k-means fit on its training DataFrame: ``predictions``
    (the model's ``transform``, lazy), ``cluster`` (its prediction column),
    ``clusterSizes`` (rows per cluster, one count when first read), ``k``, ``numIter``,
    ``trainingCost`` (weighted sum of squared distances to the closest final centre;
    Σ 1 − cos for cosine), ``predictionCol``, ``featuresCol``; and rddml's
    ``objectiveHistory`` (the cost at the start of each iteration), ``totalIterations``
    and ``converged``."""

    def __init__(self, model: KMeansModel, dataset: DataFrame) -> None:
        fitted = model.rddmlModel
        # A copy: the summary keeps the columns of the fit (a later setPredictionCol on
        # the model does not move them), as pyspark.ml's summary does.
        self._model = model.copy() if optional_col(model, "predictionCol") else \
            model.copy({model.predictionCol: "prediction"})
        self._model._summary = None
        self._dataset = dataset
        self._predictions: DataFrame | None = None
        self._sizes: list[int] | None = None
        self.trainingCost: float = float(fitted.inertia_)
        self.objectiveHistory: list[float] = [float(h["cost"]) for h in fitted.history_]
        self.totalIterations: int = int(fitted.n_iter_)
        self.numIter: int = self.totalIterations
        self.k: int = int(np.asarray(fitted.cluster_centers_).shape[0])
        self.converged: bool = bool(fitted.converged_)
        self.predictionCol: str = str(self._model.getOrDefault("predictionCol"))
        self.featuresCol: str = str(self._model.getOrDefault("featuresCol"))

    @property
    def cluster(self) -> DataFrame:
        """The predicted cluster of each training row (a one-column DataFrame)."""
        return self.predictions.select(self.predictionCol)

    @property
    def clusterSizes(self) -> list[int]:
        """Rows in each cluster (unweighted, as pyspark.ml counts them; 0 for an empty
        one), from one aggregation when first read."""
        if self._sizes is None:
            sizes = [0] * self.k
            for row in self.cluster.groupBy(self.predictionCol).count().collect():
                sizes[int(row[0])] = int(row[1])
            self._sizes = sizes
        return self._sizes


class KMeansModel(RddmlModel, KMeansParams, RddmlReadable["KMeansModel"]):
    """A fitted :class:`KMeans`: ``clusterCenters()``, ``summary``, an int ``prediction``."""

    _rddml_kind = "KMeans"

    @classmethod
    def fromRddml(cls, fitted: Any) -> KMeansModel:
        """Wrap a fitted :class:`rddml.KMeans` as a pyspark.ml Model; its column names and
        training settings become the model's Params."""
        params: dict[str, Any] = {
            "k": fitted.k, "distanceMeasure": fitted.distance,
            "emptyCluster": fitted.empty_cluster, "aggregation": fitted.aggregation}
        if isinstance(fitted.init, str):
            params["initMode"] = fitted.init
        else:
            params["initialCenters"] = np.asarray(fitted.init, dtype=float).tolist()
        return cls._wrap(fitted, "cluster_centers_", params)

    def clusterCenters(self) -> list[np.ndarray]:
        """The centres, one NumPy array each (as pyspark.ml's KMeansModel)."""
        return [np.array(c, dtype=np.float64) for c in self.rddmlModel.cluster_centers_]

    @property
    def numFeatures(self) -> int:
        """Number of features the model was fitted on."""
        return int(np.asarray(self.rddmlModel.cluster_centers_).shape[1])

    @property
    def summary(self) -> KMeansSummary:
        """The training summary (pyspark.ml's :class:`KMeansSummary`); a loaded or wrapped
        model has none (``hasSummary`` is False): RuntimeError."""
        return self._training_summary()  # type: ignore[no-any-return]

    def _new_training_summary(self, dataset: DataFrame) -> KMeansSummary:
        return KMeansSummary(self, dataset)

    def _pmml(self) -> str:
        """The model as PMML, as the installed Spark MLlib's ``KMeansModel.toPMML`` writes
        it (PMML 4.4 from Spark 4, 4.3 before)."""
        import pyspark

        from rddml.ml.pmml import kmeans_pmml

        version = "4.4" if int(pyspark.__version__.split(".")[0]) >= 4 else "4.3"
        return kmeans_pmml(np.asarray(self.rddmlModel.cluster_centers_, dtype=np.float64),
                           version=version)

    def predict(self, value: Vector) -> int:
        """Index of the closest centre of one feature vector."""
        from rddml.cluster.kmeans import assign_points

        X = np.asarray(value.toArray(), dtype=np.float64)[None, :]
        centres = np.asarray(self.rddmlModel.cluster_centers_)
        return int(assign_points(X, centres, self.rddmlModel.distance == "cosine")[0])

    def _transform(self, dataset: DataFrame) -> DataFrame:
        import pandas as pd

        from rddml.cluster.kmeans import assign_points
        from rddml.engine.columns import features_expression
        from rddml.ml._base import check_new_columns, feature_matrix, series_udf

        pred_col = optional_col(self, "predictionCol")
        if not pred_col:
            return dataset
        check_new_columns(dataset, [pred_col], "rddml.ml.KMeansModel")
        centres = np.asarray(self.rddmlModel.cluster_centers_, dtype=np.float64)
        cosine = self.rddmlModel.distance == "cosine"
        d = centres.shape[1]
        features_col = self.getOrDefault("featuresCol")
        if reads_sparse(dataset, features_col):  # assigned from the vectors' non-zeros
            return dataset.withColumn(pred_col, cluster_column(features_col, centres, cosine))
        features = features_expression(dataset, features_col, None)

        def assign(col: pd.Series) -> pd.Series:
            labels = assign_points(feature_matrix(col, d), centres, cosine)
            return pd.Series(labels, dtype="int32")

        return dataset.withColumn(pred_col, series_udf(assign, pd.Series, "int")(features))

    def __repr__(self) -> str:
        if self._rddml is None:
            return f"KMeansModel: uid={self.uid}, not fitted"
        return f"KMeansModel: uid={self.uid}, k={len(self.clusterCenters())}, " \
               f"distanceMeasure={self.rddmlModel.distance}, numFeatures={self.numFeatures}"


add_setters(KMeansModel, ["featuresCol", "predictionCol"])
KMeans._model_class = KMeansModel
