"""Turning a :class:`~rddml.heart.study.StudyResult` into files.

- :func:`report_sections`: the Markdown sections (title -> text), so another
  report (the demo job's) can embed any of them;
- :func:`write_plots`: the PNG figures;
- :func:`study_metrics`: the JSON-ready figures;
- :func:`scoring_pipeline`: the preprocessing and the logistic regression as one
  ``PipelineModel`` (what ``pipeline/`` holds);
- :func:`write_report`: all of it plus the prepared Parquet splits and the fitted
  pipeline, into an existing directory (wrap it in
  :func:`rddml.io.output.atomic_directory` for an atomic result).

Examples
--------
>>> with atomic_directory("output/heart_disease") as tmp:  # doctest: +SKIP
...     write_report(result, tmp)
"""

from __future__ import annotations

import json
import math
import os
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pandas as pd

from rddml.heart.markdown import markdown_table
from rddml.heart.models import RDDML_LOGISTIC, SKLEARN_FOREST, SKLEARN_LOGISTIC
from rddml.heart.plots import plot_coefficients, plot_disease_rates, plot_missing
from rddml.heart.severity import CONFUSION_PLOT, plot_confusion_matrices, severity_section
from rddml.heart.study import StudyResult

if TYPE_CHECKING:
    from pyspark.ml import PipelineModel

PLOTS = {"missing": "missing_values.png", "disease_rate": "disease_rate_by_category.png",
         "coefficients": "model_coefficients.png"}
#: The write-up's test accuracies on its own split (pandas sample(frac=0.7, random_state=123)).
WRITE_UP_ACCURACY = {SKLEARN_LOGISTIC: 0.7781818181818182, SKLEARN_FOREST: 0.7527272727272727}


def _bullets(items: Sequence[str]) -> str:
    return "\n".join(f"- {item}" for item in items)


