"""libsvm files: the format parser (NumPy/pyarrow only) and ``rddml.read_libsvm``.

The parser's rows are checked against Spark's own libsvm reader on the same file, and
every bad line is an error naming the file and the line."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest

from rddml import LogisticRegression, read_libsvm
from rddml.data.libsvm_format import explain_line, parse_chunk
from rddml.data.text_format import LineError
from rddml.errors import DataValidationError


def write_libsvm(path: Path, n: int, d: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """A libsvm file of n rows (about 5 % non-zeros) and its dense matrix and labels."""
    rng = np.random.default_rng(seed)
    X = np.round(rng.normal(size=(n, d)), 3) * (rng.random((n, d)) < 0.05)
    y = (rng.random(n) < 0.5).astype(np.float64)
    lines = []
    for i in range(n):
        nz = np.flatnonzero(X[i])
        lines.append(" ".join([f"{y[i]:g}", *[f"{j + 1}:{float(X[i, j])!r}" for j in nz]]))
        if i % 97 == 0:
            lines.append("# a comment line")
        if i % 89 == 0:
            lines.append("   ")
    path.write_text("\n".join(lines) + "\n")
    return X, y


# ------------------------------------------------------------------ the parser
def test_parse_chunk_reads_rows_and_skips_comments_and_blank_lines() -> None:
    data = b"1 1:0.5 3:2\r\n\n# comment\n  0 2:-1e-3   4:7  \r-1\n"
    piece = parse_chunk(data, 100, n_features=None)
    assert piece.labels.tolist() == [1.0, 0.0, -1.0]
    assert piece.indptr.tolist() == [0, 2, 4, 4]
    assert piece.indices.tolist() == [0, 2, 1, 3]
    assert piece.values.tolist() == [0.5, 2.0, -1e-3, 7.0]
    assert piece.offsets.tolist() == [100, 100 + data.index(b"  0"), 100 + data.rindex(b"-1")]
    assert piece.n_lines == 5


@pytest.mark.parametrize(("line", "expected"), [
    ("1 0:1.0", "the index 0 is 0: libsvm indices are 1-based"),
    ("1 -2:1.0", "the index -2 is negative"),
    ("1 3:1 2:1", "the index 2 comes after the index 3"),
    ("1 3:1 3:2", "the index 3 repeats"),
    ("1 5:1 12:1", "the index 12 is out of range: numFeatures is 10"),
    ("1 2:nan", "the value of index 2 is 'nan'; only finite numbers"),
    ("1 2:inf", "the value of index 2 is 'inf'"),
    ("nan 2:1", "the label is 'nan'"),
    ("yes 2:1", "the label 'yes' is not a number"),
    ("1 2:1 7", "the field '7' is not index:value"),
    ("1 2.5:1", "the index '2.5' in '2.5:1' is not an integer"),
    ("1 2:abc", "the value 'abc' of index 2 is not a number"),
])
def test_a_bad_line_is_explained(line: str, expected: str) -> None:
    assert expected in (explain_line(line, 10) or "")
    data = f"1 1:1\n{line}\n0 2:2\n".encode()
    with pytest.raises(LineError) as info:
        parse_chunk(data, 0, n_features=10)
    assert expected in str(info.value)
    assert info.value.offset == 6  # the start of the bad line


# ------------------------------------------------------------------ the reader
def test_read_libsvm_equals_spark_reader(spark: Any, tmp_path: Path) -> None:
    path = tmp_path / "data.txt"
    X, y = write_libsvm(path, 700, 60, 0)
    assert set(y.tolist()) == {0.0, 1.0}
    for reader, split_bytes in (("auto", 4096), ("hadoop", None)):
        with read_libsvm(spark, str(path), reader=reader, split_bytes=split_bytes,
                         max_block_rows=150) as ds:
            assert ds.layout == "sparse" and ds.n_rows == 700
            assert ds.n_features == int(np.flatnonzero(X.any(axis=0)).max()) + 1
            assert ds.nnz == int((X != 0).sum())
            assert ds.labels == (0.0, 1.0)
    spark_df = spark.read.format("libsvm").option("numFeatures", "60").load(str(path))
    ours = LogisticRegression(reg_param=0.05, tol=0.0, max_iter=10).fit(
        read_libsvm(spark, str(path), n_features=60))
    theirs = LogisticRegression(reg_param=0.05, tol=0.0, max_iter=10).fit(spark_df)
    np.testing.assert_allclose(ours.coef_, theirs.coef_, atol=1e-9)
    with read_libsvm(spark, str(path), n_features=60, layout="dense") as dense:
        assert dense.layout == "dense" and dense.n_features == 60


@pytest.mark.parametrize(("line", "expected"), [
    ("1 4:1 2:1", "line 4: the index 2 comes after the index 4"),
    ("1 0:1", "line 4: the index 0 is 0"),
    ("1 2:NaN", "line 4: the value of index 2 is 'NaN'"),
    ("1 70:1", "line 4: the index 70 is out of range: numFeatures is 60"),
])
def test_read_libsvm_names_the_file_and_line(spark: Any, tmp_path: Path, line: str,
                                             expected: str) -> None:
    path = tmp_path / "bad.txt"
    path.write_text(f"1 1:1\n# comment\n0 3:1\n{line}\n1 5:1\n")
    with pytest.raises(DataValidationError) as info:
        read_libsvm(spark, str(path), n_features=60 if "70" in line else None)
    assert str(info.value).startswith(f"{path} {expected}")
    with pytest.raises(DataValidationError, match="no rows"):
        empty = tmp_path / "empty.txt"
        empty.write_text("# nothing\n\n")
        read_libsvm(spark, str(empty), n_features=5)
