"""Driver-side optimisers for logistic regression: GD, SGD, L-BFGS and OWL-QN.

Each solver minimises ``f(θ) + Σ_i l1_i |θ_i|`` where ``f`` (smooth: the mean log loss
plus the L2 term) is a callable returning ``(value, gradient)`` — in rddml one
distributed pass over the data. The solvers only see small vectors, never data;
they import NumPy and SciPy, not Spark.

Every solver records the full objective (with the L1 term) of each point it
evaluated in ``history``, and raises :class:`ConvergenceError` naming the
iteration when the objective becomes non-finite (or, for GD, keeps rising).

Examples
--------
>>> import numpy as np
>>> quad = lambda t: (float(t @ t), 2 * t)
>>> result = gradient_descent(quad, np.array([1.0, -2.0]), step=0.25, max_iter=50, tol=1e-12)
>>> bool(np.abs(result.theta).max() < 1e-6), result.converged
(True, True)
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from rddml.errors import ConvergenceError
from rddml.linear.kernels import (
    lbfgs_direction,
    project_orthant,
    pseudo_gradient,
    soft_threshold,
)

logger = logging.getLogger(__name__)

Objective = Callable[[np.ndarray], tuple[float, np.ndarray]]
#: A mini-batch objective: (iteration, θ) → (value, gradient), or None for an empty batch.
BatchObjective = Callable[[int, np.ndarray], "tuple[float, np.ndarray] | None"]

#: GD stops with an error when the objective stayed above its best value this long.
RISING_PATIENCE = 5
#: ... where "above" means by more than this relative margin (rounding noise at the optimum).
RISE_MARGIN = 1e-9
LBFGS_MEMORY = 10
ARMIJO_C = 1e-4
MAX_BACKTRACKS = 40
DIVERGENCE_HINT = ("Use a smaller step_size, standardize=True, or optimizer='lbfgs' "
                   "(which chooses its own steps).")


@dataclass
class SolverResult:
    """What a solver returns: the parameters, iterations, passes and objective history."""

    theta: np.ndarray
    n_iter: int
    converged: bool
    history: list[float] = field(default_factory=list)
    n_evals: int = 0
    message: str = ""


def l1_value(theta: np.ndarray, l1: np.ndarray | None) -> float:
    """``Σ l1_i |θ_i|`` (0 without an L1 term)."""
    return 0.0 if l1 is None else float(l1 @ np.abs(theta))


def _check_finite(value: float, vector: np.ndarray, iteration: int, optimizer: str,
                  step: float | None) -> None:
    """Raise unless the objective and ``vector`` (its gradient, or the updated parameters)
    are finite."""
    if math.isfinite(value) and np.all(np.isfinite(vector)):
        return
    step_text = f" with step_size={step}" if step is not None else ""
    what = (f"the objective became {value!r}" if not math.isfinite(value)
            else "the gradient or the updated parameters became non-finite")
    raise ConvergenceError(
        f"optimizer={optimizer!r} diverged at iteration {iteration}{step_text}: {what}. "
        f"{DIVERGENCE_HINT}"
    )


def _param_change_small(old: np.ndarray, new: np.ndarray, tol: float) -> bool:
    """Spark MLlib's GD rule: ‖θ_new − θ_old‖ < tol · max(‖θ_new‖, 1)."""
    return float(np.linalg.norm(new - old)) < tol * max(float(np.linalg.norm(new)), 1.0)


