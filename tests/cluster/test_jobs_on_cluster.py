"""Jobs run on the standalone cluster and write what they write on local mode.

Two jobs run here: k-means, submitted with the packed environment to nodes whose Python
has no NumPy (the path every cluster job takes: ``--py-files``, executors in their own
JVMs and Python workers, results back to the driver), and data generation, whose rows are
made on the executors. The logistic-regression and heart-disease jobs take the same
submission path and the same engine; they are compared with references in local mode
(``tests/test_logistic_job.py``, ``tests/test_heart_*.py``), and the fits themselves on the
cluster in ``test_faults.py`` and ``test_checkpoint_resume.py``.

Each case runs ``./spark-submit.sh --master spark://127.0.0.1:P JOB --set ...`` and the
same job in the test session (``local[2]``) through ``main(spark, config)``, then
compares the outputs. To cover another job, add a :class:`JobCase` to ``JOBS``.
"""

from __future__ import annotations

import importlib
import json
import math
import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from cluster_support import ROOT, Cluster

from rddml.io.config import load_config

pytestmark = pytest.mark.cluster

#: Keys whose values legitimately differ between two runs (paths, timings).
VOLATILE = frozenset({"config", "seconds", "output_dir", "elapsed", "elapsed_seconds",
                      "started", "written"})


@dataclass(frozen=True)
class JobCase:
    """One job, run on the cluster and locally, with the outputs to compare.

    ``same_files``: glob patterns (inside the output directory) whose matches must have
    identical bytes (compared as one concatenation in name order); ``same_json``: JSON
    files whose numbers must agree to ``rtol`` (exact by default), ignoring the keys in
    ``ignore`` at any depth. ``output_key`` is the config key of the job's output and
    ``output_path`` where it points inside the case's directory ('' = the directory).
    ``profile="cluster"`` submits with ``--profile cluster`` (the packed environment) on
    nodes whose own Python has no NumPy.
    """

    job: str
    sets: tuple[str, ...] = ()
    same_files: tuple[str, ...] = ()
    same_json: tuple[str, ...] = ()
    ignore: frozenset[str] = VOLATILE
    rtol: float = 0.0
    output_key: str = "output_dir"
    output_path: str = ""
    profile: str = "local"
    spark_conf: tuple[str, ...] = ()

    def output_set(self, root: Path) -> str:
        return f"{self.output_key}={root / self.output_path if self.output_path else root}"

    @property
    def id(self) -> str:
        return self.job


JOBS = [
    # Two input partitions on both sides, so even the reduceByKey sums are bit-identical.
    JobCase(
        "kmeans",
        sets=(f"input={ROOT / 'data/samples/blobs.csv'}", "k=5", "seed=0", "max_iter=10",
              "write_assignments=true"),
        same_files=("centers.csv", "assignments/part-*"),
        same_json=("summary.json", "model/model.json"),
        profile="cluster",
    ),
    # Rows generated on the executors: the same bytes wherever they run.
    JobCase(
        "generate_data",
        sets=("kind=classification", "n_samples=3000", "n_features=3", "seed=7"),
        same_files=("data/part-*",),
        same_json=("data.json",),
        output_key="output",
        output_path="data",
    ),
]


def run_locally(spark: Any, case: JobCase, output: Path) -> None:
    module = importlib.import_module(f"jobs.{case.job}")
    if case.output_path:  # the output goes inside: its parent must exist
        output.mkdir(parents=True, exist_ok=True)
    config = load_config(module.Config, ROOT / "conf/jobs" / f"{case.job}.toml",
                         [*case.sets, case.output_set(output)])
    module.main(spark, config)


