"""What ``--overwrite`` may delete (only what the manifest lists, unchanged), inputs kept
out of outputs, and ``~`` in every path key. No Spark here: every check runs before it.

Every destructive attempt points at a directory created under ``tmp_path``; the home
directory is monkeypatched to one.
"""

from __future__ import annotations

import hashlib
import importlib
import json
import logging
import os
from pathlib import Path
from typing import Any

import pytest

from rddml.errors import ConfigError, OutputExistsError, OutputPathError
from rddml.io import output
from rddml.io.config import PATH_ROLES, load_config, path_keys
from rddml.io.output import MANIFEST_NAME, atomic_directory, claim_output

ROOT = Path(__file__).resolve().parents[1]
JOBS = sorted(p.stem for p in (ROOT / "jobs").glob("*.py") if not p.stem.startswith("_"))


def write_rddml_output(path: Path, text: str = "v1", **kwargs: Any) -> None:
    with atomic_directory(path, job="test", config={"text": text}, **kwargs) as tmp:
        (tmp / "a.txt").write_text(text)
        (tmp / "sub").mkdir()
        (tmp / "sub" / "b.txt").write_text(text * 2)
        (tmp / "empty").mkdir()


def snapshot(directory: Path) -> dict[str, str]:
    return {p.relative_to(directory).as_posix(): p.read_text() if p.is_file() else "<dir>"
            for p in sorted(directory.rglob("*"))}


class NoSpark:
    """A session stand-in that fails the test if anything touches it."""

    def __getattr__(self, name: str) -> Any:
        raise AssertionError(f"Spark was used (.{name}) before the paths were checked")


# ------------------------------------------------------------------- manifests
def test_manifest_records_sha256_of_every_file_and_every_directory(tmp_path: Path) -> None:
    write_rddml_output(tmp_path / "out", "hello")
    doc = json.loads((tmp_path / "out" / MANIFEST_NAME).read_text())
    assert doc["rddml_manifest"] == 2
    sha = {text: hashlib.sha256(text.encode()).hexdigest() for text in ("hello", "hello" * 2)}
    assert doc["files"] == [
        {"path": "a.txt", "bytes": 5, "sha256": sha["hello"]},
        {"path": "sub/b.txt", "bytes": 10, "sha256": sha["hello" * 2]},
    ]
    assert doc["directories"] == ["empty", "sub"]


def test_overwrite_keeps_a_users_files_in_an_rddml_output(tmp_path: Path) -> None:
    # The bug: a user's notes and data inside an rddml output went with --overwrite.
    out = tmp_path / "out"
    write_rddml_output(out, "v1")
    (out / "my_notes.txt").write_text("notes")
    (out / "my_data").mkdir()
    (out / "my_data" / "points.csv").write_text("1,2\n")
    before = snapshot(out)
    with pytest.raises(OutputExistsError) as info:
        write_rddml_output(out, "v2", overwrite=True)
    message = str(info.value)
    assert message.startswith(f"Output path '{out}' holds 2 path(s) that are not rddml's "
                              f"output as its {MANIFEST_NAME} lists it")
    assert "my_data/ (a directory the manifest does not list)" in message
    assert "my_notes.txt (a file the manifest does not list)" in message
    assert snapshot(out) == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out"]


