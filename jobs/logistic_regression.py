"""Fit logistic regression on labelled text or Parquet; write the model, metrics and plots.

Input: the write-up's format (whitespace-separated features then a 0/1 label per line,
as ``numpy.savetxt`` writes it, no header) or a Parquet dataset with a vector/array
``features_col`` or numeric ``feature_cols``, a ``label_col`` and optionally a
``weight_col``. The shipped config reproduces the write-up's gradient descent (step 3,
11 iterations from 0.1 everywhere, no standardisation); ``--set optimizer=lbfgs
--set standardize=true`` is the recommended setting on real data.

Outputs, written atomically into ``output_dir``:

- ``model/`` (``LogisticRegression.load``-able);
- ``metrics.json``: config, rows read/skipped, coefficients, iterations (and the one
  resumed from, with ``checkpoint_dir``), passes, convergence, the loss history and the
  training metrics (accuracy, log loss, AUC, precision, recall, F1, confusion matrix)
  computed distributed;
- ``loss_curve.png`` (the objective per iteration, or per pass for lbfgs);
- ``decision_boundary.png`` for 2-D data (a bounded sample of the points and the
  decision line);
- ``_rddml_manifest.json`` (job, config, time, files), which lets ``--overwrite`` replace it.

The output path is checked, and locked against other writers, before any data is read.
"""

from __future__ import annotations

import json
import logging
import time
from dataclasses import asdict, dataclass, field
from typing import Any

from rddml import BlockDataset, LogisticRegression
from rddml.engine.sources.parquet import read_parquet
from rddml.engine.sources.text import read_labeled_text
from rddml.io.config import path_keys
from rddml.io.jobkit import run_job
from rddml.io.output import atomic_directory, claim_output

logger = logging.getLogger("rddml.jobs.logistic_regression")

OPTIMIZERS = ("gd", "sgd", "lbfgs")


@dataclass(frozen=True)
class Config:
    """Settings of the logistic-regression job (``conf/jobs/logistic_regression.toml``)."""

    input: str = field(default="data/samples/classification.txt",
                       metadata={"nonempty": True, "path": "input",
                                 "help": "text file/dir (features then label) or Parquet "
                                         "('glob:' for a pattern)"})
    input_format: str = field(default="text", metadata={"choices": ("text", "parquet")})
    features_col: str = field(default="features",
                              metadata={"nonempty": True, "help": "Parquet vector/array column"})
    feature_cols: list[str] = field(default_factory=list,
                                    metadata={"help": "Parquet numeric columns "
                                                      "(overrides features_col)"})
    label_col: str = field(default="label", metadata={"nonempty": True,
                                                      "help": "Parquet 0/1 label column"})
    weight_col: str = field(default="", metadata={"help": "Parquet weight column, '' for none"})
    recursive: bool = field(default=False, metadata={
        "help": "read the files in the input directory's sub-directories too"})
    on_bad_rows: str = field(default="error", metadata={"choices": ("error", "skip")})
    storage: str = field(default="auto", metadata={"choices": ("auto", "executor", "spark")})
    optimizer: str = field(default="gd", metadata={"choices": OPTIMIZERS})
    step_size: float = field(default=3.0, metadata={"min": 0.0, "help": "gd/sgd step"})
    max_iter: int = field(default=11, metadata={"min": 1})
    tol: float = field(default=0.0, metadata={"min": 0.0})
    reg_param: float = field(default=0.0, metadata={"min": 0.0})
    l1_ratio: float = field(default=0.0, metadata={"min": 0.0, "max": 1.0})
    fit_intercept: bool = True
    standardize: bool = False
    batch_fraction: float = field(default=1.0, metadata={"min": 0.0, "max": 1.0,
                                                         "help": "sgd mini-batch fraction"})
    class_weight: str = field(default="none", metadata={"choices": ("none", "balanced")})
    init_coef: list[float] = field(default_factory=lambda: [0.1, 0.1],
                                   metadata={"help": "starting coefficients, [] for zeros"})
    init_intercept: float = 0.1
    threshold: float = field(default=0.5, metadata={"min": 0.0, "max": 1.0})
    seed: int = field(default=0, metadata={"min": 0, "help": "sgd mini-batch seed"})
    plot_points: int = field(default=20_000, metadata={"min": 1,
                                                       "help": "rows sampled for the plot"})
    checkpoint_dir: str = field(default="", metadata={
        "path": "state", "help": "save the fit's state here and resume from it when run again ('' = off)"})
    checkpoint_interval: int = field(default=10, metadata={"min": 1,
                                                           "help": "iterations between checkpoints"})
    output_dir: str = field(default="output/logistic_regression",
                            metadata={"nonempty": True, "path": "output"})
    overwrite: bool = False


