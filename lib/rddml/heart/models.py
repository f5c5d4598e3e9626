"""Step 6: rddml's logistic regression, and scikit-learn beside it on the same rows.

rddml's :class:`~rddml.linear.logistic.LogisticRegression` trains distributed on the
prepared ``features`` column. The references — scikit-learn's
``LogisticRegression`` (defaults, as in the write-up: L2 with ``C = 1``) and
``RandomForestClassifier(random_state=0)`` — are fitted on exactly the same
split and feature matrix, collected to the driver (they are the small-data
reference, sorted by the row key so their result does not depend on
partitioning). rddml is given the same objective: ``reg_param = 1 / (C * n_train)``
without internal standardisation, so it should land on the same optimum.

Examples
--------
>>> scores = compare_models(train_prepared, test_prepared, names)  # doctest: +SKIP
>>> [(s.name, round(s.accuracy, 3)) for s in scores]  # doctest: +SKIP
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING, Any, cast

import numpy as np
import pandas as pd

from rddml.errors import DataValidationError
from rddml.heart.columns import KEY_COLUMNS, LABEL
from rddml.heart.pipeline import FEATURES

if TYPE_CHECKING:
    from pyspark.sql import DataFrame

RDDML_LOGISTIC = "rddml LogisticRegression"
SKLEARN_LOGISTIC = "scikit-learn LogisticRegression"
SKLEARN_FOREST = "scikit-learn RandomForestClassifier"


@dataclass(frozen=True)
class ModelScore:
    """Test-split metrics of one model (confusion matrix ``[[tn, fp], [fn, tp]]``).

    ``weights`` holds the logistic coefficients (or the forest's feature
    importances) by feature name; ``intercept`` is None for the forest.
    """

    name: str
    accuracy: float
    auc: float | None
    log_loss: float
    precision: float
    recall: float
    f1: float
    confusion_matrix: list[list[int]]
    weights: dict[str, float]
    intercept: float | None = None

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready form."""
        return asdict(self)


def collect_features(
    df: DataFrame, features_col: str = FEATURES, label_col: str = LABEL,
    key_columns: Sequence[str] = KEY_COLUMNS,
) -> tuple[np.ndarray, np.ndarray]:
    """(X, y) on the driver, rows ordered by the key (for scikit-learn references only)."""
    from pyspark.ml.functions import vector_to_array
    from pyspark.sql import functions as F

    keys = [c for c in key_columns if c in df.columns]
    rows: pd.DataFrame = cast(pd.DataFrame, (
        df.orderBy(*keys)
        .select(vector_to_array(F.col(features_col)).alias("x"),
                F.col(label_col).cast("double").alias("y"))
        .toPandas()
    ))
    if rows.empty:
        raise DataValidationError("Cannot collect features of an empty DataFrame.")
    return np.stack(rows["x"].to_numpy()), rows["y"].to_numpy(dtype=np.float64)


def score_predictions(
    name: str, y: np.ndarray, proba: np.ndarray, weights: dict[str, float],
    intercept: float | None,
) -> ModelScore:
    """Metrics of P(y=1) predictions, with scikit-learn's definitions (threshold 0.5)."""
    from sklearn.metrics import (
        accuracy_score,
        confusion_matrix,
        f1_score,
        log_loss,
        precision_score,
        recall_score,
        roc_auc_score,
    )

    predicted = (proba > 0.5).astype(np.float64)
    both = len(np.unique(y)) == 2
    return ModelScore(
        name=name,
        accuracy=float(accuracy_score(y, predicted)),
        auc=float(roc_auc_score(y, proba)) if both else None,
        log_loss=float(log_loss(y, np.clip(proba, 1e-15, 1 - 1e-15), labels=[0.0, 1.0])),
        precision=float(precision_score(y, predicted, zero_division=0)),
        recall=float(recall_score(y, predicted, zero_division=0)),
        f1=float(f1_score(y, predicted, zero_division=0)),
        confusion_matrix=confusion_matrix(y, predicted, labels=[0.0, 1.0]).tolist(),
        weights=weights,
        intercept=intercept,
    )


def sklearn_scores(
    X_train: np.ndarray, y_train: np.ndarray, X_test: np.ndarray, y_test: np.ndarray,
    names: Sequence[str], *, C: float = 1.0, n_estimators: int = 100, random_state: int = 0,
) -> list[ModelScore]:
    """scikit-learn's LogisticRegression(C) and RandomForestClassifier on the same arrays."""
    from sklearn.ensemble import RandomForestClassifier
    from sklearn.linear_model import LogisticRegression

    logistic = LogisticRegression(C=C, max_iter=1000).fit(X_train, y_train)
    forest = RandomForestClassifier(n_estimators=n_estimators,
                                    random_state=random_state).fit(X_train, y_train)
    return [
        score_predictions(SKLEARN_LOGISTIC, y_test, logistic.predict_proba(X_test)[:, 1],
                          dict(zip(names, logistic.coef_[0].tolist())),
                          float(logistic.intercept_[0])),
        score_predictions(SKLEARN_FOREST, y_test, forest.predict_proba(X_test)[:, 1],
                          dict(zip(names, forest.feature_importances_.tolist())), None),
    ]


def rddml_logistic(
    train: DataFrame, test: DataFrame, names: Sequence[str], *, C: float = 1.0,
    n_train: int | None = None, max_iter: int = 200, tol: float = 1e-6,
) -> tuple[ModelScore, Any]:
    """Fit rddml's LogisticRegression on ``train`` (distributed) and evaluate on ``test``.

    The objective equals scikit-learn's ``LogisticRegression(C=C)`` on the same
    features: ``reg_param = 1 / (C * n_train)``, ``standardize=False``.
    Returns the score and the fitted model.
    """
    from rddml.linear.logistic import LogisticRegression

    rows = train.count() if n_train is None else n_train
    model = LogisticRegression(
        optimizer="lbfgs", reg_param=1.0 / (C * rows), standardize=False, max_iter=max_iter,
        tol=tol, features_col=FEATURES, label_col=LABEL,
    ).fit(train)
    metrics = model.evaluate(test)
    score = ModelScore(
        name=RDDML_LOGISTIC,
        accuracy=float(metrics["accuracy"]),
        auc=None if metrics["auc"] is None else float(metrics["auc"]),
        log_loss=float(metrics["log_loss"]),
        precision=float(metrics["precision"]),
        recall=float(metrics["recall"]),
        f1=float(metrics["f1"]),
        confusion_matrix=[[int(v) for v in row] for row in metrics["confusion_matrix"]],
        weights=dict(zip(names, model.coef_.tolist())),
        intercept=float(model.intercept_),
    )
    return score, model


def compare_models(
    train: DataFrame, test: DataFrame, names: Sequence[str], *, C: float = 1.0,
    n_estimators: int = 100, random_state: int = 0,
) -> tuple[list[ModelScore], Any]:
    """rddml's logistic regression and the two scikit-learn references on one split.

    Returns ``([rddml, sklearn logistic, sklearn forest], fitted rddml model)``.
    """
    X_train, y_train = collect_features(train)
    X_test, y_test = collect_features(test)
    if len(np.unique(y_train)) < 2:
        raise DataValidationError("The training split holds a single class; cannot fit.")
    rddml_score, model = rddml_logistic(train, test, names, C=C, n_train=len(y_train))
    references = sklearn_scores(X_train, y_train, X_test, y_test, names, C=C,
                                n_estimators=n_estimators, random_state=random_state)
    return [rddml_score, *references], model
