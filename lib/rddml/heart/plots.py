"""The study's figures (matplotlib, Agg backend, so they render on headless drivers)."""

from __future__ import annotations

import math
import os
from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd


def _pyplot() -> Any:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def plot_missing(
    path: str | os.PathLike[str], raw: pd.Series, after_rules: pd.Series, threshold: float
) -> None:
    """Bars of the missing fraction per column, as loaded and after the impossible-value
    rules, with the drop threshold."""
    plt = _pyplot()
    columns = list(raw.index)
    x = np.arange(len(columns))
    fig, ax = plt.subplots(figsize=(9, 4.2))
    ax.bar(x - 0.2, [raw[c] for c in columns], width=0.4, label="as loaded ('?')")
    ax.bar(x + 0.2, [after_rules.get(c, np.nan) for c in columns], width=0.4,
           label="after impossible-value rules")
    ax.axhline(threshold, color="tab:red", linestyle="--", linewidth=1,
               label=f"drop threshold {threshold:.0%}")
    ax.set_xticks(x, columns, rotation=45, ha="right")
    ax.set_ylabel("fraction missing")
    ax.set_title("Missing values per column")
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def plot_disease_rates(path: str | os.PathLike[str], rates: pd.DataFrame) -> None:
    """One panel per categorical column: disease rate per category (n above each bar)."""
    plt = _pyplot()
    columns = list(dict.fromkeys(rates["column"]))
    n_cols = 4
    n_rows = max(1, math.ceil(len(columns) / n_cols))
    fig, axes = plt.subplots(n_rows, n_cols, figsize=(3.2 * n_cols, 2.8 * n_rows),
                             squeeze=False)
    for ax, column in zip(axes.ravel(), columns):
        part = rates[rates["column"] == column]
        labels = ["missing" if pd.isna(v) else f"{v:g}" for v in part["category"]]
        # Numeric positions with tick labels: codes such as "1" are categories, not numbers.
        bars = ax.bar(np.arange(len(labels)), part["rate"], color="tab:red", alpha=0.75)
        ax.set_xticks(np.arange(len(labels)), labels)
        for bar, n in zip(bars, part["n"]):
            ax.annotate(f"n={n}", (bar.get_x() + bar.get_width() / 2, bar.get_height()),
                        ha="center", va="bottom", fontsize=7)
        ax.set_ylim(0, 1.1)
        ax.set_title(column)
        ax.set_ylabel("disease rate")
    for ax in axes.ravel()[len(columns):]:
        ax.axis("off")
    fig.suptitle("Disease rate by category (rows as loaded)")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def plot_coefficients(
    path: str | os.PathLike[str],
    names: Sequence[str],
    logistic: dict[str, dict[str, float]],
    importances: dict[str, float] | None = None,
) -> None:
    """Logistic coefficients per feature (one bar per model), and forest importances."""
    plt = _pyplot()
    panels = 2 if importances else 1
    fig, axes = plt.subplots(1, panels, figsize=(6.5 * panels, 0.32 * len(names) + 1.6),
                             squeeze=False)
    y = np.arange(len(names))
    height = 0.8 / max(1, len(logistic))
    ax = axes[0, 0]
    for i, (model, weights) in enumerate(logistic.items()):
        ax.barh(y + (i - (len(logistic) - 1) / 2) * height, [weights[n] for n in names],
                height=height, label=model)
    ax.axvline(0, color="k", linewidth=0.6)
    ax.set_yticks(y, names)
    ax.invert_yaxis()
    ax.set_xlabel("coefficient (features min-max scaled)")
    ax.set_title("Logistic regression coefficients")
    ax.legend(fontsize=8)
    if importances:
        ax2 = axes[0, 1]
        ax2.barh(y, [importances[n] for n in names], color="tab:green")
        ax2.set_yticks(y, names)
        ax2.invert_yaxis()
        ax2.set_xlabel("impurity importance")
        ax2.set_title("Random forest feature importances")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