def gradient_descent(
    fun: Objective,
    theta0: np.ndarray,
    *,
    step: float,
    max_iter: int,
    tol: float,
    l1: np.ndarray | None = None,
) -> SolverResult:
    """Full-batch (proximal) gradient descent with a fixed step: the write-up's algorithm.

    Iteration t evaluates ``f(θ_t)`` (one pass), records the objective, and moves to
    ``θ_{t+1} = prox(θ_t − step ∇f(θ_t))`` where the prox soft-thresholds the L1
    coordinates (plain GD without L1). Stops after ``max_iter`` updates or when the
    update is smaller than ``tol`` relative to ‖θ‖. A non-finite objective, or one that
    stays above its best value for ``RISING_PATIENCE`` iterations, raises
    :class:`ConvergenceError`.
    """
    theta = np.asarray(theta0, dtype=np.float64).copy()
    history: list[float] = []
    best, best_at, above = math.inf, 0, 0
    converged = False
    it = 0
    for it in range(1, max_iter + 1):
        started = time.perf_counter()
        value, grad = fun(theta)
        total = value + l1_value(theta, l1)
        _check_finite(total, grad, it, "gd", step)
        history.append(total)
        # Below 2/L a fixed step decreases a convex objective every iteration; a step
        # that is too large makes it jump up and oscillate (the logistic loss grows only
        # linearly, so it rarely reaches inf). Staying above the best value for
        # several iterations is the symptom.
        if total < best:
            best, best_at, above = total, it, 0
        elif total <= best + RISE_MARGIN * max(abs(best), 1e-300):
            above = 0  # at the optimum rounding moves the objective by a few ulps
        else:
            above += 1
            if above >= RISING_PATIENCE:
                shown = ", ".join(f"{v:.6g}" for v in history[-RISING_PATIENCE:])
                raise ConvergenceError(
                    f"optimizer='gd' diverged at iteration {it} with step_size={step}: the "
                    f"objective increased and stayed above its best value {best:.6g} "
                    f"(iteration {best_at}) for {RISING_PATIENCE} iterations ({shown}). "
                    f"{DIVERGENCE_HINT}"
                )
        theta, converged = _proximal_step(theta, grad, step, l1, tol, it=it, name="gd",
                                          base_step=step)
        logger.info("gd iteration %d/%d objective=%.10g %.3fs", it, max_iter, total,
                    time.perf_counter() - started)
        if converged:
            break
    return SolverResult(theta, it, converged, history, n_evals=len(history))


def _proximal_step(theta: np.ndarray, grad: np.ndarray, step: float, l1: np.ndarray | None,
                   tol: float, *, it: int, name: str, base_step: float
                   ) -> tuple[np.ndarray, bool]:
    """θ − step·∇, soft-thresholded by step·l1 for an L1 term (non-finite: divergence),
    and whether the change is small enough to stop (MLlib's rule)."""
    new = theta - step * grad
    if l1 is not None:
        new = soft_threshold(new, step * l1)
    _check_finite(0.0, new, it, name, base_step)
    return new, _param_change_small(theta, new, tol)


def stochastic_gradient_descent(
    fun: BatchObjective,
    theta0: np.ndarray,
    *,
    step: float,
    max_iter: int,
    tol: float,
    l1: np.ndarray | None = None,
) -> SolverResult:
    """Mini-batch (proximal) SGD with the decaying step ``step / sqrt(t)`` (Spark MLlib's).

    ``fun(t, θ)`` evaluates a mini-batch objective for iteration ``t``; an empty batch
    (None) skips the update and records nothing. The history holds mini-batch
    objectives, so it is noisy; only a non-finite value is treated as divergence.
    """
    theta = np.asarray(theta0, dtype=np.float64).copy()
    history: list[float] = []
    converged = False
    it = 0
    for it in range(1, max_iter + 1):
        started = time.perf_counter()
        out = fun(it, theta)
        if out is None:
            logger.warning("sgd iteration %d: the mini-batch is empty; no update", it)
            continue
        value, grad = out
        total = value + l1_value(theta, l1)
        _check_finite(total, grad, it, "sgd", step)
        history.append(total)
        step_t = step / math.sqrt(it)
        theta, converged = _proximal_step(theta, grad, step_t, l1, tol, it=it, name="sgd",
                                          base_step=step)
        logger.info("sgd iteration %d/%d batch objective=%.10g %.3fs", it, max_iter, total,
                    time.perf_counter() - started)
        if converged:
            break
    return SolverResult(theta, it, converged, history, n_evals=len(history))


