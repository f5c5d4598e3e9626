"""Benchmark: rows/second and peak memory of make_blobs to Parquet vs scikit-learn.

Generates ``n_samples`` points with :func:`rddml.engine.sources.synthetic.make_blobs` and writes them
to Parquet, while a sampler thread reads the resident memory (``/proc/<pid>/status``,
Linux only) of the driver's Python process, the JVM (driver and, in local mode, the
executors) and every PySpark Python worker. Then runs scikit-learn's single-process
``make_blobs`` on ``sklearn_rows`` rows in a fresh subprocess, with and without
writing Parquet through pyarrow. Writes ``results.json`` into ``output_dir``; the
generated data is deleted afterwards unless ``keep_data`` is true.

Run it alone on an otherwise idle machine: ``./spark-submit.sh benchmark_datagen``.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import subprocess
import sys
import threading
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from rddml.engine.sources.synthetic import make_blobs
from rddml.io.jobkit import run_job
from rddml.io.output import atomic_directory, claim_output, hadoop_local_path

logger = logging.getLogger("rddml.jobs.benchmark_datagen")


@dataclass(frozen=True)
class Config:
    """Settings of the data generation benchmark (``conf/jobs/benchmark_datagen.toml``)."""

    n_samples: int = field(default=5_000_000, metadata={"min": 1})
    n_features: int = field(default=2, metadata={"min": 1})
    centers: int = field(default=5, metadata={"min": 1})
    seed: int = field(default=0, metadata={"min": 0})
    num_partitions: int = field(default=0, metadata={"min": 0, "help": "0 = automatic"})
    sklearn_rows: int = field(default=5_000_000, metadata={"min": 0, "help": "0 = skip"})
    sample_seconds: float = field(default=0.1, metadata={"min": 0.01,
                                                         "help": "memory sampling period"})
    keep_data: bool = False
    output_dir: str = field(default="output/benchmark_datagen",
                            metadata={"nonempty": True, "path": "output"})
    overwrite: bool = False


def _read_proc(pid: int) -> tuple[int, str, int] | None:
    """(parent pid, command line, resident KiB) of a live process, or None."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
        cmd = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()
        status = Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return None
    ppid = int(stat.rsplit(")", 1)[1].split()[1])
    rss = next((int(line.split()[1]) for line in status.splitlines()
                if line.startswith("VmRSS:")), 0)
    return ppid, cmd, rss


class MemorySampler(threading.Thread):
    """Peak resident memory (MiB) of the driver, the JVM and the PySpark workers."""

    def __init__(self, period: float) -> None:
        super().__init__(daemon=True)
        self.period = period
        self.driver = os.getpid()
        parent = _read_proc(self.driver)
        # Under spark-submit the JVM is the driver's parent; under `python job.py` its child.
        up = _read_proc(parent[0]) if parent is not None else None
        is_jvm = parent is not None and up is not None and "java" in up[1].split(" ")[0]
        self.root = parent[0] if parent is not None and is_jvm else self.driver
        self.peaks = {"driver_python": 0.0, "jvm": 0.0, "worker_max": 0.0, "workers_total": 0.0}
        self.workers_seen: set[int] = set()
        self._done = threading.Event()

    def sample(self) -> dict[str, float]:
        procs = {}
        for entry in os.listdir("/proc"):
            if entry.isdigit():
                info = _read_proc(int(entry))
                if info:
                    procs[int(entry)] = info
        tree, frontier = set(), [self.root]
        while frontier:
            pid = frontier.pop()
            tree.add(pid)
            frontier.extend(p for p, info in procs.items() if info[0] == pid and p not in tree)
        now = {"driver_python": 0.0, "jvm": 0.0, "worker_max": 0.0, "workers_total": 0.0}
        for pid in tree:
            if pid not in procs:
                continue
            _, cmd, rss = procs[pid]
            mib = rss / 1024
            if pid == self.driver:
                now["driver_python"] = mib
            elif "java" in cmd.split(" ")[0]:
                now["jvm"] += mib
            elif "pyspark" in cmd:
                self.workers_seen.add(pid)
                now["worker_max"] = max(now["worker_max"], mib)
                now["workers_total"] += mib
        return now

    def run(self) -> None:
        while not self._done.is_set():
            for key, value in self.sample().items():
                self.peaks[key] = max(self.peaks[key], value)
            self._done.wait(self.period)

    def stop(self) -> dict[str, float]:
        self._done.set()
        self.join()
        return {key: round(value, 1) for key, value in self.peaks.items()}


