"""One import path per module: the public names, and the old paths that warn, not fail."""

from __future__ import annotations

import importlib
import subprocess
import sys
import warnings
from pathlib import Path

import pytest

import rddml
from rddml import _moved

LIB = Path(__file__).resolve().parents[1] / "lib"

OLD_PATHS = {
    "rddml.csv_input": _moved.TEXT_READERS,
    "rddml.data.text": _moved.TEXT_READERS,
    "rddml.datasets": _moved.GENERATORS,
    "rddml.data.datasets": _moved.GENERATORS,
    "rddml.data.parquet": _moved.PARQUET,
}


@pytest.mark.parametrize("old", sorted(OLD_PATHS))
def test_an_old_path_warns_and_gives_the_same_object(old: str) -> None:
    module = importlib.import_module(old)
    for name, new in OLD_PATHS[old].items():
        with pytest.warns(FutureWarning, match=rf"'{name}' from '{old}' is deprecated"):
            value = getattr(module, name)
        assert value is getattr(importlib.import_module(new), name)
    assert sorted(dir(module)) == sorted(OLD_PATHS[old])
    with pytest.raises(AttributeError, match="has no attribute 'nothing_here'"):
        module.nothing_here  # noqa: B018


def test_the_warning_points_at_the_importing_line() -> None:
    code = "import warnings; warnings.simplefilter('always')\nfrom rddml.csv_input import read_points_csv\n"
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert "<string>:2: FutureWarning: Importing 'read_points_csv' from 'rddml.csv_input'" in result.stderr


def test_public_names_come_from_the_top_level_without_a_warning() -> None:
    public = ("KMeans", "LogisticRegression", "BlockDataset", "read_points_csv",
              "read_labeled_text", "read_parquet", "make_blobs", "make_classification")
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        for name in public:
            assert callable(getattr(rddml, name)), name
        from rddml import tracking

        assert tracking.enable is importlib.import_module("rddml.io.tracking").enable
    assert set(public) <= set(rddml.__all__)


def test_no_module_replaces_itself_in_sys_modules() -> None:
    # IDEs, type checkers and docs read the file; Python would run another module.
    offenders = [str(p.relative_to(LIB)) for p in LIB.rglob("*.py")
                 if "sys.modules[__name__]" in p.read_text(encoding="utf-8")]
    assert offenders == []
