"""The text readers (rddml.engine.sources.text, rddml.data.text_format): the direct reader
against the line-by-line oracle and against Hadoop's TextInputFormat (the reader it
replaces for local files).

The oracle is the old per-line parse: Hadoop's line splitting (``\\n``, ``\\r\\n``, ``\\r``;
a byte-order mark dropped at the file's start), then ``explain_line`` and ``float`` per
field. Floats are compared bit for bit.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from rddml.data import text_format as text
from rddml.data.text_format import (
    TextSplit,
    explain_line,
    hadoop_splits,
    split_chunks,
    split_fields,
)
from rddml.engine.records import Block, BlockError, SkippedRows
from rddml.engine.sources.text import parse_text_partition, read_text_blocks
from rddml.errors import DataValidationError

ADVERSARIAL = ["1e308", "-1.7976931348623157e+308", "5e-324", "-0.0", "0.0", "2.2250738585072014e-308",
               "0.1000000000000000055511151231257827021181583404541015625", "+1.5", "1.", ".5",
               "-.5e-3", "1E+05", "00012.50", "123456789012345678901234567890",
               "9007199254740993", "1_000", " 3.25 ", "\t7"]


def oracle(data: bytes, sep: str | None, n_fields: int) -> tuple[np.ndarray, list[tuple[int, str]]]:
    """Rows and (line number, reason) of bad lines, line by line as the old reader did."""
    if data.startswith(b"\xef\xbb\xbf"):
        data = data[3:]
    lines = re.split(r"\r\n|\r|\n", data.decode("utf-8", "replace"))
    if lines and lines[-1] == "":  # nothing after the last terminator
        lines.pop()
    rows, bad = [], []
    for i, line in enumerate(lines, start=1):
        reason = explain_line(line, sep, n_fields)
        if reason is None:
            rows.append([float(f) for f in split_fields(line, sep)])
        else:
            bad.append((i, reason))
    return np.array(rows, dtype=np.float64).reshape(len(rows), n_fields), bad


def random_text(rng: np.random.Generator, n: int, n_fields: int, sep: str | None,
                newline: str = "\n") -> str:
    values = rng.standard_normal((n, n_fields)) * 10.0 ** rng.integers(-20, 20, (n, n_fields))
    fields = [[repr(v) for v in row] for row in values.tolist()]
    for _ in range(n // 5):  # sprinkle the adversarial spellings
        fields[rng.integers(n)][rng.integers(n_fields)] = ADVERSARIAL[rng.integers(len(ADVERSARIAL))]
    joiner = " " if sep is None else sep
    return newline.join(joiner.join(row) for row in fields) + newline


def parse_file(path: Path, sep: str | None, n_fields: int, split_size: int, skip: bool,
               max_rows: int | None = None) -> list[Any]:
    """Every item of every direct split of ``path``, as the tasks would yield them."""
    size = path.stat().st_size
    items: list[Any] = []
    splits = hadoop_splits(size, split_size, 1)
    for p, (start, length) in enumerate(splits):
        items += parse_text_partition(
            p, [TextSplit(str(path), start, length, size)], files=["f"] * len(splits), sep=sep,
            n_fields=n_fields, labeled=False, skip=skip, max_rows=max_rows,
            direct=[True] * len(splits))
    return items


def rows_of(items: list[Any], n_fields: int) -> np.ndarray:
    blocks = [i for i in items if isinstance(i, Block)]
    return np.concatenate([b.X for b in blocks]) if blocks else np.empty((0, n_fields))


def same_bits(a: np.ndarray, b: np.ndarray) -> None:
    assert a.shape == b.shape
    np.testing.assert_array_equal(a.view(np.int64), b.view(np.int64))


# ------------------------------------------------------------ without Spark
@pytest.mark.parametrize("sep", [",", None])
@pytest.mark.parametrize("newline", ["\n", "\r\n", "\r"])
def test_direct_splits_parse_to_the_oracle_bit_for_bit(tmp_path: Path, monkeypatch: Any,
                                                       sep: str | None, newline: str) -> None:
    rng = np.random.default_rng(7)
    path = tmp_path / "data.txt"
    path.write_bytes(random_text(rng, 3000, 3, sep, newline).encode())
    expected, bad = oracle(path.read_bytes(), sep, 3)
    assert not bad and expected.shape == (3000, 3)
    # Small chunks and splits: lines straddle chunk and split boundaries everywhere.
    monkeypatch.setattr(text, "CHUNK_BYTES", 997)
    for split_size in (1000, 4093, 10**9):
        same_bits(rows_of(parse_file(path, sep, 3, split_size, skip=False), 3), expected)


def test_adversarial_values_are_exactly_float(tmp_path: Path) -> None:
    path = tmp_path / "adv.csv"
    values = ADVERSARIAL + [f"{v:.17g}" for v in np.random.default_rng(1).standard_normal(500)]
    path.write_text("\n".join(f"{v},{w}" for v, w in zip(values, reversed(values))))  # no last \n
    expected, bad = oracle(path.read_bytes(), ",", 2)
    assert not bad
    same_bits(rows_of(parse_file(path, ",", 2, 10**9, skip=False), 2), expected)
    assert expected[0, 0] == 1e308 and np.signbit(expected[3, 0])  # -0.0 kept


def test_each_line_is_in_exactly_one_split_at_hadoops_offsets(tmp_path: Path) -> None:
    rng = np.random.default_rng(3)
    pieces = [b"1,2", b"", b"33,44", b"5.5,6", b"\xef\xbb\xbf7,8"]
    data = b"\xef\xbb\xbf" + b"".join(
        pieces[rng.integers(len(pieces))] + [b"\n", b"\r\n", b"\r"][rng.integers(3)]
        for _ in range(400))
    path = tmp_path / "lines.csv"
    path.write_bytes(data)
    offsets = [0, *[m.end() for m in re.finditer(rb"\r\n|\r(?!\n)|\n", data)][:-1]]
    for split_size in (1, 2, 3, 7, 64, 1000):
        seen = []
        for start, length in hadoop_splits(len(data), split_size, 1):
            for base, chunk in split_chunks(TextSplit(str(path), start, length, len(data)), 5):
                seen += [o for o, _ in text.decode_lines(chunk, base)]
        assert seen == offsets, split_size


def test_bad_lines_in_every_split_are_explained_or_skipped(tmp_path: Path,
                                                           monkeypatch: Any) -> None:
    monkeypatch.setattr(text, "CHUNK_BYTES", 700)
    monkeypatch.setattr(text, "EXPLAIN_BYTES", 100)  # the bisection runs too
    rng = np.random.default_rng(5)
    lines = random_text(rng, 2000, 2, ",").splitlines()
    bad_at = sorted(rng.choice(np.arange(1, 2000), 40, replace=False))  # not line 1: a BOM there is dropped
    kinds = ["", "1,2,3", "x,y", "1,nan", "inf,1", "1", " , ", "\ufeff1,2", '"1",2', "1,2,"]
    for j, i in enumerate(bad_at):
        lines[i] = kinds[j % len(kinds)]
    path = tmp_path / "bad.csv"
    path.write_text("\n".join(lines) + "\n")
    expected, bad = oracle(path.read_bytes(), ",", 2)
    assert [i for i, _ in bad] == [i + 1 for i in bad_at]
    items = parse_file(path, ",", 2, 5000, skip=True)
    same_bits(rows_of(items, 2), expected)
    skipped = [i for i in items if isinstance(i, SkippedRows)]
    assert sum(s.n_rows for s in skipped) == 40
    # the examples carry the byte offset of the bad line and the oracle's reason
    first = skipped[0].examples[0]
    offset = int(first.split(" at byte ")[1].split(":")[0])
    assert path.read_bytes()[:offset].count(b"\n") + 1 == bad[0][0]
    assert first.endswith(bad[0][1])
    errors = [i for i in parse_file(path, ",", 2, 5000, skip=False) if isinstance(i, BlockError)]
    assert errors[0].message == bad[0][1]


def test_blocks_are_cut_as_the_line_by_line_reader_cut_them(tmp_path: Path,
                                                             monkeypatch: Any) -> None:
    monkeypatch.setattr(text, "CHUNK_LINES", 64)
    monkeypatch.setattr(text, "CHUNK_BYTES", 1500)
    rng = np.random.default_rng(11)
    lines = random_text(rng, 1500, 2, ",").splitlines()
    for i in rng.choice(1500, 30, replace=False):
        lines[i] = "bad"
    path = tmp_path / "cut.csv"
    path.write_text("\n".join(lines) + "\n")
    records, pos = [], 0
    for line in lines:
        records.append((pos, line))
        pos += len(line) + 1
    hadoop = list(parse_text_partition(0, records, files=["f"], sep=",", n_fields=2,
                                       labeled=False, skip=True, max_rows=100))
    direct = parse_file(path, ",", 2, 10**9, skip=True, max_rows=100)
    shapes = [(b.start, b.X.shape[0]) for b in hadoop if isinstance(b, Block)]
    assert shapes == [(b.start, b.X.shape[0]) for b in direct if isinstance(b, Block)]
    assert len(shapes) > 5
    same_bits(rows_of(direct, 2), rows_of(hadoop, 2))


# --------------------------------------------------------------- with Spark
def test_direct_splits_are_hadoops_splits(sc: Any, tmp_path: Path) -> None:
    rng = np.random.default_rng(2)
    path = tmp_path / "h.csv"
    path.write_bytes(random_text(rng, 500, 2, ",", "\r\n").encode() + b"1,2\r3,4\n\n5,6")
    n = 23  # Hadoop's goal size is then size // 23: lines straddle most split ends
    hadoop = sc.textFile(str(path), n).glom().collect()
    size = path.stat().st_size
    splits = hadoop_splits(size, 32 << 20, n)
    assert len(splits) == len(hadoop) > 20
    for (start, length), expected in zip(splits, hadoop):
        got = [line for base, chunk in split_chunks(TextSplit(str(path), start, length, size), 300)
               for _, line in text.decode_lines(chunk, base)]
        assert got == expected


@pytest.mark.parametrize("content", [
    b"1,2\r\n3,4\r\n", b"1,2\r3,4\r", b"\xef\xbb\xbf1,2\n3,4\n", b"1,2\n3,4", b" 1.5 , 2\n+3,4.\n",
    b"1,2\n3,4\n\n", b"1,2\n\xff,4\n", b"1,2\n\xef\xbb\xbf3,4\n", b"\xef\xbb\xbf", b"1,2\n3,1e400\n",
])
def test_direct_and_hadoop_readers_agree(sc: Any, tmp_path: Path, content: bytes) -> None:
    path = tmp_path / "e.csv"
    path.write_bytes(content)
    results = []
    for reader in ("auto", "hadoop"):
        try:
            with read_text_blocks(sc, str(path), sep=",", labeled=False, reader=reader) as ds:
                results.append((ds.n_rows, ds.digest, ds.num_partitions))
        except DataValidationError as exc:
            results.append(str(exc))
    assert results[0] == results[1]


def test_errors_and_skips_in_a_second_split_match_hadoop(sc: Any, tmp_path: Path) -> None:
    rng = np.random.default_rng(4)
    lines = random_text(rng, 4000, 10, None).splitlines()
    labels = rng.integers(0, 2, 4000)
    lines = [f"{line} {y}" for line, y in zip(lines, labels)]
    lines[3100] = lines[3100] + " 9"      # a field too many, in the last split
    lines[3500] = ""
    path = tmp_path / "rows.txt"
    path.write_text("\n".join(lines) + "\n")
    with pytest.raises(DataValidationError) as direct_error:
        read_text_blocks(sc, str(path), sep=None, labeled=True, split_bytes=100_000)
    assert re.fullmatch(re.escape(str(path)) + r" line 3101: has 12 field\(s\), expected 11 .*",
                        str(direct_error.value))
    with pytest.raises(DataValidationError) as hadoop_error:
        read_text_blocks(sc, str(path), sep=None, labeled=True, reader="hadoop")
    assert str(hadoop_error.value) == str(direct_error.value)
    expected, _ = oracle(path.read_bytes(), None, 11)
    got = {}
    for reader, split in (("auto", 100_000), ("hadoop", None)):
        with read_text_blocks(sc, str(path), sep=None, labeled=True, on_bad_rows="skip",
                              reader=reader, split_bytes=split) as ds:
            def take(view: Any, params: Any) -> Any:
                return np.column_stack([view.X, view.y])
            rows = np.concatenate(ds.map_blocks(take, None).collect())
            got[reader] = (ds.n_rows, ds.n_skipped, ds.skipped_examples, ds.digest,
                           ds.num_partitions)
            same_bits(rows, expected)
    assert got["auto"][:4] == got["hadoop"][:4]
    assert got["auto"][4] > 3 and got["auto"][1] == 2


def test_default_partitions_are_hadoops(sc: Any, tmp_path: Path) -> None:
    path = tmp_path / "p.csv"
    path.write_text(random_text(np.random.default_rng(0), 2000, 2, ","))
    counts = []
    for reader in ("auto", "hadoop"):
        with read_text_blocks(sc, str(path), sep=",", labeled=False, reader=reader) as ds:
            counts.append((ds.num_partitions, ds.digest))
    assert counts[0] == counts[1]
    assert hadoop_splits(379050884, 32 << 20, 2) == [(i * (32 << 20), 32 << 20)
                                                     for i in range(11)] + [(11 * (32 << 20),
                                                                             379050884 - 11 * (32 << 20))]
