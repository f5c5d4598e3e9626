"""What the ``pyspark.ml`` stages of :mod:`rddml.ml` share (their Params helpers are in
:mod:`rddml.ml._params`): error names, the estimator's ``setParams`` / ``_fit`` and the fitted
model's wrapper (:class:`RddmlEstimator`, :class:`RddmlModel`), persistence
(``MLWritable`` / ``MLReadable``) and the scoring helpers.

Persistence layout (a stage directory, as ``pyspark.ml`` writes one)::

    <path>/metadata/   one line of JSON: class, uid, paramMap, defaultParamMap, sparkVersion
                       (pyspark's DefaultParamsWriter, so PipelineModel.load finds the class)
    <path>/data/       fitted models only: one line of JSON, the rddml model document
                       (the same document rddml's own ``save`` writes as model.json)

Both are written and read through Spark DataFrames (``write.text`` / ``read.text``), so a
path may be on any file system Spark reaches (local, DBFS, HDFS, S3...) and the same code
runs under Spark Connect. Nothing is pickled.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, ClassVar, Generic, TypeVar

import numpy as np
from pyspark import keyword_only
from pyspark.ml import Estimator, Model
from pyspark.ml.param import Params
from pyspark.ml.util import (
    DefaultParamsReader,
    DefaultParamsWriter,
    MLReadable,
    MLReader,
    MLWritable,
    MLWriter,
)

from rddml.errors import DataValidationError, InvalidParameterError
from rddml.io.persist import check_model_document, model_document
from rddml.ml._stage_checks import check_stage_files, set_saved_params, stage_read_errors
from rddml.paths import expand_user

if TYPE_CHECKING:
    import pandas as pd
    from pyspark.sql import DataFrame
    from typing_extensions import Self

DATA_DIR = "data"
P = TypeVar("P", bound="MLReadable[Any]")
M = TypeVar("M", bound="RddmlModel")


def renamed_error(exc: InvalidParameterError, names: dict[str, str], stage: str
                  ) -> InvalidParameterError:
    """rddml's parameter error reworded with the pyspark.ml Param names."""
    message = str(exc)
    for rddml_name, param in names.items():
        message = message.replace(f"'{rddml_name}' parameter", f"'{param}' Param")
    return InvalidParameterError(f"{stage}: {message}")


def check_new_columns(dataset: DataFrame, columns: list[str], stage: str) -> None:
    """Output columns must not exist yet (as pyspark.ml's transformSchema checks)."""
    taken = [c for c in columns if c in dataset.columns]
    if taken:
        raise InvalidParameterError(
            f"{stage}: output column(s) {taken} already exist in the DataFrame; set "
            "predictionCol / probabilityCol / rawPredictionCol to other names (or to '' to "
            "skip a column)."
        )


def feature_matrix(col: pd.Series, d: int) -> np.ndarray:
    """The feature vectors of a pandas_udf batch as an (n, d) float64 matrix (on executors)."""
    X = np.stack(col.to_numpy()).astype(np.float64) if len(col) else np.zeros((0, d))
    if X.shape[1] != d:
        raise ValueError(f"the model was fitted on {d} features, but the DataFrame's "
                         f"feature vectors have {X.shape[1]}")
    return X


def series_udf(fn: Callable[[pd.Series], Any], returns: type, schema: str) -> Any:
    """``pandas_udf(fn, schema)`` for a Series-to-``returns`` function (pandas_udf infers its
    kind from real annotations; rddml's modules have string annotations)."""
    import pandas as pd
    from pyspark.sql import functions as F

    fn.__annotations__ = {"col": pd.Series, "return": returns}
    return F.pandas_udf(fn, schema)  # type: ignore[call-overload,attr-defined]


def is_connect_session(spark: Any) -> bool:
    """True for a Spark Connect session (checked by class)."""
    return type(spark).__module__.startswith("pyspark.sql.connect")


# ------------------------------------------------------------------ writing
class RddmlWriter(MLWriter):
    """Writes a stage's Params (pyspark's metadata format) and, for a fitted model, its
    rddml document as JSON in ``data/``; works on classic and Spark Connect sessions."""

    def __init__(self, instance: Params) -> None:
        super().__init__()
        self.instance = instance

    def _handleOverwrite(self, path: str) -> None:
        if is_connect_session(self.sparkSession):
            from pyspark.ml.connect.readwrite import RemoteMLWriter

            RemoteMLWriter.handleOverwrite(path, True)
        else:
            super()._handleOverwrite(path)

    def save(self, path: str) -> None:
        """Save the stage to ``path`` (a leading ``~`` expanded, as a shell would)."""
        super().save(expand_user(path, what="Model path"))

    def saveImpl(self, path: str) -> None:
        spark = self.sparkSession
        DefaultParamsWriter.saveMetadata(self.instance, path, spark)
        document = getattr(self.instance, "_rddml_document", None)
        if document is not None:
            text = json.dumps(document(), allow_nan=False, separators=(",", ":"))
            spark.createDataFrame([(text,)], "value string").coalesce(1).write.text(
                os.path.join(path, DATA_DIR))


class RddmlWritable(MLWritable):
    """``write()`` / ``save(path)`` through :class:`RddmlWriter`."""

    def write(self) -> MLWriter:
        """An MLWriter for this stage (``.overwrite()``, ``.save(path)``)."""
        assert isinstance(self, Params)
        return RddmlWriter(self)


