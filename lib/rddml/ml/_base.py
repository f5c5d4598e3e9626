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
runs under Spark Connect. Nothing is pickled. rddml writes and reads the metadata itself
rather than through ``DefaultParamsWriter.saveMetadata`` / ``DefaultParamsReader.loadMetadata``:
those take a SparkContext on pyspark 3.5 (RDD ``saveAsTextFile`` / ``textFile``) and a
SparkSession on pyspark 4, and a SparkContext does not exist under Spark Connect. The
files are the same on both versions (one line of text per directory), and pyspark's own
readers (``PipelineModel.load`` on either version) read them.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, ClassVar, Generic, TypeVar

import numpy as np
from pyspark import keyword_only
from pyspark.ml import Estimator, Model
from pyspark.ml.param import Params
from pyspark.ml.util import (
    GeneralMLWriter,
    MLReadable,
    MLReader,
    MLWritable,
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
METADATA_DIR = "metadata"
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
LINALG_KEY = "__rddml_linalg__"


def param_to_json(value: Any) -> Any:
    """A Param value as JSON: a pyspark.ml Vector or Matrix (bounds) as
    ``{"__rddml_linalg__": "vector" | "matrix", "values": [...]}`` (rows for a matrix;
    ±inf as JSON's ``Infinity``, which Python reads back); anything else as it is."""
    from pyspark.ml.linalg import Matrix, Vector

    if isinstance(value, Vector):
        return {LINALG_KEY: "vector", "values": value.toArray().tolist()}
    if isinstance(value, Matrix):
        return {LINALG_KEY: "matrix", "values": value.toArray().tolist()}
    return value


def param_from_json(value: Any) -> Any:
    """The inverse of :func:`param_to_json`."""
    from pyspark.ml.linalg import DenseMatrix, DenseVector

    if isinstance(value, dict) and value.get(LINALG_KEY) == "vector":
        return DenseVector(value["values"])
    if isinstance(value, dict) and value.get(LINALG_KEY) == "matrix":
        rows = np.asarray(value["values"], dtype=np.float64).reshape(
            len(value["values"]), -1)
        return DenseMatrix(rows.shape[0], rows.shape[1], rows.ravel().tolist(),
                           isTransposed=True)
    return value


def stage_metadata(instance: Params, spark_version: str) -> str:
    """The metadata line of a stage, as pyspark's ``DefaultParamsWriter`` writes it: class,
    timestamp, sparkVersion, uid, paramMap (the Params set) and defaultParamMap."""
    return json.dumps({
        "class": f"{type(instance).__module__}.{type(instance).__name__}",
        "timestamp": round(time.time() * 1000),
        "sparkVersion": spark_version,
        "uid": instance.uid,
        "paramMap": {p.name: param_to_json(v) for p, v in instance._paramMap.items()},
        "defaultParamMap": {p.name: param_to_json(v)
                            for p, v in instance._defaultParamMap.items()},
    }, separators=(",", ":"))


def write_line(spark: Any, directory: str, text: str) -> None:
    """Write ``text`` as the one line of a text directory (one ``part-*`` file)."""
    spark.createDataFrame([(text,)], "value string").coalesce(1).write.text(directory)


def read_line(spark: Any, directory: str, what: str) -> str:
    """The one line of a text directory written by :func:`write_line` (``what`` names it
    in errors: "Stage metadata", "Model data")."""
    rows = spark.read.text(directory).collect()
    if len(rows) != 1:
        raise DataValidationError(
            f"{what} {directory!r}: expected one line of JSON, found {len(rows)} lines.")
    return str(rows[0][0])


def read_json_object(spark: Any, directory: str, what: str) -> dict[str, Any]:
    """The JSON object on the one line of ``directory``."""
    try:
        document = json.loads(read_line(spark, directory, what))
    except ValueError as exc:
        raise DataValidationError(f"{what} {directory!r}: not valid JSON ({exc}).") from exc
    if not isinstance(document, dict):
        raise DataValidationError(
            f"{what} {directory!r}: expected a JSON object, found {type(document).__name__}.")
    return document


class RddmlWriter(GeneralMLWriter):
    """Writes a stage's Params (pyspark's metadata format) and, for a fitted model, its
    rddml document as JSON in ``data/``; works on classic and Spark Connect sessions, on
    pyspark 3.5 and 4. ``format("pmml")`` writes a k-means model as PMML instead (the
    XML document as the directory's one text file, as MLlib does)."""

    def __init__(self, instance: Params) -> None:
        super().__init__()
        self.instance = instance
        self.source = "internal"

    def _handleOverwrite(self, path: str) -> None:
        if is_connect_session(self.sparkSession):
            try:
                from pyspark.ml.connect.readwrite import RemoteMLWriter
            except ImportError as exc:  # pyspark 3.5's Connect client cannot delete paths
                raise InvalidParameterError(
                    f"write().overwrite() under Spark Connect needs pyspark >= 4.0; delete "
                    f"{path!r} first, or save to a new path.") from exc
            RemoteMLWriter.handleOverwrite(path, True)
        else:
            super()._handleOverwrite(path)

    def save(self, path: str) -> None:
        """Save the stage to ``path`` (a leading ``~`` expanded, as a shell would)."""
        super().save(expand_user(path, what="Model path"))

    def saveImpl(self, path: str) -> None:
        spark = self.sparkSession
        source = (self.source or "internal").lower()
        pmml = getattr(self.instance, "_pmml", None)
        if source == "pmml" and pmml is not None:
            write_line(spark, path, pmml())
            return
        if source not in ("internal", "default"):
            formats = "'internal' or 'pmml'" if pmml is not None else "'internal'"
            raise InvalidParameterError(
                f"{type(self.instance).__name__}.write().format({self.source!r}): this stage "
                f"is written as {formats}.")
        write_line(spark, os.path.join(path, METADATA_DIR),
                   stage_metadata(self.instance, spark.version))
        document = getattr(self.instance, "_rddml_document", None)
        if document is not None:
            write_line(spark, os.path.join(path, DATA_DIR),
                       json.dumps(document(), allow_nan=False, separators=(",", ":")))


class RddmlWritable(MLWritable):
    """``write()`` / ``save(path)`` through :class:`RddmlWriter`."""

    def write(self) -> GeneralMLWriter:
        """An MLWriter for this stage (``.overwrite()``, ``.format(...)``, ``.save(path)``)."""
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
        metadata_dir = os.path.join(path, METADATA_DIR)
        with stage_read_errors(path):
            metadata = read_json_object(spark, metadata_dir, "Stage metadata")
        expected = f"{self.cls.__module__}.{self.cls.__name__}"
        if metadata.get("class") != expected:
            raise DataValidationError(
                f"{metadata_dir}: expected a saved {expected}, found "
                f"{metadata.get('class')!r}."
            )
        instance: Any = self.cls()
        instance._resetUid(metadata["uid"])
        for section in ("paramMap", "defaultParamMap"):
            if isinstance(metadata.get(section), dict):
                metadata[section] = {name: param_from_json(value)
                                     for name, value in metadata[section].items()}
        set_saved_params(instance, metadata, metadata_dir)
        restore = getattr(instance, "_restore_document", None)
        if restore is not None:
            data = os.path.join(path, DATA_DIR)
            with stage_read_errors(path):
                document = read_json_object(spark, data, "Model data")
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
        model = self._model_class(fitted)
        model._resetUid(self.uid)  # as pyspark.ml: a model has its estimator's uid
        self._copyValues(model)
        model._summary = model._new_training_summary(dataset)
        return model  # type: ignore[return-value]


class RddmlModel(Model, RddmlWritable):
    """A ``pyspark.ml.Model`` that wraps a fitted rddml estimator (``rddmlModel``), which
    holds its arrays and is written to and read from the stage's ``data/``."""

    _rddml_kind: ClassVar[str]
    _rddml: Any = None
    #: The training summary a fit attaches (None for a loaded or wrapped model).
    _summary: Any = None

    def __init__(self, rddmlModel: Any = None) -> None:
        super().__init__()
        self._rddml = rddmlModel
        self._summary = None

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

    def _new_training_summary(self, dataset: DataFrame) -> Any:
        raise NotImplementedError

    @property
    def hasSummary(self) -> bool:
        """Whether a training summary exists: True after a fit, False for a loaded model
        (as pyspark.ml; the loaded rddml model still has its ``loss_history_``)."""
        return self._summary is not None

    def _training_summary(self) -> Any:
        if self._summary is None:
            raise RuntimeError(
                f"No training summary available for this {type(self).__name__}")
        return self._summary
