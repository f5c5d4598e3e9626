"""Questions only the driver's JVM can answer (none when there is no JVM: Spark Connect)."""

from __future__ import annotations

from typing import Any


def jvm_system_property(spark: Any, key: str) -> str | None:
    """The driver JVM's ``System.getProperty(key)``; None without a JVM gateway (Spark
    Connect) or when the JVM has no such property."""
    try:
        value = spark.sparkContext._jvm.java.lang.System.getProperty(key)
    except Exception:  # Spark Connect: no sparkContext, no gateway
        return None
    return None if value is None else str(value)
