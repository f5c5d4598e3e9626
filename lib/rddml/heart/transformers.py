"""Small ``pyspark.ml`` stages for what Spark ML lacks; everything else is Spark's own.

- :class:`ImpossibleValueToNull`: a value that cannot be a measurement (``chol = 0``,
  ``oldpeak < 0``) becomes missing, so imputation treats it as unknown.
- :class:`MissingIndicator`: ``<col>_missing`` = 1 where the column is missing,
  computed before imputation fills it.
- :class:`DropSparseColumns` / :class:`DropSparseColumnsModel`: learn which columns
  are missing in more than a given fraction of rows, then drop them.
- :class:`DropFirstSlot`: drop slot 0 of a one-hot vector. ``OneHotEncoder`` can only
  drop the *last* category; with ``StringIndexer(stringOrderType="alphabetAsc",
  handleInvalid="keep")`` in front, slot 0 is the first (reference) level and the
  last is the unseen-category bucket, so ``dropLast=True`` + this stage encode
  "drop the first level" (pandas ``get_dummies(drop_first=True)``) and score an
  unseen category as all zeros.

All four keep their state in ``Param`` values, so ``DefaultParamsWritable`` saves
them inside a fitted ``PipelineModel`` and ``PipelineModel.load`` restores them.

Examples
--------
>>> rules = ImpossibleValueToNull(rules=[["chol", "==", 0.0]])
>>> rules.getRules()
[['chol', '==', 0.0]]
"""

from __future__ import annotations

import numbers
from typing import TYPE_CHECKING, Any

from pyspark import keyword_only
from pyspark.ml import Estimator, Model, Transformer
from pyspark.ml.param import Param, Params, TypeConverters
from pyspark.ml.param.shared import HasInputCols, HasOutputCols
from pyspark.ml.util import DefaultParamsReadable, DefaultParamsWritable

from rddml.errors import DataValidationError, InvalidParameterError

if TYPE_CHECKING:
    from pyspark.sql import Column, DataFrame

OPERATORS = ("==", "<", "<=", ">", ">=")


def _check_columns(df: DataFrame, columns: list[str], stage: str) -> None:
    missing = [c for c in columns if c not in df.columns]
    if missing:
        raise DataValidationError(
            f"{stage}: column(s) {missing} not found; the DataFrame has {df.columns}."
        )


def check_rules(rules: Any) -> list[list[Any]]:
    """Validate ``[[column, operator, number], ...]`` and return it as lists."""
    ok = isinstance(rules, (list, tuple))
    checked: list[list[Any]] = []
    for rule in rules if ok else []:
        if not (
            isinstance(rule, (list, tuple)) and len(rule) == 3
            and isinstance(rule[0], str) and rule[0]
            and rule[1] in OPERATORS
            and isinstance(rule[2], numbers.Real) and not isinstance(rule[2], bool)
        ):
            ok = False
            break
        checked.append([rule[0], rule[1], float(rule[2])])
    if not ok:
        raise InvalidParameterError(
            "The 'rules' parameter must be a list of [column, operator, number] with operator "
            f"one of {', '.join(OPERATORS)}, got {rules!r}."
        )
    return checked


def rule_condition(column: str, operator: str, value: float) -> Column:
    """The Spark condition of one rule (true where the value is impossible).

    NaN never matches: Spark orders NaN above every number, so ``x > 9`` alone would
    hold for NaN (which is already missing for the imputer and the indicators).
    """
    from pyspark.sql import functions as F

    col = F.col(column)
    conditions = {"==": col == value, "<": col < value, "<=": col <= value,
                  ">": col > value, ">=": col >= value}
    return conditions[operator] & ~F.isnan(col)


