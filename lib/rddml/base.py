"""What both estimators share: scikit-learn's parameter protocol.

``get_params(deep=True)`` and ``set_params(**params)`` read and write the constructor
parameters, so :func:`sklearn.base.clone`, ``GridSearchCV``-style tools and
``repr`` work. The parameter names come from ``__init__``'s signature, which only
stores them (the scikit-learn contract); validation happens in ``fit``.
"""

from __future__ import annotations

import inspect
from typing import Any, TypeVar

from rddml.errors import InvalidParameterError

E = TypeVar("E", bound="BaseEstimator")


class BaseEstimator:
    """Constructor parameters as a dict, scikit-learn style."""

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