def report_sections(result: StudyResult, plot_dir: str = "plots") -> dict[str, str]:
    """The report's Markdown sections, in order (``plot_dir``: where the PNGs are, relative
    to the Markdown file)."""
    s = result.settings
    sections: dict[str, str] = {}
    sources = ", ".join(f"{k} {v}" for k, v in result.rows_per_source.items())
    data_lines = [f"{result.n_rows} rows ({sources}), {result.n_positive} with disease "
                  f"(num > 0), from `{s['data_dir']}`."]
    if result.n_skipped:
        data_lines.append(f"{result.n_skipped} malformed line(s) skipped, e.g.: "
                          + "; ".join(f"`{e}`" for e in result.skipped_examples))
    sections["Data"] = _bullets(data_lines)

    sections["Numeric profile (rows as loaded)"] = (
        "Spark aggregates; quartiles by Spark's exact `percentile` (linear interpolation "
        "between the nearest ranks, pandas' default).\n\n"
        + markdown_table(result.numeric_profile, index=True)
    )
    missing = pd.DataFrame({"column": result.missing_raw.index,
                            "missing as loaded": result.missing_raw.to_numpy(),
                            "missing after rules": [result.missing_after_rules.get(c)
                                                    for c in result.missing_raw.index]})
    sections["Missing values"] = (markdown_table(missing, digits=4)
                                  + f"\n\n![missing values]({plot_dir}/{PLOTS['missing']})")
    rates = result.disease_rates.copy()
    rates["category"] = ["missing" if pd.isna(v) else f"{v:g}" for v in rates["category"]]
    sections["Disease rate by category (rows as loaded)"] = (
        markdown_table(rates, digits=3)
        + f"\n\n![disease rate by category]({plot_dir}/{PLOTS['disease_rate']})"
    )
    changes = [f"`{rule}`: {n} value(s) set to missing" for rule, n in
               result.rule_changes.items()]
    changes += [
        f"columns missing in more than {s['max_missing_fraction']:.0%} of rows dropped: "
        + ", ".join(f"`{c}` ({result.missing_after_rules[c]:.1%})"
                    for c in result.dropped_columns),
        f"exact duplicate rows dropped: {result.n_duplicates}; {result.n_clean} rows remain",
    ]
    sections["Cleaning"] = _bullets(changes)
    sections["Statistical tests (cleaned rows)"] = (
        "Chi-square tests of independence (counts aggregated in Spark, "
        "`scipy.stats.chi2_contingency` on each table; `independent` = p > 0.05):\n\n"
        + markdown_table(result.chi_square, digits=4)
        + "\n\nWelch t-tests of each column's mean, healthy (0) vs disease (1) (moments "
        "aggregated in Spark, `scipy.stats.ttest_ind_from_stats`). The write-up's table "
        "compared each column with the 0/1 label itself, hence its p-values of 0.\n\n"
        + markdown_table(result.t_tests, digits=4)
    )
    fitted = result.fitted
    prep = [
        f"split: seed {s['seed']}, train fraction {s['train_fraction']}: {result.n_train} train"
        f" / {result.n_test} test rows (hash of seed and row key: the same split for any "
        "partitioning)",
        "fitted on the training split only: medians "
        + ", ".join(f"{k} {v:g}" for k, v in fitted["medians"].items())
        + "; modes " + ", ".join(f"{k} {v:g}" for k, v in fitted["modes"].items())
        + "; levels " + ", ".join(f"{k} {v}" for k, v in fitted["levels"].items())
        + "; min/max scaling",
        "the write-up imputed its test set with the test set's own statistics (leakage); "
        "here the test rows only ever pass through the model fitted on train",
        f"{len(result.feature_names)} features: " + ", ".join(result.feature_names),
        "test rows with a category unseen in training (scored as the reference level): "
        + ", ".join(f"{k} {v}" for k, v in result.unseen_categories.items()),
    ]
    sections["Preparation"] = _bullets(prep)
    table = pd.DataFrame([{
        "model": sc.name, "accuracy": sc.accuracy,
        "± s.e.": math.sqrt(sc.accuracy * (1 - sc.accuracy) / max(result.n_test, 1)),
        "AUC": sc.auc, "log loss": sc.log_loss,
        "precision": sc.precision, "recall": sc.recall, "F1": sc.f1,
        "confusion [[tn, fp], [fn, tp]]": str(sc.confusion_matrix),
        "write-up accuracy (its split)": WRITE_UP_ACCURACY.get(sc.name),
    } for sc in result.scores])
    sections["Models (test split)"] = (
        f"Logistic regressions: L2, C = {s['C']} (rddml: reg_param = 1 / (C * n_train)); "
        f"random forest: {s['n_estimators']} trees, random_state = 0. Same split, same "
        "features. The standard error of an accuracy measured on one test split, "
        f"sqrt(acc (1 - acc) / n_test), is about {100 * table['± s.e.'].max():.1f} points "
        "here: another seed moves the accuracies by about that much.\n\n"
        + markdown_table(table, digits=4)
        + f"\n\n![model coefficients]({plot_dir}/{PLOTS['coefficients']})"
    )
    if result.severity is not None:
        sections["Severity model (num 0-4, test split)"] = severity_section(
            result.severity, f"{plot_dir}/{CONFUSION_PLOT}")
    return sections


def render_markdown(result: StudyResult, plot_dir: str = "plots") -> str:
    """The whole ``report.md`` text."""
    parts = ["# Heart-disease study (rddml on Spark)"]
    for title, body in report_sections(result, plot_dir).items():
        parts.append(f"## {title}\n\n{body}")
    return "\n\n".join(parts) + "\n"


def write_plots(result: StudyResult, directory: str | os.PathLike[str]) -> dict[str, Path]:
    """Write the PNG figures into ``directory``; returns name -> path."""
    out = Path(directory)
    out.mkdir(parents=True, exist_ok=True)
    paths = {name: out / file for name, file in PLOTS.items()}
    plot_missing(paths["missing"], result.missing_raw, result.missing_after_rules,
                 float(result.settings["max_missing_fraction"]))
    plot_disease_rates(paths["disease_rate"], result.disease_rates)
    logistic = {sc.name: sc.weights for sc in result.scores
                if sc.name in (RDDML_LOGISTIC, SKLEARN_LOGISTIC)}
    forest = [sc.weights for sc in result.scores if sc.name == SKLEARN_FOREST]
    plot_coefficients(paths["coefficients"], result.feature_names, logistic,
                      forest[0] if forest else None)
    if result.severity is not None:
        paths["severity_confusion"] = out / CONFUSION_PLOT
        plot_confusion_matrices(paths["severity_confusion"], result.severity)
    return paths


