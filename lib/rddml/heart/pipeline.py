"""Step 5: preprocessing fitted on the training split only, applied to both splits.

One ``pyspark.ml`` Pipeline; Spark's own stages wherever they do the job:

====================================  =================================================
stage                                  does
====================================  =================================================
``ImpossibleValueToNull`` (rddml)      ``chol = 0``, ``trestbps = 0``, ``oldpeak < 0`` -> null
``DropSparseColumnsModel`` (rddml)     drops ``ca, thal, slope`` (decided in :mod:`.clean`)
``MissingIndicator`` (rddml)           ``<col>_missing`` 0/1 for the 7 imputed columns
``Imputer(strategy="median")``         ``oldpeak, trestbps, thalach, chol``
``Imputer(strategy="mode")``           ``restecg, exang, fbs``
``StringIndexer`` (alphabetAsc, keep)  levels of ``cp, restecg`` learnt on train
``OneHotEncoder(dropLast=True)``       drops the unseen-category bucket
``DropFirstSlot`` (rddml)              drops the first level (reference)
``VectorAssembler``                    -> ``features_raw``
``MinMaxScaler``                       -> ``features`` in [0, 1] (train min/max)
====================================  =================================================

The first two stages are already fitted when the pipeline is built, so the saved
``PipelineModel`` scores a raw new patient row (as loaded) end to end.

Spark's median is ``approxQuantile``: with ``relativeError=0`` it is exact but
returns an observed value (the lower of the two middle values for an even count),
where pandas averages them; the two agree whenever the middle values are equal.
A category never seen in training (or a missing ``cp``) is scored as the
reference level (all-zero one-hot) and counted by :func:`unseen_category_counts`.

Examples
--------
>>> model = fit_preprocessing(train, cleaned.rules, cleaned.sparse_columns)  # doctest: +SKIP
>>> train_prepared = model.transform(train)  # doctest: +SKIP
>>> test_prepared = model.transform(test)  # doctest: +SKIP
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from rddml.errors import DataValidationError
from rddml.heart.columns import (
    MEDIAN_IMPUTED,
    MODE_IMPUTED,
    ONE_HOT,
    PLAIN_FEATURES,
)
from rddml.heart.transformers import (
    DropFirstSlot,
    DropSparseColumnsModel,
    ImpossibleValueToNull,
    MissingIndicator,
)

if TYPE_CHECKING:
    from pyspark.ml import Pipeline, PipelineModel, Transformer
    from pyspark.sql import DataFrame

RAW_FEATURES = "features_raw"
FEATURES = "features"
INDEX_SUFFIX = "_index"
ONE_HOT_ALL_SUFFIX = "_onehot_all"
ONE_HOT_SUFFIX = "_onehot"


def build_preprocessing(
    rules: ImpossibleValueToNull,
    sparse_columns: DropSparseColumnsModel,
    *,
    median_columns: Sequence[str] = MEDIAN_IMPUTED,
    mode_columns: Sequence[str] = MODE_IMPUTED,
    one_hot_columns: Sequence[str] = ONE_HOT,
    plain_columns: Sequence[str] = PLAIN_FEATURES,
    relative_error: float = 0.0,
) -> Pipeline:
    """The unfitted preprocessing pipeline (see the module docstring for its stages)."""
    from pyspark.ml import Pipeline
    from pyspark.ml.feature import (
        Imputer,
        MinMaxScaler,
        OneHotEncoder,
        StringIndexer,
        VectorAssembler,
    )

    imputed = [*median_columns, *mode_columns]
    flags = MissingIndicator(inputCols=imputed)
    index_cols = [c + INDEX_SUFFIX for c in one_hot_columns]
    all_levels = [c + ONE_HOT_ALL_SUFFIX for c in one_hot_columns]
    encoded = [c + ONE_HOT_SUFFIX for c in one_hot_columns]
    stages: list[Any] = [rules, sparse_columns, flags]
    if median_columns:
        stages.append(Imputer(strategy="median", relativeError=relative_error,
                              inputCols=list(median_columns), outputCols=list(median_columns)))
    if mode_columns:
        stages.append(Imputer(strategy="mode", relativeError=relative_error,
                              inputCols=list(mode_columns), outputCols=list(mode_columns)))
    if one_hot_columns:
        stages += [
            StringIndexer(inputCols=list(one_hot_columns), outputCols=index_cols,
                          stringOrderType="alphabetAsc", handleInvalid="keep"),
            OneHotEncoder(inputCols=index_cols, outputCols=all_levels, dropLast=True),
            DropFirstSlot(inputCols=all_levels, outputCols=encoded),
        ]
    stages += [
        VectorAssembler(inputCols=[*plain_columns, *flags.outputColumns(), *encoded],
                        outputCol=RAW_FEATURES, handleInvalid="error"),
        MinMaxScaler(inputCol=RAW_FEATURES, outputCol=FEATURES),
    ]
    return Pipeline(stages=stages)


def fit_preprocessing(
    train: DataFrame,
    rules: ImpossibleValueToNull,
    sparse_columns: DropSparseColumnsModel,
    **options: Any,
) -> PipelineModel:
    """Fit :func:`build_preprocessing` on ``train`` (the only rows it ever sees)."""
    if train.isEmpty():
        raise DataValidationError("Cannot fit the preprocessing on an empty training split.")
    return build_preprocessing(rules, sparse_columns, **options).fit(train)


def prepared_columns(df: DataFrame) -> list[str]:
    """The columns of a transformed frame without the encoders' intermediate ones."""
    return [c for c in df.columns
            if not c.endswith(INDEX_SUFFIX) and not c.endswith(ONE_HOT_ALL_SUFFIX)]


