"""Step 1: load the four UCI files into one typed DataFrame with line numbers.

Why not ``spark.read.csv``: it cannot say on which line of which file a bad
value sits (its ``PERMISSIVE`` mode keeps a corrupt record but not its position).
Why not ``spark.read.text`` + ``monotonically_increasing_id``: the file scan packs
file *splits* into partitions by size, so ids are not in line order once a file
spans several splits. ``sc.textFile(file)`` keeps each file's partitions in byte
order, so numbering lines is ``zipWithIndex``: one job counts the lines of every
partition (of all files at once), the driver turns the counts into each
partition's first line number, and the parsing pass numbers its lines from
there. Both passes are distributed and linear, so this scales to large files and
to many files (one small RDD per file, unioned); the parsed result is persisted
so the files are read twice at most.

Under Spark Connect (no SparkContext, so no RDDs) the lines are numbered by the
DataFrame reader instead: ``spark.read.text(..., wholetext=True)`` gives each file as
one row, and ``posexplode`` of its lines gives every line its exact 1-based number in
one pass, with no Python at all. A file then sits whole in one task's memory, which
is nothing for the UCI files (a few KB) but is why the RDD reader stays the default
where RDDs exist. Both readers give the same frame (tested).

Parsing is then plain Spark SQL (``split``, ``try_cast``), and bad lines are
found with a filter, so no Python code runs per row except the line numbering.

Examples
--------
>>> loaded = load_heart_disease(spark, "data/uci-heart-disease")  # doctest: +SKIP
>>> loaded.df.count(), loaded.n_skipped  # doctest: +SKIP
(920, 0)
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, Any

from rddml.data.text_format import display_path
from rddml.errors import DataValidationError
from rddml.heart.columns import LABEL, RAW_COLUMNS, SOURCE_FILES
from rddml.params import check_choice, check_int
from rddml.paths import expand_user

if TYPE_CHECKING:
    from pyspark.sql import Column, DataFrame, SparkSession

logger = logging.getLogger(__name__)

ON_BAD_ROWS = ("error", "skip")
READERS = ("auto", "rdd", "dataframe")
#: Hadoop's line reader ends a line at ``\n``, ``\r`` or ``\r\n``; so does the frame reader.
LINE_BREAK = r"\r\n|\r|\n"
MISSING_MARKER = "?"
#: How many malformed lines are quoted in an error message or a skip report.
MAX_EXAMPLES = 5


@dataclass(frozen=True)
class LoadResult:
    """What :func:`load_heart_disease` read.

    Attributes
    ----------
    df : DataFrame
        ``source, line, age, ..., thal`` (double), ``num`` (int), ``disease`` (int).
    files : dict
        Source name -> path read.
    n_skipped : int
        Malformed lines dropped (``on_bad_rows="skip"``); 0 otherwise.
    skipped_examples : tuple of str
        Up to five ``"<file>, line <n>: <reason>"`` descriptions of dropped lines.
    """

    df: DataFrame
    files: dict[str, str]
    n_skipped: int = 0
    skipped_examples: tuple[str, ...] = field(default_factory=tuple)
    persisted: DataFrame | None = field(default=None, repr=False)

    def unpersist(self) -> None:
        """Release the parsed lines cached by :func:`load_heart_disease`."""
        if self.persisted is not None:
            self.persisted.unpersist()


def schema_ddl() -> str:
    """The loaded frame's schema as a DDL string (the contract of step 1)."""
    measured = ", ".join(f"{name} double" for name in RAW_COLUMNS[:-1])
    return f"source string, line bigint, {measured}, num int, {LABEL} int"


def _count_lines(lines: Iterable[str]) -> list[int]:
    return [sum(1 for _ in lines)]


def _number_partition(
    index: int,
    lines: Iterable[str],
    *,
    starts: list[int],
    sources: list[str],
    files: list[str],
) -> Iterator[tuple[str, str, int, str]]:
    """Tag each line of union partition ``index`` with its source, file and line number."""
    source, file = sources[index], files[index]
    for number, text in enumerate(lines, start=starts[index] + 1):
        yield source, file, number, text


def read_numbered_lines(
    spark: SparkSession, files: Mapping[str, str], *, min_partitions: int | None = None
) -> DataFrame:
    """``source, file, line, text``: every line of every file with its 1-based number.

    The union of one ``textFile`` RDD per file keeps each file's partitions in byte
    order, so one counting job (lines per partition, all files at once) gives every
    partition the number of its first line: ``zipWithIndex``, done once for all
    files. ``min_partitions`` lets tests check that numbers do not depend on splits.
    """
    sc = spark.sparkContext
    per_file = [sc.textFile(path, minPartitions=min_partitions) for path in files.values()]
    union = sc.union(per_file)
    counts = union.mapPartitions(_count_lines).collect()
    starts: list[int] = []
    sources: list[str] = []
    names: list[str] = []
    position = 0
    for (source, path), rdd in zip(files.items(), per_file):
        first = 0
        for count in counts[position:position + rdd.getNumPartitions()]:
            starts.append(first)
            first += count
        sources += [source] * rdd.getNumPartitions()
        names += [display_path(path)] * rdd.getNumPartitions()
        position += rdd.getNumPartitions()
    numbered = union.mapPartitionsWithIndex(
        partial(_number_partition, starts=starts, sources=sources, files=names)
    )
    return spark.createDataFrame(numbered, "source string, file string, line bigint, text string")


