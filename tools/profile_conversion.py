"""Where ``BlockDataset.from_dataframe``'s time goes, beside ``toPandas()``.

Builds a cached DataFrame of uniform doubles (n rows x d columns, optionally a 0/1
label) on ``local[2]`` with the benchmark's settings (``conf/spark-local.conf``), then
runs the variants alternated ``--rounds`` times and prints, for each, the best wall time
and the CPU seconds it cost, split into the JVM, the Python workers (the JVM's
descendant processes, children reaped by the daemon included) and the driver's Python
(all read from ``/proc`` around each run, so compare CPU rather than wall on a shared
machine), and the Python workers' RSS when the run started and their peak RSS during it
(``rss0_MiB``, ``peak_MiB``; :func:`rddml.bench.memory.reset_worker_peaks`):

- ``toPandas``: ``df.select(cols).toPandas()``, Spark's own Arrow export;
- ``export``: the Arrow IPC messages ``from_dataframe`` reads (``Dataset.toArrowBatchRdd``)
  counted in a Python task that does nothing else (the JVM export and the transport);
- ``rddml``: ``BlockDataset.from_dataframe`` (default storage), then ``unpersist``.

``--stages`` adds ``blocks`` (the conversion task's blocks, counted: no summary, no
files), ``written`` (blocks summarised and written as files, removed at once; no
dataset around them) and ``rddml-10k`` (the conversion in Arrow batches of Spark's
default 10000 rows instead of :data:`rddml.engine.convert.ARROW_BATCH_BYTES`).

``--replay`` also collects one copy of the IPC messages to the driver and runs the
conversion task's code (:func:`rddml.engine.convert._ipc_to_blocks` into
:func:`rddml.engine.storage.write_partition`) over them in this process under cProfile:
the Python worker's share without Spark around it.

Usage::

    .venv/bin/python tools/profile_conversion.py --n 1e7 --d 2 --rounds 3
    .venv/bin/python tools/profile_conversion.py --n 5e6 --d 10 --label --rounds 3 --replay
"""

from __future__ import annotations

import argparse
import cProfile
import os
import pstats
import resource
import shutil
import sys
import tempfile
import time
from collections.abc import Callable
from functools import partial
from pathlib import Path
from typing import Any

import numpy as np

from rddml.bench.memory import _descendants, peak_rss

_TICK = os.sysconf("SC_CLK_TCK")


def _proc_cpu(pid: int, children: bool = False) -> float:
    """CPU seconds of a process (user + system), with its reaped children if asked."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    # After the command: state is field 3, utime..cstime are fields 14..17 (1-based).
    ticks = [int(v) for v in fields[11:15]]
    return (sum(ticks) if children else ticks[0] + ticks[1]) / _TICK


def cpu_split(jvm_pid: int) -> dict[str, float]:
    """CPU seconds so far of the JVM, its descendant (Python worker) processes and this
    driver process."""
    me = resource.getrusage(resource.RUSAGE_SELF)
    workers = sum(_proc_cpu(p, children=True) for p in _descendants(jvm_pid))
    return {"jvm": _proc_cpu(jvm_pid), "workers": workers,
            "driver": me.ru_utime + me.ru_stime}


def _reset_peaks(spark: Any) -> float | None:
    """The workers' peak RSS restarted (None with an rddml that cannot do that)."""
    from rddml.bench import memory

    reset = getattr(memory, "reset_worker_peaks", None)
    return None if reset is None else reset(spark)  # type: ignore[no-any-return]


def _session(max_records: int | None) -> Any:
    from pyspark.sql import SparkSession

    # The workers run this interpreter (and its PYTHONPATH), as the tests' workers do.
    os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
    builder = (
        SparkSession.builder.master("local[2]").appName("rddml-profile-conversion")
        .config("spark.driver.memory", "2g")
        .config("spark.ui.enabled", "false")
        .config("spark.ui.showConsoleProgress", "false")
        .config("spark.sql.execution.arrow.pyspark.enabled", "true")
        .config("spark.python.unix.domain.socket.enabled", "true")
        .config("spark.driver.extraJavaOptions", "-XX:TieredStopAtLevel=1 -XX:+UseSerialGC")
        .config("spark.python.daemon.module", "rddml._daemon")
    )
    if max_records is not None:
        builder = builder.config("spark.sql.execution.arrow.maxRecordsPerBatch",
                                 str(max_records))
    spark = builder.getOrCreate()
    spark.sparkContext.setLogLevel("ERROR")
    return spark


