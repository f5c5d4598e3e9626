"""Build (once per dependency set) the Python environment that executors unpack.

``./spark-submit.sh --profile cluster`` runs this, ships the archive it prints with
``spark.archives=ARCHIVE#rddml-env`` and points the executors' ``spark.pyspark.python`` at
``./rddml-env/bin/python``, so the cluster's nodes need no NumPy, SciPy, numba or PyArrow of
their own. Alone: ``.venv/bin/python tools/pack_env.py [--build-dir DIR]`` prints the path.

The environment holds rddml's runtime dependencies (``[project].dependencies`` plus the
``spark`` extra without pyspark, which every Spark node already has) at the versions of
``constraints.txt``, packed with venv-pack. rddml itself travels in the ``--py-files`` zip.
The archive is named by a hash of those requirements, the constraints, the Python version
and the platform, so it is rebuilt only when one of them changes; a lock file keeps two
concurrent submits from building it twice, and it is written to a temporary name and
renamed, so a failed build leaves nothing that looks finished.

venv-pack does not bundle the interpreter: the nodes need this Python (same version, same
path; ``base_python`` in the output). Where they do not have it, use conda-pack instead
(docs/cluster.md, "Shipping the environment").
"""

from __future__ import annotations

import argparse
import fcntl
import hashlib
import os
import platform
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - Python 3.10
    import tomli as tomllib

ROOT = Path(__file__).resolve().parent.parent
#: Requirements that the executors get from Spark itself, never from the archive.
FROM_SPARK = re.compile(r"^\s*pyspark\b", re.IGNORECASE)
#: Files no executor imports: every executor unpacks the archive for every application,
#: so these cost start-up time in every application.
UNUSED = (
    "*/tests/*",  # the packages' own test suites (~110 MB)
    "lib/python*/site-packages/pip/*", "lib/python*/site-packages/pip-*", "bin/pip*",
    "lib/python*/site-packages/setuptools/*", "lib/python*/site-packages/setuptools-*",
    "*/pyarrow/include/*", "*.pyx", "*.pxd",  # C++ headers and Cython sources
)


def requirements(pyproject: Path) -> list[str]:
    """The runtime requirements of the executors' Python, from ``pyproject.toml``."""
    project = tomllib.loads(pyproject.read_text(encoding="utf-8"))["project"]
    wanted = [*project["dependencies"], *project["optional-dependencies"]["spark"]]
    return [req for req in wanted if not FROM_SPARK.match(req)]


def fingerprint(reqs: list[str], constraints: Path) -> str:
    """What the archive depends on: requirements, pins, interpreter and platform."""
    digest = hashlib.sha256()
    for part in (*reqs, *UNUSED, constraints.read_text(encoding="utf-8"), sys.version,
                 sys.platform, platform.machine(), _base_python()):
        digest.update(part.encode() + b"\0")
    return digest.hexdigest()[:12]


def _base_python() -> str:
    # The interpreter a venv made from this Python links to (venv-pack keeps that link).
    return os.path.realpath(getattr(sys, "_base_executable", sys.executable))


def build(build_dir: Path, pyproject: Path, constraints: Path) -> Path:
    """Return the archive for the current requirements, building it if it is missing."""
    reqs = requirements(pyproject)
    archive = build_dir / f"rddml-env-{fingerprint(reqs, constraints)}.tar.gz"
    build_dir.mkdir(parents=True, exist_ok=True)
    with open(build_dir / ".lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # a concurrent submit waits here, then reuses ours
        if archive.exists():
            return archive
        import venv_pack  # the cluster extra; imported late so --help works without it

        print(f"rddml: packing the executors' environment into {archive} (once per "
              "dependency change) ...", file=sys.stderr)
        with tempfile.TemporaryDirectory(dir=build_dir, prefix=".pack-") as scratch:
            env = Path(scratch) / "venv"
            subprocess.run([_base_python(), "-m", "venv", str(env)], check=True)
            subprocess.run([str(env / "bin/python"), "-m", "pip", "install", "--quiet",
                            "--disable-pip-version-check", "-c", str(constraints), *reqs],
                           check=True, stdout=sys.stderr)
            partial = Path(scratch) / archive.name
            # Level 1: the archive is written once and read over the LAN; zlib's higher
            # levels cost several times the time for ~10% fewer bytes.
            packed = venv_pack.Env(str(env))
            for pattern in UNUSED:
                packed = packed.exclude(pattern)
            packed.pack(output=str(partial), compress_level=1)
            partial.chmod(0o644)  # mkstemp-style 0600 would hide it from a shared Spark user
            os.replace(partial, archive)
        # Archives of older dependencies are never used again, except by an application
        # still running (its new executors fetch the archive): keep them for a day.
        for stale in build_dir.glob("rddml-env-*.tar.gz"):
            if stale != archive and time.time() - stale.stat().st_mtime > 86400:
                stale.unlink(missing_ok=True)
    return archive


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--build-dir", type=Path, default=ROOT / "build" / "packed-env",
                        help="where archives are kept (default: build/packed-env)")
    args = parser.parse_args(argv)
    try:
        archive = build(args.build_dir, ROOT / "pyproject.toml", ROOT / "constraints.txt")
    except subprocess.CalledProcessError as exc:
        print(f"error: packing the executors' environment failed: {exc}", file=sys.stderr)
        return 1
    print(archive)
    return 0


if __name__ == "__main__":
    sys.exit(main())