@pytest.mark.parametrize("change, why", [
    ("same-size", r"a\.txt \(changed since rddml wrote it: its SHA-256 differs\)"),
    ("longer", r"a\.txt \(6 bytes; rddml wrote 2\)"),
    ("link", r"a\.txt \(a symbolic link\)"),
    ("dir-link", r"linked \(a symbolic link\)"),
    ("empty-dir", r"new/ \(a directory the manifest does not list\)"),
    ("fifo", r"pipe \(not a regular file\)"),
])
def test_overwrite_refuses_changed_or_foreign_entries(tmp_path: Path, change: str,
                                                      why: str) -> None:
    out = tmp_path / "out"
    write_rddml_output(out, "v1")
    (tmp_path / "elsewhere").mkdir()
    (tmp_path / "elsewhere" / "f").write_text("precious")
    if change == "same-size":
        (out / "a.txt").write_text("V1")
    elif change == "longer":
        (out / "a.txt").write_text("edited")
    elif change == "link":
        (out / "a.txt").unlink()
        (out / "a.txt").symlink_to(tmp_path / "elsewhere" / "f")
    elif change == "dir-link":
        (out / "linked").symlink_to(tmp_path / "elsewhere")
    elif change == "empty-dir":
        (out / "new").mkdir()
    else:
        os.mkfifo(out / "pipe")
    with pytest.raises(OutputExistsError, match=rf"holds 1 path\(s\) .*: {why}\. Move them"):
        write_rddml_output(out, "v2", overwrite=True)
    assert (tmp_path / "elsewhere" / "f").read_text() == "precious"
    assert (out / "sub" / "b.txt").read_text() == "v1v1"


def test_message_lists_the_first_ten_and_the_count(tmp_path: Path) -> None:
    out = tmp_path / "out"
    write_rddml_output(out)
    for i in range(15):
        (out / f"user{i:02d}.txt").write_text("x")
    with pytest.raises(OutputExistsError) as info:
        write_rddml_output(out, overwrite=True)
    message = str(info.value)
    assert "holds 15 path(s)" in message and "; and 5 more." in message
    assert "user09.txt" in message and "user10.txt" not in message


def test_overwrite_of_an_unchanged_output_replaces_it_and_a_deleted_file_is_fine(
        tmp_path: Path) -> None:
    out = tmp_path / "out"
    write_rddml_output(out, "v1")
    (out / "sub" / "b.txt").unlink()      # less than the manifest lists: nothing of the user's
    write_rddml_output(out, "v2", overwrite=True)
    assert snapshot(out) == {"a.txt": "v2", "empty": "<dir>", "sub": "<dir>",
                             "sub/b.txt": "v2v2", MANIFEST_NAME: (out / MANIFEST_NAME).read_text()}
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out"]


def test_an_output_with_a_format_1_manifest_is_not_replaced(tmp_path: Path) -> None:
    out = tmp_path / "out"
    out.mkdir()
    (out / "a.txt").write_text("v1")
    (out / MANIFEST_NAME).write_text(json.dumps(
        {"rddml_manifest": 1, "files": [{"path": "a.txt", "bytes": 2}]}))
    with pytest.raises(OutputExistsError, match=r"written by an older rddml whose "
                                                r"_rddml_manifest\.json records no SHA-256"):
        write_rddml_output(out, overwrite=True)
    assert (out / "a.txt").read_text() == "v1"


def test_each_file_is_hashed_once_per_overwrite(tmp_path: Path,
                                                monkeypatch: pytest.MonkeyPatch) -> None:
    out = tmp_path / "out"
    write_rddml_output(out, "v1")
    output._digests.clear()      # as in a new process
    hashed: list[str] = []
    real = output.file_digest

    def counting(path: Any) -> str:
        hashed.append(Path(path).name)
        return real(path)

    monkeypatch.setattr(output, "file_digest", counting)
    # A job: checked before any work, again under the lock, by atomic_directory (twice),
    # at the swap, and when the replaced output is deleted from its temporary name.
    with claim_output(out, overwrite=True):
        write_rddml_output(out, "v2", overwrite=True)
    # Two old files checked (once each), two new files listed in the new manifest.
    assert sorted(hashed) == ["a.txt", "a.txt", "b.txt", "b.txt"]


