"""Small matplotlib figures for job reports (optional dependency: ``rddml[plots]``).

Uses the non-interactive Agg backend so jobs work on headless drivers.
"""

from __future__ import annotations

import os
from typing import Any

import numpy as np

from rddml.errors import InvalidParameterError


def _pyplot() -> Any:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def plot_clusters(
    path: str | os.PathLike[str],
    points: np.ndarray,
    labels: np.ndarray,
    centres: np.ndarray,
    *,
    true_centres: np.ndarray | None = None,
    initial_centres: np.ndarray | None = None,
    title: str = "k-means",
) -> None:
    """Scatter of 2-D points coloured by cluster, with fitted (and true/initial) centres.

    Raises
    ------
    InvalidParameterError
        Points or any centres that are not 2-D (they would be cut to two coordinates).
    """
    for name, arr in (("points", points), ("centres", centres),
                      ("true_centres", true_centres), ("initial_centres", initial_centres)):
        if arr is not None and (np.ndim(arr) != 2 or np.shape(arr)[1] != 2):
            raise InvalidParameterError(
                f"plot_clusters draws 2-D data: the {name!r} must have shape (n, 2), got "
                f"{np.shape(arr)}."
            )
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(6.5, 5.5))
    ax.scatter(points[:, 0], points[:, 1], c=labels, cmap="viridis", s=4, alpha=0.5)
    if initial_centres is not None:
        ax.scatter(initial_centres[:, 0], initial_centres[:, 1], marker="o", s=90,
                   facecolors="none", edgecolors="tab:red", linewidths=1.5, label="initial")
    if true_centres is not None:
        ax.scatter(true_centres[:, 0], true_centres[:, 1], marker="x", s=140, c="k",
                   linewidths=3, label="true centre")
    ax.scatter(centres[:, 0], centres[:, 1], marker="*", s=160, c="tab:red",
               edgecolors="white", linewidths=0.8, label="fitted centre")
    _finish(fig, ax, path, title, "x", "y")


def plot_curve(
    path: str | os.PathLike[str],
    values: list[float] | np.ndarray,
    *,
    title: str,
    ylabel: str,
    xlabel: str = "iteration",
    log_y: bool = False,
) -> None:
    """A line plot of a per-iteration quantity (cost, loss)."""
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(6, 4))
    ax.plot(np.arange(1, len(values) + 1), values, marker="o")
    if log_y:
        ax.set_yscale("log")
    ax.set_title(title)
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    ax.grid(alpha=0.3)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def plot_decision_line(
    path: str | os.PathLike[str],
    points: np.ndarray,
    labels: np.ndarray,
    coef: np.ndarray,
    intercept: float,
    *,
    threshold: float = 0.5,
    title: str = "logistic regression",
) -> None:
    """2-D points coloured by label with the line where P(y=1) = ``threshold``,
    i.e. ``coef · x + intercept = logit(threshold)``."""
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(6.5, 5.5))
    ax.scatter(points[:, 0], points[:, 1], c=labels, cmap="viridis", s=6, alpha=0.5,
               edgecolors="none")
    level = float(np.log(threshold / (1.0 - threshold))) if 0 < threshold < 1 else 0.0
    x_lo, x_hi = ax.get_xlim()
    y_lo, y_hi = ax.get_ylim()
    if abs(coef[1]) > 1e-12:
        xs = np.linspace(x_lo, x_hi, 200)
        ax.plot(xs, (level - intercept - coef[0] * xs) / coef[1], color="tab:red", lw=2,
                label="decision line")
    elif abs(coef[0]) > 1e-12:
        ax.axvline((level - intercept) / coef[0], color="tab:red", lw=2, label="decision line")
    ax.set_xlim(x_lo, x_hi)
    ax.set_ylim(y_lo, y_hi)
    _finish(fig, ax, path, title, "feature 1", "feature 2")


def _finish(fig: Any, ax: Any, path: str | os.PathLike[str], title: str, xlabel: str,
            ylabel: str) -> None:
    """Title, axis labels and legend of a 2-D scatter; write the PNG and close it."""
    ax.set_title(title)
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    ax.legend(loc="best", fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    _pyplot().close(fig)
