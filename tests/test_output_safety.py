"""Output safety: what --overwrite may replace, protected paths, concurrent
writers, the swap, leftovers and Spark-safe local paths. No Spark here.

Every destructive attempt points at a directory created under ``tmp_path``; the home,
current and repository directories are monkeypatched to such directories.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
from pathlib import Path
from typing import Any

import pytest

from rddml.errors import OutputBusyError, OutputExistsError, OutputPathError
from rddml.io import output
from rddml.io.output import (
    MANIFEST_NAME,
    atomic_directory,
    atomic_file,
    check_output_path,
    check_spark_output_path,
    claim_output,
    hadoop_local_path,
    protected_paths,
)

ROOT = Path(__file__).resolve().parents[1]


def write_rddml_output(path: Path, text: str = "v1", **kwargs: Any) -> None:
    with atomic_directory(path, job="test", config={"text": text}, **kwargs) as tmp:
        (tmp / "a.txt").write_text(text)
        (tmp / "sub").mkdir()
        (tmp / "sub" / "b.txt").write_text(text * 2)


def snapshot(directory: Path) -> dict[str, str]:
    return {str(p.relative_to(directory)): p.read_text() for p in sorted(directory.rglob("*"))
            if p.is_file()}


# ------------------------------------------------------------------- manifests
def test_output_directory_carries_a_manifest_listing_its_files(tmp_path: Path) -> None:
    write_rddml_output(tmp_path / "out", "hello")
    doc = json.loads((tmp_path / "out" / MANIFEST_NAME).read_text())
    assert doc["rddml_manifest"] == 2 and doc["job"] == "test"
    assert doc["config"] == {"text": "hello"} and doc["output"] == str(tmp_path / "out")
    # Digests: test_output_manifest.py.
    assert [(f["path"], f["bytes"]) for f in doc["files"]] == [("a.txt", 5), ("sub/b.txt", 10)]
    assert doc["total_bytes"] == 15 and doc["written_at"].endswith("+00:00")


def test_overwrite_replaces_an_rddml_output(tmp_path: Path) -> None:
    write_rddml_output(tmp_path / "out", "v1")
    write_rddml_output(tmp_path / "out", "v2", overwrite=True)
    assert (tmp_path / "out" / "a.txt").read_text() == "v2"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out"]    # nothing left beside it


def test_overwrite_refuses_a_directory_rddml_did_not_write(tmp_path: Path) -> None:
    # The bug: --overwrite deleted whatever directory it was pointed at.
    mine = tmp_path / "mine"
    mine.mkdir()
    (mine / "thesis.tex").write_text("precious")
    with pytest.raises(OutputExistsError, match=rf"Output path '{mine}' is a non-empty directory "
                                                rf"without {MANIFEST_NAME}, so it is not an "
                                                r"output rddml wrote"):
        write_rddml_output(mine, overwrite=True)
    assert snapshot(mine) == {"thesis.tex": "precious"}
    assert sorted(p.name for p in tmp_path.iterdir()) == ["mine"]


def test_overwrite_accepts_an_empty_directory_and_refuses_files_and_links(
        tmp_path: Path) -> None:
    (tmp_path / "empty").mkdir()
    write_rddml_output(tmp_path / "empty", overwrite=True)
    assert (tmp_path / "empty" / MANIFEST_NAME).is_file()
    (tmp_path / "file").write_text("keep")
    with pytest.raises(OutputExistsError, match=r"is a file, not an output directory"):
        write_rddml_output(tmp_path / "file", overwrite=True)
    (tmp_path / "link").symlink_to(tmp_path / "empty")
    with pytest.raises(OutputExistsError, match=r"is a symbolic link"):
        write_rddml_output(tmp_path / "link", overwrite=True)
    assert (tmp_path / "file").read_text() == "keep"
    assert (tmp_path / "empty" / "a.txt").read_text() == "v1"
    with pytest.raises(OutputExistsError, match=r"is a directory, but this output is a single "
                                                r"file"), atomic_file(tmp_path / "empty",
                                                                      overwrite=True) as tmp:
        tmp.write_text("x")
    assert (tmp_path / "empty" / "a.txt").read_text() == "v1"


def test_manifest_that_is_not_rddml_s_does_not_count(tmp_path: Path) -> None:
    (tmp_path / "out").mkdir()
    (tmp_path / "out" / MANIFEST_NAME).write_text('{"something": "else"}')
    with pytest.raises(OutputExistsError, match=r"without _rddml_manifest\.json"):
        write_rddml_output(tmp_path / "out", overwrite=True)


# ------------------------------------------------------------- protected paths
@pytest.fixture
def sandbox(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> dict[str, Path]:
    """Home, current directory and repository moved into tmp_path, each with a file."""
    dirs = {name: tmp_path / "box" / name for name in ("home", "cwd", "repo")}
    for name, path in dirs.items():
        path.mkdir(parents=True)
        (path / "keep.txt").write_text(name)
    monkeypatch.setenv("HOME", str(dirs["home"]))
    monkeypatch.setenv("RDDML_ROOT", str(dirs["repo"]))
    monkeypatch.chdir(dirs["cwd"])
    return dirs


@pytest.mark.parametrize("which", ["home", "cwd", "repo", "box"])
def test_overwrite_refuses_home_cwd_repository_and_their_ancestors(
        sandbox: dict[str, Path], which: str) -> None:
    target = sandbox[which] if which != "box" else sandbox["home"].parent
    # Even a directory with a manifest: these are never outputs.
    (target / MANIFEST_NAME).write_text(json.dumps({"rddml_manifest": 1}))
    before = snapshot(target)
    what = {"home": "the home directory", "cwd": "the current directory",
            "repo": "the rddml repository"}
    message = (rf"refusing to write to {what[which]}" if which != "box"
               else r"refusing to write to .*, which contains the home directory")
    with pytest.raises(OutputPathError, match=message):
        write_rddml_output(target, overwrite=True)
    with pytest.raises(OutputPathError, match=message):  # and without --overwrite
        check_output_path(target, False)
    assert snapshot(target) == before
    assert not list(target.parent.glob(".*"))            # no lock, tmp or old left


@pytest.mark.parametrize(("given", "message"), [
    (".", r"Output path '\.' \(key 'output_dir'\): refusing to write to the current "
          r"directory"),
    ("..", r"Output path '\.\.' \(key 'output_dir'\): refusing to write to .*, which "
           r"contains the (home|current) directory"),
    ("", r"Output path '' \(key 'output_dir'\): the output path is empty"),
    ("  ", r"the output path is empty"),
    ("sub/..", r"refusing to write to the current directory"),
])
def test_dot_dotdot_and_empty_are_refused_up_front(sandbox: dict[str, Path], given: str,
                                                   message: str) -> None:
    # The bug: a whole fit, then "PosixPath('.') has an empty name" or EBUSY.
    before = snapshot(sandbox["cwd"].parent)
    with pytest.raises(OutputPathError, match=message):
        check_output_path(given, True, key="output_dir")
    with pytest.raises(OutputPathError, match=message), claim_output(
            given, overwrite=True, key="output_dir"):
        pass
    with pytest.raises(OutputPathError):
        write_rddml_output(Path(given), overwrite=True)
    assert snapshot(sandbox["cwd"].parent) == before


def test_root_is_protected_and_a_symlink_to_home_is_refused(
        sandbox: dict[str, Path], tmp_path: Path) -> None:
    assert protected_paths()["the file-system root"] == Path("/")
    with pytest.raises(OutputPathError, match=r"refusing to write to .*'/'.* which contains|"
                                              r"refusing to write to the file-system root"):
        check_output_path("/", True)         # only the check: it never writes or deletes
    link = tmp_path / "to-home"
    link.symlink_to(sandbox["home"])
    with pytest.raises(OutputPathError, match=r"refusing to write to the home directory"):
        write_rddml_output(link, overwrite=True)
    assert snapshot(sandbox["home"]) == {"keep.txt": "home"}


def test_a_subdirectory_of_a_protected_directory_is_fine(sandbox: dict[str, Path]) -> None:
    write_rddml_output(Path("output/run1"))
    assert (sandbox["cwd"] / "output" / "run1" / "a.txt").read_text() == "v1"


# ------------------------------------------------------------ concurrent writers
def test_two_threads_one_output_exactly_one_wins_whole(tmp_path: Path) -> None:
    # The bug: both writers reported success and one result was silently lost.
    target = tmp_path / "out"
    write_rddml_output(target, "old")
    inside = threading.Event()
    release = threading.Event()
    errors: dict[str, BaseException] = {}

    def first() -> None:
        try:
            with atomic_directory(target, overwrite=True, job="first") as tmp:
                (tmp / "a.txt").write_text("first")
                inside.set()
                release.wait(10)
        except BaseException as exc:
            errors["first"] = exc

    thread = threading.Thread(target=first)
    thread.start()
    assert inside.wait(10)
    try:
        with pytest.raises(OutputBusyError, match=rf"Output path '{target}' is being written by "
                                                  rf"another rddml job \(pid {os.getpid()} on "
                                                  r".*lock file .*\.out\.lock'\)"), \
                atomic_directory(target, overwrite=True, job="second") as tmp:
            (tmp / "a.txt").write_text("second")
        # While the first writes, the old output is still complete and in place.
        assert snapshot(target)["a.txt"] == "old"
    finally:
        release.set()
        thread.join(10)
    assert not errors
    assert snapshot(target) == {"a.txt": "first", MANIFEST_NAME:
                                (target / MANIFEST_NAME).read_text()}
    assert json.loads((target / MANIFEST_NAME).read_text())["job"] == "first"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out"]


_HOLDER = """
import sys
from rddml.io.output import claim_output
with claim_output(sys.argv[1], overwrite=True):
    print("locked", flush=True)
    sys.stdin.read()
