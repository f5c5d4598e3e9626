"""The layer rules of docs/architecture.md, checked on every module's import statements.

Each rule names the modules it constrains and what they must not import; a new import
that breaks a layer fails here with the module, the line and the rule. Imports under
``if TYPE_CHECKING:`` are annotations only and never count.
"""

from __future__ import annotations

import ast
import functools
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

LIB = Path(__file__).resolve().parents[1] / "lib"

#: Old import paths kept as warning re-exports (rddml._moved): they import their new home,
#: wherever it is, and nothing imports them.
DEPRECATED = {"rddml.csv_input", "rddml.datasets", "rddml.data.text", "rddml.data.parquet",
              "rddml.data.datasets"}

#: NumPy-only modules: the math of the algorithms and the data formats. No Spark, no
#: engine plumbing: they run (and are tested) on plain arrays.
NUMPY_ONLY = {
    "rddml.labels", "rddml.cluster.kernels", "rddml.cluster.fused", "rddml.cluster.blas",
    "rddml.linear.kernels",
    "rddml.linear.fused", "rddml.linear.softmax", "rddml.linear.solvers",
    "rddml.engine.census", "rddml.engine.cutting", "rddml.engine.records", "rddml.engine.precision",
    "rddml.engine.counter_rng", "rddml.engine.content_keys", "rddml.engine.sparse",
    "rddml.linear.sparse_kernels", "rddml.cluster.sparse_kernels",
}
#: What NumPy-only modules may import from rddml besides each other.
FOUNDATION = ("rddml.errors", "rddml.params", "rddml._jit", "rddml._version")
SPARK = ("pyspark", "py4j")


@dataclass(frozen=True)
class Import:
    module: str  # the importing module
    target: str  # the imported module (for "from a import b": "a" and "a.b")
    line: int


def module_name(path: Path) -> str:
    parts = path.relative_to(LIB).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _type_checking_nodes(tree: ast.AST) -> set[int]:
    inside: set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            inside.update(id(n) for stmt in node.body for n in ast.walk(stmt))
    return inside


def imports_of(path: Path) -> Iterator[Import]:
    """Every import statement of a module, at any depth (functions included), except
    those under ``if TYPE_CHECKING:``; relative imports resolved."""
    name = module_name(path)
    tree = ast.parse(path.read_text(encoding="utf-8"))
    skip = _type_checking_nodes(tree)
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    for node in ast.walk(tree):
        if id(node) in skip:
            continue
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield Import(name, alias.name, node.lineno)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")
                anchor = anchor[: len(anchor) - node.level + 1]
                base = ".".join([*anchor, base] if base else anchor)
            # "from package import module" imports the module; "from module import name"
            # the module.
            submodules = [f"{base}.{a.name}" for a in node.names if f"{base}.{a.name}" in MODULES]
            for target in submodules or [base]:
                yield Import(name, target, node.lineno)


MODULES = frozenset(module_name(p) for p in LIB.rglob("*.py"))


@functools.cache
def all_imports() -> tuple[Import, ...]:
    found = []
    for path in sorted(LIB.rglob("*.py")):
        if module_name(path) not in DEPRECATED:
            found.extend(imports_of(path))
    return tuple(found)


def within(name: str, *packages: str) -> bool:
    return any(name == p or name.startswith(p + ".") for p in packages)


def _rddml_module(target: str) -> bool:
    return within(target, "rddml")


