"""Generate synthetic blobs or classification data on the executors, to CSV or Parquet.

Writes the dataset to ``output`` and its generating parameters, label counts and
true centres to ``<output>.json`` (``data.csv`` → ``data.json``; ``out/big`` →
``out/big.json``), both atomically; an existing output is only replaced with
``--overwrite``; a directory output carries ``_rddml_manifest.json`` (job, config, time,
files), which lets ``--overwrite`` replace it. Both paths are checked, and locked against
other writers, before any Spark work. Formats:

- ``csv`` for blobs: the write-up's ``data.csv``: ``x,y`` per line (comma-separated
  features, no label, no header), Python ``repr`` floats so values read back exactly;
- ``csv`` for classification: the write-up's ``classification_data.txt``: features then
  the integer label, space-separated, as ``np.savetxt(..., fmt="%s")`` writes them;
- ``parquet``: double columns ``x0..x{d-1}`` and an int ``cluster``/``label`` column.

With ``single_file = false`` Spark writes one part file per partition into the output
directory; ``single_file = true`` writes one file, streamed through the driver a chunk
at a time (for small samples). ``exact_sklearn = true`` reproduces scikit-learn's
output for ``random_state = seed`` (at most 5,000,000 rows).
"""

from __future__ import annotations

import json
import logging
import re
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from rddml.data.synthetic import as_json_value
from rddml.engine.sources.synthetic import SyntheticData, chunk_record_batch, make_blobs, make_classification
from rddml.errors import ConfigError
from rddml.io.jobkit import run_job
from rddml.io.output import atomic_directory, atomic_file, claim_output, hadoop_local_path

logger = logging.getLogger("rddml.jobs.generate_data")

_DATA_SUFFIXES = (".csv", ".txt", ".tsv", ".parquet")


@dataclass(frozen=True)
class Config:
    """Settings of the data generation job (``conf/jobs/generate_data.toml``)."""

    kind: str = field(default="blobs", metadata={"choices": ("blobs", "classification")})
    n_samples: int = field(default=10_000, metadata={"min": 1})
    n_features: int = field(default=2, metadata={"min": 1})
    seed: int = field(default=12345, metadata={"min": 0})
    exact_sklearn: bool = field(default=False,
                                metadata={"help": "scikit-learn's exact output (<= 5e6 rows)"})
    centers: int = field(default=5, metadata={"min": 1, "help": "blobs: number of centres"})
    cluster_std: float = field(default=1.0, metadata={"min": 0.0, "help": "blobs"})
    center_box: list[float] = field(default_factory=lambda: [-10.0, 10.0],
                                    metadata={"help": "blobs: [low, high] for the centres"})
    n_informative: int = field(default=2, metadata={"min": 1, "help": "classification"})
    n_redundant: int = field(default=0, metadata={"min": 0, "help": "classification"})
    n_classes: int = field(default=2, metadata={"min": 1, "help": "classification"})
    n_clusters_per_class: int = field(default=1, metadata={"min": 1, "help": "classification"})
    class_sep: float = field(default=1.0, metadata={"min": 0.0, "help": "classification"})
    flip_y: float = field(default=0.01, metadata={"min": 0.0, "max": 1.0,
                                                  "help": "classification"})
    num_partitions: int = field(default=0, metadata={"min": 0, "help": "0 = automatic"})
    chunk_rows: int = field(default=0, metadata={"min": 0, "help": "0 = automatic (2**16)"})
    format: str = field(default="csv", metadata={"choices": ("csv", "parquet")})
    single_file: bool = field(default=False, metadata={"help": "one file instead of parts"})
    output: str = field(default="output/generated/blobs",
                        metadata={"nonempty": True, "path": "output",
                                  "help": "file or directory; parameters go to <output>.json"})
    overwrite: bool = False


def params_path(output: str) -> Path:
    """Where the parameters JSON goes: ``x.csv`` → ``x.json``, ``dir`` → ``dir.json``."""
    path = Path(output)
    if path.suffix.lower() == ".json":
        raise ConfigError(
            f"key 'output': {output!r} ends in .json, which is reserved for the parameters "
            "file written next to the data; choose another name."
        )
    if path.suffix.lower() in _DATA_SUFFIXES:
        return path.with_suffix(".json")
    return path.with_name(path.name + ".json")


def generate(spark: Any, config: Config) -> SyntheticData:
    """Extract: the dataset, lazily (validates every setting before Spark is used)."""
    common: dict[str, Any] = {
        "n_samples": config.n_samples, "n_features": config.n_features,
        "num_partitions": config.num_partitions or None, "seed": config.seed,
        "exact_sklearn": config.exact_sklearn, "chunk_rows": config.chunk_rows or None,
    }
    if config.kind == "blobs":
        return make_blobs(spark, centers=config.centers, cluster_std=config.cluster_std,
                          center_box=config.center_box, **common)
    return make_classification(
        spark, n_informative=config.n_informative, n_redundant=config.n_redundant,
        n_clusters_per_class=config.n_clusters_per_class, class_sep=config.class_sep,
        flip_y=config.flip_y, n_classes=config.n_classes, **common,
    )


