"""Step 1 of the heart-disease study: loading the four UCI files with file + line errors."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from chispa import assert_df_equality

from rddml.errors import DataValidationError, InvalidParameterError
from rddml.heart.columns import RAW_COLUMNS, SOURCE_FILES
from rddml.heart.load import load_heart_disease, parse_lines, schema_ddl

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT / "data/uci-heart-disease"
GOOD = "63,1,1,145,233,1,2,150,0,2.3,3,0,6,0"


@pytest.fixture(scope="module")
def loaded(spark: Any) -> Any:
    result = load_heart_disease(spark, str(DATA))
    yield result
    result.unpersist()


def pandas_reference() -> pd.DataFrame:
    """The write-up's reading: pandas read_csv(header=None, na_values='?') per file."""
    frames = []
    for source, file in SOURCE_FILES.items():
        part = pd.read_csv(DATA / file, header=None, names=list(RAW_COLUMNS), na_values="?")
        part.insert(0, "line", np.arange(1, len(part) + 1))
        part.insert(0, "source", source)
        frames.append(part)
    ref = pd.concat(frames, ignore_index=True)
    ref["disease"] = (ref["num"] > 0).astype(int)
    return ref


def write_source(tmp_path: Path, lines: list[str], source: str = "va") -> Path:
    (tmp_path / SOURCE_FILES[source]).write_text("\n".join(lines) + "\n")
    return tmp_path


def test_real_files_give_920_rows_509_with_disease(loaded: Any) -> None:
    df = loaded.df
    assert df.count() == 920
    assert df.filter("disease = 1").count() == 509
    assert loaded.n_skipped == 0 and loaded.skipped_examples == ()


def test_rows_per_source_and_line_numbers_follow_the_files(loaded: Any) -> None:
    rows = loaded.df.groupBy("source").agg({"line": "max", "*": "count"}).collect()
    counts = {r["source"]: (r["count(1)"], r["max(line)"]) for r in rows}
    assert counts == {"cleveland": (303, 303), "hungarian": (294, 294),
                      "switzerland": (123, 123), "va": (200, 200)}


def test_schema_is_the_explicit_one(spark: Any, loaded: Any) -> None:
    expected = spark.createDataFrame([], schema_ddl()).schema
    assert [(f.name, f.dataType) for f in loaded.df.schema] == [
        (f.name, f.dataType) for f in expected]


def test_values_equal_pandas_reading_of_the_files(spark: Any, loaded: Any) -> None:
    ref = pandas_reference()
    expected = spark.createDataFrame(
        [tuple(None if pd.isna(v) else v for v in row) for row in
         ref.astype(object).itertuples(index=False)],
        schema_ddl(),
    )
    assert_df_equality(loaded.df, expected, ignore_row_order=True, ignore_nullable=True)


def test_parse_lines_flags_each_kind_of_bad_line(spark: Any) -> None:
    lines = spark.createDataFrame([
        (1, GOOD),
        (2, "28,1,2,130,?,0,2,185,0,0,?,?,?,0"),
        (3, "28,1,2,130,132,0,2,185,0,0,?,?,?"),
        (4, "28,1,2,130,abc,0,2,185,0,0,?,?,?,0"),
        (5, ""),
        (6, "28,1,2,130,132,0,2,185,0,0,?,?,?,?"),
        (7, "28,1,2,130,NaN,0,2,185,0,0,?,?,?,0"),
        (8, "28,1,2,130,132,0,2,185,0,-.5,?,?,?,1.5"),
    ], "line bigint, text string")
    parsed = parse_lines(lines).select("line", "chol", "oldpeak", "num", "disease", "problem")
    expected = spark.createDataFrame([
        (1, 233.0, 2.3, 0, 0, None),
        (2, None, 0.0, 0, 0, None),
        (3, 132.0, 0.0, None, 0, "has 13 field(s), expected 14 comma-separated values"),
        (4, None, 0.0, 0, 0, "field 5 (chol) is 'abc', expected a number or '?'"),
        (5, None, None, None, 0, "has 1 field(s), expected 14 comma-separated values"),
        (6, 132.0, 0.0, None, 0,
         "field 14 (num, the diagnosis) is '?', expected a whole number >= 0"),
        (7, float("nan"), 0.0, 0, 0, "field 5 (chol) is 'NaN', expected a number or '?'"),
        (8, 132.0, -0.5, 1, 1,
         "field 14 (num, the diagnosis) is '1.5', expected a whole number >= 0"),
    ], "line bigint, chol double, oldpeak double, num int, disease int, problem string")
    assert_df_equality(parsed, expected, ignore_row_order=True, ignore_nullable=True,
                       allow_nan_equality=True)