def test_a_file_appearing_just_before_the_swap_is_kept(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
        caplog: pytest.LogCaptureFixture) -> None:
    out = tmp_path / "out"
    write_rddml_output(out, "v1")
    real = output._rename2

    def late_writer(src: Path, dst: Path, flags: int) -> bool:
        if flags == output._RENAME_EXCHANGE:
            (dst / "late.txt").write_text("mine")   # after the last check, before the swap
        return real(src, dst, flags)

    monkeypatch.setattr(output, "_rename2", late_writer)
    with caplog.at_level(logging.WARNING, logger="rddml.io.output"):
        write_rddml_output(out, "v2", overwrite=True)
    assert (out / "a.txt").read_text() == "v2"
    kept = [p for p in tmp_path.iterdir() if p.name.startswith("out.kept-")]
    assert len(kept) == 1 and snapshot(kept[0]) == {"late.txt": "mine"}
    assert "late.txt" in caplog.text and str(kept[0]) in caplog.text


def test_a_killed_writers_old_output_is_deleted_only_where_it_matches(tmp_path: Path) -> None:
    # As left by a writer killed between the exchange and the deletion.
    write_rddml_output(tmp_path / "src", "v1")
    (tmp_path / "src").rename(tmp_path / ".out.tmp-0123456789ab")
    (tmp_path / ".out.tmp-0123456789ab" / "mine.txt").write_text("mine")
    write_rddml_output(tmp_path / "out", "v2")
    kept = [p for p in tmp_path.iterdir() if p.name.startswith("out.kept-")]
    assert len(kept) == 1 and snapshot(kept[0]) == {"mine.txt": "mine"}
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(["out", kept[0].name])


# --------------------------------------------------------- inputs and outputs
def job_config(name: str, *sets: str) -> tuple[Any, Any]:
    module = importlib.import_module(f"jobs.{name}")
    return module, load_config(module.Config, ROOT / "conf/jobs" / f"{name}.toml", list(sets))


def output_key(name: str) -> str:
    return "output" if name == "generate_data" else "output_dir"


INPUT_JOBS = [name for name in JOBS
              if path_keys(importlib.import_module(f"jobs.{name}").Config(), "input")]


def test_jobs_with_inputs_are_the_expected_ones() -> None:
    assert INPUT_JOBS == ["demo", "heart_disease", "kmeans", "logistic_regression"]


@pytest.mark.parametrize("name", INPUT_JOBS)
def test_every_job_refuses_an_input_inside_its_output_before_spark(
        tmp_path: Path, name: str) -> None:
    # The bug: --set input=out/my_data/points.csv --overwrite deleted the run's own input.
    out = tmp_path / "out"
    write_rddml_output(out)
    (out / "my_data").mkdir()
    (out / "my_data" / "points.csv").write_text("1,2\n")
    before = snapshot(out)
    key = next(iter(path_keys(importlib.import_module(f"jobs.{name}").Config(), "input")))
    module, config = job_config(name, f"{output_key(name)}={out}",
                                f"{key}={out / 'my_data' / 'points.csv'}", "overwrite=true")
    with pytest.raises(OutputPathError, match=rf"Output path '{out}' \(key 'output_dir'\): "
                                              rf"the input path '{out}/my_data/points\.csv' "
                                              rf"\(key '{key}'\) is inside it, so --overwrite "
                                              r"would delete the job's own input"):
        module.main(NoSpark(), config)
    assert snapshot(out) == before


def test_an_input_reaching_into_the_output_through_a_symlink_is_refused(
        tmp_path: Path) -> None:
    out = tmp_path / "out"
    out.mkdir()
    (out / "points.csv").write_text("1,2\n")
    (tmp_path / "link").symlink_to(out)
    module, config = job_config("kmeans", f"output_dir={out}",
                                f"input={tmp_path / 'link' / 'points.csv'}", "overwrite=true")
    with pytest.raises(OutputPathError, match=r"is inside it"):
        module.main(NoSpark(), config)
    # A checkpoint directory inside the output is refused too (a state key).
    module, config = job_config("logistic_regression", f"output_dir={out}",
                                f"checkpoint_dir={tmp_path / 'link' / 'ck'}")
    with pytest.raises(OutputPathError, match=r"key 'checkpoint_dir'\) is inside it"):
        module.main(NoSpark(), config)
    # A glob is compared by its directory part.
    module, config = job_config("kmeans", f"output_dir={out}", f"input=glob:{out}/*.csv",
                                "overwrite=true")
    with pytest.raises(OutputPathError, match=r"is inside it"):
        module.main(NoSpark(), config)