def read_numbered_lines_frame(spark: SparkSession, files: Mapping[str, str]) -> DataFrame:
    """``source, file, line, text`` like :func:`read_numbered_lines`, DataFrames only.

    What runs under Spark Connect: each file is read whole (``wholetext``) and split
    into lines in the JVM, so a line's number is its position in its file, exactly.
    The empty string after a file's final line break is not a line (as for
    ``textFile``); a blank line elsewhere is kept and reported as malformed.
    """
    from pyspark.sql import functions as F

    frames = []
    for source, path in files.items():
        lines = spark.read.text(path, wholetext=True).select(
            F.posexplode(F.split(F.col("value"), LINE_BREAK, -1)).alias("pos", "text"),
            F.size(F.split(F.col("value"), LINE_BREAK, -1)).alias("n"),
        )
        trailing = (F.col("pos") == F.col("n") - 1) & (F.col("text") == "")
        frames.append(lines.filter(~trailing).select(
            F.lit(source).alias("source"), F.lit(display_path(path)).alias("file"),
            (F.col("pos") + 1).cast("bigint").alias("line"), "text"))
    out = frames[0]
    for frame in frames[1:]:
        out = out.unionByName(frame)
    return out


def _field_problem(index: int, name: str, raw: Column, value: Column) -> Column:
    """A message when field ``index`` is neither ``?`` nor a finite number, else null."""
    from pyspark.sql import functions as F

    bad = raw.isNotNull() & (raw != MISSING_MARKER) & (
        value.isNull() | F.isnan(value) | (F.abs(value) == float("inf"))
    )
    return F.when(
        bad,
        F.format_string(f"field {index} ({name}) is '%s', expected a number or '?'",
                        F.substring(raw, 1, 40)),
    )


def parse_lines(lines: DataFrame) -> DataFrame:
    """Parse ``text`` into the typed columns and a ``problem`` column (null if the line is good).

    Input: any frame with a string column ``text`` (extra columns are kept in front).
    A line is bad when it does not have 14 comma-separated fields, when a field
    is neither ``?`` nor a finite number, or when ``num`` is missing or not a
    whole number >= 0 (it is the label).
    """
    from pyspark.sql import functions as F

    n_fields = len(RAW_COLUMNS)
    # try_element_at/try_cast return null instead of failing under ANSI mode, so a
    # short line or a non-numeric field becomes a ``problem`` message, not a crash.
    staged = lines.select(
        "*",
        *[F.trim(F.expr(f"try_element_at(split(text, ',', -1), {i + 1})")).alias(f"__raw{i}")
          for i in range(n_fields)],
        F.size(F.split(F.col("text"), ",", -1)).alias("__n_fields"),
    ).select(
        "*",
        *[F.when(F.col(f"__raw{i}") == MISSING_MARKER, F.lit(None).cast("double"))
          .otherwise(F.expr(f"try_cast(`__raw{i}` AS DOUBLE)")).alias(f"__value{i}")
          for i in range(n_fields)],
    )
    raw_col = [F.col(f"__raw{i}") for i in range(n_fields)]
    value_col = [F.col(f"__value{i}") for i in range(n_fields)]
    num = value_col[-1]
    problem = F.coalesce(
        F.when(F.col("__n_fields") != n_fields,
               F.format_string(f"has %d field(s), expected {n_fields} comma-separated values",
                               F.col("__n_fields"))),
        *[_field_problem(i + 1, name, raw_col[i], value_col[i])
          for i, name in enumerate(RAW_COLUMNS)],
        F.when(num.isNull() | (num < 0) | (num != F.floor(num)),
               F.format_string("field %d (num, the diagnosis) is '%s', expected a whole "
                               "number >= 0", F.lit(n_fields), raw_col[-1])),
    )
    kept = [c for c in lines.columns if c != "text"]
    return staged.select(
        *kept,
        *[value_col[i].alias(name) for i, name in enumerate(RAW_COLUMNS[:-1])],
        num.cast("int").alias("num"),
        F.when(num > 0, 1).otherwise(0).alias(LABEL),
        problem.alias("problem"),
    )


def _describe(row: Any) -> str:
    return f"{row['file']}, line {row['line']}: {row['problem']}"


