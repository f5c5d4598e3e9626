"""Heart-disease study: load the UCI files, profile, clean, prepare on train only, model, report.

Runs :func:`rddml.heart.run_study` on the four UCI ``processed.*.data`` files and
writes, atomically into ``output_dir``:

- ``train.parquet`` / ``test.parquet``: the prepared splits (``features`` vector,
  imputed columns, ``<col>_missing`` flags, row key ``source, line``);
- ``pipeline/``: one fitted ``PipelineModel``, the preprocessing (fitted on train only)
  followed by rddml's logistic regression as an :mod:`rddml.ml` stage:
  ``PipelineModel.load`` it and ``transform`` new raw rows to get ``probability`` and
  ``prediction``;
- ``model/``: rddml's fitted ``LogisticRegression``;
- ``metrics.json``: every figure of the study;
- ``report.md`` + ``plots/*.png``: profile tables, cleaning counts, tests, model
  comparison (rddml vs scikit-learn logistic regression and random forest);
- ``_rddml_manifest.json`` (job, config, time, files), which lets ``--overwrite`` replace it.

The output path is checked, and locked against other writers, before any data is read.
"""

from __future__ import annotations

import logging
from dataclasses import asdict, dataclass, field
from typing import Any

from rddml.heart import run_study, write_report
from rddml.io.config import path_keys
from rddml.io.jobkit import run_job
from rddml.io.output import atomic_directory, claim_output

logger = logging.getLogger("rddml.jobs.heart_disease")


@dataclass(frozen=True)
class Config:
    """Settings of the heart-disease job (``conf/jobs/heart_disease.toml``)."""

    data_dir: str = field(default="data/uci-heart-disease",
                          metadata={"nonempty": True, "path": "input",
                                    "help": "directory with the four processed.*.data files"})
    on_bad_rows: str = field(default="error", metadata={"choices": ("error", "skip")})
    seed: int = field(default=0, metadata={"min": 0, "help": "seed of the train/test split"})
    train_fraction: float = field(default=0.7, metadata={"min": 0.05, "max": 0.95})
    max_missing_fraction: float = field(
        default=0.3, metadata={"min": 0.0, "max": 1.0,
                               "help": "drop columns missing in more than this fraction"})
    C: float = field(default=1.0, metadata={"min": 1e-6,
                                            "help": "inverse L2 strength (scikit-learn's C)"})
    n_estimators: int = field(default=100, metadata={"min": 1,
                                                     "help": "trees of the random forest"})
    output_dir: str = field(default="output/heart_disease",
                            metadata={"nonempty": True, "path": "output"})
    overwrite: bool = False


def main(spark: Any, config: Config) -> dict[str, Any]:
    """Run the study and write its outputs; returns the metrics written to ``metrics.json``."""
    with claim_output(config.output_dir, overwrite=config.overwrite, key="output_dir",
                      spark=spark, inputs=path_keys(config, "input", "state")):
        result = run_study(
            spark, config.data_dir, seed=config.seed, train_fraction=config.train_fraction,
            max_missing_fraction=config.max_missing_fraction, on_bad_rows=config.on_bad_rows,
            C=config.C, n_estimators=config.n_estimators,
        )
        try:
            with atomic_directory(config.output_dir, overwrite=config.overwrite,
                                  job="heart_disease", config=asdict(config),
                                  key="output_dir") as tmp:
                metrics = write_report(result, tmp)
        finally:
            result.unpersist()
    for model in metrics["models"]:
        logger.info("%s: test accuracy %.4f", model["name"], model["accuracy"])
    logger.info("heart disease: %d rows, %d after cleaning, %d/%d train/test; wrote %s",
                metrics["n_rows"], metrics["n_clean"], metrics["n_train"], metrics["n_test"],
                config.output_dir)
    return metrics


if __name__ == "__main__":
    run_job(main, Config, __doc__)
