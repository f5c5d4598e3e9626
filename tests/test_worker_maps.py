"""A Python worker keeps the memory maps of one dataset's block files between passes
(rddml.engine.storage.WorkerMaps), and never serves a replaced file's old pages."""

from __future__ import annotations

import os
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import numpy as np

from rddml.engine import storage


def _handle(directory: Path) -> Any:
    # Only named in the error of a missing file.
    return SimpleNamespace(partition=0, directory=str(directory), host="here")


def test_maps_are_reused_until_the_file_is_replaced(tmp_path: Path) -> None:
    path = tmp_path / "b000000.X.npy"
    np.save(path, np.arange(6.0).reshape(3, 2))
    maps = storage.WorkerMaps(str(tmp_path))
    first = maps.open(_handle(tmp_path), str(path), 3)
    assert maps.open(_handle(tmp_path), str(path), 3) is first  # the same map: no header parse, no new faults
    np.testing.assert_array_equal(first, np.arange(6.0).reshape(3, 2))
    # A rebuilt partition replaces its files (a new inode): the new contents are read.
    np.save(tmp_path / "new.npy", np.full((3, 2), 7.0))
    os.replace(tmp_path / "new.npy", path)
    again = maps.open(_handle(tmp_path), str(path), 3)
    assert again is not first
    np.testing.assert_array_equal(again, np.full((3, 2), 7.0))


def test_a_worker_keeps_the_maps_of_one_dataset_only(tmp_path: Path) -> None:
    a, b = tmp_path / "a", tmp_path / "b"
    for d in (a, b):
        d.mkdir()
        np.save(d / "x.npy", np.ones((2, 2)))
    maps_a = storage._worker_maps(str(a))
    kept = maps_a.open(_handle(a), str(a / "x.npy"), 2)
    assert storage._worker_maps(str(a)) is maps_a
    assert storage._worker_maps(str(a)).open(_handle(a), str(a / "x.npy"), 2) is kept
    maps_b = storage._worker_maps(str(b))  # reading another dataset drops a's maps
    assert maps_b is not maps_a and storage._MAPS[:] == [maps_b]
    storage.forget_maps(str(a))  # not the one held: nothing happens
    assert storage._MAPS[:] == [maps_b]
    storage.forget_maps(str(b))  # its files are being deleted: the maps go
    assert not storage._MAPS


def test_a_missing_or_resized_file_is_missing_blocks(tmp_path: Path) -> None:
    maps = storage.WorkerMaps(str(tmp_path))
    path = tmp_path / "b000000.X.npy"
    try:
        maps.open(_handle(tmp_path), str(path), 3)
    except storage.MissingBlocks as exc:
        assert storage.MISSING_MARKER in str(exc) and "b000000.X.npy" in str(exc)
    else:
        raise AssertionError("a missing block file was opened")
    np.save(path, np.ones((2, 2)))
    try:
        maps.open(_handle(tmp_path), str(path), 3)
    except storage.MissingBlocks as exc:
        assert "expected 3" in str(exc)
    else:
        raise AssertionError("a block file of another size was opened")
