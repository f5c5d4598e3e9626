"""Where one rddml k-means iteration's time goes (docs/performance.md, "Profiling tools").

Runs rddml Lloyd iterations (``aggregation="tree"``, the fit loop's step) on uniform n×d data
on ``local[2]`` with Spark's event log on, then splits the median iteration into:

- driver: wall time of the iteration minus the Spark job's duration (broadcast of the
  centres, building the closure, merging the partials, the centre update);
- scheduling: the job's duration minus its slowest task (job/stage submission, task
  launch, result fetch), from the event log;
- inside the slowest task, from an instrumented copy of the pass that times each step in
  the Python worker: reading the cached blocks (JVM → Python socket + unpickling), the
  NumPy kernel (assignment + partial sums), and the rest of the task (Python worker
  start-up, task deserialisation, result pickling; Spark's executor run time minus the
  Python part).

Usage::

    .venv/bin/python tools/profile_kmeans.py --n 4000000 --d 2 --k 5 --iterations 10

Add ``--py-spy`` to also sample the Python workers with ``py-spy`` (``pip install py-spy``)
during the plain passes and print the top functions.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterable, Iterator
from functools import partial
from pathlib import Path
from typing import Any

import numpy as np

from rddml.cluster.fused import lloyd_sums
from rddml.cluster.kmeans import lloyd_iteration
from rddml.cluster.passes import warm_up_kernels
from rddml.engine.blocks import BlockDataset


def _timed_partition(items: Iterable[Any], *, views: Any, centres: Any,
                     kernels: str) -> Iterator[Any]:
    """The fold of one partition, timing block reads (opening the stored blocks: memory
    maps of files, or unpickled blocks) apart from the kernel the fit runs."""
    t_start = time.perf_counter()
    read = kernel = 0.0
    acc: tuple[np.ndarray, np.ndarray, float] | None = None
    it = iter(views(items))
    while True:
        t0 = time.perf_counter()
        try:
            block = next(it)
        except StopIteration:
            read += time.perf_counter() - t0
            break
        t1 = time.perf_counter()
        part = lloyd_sums(block.X, block.w, centres.value, kernels)
        acc = part if acc is None else (acc[0] + part[0], acc[1] + part[1], acc[2] + part[2])
        t2 = time.perf_counter()
        read += t1 - t0
        kernel += t2 - t1
    yield {"read": read, "kernel": kernel, "python": time.perf_counter() - t_start}


def instrumented_pass(ds: BlockDataset, centres: np.ndarray,
                      kernels: str = "auto") -> list[dict[str, float]]:
    # Timing the reading of stored blocks apart from the kernel needs the storage itself,
    # which the engine keeps private (a profiler's exception to the dataset interface).
    storage = ds._storage
    views = storage.views(ds.partition_offsets, ())
    bc = ds._blocks.context.broadcast(centres)
    try:
        return storage.run(lambda: ds._blocks.mapPartitions(  # type: ignore[no-any-return]
            partial(_timed_partition, views=views, centres=bc, kernels=kernels)).collect())
    finally:
        bc.unpersist()


def _block_rows(block: Any, _: None) -> list[int]:
    return [block.n_rows]


def _events(log_file: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in log_file.read_text().splitlines() if line]


def job_timings(events: list[dict[str, Any]]) -> dict[int, dict[str, float]]:
    """Per job: duration (submission → end) and the slowest task's duration and run time."""
    jobs: dict[int, dict[str, Any]] = {}
    stage_job: dict[int, int] = {}
    for e in events:
        kind = e["Event"]
        if kind == "SparkListenerJobStart":
            jobs[e["Job ID"]] = {"start": e["Submission Time"], "tasks": []}
            for s in e["Stage IDs"]:
                stage_job[s] = e["Job ID"]
        elif kind == "SparkListenerJobEnd":
            jobs[e["Job ID"]]["end"] = e["Completion Time"]
        elif kind == "SparkListenerTaskEnd":
            info, metrics = e["Task Info"], e.get("Task Metrics") or {}
            jobs[stage_job[e["Stage ID"]]]["tasks"].append({
                "duration": info["Finish Time"] - info["Launch Time"],
                "run": metrics.get("Executor Run Time", 0),
                "deserialize": metrics.get("Executor Deserialize Time", 0),
            })
    out = {}
    for jid, j in jobs.items():
        slowest = max(j["tasks"], key=lambda t: t["duration"])
        out[jid] = {"submitted": j["start"], "job": (j["end"] - j["start"]) / 1e3,
                    "task": slowest["duration"] / 1e3, "run": slowest["run"] / 1e3,
                    "deserialize": slowest["deserialize"] / 1e3}
    return out


