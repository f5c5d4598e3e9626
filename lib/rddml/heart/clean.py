"""Step 3: clean — impossible values to missing, sparse columns out, duplicates out.

:func:`clean` applies, in order,

1. the impossible-value rules (:class:`~rddml.heart.transformers.ImpossibleValueToNull`,
   by default ``chol = 0``, ``trestbps = 0``, ``oldpeak < 0``), counting the values
   each rule changed;
2. the drop-by-missing-fraction rule (:class:`~rddml.heart.transformers.DropSparseColumns`,
   missing fraction > 0.30 after step 1; on the UCI files: ``ca, thal, slope``);
3. exact-duplicate removal over every data column (provenance columns
   ``source, line`` excluded), keeping the row with the smallest key so the
   result never depends on partitioning (``dropDuplicates`` keeps an arbitrary one).

The column-drop decision is taken on all rows before the train/test split, as
in the write-up: it decides which columns exist, uses no label and no value that
reaches a feature. Everything fitted to values (medians, modes, levels, min/max)
is fitted on the training split only (:mod:`rddml.heart.pipeline`).

Examples
--------
>>> cleaned = clean(raw_df)  # doctest: +SKIP
>>> cleaned.rule_changes, cleaned.dropped_columns, cleaned.n_after  # doctest: +SKIP
({'chol == 0': 172, 'trestbps == 0': 1, 'oldpeak < 0': 12}, ['slope', 'ca', 'thal'], 918)
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import pandas as pd

from rddml.heart.columns import IMPOSSIBLE_VALUE_RULES, KEY_COLUMNS, MEASURED_COLUMNS
from rddml.heart.transformers import (
    DropSparseColumns,
    DropSparseColumnsModel,
    ImpossibleValueToNull,
    check_rules,
    rule_condition,
)
from rddml.params import check_float

if TYPE_CHECKING:
    from pyspark.sql import DataFrame


@dataclass(frozen=True)
class CleanResult:
    """What :func:`clean` did.

    Attributes
    ----------
    df : DataFrame
        The cleaned rows.
    rules : ImpossibleValueToNull
        The rules stage (reused at the head of the fitted preprocessing pipeline).
    sparse_columns : DropSparseColumnsModel
        The fitted column-drop stage (likewise reused).
    rule_changes : dict
        ``"<column> <op> <value>"`` -> number of values that rule set to missing.
    missing_after_rules : pandas.Series
        Missing fraction per candidate column after the rules.
    dropped_columns : list of str
    n_before, n_duplicates, n_after : int
        Rows in, exact duplicates removed, rows out.
    """

    df: DataFrame
    rules: ImpossibleValueToNull
    sparse_columns: DropSparseColumnsModel
    rule_changes: dict[str, int]
    missing_after_rules: pd.Series
    dropped_columns: list[str]
    n_before: int
    n_duplicates: int
    n_after: int


def rule_name(rule: Sequence[Any]) -> str:
    """``["chol", "==", 0.0]`` -> ``"chol == 0"``."""
    column, operator, value = rule
    return f"{column} {operator} {float(value):g}"


def count_rule_changes(df: DataFrame, rules: Sequence[Sequence[Any]]) -> dict[str, int]:
    """How many non-missing values each rule would set to missing (one pass).

    When two rules hit the same value, both count it.
    """
    from pyspark.sql import functions as F

    checked = check_rules(list(rules))
    if not checked:
        return {}
    row = df.agg(*[
        F.sum(F.when(rule_condition(*rule), 1).otherwise(0)).alias(f"r{i}")
        for i, rule in enumerate(checked)
    ]).first()
    assert row is not None
    return {rule_name(rule): int(row[f"r{i}"] or 0) for i, rule in enumerate(checked)}


def drop_duplicates(
    df: DataFrame, key_columns: Sequence[str] = KEY_COLUMNS
) -> DataFrame:
    """Drop rows equal in every column but ``key_columns``, keeping the smallest key.

    Nulls compare equal (as in SQL grouping and pandas ``duplicated``). Without key
    columns in the frame this is plain ``dropDuplicates()``.
    """
    from pyspark.sql import Window
    from pyspark.sql import functions as F

    keys = [c for c in key_columns if c in df.columns]
    if not keys:
        return df.dropDuplicates()
    data = [c for c in df.columns if c not in keys]
    first = Window.partitionBy(*data).orderBy(*keys)
    return (
        df.withColumn("__rank", F.row_number().over(first))
        .filter(F.col("__rank") == 1)
        .select(*df.columns)
    )


def clean(
    df: DataFrame,
    *,
    rules: Sequence[Sequence[Any]] = IMPOSSIBLE_VALUE_RULES,
    max_missing_fraction: float = 0.3,
    candidate_columns: Sequence[str] = MEASURED_COLUMNS,
    key_columns: Sequence[str] = KEY_COLUMNS,
) -> CleanResult:
    """Apply the three cleaning rules and count what each changed.

    Parameters
    ----------
    df : DataFrame
        Loaded rows (e.g. :func:`rddml.heart.load.load_heart_disease`).
    rules : sequence of (column, operator, value)
        Impossible values; each becomes null.
    max_missing_fraction : float, default=0.3
        A candidate column missing in more than this fraction of rows (after the
        rules) is dropped.
    candidate_columns : sequence of str
        Columns the missing-fraction rule may drop (those present in ``df``).
    key_columns : sequence of str
        Provenance columns ignored when comparing rows for duplicates.

    Returns
    -------
    CleanResult
    """
    check_float("max_missing_fraction", max_missing_fraction, low=0.0, high=1.0)
    rule_stage = ImpossibleValueToNull(rules=check_rules(list(rules)))
    rule_changes = count_rule_changes(df, rule_stage.getRules())
    nulled = rule_stage.transform(df)
    candidates = [c for c in candidate_columns if c in df.columns]
    sparse = DropSparseColumns(inputCols=candidates,
                               maxMissingFraction=max_missing_fraction).fit(nulled)
    reduced = sparse.transform(nulled)
    deduplicated = drop_duplicates(reduced, key_columns)
    n_before = df.count()
    n_after = deduplicated.count()
    fractions = sparse.getMissingFractions()
    return CleanResult(
        df=deduplicated,
        rules=rule_stage,
        sparse_columns=sparse,
        rule_changes=rule_changes,
        missing_after_rules=pd.Series(fractions, name="missing_fraction", dtype=float),
        dropped_columns=sparse.getDroppedCols(),
        n_before=n_before,
        n_duplicates=n_before - n_after,
        n_after=n_after,
    )