def _records(frame: pd.DataFrame) -> list[dict[str, Any]]:
    clean = frame.astype(object).where(pd.notna(frame), None)
    return [{k: (v.item() if hasattr(v, "item") else v) for k, v in row.items()}
            for row in clean.to_dict(orient="records")]


def study_metrics(result: StudyResult) -> dict[str, Any]:
    """The figures of the study as a JSON-ready dict (``metrics.json``)."""
    profile = result.numeric_profile
    return {
        "settings": result.settings,
        "files": result.files,
        "n_rows": result.n_rows,
        "n_positive": result.n_positive,
        "rows_per_source": result.rows_per_source,
        "n_skipped": result.n_skipped,
        "skipped_examples": list(result.skipped_examples),
        "numeric_profile": {c: {k: (None if pd.isna(v) else float(v))
                                for k, v in profile[c].items()} for c in profile.columns},
        "missing_raw": result.missing_raw.to_dict(),
        "missing_after_rules": result.missing_after_rules.to_dict(),
        "rule_changes": result.rule_changes,
        "dropped_columns": result.dropped_columns,
        "n_duplicates": result.n_duplicates,
        "n_clean": result.n_clean,
        "n_train": result.n_train,
        "n_test": result.n_test,
        "feature_names": result.feature_names,
        "fitted_on_train": result.fitted,
        "unseen_categories_test": result.unseen_categories,
        "chi_square": _records(result.chi_square),
        "t_tests": _records(result.t_tests),
        "disease_rates": _records(result.disease_rates),
        "models": [sc.as_dict() for sc in result.scores],
        "severity": None if result.severity is None else result.severity.as_dict(),
    }


def scoring_pipeline(result: StudyResult) -> PipelineModel:
    """One ``PipelineModel``: the preprocessing fitted on train, then rddml's logistic
    regression as an :mod:`rddml.ml` stage (``probability``, ``rawPrediction``,
    ``prediction`` columns). It scores raw patient rows, as loaded, end to end."""
    from pyspark.ml import PipelineModel

    from rddml.ml import LogisticRegressionModel

    stages = list(result.pipeline.stages)
    if result.logistic is not None:
        stages.append(LogisticRegressionModel.fromRddml(result.logistic))
    return PipelineModel(stages=stages)


def write_report(result: StudyResult, out_dir: str | os.PathLike[str]) -> dict[str, Any]:
    """Write ``train.parquet``, ``test.parquet``, ``pipeline/`` (:func:`scoring_pipeline`:
    preprocessing + logistic regression, one ``PipelineModel``), ``model/`` (rddml's
    logistic regression alone), ``metrics.json``, ``report.md`` and ``plots/*.png`` into
    ``out_dir``.

    Returns the metrics dict.
    """
    from rddml.io.output import hadoop_local_path

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    # file:// + the raw path: local even when the default file system is HDFS, and no
    # percent-encoding for Hadoop to take literally (a space in out_dir).
    result.train.write.parquet(hadoop_local_path(out / "train.parquet"))
    result.test.write.parquet(hadoop_local_path(out / "test.parquet"))
    scoring_pipeline(result).write().save(hadoop_local_path(out / "pipeline"))
    if result.logistic is not None:
        result.logistic.save(str(out / "model"))
    write_plots(result, out / "plots")
    metrics = study_metrics(result)
    (out / "metrics.json").write_text(json.dumps(metrics, indent=2, allow_nan=False) + "\n")
    (out / "report.md").write_text(render_markdown(result, "plots"))
    return metrics
