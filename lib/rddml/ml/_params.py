"""The Params side of the :mod:`rddml.ml` stages: declaring a Param, the ``backend`` Param
they all have, the ``setX`` / ``getX`` accessors pyspark.ml stages have, optional columns
and the fixed default ``seed``.
"""

from __future__ import annotations

import zlib
from collections.abc import Callable
from typing import Any

from pyspark.ml.param import Param, Params, TypeConverters


def stable_seed(name: str) -> int:
    """The default ``seed`` of a stage: a fixed number per class name.

    pyspark.ml's default is ``hash(class name)``, which changes with every Python process
    (string hashing is randomised); rddml's stays the same, so a default fit repeats.
    """
    return zlib.crc32(name.encode()) & 0x7FFFFFFF


def rddml_param(name: str, doc: str, converter: Callable[[Any], Any]) -> Param[Any]:
    """A Param declared on a Params class (pyspark's ``Param(Params._dummy(), ...)``)."""
    return Param(Params._dummy(), name, doc, typeConverter=converter)


class HasBackend(Params):
    """The ``backend`` Param: where rddml runs the passes."""

    backend: Param[str] = rddml_param(
        "backend", "rddml: 'auto' (RDDs on a classic session, DataFrames under Spark Connect), "
        "'rdd' or 'dataframe'", TypeConverters.toString)


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
