"""The documentation holds: links resolve, the README stays a front page, its examples run.

The README's Python blocks are executed as a notebook would run them (``spark`` given, every
other name defined in the block) on the shipped samples, and their results are compared with
scikit-learn fitted on the same files.
"""

from __future__ import annotations

import re
import unicodedata
from pathlib import Path
from typing import Any

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[1]
SAMPLES = ROOT / "data" / "samples"
README = ROOT / "README.md"
DOC_FILES = [README, ROOT / "CONTRIBUTING.md", *sorted((ROOT / "docs").rglob("*.md"))]

# [text](target) and ![alt](target); the target ends at whitespace or ")".
LINK = re.compile(r"!?\[[^\]]*\]\(([^)\s]+)(?:\s+\"[^\"]*\")?\)")
FENCE = re.compile(r"^```.*?^```", re.MULTILINE | re.DOTALL)
PYTHON_BLOCK = re.compile(r"^```python\n(.*?)^```", re.MULTILINE | re.DOTALL)


def github_anchor(heading: str) -> str:
    """The anchor GitHub gives a Markdown heading: lower case, punctuation dropped (letters,
    digits, ``_``, ``-`` and spaces kept), spaces turned into hyphens."""
    text = re.sub(r"`|\*\*|\*", "", heading.strip()).lower()
    text = "".join(c for c in text if c in " -_" or unicodedata.category(c)[0] in "LN")
    return text.replace(" ", "-")


def anchors(markdown: str) -> set[str]:
    """Every heading anchor of a page, with GitHub's ``-1``, ``-2`` suffixes for repeats."""
    found: set[str] = set()
    for line in FENCE.sub("", markdown).splitlines():
        match = re.match(r"#{1,6}\s+(.*)", line)
        if match:
            base = github_anchor(match.group(1))
            anchor, n = base, 0
            while anchor in found:
                n += 1
                anchor = f"{base}-{n}"
            found.add(anchor)
    return found


def relative_links(path: Path) -> list[str]:
    """The relative link targets of a Markdown file, outside code blocks and spans."""
    text = re.sub(r"`[^`\n]*`", "", FENCE.sub("", path.read_text(encoding="utf-8")))
    return [t for t in LINK.findall(text) if not re.match(r"[a-z][a-z0-9+.-]*:", t)]


@pytest.mark.parametrize("page", DOC_FILES, ids=lambda p: str(p.relative_to(ROOT)))
def test_every_relative_link_resolves_to_a_file_and_anchor(page: Path) -> None:
    broken = []
    for target in relative_links(page):
        file_part, _, anchor = target.partition("#")
        resolved = (page.parent / file_part).resolve() if file_part else page
        if not resolved.exists():
            broken.append(f"{target}: no such file {resolved}")
        elif anchor and resolved.suffix == ".md" and anchor not in anchors(
                resolved.read_text(encoding="utf-8")):
            broken.append(f"{target}: no heading with anchor #{anchor} in {resolved.name}")
    assert not broken, f"{page.relative_to(ROOT)}: " + "; ".join(broken)


def test_the_anchor_rule_matches_githubs() -> None:
    assert github_anchor("Checkpoints: surviving the driver") == "checkpoints-surviving-the-driver"
    assert github_anchor("Shipping the environment: `--profile cluster` packs it") == (
        "shipping-the-environment---profile-cluster-packs-it")
    assert anchors("# A\n## A\n```\n# not a heading\n```\n") == {"a", "a-1"}


def test_the_link_checker_sees_a_broken_link(tmp_path: Path) -> None:
    page = tmp_path / "page.md"
    page.write_text("[ok](page.md) [web](https://example.org) `[code](nowhere.md)` "
                    "[broken](missing.md#x)\n", encoding="utf-8")
    assert relative_links(page) == ["page.md", "missing.md#x"]


def test_readme_is_a_front_page_of_at_most_300_lines() -> None:
    lines = README.read_text(encoding="utf-8").splitlines()
    assert len(lines) <= 300, f"README.md has {len(lines)} lines"


