"""GitHub Markdown tables for the study's report (pandas frames in, text out)."""

from __future__ import annotations

import math
from typing import Any

import pandas as pd


def _cell(value: Any, digits: int) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return ""
    if isinstance(value, bool):
        return str(value)
    if isinstance(value, float):
        if value != 0 and (abs(value) < 10 ** -digits or abs(value) >= 1e9):
            return f"{value:.3e}"
        return f"{value:.{digits}f}"
    return str(value)


def markdown_table(frame: pd.DataFrame, *, digits: int = 6, index: bool = False) -> str:
    """A GitHub Markdown table of ``frame`` (floats with ``digits`` decimals)."""
    data = frame.reset_index() if index else frame
    header = [str(c) for c in data.columns]
    lines = ["| " + " | ".join(header) + " |",
             "| " + " | ".join("---" for _ in header) + " |"]
    for row in data.itertuples(index=False):
        lines.append("| " + " | ".join(_cell(v, digits) for v in row) + " |")
    return "\n".join(lines)
