"""Step 2: profile the data — every statistic aggregated in Spark, SciPy on small tables.

Each function makes one pass over the DataFrame (one ``agg`` or one ``groupBy``)
and returns a small pandas table for the report:

- :func:`numeric_summary`: pandas ``describe()`` layout. Quartiles use Spark's
  exact ``percentile`` aggregate, which interpolates linearly between the two
  nearest ranks, ``(n - 1) * q`` — pandas' default (``interpolation="linear"``) —
  so the figures match the write-up to the last digit. ``percentile`` keeps a
  count per distinct value, which is small for clinical measurements; use
  ``percentile_approx`` for high-cardinality columns.
- :func:`missing_fractions`: nulls (and NaN) per column over all rows.
- :func:`disease_rate_by_category`: rows, positives and rate per category value.
- :func:`chi_square_tests`: contingency counts of every column pair in one
  ``groupBy``; ``scipy.stats.chi2_contingency`` on each small table (with its
  default Yates correction for 2x2 tables, as ``pd.crosstab`` + SciPy in the
  write-up).
- :func:`welch_t_tests`: count, mean and variance per class in Spark, then
  ``scipy.stats.ttest_ind_from_stats(equal_var=False)``. This compares a column's
  mean between healthy and sick patients. (The write-up called
  ``ttest_ind(data[col], data["disease"])``, comparing the column's values with
  the 0/1 labels themselves, which is why it printed p = 0 everywhere.)

Examples
--------
>>> numeric_summary(df, ["age"]).loc["mean", "age"]  # doctest: +SKIP
53.51086956521739
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from typing import TYPE_CHECKING, cast

import numpy as np
import pandas as pd

from rddml.errors import DataValidationError
from rddml.heart.columns import LABEL

if TYPE_CHECKING:
    from pyspark.sql import Column, DataFrame

QUARTILES = (0.25, 0.5, 0.75)
DESCRIBE_INDEX = ("count", "mean", "std", "min", "25%", "50%", "75%", "max")


def _require(df: DataFrame, columns: Sequence[str]) -> None:
    missing = [c for c in columns if c not in df.columns]
    if missing:
        raise DataValidationError(
            f"Column(s) {missing} not found; the DataFrame has {df.columns}."
        )


def _is_missing(name: str, df: DataFrame) -> Column:
    from pyspark.sql import functions as F
    from pyspark.sql.types import DoubleType, FloatType

    column = F.col(name)
    if isinstance(df.schema[name].dataType, (DoubleType, FloatType)):
        return column.isNull() | F.isnan(column)
    return column.isNull()


def numeric_summary(df: DataFrame, columns: Sequence[str]) -> pd.DataFrame:
    """count, mean, std (n - 1), min, quartiles and max of each column, nulls ignored.

    Returns a frame indexed like ``pandas.DataFrame.describe()`` with one column per input
    column. A column with no value has count 0 and NaN elsewhere.
    """
    from pyspark.sql import functions as F

    _require(df, columns)
    quantiles = ", ".join(repr(q) for q in QUARTILES)
    exprs = []
    for i, name in enumerate(columns):
        value = F.col(name).cast("double")
        exprs += [
            F.count(value).alias(f"n{i}"),
            F.avg(value).alias(f"mean{i}"),
            F.stddev_samp(value).alias(f"std{i}"),
            F.min(value).alias(f"min{i}"),
            F.expr(f"percentile(CAST(`{name}` AS DOUBLE), array({quantiles}))").alias(f"q{i}"),
            F.max(value).alias(f"max{i}"),
        ]
    row = df.agg(*exprs).first()
    assert row is not None  # a global aggregate always returns one row
    table = {}
    for i, name in enumerate(columns):
        quartiles = row[f"q{i}"] or [None] * len(QUARTILES)
        values = [row[f"n{i}"], row[f"mean{i}"], row[f"std{i}"], row[f"min{i}"], *quartiles,
                  row[f"max{i}"]]
        table[name] = [np.nan if v is None else float(v) for v in values]
    return pd.DataFrame(table, index=list(DESCRIBE_INDEX))


def missing_fractions(df: DataFrame, columns: Sequence[str] | None = None) -> pd.Series:
    """Fraction of rows where each column is null (or NaN), in one pass."""
    from pyspark.sql import functions as F

    names = list(df.columns if columns is None else columns)
    _require(df, names)
    row = df.agg(
        F.count(F.lit(1)).alias("__rows"),
        *[F.sum(F.when(_is_missing(n, df), 1).otherwise(0)).alias(f"m{i}")
          for i, n in enumerate(names)],
    ).first()
    assert row is not None
    total = row["__rows"]
    if not total:
        raise DataValidationError("Cannot compute missing fractions of an empty DataFrame.")
    return pd.Series([row[f"m{i}"] / total for i in range(len(names))], index=names,
                     name="missing_fraction", dtype=float)


def _long_format(df: DataFrame, columns: Sequence[str], label: str) -> DataFrame:
    """One row per (input row, column): ``column, value, label`` (one explode, no shuffle)."""
    from pyspark.sql import functions as F

    pairs = F.array(*[F.struct(F.lit(c).alias("column"),
                               F.col(c).cast("double").alias("value")) for c in columns])
    return df.select(F.explode(pairs).alias("p"), F.col(label).alias("label")).select(
        "p.column", "p.value", "label"
    )


def disease_rate_by_category(
    df: DataFrame, columns: Sequence[str], label: str = LABEL
) -> pd.DataFrame:
    """Rows, positives and positive rate per value of each column (missing is its own row).

    Returns columns ``column, category, n, n_disease, rate``; ``category`` is NaN for
    missing values. Sorted by column (in the given order) then category.
    """
    from pyspark.sql import functions as F

    _require(df, [*columns, label])
    counts: pd.DataFrame = cast(pd.DataFrame, (
        _long_format(df, columns, label)
        .groupBy("column", "value")
        .agg(F.count(F.lit(1)).alias("n"), F.sum("label").alias("n_disease"))
        .toPandas()
    ))
    counts = counts.rename(columns={"value": "category"})
    counts["n"] = counts["n"].astype(int)
    counts["n_disease"] = counts["n_disease"].astype(int)
    counts["rate"] = counts["n_disease"] / counts["n"]
    counts["order"] = counts["column"].map({c: i for i, c in enumerate(columns)})
    counts = counts.sort_values(["order", "category"], na_position="last")
    return counts.drop(columns="order").reset_index(drop=True)


def chi_square_tests(
    df: DataFrame, columns: Sequence[str], *, alpha: float = 0.05
) -> pd.DataFrame:
    """Chi-square test of independence for every pair of ``columns``.

    Rows where either column is missing are left out of that pair's table (as
    ``pd.crosstab`` does). Returns ``a, b, chi2, dof, p_value, independent``
    (``p_value > alpha``), one row per pair in ``itertools.combinations`` order.
    """
    from pyspark.sql import functions as F
    from scipy.stats import chi2_contingency

    _require(df, columns)
    pairs = list(itertools.combinations(columns, 2))
    cells = F.array(*[
        F.struct(F.lit(a).alias("a"), F.lit(b).alias("b"),
                 F.col(a).cast("double").alias("x"), F.col(b).cast("double").alias("y"))
        for a, b in pairs
    ])
    counts: pd.DataFrame = cast(pd.DataFrame, (
        df.select(F.explode(cells).alias("c"))
        .select("c.*")
        .dropna(subset=["x", "y"])
        .groupBy("a", "b", "x", "y")
        .count()
        .toPandas()
    ))
    rows = []
    for a, b in pairs:
        cell = counts[(counts["a"] == a) & (counts["b"] == b)]
        table = cell.pivot_table(index="x", columns="y", values="count", aggfunc="sum",
                                 fill_value=0)
        if table.shape[0] < 2 or table.shape[1] < 2:
            rows.append((a, b, np.nan, 0, np.nan, False))
            continue
        result = chi2_contingency(table.to_numpy())
        p_value = float(result[1])
        rows.append((a, b, float(result[0]), int(result[2]), p_value, p_value > alpha))
    return pd.DataFrame(rows, columns=["a", "b", "chi2", "dof", "p_value", "independent"])


def welch_t_tests(df: DataFrame, columns: Sequence[str], label: str = LABEL) -> pd.DataFrame:
    """Welch's two-sample t-test of each column's mean, label 0 vs label 1, nulls ignored.

    Returns ``column, n_0, mean_0, std_0, n_1, mean_1, std_1, t, p_value``.
    """
    from pyspark.sql import functions as F
    from scipy.stats import ttest_ind_from_stats

    _require(df, [*columns, label])
    moments = []
    for i, name in enumerate(columns):
        value = F.col(name).cast("double")
        moments += [F.count(value).alias(f"n{i}"), F.avg(value).alias(f"mean{i}"),
                    F.stddev_samp(value).alias(f"std{i}")]
    by_class = {int(r[label]): r for r in df.groupBy(label).agg(*moments).collect()}
    if set(by_class) != {0, 1}:
        raise DataValidationError(
            f"Column {label!r} must hold both classes 0 and 1, got {sorted(by_class)}."
        )
    rows = []
    for i, name in enumerate(columns):
        g0, g1 = by_class[0], by_class[1]
        stats = [g0[f"n{i}"], g0[f"mean{i}"], g0[f"std{i}"], g1[f"n{i}"], g1[f"mean{i}"],
                 g1[f"std{i}"]]
        if min(stats[0], stats[3]) < 2:
            rows.append((name, *stats, np.nan, np.nan))
            continue
        t, p = ttest_ind_from_stats(stats[1], stats[2], stats[0], stats[4], stats[5], stats[3],
                                    equal_var=False)
        rows.append((name, *stats, float(t), float(p)))
    return pd.DataFrame(rows, columns=["column", "n_0", "mean_0", "std_0", "n_1", "mean_1",
                                       "std_1", "t", "p_value"])
