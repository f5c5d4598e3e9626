"""Property-based tests of the block conversion (no Spark: the executor-side functions).

For random shapes — 0 rows, 1 row, 1 feature included — converting records or text
lines to blocks must lose, reorder or alter nothing, the summary must count exactly,
and one bad value anywhere must be reported at its exact row and column.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from hypothesis import assume, given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from rddml.engine.convert import records_to_blocks
from rddml.engine.records import Block, BlockError, summarise_partition
from rddml.engine.sources.text import parse_text_partition

SETTINGS = settings(max_examples=60, deadline=None)
finite = st.floats(allow_nan=False, allow_infinity=False, width=64)


@st.composite
def matrices(draw: Any, min_rows: int = 0, max_rows: int = 40) -> np.ndarray:
    n = draw(st.integers(min_rows, max_rows))
    d = draw(st.integers(1, 5))
    return draw(arrays(np.float64, (n, d), elements=finite))


def blocks_of(items: list[Any]) -> list[Block]:
    errors = [i for i in items if isinstance(i, BlockError)]
    assert not errors, errors
    return [i for i in items if isinstance(i, Block)]


def check_layout(blocks: list[Block], partition: int, n: int) -> None:
    """Blocks tile the partition's rows in order, none empty."""
    start = 0
    for block in blocks:
        assert block.partition == partition and block.start == start
        assert block.X.shape[0] >= 1 and block.X.flags.c_contiguous
        start += block.X.shape[0]
    assert start == n


@SETTINGS
@given(X=matrices(), partition=st.integers(0, 7), max_rows=st.none() | st.integers(1, 50),
       as_arrays=st.booleans())
def test_points_convert_losslessly(X: np.ndarray, partition: int, max_rows: int | None,
                                   as_arrays: bool) -> None:
    records = list(X) if as_arrays else X.tolist()
    blocks = blocks_of(list(records_to_blocks(partition, records, kind="points",
                                              max_rows=max_rows)))
    check_layout(blocks, partition, X.shape[0])
    if X.shape[0] == 0:
        assert blocks == []
        return
    np.testing.assert_array_equal(np.concatenate([b.X for b in blocks]), X)
    assert all(b.y is None and b.w is None for b in blocks)


@SETTINGS
@given(X=matrices(min_rows=1), data=st.data())
def test_weighted_and_labelled_records_keep_their_columns(X: np.ndarray, data: Any) -> None:
    n = X.shape[0]
    y = np.array(data.draw(st.lists(st.sampled_from([0.0, 1.0]), min_size=n, max_size=n)))
    w = np.array(data.draw(st.lists(st.floats(0, 1e6), min_size=n, max_size=n)))
    labelled = blocks_of(list(records_to_blocks(
        3, [(x, lab, wt) for x, lab, wt in zip(X.tolist(), y.tolist(), w.tolist())],
        kind="labeled")))
    check_layout(labelled, 3, n)
    np.testing.assert_array_equal(np.concatenate([b.y for b in labelled]), y)
    np.testing.assert_array_equal(np.concatenate([b.w for b in labelled]), w)
    weighted = blocks_of(list(records_to_blocks(
        0, [(x, wt) for x, wt in zip(X.tolist(), w.tolist())], kind="points")))
    np.testing.assert_array_equal(np.concatenate([b.X for b in weighted]), X)
    np.testing.assert_array_equal(np.concatenate([b.w for b in weighted]), w)

    summary = summarise_partition(3, labelled)
    assert (summary.n_rows, summary.n_features) == (n, X.shape[1])
    assert summary.has_labels and summary.has_weights and summary.error is None
    assert set(summary.labels) == set(y.tolist())
    assert summary.min_weight == float(w.min())


@SETTINGS
@given(X=matrices(), partition=st.integers(0, 3))
def test_summary_counts_exactly(X: np.ndarray, partition: int) -> None:
    items = list(records_to_blocks(partition, X.tolist(), kind="points", max_rows=7))
    summary = summarise_partition(partition, items)
    assert summary.partition == partition and summary.n_rows == X.shape[0]
    assert summary.n_features == (X.shape[1] if X.shape[0] else None)
    assert not summary.has_labels and not summary.has_weights and summary.min_weight is None
    assert summary.error is None and summary.skipped == 0


@SETTINGS
@given(X=matrices(min_rows=1), data=st.data(), bad=st.sampled_from([np.nan, np.inf, -np.inf]))
def test_one_non_finite_value_is_reported_at_its_row_and_column(X: np.ndarray, data: Any,
                                                                bad: float) -> None:
    row = data.draw(st.integers(0, X.shape[0] - 1))
    col = data.draw(st.integers(0, X.shape[1] - 1))
    X = X.copy()
    X[row, col] = bad
    items = list(records_to_blocks(2, X.tolist(), kind="points"))
    errors = [i for i in items if isinstance(i, BlockError)]
    assert len(errors) == 1
    assert errors[0].message.startswith(f"element {row} of partition 2 has a non-finite "
                                        f"value {bad!r} in feature {col}")
    assert summarise_partition(2, items).error == errors[0]


@SETTINGS
@given(X=matrices(min_rows=2), data=st.data())
def test_a_row_of_another_width_is_reported_where_it_is(X: np.ndarray, data: Any) -> None:
    row = data.draw(st.integers(1, X.shape[0] - 1))
    records: list[Any] = X.tolist()
    records[row] = records[row] + [0.0]
    [error] = [i for i in records_to_blocks(0, records, kind="points")
               if isinstance(i, BlockError)]
    assert error.message.startswith(
        f"element {row} of partition 0 has {X.shape[1] + 1} features, expected {X.shape[1]}")


@SETTINGS
@given(X=matrices(), labelled=st.booleans(), sep=st.sampled_from([",", None]),
       max_rows=st.none() | st.integers(1, 9))
def test_text_lines_parse_to_the_numbers_written(X: np.ndarray, labelled: bool, sep: str | None,
                                                 max_rows: int | None) -> None:
    joiner = " " if sep is None else sep
    lines, offset = [], 0
    for row in X.tolist():
        line = joiner.join(repr(v) for v in row)
        lines.append((offset, line))
        offset += len(line) + 1
    n_fields = X.shape[1]
    assume(not labelled or n_fields >= 2)  # a labelled row needs a feature and a label
    items = list(parse_text_partition(1, lines, files=["f0", "f1"], sep=sep, n_fields=n_fields,
                                      labeled=labelled, skip=False, max_rows=max_rows))
    blocks = blocks_of(items)
    check_layout(blocks, 1, X.shape[0])
    if not blocks:
        return
    features = X[:, :-1] if labelled else X
    np.testing.assert_array_equal(np.concatenate([b.X for b in blocks]), features)
    if labelled:
        np.testing.assert_array_equal(np.concatenate([b.y for b in blocks]), X[:, -1])