def lbfgs(fun: Objective, theta0: np.ndarray, *, max_iter: int, tol: float) -> SolverResult:
    """SciPy's L-BFGS-B (no bounds) on the smooth objective; one pass per evaluation.

    Converged when the largest gradient component is ≤ ``tol`` or an iteration lowers the
    objective by ≤ ``tol²`` relative — near the optimum the decrease is of the order of
    the squared gradient, so the two tests agree in scale.
    """
    from scipy.optimize import minimize

    history: list[float] = []

    def recorded(theta: np.ndarray) -> tuple[float, np.ndarray]:
        started = time.perf_counter()
        value, grad = fun(theta)
        _check_finite(value, grad, len(history) + 1, "lbfgs", None)
        history.append(value)
        logger.info("lbfgs pass %d objective=%.10g %.3fs", len(history), value,
                    time.perf_counter() - started)
        return value, grad

    res = minimize(recorded, np.asarray(theta0, dtype=np.float64), jac=True,
                   method="L-BFGS-B",
                   options={"maxiter": max_iter, "gtol": tol, "ftol": max(tol * tol, 1e-15),
                            "maxcor": LBFGS_MEMORY, "maxfun": max(15000, 20 * max_iter)})
    _check_finite(float(res.fun), res.x, int(res.nit), "lbfgs", None)
    converged = bool(res.success)
    if not converged:
        # A line search that cannot improve any more at a tiny gradient is convergence.
        converged = float(np.max(np.abs(res.jac))) <= max(tol, 1e-8) if res.jac.size else True
    return SolverResult(np.asarray(res.x), int(res.nit), converged, history,
                        n_evals=len(history), message=str(res.message))


def owlqn(
    fun: Objective, theta0: np.ndarray, l1: np.ndarray, *, max_iter: int, tol: float
) -> SolverResult:
    """OWL-QN (Andrew & Gao 2007): L-BFGS for ``f(θ) + Σ l1_i |θ_i|`` — what Spark MLlib
    runs for L1 / elastic-net logistic regression.

    The search direction is the L-BFGS direction of the pseudo-gradient, with every
    coordinate that disagrees with the steepest descent sign zeroed; the line search
    stays in the orthant chosen at its start, so coefficients reach exactly 0.
    Converged under the same rule as :func:`lbfgs`, on the pseudo-gradient.
    """
    theta = np.asarray(theta0, dtype=np.float64).copy()
    history: list[float] = []

    def evaluate(x: np.ndarray) -> tuple[float, np.ndarray, float]:
        value, grad = fun(x)
        total = value + l1_value(x, l1)
        _check_finite(total, grad, len(history) + 1, "lbfgs (OWL-QN)", None)
        history.append(total)
        return value, grad, total

    _, grad, total = evaluate(theta)
    s_hist: list[np.ndarray] = []
    y_hist: list[np.ndarray] = []
    converged = False
    it = 0
    for it in range(1, max_iter + 1):
        pg = pseudo_gradient(theta, grad, l1)
        if float(np.max(np.abs(pg))) <= tol:
            converged = True
            it -= 1
            break
        direction = lbfgs_direction(pg, s_hist, y_hist)
        direction = np.where(direction * pg < 0, direction, 0.0)
        if float(direction @ pg) >= 0:  # lost descent: restart from steepest descent
            s_hist.clear()
            y_hist.clear()
            direction = -pg
        orthant = np.where(theta != 0, np.sign(theta), np.sign(-pg))
        alpha = 1.0 if s_hist else 1.0 / max(float(np.linalg.norm(pg)), 1.0)
        for _ in range(MAX_BACKTRACKS):
            trial = project_orthant(theta + alpha * direction, orthant)
            _, new_grad, new_total = evaluate(trial)
            if new_total <= total + ARMIJO_C * float(pg @ (trial - theta)):
                break
            alpha *= 0.5
        else:
            logger.info("OWL-QN line search found no decrease at iteration %d", it)
            converged = float(np.max(np.abs(pg))) <= max(tol, 1e-8) * 10
            break
        s, y = trial - theta, new_grad - grad
        if float(s @ y) > 1e-12 * float(np.linalg.norm(s) * np.linalg.norm(y)):
            s_hist.append(s)
            y_hist.append(y)
            if len(s_hist) > LBFGS_MEMORY:
                s_hist.pop(0)
                y_hist.pop(0)
        decrease = (total - new_total) / max(abs(total), abs(new_total), 1.0)
        theta, grad, total = trial, new_grad, new_total
        logger.info("OWL-QN iteration %d/%d objective=%.10g", it, max_iter, total)
        if decrease <= max(tol * tol, 1e-15):
            converged = True
            break
    return SolverResult(theta, it, converged, history, n_evals=len(history))
