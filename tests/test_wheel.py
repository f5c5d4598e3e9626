"""The wheel users ``%pip install`` on Databricks: built by ``python -m build``.

It must take its version from ``rddml/_version.py`` only, depend unconditionally on
nothing a Databricks runtime pins (pyspark, pandas, pyarrow only in extras), and
``import rddml`` must work where pyspark is not installed (nor numba: the fused kernels
fall back to NumPy).
"""

from __future__ import annotations

import email
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

import rddml

ROOT = Path(__file__).resolve().parents[1]
pytestmark = pytest.mark.slow
# Packages a Databricks runtime already ships (at its own versions).
RUNTIME_PACKAGES = ("pyspark", "pandas", "pyarrow", "matplotlib", "mlflow", "scikit-learn")


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    # Build from a clean copy of what the wheel is made of, so the test neither writes
    # into the checkout (build/, egg-info) nor picks up stale files from it.
    src = tmp_path_factory.mktemp("src")
    shutil.copytree(ROOT / "lib", src / "lib",
                    ignore=shutil.ignore_patterns("__pycache__", "*.egg-info"))
    for name in ("pyproject.toml", "README.md"):
        shutil.copy(ROOT / name, src / name)
    out = tmp_path_factory.mktemp("dist")
    # The command of docs/databricks.md (an isolated build: setuptools and wheel come from the index).
    proc = subprocess.run([sys.executable, "-m", "build", "--wheel", "--outdir", str(out),
                           str(src)], capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    wheels = list(out.glob("*.whl"))
    assert len(wheels) == 1, wheels
    return wheels[0]


def _metadata(wheel: Path) -> email.message.Message:
    with zipfile.ZipFile(wheel) as zf:
        name = next(n for n in zf.namelist() if n.endswith(".dist-info/METADATA"))
        return email.message_from_bytes(zf.read(name))


def test_wheel_is_named_and_versioned_from_the_version_module(wheel: Path) -> None:
    assert wheel.name == f"rddml-{rddml.__version__}-py3-none-any.whl"
    meta = _metadata(wheel)
    assert (meta["Name"], meta["Version"]) == ("rddml", rddml.__version__)


def test_runtime_packages_are_only_in_extras(wheel: Path) -> None:
    requires = _metadata(wheel).get_all("Requires-Dist") or []
    unconditional = [r.split(";")[0].strip() for r in requires if "extra ==" not in r]
    names = {r.split(">")[0].split("=")[0].split("[")[0].strip().lower() for r in unconditional}
    assert names <= {"numba", "numpy", "scipy", "tomli", "tqdm"}, unconditional
    for package in RUNTIME_PACKAGES:
        assert all("extra ==" in r for r in requires if r.lower().startswith(package)), requires
    assert any(r.startswith("pyspark") and 'extra == "spark"' in r for r in requires)


def test_wheel_holds_the_package_and_its_type_marker_only(wheel: Path) -> None:
    with zipfile.ZipFile(wheel) as zf:
        names = zf.namelist()
    top = {n.split("/")[0] for n in names}
    assert top == {"rddml", f"rddml-{rddml.__version__}.dist-info"}
    for module in ("rddml/__init__.py", "rddml/py.typed", "rddml/engine/frames.py",
                   "rddml/cluster/passes.py", "rddml/linear/passes.py", "rddml/io/config.py",
                   "rddml/data/text.py", "rddml/engine/backend.py", "rddml/heart/__init__.py"):
        assert module in names


def test_import_needs_no_pyspark(wheel: Path, tmp_path: Path) -> None:
    with zipfile.ZipFile(wheel) as zf:
        zf.extractall(tmp_path)
    # Block the packages a bare `pip install rddml` does not bring, then import from the
    # unpacked wheel (not the editable checkout) and use the driver-side NumPy paths.
    script = f"""
import sys
sys.path.insert(0, {str(tmp_path)!r})
for name in ("pyspark", "pandas", "pyarrow", "sklearn", "matplotlib", "mlflow", "numba"):
    sys.modules[name] = None
import numpy as np
import rddml
from rddml import KMeans, LogisticRegression
from rddml.engine import backend
from rddml.io import tracking
import rddml.cluster.passes, rddml.cluster.init, rddml.linear.passes, rddml.engine.frames
assert rddml.__file__.startswith({str(tmp_path)!r}), rddml.__file__
km = KMeans(k=2)
km.cluster_centers_ = np.array([[0.0, 0.0], [5.0, 5.0]])
print(km.predict(np.array([[1.0, 1.0], [4.0, 4.0]])).tolist())
"""
    proc = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                          timeout=120, cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert proc.stdout.strip() == "[0, 1]"
