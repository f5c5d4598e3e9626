"""The whole heart-disease study in one call: load, profile, clean, split, prepare, model.

:func:`run_study` returns a :class:`StudyResult` holding every figure of the
report (small pandas tables and dicts), the fitted preprocessing
``PipelineModel``, the prepared train/test DataFrames and the fitted rddml model;
:func:`rddml.heart.report.write_report` turns it into files. Jobs (the heart
job, the demo job) call these two and nothing else.

Examples
--------
>>> result = run_study(spark, "data/uci-heart-disease", seed=0)  # doctest: +SKIP
>>> result.n_rows, result.n_positive, result.n_clean  # doctest: +SKIP
(920, 509, 918)
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import pandas as pd

from rddml.heart.clean import clean
from rddml.heart.columns import (
    CATEGORICAL_COLUMNS,
    CHI_SQUARE_COLUMNS,
    KEY_COLUMNS,
    LABEL,
    NUMERIC_COLUMNS,
    RAW_COLUMNS,
)
from rddml.heart.load import load_heart_disease
from rddml.heart.models import ModelScore, compare_models
from rddml.heart.pipeline import feature_names, fitted_statistics, prepare_splits
from rddml.heart.profile import (
    chi_square_tests,
    disease_rate_by_category,
    missing_fractions,
    numeric_summary,
    welch_t_tests,
)
from rddml.heart.severity import SeverityResult, compare_severity_models
from rddml.heart.split import train_test_split
from rddml.params import check_float, check_int

if TYPE_CHECKING:
    from pyspark.ml import PipelineModel
    from pyspark.sql import DataFrame, SparkSession

logger = logging.getLogger(__name__)


@dataclass
class StudyResult:
    """Everything the report shows (see :func:`run_study`).

    Profile tables are computed on the rows as loaded (the write-up's EDA), the
    tests on the cleaned rows (as the write-up), the models on the prepared splits.
    ``train_rows``/``test_rows`` are the cleaned rows of each split before preparation;
    ``train``/``test`` the prepared ones (``features`` column).
    """

    settings: dict[str, Any]
    files: dict[str, str]
    n_rows: int
    n_positive: int
    rows_per_source: dict[str, int]
    n_skipped: int
    skipped_examples: tuple[str, ...]
    numeric_profile: pd.DataFrame
    missing_raw: pd.Series
    missing_after_rules: pd.Series
    disease_rates: pd.DataFrame
    chi_square: pd.DataFrame
    t_tests: pd.DataFrame
    rule_changes: dict[str, int]
    dropped_columns: list[str]
    n_duplicates: int
    n_clean: int
    n_train: int
    n_test: int
    pipeline: PipelineModel
    train_rows: DataFrame
    test_rows: DataFrame
    train: DataFrame
    test: DataFrame
    feature_names: list[str]
    fitted: dict[str, Any]
    unseen_categories: dict[str, int]
    scores: list[ModelScore]
    logistic: Any = None
    severity: SeverityResult | None = None  # the multinomial model of num (0-4)
    _cached: list[Any] = field(default_factory=list, repr=False)

    def score(self, name: str) -> ModelScore:
        """The :class:`ModelScore` of the model called ``name``."""
        for s in self.scores:
            if s.name == name:
                return s
        raise KeyError(f"No model named {name!r}; have {[s.name for s in self.scores]}.")

    def unpersist(self) -> None:
        """Release the cached DataFrames of the study."""
        for item in self._cached:
            item.unpersist()
        self._cached.clear()


def run_study(spark: SparkSession, data_dir: str, *, seed: int = 0, train_fraction: float = 0.7,
              max_missing_fraction: float = 0.3, on_bad_rows: str = "error", C: float = 1.0,
              n_estimators: int = 100) -> StudyResult:
    """Run steps 1-6 of the heart-disease study.

    Parameters
    ----------
    spark : SparkSession
    data_dir : str
        Directory with the four ``processed.*.data`` files.
    seed : int, default=0
        Seed of the train/test split (a hash of the seed and each row's key).
    train_fraction : float, default=0.7
    max_missing_fraction : float, default=0.3
        Columns missing in more than this fraction of rows are dropped.
    on_bad_rows : {"error", "skip"}, default="error"
    C : float, default=1.0
        Inverse L2 strength of the logistic regressions (scikit-learn's convention;
        rddml gets ``reg_param = 1 / (C * n_train)``).
    n_estimators : int, default=100
        Trees of the random-forest reference.

    Returns
    -------
    StudyResult
    """
    from pyspark.sql import functions as F

    check_int("seed", seed, low=0)
    check_float("C", C, low=0.0, low_inclusive=False)
    check_int("n_estimators", n_estimators, low=1)
    # The StudyResult's fields, step by step.
    found: dict[str, Any] = {"settings": {
        "data_dir": data_dir, "seed": seed, "train_fraction": train_fraction,
        "max_missing_fraction": max_missing_fraction, "on_bad_rows": on_bad_rows, "C": C,
        "n_estimators": n_estimators}}

    # 1. load
    loaded = load_heart_disease(spark, data_dir, on_bad_rows=on_bad_rows)
    raw = loaded.df
    cached: list[Any] = [loaded]
    by_source = raw.groupBy("source").agg(F.count(F.lit(1)).alias("n"),
                                          F.sum(LABEL).alias("positive")).collect()
    per_source = {r["source"]: int(r["n"]) for r in sorted(by_source)}
    found.update(files=loaded.files, n_rows=sum(per_source.values()),
                 n_positive=sum(int(r["positive"]) for r in by_source),
                 rows_per_source=per_source, n_skipped=loaded.n_skipped,
                 skipped_examples=loaded.skipped_examples)
    logger.info("loaded %d rows (%d with disease) from %d files", found["n_rows"],
                found["n_positive"], len(loaded.files))

    # 2. profile the rows as loaded
    found.update(numeric_profile=numeric_summary(raw, NUMERIC_COLUMNS),
                 missing_raw=missing_fractions(raw, RAW_COLUMNS[:-1]),
                 disease_rates=disease_rate_by_category(raw, CATEGORICAL_COLUMNS))

    # 3. clean, and test the cleaned rows
    cleaned = clean(raw, max_missing_fraction=max_missing_fraction)
    clean_df = cleaned.df.cache()
    cached.append(clean_df)
    numeric = [c for c in NUMERIC_COLUMNS if c in clean_df.columns]
    found.update(chi_square=chi_square_tests(clean_df, CHI_SQUARE_COLUMNS),
                 t_tests=welch_t_tests(clean_df, numeric),
                 missing_after_rules=cleaned.missing_after_rules,
                 rule_changes=cleaned.rule_changes, dropped_columns=cleaned.dropped_columns,
                 n_duplicates=cleaned.n_duplicates, n_clean=cleaned.n_after)
    logger.info("cleaning: %s; dropped %s; %d duplicates; %d rows remain",
                cleaned.rule_changes, cleaned.dropped_columns, cleaned.n_duplicates,
                cleaned.n_after)

    # 4-5. split, prepare
    train_rows, test_rows = train_test_split(clean_df, train_fraction=train_fraction, seed=seed,
                                             key_columns=KEY_COLUMNS)
    pipeline, train, test, unseen = prepare_splits(train_rows, test_rows, cleaned.rules,
                                                   cleaned.sparse_columns)
    names = feature_names(pipeline)
    train, test = train.cache(), test.cache()
    cached += [train, test]
    n_train, n_test = train.count(), test.count()
    found.update(n_train=n_train, n_test=n_test, pipeline=pipeline, train_rows=train_rows,
                 test_rows=test_rows, train=train, test=test, feature_names=names,
                 fitted=fitted_statistics(pipeline), unseen_categories=unseen)
    logger.info("split (seed %d): %d train, %d test rows; %d features", seed, n_train, n_test,
                len(names))

    # 6. model
    scores, logistic = compare_models(train, test, names, C=C, n_estimators=n_estimators,
                                      random_state=0)
    for s in scores:
        logger.info("%s: test accuracy %.4f, AUC %s", s.name, s.accuracy, s.auc)
    severity = compare_severity_models(train, test, C=C)
    return StudyResult(**found, scores=scores, logistic=logistic, severity=severity,
                       _cached=cached)
