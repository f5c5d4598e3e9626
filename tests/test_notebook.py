"""``notebooks/quickstart.py`` (Databricks source format) runs as a plain script.

The notebook uses the ``spark`` its runtime provides; here the classic test session is
injected into its globals. ``test_connect.py`` runs it under Spark Connect as well.
"""

from __future__ import annotations

import json
import runpy
from pathlib import Path
from typing import Any

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOK = ROOT / "notebooks" / "quickstart.py"
pytestmark = pytest.mark.slow


def test_notebook_is_in_databricks_source_format() -> None:
    text = NOTEBOOK.read_text()
    assert text.startswith("# Databricks notebook source\n")
    cells = text.split("\n# COMMAND ----------\n")
    assert len(cells) >= 8
    assert any(cell.strip().startswith("# MAGIC %md") for cell in cells)
    assert any(cell.strip().startswith("# MAGIC %pip install") for cell in cells)


def test_notebook_runs_against_a_local_session(spark: Any, tmp_path: Path) -> None:
    result = runpy.run_path(str(NOTEBOOK), init_globals={"spark": spark,
                                                         "FIGURE_DIR": str(tmp_path),
                                                         "MODEL_DIR": str(tmp_path)})
    truth = json.loads((ROOT / "data" / "samples" / "blobs.json").read_text())["true_centers"]
    centres = result["km"].cluster_centers_
    np.testing.assert_allclose(centres[np.lexsort(centres.T[::-1])], np.array(sorted(truth)),
                               atol=0.1)
    assert result["metrics"]["accuracy"] > 0.9
    assert 0.9 < result["metrics"]["auc"] <= 1.0
    # The text pipeline: saved (under MODEL_DIR), loaded back, as accurate as pyspark.ml's.
    accuracy = result["text_accuracy"]
    assert accuracy["rddml.ml (saved and loaded)"] > 0.9
    assert abs(accuracy["rddml.ml (saved and loaded)"] - accuracy["pyspark.ml"]) <= 0.01
    assert (tmp_path / "text_model" / "stages").is_dir()
    # Without Databricks' `display`, figures are saved to FIGURE_DIR.
    assert sorted(p.name for p in tmp_path.glob("*.png")) == ["kmeans_clusters.png",
                                                               "logistic_regression.png"]
