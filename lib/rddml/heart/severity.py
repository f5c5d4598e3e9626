"""Step 6b: the severity model — multinomial logistic regression of ``num`` (0-4).

The study's main models predict disease yes/no (``num > 0``). The data grades it: 0 (no
disease) to 4. Here rddml's multinomial :class:`~rddml.linear.logistic.LogisticRegression`
(distributed, softmax over the five grades) and scikit-learn's multinomial
``LogisticRegression`` are fitted on the same split and the same prepared ``features``
as the binary models, with the same objective (L2, ``C``; rddml gets
``reg_param = 1 / (C * n_train)`` and no internal standardisation), and scored on the test
split: accuracy, log loss, per-class precision / recall, macro F1 and the confusion
matrix. rddml's figures come from its one-pass distributed ``evaluate``; scikit-learn's
from :mod:`sklearn.metrics` on the collected rows.

The grades are imbalanced (grade 4 has a few dozen rows of 920), so the per-class
recall of the rare grades rests on a handful of test rows, and accuracy mostly
reflects grades 0 and 1.

Examples
--------
>>> severity = compare_severity_models(train_prepared, test_prepared)  # doctest: +SKIP
>>> [round(s.accuracy, 3) for s in severity.scores]  # doctest: +SKIP
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np

from rddml.errors import DataValidationError
from rddml.heart.columns import KEY_COLUMNS
from rddml.heart.markdown import markdown_table
from rddml.heart.models import collect_features
from rddml.heart.pipeline import FEATURES

if TYPE_CHECKING:
    from pyspark.sql import DataFrame

SEVERITY = "num"
RDDML_SEVERITY = "rddml LogisticRegression (multinomial)"
SKLEARN_SEVERITY = "scikit-learn LogisticRegression (multinomial)"
CONFUSION_PLOT = "severity_confusion.png"


@dataclass(frozen=True)
class SeverityScore:
    """Test-split metrics of one severity model; per-class lists are in class order
    0 .. K-1, the confusion matrix has true classes as rows, predictions as columns."""

    name: str
    accuracy: float
    log_loss: float
    f1_macro: float
    precision_per_class: list[float]
    recall_per_class: list[float]
    confusion_matrix: list[list[int]]

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready form."""
        return asdict(self)


@dataclass
class SeverityResult:
    """The severity models of one split: the classes, rows per class in each split, the
    scores (rddml first) and the fitted rddml model."""

    classes: list[int]
    train_counts: list[int]
    test_counts: list[int]
    scores: list[SeverityScore]
    model: Any = field(default=None, repr=False)

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready form (without the model)."""
        return {"classes": self.classes, "train_counts": self.train_counts,
                "test_counts": self.test_counts,
                "models": [s.as_dict() for s in self.scores]}


def sklearn_severity_score(X_train: np.ndarray, y_train: np.ndarray, X_test: np.ndarray,
                           y_test: np.ndarray, n_classes: int, *, C: float = 1.0
                           ) -> SeverityScore:
    """scikit-learn's multinomial LogisticRegression(C) and its test metrics."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.metrics import (
        accuracy_score,
        confusion_matrix,
        f1_score,
        log_loss,
        precision_recall_fscore_support,
    )

    model = LogisticRegression(C=C, max_iter=5000, tol=1e-8).fit(X_train, y_train)
    labels = list(range(n_classes))
    # Columns in class order 0 .. K-1 (every class is in the training split).
    proba = np.zeros((X_test.shape[0], n_classes))
    proba[:, model.classes_.astype(int)] = model.predict_proba(X_test)
    predicted = proba.argmax(axis=1)
    precision, recall, _, _ = precision_recall_fscore_support(
        y_test, predicted, labels=labels, zero_division=0)
    return SeverityScore(
        name=SKLEARN_SEVERITY,
        accuracy=float(accuracy_score(y_test, predicted)),
        log_loss=float(log_loss(y_test, proba, labels=labels)),
        f1_macro=float(f1_score(y_test, predicted, labels=labels, average="macro",
                                zero_division=0)),
        precision_per_class=[float(v) for v in precision],
        recall_per_class=[float(v) for v in recall],
        confusion_matrix=confusion_matrix(y_test, predicted, labels=labels).tolist(),
    )


