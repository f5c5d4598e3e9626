"""Checkpoint and resume of LogisticRegression (checkpoint_dir=...).

For each solver (gd, sgd on mini-batches, L-BFGS, OWL-QN) a fit is interrupted by an
exception raised from the pass function, then run again with the same checkpoint_dir: it
resumes from the last checkpoint and must end exactly where an undisturbed fit ends. The
driver-kill version (a real spark-submit SIGKILLed mid-fit) is in
tests/cluster/test_checkpoint_resume.py. The solver-level tests at the end need no Spark.
"""

from __future__ import annotations

import json
import logging
import math
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from scipy.special import expit
from sklearn.datasets import make_classification

import rddml.linear.logistic as logistic_module
from rddml import BlockDataset, LogisticRegression
from rddml.errors import DataValidationError, InvalidParameterError
from rddml.io.checkpoint import CHECKPOINT_FILE
from rddml.linear import solvers
from test_model_validation import DELETE, field_error, rewrite

X, _y = make_classification(n_samples=1200, n_features=4, n_informative=3, n_redundant=0,
                            flip_y=0.1, class_sep=0.8, random_state=7)
X = X * np.array([1.0, 3.0, 0.5, 2.0]) + np.array([1.0, -2.0, 0.0, 5.0])
Y = _y.astype(float)
INTERVAL = 3

#: optimizer name → (parameters, the pass on which the first run crashes)
CASES: dict[str, tuple[dict[str, Any], int]] = {
    "gd": ({"optimizer": "gd", "step_size": 1.0, "max_iter": 14, "tol": 0.0}, 9),
    "sgd": ({"optimizer": "sgd", "step_size": 0.5, "max_iter": 14, "tol": 0.0,
             "batch_fraction": 0.3, "seed": 11}, 9),
    "lbfgs": ({"optimizer": "lbfgs", "max_iter": 100, "tol": 1e-9, "reg_param": 0.001,
               "class_weight": "balanced"}, 10),
    "owlqn": ({"optimizer": "lbfgs", "max_iter": 100, "tol": 1e-10, "reg_param": 0.03,
               "l1_ratio": 0.5}, 10),
}
SOLVER_LOG = {"gd": "gd", "sgd": "sgd", "lbfgs": "lbfgs", "owlqn": "OWL-QN"}


def rows(X: np.ndarray, y: np.ndarray) -> list[Any]:
    return list(zip(X.tolist(), y.tolist()))


@pytest.fixture(scope="module")
def data(sc: Any) -> Iterator[BlockDataset]:
    with BlockDataset.from_rdd(sc.parallelize(rows(X, Y), 2), labeled=True) as ds:
        yield ds


@pytest.fixture(scope="module")
def undisturbed(data: BlockDataset) -> dict[str, LogisticRegression]:
    return {name: LogisticRegression(**params).fit(data) for name, (params, _) in CASES.items()}


def crash_on_pass(monkeypatch: pytest.MonkeyPatch, n: int) -> None:
    """Make the n-th objective pass (full or mini-batch) of the next fit raise, as a
    killed driver would stop."""
    calls = {"n": 0}

    def crashing(real: Any) -> Any:
        def objective(*args: Any, **kwargs: Any) -> Any:
            calls["n"] += 1
            if calls["n"] == n:
                raise KeyboardInterrupt("driver killed")
            return real(*args, **kwargs)
        return objective

    for name in ("full_objective", "batch_objective"):
        monkeypatch.setattr(logistic_module, name, crashing(getattr(logistic_module, name)))


def no_pass(*args: Any, **kwargs: Any) -> Any:
    raise AssertionError("a pass ran")


def last_logged_iteration(caplog: pytest.LogCaptureFixture, name: str) -> int:
    """The last iteration the solver logged as finished."""
    pattern = re.compile(rf"^{re.escape(SOLVER_LOG[name])} iteration (\d+)/")
    done = [int(m.group(1)) for r in caplog.records if r.name == "rddml.linear.solvers"
            and (m := pattern.match(r.getMessage()))]
    return done[-1] if done else 0


def saved(directory: Path) -> dict[str, Any]:
    doc: dict[str, Any] = json.loads((directory / CHECKPOINT_FILE).read_text())
    return doc