def bad_line_report(parsed: DataFrame) -> tuple[int, tuple[str, ...]]:
    """Count the malformed lines of a :func:`parse_lines` frame and quote the first few."""
    bad = parsed.filter(parsed["problem"].isNotNull())
    n_bad = bad.count()
    if not n_bad:
        return 0, ()
    first = bad.orderBy("file", "line").limit(MAX_EXAMPLES).collect()
    return n_bad, tuple(_describe(row) for row in first)


def resolve_files(data_dir: str, sources: Iterable[str] | None = None) -> dict[str, str]:
    """Source name -> path of its file under ``data_dir`` (a leading ``~`` expanded); local
    files must exist."""
    names = list(SOURCE_FILES) if sources is None else list(sources)
    data_dir = expand_user(data_dir, what="data_dir", error=DataValidationError)
    files: dict[str, str] = {}
    for name in names:
        if name not in SOURCE_FILES:
            known = ", ".join(repr(s) for s in SOURCE_FILES)
            raise DataValidationError(f"Unknown heart-disease source {name!r}; known: {known}.")
        path = f"{data_dir.rstrip('/')}/{SOURCE_FILES[name]}"
        if "://" not in path and not Path(path).is_file():
            raise FileNotFoundError(
                f"{path}: file not found; expected the UCI file {SOURCE_FILES[name]!r} "
                f"in data_dir {data_dir!r}."
            )
        files[name] = path
    return files


def load_heart_disease(
    spark: SparkSession,
    data_dir: str,
    *,
    on_bad_rows: str = "error",
    sources: Iterable[str] | None = None,
    min_partitions: int | None = None,
    reader: str = "auto",
) -> LoadResult:
    """Read the UCI ``processed.*.data`` files of ``data_dir`` into one DataFrame.

    Parameters
    ----------
    spark : SparkSession
    data_dir : str
        Directory holding ``processed.{cleveland,hungarian,switzerland,va}.data``.
    on_bad_rows : {"error", "skip"}, default="error"
        A malformed line raises :class:`DataValidationError` naming its file and line,
        or (``"skip"``) is dropped, counted and quoted in the result.
    sources : iterable of str, optional
        A subset of ``cleveland, hungarian, switzerland, va`` (default: all four).
    min_partitions : int, optional
        Passed to ``textFile`` (tests use it to check partition independence).
    reader : {"auto", "rdd", "dataframe"}, default="auto"
        How lines are numbered: ``"rdd"`` (``textFile``, streams files of any size),
        ``"dataframe"`` (whole files through ``spark.read.text``; works under Spark
        Connect), or ``"auto"``: ``"rdd"`` where the session has a SparkContext.

    Returns
    -------
    LoadResult
        ``df`` has the schema :func:`schema_ddl`; ``?`` is null. The parsed lines are
        persisted (``MEMORY_AND_DISK``); call ``LoadResult.unpersist()`` when done.

    Examples
    --------
    >>> res = load_heart_disease(spark, "data/uci-heart-disease")  # doctest: +SKIP
    >>> res.df.filter("disease = 1").count()  # doctest: +SKIP
    509
    """
    from pyspark import StorageLevel

    check_choice("on_bad_rows", on_bad_rows, ON_BAD_ROWS)
    if min_partitions is not None:
        check_int("min_partitions", min_partitions, low=1)
    check_choice("reader", reader, READERS)
    files = resolve_files(data_dir, sources)
    if reader == "auto":
        reader = "rdd" if _has_spark_context(spark) else "dataframe"
    lines = (read_numbered_lines(spark, files, min_partitions=min_partitions)
             if reader == "rdd" else read_numbered_lines_frame(spark, files))
    # Persisted before the validation pass, which fills the cache: later steps never
    # re-read the files or re-run the (Python) line numbering.
    parsed = parse_lines(lines)
    parsed = parsed.persist(StorageLevel.MEMORY_AND_DISK)
    try:
        n_bad, examples = bad_line_report(parsed)
    except BaseException:
        parsed.unpersist()
        raise
    if n_bad and on_bad_rows == "error":
        parsed.unpersist()
        more = f" ({n_bad} malformed lines in total)" if n_bad > 1 else ""
        raise DataValidationError(
            f"{examples[0]}{more}. Fix the file or pass on_bad_rows='skip' to drop such lines."
        )
    if n_bad:
        logger.warning("skipped %d malformed line(s), e.g. %s", n_bad, examples[0])
    columns = ["source", "line", *RAW_COLUMNS, LABEL]
    df = parsed.filter(parsed["problem"].isNull()).select(*columns)
    return LoadResult(df=df, files=files, n_skipped=n_bad, skipped_examples=examples,
                      persisted=parsed)


def _has_spark_context(spark: SparkSession) -> bool:
    """Whether RDDs work in this session (not under Spark Connect or a locked-down JVM)."""
    from rddml.engine.backend import has_spark_context

    return has_spark_context(spark.range(1))