def run_on_cluster(cluster: Cluster, case: JobCase, output: Path,
                   env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    if case.output_path:  # the output goes inside: its parent must exist
        output.mkdir(parents=True, exist_ok=True)
    sets = [arg for s in (*case.sets, case.output_set(output)) for arg in ("--set", s)]
    # The test cluster's Workers have 2 GiB each; the cluster profile asks 2g for executors.
    profile = (["--profile", "cluster", "--spark-conf", "spark.executor.memory=1g"]
               if case.profile == "cluster" else [])
    profile += [arg for conf in case.spark_conf for arg in ("--spark-conf", conf)]
    return subprocess.run(
        [str(ROOT / "spark-submit.sh"), *profile, "--master", cluster.master_url, case.job,
         *sets],
        cwd=ROOT, capture_output=True, text=True, timeout=600,
        env=env if case.profile == "cluster" else None,
    )


def assert_same_json(a: Any, b: Any, case: JobCase, where: str = "") -> None:
    if isinstance(a, dict) and isinstance(b, dict):
        keys = {k for k in a.keys() | b.keys() if k not in case.ignore}
        assert {k for k in a if k in keys} == {k for k in b if k in keys}, where
        for key in sorted(keys):
            assert_same_json(a[key], b[key], case, f"{where}.{key}")
    elif isinstance(a, list) and isinstance(b, list):
        assert len(a) == len(b), where
        for i, (x, y) in enumerate(zip(a, b)):
            assert_same_json(x, y, case, f"{where}[{i}]")
    elif isinstance(a, float) and isinstance(b, float):
        assert math.isclose(a, b, rel_tol=case.rtol, abs_tol=0) or a == b, f"{where}: {a} != {b}"
    else:
        assert a == b, f"{where}: {a!r} != {b!r}"


def concatenated(root: Path, pattern: str) -> bytes:
    files = sorted(p for p in root.glob(pattern) if p.is_file())
    assert files, f"no {pattern} in {root}"
    return b"".join(p.read_bytes() for p in files)


def compare_outputs(case: JobCase, a: Path, b: Path) -> None:
    for pattern in case.same_files:
        assert concatenated(a, pattern) == concatenated(b, pattern), pattern
    for name in case.same_json:
        assert_same_json(json.loads((a / name).read_text()), json.loads((b / name).read_text()),
                         case, name)


@pytest.fixture(scope="module")
def python_without_numpy(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    """The environment of nodes whose own Python has no NumPy: ``PYSPARK_PYTHON`` is a bare
    venv (no site-packages of the system, nothing installed), checked to lack NumPy."""
    bare = tmp_path_factory.mktemp("bare-python") / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(bare)], check=True)
    python = str(bare / "bin" / "python")
    probe = subprocess.run([python, "-c", "import numpy"], capture_output=True, text=True)
    assert probe.returncode != 0 and "No module named 'numpy'" in probe.stderr, probe
    return {**os.environ, "PYSPARK_PYTHON": python}


@pytest.mark.parametrize("case", JOBS, ids=lambda c: c.id)
def test_job_on_the_cluster_matches_local_mode(cluster: Cluster, spark: Any, tmp_path: Path,
                                               python_without_numpy: dict[str, str],
                                               case: JobCase) -> None:
    completed_before = {a["id"] for a in cluster.master_json().get("completedapps", [])}
    remote = run_on_cluster(cluster, case, tmp_path / "cluster", python_without_numpy)
    assert remote.returncode == 0, remote.stderr[-4000:]
    # It really ran on the cluster: the Master lists one more finished application.
    new_apps = [a for a in cluster.master_json().get("completedapps", [])
                if a["id"] not in completed_before]
    assert [a["name"] for a in new_apps] == [f"rddml-{case.job}"]
    if case.profile == "cluster":
        # --profile cluster packed the environment (tools/pack_env.py, venv-pack) and every
        # executor unpacked it and ran its Python from there, not the nodes' own.
        executors = list(cluster.directory.glob(f"work/worker-*/{new_apps[0]['id']}/*"))
        assert executors
        assert all((e / "rddml-env" / "bin" / "python").exists() for e in executors)

    run_locally(spark, case, tmp_path / "local")
    compare_outputs(case, tmp_path / "cluster", tmp_path / "local")


def test_nodes_without_numpy_cannot_run_a_job_unpacked(cluster: Cluster, tmp_path: Path,
                                                       python_without_numpy: dict[str, str]) -> None:
    """The premise of the packed cases above: with ``--no-pack`` the executors run the nodes' own
    Python, and the job fails for want of NumPy."""
    done = subprocess.run(
        [str(ROOT / "spark-submit.sh"), "--profile", "cluster", "--no-pack", "--master",
         cluster.master_url, "--spark-conf", "spark.task.maxFailures=1", "kmeans",
         "--set", f"output_dir={tmp_path / 'out'}", "--set", "max_iter=2"],
        cwd=ROOT, capture_output=True, text=True, timeout=600, env=python_without_numpy,
    )
    assert done.returncode != 0
    assert "No module named 'numpy'" in done.stderr, done.stderr[-4000:]
    assert not (tmp_path / "out").exists()
