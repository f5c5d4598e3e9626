"""Fit k-means on CSV points or Parquet, write centres, model, summary and a plot.

Input: the write-up's ``data.csv`` format (one point per line, comma-separated, no
header) or a Parquet dataset with a vector/array ``features_col`` or numeric
``feature_cols``. Outputs, written atomically into ``output_dir``:

- ``centers.csv`` (one centre per line) and ``model/`` (``KMeans.load``-able);
- ``summary.json``: parameters, iterations, inertia, convergence, per-iteration history,
  rows read and rows skipped;
- ``assignments/`` (CSV part files: features then cluster) when ``write_assignments``;
- ``clusters.png`` for 2-D data (points by cluster, fitted, initial and true centres);
- ``_rddml_manifest.json`` (job, config, time, files), which lets ``--overwrite`` replace it.

The output path and ``true_centers`` are checked, and the output locked against other
writers, before any data is read; ``true_centers`` of another dimension than a CSV
input's first line stop the job before its data are converted (a Parquet input's
width is known once it is read, still before the fit).
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from functools import partial
from pathlib import Path
from typing import Any

import numpy as np

from rddml import BlockDataset, KMeans
from rddml.cluster.kmeans import assign_points
from rddml.engine.sources.parquet import read_parquet
from rddml.engine.sources.text import read_points_csv
from rddml.errors import ConfigError
from rddml.io.config import path_keys
from rddml.io.jobkit import run_job
from rddml.io.output import atomic_directory, claim_output, hadoop_local_path

logger = logging.getLogger("rddml.jobs.kmeans")


@dataclass(frozen=True)
class Config:
    """Settings of the k-means job (``conf/jobs/kmeans.toml``)."""

    input: str = field(default="data/samples/blobs.csv",
                       metadata={"nonempty": True, "path": "input",
                                 "help": "CSV file/dir or Parquet ('glob:' for a pattern)"})
    input_format: str = field(default="csv", metadata={"choices": ("csv", "parquet")})
    features_col: str = field(default="features", metadata={
        "nonempty": True, "help": "Parquet vector/array column"})
    feature_cols: list[str] = field(default_factory=list,
                                    metadata={"help": "Parquet numeric columns (overrides features_col)"})
    weight_col: str = field(default="", metadata={"help": "Parquet weight column, '' for none"})
    recursive: bool = field(default=False, metadata={
        "help": "read the files in the input directory's sub-directories too"})
    on_bad_rows: str = field(default="error", metadata={"choices": ("error", "skip")})
    storage: str = field(default="auto", metadata={"choices": ("auto", "executor", "spark")})
    k: int = field(default=5, metadata={"min": 1})
    init: str = field(default="k-means||", metadata={"choices": ("k-means||", "k-means++", "random")})
    max_iter: int = field(default=20, metadata={"min": 1})
    tol: float = field(default=1e-4, metadata={"min": 0.0})
    seed: int = field(default=0, metadata={"min": 0})
    distance: str = field(default="euclidean", metadata={"choices": ("euclidean", "cosine")})
    empty_cluster: str = field(default="farthest",
                               metadata={"choices": ("farthest", "keep", "error")})
    aggregation: str = field(default="tree", metadata={"choices": ("tree", "reduceByKey")})
    true_centers: str = field(default="", metadata={
        "path": "input", "help": "JSON with known centres, for the plot"})
    write_assignments: bool = False
    checkpoint_dir: str = field(default="", metadata={
        "path": "state", "help": "save the fit's state here and resume from it when run again ('' = off)"})
    checkpoint_interval: int = field(default=10, metadata={"min": 1,
                                                           "help": "iterations between checkpoints"})
    output_dir: str = field(default="output/kmeans",
                            metadata={"nonempty": True, "path": "output"})
    overwrite: bool = False


def load_points(spark: Any, config: Config,
                check_features: Callable[[int], None] | None = None) -> BlockDataset:
    """Extract: read the configured input into a cached block dataset (a CSV input's
    number of features goes to ``check_features`` before its data are converted)."""
    if config.input_format == "csv":
        return read_points_csv(spark.sparkContext, config.input, on_bad_rows=config.on_bad_rows,
                               storage=config.storage, recursive=config.recursive,
                               check_features=check_features)
    # pyarrow reads the files in the tasks: the same dataset as spark.read.parquet then
    # BlockDataset.from_dataframe, without the JVM decoding the files (docs/data.md).
    return read_parquet(
        spark,
        config.input,
        storage=config.storage,
        features_col=None if config.feature_cols else config.features_col,
        feature_cols=config.feature_cols or None,
        weight_col=config.weight_col or None,
        recursive=config.recursive,
    )


def read_true_centres(path: str) -> np.ndarray | None:
    """Known centres from a JSON file (key ``true_centers``, ``cluster_means`` or
    ``centers``, or a plain list of centres); None when ``path`` is ''.

    Raises
    ------
    ConfigError
        Naming the key ``true_centers``, the file and what is wrong with it (missing, not
        JSON, no centres key, not a non-empty list of equally long lists of finite numbers).
    """
    if not path:
        return None
    where = f"key 'true_centers' ({path!r})"
    file = Path(path)
    if not file.is_file():
        raise ConfigError(f"{where}: file not found; expected a JSON file with the known "
                          "centres, or '' for none.")
    try:
        doc = json.loads(file.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, ValueError) as exc:
        raise ConfigError(f"{where}: not a readable JSON file: {exc}") from exc
    value = doc
    if isinstance(doc, dict):
        found = [key for key in ("true_centers", "cluster_means", "centers") if key in doc]
        if not found:
            raise ConfigError(f"{where}: expected a key 'true_centers', 'cluster_means' or "
                              f"'centers', found {sorted(doc)}.")
        value = doc[found[0]]
    try:
        centres = np.asarray(value, dtype=float)
    except (TypeError, ValueError):
        centres = np.empty(0)
    if centres.ndim != 2 or centres.size == 0 or not np.all(np.isfinite(centres)):
        shown = repr(value) if len(repr(value)) <= 80 else repr(value)[:77] + "..."
        raise ConfigError(f"{where}: expected a non-empty list of centres, each a list of "
                          f"finite numbers of the same length, got {shown}.")
    return centres


def check_true_centres(centres: np.ndarray | None, n_features: int, *, path: str) -> None:
    """Raise a ConfigError naming ``true_centers`` unless the known centres have one
    coordinate per feature of the data (a plot would otherwise drop coordinates)."""
    if centres is not None and centres.shape[1] != n_features:
        raise ConfigError(
            f"key 'true_centers' ({path!r}): the centres have {centres.shape[1]} "
            f"coordinate(s), but the input has {n_features} feature(s); expected centres "
            f"of {n_features} coordinates, or '' for none."
        )


def fit_kmeans(ds: BlockDataset, config: Config) -> KMeans:
    """Transform: fit the configured model."""
    return KMeans(
        k=config.k, init=config.init, max_iter=config.max_iter, tol=config.tol,
        seed=config.seed, distance=config.distance, empty_cluster=config.empty_cluster,
        aggregation=config.aggregation, checkpoint_dir=config.checkpoint_dir or None,
        checkpoint_interval=config.checkpoint_interval,
    ).fit(ds)


def _assignment_lines(block: Any, params: tuple[np.ndarray, bool]) -> list[str]:
    centres, cosine = params
    labels = assign_points(block.X, centres, cosine)
    return [",".join(map(repr, row)) + f",{int(c)}" for row, c in zip(block.X.tolist(), labels)]


def _items(items: list[str]) -> list[str]:
    return items


def write_outputs(spark: Any, ds: BlockDataset, model: KMeans, config: Config,
                  true_centres: np.ndarray | None = None) -> dict[str, Any]:
    """Load: write everything into a temporary directory, then rename it into place."""
    from rddml.engine.sampling import sample_rows
    from rddml.io.plots import plot_clusters

    summary = {
        "config": asdict(config),
        "n_rows": ds.n_rows,
        "n_features": ds.n_features,
        "rows_skipped": ds.n_skipped,
        "skipped_examples": list(ds.skipped_examples),
        "cluster_centers": model.cluster_centers_.tolist(),
        "initial_centers": model.init_centers_.tolist(),
        "n_iter": model.n_iter_,
        "resumed_from_iteration": model.resumed_iteration_,
        "converged": model.converged_,
        "inertia": model.inertia_,
        "history": model.history_,
    }
    with atomic_directory(config.output_dir, overwrite=config.overwrite, job="kmeans",
                          config=asdict(config), key="output_dir") as tmp:
        np.savetxt(tmp / "centers.csv", model.cluster_centers_, delimiter=",", fmt="%.17g")
        model.save(str(tmp / "model"))
        (tmp / "summary.json").write_text(json.dumps(summary, indent=2) + "\n")
        if config.write_assignments:
            lines = ds.map_blocks(
                _assignment_lines, (model.cluster_centers_, config.distance == "cosine")
            ).flatMap(_items)
            # Not .as_uri(): Hadoop does not decode it and wrote to 'a%20b' for 'a b'.
            lines.saveAsTextFile(hadoop_local_path(tmp / "assignments"))
        if ds.n_features == 2:
            X, _ = sample_rows(ds, 20_000, seed=config.seed)
            plot_clusters(tmp / "clusters.png", X, model.predict(X), model.cluster_centers_,
                          true_centres=true_centres,
                          initial_centres=model.init_centers_,
                          title=f"k-means, init={config.init}, seed={config.seed}")
    return summary


def main(spark: Any, config: Config) -> dict[str, Any]:
    """Run the job; returns the summary written to ``summary.json``."""
    # Everything that can be checked without data is checked before reading it.
    with claim_output(config.output_dir, overwrite=config.overwrite, key="output_dir",
                      spark=spark, inputs=path_keys(config, "input", "state")):
        true_centres = read_true_centres(config.true_centers)
        same_width = partial(check_true_centres, true_centres, path=config.true_centers)
        # A CSV input's width is known from its first line, before the data are read.
        with load_points(spark, config, same_width) as ds:
            same_width(ds.n_features)
            if ds.n_skipped:
                logger.warning("skipped %d malformed row(s), e.g. %s", ds.n_skipped,
                               ds.skipped_examples[0])
            model = fit_kmeans(ds, config)
            summary = write_outputs(spark, ds, model, config, true_centres)
    logger.info("k-means: %d iterations, inertia %.6g, converged=%s; wrote %s",
                model.n_iter_, model.inertia_, model.converged_, config.output_dir)
    return summary


if __name__ == "__main__":
    run_job(main, Config, __doc__)