class ImpossibleValueToNull(Transformer, DefaultParamsReadable["ImpossibleValueToNull"],
                            DefaultParamsWritable):
    """Set a column to null where a rule ``[column, operator, value]`` holds.

    Rules on the same column apply together; rules naming a column the frame does
    not have are an error (a silently ignored rule would hide a typo).
    """

    rules: Param[list[list[Any]]] = Param(
        Params._dummy(), "rules", "list of [column, operator, value]: set column to null "
        "where 'column operator value' holds", typeConverter=TypeConverters.identity,
    )

    _input_kwargs: dict[str, Any]

    @keyword_only
    def __init__(self, *, rules: list[list[Any]] | None = None) -> None:
        super().__init__()
        self._setDefault(rules=[])
        kwargs = self._input_kwargs
        if kwargs.get("rules") is not None:
            kwargs["rules"] = check_rules(kwargs["rules"])
        self._set(**kwargs)

    def getRules(self) -> list[list[Any]]:
        """The rules, as ``[column, operator, value]`` lists."""
        return self.getOrDefault(self.rules)

    def _transform(self, dataset: DataFrame) -> DataFrame:
        from pyspark.sql import functions as F

        rules = check_rules(self.getRules())
        _check_columns(dataset, [r[0] for r in rules], "ImpossibleValueToNull")
        replaced: dict[str, Column] = {}
        for column, operator, value in rules:
            current = replaced.get(column, F.col(column))
            replaced[column] = F.when(rule_condition(column, operator, value),
                                      F.lit(None)).otherwise(current)
        return dataset.select(*[
            replaced[c].cast(dataset.schema[c].dataType).alias(c) if c in replaced else F.col(c)
            for c in dataset.columns
        ])


class MissingIndicator(Transformer, HasInputCols, DefaultParamsReadable["MissingIndicator"],
                       DefaultParamsWritable):
    """Add ``<col><suffix>`` = 1 where ``col`` is null or NaN, else 0 (int), per input column."""

    suffix: Param[str] = Param(Params._dummy(), "suffix", "suffix of the indicator columns",
                               typeConverter=TypeConverters.toString)

    _input_kwargs: dict[str, Any]

    @keyword_only
    def __init__(self, *, inputCols: list[str] | None = None, suffix: str = "_missing") -> None:
        super().__init__()
        self._setDefault(suffix="_missing")
        self._set(**self._input_kwargs)

    def outputColumns(self) -> list[str]:
        """Names of the indicator columns, in input order."""
        return [c + self.getOrDefault(self.suffix) for c in self.getInputCols()]

    def _transform(self, dataset: DataFrame) -> DataFrame:
        from pyspark.sql import functions as F
        from pyspark.sql.types import DoubleType, FloatType

        inputs = self.getInputCols()
        _check_columns(dataset, inputs, "MissingIndicator")
        flags = []
        for column, name in zip(inputs, self.outputColumns()):
            missing = F.col(column).isNull()
            if isinstance(dataset.schema[column].dataType, (DoubleType, FloatType)):
                missing = missing | F.isnan(column)
            flags.append(F.when(missing, 1).otherwise(0).alias(name))
        return dataset.select("*", *flags)


class _DropSparseParams(HasInputCols):
    maxMissingFraction: Param[float] = Param(
        Params._dummy(), "maxMissingFraction",
        "drop a column when its missing fraction is strictly greater than this",
        typeConverter=TypeConverters.toFloat,
    )


class DropSparseColumns(Estimator["DropSparseColumnsModel"], _DropSparseParams,
                        DefaultParamsReadable["DropSparseColumns"], DefaultParamsWritable):
    """Learn which of ``inputCols`` are missing in more than ``maxMissingFraction`` of rows.

    ``fit`` makes one pass (one aggregate) over the data.
    """

    _input_kwargs: dict[str, Any]

    @keyword_only
    def __init__(self, *, inputCols: list[str] | None = None,
                 maxMissingFraction: float = 0.3) -> None:
        super().__init__()
        self._setDefault(maxMissingFraction=0.3)
        self._set(**self._input_kwargs)

    def _fit(self, dataset: DataFrame) -> DropSparseColumnsModel:
        from rddml.heart.profile import missing_fractions

        limit = self.getOrDefault(self.maxMissingFraction)
        if not 0.0 <= limit <= 1.0:
            raise InvalidParameterError(
                f"The 'maxMissingFraction' parameter must be a float in [0, 1], got {limit!r}."
            )
        inputs = self.getInputCols()
        _check_columns(dataset, inputs, "DropSparseColumns")
        fractions = missing_fractions(dataset, inputs)
        dropped = [c for c in inputs if fractions[c] > limit]
        return DropSparseColumnsModel(
            droppedCols=dropped,
            missingFractions={c: float(fractions[c]) for c in inputs},
        )


