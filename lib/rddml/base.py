"""What both estimators share: scikit-learn's parameter protocol, and reading the data
a fit or a score is given as an engine dataset.

``get_params(deep=True)`` and ``set_params(**params)`` read and write the constructor
parameters, so :func:`sklearn.base.clone`, ``GridSearchCV``-style tools and
``repr`` work. The parameter names come from ``__init__``'s signature, which only
stores them (the scikit-learn contract); validation happens in ``fit``.
"""

from __future__ import annotations

import inspect
import os
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any, ClassVar, TypeVar

from rddml.engine.dataset import Dataset
from rddml.engine.inputs import as_dataset
from rddml.errors import InvalidParameterError
from rddml.io import tracking
from rddml.io.persist import load_model, model_file, save_model
from rddml.params import check_is_fitted

E = TypeVar("E", bound="BaseEstimator")


class BaseEstimator:
    """Constructor parameters as a dict, scikit-learn style, and model persistence.

    A subclass names an attribute that exists once it is fitted (``_fitted_attribute``),
    writes its learned state as a JSON-able dict (``_model_document``), and validates a
    loaded document (``_check_model_document``, :mod:`rddml.io.validation`).
    """

    _fitted_attribute: ClassVar[str] = ""
    #: Whether the data carry labels (read from ``label_col``) besides the features.
    _labeled: ClassVar[bool] = False

    # The engine parameters every estimator's ``__init__`` stores.
    features_col: str | None
    feature_cols: list[str] | None
    weight_col: str | None
    backend: str
    storage: str
    dtype: str
    layout: str

    def _validate_params(self) -> None:
        raise NotImplementedError

    def _fit_dataset(self, ds: Dataset) -> None:
        raise NotImplementedError

    def _dataset(self, data: Any) -> tuple[Dataset, bool]:
        """``(dataset, owned)``: an engine dataset of ``data`` on the backend ``backend``
        resolves to (:func:`~rddml.engine.inputs.as_dataset`)."""
        return as_dataset(
            data, backend=self.backend, storage=self.storage, labeled=self._labeled,
            features_col=self.features_col, feature_cols=self.feature_cols,
            label_col=getattr(self, "label_col", None) if self._labeled else None,
            weight_col=self.weight_col, dtype=self.dtype, layout=str(self.layout),
        )

    @contextmanager
    def _data(self, data: Any) -> Iterator[Dataset]:
        """``data`` as an engine dataset for a ``with`` block; one built here is
        unpersisted when the block ends, however it ends."""
        ds, owned = self._dataset(data)
        try:
            yield ds
        finally:
            if owned:
                ds.unpersist()

    def _fit(self: E, data: Any) -> E:
        """``fit``: validate the parameters, fit on ``data``'s dataset, log the fit."""
        self._validate_params()
        with self._data(data) as ds:
            self._fit_dataset(ds)
        tracking.log_fit(self, backend=ds.backend)
        return self

    @classmethod
    def _param_names(cls) -> list[str]:
        signature = inspect.signature(cls.__init__)
        return [p.name for p in signature.parameters.values()
                if p.name != "self" and p.kind == p.POSITIONAL_OR_KEYWORD]

    def get_params(self, deep: bool = True) -> dict[str, Any]:
        """The constructor parameters. ``deep`` is accepted for scikit-learn; no
        parameter of an rddml estimator is itself an estimator."""
        return {name: getattr(self, name) for name in self._param_names()}

    #: Parameters ``repr`` shows.
    _repr_params: tuple[str, ...] = ()

    def __repr__(self) -> str:
        shown = ", ".join(f"{k}={v!r}" for k, v in self.get_params().items()
                          if k in self._repr_params)
        return f"{type(self).__name__}({shown})"

    def _restore(self, fitted: dict[str, Any]) -> None:
        """Set the learned attributes of a loaded model (``name`` → ``name_``)."""
        for name, value in fitted.items():
            setattr(self, f"{name}_", value)

    def set_params(self: E, **params: Any) -> E:
        """Set constructor parameters (validated at the next ``fit``); returns ``self``."""
        valid = self._param_names()
        for name, value in params.items():
            if name not in valid:
                raise InvalidParameterError(
                    f"Invalid parameter {name!r} for {type(self).__name__}; valid parameters "
                    f"are {sorted(valid)}."
                )
            setattr(self, name, value)
        return self

    # ----------------------------------------------------------- persistence
    def _saved_params(self) -> dict[str, Any]:
        """The parameters as JSON values (arrays as lists)."""
        return self.get_params()

    def _model_document(self) -> dict[str, Any]:
        raise NotImplementedError

    @classmethod
    def _check_model_document(cls: type[E], file: str | os.PathLike[str],
                              document: dict[str, Any]) -> tuple[E, dict[str, Any]]:
        raise NotImplementedError

    def _loaded(self) -> None:
        """Derived attributes of a loaded model (after ``_restore``)."""

    def _document(self) -> dict[str, Any]:
        """What :meth:`save` writes (JSON-ready): parameters and the learned state."""
        check_is_fitted(self, self._fitted_attribute)
        return {"params": self._saved_params(), **self._model_document()}

    @classmethod
    def _from_document(cls: type[E], file: Any, document: dict[str, Any]) -> E:
        """The model of a document, validated (``file`` names it in error messages)."""
        model, fitted = cls._check_model_document(file, document)
        model._restore(fitted)
        model._loaded()
        return model

    def save(self, path: str, *, overwrite: bool = False) -> None:
        """Write the parameters and the learned state to the directory ``path``
        atomically (JSON, no pickle); ``overwrite`` replaces an existing model."""
        save_model(path, type(self).__name__, self._document(), overwrite=overwrite)

    @classmethod
    def load(cls: type[E], path: str) -> E:
        """Read a model written by :meth:`save`; it predicts exactly as the saved one.

        Raises
        ------
        DataValidationError
            The file is damaged (not JSON, a missing or mistyped field, invalid params,
            non-finite or misshapen arrays ...); the message names the file, the field,
            what was expected and what was found (:mod:`rddml.io.validation`).
        """
        return cls._from_document(model_file(path), load_model(path, cls.__name__))
