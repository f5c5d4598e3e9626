"""What the ``pyspark.ml`` stages of :mod:`rddml.ml` share: setters, error names,
persistence (``MLWritable`` / ``MLReadable``) and the scoring frame helpers.

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
import zlib
from typing import TYPE_CHECKING, Any, ClassVar, Generic, TypeVar

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

if TYPE_CHECKING:
    from pyspark.sql import DataFrame

DATA_DIR = "data"
P = TypeVar("P", bound="MLReadable[Any]")


def stable_seed(name: str) -> int:
    """The default ``seed`` of a stage: a fixed number per class name.

    pyspark.ml's default is ``hash(class name)``, which changes with every Python process
    (string hashing is randomised); rddml's stays the same, so a default fit repeats.
    """
    return zlib.crc32(name.encode()) & 0x7FFFFFFF


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
        metadata = DefaultParamsReader.loadMetadata(path, spark)
        expected = f"{self.cls.__module__}.{self.cls.__name__}"
        if metadata.get("class") != expected:
            raise DataValidationError(
                f"{os.path.join(path, 'metadata')}: expected a saved {expected}, found "
                f"{metadata.get('class')!r}."
            )
        instance: Any = self.cls()
        instance._resetUid(metadata["uid"])
        DefaultParamsReader.getAndSetParams(instance, metadata)
        restore = getattr(instance, "_restore_document", None)
        if restore is not None:
            data = os.path.join(path, DATA_DIR)
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


class FittedRddml:
    """A fitted model's link to the rddml estimator that holds its arrays."""

    _rddml_kind: ClassVar[str]
    _rddml: Any = None

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