class DropSparseColumnsModel(Model, DefaultParamsReadable["DropSparseColumnsModel"],
                             DefaultParamsWritable):
    """Drop the columns :class:`DropSparseColumns` found too sparse (absent ones are ignored)."""

    droppedCols: Param[list[str]] = Param(Params._dummy(), "droppedCols", "columns to drop",
                                          typeConverter=TypeConverters.toListString)
    missingFractions: Param[dict[str, float]] = Param(
        Params._dummy(), "missingFractions", "missing fraction of each input column at fit",
        typeConverter=TypeConverters.identity,
    )

    _input_kwargs: dict[str, Any]

    @keyword_only
    def __init__(self, *, droppedCols: list[str] | None = None,
                 missingFractions: dict[str, float] | None = None) -> None:
        super().__init__()
        self._setDefault(droppedCols=[], missingFractions={})
        self._set(**self._input_kwargs)

    def getDroppedCols(self) -> list[str]:
        """The columns this model drops."""
        return list(self.getOrDefault("droppedCols"))

    def getMissingFractions(self) -> dict[str, float]:
        """Missing fraction of each candidate column in the data the model was fit on."""
        return dict(self.getOrDefault("missingFractions"))

    def _transform(self, dataset: DataFrame) -> DataFrame:
        return dataset.drop(*self.getDroppedCols())


class DropFirstSlot(Transformer, HasInputCols, HasOutputCols,
                    DefaultParamsReadable["DropFirstSlot"], DefaultParamsWritable):
    """Copy each input vector without its slot 0 (e.g. a one-hot reference level).

    Output vectors are dense and carry ML attribute metadata (size and slot names,
    taken from the input's), so ``VectorAssembler`` needs no extra pass to learn sizes.
    """

    _input_kwargs: dict[str, Any]

    @keyword_only
    def __init__(self, *, inputCols: list[str] | None = None,
                 outputCols: list[str] | None = None) -> None:
        super().__init__()
        self._set(**self._input_kwargs)

    def _transform(self, dataset: DataFrame) -> DataFrame:
        from pyspark.ml.functions import array_to_vector, vector_to_array
        from pyspark.sql import functions as F

        inputs, outputs = self.getInputCols(), self.getOutputCols()
        if len(inputs) != len(outputs):
            raise InvalidParameterError(
                f"DropFirstSlot: 'inputCols' and 'outputCols' must have the same length, got "
                f"{len(inputs)} and {len(outputs)}."
            )
        _check_columns(dataset, inputs, "DropFirstSlot")
        columns = []
        for source, name in zip(inputs, outputs):
            values = vector_to_array(F.col(source))
            sliced = array_to_vector(F.slice(values, 2, F.size(values) - 1))
            metadata = _drop_first_attribute(dataset.schema[source].metadata, name)
            columns.append(sliced.alias(name, metadata=metadata))
        return dataset.select("*", *columns)


def _drop_first_attribute(metadata: dict[str, Any], name: str) -> dict[str, Any]:
    """ML attribute metadata of a vector after removing slot 0 (empty if unknown)."""
    attr = metadata.get("ml_attr") if metadata else None
    if not attr or "num_attrs" not in attr:
        return {}
    slots: list[dict[str, Any]] = []
    for kind, items in attr.get("attrs", {}).items():
        slots += [{**item, "__kind": kind} for item in items]
    kept = sorted((s for s in slots if s["idx"] != 0), key=lambda s: s["idx"])
    attrs: dict[str, list[dict[str, Any]]] = {}
    for item in kept:
        kind = item.pop("__kind")
        attrs.setdefault(kind, []).append({**item, "idx": item["idx"] - 1})
    new: dict[str, Any] = {"num_attrs": int(attr["num_attrs"]) - 1, "name": name}
    if attrs:
        new["attrs"] = attrs
    return {"ml_attr": new}