RULES = {
    "the engine imports no algorithm, adapter or job support (data flows one way)":
        lambda i: within(i.module, "rddml.engine")
        and within(i.target, "rddml.cluster", "rddml.linear", "rddml.ml", "rddml.heart",
                   "rddml.io", "rddml.bench"),
    "algorithms reach Spark only through the engine (no pyspark or py4j in cluster/, linear/)":
        lambda i: within(i.module, "rddml.cluster", "rddml.linear") and within(i.target, *SPARK),
    "NumPy-only modules import neither Spark nor anything above the foundation":
        lambda i: i.module in NUMPY_ONLY
        and (within(i.target, *SPARK)
             or (_rddml_module(i.target) and i.target != "rddml"
                 and not within(i.target, *FOUNDATION, *NUMPY_ONLY))),
    "data formats (rddml.data) import no Spark and no engine":
        lambda i: within(i.module, "rddml.data") and within(i.target, *SPARK, "rddml.engine"),
    "job support (rddml.io) imports no estimator, adapter or benchmark":
        lambda i: within(i.module, "rddml.io")
        and within(i.target, "rddml.cluster", "rddml.linear", "rddml.ml", "rddml.heart",
                   "rddml.bench"),
    "only the heart study and the benchmark import the pyspark.ml adapters (rddml.ml)":
        lambda i: within(i.target, "rddml.ml")
        and not within(i.module, "rddml.ml", "rddml.heart", "rddml.bench"),
    "nothing in the library imports the heart study or the benchmark helpers":
        lambda i: within(i.target, "rddml.heart", "rddml.bench")
        and not within(i.module, "rddml.heart", "rddml.bench"),
}


@pytest.mark.parametrize("rule", sorted(RULES))
def test_layer_rule_holds(rule: str) -> None:
    broken = [f"{i.module} line {i.line} imports {i.target}"
              for i in all_imports() if RULES[rule](i)]
    assert not broken, f"{rule}:\n" + "\n".join(sorted(set(broken)))


def test_jvm_internals_are_touched_only_in_the_engine() -> None:
    """py4j objects (``_jvm``, ``_jsc``, ``_jdf``, ``_gateway``) are Spark internals: only
    the engine talks to them (the benchmark's process census reads the gateway's PID)."""
    found = []
    for path in sorted(LIB.rglob("*.py")):
        name = module_name(path)
        if within(name, "rddml.engine", "rddml.bench"):
            continue
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Attribute) and node.attr in ("_jvm", "_jsc", "_jdf", "_gateway"):
                found.append(f"{name} line {node.lineno}: .{node.attr}")
    assert not found, "\n".join(found)


def test_no_import_cycles_at_module_level() -> None:
    """Modules importing each other at load time (a cycle) make the import order matter;
    function-level imports are the deliberate way to defer one."""
    graph: dict[str, set[str]] = {}
    modules = {module_name(p) for p in LIB.rglob("*.py")}
    for path in sorted(LIB.rglob("*.py")):
        name = module_name(path)
        tree = ast.parse(path.read_text(encoding="utf-8"))
        skip = _type_checking_nodes(tree)
        top = [n for n in tree.body if id(n) not in skip]
        for node in top:
            targets: list[str] = []
            if isinstance(node, ast.Import):
                targets = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
                targets = [node.module, *(f"{node.module}.{a.name}" for a in node.names)]
            graph.setdefault(name, set()).update(t for t in targets if t in modules and t != name)
    state: dict[str, int] = {}
    cycles: list[list[str]] = []

    def visit(node: str, path: list[str]) -> None:
        state[node] = 1
        for nxt in sorted(graph.get(node, ())):
            if state.get(nxt) == 1:
                cycles.append([*path[path.index(nxt):], nxt] if nxt in path else [node, nxt])
            elif nxt not in state:
                visit(nxt, [*path, nxt])
        state[node] = 2

    for mod in sorted(graph):
        if mod not in state:
            visit(mod, [mod])
    # A package's __init__ importing its own submodule is not a cycle of concern.
    real = [c for c in cycles if not all(within(m, c[0]) or within(c[0], m) for m in c)]
    assert not real, "\n".join(" -> ".join(c) for c in real)


def test_the_rules_see_a_breach() -> None:
    """The checker itself: a NumPy-only module importing pyspark, and the engine importing
    an estimator, are both caught (guards against a rule that never matches)."""
    numpy_breach = Import("rddml.cluster.kernels", "pyspark.sql", 1)
    engine_breach = Import("rddml.engine.blocks", "rddml.linear.logistic", 1)
    fired = {rule for rule, check in RULES.items() if check(numpy_breach) or check(engine_breach)}
    assert "NumPy-only modules import neither Spark nor anything above the foundation" in fired
    assert "the engine imports no algorithm, adapter or job support (data flows one way)" in fired