_SKLEARN_SCRIPT = """
import json, resource, sys, time
import pyarrow as pa, pyarrow.parquet as pq
from sklearn.datasets import make_blobs
n, d, k, path = int(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3]), sys.argv[4]
t0 = time.perf_counter()
X, y = make_blobs(n_samples=n, n_features=d, centers=k, random_state=0)
t1 = time.perf_counter()
cols = [pa.array(X[:, j]) for j in range(d)] + [pa.array(y.astype("int32"))]
names = [f"x{j}" for j in range(d)] + ["cluster"]
pq.write_table(pa.Table.from_arrays(cols, names=names), path)
t2 = time.perf_counter()
print(json.dumps({"generate_seconds": t1 - t0, "generate_and_write_seconds": t2 - t0,
                  "peak_rss_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}))
"""


def run_sklearn(n: int, d: int, k: int, workdir: Path) -> dict[str, Any]:
    """scikit-learn's make_blobs (then a pyarrow Parquet write) in a fresh process."""
    path = workdir / "sklearn.parquet"
    out = subprocess.run([sys.executable, "-c", _SKLEARN_SCRIPT, str(n), str(d), str(k),
                          str(path)], check=True, capture_output=True, text=True)
    path.unlink(missing_ok=True)
    result: dict[str, Any] = json.loads(out.stdout)
    result["rows"] = n
    result["rows_per_second_generate"] = n / result["generate_seconds"]
    result["rows_per_second_generate_and_write"] = n / result["generate_and_write_seconds"]
    return result


def run_rddml(spark: Any, config: Config, data_dir: Path) -> dict[str, Any]:
    """make_blobs to Parquet on the executors, with memory sampled throughout."""
    parts = config.num_partitions or None
    # Warm-up: start the Python workers and the JIT outside the measurement.
    warm = make_blobs(spark, 1000, config.n_features, config.centers, seed=config.seed)
    warm.dataframe.write.mode("overwrite").parquet(hadoop_local_path(data_dir / "warmup"))
    sampler = MemorySampler(config.sample_seconds)
    before = sampler.sample()
    data = make_blobs(spark, config.n_samples, config.n_features, config.centers,
                      num_partitions=parts, seed=config.seed)
    sampler.start()
    started = time.perf_counter()
    data.dataframe.write.mode("overwrite").parquet(hadoop_local_path(data_dir / "blobs"))
    seconds = time.perf_counter() - started
    peaks = sampler.stop()
    size = sum(p.stat().st_size for p in (data_dir / "blobs").glob("*.parquet"))
    return {
        "rows": config.n_samples, "n_features": config.n_features,
        "num_partitions": data.num_partitions, "chunk_rows": data.parameters["chunk_rows"],
        "seconds": seconds, "rows_per_second": config.n_samples / seconds,
        "parquet_mib": round(size / 2**20, 1),
        "rss_before_mib": {key: round(value, 1) for key, value in before.items()},
        "rss_peak_mib": peaks, "python_workers_seen": len(sampler.workers_seen),
        "master": spark.sparkContext.master,
    }


def main(spark: Any, config: Config) -> dict[str, Any]:
    """Run both measurements; returns (and writes) the results."""
    with claim_output(config.output_dir, overwrite=config.overwrite, key="output_dir",
                      spark=spark), \
            atomic_directory(config.output_dir, overwrite=config.overwrite,
                             job="benchmark_datagen", config=asdict(config),
                             key="output_dir") as tmp:
        # Other processes' load distorts rows/second: record it beside the figures.
        results: dict[str, Any] = {"config": asdict(config), "cpus": os.cpu_count(),
                                   "load_average_before": os.getloadavg()}
        results["rddml"] = run_rddml(spark, config, tmp)
        logger.info("rddml: %s", results["rddml"])
        if config.sklearn_rows:
            results["sklearn"] = run_sklearn(config.sklearn_rows, config.n_features,
                                             config.centers, tmp)
            logger.info("scikit-learn: %s", results["sklearn"])
        results["load_average_after"] = os.getloadavg()
        shutil.rmtree(tmp / "warmup", ignore_errors=True)
        if not config.keep_data:
            shutil.rmtree(tmp / "blobs", ignore_errors=True)
        (tmp / "results.json").write_text(json.dumps(results, indent=2) + "\n")
    return results


if __name__ == "__main__":
    run_job(main, Config, __doc__)
