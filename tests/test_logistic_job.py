"""The logistic-regression job end to end on small files (text and Parquet).

The reference for the fitted figures is a plain NumPy transcription of the write-up's
gradient descent, independent of rddml's kernels.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from jobs.logistic_regression import Config, main
from sklearn.datasets import make_classification

from rddml import LogisticRegression
from rddml.errors import DataValidationError, OutputExistsError
from rddml.io.config import load_config
from test_logistic_kernels import sklearn_logreg

CONF = "conf/jobs/logistic_regression.toml"
SAMPLE = Path("data/samples/classification.txt")


def numpy_writeup_gd(X: np.ndarray, y: np.ndarray, step: float, iterations: int,
                     start: float = 0.1) -> tuple[list[float], np.ndarray]:
    """The write-up's loop: loss and mean gradient at β, then β ← β − step·gradient."""
    Xb = np.column_stack([np.ones(len(X)), X])
    beta = np.full(Xb.shape[1], start)
    losses = []
    for _ in range(iterations):
        p = 1.0 / (1.0 + np.exp(-(Xb @ beta)))
        losses.append(float(np.mean(-(y * np.log(p) + (1 - y) * np.log(1 - p)))))
        beta = beta - step * Xb.T @ (p - y) / len(y)
    return losses, beta


@pytest.fixture(scope="module")
def small_text(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, np.ndarray, np.ndarray]:
    X, y = make_classification(n_samples=400, n_features=2, n_informative=2, n_redundant=0,
                               n_clusters_per_class=1, random_state=4)
    path = tmp_path_factory.mktemp("lr") / "classification.txt"
    np.savetxt(path, np.column_stack([X.astype(str), y.astype(str)]), fmt="%s")
    return path, X, y.astype(float)


def config(*overrides: str) -> Config:
    return load_config(Config, CONF, list(overrides))


def test_text_job_writes_model_metrics_and_plots(spark: Any, tmp_path: Path,
                                                 small_text: Any) -> None:
    path, X, y = small_text
    out = tmp_path / "out"
    summary = main(spark, config(f"input={path}", f"output_dir={out}"))
    losses, beta = numpy_writeup_gd(X, y, step=3.0, iterations=11)
    np.testing.assert_allclose(summary["loss_history"], losses, rtol=1e-12)
    np.testing.assert_allclose(summary["coef"], beta[1:], rtol=1e-10)
    assert summary["intercept"] == pytest.approx(beta[0], rel=1e-10)
    accuracy = float(np.mean((X @ beta[1:] + beta[0] > 0) == (y == 1)))
    assert summary["training_metrics"]["accuracy"] == pytest.approx(accuracy, abs=1e-12)
    assert sorted(p.name for p in out.iterdir()) == [
        "_rddml_manifest.json", "decision_boundary.png", "loss_curve.png", "metrics.json",
        "model"]
    assert json.loads((out / "_rddml_manifest.json").read_text())["job"] == (
        "logistic_regression")
    written = json.loads((out / "metrics.json").read_text())
    assert written["n_rows"] == 400 and written["n_iter"] == 11
    loaded = LogisticRegression.load(str(out / "model"))
    np.testing.assert_array_equal(loaded.coef_, np.array(summary["coef"]))
    assert (out / "loss_curve.png").read_bytes()[:4] == b"\x89PNG"


def test_existing_output_needs_overwrite(spark: Any, tmp_path: Path, small_text: Any) -> None:
    path = small_text[0]
    out = tmp_path / "out"
    out.mkdir()
    with pytest.raises(OutputExistsError, match="already exists"):
        main(spark, config(f"input={path}", f"output_dir={out}"))
    summary = main(spark, config(f"input={path}", f"output_dir={out}", "overwrite=true",
                                 "max_iter=2"))
    assert summary["n_iter"] == 2 and (out / "metrics.json").exists()