def assert_same_fit(got: LogisticRegression, want: LogisticRegression) -> None:
    np.testing.assert_allclose(got.coef_, want.coef_, rtol=0, atol=1e-9)
    assert got.intercept_ == pytest.approx(want.intercept_, rel=0, abs=1e-9)
    # In fact the resumed fit takes bit-identical steps.
    np.testing.assert_array_equal(got.coef_, want.coef_)
    assert got.loss_history_ == want.loss_history_
    assert (got.n_iter_, got.converged_, got.n_passes_) == (
        want.n_iter_, want.converged_, want.n_passes_)


# ------------------------------------------------------------ crash and resume
@pytest.mark.parametrize("name", list(CASES))
def test_interrupted_fit_resumes_to_the_undisturbed_result(
        name: str, data: BlockDataset, undisturbed: dict[str, LogisticRegression],
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
        caplog: pytest.LogCaptureFixture) -> None:
    params, crash_pass = CASES[name]
    caplog.set_level(logging.DEBUG, logger="rddml")
    crash_on_pass(monkeypatch, crash_pass)
    with pytest.raises(KeyboardInterrupt):
        LogisticRegression(checkpoint_dir=str(tmp_path), checkpoint_interval=INTERVAL,
                           **params).fit(data)
    done = last_logged_iteration(caplog, name)
    checkpointed = done - done % INTERVAL
    assert checkpointed >= INTERVAL, done
    doc = saved(tmp_path)
    assert doc["iteration"] == checkpointed and not doc["final"]
    assert doc["state"]["solver"]["kind"] == name
    if name in ("lbfgs", "owlqn"):  # the quasi-Newton memory is in the state
        assert doc["state"]["solver"]["s"]["shape"][0] >= 1
    monkeypatch.undo()

    caplog.clear()
    # Statistics and class weights come from the checkpoint: no statistics pass.
    monkeypatch.setattr(logistic_module, "label_census_pass", no_pass)
    resumed = LogisticRegression(checkpoint_dir=str(tmp_path), checkpoint_interval=INTERVAL,
                                 **params).fit(data)
    assert resumed.resumed_iteration_ == checkpointed
    assert any(f"resumed from checkpoint {tmp_path / CHECKPOINT_FILE} at iteration "
               f"{checkpointed}/{params['max_iter']}" in r.getMessage() for r in caplog.records)
    assert_same_fit(resumed, undisturbed[name])
    if name == "sgd":
        assert resumed.seed_ == 11
    final = saved(tmp_path)
    assert final["final"] and final["iteration"] == resumed.n_iter_


