"""Step 2: the profile — Spark aggregates against pandas / SciPy on the same rows."""

from __future__ import annotations

import itertools
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from scipy.stats import chi2_contingency, ttest_ind

from rddml.errors import DataValidationError
from rddml.heart.clean import clean
from rddml.heart.columns import CATEGORICAL_COLUMNS, CHI_SQUARE_COLUMNS, NUMERIC_COLUMNS
from rddml.heart.load import load_heart_disease
from rddml.heart.profile import (
    chi_square_tests,
    disease_rate_by_category,
    missing_fractions,
    numeric_summary,
    welch_t_tests,
)

DATA = Path(__file__).resolve().parents[1] / "data/uci-heart-disease"


@pytest.fixture(scope="module")
def raw(spark: Any) -> Any:
    loaded = load_heart_disease(spark, str(DATA))
    yield loaded.df
    loaded.unpersist()


@pytest.fixture(scope="module")
def raw_pd(raw: Any) -> pd.DataFrame:
    return raw.toPandas()


@pytest.fixture(scope="module")
def cleaned(raw: Any) -> Any:
    result = clean(raw)
    result.df.cache()
    yield result
    result.df.unpersist()


def test_numeric_summary_matches_the_write_up(raw: Any) -> None:
    table = numeric_summary(raw, NUMERIC_COLUMNS)
    # The write-up prints 6 decimals: agree to half a unit of the last one.
    published = {
        ("count", "age"): 920, ("mean", "age"): 53.510870, ("std", "age"): 9.424685,
        ("count", "chol"): 890, ("mean", "chol"): 199.130337,
        ("count", "trestbps"): 861, ("mean", "trestbps"): 132.132404,
        ("count", "thalach"): 865, ("count", "oldpeak"): 858, ("mean", "oldpeak"): 0.878788,
        ("25%", "age"): 47, ("50%", "chol"): 223, ("75%", "thalach"): 157,
        ("50%", "oldpeak"): 0.5, ("min", "oldpeak"): -2.6, ("max", "chol"): 603,
    }
    for (stat, column), value in published.items():
        assert table.loc[stat, column] == pytest.approx(value, abs=5e-7), (stat, column)


def test_numeric_summary_equals_pandas_describe(raw: Any, raw_pd: pd.DataFrame) -> None:
    ours = numeric_summary(raw, NUMERIC_COLUMNS)
    expected = raw_pd[list(NUMERIC_COLUMNS)].describe()
    pd.testing.assert_frame_equal(ours, expected, rtol=1e-12, check_dtype=False)


def test_numeric_summary_interpolates_quartiles_and_ignores_nulls(spark: Any) -> None:
    df = spark.createDataFrame([(1.0, None), (2.0, None), (3.0, None), (10.0, None),
                                (None, None)], "x double, empty double")
    table = numeric_summary(df, ["x", "empty"])
    expected = pd.Series([1.0, 2.0, 3.0, 10.0]).describe()
    np.testing.assert_allclose(table["x"].to_numpy(), expected.to_numpy(), rtol=1e-12)
    assert table.loc["count", "empty"] == 0 and table["empty"].iloc[1:].isna().all()


def test_missing_fractions_match_pandas(raw: Any, raw_pd: pd.DataFrame) -> None:
    ours = missing_fractions(raw)
    expected = raw_pd.isna().mean()
    pd.testing.assert_series_equal(ours, expected, check_names=False, rtol=1e-15)
    assert ours["ca"] == pytest.approx(611 / 920)


def test_missing_fractions_count_nan_as_missing(spark: Any) -> None:
    df = spark.createDataFrame([(float("nan"), 1), (None, 2), (1.0, None), (2.0, 4)],
                               "x double, n int")
    assert missing_fractions(df).to_dict() == {"x": 0.5, "n": 0.25}


def test_disease_rate_by_category_matches_pandas_groupby(raw: Any,
                                                         raw_pd: pd.DataFrame) -> None:
    ours = disease_rate_by_category(raw, CATEGORICAL_COLUMNS)
    for column in CATEGORICAL_COLUMNS:
        part = ours[ours["column"] == column].set_index("category")
        grouped = raw_pd.groupby(column, dropna=False)["disease"].agg(["count", "sum", "mean"])
        assert part["n"].tolist() == grouped["count"].tolist(), column
        assert part["n_disease"].tolist() == grouped["sum"].tolist(), column
        np.testing.assert_allclose(part["rate"], grouped["mean"], rtol=1e-15)
    cp = ours[ours["column"] == "cp"].set_index("category")
    assert cp.loc[4.0, "rate"] == pytest.approx(392 / 496)


def test_chi_square_matches_scipy_on_pandas_crosstabs(raw: Any, raw_pd: pd.DataFrame) -> None:
    ours = chi_square_tests(raw, CHI_SQUARE_COLUMNS)
    assert list(zip(ours["a"], ours["b"])) == list(itertools.combinations(CHI_SQUARE_COLUMNS, 2))
    for row in ours.itertuples():
        chi2, p, dof, _ = chi2_contingency(pd.crosstab(raw_pd[row.a], raw_pd[row.b]))
        assert row.chi2 == pytest.approx(chi2, rel=1e-10)
        assert row.p_value == pytest.approx(p, rel=1e-8, abs=1e-300)
        assert row.dof == dof


def test_chi_square_independence_agrees_with_the_write_up_table(cleaned: Any) -> None:
    ours = chi_square_tests(cleaned.df, CHI_SQUARE_COLUMNS)
    independent = {(r.a, r.b) for r in ours.itertuples() if r.independent}
    # The write-up's table (cleaned rows, alpha 0.05) marks exactly these pairs True.
    assert independent == {("sex", "restecg"), ("cp", "fbs"), ("fbs", "exang")}


def test_welch_t_test_matches_scipy_ttest_ind(cleaned: Any) -> None:
    pdf = cleaned.df.toPandas()
    columns = [c for c in NUMERIC_COLUMNS if c in pdf.columns]
    ours = welch_t_tests(cleaned.df, columns).set_index("column")
    for column in columns:
        healthy = pdf.loc[pdf["disease"] == 0, column].dropna()
        sick = pdf.loc[pdf["disease"] == 1, column].dropna()
        t, p = ttest_ind(healthy, sick, equal_var=False)
        assert ours.loc[column, "t"] == pytest.approx(t, rel=1e-9)
        assert ours.loc[column, "p_value"] == pytest.approx(p, rel=1e-7)
        assert ours.loc[column, "n_0"] == len(healthy) and ours.loc[column, "n_1"] == len(sick)


def test_welch_needs_both_classes(spark: Any) -> None:
    df = spark.createDataFrame([(1.0, 1), (2.0, 1)], "x double, disease int")
    with pytest.raises(DataValidationError, match="must hold both classes 0 and 1, got \\[1\\]"):
        welch_t_tests(df, ["x"])


def test_unknown_column_is_named(raw: Any) -> None:
    with pytest.raises(DataValidationError, match=r"Column\(s\) \['cholesterol'\] not found"):
        numeric_summary(raw, ["cholesterol"])