def rddml_severity_score(train: DataFrame, test: DataFrame, *, C: float, n_train: int,
                         label_col: str = SEVERITY, max_iter: int = 500,
                         tol: float = 1e-8) -> tuple[SeverityScore, Any]:
    """Fit rddml's multinomial LogisticRegression on ``train`` (distributed, the objective
    of scikit-learn's ``C``) and evaluate it on ``test`` in one pass."""
    from rddml.linear.logistic import LogisticRegression

    model = LogisticRegression(
        family="multinomial", reg_param=1.0 / (C * n_train), standardize=False,
        max_iter=max_iter, tol=tol, features_col=FEATURES, label_col=label_col,
    ).fit(train)
    metrics = model.evaluate(test)
    score = SeverityScore(
        name=RDDML_SEVERITY,
        accuracy=float(metrics["accuracy"]),
        log_loss=float(metrics["log_loss"]),
        f1_macro=float(metrics["f1_macro"]),
        precision_per_class=[float(v) for v in metrics["precision_per_class"]],
        recall_per_class=[float(v) for v in metrics["recall_per_class"]],
        confusion_matrix=[[int(v) for v in row] for row in metrics["confusion_matrix"]],
    )
    return score, model


def compare_severity_models(train: DataFrame, test: DataFrame, *, C: float = 1.0,
                            label_col: str = SEVERITY,
                            key_columns: Sequence[str] = KEY_COLUMNS) -> SeverityResult:
    """rddml's and scikit-learn's multinomial logistic regressions of ``label_col`` on the
    prepared splits (the binary models' features)."""
    X_train, y_train = collect_features(train, label_col=label_col, key_columns=key_columns)
    X_test, y_test = collect_features(test, label_col=label_col, key_columns=key_columns)
    n_classes = int(max(y_train.max(), y_test.max())) + 1
    train_counts = np.bincount(y_train.astype(int), minlength=n_classes)
    if (train_counts == 0).any():
        raise DataValidationError(
            f"The training split has no row of severity class(es) "
            f"{np.flatnonzero(train_counts == 0).tolist()}; cannot fit the severity model."
        )
    rddml_score, model = rddml_severity_score(train, test, C=C, n_train=len(y_train),
                                              label_col=label_col)
    reference = sklearn_severity_score(X_train, y_train, X_test, y_test, n_classes, C=C)
    return SeverityResult(
        classes=list(range(n_classes)),
        train_counts=train_counts.tolist(),
        test_counts=np.bincount(y_test.astype(int), minlength=n_classes).tolist(),
        scores=[rddml_score, reference],
        model=model,
    )


def severity_section(severity: SeverityResult, plot_path: str) -> str:
    """The report's Markdown section: rows per class, the metrics table and the plot."""
    import pandas as pd


    counts = ", ".join(f"{c}: {a} / {b}" for c, a, b in
                       zip(severity.classes, severity.train_counts, severity.test_counts))
    rows = []
    for s in severity.scores:
        row: dict[str, Any] = {"model": s.name, "accuracy": s.accuracy,
                               "log loss": s.log_loss, "macro F1": s.f1_macro}
        row.update({f"recall {c}": r for c, r in zip(severity.classes, s.recall_per_class)})
        rows.append(row)
    return (
        "Multinomial logistic regression of the diagnosis grade `num` (0 = none .. 4), "
        "same split and features as above, same L2 objective (rddml: softmax over the "
        "grades, reg_param = 1 / (C * n_train)). Rows per grade (train / test): "
        f"{counts}. The grades are imbalanced: the rare high grades have only a few test "
        "rows, so their recall is a coarse estimate (one row moves it by many points), "
        "accuracy is dominated by grades 0 and 1, and macro F1 weighs every grade equally."
        "\n\n" + markdown_table(pd.DataFrame(rows), digits=4)
        + f"\n\n![severity confusion matrices]({plot_path})"
    )


def plot_confusion_matrices(path: str | os.PathLike[str], severity: SeverityResult) -> None:
    """One heat map per model: test rows by true (rows) and predicted (columns) grade,
    with the counts written in the cells."""
    from rddml.heart.plots import _pyplot

    plt = _pyplot()
    scores = severity.scores
    fig, axes = plt.subplots(1, len(scores), figsize=(4.4 * len(scores), 4.0), squeeze=False)
    for ax, score in zip(axes.ravel(), scores):
        matrix = np.asarray(score.confusion_matrix)
        ax.imshow(matrix, cmap="Blues")
        for (i, j), value in np.ndenumerate(matrix):
            ax.text(j, i, str(value), ha="center", va="center",
                    color="white" if value > matrix.max() / 2 else "black", fontsize=9)
        ticks = np.arange(len(severity.classes))
        ax.set_xticks(ticks, [str(c) for c in severity.classes])
        ax.set_yticks(ticks, [str(c) for c in severity.classes])
        ax.set_xlabel("predicted grade")
        ax.set_ylabel("true grade")
        ax.set_title(f"{score.name}\naccuracy {score.accuracy:.3f}", fontsize=9)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