"""


def test_a_second_process_fails_while_the_first_holds_the_output(tmp_path: Path) -> None:
    target = tmp_path / "out"
    env = {**os.environ, "PYTHONPATH": str(ROOT / "lib")}
    holder = subprocess.Popen([sys.executable, "-c", _HOLDER, str(target)], env=env,
                              stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout is not None and holder.stdout.readline() == "locked\n"
        with pytest.raises(OutputBusyError, match=rf"being written by another rddml job "
                                                  rf"\(pid {holder.pid} "):
            write_rddml_output(target)
        with pytest.raises(OutputBusyError), claim_output(target, overwrite=False):
            pass
    finally:
        holder.communicate("", timeout=30)
    assert holder.returncode == 0
    write_rddml_output(target)        # the lock is gone with its holder
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out"]


def test_the_lock_is_reentrant_within_the_job_thread(tmp_path: Path) -> None:
    with claim_output(tmp_path / "out", overwrite=False) as target:
        assert (tmp_path / ".out.lock").exists()
        write_rddml_output(target)
        assert (tmp_path / ".out.lock").exists()   # still held by the outer claim
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out"]


# ------------------------------------------------------------------------ swap
def test_the_output_never_disappears_during_the_swap(tmp_path: Path) -> None:
    # The bug: between "rename old away" and "rename new in" there was no output at all.
    target = tmp_path / "out"
    write_rddml_output(target, "0")
    stop = threading.Event()
    missing: list[int] = []

    def reader() -> None:
        while not stop.is_set():
            if not os.path.exists(target / "a.txt"):
                missing.append(1)

    thread = threading.Thread(target=reader)
    thread.start()
    try:
        for i in range(1, 150):
            write_rddml_output(target, str(i), overwrite=True)
    finally:
        stop.set()
        thread.join(10)
    assert (target / "a.txt").read_text() == "149"
    assert missing == []
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out"]


def test_a_failed_swap_puts_the_old_output_back_and_leaves_nothing(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    target = tmp_path / "out"
    write_rddml_output(target, "old")
    # A file system without renameat2, and the second rename failing (e.g. EBUSY).
    monkeypatch.setattr(output, "_rename2", lambda src, dst, flags: False)
    real_rename = os.rename

    def flaky_rename(src: Any, dst: Any) -> None:
        if Path(src).name.startswith(".out.tmp-"):
            raise OSError(16, "Device or resource busy")
        real_rename(src, dst)

    monkeypatch.setattr(output.os, "rename", flaky_rename)
    with pytest.raises(OSError, match="busy"):
        write_rddml_output(target, "new", overwrite=True)
    assert snapshot(target)["a.txt"] == "old"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out"]


def test_without_renameat2_the_two_rename_swap_still_works(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(output, "_rename2", lambda src, dst, flags: False)
    write_rddml_output(tmp_path / "out", "v1")
    write_rddml_output(tmp_path / "out", "v2", overwrite=True)
    assert (tmp_path / "out" / "a.txt").read_text() == "v2"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out"]


def test_a_failure_inside_the_block_leaves_the_old_output_and_no_temporary(
        tmp_path: Path) -> None:
    write_rddml_output(tmp_path / "out", "old")
    with pytest.raises(RuntimeError, match="boom"), atomic_directory(
            tmp_path / "out", overwrite=True) as tmp:
        (tmp / "a.txt").write_text("half")
        raise RuntimeError("boom")
    assert snapshot(tmp_path / "out")["a.txt"] == "old"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out"]


def test_leftovers_of_a_killed_writer_are_removed_by_the_next_one(tmp_path: Path) -> None:
    (tmp_path / ".out.tmp-0123456789ab").mkdir()
    (tmp_path / ".out.tmp-0123456789ab" / "part-00000").write_text("x")
    (tmp_path / ".out.old-ba9876543210").mkdir()
    (tmp_path / ".other.tmp-0123456789ab").mkdir()          # another output's: kept
    write_rddml_output(tmp_path / "out")
    assert sorted(p.name for p in tmp_path.iterdir()) == [".other.tmp-0123456789ab", "out"]


def test_atomic_file_replaces_a_file_and_locks_it(tmp_path: Path) -> None:
    target = tmp_path / "data.csv"
    target.write_text("old")
    with atomic_file(target, overwrite=True) as tmp:
        tmp.write_text("new")
        assert isinstance(enter_in_other_thread(atomic_file, target, overwrite=True),
                          OutputBusyError)
    assert target.read_text() == "new"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["data.csv"]


def enter_in_other_thread(func: Any, *args: Any, **kwargs: Any) -> BaseException | None:
    """Enter and leave ``func(*args, **kwargs)`` in another thread; the error it raised."""
    error: list[BaseException] = []

    def run() -> None:
        try:
            with func(*args, **kwargs):
                pass
        except BaseException as exc:
            error.append(exc)

    thread = threading.Thread(target=run)
    thread.start()
    thread.join(10)
    return error[0] if error else None


# ----------------------------------------------------------------- Spark paths
@pytest.mark.parametrize("name", ["a b", "100%", "%41", "x#1", "é漢", "q?:;"])
def test_hadoop_local_path_is_the_raw_absolute_path(tmp_path: Path, name: str) -> None:
    # The bug: Path.as_uri() percent-encodes, and Hadoop takes the encoding literally.
    assert hadoop_local_path(tmp_path / name) == "file://" + str(tmp_path / name)
    assert "%20" not in hadoop_local_path(tmp_path / "a b")


class FakeJvmSession:
    """A session whose driver JVM reports ``encoding`` as sun.jnu.encoding."""

    def __init__(self, encoding: str) -> None:
        system = type("System", (), {"getProperty": staticmethod(lambda name: encoding)})
        lang = type("Lang", (), {"System": system})
        java = type("Java", (), {"lang": lang})
        jvm = type("Jvm", (), {"java": java})
        self.sparkContext = type("Sc", (), {"_jvm": jvm})()


def test_non_ascii_output_is_refused_when_the_jvm_cannot_encode_it(tmp_path: Path) -> None:
    ascii_jvm = FakeJvmSession("ANSI_X3.4-1968")
    with pytest.raises(OutputPathError, match=r"non-ASCII characters, but Spark's JVM encodes "
                                              r"file names as ANSI_X3\.4-1968.*LC_ALL=C\.UTF-8"):
        check_spark_output_path(ascii_jvm, tmp_path / "é", key="output_dir")
    check_spark_output_path(ascii_jvm, tmp_path / "plain")
    check_spark_output_path(FakeJvmSession("UTF-8"), tmp_path / "é")
    check_spark_output_path(object(), tmp_path / "é")     # Spark Connect: nothing to ask
    with pytest.raises(OutputPathError), claim_output(tmp_path / "é", overwrite=False,
                                                      spark=ascii_jvm):
        pass
    assert list(tmp_path.iterdir()) == []


# ------------------------------------------------------------------------- jobs
JOBS = sorted(p.stem for p in (ROOT / "jobs").glob("*.py") if not p.stem.startswith("_"))


class NoSpark:
    """A session stand-in that fails the test if anything touches it."""

    def __getattr__(self, name: str) -> Any:
        raise AssertionError(f"Spark was used (.{name}) before the output was checked")


def job_config(name: str, output_path: Path, *sets: str) -> tuple[Any, Any]:
    import importlib

    from rddml.io.config import load_config

    module = importlib.import_module(f"jobs.{name}")
    key = "output" if name == "generate_data" else "output_dir"
    config = load_config(module.Config, ROOT / "conf/jobs" / f"{name}.toml",
                         [f"{key}={output_path}", *sets])
    return module, config


@pytest.mark.parametrize("name", JOBS)
def test_every_job_refuses_the_home_directory_before_spark(
        sandbox: dict[str, Path], name: str) -> None:
    # The bug: ./spark-submit.sh kmeans --set output_dir=$HOME --overwrite emptied $HOME.
    module, config = job_config(name, sandbox["home"], "overwrite=true")
    with pytest.raises(OutputPathError, match=r"refusing to write to the home directory"):
        module.main(NoSpark(), config)
    assert snapshot(sandbox["home"]) == {"keep.txt": "home"}


@pytest.mark.parametrize("name", JOBS)
def test_every_job_stops_before_spark_while_another_writes_its_output(
        tmp_path: Path, name: str) -> None:
    target = tmp_path / "out"
    env = {**os.environ, "PYTHONPATH": str(ROOT / "lib")}
    holder = subprocess.Popen([sys.executable, "-c", _HOLDER, str(target)], env=env,
                              stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout is not None and holder.stdout.readline() == "locked\n"
        module, config = job_config(name, target)
        with pytest.raises(OutputBusyError, match=rf"\(key '(output|output_dir)'\) is being "
                                                  rf"written by another rddml job \(pid "
                                                  rf"{holder.pid} "):
            module.main(NoSpark(), config)
    finally:
        holder.communicate("", timeout=30)
    assert list(tmp_path.iterdir()) == []