# ------------------------------------------------------------------ reading
class RddmlReader(MLReader[P], Generic[P]):
    """Reads what :class:`RddmlWriter` wrote, checking the stage class and the document."""

    def __init__(self, cls: type[P]) -> None:
        super().__init__()
        self.cls = cls

    def load(self, path: str) -> P:
        spark = self.sparkSession
        path = expand_user(path, what="Model path")
        check_stage_files(spark, path)  # sizes first: Spark reads these whole
        with stage_read_errors(path):
            metadata = DefaultParamsReader.loadMetadata(path, spark)
        expected = f"{self.cls.__module__}.{self.cls.__name__}"
        if metadata.get("class") != expected:
            raise DataValidationError(
                f"{os.path.join(path, 'metadata')}: expected a saved {expected}, found "
                f"{metadata.get('class')!r}."
            )
        instance: Any = self.cls()
        instance._resetUid(metadata["uid"])
        set_saved_params(instance, metadata, os.path.join(path, "metadata"))
        restore = getattr(instance, "_restore_document", None)
        if restore is not None:
            data = os.path.join(path, DATA_DIR)
            with stage_read_errors(path):
                rows = spark.read.text(data).collect()
            if len(rows) != 1:
                raise DataValidationError(
                    f"Model data {data!r}: expected one line of JSON, found {len(rows)} lines.")
            try:
                document = json.loads(rows[0][0])
            except ValueError as exc:
                raise DataValidationError(f"Model data {data!r}: not valid JSON ({exc}).") \
                    from exc
            if not isinstance(document, dict):
                raise DataValidationError(
                    f"Model data {data!r}: expected a JSON object, found "
                    f"{type(document).__name__}.")
            check_model_document(data, document, instance._rddml_kind)
            restore(data, document)
        return instance  # type: ignore[no-any-return]


class RddmlReadable(MLReadable[P], Generic[P]):
    """``read()`` / ``load(path)`` through :class:`RddmlReader`."""

    @classmethod
    def read(cls) -> RddmlReader[P]:
        """An MLReader for this class."""
        return RddmlReader(cls)  # type: ignore[arg-type]


# ------------------------------------------------------------------ stages
class RddmlEstimator(Estimator[M], RddmlWritable, Generic[M]):
    """A ``pyspark.ml.Estimator`` whose ``fit`` runs an rddml estimator: a subclass gives
    ``_rddml_estimator()`` (the rddml estimator its Params describe), ``_rddml_names``
    (rddml parameter -> Param, to reword errors) and ``_model_class``."""

    _input_kwargs: dict[str, Any]
    _model_class: ClassVar[type[RddmlModel]]

    @keyword_only
    def setParams(self, **kwargs: Any) -> Self:
        """Set Params by keyword (as ``__init__``); returns ``self``."""
        return self._set(**self._input_kwargs)

    def _rddml_estimator(self) -> Any:
        raise NotImplementedError

    def _rddml_names(self) -> dict[str, str]:
        raise NotImplementedError

    def _fit(self, dataset: DataFrame) -> M:
        stage = f"rddml.ml.{type(self).__name__}"
        try:
            fitted = self._rddml_estimator().fit(dataset)
        except InvalidParameterError as exc:
            raise renamed_error(exc, self._rddml_names(), stage) from exc
        return self._copyValues(self._model_class(fitted))  # type: ignore[return-value]


class RddmlModel(Model, RddmlWritable):
    """A ``pyspark.ml.Model`` that wraps a fitted rddml estimator (``rddmlModel``), which
    holds its arrays and is written to and read from the stage's ``data/``."""

    _rddml_kind: ClassVar[str]
    _rddml: Any = None

    def __init__(self, rddmlModel: Any = None) -> None:
        super().__init__()
        self._rddml = rddmlModel

    @property
    def rddmlModel(self) -> Any:
        """The fitted rddml estimator (``rddml.KMeans`` / ``rddml.LogisticRegression``)."""
        if self._rddml is None:
            raise DataValidationError(f"This {type(self).__name__} holds no fitted model.")
        return self._rddml

    def _rddml_document(self) -> dict[str, Any]:
        return model_document(self._rddml_kind, self.rddmlModel._document())

    def _restore_document(self, file: str, document: dict[str, Any]) -> None:
        from rddml import KMeans, LogisticRegression

        kind = {"KMeans": KMeans, "LogisticRegression": LogisticRegression}[self._rddml_kind]
        self._rddml = kind._from_document(file, document)  # type: ignore[attr-defined]

    @classmethod
    def _wrap(cls, fitted: Any, fitted_attribute: str, params: dict[str, Any]) -> Self:
        """``fromRddml``: the fitted rddml estimator as this Model, with its column names and
        training settings (``params`` and those both estimators have) as the Params."""
        from rddml.params import check_is_fitted

        check_is_fitted(fitted, fitted_attribute)
        if fitted.feature_cols:
            raise InvalidParameterError(
                f"{cls.__name__}.fromRddml: the model reads feature_cols="
                f"{fitted.feature_cols!r}; pyspark.ml stages read one vector column "
                "(featuresCol): assemble the columns with VectorAssembler and fit on it.")
        params = {"featuresCol": fitted.features_col, "predictionCol": fitted.prediction_col,
                  "maxIter": fitted.max_iter, "tol": fitted.tol, "backend": fitted.backend,
                  **params}
        if fitted.weight_col:
            params["weightCol"] = fitted.weight_col
        if fitted.seed is not None:
            params["seed"] = fitted.seed
        return cls(fitted)._set(**params)

    @property
    def hasSummary(self) -> bool:
        """True: rddml keeps the training history in the model (also after loading)."""
        return self._rddml is not None