def prepare_splits(
    train: DataFrame,
    test: DataFrame,
    rules: ImpossibleValueToNull,
    sparse_columns: DropSparseColumnsModel,
    **options: Any,
) -> tuple[PipelineModel, DataFrame, DataFrame, dict[str, int]]:
    """Fit the preprocessing on ``train`` only and apply it to both splits.

    Returns ``(model, train_prepared, test_prepared, unseen)``: ``unseen`` counts the
    test rows whose one-hot columns held a level never seen in training. The
    prepared frames keep every column but the encoders' intermediate ones.
    """
    model = fit_preprocessing(train, rules, sparse_columns, **options)
    train_all = model.transform(train)
    test_all = model.transform(test)
    unseen = unseen_category_counts(model, test_all)
    return (model, train_all.select(*prepared_columns(train_all)),
            test_all.select(*prepared_columns(test_all)), unseen)


def _stage(model: PipelineModel, kind: str, strategy: str | None = None) -> Transformer:
    for stage in model.stages:
        if type(stage).__name__ != kind:
            continue
        if strategy is None or stage.getOrDefault("strategy") == strategy:
            return stage
    raise DataValidationError(f"The preprocessing model has no {kind} stage"
                              + (f" with strategy {strategy!r}." if strategy else "."))


def _format_level(level: str) -> str:
    """``"2.0"`` -> ``"2"`` for the names of one-hot features."""
    try:
        value = float(level)
    except ValueError:
        return level
    return str(int(value)) if value.is_integer() else level


def category_levels(model: PipelineModel) -> dict[str, list[str]]:
    """Levels learnt per one-hot column, in index order (the first is the reference)."""
    indexer: Any = _stage(model, "StringIndexerModel")
    return dict(zip(indexer.getInputCols(), [list(ls) for ls in indexer.labelsArray]))


def feature_names(model: PipelineModel) -> list[str]:
    """Names of the slots of ``features``, in order (e.g. ``cp_2`` for cp = 2)."""
    assembler: Any = _stage(model, "VectorAssembler")
    levels = category_levels(model) if any(
        type(s).__name__ == "StringIndexerModel" for s in model.stages) else {}
    names: list[str] = []
    for column in assembler.getInputCols():
        base = column[: -len(ONE_HOT_SUFFIX)] if column.endswith(ONE_HOT_SUFFIX) else None
        if base is not None and base in levels:
            names += [f"{base}_{_format_level(level)}" for level in levels[base][1:]]
        else:
            names.append(column)
    return names


def fitted_statistics(model: PipelineModel) -> dict[str, Any]:
    """What the pipeline learnt from the training split: medians, modes, levels, min/max."""
    medians: dict[str, float] = {}
    modes: dict[str, float] = {}
    for stage in model.stages:
        if type(stage).__name__ != "ImputerModel":
            continue
        row = stage.surrogateDF.first()  # type: ignore[attr-defined]
        values = {c: float(row[c]) for c in stage.getInputCols()}  # type: ignore[attr-defined]
        (medians if stage.getOrDefault("strategy") == "median" else modes).update(values)
    scaler: Any = _stage(model, "MinMaxScalerModel")
    names = feature_names(model)
    return {
        "medians": medians,
        "modes": modes,
        "levels": category_levels(model),
        "feature_min": dict(zip(names, scaler.originalMin.toArray().tolist())),
        "feature_max": dict(zip(names, scaler.originalMax.toArray().tolist())),
    }


def unseen_category_counts(model: PipelineModel, prepared: DataFrame) -> dict[str, int]:
    """Rows of a transformed frame whose one-hot column held a level unseen in training
    (or was missing): they are encoded as the reference level. One pass."""
    from pyspark.sql import functions as F

    levels = category_levels(model)
    checks = [
        F.sum(F.when(F.col(column + INDEX_SUFFIX) >= len(found), 1).otherwise(0)).alias(column)
        for column, found in levels.items()
    ]
    row = prepared.agg(*checks).first()
    assert row is not None
    return {column: int(row[column] or 0) for column in levels}
