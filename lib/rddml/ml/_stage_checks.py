"""Checks of a saved :mod:`rddml.ml` stage before and while it is read: file sizes (before
Spark reads a file whole into the driver JVM), the Params in its metadata (each value
set separately, so a wrong one is named with its file) and the read errors Spark gives
for a file changed after it was written (a stale ``.crc``).
"""

from __future__ import annotations

import contextlib
import os
import re
from collections.abc import Iterator
from typing import Any

from rddml.engine.file_sizes import (
    JVM_READ_HEAP_FRACTION,
    driver_heap_bytes,
    file_sizes,
    jvm_read_limit,
)
from rddml.errors import DataValidationError
from rddml.io.sizes import human_bytes, max_model_bytes, too_large

#: The sub-directories of a stage that are read whole: the Params and the model document.
READ_WHOLE = ("metadata", "data")
_CHECKSUM = re.compile(r"Checksum error: (\S+) at (\d+)")


def check_stage_files(spark: Any, path: str) -> None:
    """Refuse a stage whose ``metadata/`` or ``data/`` files exceed what the driver reads
    whole: :func:`~rddml.io.sizes.max_model_bytes`, and a share of the driver JVM's heap
    (:data:`~rddml.engine.file_sizes.JVM_READ_HEAP_FRACTION`), since Spark's text reader
    holds several copies of a line there. Only sizes are looked up; nothing is read.

    Raises
    ------
    DataValidationError
        Naming the largest file, its size, the directory's total and the limit.
    """
    rddml_limit = max_model_bytes()
    jvm_limit = jvm_read_limit(spark)
    limit = min(rddml_limit, jvm_limit)
    for part in READ_WHOLE:
        where = os.path.join(path, part)
        found = file_sizes(spark, where)
        if not found:
            continue
        total = sum(size for _, size in found)
        if total <= limit:
            continue
        file, size = max(found, key=lambda item: item[1])
        by_jvm = limit < rddml_limit
        why = "" if not by_jvm else (
            f" into the driver JVM (1/{JVM_READ_HEAP_FRACTION} of its "
            f"{human_bytes(driver_heap_bytes(spark))} heap, which must hold several copies "
            "of what Spark reads)")
        if len(found) > 1:
            why += f" (the {len(found)} files of {where!r} total {human_bytes(total)})"
        raise too_large("Model stage file", file, size, limit, why,
                        "start Spark with a larger spark.driver.memory" if by_jvm else None)


def set_saved_params(instance: Any, metadata: dict[str, Any], file: str) -> None:
    """Set the Params of a stage from its loaded ``metadata`` (the user-set ``paramMap``,
    then ``defaultParamMap``), as ``DefaultParamsReader.getAndSetParams`` does, but naming
    ``file`` and the Param when a value has the wrong type or the Param is unknown."""
    for section in ("paramMap", "defaultParamMap"):
        values = metadata.get(section, {})
        if not isinstance(values, dict):
            raise DataValidationError(
                f"Stage metadata {file!r}: {section!r} must be a JSON object of Param values, "
                f"found {type(values).__name__}.")
        for name, value in values.items():
            if not instance.hasParam(name):
                raise DataValidationError(
                    f"Stage metadata {file!r}: {section}.{name}: {type(instance).__name__} has "
                    f"no Param {name!r} (its Params are "
                    f"{', '.join(sorted(p.name for p in instance.params))}).")
            param = instance.getParam(name)
            try:
                converted = param.typeConverter(value)
            except (TypeError, ValueError) as exc:
                shown = repr(value) if len(repr(value)) <= 60 else repr(value)[:57] + "..."
                raise DataValidationError(
                    f"Stage metadata {file!r}: {section}.{name} is {shown}, which is not a "
                    f"valid value of the Param {name!r} ({param.doc}): {exc}") from exc
            if section == "paramMap":
                instance._set(**{name: converted})
            else:
                instance._setDefault(**{name: converted})


@contextlib.contextmanager
def stage_read_errors(path: str) -> Iterator[None]:
    """Turn Spark's checksum failure on a file of the stage at ``path`` (its bytes no
    longer match the ``.crc`` Hadoop wrote beside it: the file was edited by hand) into
    a DataValidationError naming the file and what to do."""
    try:
        yield
    except Exception as exc:
        text = str(exc)
        if "ChecksumException" not in text and "Checksum error" not in text:
            raise
        match = _CHECKSUM.search(text)
        file = match.group(1) if match else path
        if file.startswith("file:"):
            file = file[len("file:"):]
        crc = os.path.join(os.path.dirname(file), f".{os.path.basename(file)}.crc")
        raise DataValidationError(
            f"Model stage file {file!r} does not match its checksum file {crc!r}: it was "
            "changed after Spark wrote it. Restore the file (save the model again), or "
            "delete the .crc file if the change was intended."
        ) from exc