def describe(data: SyntheticData, config: Config) -> dict[str, Any]:
    """Transform: the parameters document (one Spark pass for the per-label means).

    It holds no path, time or version, so regenerating a dataset reproduces it byte for
    byte.
    """
    counts, means = data.label_means()
    if config.format == "parquet":
        layout = (f"Parquet: double columns {', '.join(data.feature_cols)} and int column "
                  f"{data.label_col!r}")
    elif data.kind == "blobs":
        layout = ("one row per line: the features separated by ',' as Python repr floats "
                  "(exact round trip), no label, no header")
    else:
        layout = ("one row per line: the features as repr floats then the integer label, "
                  "separated by single spaces (np.savetxt fmt='%s'), no header")
    generator = "sklearn.datasets" if data.parameters["exact_sklearn"] else "rddml.engine.sources.synthetic"
    doc: dict[str, Any] = {
        "kind": data.kind,
        "generator": f"{generator}.make_{data.kind}",
        "parameters": data.parameters,
        "n_rows": data.n_samples,
        "n_features": data.n_features,
        "file": {"format": config.format, "single_file": config.single_file, "layout": layout},
        "label_column": data.label_col,
        "label_counts": counts,
        "true_centers" if data.kind == "blobs" else "class_means": means,
        "generating_centers": data.centers,
        "generating": {key: value for key, value in data.generating.items()
                       if key not in ("centers", "cluster_centers")},  # = generating_centers
    }
    return {key: as_json_value(value) for key, value in doc.items()}


def json_text(doc: dict[str, Any]) -> str:
    """Indented JSON with each innermost list of numbers on one line (a centre per line)."""
    text = json.dumps(doc, indent=2)
    return re.sub(r"\[\s*([-+0-9.eE,\s]+?)\s*\]",
                  lambda m: "[" + ", ".join(v.strip() for v in m.group(1).split(",")) + "]",
                  text) + "\n"


def write_data(data: SyntheticData, config: Config) -> None:
    """Load: the rows, into a temporary sibling renamed into place when complete."""
    if config.single_file:
        with atomic_file(config.output, overwrite=config.overwrite, key="output") as tmp:
            if config.format == "csv":
                with tmp.open("w", encoding="utf-8", newline="") as out:
                    for X, y in data.iter_chunks():
                        out.write(data.render_text(X, y))
                        out.write("\n")
            else:
                import pyarrow.parquet as pq

                names = (*data.feature_cols, data.label_col)
                writer = None
                try:
                    for X, y in data.iter_chunks():
                        batch = chunk_record_batch(X, y, names)
                        writer = writer or pq.ParquetWriter(str(tmp), batch.schema)
                        writer.write_batch(batch)
                finally:
                    if writer is not None:
                        writer.close()
        return
    with atomic_directory(config.output, overwrite=config.overwrite, job="generate_data",
                          config=asdict(config), key="output") as tmp:
        # Not .as_uri(): Hadoop does not decode it and wrote to 'a%20b' for 'a b'.
        if config.format == "csv":
            tmp.rmdir()  # saveAsTextFile creates the directory itself
            data.text_rdd().saveAsTextFile(hadoop_local_path(tmp))
        else:
            data.dataframe.write.mode("overwrite").parquet(hadoop_local_path(tmp))


def main(spark: Any, config: Config) -> dict[str, Any]:
    """Run the job; returns the parameters document plus where and how fast it wrote."""
    json_path = params_path(config.output)
    with claim_output(config.output, overwrite=config.overwrite,
                      directory=not config.single_file, key="output", spark=spark), \
            claim_output(json_path, overwrite=config.overwrite, directory=False, key="output"):
        data = generate(spark, config)
        started = time.perf_counter()
        write_data(data, config)
        seconds = time.perf_counter() - started
        doc = describe(data, config)
        with atomic_file(json_path, overwrite=config.overwrite, key="output") as tmp:
            tmp.write_text(json_text(doc), encoding="utf-8")
    logger.info("wrote %d %s rows to %s in %.1f s (%.0f rows/s); parameters in %s",
                data.n_samples, data.kind, config.output, seconds,
                data.n_samples / max(seconds, 1e-9), json_path)
    return {**doc, "output": config.output, "params_file": str(json_path),
            "write_seconds": seconds, "config": asdict(config)}


if __name__ == "__main__":
    run_job(main, Config, __doc__)