def test_bad_line_names_file_and_line_or_is_skipped(spark: Any, tmp_path: Path,
                                                    small_text: Any) -> None:
    lines = small_text[0].read_text().splitlines()
    lines[6] = "0.5 oops 1"
    bad = tmp_path / "bad.txt"
    bad.write_text("\n".join(lines) + "\n")
    with pytest.raises(DataValidationError, match=r"bad\.txt line 7"):
        main(spark, config(f"input={bad}", f"output_dir={tmp_path / 'a'}"))
    summary = main(spark, config(f"input={bad}", f"output_dir={tmp_path / 'b'}",
                                 "on_bad_rows=skip", "max_iter=2"))
    assert summary["rows_skipped"] == 1 and summary["n_rows"] == 399


def test_parquet_job_with_lbfgs_and_weights(spark: Any, tmp_path: Path) -> None:
    rng = np.random.default_rng(2)
    X = rng.normal(size=(300, 3))
    y = (rng.uniform(size=300) < 1 / (1 + np.exp(-(X @ [1.0, -1.0, 0.5])))).astype(float)
    rows = [(float(a), float(b), float(c), float(t), 1.0) for (a, b, c), t in zip(X, y)]
    src = tmp_path / "data.parquet"
    spark.createDataFrame(rows, ["a", "b", "c", "y", "w"]).write.parquet(str(src))
    out = tmp_path / "out"
    summary = main(spark, config(
        f"input={src}", "input_format=parquet", 'feature_cols=["a", "b", "c"]', "label_col=y",
        "weight_col=w", "optimizer=lbfgs", "standardize=true", "init_coef=[]",
        "init_intercept=0.0", "max_iter=100", "tol=1e-8", f"output_dir={out}"))
    reference = sklearn_logreg(C=np.inf, tol=1e-12, max_iter=10_000).fit(X, y)
    np.testing.assert_allclose(summary["coef"], reference.coef_[0], atol=1e-4)
    assert summary["converged"] and not (out / "decision_boundary.png").exists()


@pytest.mark.skipif(not SAMPLE.exists(), reason="the write-up sample is not shipped yet")
def test_shipped_config_reproduces_the_writeup(spark: Any, tmp_path: Path) -> None:
    summary = main(spark, config(f"output_dir={tmp_path / 'out'}"))
    # The write-up printed 0.7985616355198335 ... 0.04591785644633872 with a float32
    # sigmoid; double precision agrees to 5e-9 (see tests/test_logistic_kernels.py).
    assert summary["loss_history"][0] == pytest.approx(0.7985616355198335, abs=5e-9)
    assert summary["loss_history"][-1] == pytest.approx(0.04591785644633872, abs=5e-9)
    assert summary["training_metrics"]["accuracy"] == 0.9945


def test_job_resumes_from_its_checkpoint(spark: Any, tmp_path: Path, small_text: Any) -> None:
    """``checkpoint_dir``: a second run with a larger max_iter continues the first fit and
    ends where a single run ends; metrics.json says where it resumed."""
    path = small_text[0]
    sets = [f"input={path}", "optimizer=lbfgs", "standardize=true", "tol=0",
            f"checkpoint_dir={tmp_path / 'ckpt'}", "checkpoint_interval=2"]
    first = main(spark, config(*sets, "max_iter=3", f"output_dir={tmp_path / 'a'}"))
    assert first["resumed_from_iteration"] == 0 and first["n_iter"] == 3
    resumed = main(spark, config(*sets, "max_iter=6", f"output_dir={tmp_path / 'b'}"))
    whole = main(spark, config(*sets[:-2], "max_iter=6", f"output_dir={tmp_path / 'c'}"))
    assert resumed["resumed_from_iteration"] == 3 and whole["resumed_from_iteration"] == 0
    assert resumed["coef"] == whole["coef"] and resumed["loss_history"] == whole["loss_history"]
    written = json.loads((tmp_path / "b" / "metrics.json").read_text())
    assert written["resumed_from_iteration"] == 3