def test_malformed_value_is_an_error_naming_file_and_line(spark: Any, tmp_path: Path) -> None:
    data = write_source(tmp_path, [GOOD, GOOD, GOOD.replace("233", "2x3"), GOOD])
    with pytest.raises(DataValidationError,
                       match=r"processed\.va\.data, line 3: field 5 \(chol\) is '2x3'.*"
                             r"on_bad_rows='skip'"):
        load_heart_disease(spark, str(data), sources=["va"])


def test_wrong_field_count_is_an_error_with_the_total(spark: Any, tmp_path: Path) -> None:
    data = write_source(tmp_path, [GOOD, "1,2,3", GOOD + ",9"])
    with pytest.raises(DataValidationError,
                       match=r"line 2: has 3 field\(s\), expected 14.*\(2 malformed lines"):
        load_heart_disease(spark, str(data), sources=["va"])


def test_skip_drops_counts_and_reports_bad_lines(spark: Any, tmp_path: Path) -> None:
    data = write_source(tmp_path, [GOOD, "oops", GOOD, GOOD.replace("145", "?"), "1,2"])
    result = load_heart_disease(spark, str(data), sources=["va"], on_bad_rows="skip")
    assert result.n_skipped == 2
    assert [e.split(": ", 1)[0].rsplit("/", 1)[-1] for e in result.skipped_examples] == [
        "processed.va.data, line 2", "processed.va.data, line 5"]
    rows = result.df.select("line", "trestbps").orderBy("line").collect()
    assert [(r["line"], r["trestbps"]) for r in rows] == [(1, 145.0), (3, 145.0), (4, None)]
    result.unpersist()


def test_line_numbers_do_not_depend_on_partitioning(spark: Any, tmp_path: Path) -> None:
    lines = [GOOD.replace("63", str(20 + i % 50)) for i in range(400)]
    lines[357] = GOOD.replace("150", "fast")
    data = write_source(tmp_path, lines)
    for parts in (1, 4):
        result = load_heart_disease(spark, str(data), sources=["va"], on_bad_rows="skip",
                                    min_partitions=parts)
        assert result.skipped_examples[0].endswith(
            "line 358: field 8 (thalach) is 'fast', expected a number or '?'")
        ages = result.df.filter("line in (1, 2, 400)").orderBy("line").collect()
        assert [r["age"] for r in ages] == [20.0, 21.0, 69.0]
        result.unpersist()


def test_missing_file_is_named(spark: Any, tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match=r"processed\.cleveland\.data: file not found"):
        load_heart_disease(spark, str(tmp_path))


def test_bad_parameters_are_rejected(spark: Any) -> None:
    with pytest.raises(InvalidParameterError, match="'on_bad_rows' parameter must be one of"):
        load_heart_disease(spark, str(DATA), on_bad_rows="ignore")
    with pytest.raises(DataValidationError, match="Unknown heart-disease source 'zurich'"):
        load_heart_disease(spark, str(DATA), sources=["zurich"])


def _numbered(result: Any) -> list[tuple[Any, ...]]:
    return [tuple(r) for r in result.df.orderBy("source", "line").collect()]


@pytest.mark.parametrize("ending", ["\n", "\r\n", "\r", ""])
def test_the_dataframe_reader_numbers_lines_as_the_rdd_reader(
        spark: Any, tmp_path: Path, ending: str) -> None:
    """The Connect-safe reader (whole files, posexplode) gives the textFile reader's frame:
    same rows, same line numbers, same bad-line reports, whatever the line endings."""
    lines = [GOOD, "oops", "", GOOD.replace("145", "?"), GOOD.replace("150", "fast"), GOOD]
    (tmp_path / SOURCE_FILES["va"]).write_text(ending.join(lines) + ending, newline="")
    got = {}
    for reader in ("rdd", "dataframe"):
        result = load_heart_disease(spark, str(tmp_path), sources=["va"], on_bad_rows="skip",
                                    reader=reader)
        got[reader] = (_numbered(result), result.n_skipped, result.skipped_examples)
        result.unpersist()
    if ending == "":  # no line breaks at all: one line holding everything
        assert got["rdd"][1] == 1
    else:
        assert got["rdd"][1] == 3 and [r[1] for r in got["rdd"][0]] == [1, 4, 6]
    assert got["dataframe"] == got["rdd"]


def test_the_dataframe_reader_reads_the_real_files_like_the_rdd_reader(
        spark: Any, loaded: Any) -> None:
    result = load_heart_disease(spark, str(DATA), reader="dataframe")
    try:
        assert _numbered(result) == _numbered(loaded)
    finally:
        result.unpersist()
    with pytest.raises(InvalidParameterError, match="'reader' parameter must be one of"):
        load_heart_disease(spark, str(DATA), reader="pandas")