def _py_spy(pid: int | None, seconds: int, out: Path) -> subprocess.Popen[bytes] | None:
    exe = shutil.which("py-spy") or str(Path(sys.executable).parent / "py-spy")
    if not Path(exe).exists() or pid is None:
        print("py-spy not found (or no worker daemon): skipping sampling")
        return None
    return subprocess.Popen([exe, "record", "--pid", str(pid), "--subprocesses",
                             "--duration", str(seconds), "--format", "raw", "--rate", "200",
                             "--output", str(out)], stdout=subprocess.DEVNULL,
                            stderr=subprocess.STDOUT)


def _daemon_pids() -> list[int]:
    found = subprocess.run(["pgrep", "-f", "pyspark.daemon"], capture_output=True, text=True)
    return [int(p) for p in found.stdout.split()]


def top_functions(raw: Path, marker: str, limit: int = 12) -> list[tuple[str, float]]:
    """Self-time share per function in py-spy's collapsed stacks that pass through the
    frame ``marker`` (a worker running a task, the driver's measured loop); idle samples,
    such as the daemon waiting for work, are left out."""
    totals: dict[str, int] = {}
    busy = 0
    for line in raw.read_text().splitlines():
        stack, _, count = line.rpartition(" ")
        frames = stack.split(";")
        if not any(f.startswith(marker) for f in frames):
            continue
        leaf = frames[-1].split(" (")[0] + " (" + frames[-1].split(" (")[-1].split(":")[0] + ")"
        totals[leaf] = totals.get(leaf, 0) + int(count)
        busy += int(count)
    ranked = sorted(totals.items(), key=lambda kv: -kv[1])[:limit]
    return [(name, n / busy) for name, n in ranked]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--n", type=int, default=4_000_000)
    parser.add_argument("--d", type=int, default=2)
    parser.add_argument("--k", type=int, default=5)
    parser.add_argument("--iterations", type=int, default=10)
    parser.add_argument("--master", default="local[2]")
    parser.add_argument("--py-spy", action="store_true")
    args = parser.parse_args()

    from pyspark.sql import SparkSession
    from threadpoolctl import threadpool_limits

    os.environ.setdefault("PYSPARK_PYTHON", sys.executable)  # workers need rddml + NumPy
    log_dir = Path(tempfile.mkdtemp(prefix="rddml-events-"))
    spark = (SparkSession.builder.master(args.master).appName("rddml-profile")
             .config("spark.eventLog.enabled", "true")
             .config("spark.eventLog.dir", log_dir.as_uri())
             .config("spark.eventLog.compress", "false")
             .config("spark.ui.enabled", "false")
             .config("spark.python.unix.domain.socket.enabled", "true")  # as the local profile
             .config("spark.driver.memory", "6g")  # as conf/jobs/benchmark.spark-local.conf
             .getOrCreate())
    sc = spark.sparkContext
    rng = np.random.default_rng(0)
    X = rng.random((args.n, args.d))
    centres = X[rng.choice(args.n, size=args.k, replace=False)].copy()
    # As in the benchmark: from Parquet (a parallelized collection would ship its data in
    # every task of every iteration and inflate the task times measured here).
    import pyarrow as pa
    import pyarrow.parquet as pq

    cols = [f"x{j}" for j in range(args.d)]
    pq.write_table(pa.table({c: X[:, j] for j, c in enumerate(cols)}), log_dir / "points.parquet")
    raw = spark.read.parquet(str(log_dir / "points.parquet")).repartition(sc.defaultParallelism)
    ds = BlockDataset.from_dataframe(raw, feature_cols=cols)
    del X
    walls: list[float] = []
    windows: list[tuple[float, float]] = []  # epoch ms, to find each iteration's job
    warm_up_kernels(ds, args.k, "auto")  # as KMeans.fit does before its first pass
    with threadpool_limits(1):
        for _ in range(2):  # warm-up: Python workers started, broadcast paths exercised
            _, centres, _ = lloyd_iteration(ds, centres, "tree", "farthest")
        spies = [] if not args.py_spy else [
            _py_spy(next(iter(_daemon_pids()), None), max(5, args.iterations),
                    log_dir / "spy-workers.txt"),
            _py_spy(os.getpid(), max(5, args.iterations), log_dir / "spy-driver.txt")]
        if spies:
            time.sleep(1.0)  # let py-spy attach before the measured passes
        for _ in range(args.iterations):
            start_ms, t0 = time.time() * 1e3, time.perf_counter()
            _, centres, _ = lloyd_iteration(ds, centres, "tree", "farthest")
            walls.append(time.perf_counter() - t0)
            windows.append((start_ms, time.time() * 1e3))
        for spy in spies:
            if spy is not None:
                spy.wait()
        inside = [instrumented_pass(ds, centres) for _ in range(args.iterations)]
    blocks = [int(r) for r in ds.rows(_block_rows, None)]
    ds.unpersist()
    app_id = sc.applicationId
    spark.stop()

    log_file = next(p for p in log_dir.rglob(f"*{app_id}") if p.name.startswith("events_"))
    timings = job_timings(_events(log_file))
    per_iter = [t for t in timings.values() if any(lo <= t["submitted"] <= hi for lo, hi in windows)]
    assert len(per_iter) == args.iterations, (len(per_iter), args.iterations)
    wall = statistics.median(walls)
    job = statistics.median(t["job"] for t in per_iter)
    task = statistics.median(t["task"] for t in per_iter)
    run = statistics.median(t["run"] for t in per_iter)
    deser = statistics.median(t["deserialize"] for t in per_iter)
    slowest = [max(p, key=lambda t: t["python"]) for p in inside]
    read = statistics.median(s["read"] for s in slowest)
    kernel = statistics.median(s["kernel"] for s in slowest)
    python = statistics.median(s["python"] for s in slowest)
    print(f"\n{args.n} x {args.d}, k = {args.k}, {args.master}, {len(blocks)} blocks of "
          f"~{statistics.median(blocks)} rows, median of {args.iterations} iterations")
    rows = [
        ("iteration (wall, driver)", wall),
        ("  driver outside the job", wall - job),
        ("  Spark job", job),
        ("    scheduling, launch, result fetch", job - task),
        ("    slowest task", task),
        ("      task deserialisation (Spark metric)", deser),
        ("      executor run time (Spark metric)", run),
        ("      in the Python worker (instrumented pass)", python),
        ("        opening the stored blocks (maps of files, or unpickling)", read),
        ("        kernel (assign + partial sums, as the fit runs it)", kernel),
    ]
    for name, value in rows:
        print(f"{name:<60} {value * 1e3:8.1f} ms  {value / wall:6.1%}")
    for who, marker in (("workers", "main (worker.py"), ("driver", "main (profile_kmeans.py")):
        stacks = log_dir / f"spy-{who}.txt"
        if stacks.exists():
            print(f"\npy-spy, Python {who} while busy, self time by function:")
            for name, share in top_functions(stacks, marker):
                print(f"  {share:6.1%}  {name}")
    shutil.rmtree(log_dir, ignore_errors=True)


if __name__ == "__main__":
    main()
