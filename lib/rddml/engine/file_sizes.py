"""File sizes and the driver JVM's heap, looked up through Spark without reading a file.

Used before Spark reads a file whole into the driver (a saved stage's metadata and data
are read with ``spark.read.text`` and collected): the size is known first, on any file
system Spark reaches. A classic session asks Hadoop's ``FileSystem`` for the listing (a
metadata call); Spark Connect has no JVM gateway, so the listing comes from the
``binaryFile`` source with only its ``path`` and ``length`` columns selected, which
Spark answers from the listing without opening the files.
"""

from __future__ import annotations

import re
from typing import Any

#: ``spark.read.text(...).collect()`` keeps several copies of a line in the driver JVM
#: at once (Hadoop's growing line buffer, the row, the serialized task result, the rows
#: collected for Python), so a file read that way must stay below this share of the heap.
JVM_READ_HEAP_FRACTION = 8
_MEMORY = re.compile(r"^\s*(\d+)\s*([kmgt]?)b?\s*$", re.IGNORECASE)


def is_connect_session(spark: Any) -> bool:
    """True for a Spark Connect session (checked by class)."""
    return type(spark).__module__.startswith("pyspark.sql.connect")


def file_sizes(spark: Any, path: str) -> list[tuple[str, int]] | None:
    """``(file, bytes)`` of ``path`` itself when it is a file, else of the files directly in
    the directory ``path`` that Spark would read (names starting with ``.`` or ``_``,
    such as ``.crc`` and ``_SUCCESS``, are skipped, as Spark skips them); None when
    ``path`` does not exist. Nothing is read."""
    if is_connect_session(spark):
        return _connect_sizes(spark, path)
    sc = spark.sparkContext
    jvm: Any = sc._jvm
    hpath = jvm.org.apache.hadoop.fs.Path(path)
    fs = hpath.getFileSystem(sc._jsc.hadoopConfiguration())
    if not fs.exists(hpath):
        return None
    status = fs.getFileStatus(hpath)
    if status.isFile():
        return [(str(status.getPath().toString()), int(status.getLen()))]
    found = []
    for child in fs.listStatus(hpath):
        name = str(child.getPath().getName())
        if child.isFile() and not name.startswith((".", "_")):
            found.append((str(child.getPath().toString()), int(child.getLen())))
    return sorted(found)


def _connect_sizes(spark: Any, path: str) -> list[tuple[str, int]] | None:
    from pyspark.errors import AnalysisException

    try:
        rows = spark.read.format("binaryFile").load(path).select("path", "length").collect()
    except AnalysisException as exc:
        if "PATH_NOT_FOUND" in str(exc) or "does not exist" in str(exc).lower():
            return None
        raise
    return sorted((str(row[0]), int(row[1])) for row in rows)


def parse_memory(text: str) -> int | None:
    """Bytes of a Spark memory setting (``"1g"``, ``"512m"``, ``"2048"`` in MiB), or None."""
    match = _MEMORY.match(text)
    if match is None:
        return None
    value, unit = int(match.group(1)), match.group(2).lower()
    scale = {"": 1 << 20, "k": 1 << 10, "m": 1 << 20, "g": 1 << 30, "t": 1 << 40}[unit]
    return value * scale


def driver_heap_bytes(spark: Any) -> int:
    """The driver JVM's maximum heap: asked of the JVM in a classic session; under Spark
    Connect, ``spark.driver.memory`` (Spark's default 1g when unset or unreadable)."""
    if not is_connect_session(spark):
        runtime = spark.sparkContext._jvm.java.lang.Runtime.getRuntime()
        return int(runtime.maxMemory())
    try:
        setting = spark.conf.get("spark.driver.memory", "1g")
    except Exception:  # a server that hides the setting: assume Spark's default
        setting = "1g"
    return parse_memory(str(setting)) or (1 << 30)


def jvm_read_limit(spark: Any) -> int:
    """The most bytes the driver JVM should read whole and collect (see
    :data:`JVM_READ_HEAP_FRACTION`)."""
    return driver_heap_bytes(spark) // JVM_READ_HEAP_FRACTION