def test_sgd_without_a_seed_resumes_with_the_seed_it_drew(
        data: BlockDataset, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    params = {**CASES["sgd"][0], "seed": None}
    crash_on_pass(monkeypatch, 8)
    with pytest.raises(KeyboardInterrupt):
        LogisticRegression(checkpoint_dir=str(tmp_path), checkpoint_interval=INTERVAL,
                           **params).fit(data)
    drawn = saved(tmp_path)["state"]["seed"]
    monkeypatch.undo()
    resumed = LogisticRegression(checkpoint_dir=str(tmp_path), checkpoint_interval=INTERVAL,
                                 **params).fit(data)
    assert resumed.seed_ == drawn and resumed.resumed_iteration_ == 6
    assert_same_fit(resumed, LogisticRegression(**{**params, "seed": drawn}).fit(data))


@pytest.mark.parametrize("name", ["gd", "lbfgs"])
def test_a_finished_fit_can_be_continued_with_a_larger_max_iter(
        name: str, data: BlockDataset, undisturbed: dict[str, LogisticRegression],
        tmp_path: Path) -> None:
    params = CASES[name][0]
    first = LogisticRegression(checkpoint_dir=str(tmp_path), **{**params, "max_iter": 4}).fit(data)
    assert first.n_iter_ == 4 and not first.converged_ and saved(tmp_path)["final"]
    more = LogisticRegression(checkpoint_dir=str(tmp_path), **params).fit(data)
    assert more.resumed_iteration_ == 4
    assert_same_fit(more, undisturbed[name])


def test_rerunning_a_finished_fit_runs_no_pass(data: BlockDataset, tmp_path: Path,
                                               monkeypatch: pytest.MonkeyPatch) -> None:
    params = CASES["lbfgs"][0]
    done = LogisticRegression(checkpoint_dir=str(tmp_path), **params).fit(data)
    assert done.converged_
    for name in ("full_objective", "batch_objective", "label_census_pass"):
        monkeypatch.setattr(logistic_module, name, no_pass)  # any pass would fail
    again = LogisticRegression(checkpoint_dir=str(tmp_path), **params).fit(data)
    assert again.resumed_iteration_ == done.n_iter_
    assert_same_fit(again, done)


def test_threshold_and_checkpoint_interval_may_change(data: BlockDataset,
                                                      tmp_path: Path) -> None:
    params = CASES["gd"][0]
    LogisticRegression(checkpoint_dir=str(tmp_path), **{**params, "max_iter": 3}).fit(data)
    again = LogisticRegression(checkpoint_dir=str(tmp_path), threshold=0.7, checkpoint_interval=1,
                               **{**params, "max_iter": 5}).fit(data)
    assert again.resumed_iteration_ == 3 and again.n_iter_ == 5


# ------------------------------------------------------------- other fits refused
def test_checkpoint_with_another_reg_param_is_refused(data: BlockDataset, tmp_path: Path) -> None:
    params = CASES["owlqn"][0]
    LogisticRegression(checkpoint_dir=str(tmp_path), **{**params, "max_iter": 2}).fit(data)
    with pytest.raises(InvalidParameterError,
                       match=rf"'checkpoint_dir' .*{re.escape(str(tmp_path))}.* different "
                             r"LogisticRegression fit: params\.reg_param=0\.05 here but 0\.03 "
                             r"in the checkpoint"):
        LogisticRegression(checkpoint_dir=str(tmp_path), **{**params, "reg_param": 0.05}).fit(data)


def test_checkpoint_of_other_data_of_the_same_shape_is_refused(
        sc: Any, data: BlockDataset, tmp_path: Path) -> None:
    params = CASES["gd"][0]
    LogisticRegression(checkpoint_dir=str(tmp_path), **{**params, "max_iter": 2}).fit(data)
    flipped = Y.copy()
    flipped[17] = 1.0 - flipped[17]  # one label
    with BlockDataset.from_rdd(sc.parallelize(rows(X, flipped), 2), labeled=True) as other:
        assert (other.n_rows, other.n_features) == (data.n_rows, data.n_features)
        with pytest.raises(InvalidParameterError, match=r"data\.content=.* here but"):
            LogisticRegression(checkpoint_dir=str(tmp_path), **params).fit(other)


def test_kmeans_checkpoint_is_refused(data: BlockDataset, tmp_path: Path, sc: Any) -> None:
    from rddml import KMeans

    KMeans(k=2, max_iter=1, seed=0, checkpoint_dir=str(tmp_path)).fit(sc.parallelize(X.tolist()))
    with pytest.raises(InvalidParameterError, match="holds a checkpoint of 'KMeans'"):
        LogisticRegression(checkpoint_dir=str(tmp_path)).fit(data)


@pytest.mark.parametrize(("params", "message"), [
    ({"checkpoint_interval": 0}, r"'checkpoint_interval' parameter must be an int >= 1, got 0"),
    ({"checkpoint_dir": 5}, r"'checkpoint_dir' parameter"),
])
def test_invalid_checkpoint_parameters(data: BlockDataset, params: dict[str, Any],
                                       message: str) -> None:
    with pytest.raises(InvalidParameterError, match=message):
        LogisticRegression(**params).fit(data)


# ------------------------------------------------------------- damaged files
DAMAGE = [
    ("lbfgs", "state.solver.theta.__ndarray__.2", math.nan, "state.solver.theta",
     r"expected finite numbers, found nan at \[2\]"),
    ("lbfgs", "state.solver.theta", {"__ndarray__": [0.0, 1.0], "dtype": "float64",
                                     "shape": [2]},
     "state.solver.theta", r"expected 5 entries, found 2"),
    ("lbfgs", "state.solver.grad", DELETE, "state.solver.grad",
     r"expected an encoded float array of shape \(5,\), found nothing"),
    ("lbfgs", "state.solver.value", math.inf, "state.solver.value",
     r"expected a finite number, found inf"),
    ("lbfgs", "state.solver.memory", 1, "state.solver.s",
     r"expected at most 1 pairs \(state.solver.memory\), found \d+ pairs"),
    ("lbfgs", "state.solver.history", [0.5], "state.solver.history",
     r"expected at least 4 entries \(one per pass\), found 1 entries"),
    ("lbfgs", "state.solver.n_iter", 2, "state.solver.n_iter",
     r"expected 3 \(the checkpoint's iteration\), found 2"),
    ("lbfgs", "state.solver.kind", "gd", "state.solver.kind",
     r"expected 'lbfgs' \(as state.solver_kind\), found 'gd'"),
    ("lbfgs", "state.solver_kind", "owlqn", "state.solver_kind",
     r"expected 'lbfgs' \(from the parameters\), found 'owlqn'"),
    ("lbfgs", "state.solver", None, "state.solver",
     r"expected a JSON object \(null only at iteration 0\), found null"),
    ("lbfgs", "state.feature_std.__ndarray__.1", -1.0, "state.feature_std",
     r"expected numbers >= 0, found -1.0 at \[1\]"),
    ("lbfgs", "state.feature_mean", None, "state.feature_mean",
     r"expected a float array of shape \(4,\) \(params.standardize is true\), found null"),
    ("lbfgs", "state.class_weight", [1.0], "state.class_weight",
     r"expected 2 entries \(the weights of classes 0 and 1\), found 1"),
    ("gd", "state.solver.history.1", DELETE, "state.solver.history",
     r"expected 3 entries \(one per iteration\), found 2 entries"),
    ("gd", "state.solver.best", "low", "state.solver.best",
     r"expected a finite number, found 'low'"),
    ("sgd", "state.seed", None, "state.seed", r"expected an int >= 0, found null"),
]


def checkpoint_after_3(name: str, data: BlockDataset, directory: Path) -> Path:
    """A real checkpoint at iteration 3 of ``name`` (max_iter 3 ends there, final)."""
    params = {**CASES[name][0], "max_iter": 3, "tol": 0.0}
    LogisticRegression(checkpoint_dir=str(directory), **params).fit(data)
    return directory / CHECKPOINT_FILE


@pytest.mark.parametrize(("name", "path", "value", "field", "message"), DAMAGE,
                         ids=[f"{c[0]}:{c[1]}" for c in DAMAGE])
def test_damaged_checkpoint_is_refused(data: BlockDataset, tmp_path: Path, name: str,
                                       path: str, value: Any, field: str,
                                       message: str) -> None:
    file = checkpoint_after_3(name, data, tmp_path)
    rewrite(file, path, value)
    params = {**CASES[name][0], "tol": 0.0}
    with pytest.raises(DataValidationError,
                       match=r"^Checkpoint " + field_error(file, field, message)):
        LogisticRegression(checkpoint_dir=str(tmp_path), **params).fit(data)


def test_memory_pair_of_negative_curvature_is_refused(data: BlockDataset,
                                                     tmp_path: Path) -> None:
    """The two-loop recursion divides by s·y: a pair with s·y <= 0 would break it."""
    file = checkpoint_after_3("lbfgs", data, tmp_path)
    s = saved(tmp_path)["state"]["solver"]["s"]["__ndarray__"]
    rewrite(file, "state.solver.y.__ndarray__.0", [-v for v in s[0]])
    with pytest.raises(DataValidationError, match=r"^Checkpoint " + field_error(
            file, "state.solver.s",
            r"expected pairs of positive curvature s·y > 0, found s·y = -\S+ at \[0\]")):
        LogisticRegression(checkpoint_dir=str(tmp_path), **{**CASES["lbfgs"][0], "tol": 0.0}
                           ).fit(data)


def test_truncated_checkpoint_is_refused(data: BlockDataset, tmp_path: Path) -> None:
    file = checkpoint_after_3("owlqn", data, tmp_path)
    file.write_bytes(file.read_bytes()[:200])
    with pytest.raises(DataValidationError, match=r"^Checkpoint " + re.escape(repr(str(file)))):
        LogisticRegression(checkpoint_dir=str(tmp_path), **CASES["owlqn"][0]).fit(data)


# ------------------------------------------------------- the solvers, no Spark
def quadratic_logistic(seed: int = 0) -> tuple[solvers.Objective, np.ndarray]:
    """A small logistic objective on the driver (NumPy), with an L2 term."""
    rng = np.random.default_rng(seed)
    A = rng.normal(size=(200, 3)) * np.array([1.0, 5.0, 0.2])
    b = (rng.uniform(size=200) < 1 / (1 + np.exp(-(A @ np.array([1.0, -0.5, 3.0]))))) * 1.0

    def fun(theta: np.ndarray) -> tuple[float, np.ndarray]:
        z = A @ theta
        value = float(np.mean(np.logaddexp(0.0, z) - b * z)) + 0.005 * float(theta @ theta)
        grad = A.T @ (expit(z) - b) / len(b) + 0.01 * theta
        return value, grad

    return fun, np.zeros(3)


class Recorder:
    def __init__(self, interval: int) -> None:
        self.interval = interval
        self.states: dict[int, solvers.SolverState] = {}

    def due(self, iteration: int) -> bool:
        return iteration % self.interval == 0

    def save(self, iteration: int, state: solvers.SolverState) -> None:
        self.states[iteration] = state


@pytest.mark.parametrize("kind", ["lbfgs", "owlqn"])
def test_quasi_newton_resumes_from_any_saved_state(kind: str) -> None:
    fun, theta0 = quadratic_logistic()
    l1 = np.full(3, 0.02)

    def run(**kw: Any) -> solvers.SolverResult:
        if kind == "lbfgs":
            return solvers.lbfgs(fun, theta0, max_iter=200, tol=1e-12, **kw)
        return solvers.owlqn(fun, theta0, l1, max_iter=200, tol=1e-12, **kw)

    recorder = Recorder(2)
    full = run(checkpoint=recorder)
    assert full.converged and len(recorder.states) >= 3
    for it, state in recorder.states.items():
        assert state["n_iter"] == it and 1 <= len(state["s"]) <= solvers.LBFGS_MEMORY
        resumed = run(resume=state)
        np.testing.assert_array_equal(resumed.theta, full.theta)
        assert resumed.history == full.history and resumed.n_iter == full.n_iter


def test_own_lbfgs_matches_scipy() -> None:
    from scipy.optimize import minimize

    fun, theta0 = quadratic_logistic(3)
    ours = solvers.lbfgs(fun, theta0, max_iter=100, tol=1e-8)
    ref = minimize(fun, theta0, jac=True, method="L-BFGS-B",
                   options={"gtol": 1e-10, "ftol": 1e-15, "maxiter": 1000})
    assert ours.converged and ours.message
    assert fun(ours.theta)[0] == pytest.approx(float(ref.fun), abs=1e-12)
    np.testing.assert_allclose(ours.theta, ref.x, atol=1e-6)
    assert ours.n_evals <= ref.nfev + 3


def test_wolfe_line_search_meets_both_conditions() -> None:
    fun, theta0 = quadratic_logistic(1)
    f0, g0 = fun(theta0)
    direction = -g0
    slope0 = float(g0 @ direction)

    def phi(alpha: float) -> tuple[float, float, Any]:
        f, g = fun(theta0 + alpha * direction)
        return f, float(g @ direction), g

    for first in (1e-4, 1.0, 1e3):  # too short (extrapolates), and too long (zooms)
        found = solvers.wolfe_line_search(phi, f0, slope0, first)
        assert found is not None
        alpha, f, g = found
        assert f <= f0 + solvers.WOLFE_C1 * alpha * slope0
        assert abs(float(g @ direction)) <= -solvers.WOLFE_C2 * slope0


def test_gd_state_carries_the_divergence_watch() -> None:
    fun, theta0 = quadratic_logistic()
    recorder = Recorder(3)
    full = solvers.gradient_descent(fun, theta0, step=0.5, max_iter=9, tol=0.0,
                                    checkpoint=recorder)
    assert sorted(recorder.states) == [3, 6]  # not after the last iteration: that is final
    state = recorder.states[6]
    assert state["best_at"] == 6 and state["above"] == 0 and math.isfinite(state["best"])
    resumed = solvers.gradient_descent(fun, theta0, step=0.5, max_iter=9, tol=0.0, resume=state)
    np.testing.assert_array_equal(resumed.theta, full.theta)
    assert resumed.history == full.history