def _count_messages(messages: Any) -> list[int]:
    total = 0
    for m in messages:
        total += len(m)
    return [total]


def _rddml_file(_: Any) -> str:
    import rddml

    return str(rddml.__file__)


def _count_items(items: Any) -> list[int]:
    return [sum(1 for _ in items)]


def _write_and_remove(index: int, items: Any) -> list[int]:
    from rddml.engine.storage import Build, write_partition

    handle = write_partition(index, items, build=Build("profile", "profile-conversion", "0"))
    shutil.rmtree(handle.directory, ignore_errors=True)
    return [len(handle.blocks)]


def _variants(cached: Any, cols: list[str], label: str | None,
              stages: bool = False) -> dict[str, Callable[[], Any]]:
    from pyspark.sql.pandas.types import to_arrow_schema

    from rddml import BlockDataset
    from rddml.engine.columns import column_names, select_model_columns
    from rddml.engine.convert import _arrow_batch_rdd, _arrow_to_blocks, _ipc_to_blocks

    select = [*cols, label] if label else cols
    selected = select_model_columns(cached, features_col=None, feature_cols=cols,
                                    label_col=label)
    to_blocks = partial(_arrow_to_blocks, names=column_names(None, cols, label, None),
                        has_y=label is not None, has_w=False, max_rows=None)
    task = partial(_ipc_to_blocks, schema=to_arrow_schema(selected.schema),
                   to_blocks=to_blocks)

    def blocks_rdd() -> Any:
        from rddml.engine.convert import arrow_batch_rows

        ipc = _arrow_batch_rdd(selected, arrow_batch_rows(len(selected.columns)))
        assert ipc is not None
        return ipc.mapPartitionsWithIndex(task)

    staged = {
        # The conversion task without its file writes and summary (blocks counted) ...
        "blocks": lambda: blocks_rdd().mapPartitions(_count_items).collect(),
        # ... and with them, but without the dataset around it (no persist, no release job).
        "written": lambda: blocks_rdd().mapPartitionsWithIndex(_write_and_remove).collect(),
    }

    def rddml() -> None:
        ds = BlockDataset.from_dataframe(cached, features_col=None, feature_cols=cols,
                                         label_col=label)
        ds.unpersist()

    def export() -> None:
        ipc = _arrow_batch_rdd(cached.select(*select))
        assert ipc is not None
        ipc.mapPartitions(_count_messages).collect()

    def rddml_default_batches() -> None:
        from rddml.engine import convert as blocks

        saved, blocks.ARROW_BATCH_BYTES = blocks.ARROW_BATCH_BYTES, 0
        try:
            rddml()
        finally:
            blocks.ARROW_BATCH_BYTES = saved

    return {"toPandas": lambda: cached.select(*select).toPandas(),
            "export": export, **(staged if stages else {}), "rddml": rddml,
            **({"rddml-10k": rddml_default_batches} if stages else {})}


def measure(spark: Any, cached: Any, cols: list[str], label: str | None, rounds: int,
            megabytes: float, stages: bool = False) -> dict[str, dict[str, float]]:
    """Each variant ``rounds`` times, alternated: best wall time and the CPU split of
    that best run."""
    jvm_pid = spark.sparkContext._gateway.proc.pid
    best: dict[str, dict[str, float]] = {}
    for r in range(rounds):
        for name, run in _variants(cached, cols, label, stages).items():
            rss_before = _reset_peaks(spark)
            before = cpu_split(jvm_pid)
            t0 = time.perf_counter()
            run()
            wall = time.perf_counter() - t0
            after = cpu_split(jvm_pid)
            row = {"wall": wall, **{k: after[k] - before[k] for k in after}}
            row["MBps"] = megabytes / wall
            if rss_before is not None:
                row["rss0_MiB"] = rss_before
                row["peak_MiB"] = max(peak_rss(spark).get("python_workers_mib") or [0.0])
            print(f"round {r} {name:9s} " + " ".join(f"{k} {v:.2f}" for k, v in row.items()),
                  flush=True)
            if name not in best or wall < best[name]["wall"]:
                best[name] = row
    return best