def load_data(spark: Any, config: Config) -> BlockDataset:
    """Extract: read the configured input into a cached, labelled block dataset."""
    if config.input_format == "text":
        return read_labeled_text(spark.sparkContext, config.input,
                                 on_bad_rows=config.on_bad_rows, storage=config.storage,
                                 recursive=config.recursive)
    # pyarrow reads the files in the tasks: the same dataset as spark.read.parquet then
    # BlockDataset.from_dataframe, without the JVM decoding the files (docs/data.md).
    return read_parquet(
        spark,
        config.input,
        storage=config.storage,
        features_col=None if config.feature_cols else config.features_col,
        feature_cols=config.feature_cols or None,
        label_col=config.label_col,
        weight_col=config.weight_col or None,
        recursive=config.recursive,
    )


def build_model(config: Config) -> LogisticRegression:
    """The estimator the config describes."""
    return LogisticRegression(
        optimizer=config.optimizer, step_size=config.step_size, max_iter=config.max_iter,
        tol=config.tol, reg_param=config.reg_param, l1_ratio=config.l1_ratio,
        fit_intercept=config.fit_intercept, standardize=config.standardize,
        batch_fraction=config.batch_fraction,
        class_weight=None if config.class_weight == "none" else config.class_weight,
        init_coef=list(config.init_coef) or None,
        init_intercept=config.init_intercept if config.fit_intercept else None,
        threshold=config.threshold, seed=config.seed,
        checkpoint_dir=config.checkpoint_dir or None,
        checkpoint_interval=config.checkpoint_interval,
    )


def write_outputs(ds: BlockDataset, model: LogisticRegression, config: Config,
                  seconds: float) -> dict[str, Any]:
    """Load: evaluate on the training data and write everything atomically."""
    from rddml.engine.sampling import sample_rows
    from rddml.io.plots import plot_curve, plot_decision_line

    metrics = model.evaluate(ds)
    summary = {
        "config": asdict(config),
        "n_rows": ds.n_rows,
        "n_features": ds.n_features,
        "rows_skipped": ds.n_skipped,
        "skipped_examples": list(ds.skipped_examples),
        "coef": model.coef_.tolist(),
        "intercept": model.intercept_,
        "n_iter": model.n_iter_,
        "resumed_from_iteration": model.resumed_iteration_,
        "converged": model.converged_,
        "n_passes": model.n_passes_,
        "fit_seconds": seconds,
        "loss_history": model.loss_history_,
        "training_metrics": metrics,
    }
    per = "pass" if config.optimizer == "lbfgs" else "iteration"
    with atomic_directory(config.output_dir, overwrite=config.overwrite,
                          job="logistic_regression", config=asdict(config),
                          key="output_dir") as tmp:
        model.save(str(tmp / "model"))
        (tmp / "metrics.json").write_text(json.dumps(summary, indent=2, allow_nan=False) + "\n")
        plot_curve(tmp / "loss_curve.png", model.loss_history_,
                   title=f"logistic regression ({config.optimizer}): objective per {per}",
                   ylabel="objective (mean log loss + penalty)", xlabel=per)
        if ds.n_features == 2:
            X, y = sample_rows(ds, config.plot_points, seed=config.seed)
            assert y is not None
            plot_decision_line(
                tmp / "decision_boundary.png", X, y, model.coef_, model.intercept_,
                threshold=config.threshold,
                title=f"decision line, accuracy {metrics['accuracy']:.4f}",
            )
    return summary


def main(spark: Any, config: Config) -> dict[str, Any]:
    """Run the job; returns the summary written to ``metrics.json``."""
    with claim_output(config.output_dir, overwrite=config.overwrite, key="output_dir",
                      spark=spark, inputs=path_keys(config, "input", "state")):
        model = build_model(config)
        with load_data(spark, config) as ds:
            if ds.n_skipped:
                logger.warning("skipped %d malformed row(s), e.g. %s", ds.n_skipped,
                               ds.skipped_examples[0])
            started = time.perf_counter()
            model.fit(ds)
            seconds = time.perf_counter() - started
            summary = write_outputs(ds, model, config, seconds)
    logger.info("logistic regression: %d iterations, objective %.10g, training accuracy "
                "%.4f; wrote %s", model.n_iter_, model.loss_history_[-1],
                summary["training_metrics"]["accuracy"], config.output_dir)
    return summary


if __name__ == "__main__":
    run_job(main, Config, __doc__)