def test_an_output_inside_an_input_directory_is_refused(tmp_path: Path) -> None:
    (tmp_path / "data").mkdir()
    module, config = job_config("kmeans", f"output_dir={tmp_path / 'data' / 'out'}",
                                f"input={tmp_path / 'data'}")
    with pytest.raises(OutputPathError, match=r"is inside the input path .* \(key 'input'\), "
                                              r"so a later run would read"):
        module.main(NoSpark(), config)
    assert list((tmp_path / "data").iterdir()) == []


# ------------------------------------------------------------------------ ~ paths
PATHLIKE = ("input", "output", "dir", "_csv", "_json", "_txt", "centers", "path")


@pytest.mark.parametrize("name", JOBS)
def test_every_path_key_is_tagged_and_expands_a_tilde(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, name: str) -> None:
    module = importlib.import_module(f"jobs.{name}")
    import dataclasses

    fields = dataclasses.fields(module.Config)
    untagged = [f.name for f in fields if f.type in (str, "str")
                and any(part in f.name for part in PATHLIKE)
                and f.name not in ("input_format",) and "path" not in f.metadata]
    assert untagged == []
    tagged = [f.name for f in fields if "path" in f.metadata]
    assert tagged and all(f.metadata["path"] in PATH_ROLES for f in fields if "path" in f.metadata)
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    config = load_config(module.Config, None, [f"{key}=~/x/{key}" for key in tagged])
    for key in tagged:
        assert getattr(config, key) == f"{tmp_path}/home/x/{key}"
    user = os.environ.get("USER") or __import__("pwd").getpwuid(os.getuid()).pw_name
    home = __import__("pwd").getpwnam(user).pw_dir
    config = load_config(module.Config, None, [f"{tagged[0]}=~{user}/y"])
    assert getattr(config, tagged[0]) == f"{home}/y"
    with pytest.raises(ConfigError, match=rf"--set: path '~no-such-user-rddml/y' \(key "
                                          rf"'{tagged[0]}'\): '~no-such-user-rddml' would be "
                                          r"the home directory of a user named "
                                          r"'no-such-user-rddml', and there is none"):
        load_config(module.Config, None, [f"{tagged[0]}=~no-such-user-rddml/y"])
    # Not at the start: an ordinary character, as in a shell.
    config = load_config(module.Config, None, [f"{tagged[0]}=a/~/b"])
    assert getattr(config, tagged[0]) == "a/~/b"


def test_library_paths_expand_a_tilde(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # The bug: output_dir=~/x created a directory literally named '~'.
    import numpy as np

    from rddml import KMeans
    from rddml.io.checkpoint import FitCheckpoint

    home = tmp_path / "home"
    home.mkdir()
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.chdir(tmp_path)
    write_rddml_output(Path("~/out"))
    assert (home / "out" / "a.txt").read_text() == "v1"
    model = KMeans(k=1)
    model._restore({"cluster_centers": np.array([[1.0, 2.0]]), "n_iter": 0,
                    "converged": True, "inertia": 0.0, "history": []})
    model._loaded()
    model.save("~/model")
    assert (home / "model" / "model.json").is_file()
    np.testing.assert_array_equal(KMeans.load("~/model").cluster_centers_, [[1.0, 2.0]])
    assert FitCheckpoint("~/ck", estimator="KMeans", fingerprint={}).directory == home / "ck"
    assert not (tmp_path / "~").exists()
    with pytest.raises(OutputPathError, match=r"'~no-such-user-rddml' would be the home "
                                              r"directory"):
        write_rddml_output(Path("~no-such-user-rddml/out"))