def replay(spark: Any, cached: Any, cols: list[str], label: str | None) -> None:
    """The conversion task's Python code over the same IPC messages, in this process."""
    from pyspark.sql.pandas.types import to_arrow_schema

    from rddml.engine.columns import column_names, select_model_columns
    from rddml.engine.convert import _arrow_batch_rdd, _arrow_to_blocks, _ipc_to_blocks
    from rddml.engine.storage import Build, write_partition

    selected = select_model_columns(cached, features_col=None, feature_cols=cols,
                                    label_col=label)
    names = column_names(None, cols, label, None)
    from rddml.engine.convert import arrow_batch_rows

    ipc = _arrow_batch_rdd(selected, arrow_batch_rows(len(selected.columns)))
    assert ipc is not None
    parts = ipc.glom().collect()
    schema = to_arrow_schema(selected.schema)
    print(f"replay: {[len(p) for p in parts]} IPC messages per partition, "
          f"{sum(len(m) for p in parts for m in p) / 1e6:.1f} MB")
    to_blocks = partial(_arrow_to_blocks, names=names, has_y=label is not None,
                        has_w=False, max_rows=None)

    # Not a Spark task: no SPARK_LOCAL_DIRS, so the files go to a directory of our own.
    scratch = tempfile.mkdtemp(prefix="rddml-replay-")
    build = Build("profile", "profile-conversion", "0", storage_dirs=(scratch,))

    def run() -> None:
        for i, messages in enumerate(parts):
            handle = write_partition(i, _ipc_to_blocks(i, messages, schema=schema,
                                                       to_blocks=to_blocks), build=build)
            shutil.rmtree(handle.directory, ignore_errors=True)

    for _ in range(2):
        t0 = time.process_time()
        run()
        print(f"replay: {time.process_time() - t0:.3f} s CPU for both partitions")
    profile = cProfile.Profile()
    profile.enable()
    run()
    profile.disable()
    shutil.rmtree(scratch, ignore_errors=True)
    pstats.Stats(profile).sort_stats("tottime").print_stats(15)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--n", type=float, default=1e7)
    parser.add_argument("--d", type=int, default=2)
    parser.add_argument("--label", action="store_true")
    parser.add_argument("--partitions", type=int, default=2)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--max-records", type=int, default=None,
                        help="session spark.sql.execution.arrow.maxRecordsPerBatch")
    parser.add_argument("--replay", action="store_true")
    parser.add_argument("--stages", action="store_true",
                        help="also the conversion task alone, with and without its writes, and "
                        "the conversion in batches of Spark's default 10000 rows")
    args = parser.parse_args()
    import pyarrow as pa
    import pyarrow.parquet as pq

    n = int(args.n)
    rng = np.random.default_rng(0)
    cols = [f"x{j}" for j in range(args.d)]
    columns = {c: rng.random(n) for c in cols}
    label = "label" if args.label else None
    if label:
        columns[label] = (rng.random(n) < 0.5).astype(np.float64)
    workdir = Path(tempfile.mkdtemp(prefix="rddml-profile-conversion-"))
    spark = _session(args.max_records)
    try:
        pq.write_table(pa.table(columns), workdir / "data.parquet", row_group_size=1 << 20)
        del columns
        cached = spark.read.parquet(str(workdir / "data.parquet")).repartition(
            args.partitions).persist()
        cached.count()
        where = spark.sparkContext.parallelize([0], 1).map(_rddml_file).collect()[0]
        print(f"workers import rddml from {where}")
        megabytes = n * (args.d + bool(label)) * 8 / 1e6
        print(f"{n} x {args.d}{' + label' if label else ''} = {megabytes:.0f} MB, "
              f"load average {os.getloadavg()[0]:.2f}")
        best = measure(spark, cached, cols, label, args.rounds, megabytes, args.stages)
        print(f"best of {args.rounds} (load average now {os.getloadavg()[0]:.2f}):")
        for name, row in best.items():
            print(f"  {name:9s} " + " ".join(f"{k} {v:.2f}" for k, v in row.items()))
        if args.replay:
            replay(spark, cached, cols, label)
    finally:
        spark.stop()
        shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    main()