# ----------------------------------------------------------------- README's examples
def readme_blocks() -> dict[str, str]:
    """The README's Python blocks by the rddml import that identifies each."""
    blocks = PYTHON_BLOCK.findall(README.read_text(encoding="utf-8"))
    named: dict[str, str] = {}
    for block in blocks:
        match = re.search(r"^from (rddml(?:\.ml)?) import (\w+)", block, re.MULTILINE)
        assert match, f"a README Python block without an rddml import:\n{block}"
        named[f"{match.group(1)}.{match.group(2)}"] = block
    assert len(named) == len(blocks), "two README blocks import the same rddml class"
    return named


def run_block(code: str, spark: Any) -> dict[str, Any]:
    """Run a README block as a notebook cell with ``spark`` defined, the sample paths made
    absolute (Spark resolves relative paths against its JVM's working directory)."""
    code = code.replace('"data/samples/', f'"{SAMPLES}/')
    namespace: dict[str, Any] = {"spark": spark, "__name__": "readme"}
    exec(compile(code, str(README), "exec"), namespace)  # the README's own code
    return namespace


def test_every_readme_python_block_is_executed_below() -> None:
    assert set(readme_blocks()) == {"rddml.KMeans", "rddml.ml.KMeans",
                                    "rddml.LogisticRegression", "rddml.ml.LogisticRegression"}


@pytest.fixture(scope="module")
def sklearn_centres() -> np.ndarray:
    from sklearn.cluster import KMeans as SkKMeans

    X = np.loadtxt(SAMPLES / "blobs.csv", delimiter=",")
    return SkKMeans(n_clusters=5, n_init=10, random_state=0).fit(X).cluster_centers_


def max_centre_distance(found: np.ndarray, reference: np.ndarray) -> float:
    """Largest distance from a reference centre to its match (one-to-one, best matching)."""
    from scipy.optimize import linear_sum_assignment

    cost = np.linalg.norm(reference[:, None, :] - found[None, :, :], axis=2)
    rows, cols = linear_sum_assignment(cost)
    assert len(rows) == len(reference) == len(found)
    return float(cost[rows, cols].max())


def assert_labels_are_closest_centres(clustered: Any, centres: np.ndarray) -> None:
    """Every row of the sample is labelled with the index of its closest centre (NumPy)."""
    rows = clustered.select("x", "y", "prediction").toPandas()
    distances = np.linalg.norm(rows[["x", "y"]].to_numpy()[:, None, :] - centres, axis=2)
    assert len(rows) == 10_000
    np.testing.assert_array_equal(rows["prediction"].to_numpy(), distances.argmin(axis=1))


def test_readme_kmeans_finds_sklearns_centres(spark: Any, sklearn_centres: np.ndarray) -> None:
    ns = run_block(readme_blocks()["rddml.KMeans"], spark)
    assert max_centre_distance(ns["km"].cluster_centers_, sklearn_centres) < 0.05
    assert_labels_are_closest_centres(ns["clustered"], ns["km"].cluster_centers_)


def test_readme_pyspark_ml_kmeans_finds_sklearns_centres(
        spark: Any, sklearn_centres: np.ndarray) -> None:
    ns = run_block(readme_blocks()["rddml.ml.KMeans"], spark)
    assert max_centre_distance(np.array(ns["centres"]), sklearn_centres) < 0.05
    assert_labels_are_closest_centres(ns["clustered"], np.array(ns["centres"]))


def test_readme_logistic_regression_classifies_the_samples(spark: Any) -> None:
    from sklearn.linear_model import LogisticRegression as SkLogisticRegression

    ns = run_block(readme_blocks()["rddml.LogisticRegression"], spark)
    assert ns["metrics"]["accuracy"] >= 0.99 and ns["metrics"]["auc"] >= 0.99
    # The same rows through scikit-learn (nearly unpenalised): the same predictions.
    test = ns["test"].toPandas()
    train = ns["train"].toPandas()
    reference = SkLogisticRegression(C=1e4, max_iter=1000).fit(train[["x1", "x2"]], train["label"])
    ours = ns["lr"].predict(test[["x1", "x2"]].to_numpy())
    assert np.mean(ours == reference.predict(test[["x1", "x2"]])) >= 0.995


def test_readme_pyspark_ml_logistic_regression_classifies_the_samples(spark: Any) -> None:
    ns = run_block(readme_blocks()["rddml.ml.LogisticRegression"], spark)
    assert ns["auc"] >= 0.99
    scored = ns["model"].transform(ns["test"]).select("label", "prediction").toPandas()
    assert np.mean(scored["label"] == scored["prediction"]) >= 0.99
