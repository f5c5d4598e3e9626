"""The UCI heart-disease study on Spark: load, profile, clean, split, prepare, model, report.

Each step is a DataFrame -> DataFrame function (or a small ``pyspark.ml`` stage)
in its own module, testable alone:

======================  ==========================================================
module                  step
======================  ==========================================================
:mod:`.load`            the four ``processed.*.data`` files, with file + line errors
:mod:`.profile`         describe-style summary, missing fractions, rates, tests
:mod:`.clean`           impossible values -> missing, sparse columns, duplicates
:mod:`.split`           seeded 70/30 split by a hash of each row's key
:mod:`.transformers`    the custom ``pyspark.ml`` stages
:mod:`.pipeline`        preprocessing fitted on the training split only
:mod:`.models`          rddml logistic regression beside scikit-learn
:mod:`.study`           all steps: :func:`run_study` -> :class:`StudyResult`
:mod:`.report`          :func:`write_report`: Parquet, pipeline, metrics, Markdown, PNGs
======================  ==========================================================

Importing this package imports pyspark (for the ``pyspark.ml`` stages) but never
starts a SparkSession.

Examples
--------
>>> from rddml.heart import run_study, write_report  # doctest: +SKIP
>>> result = run_study(spark, "data/uci-heart-disease", seed=0)  # doctest: +SKIP
>>> write_report(result, "output/heart_disease")  # doctest: +SKIP
"""

from __future__ import annotations

from rddml.heart.clean import CleanResult, clean
from rddml.heart.load import LoadResult, load_heart_disease
from rddml.heart.report import report_sections, write_plots, write_report
from rddml.heart.split import train_test_split
from rddml.heart.study import StudyResult, run_study

__all__ = [
    "CleanResult",
    "LoadResult",
    "StudyResult",
    "clean",
    "load_heart_disease",
    "report_sections",
    "run_study",
    "train_test_split",
    "write_plots",
    "write_report",
]
