"""scikit-learn's parameter protocol on both estimators, and the package's import graph."""

from __future__ import annotations

import ast
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from sklearn.base import clone

from rddml import KMeans, LogisticRegression
from rddml.errors import InvalidParameterError

LIB = Path(__file__).resolve().parents[1] / "lib"


@pytest.mark.parametrize("estimator", [
    KMeans(k=4, init=np.zeros((4, 2)), seed=3, distance="cosine", feature_cols=["a", "b"]),
    LogisticRegression(reg_param=0.1, class_weight={0: 1.0, 1: 2.0}, init_coef=[0.5, 0.5]),
], ids=["kmeans", "logistic"])
def test_sklearn_clone_copies_every_parameter_and_no_fitted_state(estimator: Any) -> None:
    estimator.coef_ = np.ones(2)  # fitted state must not travel with a clone
    copy = clone(estimator)
    assert type(copy) is type(estimator) and copy is not estimator
    assert set(copy.get_params()) == set(estimator.get_params(deep=True))
    for name, value in estimator.get_params().items():
        np.testing.assert_equal(copy.get_params()[name], value)
    assert not hasattr(copy, "coef_")


def test_set_params_sets_and_rejects_unknown_names() -> None:
    km = KMeans()
    assert km.set_params(k=7, tol=0.5) is km
    assert (km.k, km.tol) == (7, 0.5)
    with pytest.raises(InvalidParameterError, match="Invalid parameter 'kk' for KMeans"):
        km.set_params(kk=3)
    lr = LogisticRegression().set_params(reg_param=0.3)
    assert lr.get_params()["reg_param"] == 0.3


def test_get_params_lists_exactly_the_constructor_arguments() -> None:
    assert "backend" in KMeans().get_params() and "aggregation" in KMeans().get_params()
    assert "optimizer" in LogisticRegression().get_params(deep=False)
    assert len(KMeans().get_params()) == 19
    for est in (KMeans(), LogisticRegression()):
        assert (est.get_params()["kernels"], est.get_params()["dtype"]) == (None, "float64")
        assert est.get_params()["layout"] == "auto"


def _module_imports(path: Path, package_root: Path) -> set[str]:
    """rddml modules imported at module level (not inside functions or TYPE_CHECKING)."""
    tree = ast.parse(path.read_text())
    found: set[str] = set()
    for node in tree.body:
        if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("rddml"):
            found.add(node.module)
            for alias in node.names:  # "from rddml.io import tracking" imports a module
                candidate = f"{node.module}.{alias.name}"
                if (package_root / (candidate.replace(".", "/") + ".py")).exists():
                    found.add(candidate)
        elif isinstance(node, ast.Import):
            found.update(a.name for a in node.names if a.name.startswith("rddml"))
    return found


def test_no_import_cycle_inside_rddml() -> None:
    graph: dict[str, set[str]] = {}
    for path in (LIB / "rddml").rglob("*.py"):
        parts = path.relative_to(LIB).with_suffix("").parts
        name = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
        graph[name] = _module_imports(path, LIB)
    # An import of rddml.a.b also runs the package rddml.a's __init__ (unless the importer
    # is inside rddml.a: then that __init__ is already running, the usual package pattern).
    for module, deps in graph.items():
        for dep in list(deps):
            parts = dep.split(".")
            deps.update(parent for parent in (".".join(parts[:i]) for i in range(2, len(parts)))
                        if not module.startswith(parent + "."))
    state: dict[str, int] = {}

    def visit(node: str, stack: list[str]) -> None:
        state[node] = 1
        for dep in sorted(graph.get(node, ())):
            if dep == node or dep not in graph:
                continue
            assert state.get(dep) != 1, "import cycle: " + " -> ".join([*stack, node, dep])
            if dep not in state:
                visit(dep, [*stack, node])
        state[node] = 2

    for module in sorted(graph):
        if module not in state:
            visit(module, [])
    assert len(graph) > 40  # the walk saw the whole package
