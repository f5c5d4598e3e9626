"""Driver-side optimisers for logistic regression: GD, SGD, L-BFGS and OWL-QN.

Each solver minimises ``f(θ) + Σ_i l1_i |θ_i|`` where ``f`` (smooth: the mean log loss
plus the L2 term) is a callable returning ``(value, gradient)`` — in rddml one
distributed pass over the data. The solvers only see small vectors, never data;
they import NumPy, not Spark.

Every solver records the full objective (with the L1 term) of each point it
evaluated in ``history``, and raises :class:`ConvergenceError` naming the
iteration when the objective becomes non-finite (or, for GD, keeps rising).

Resuming. Every solver can hand its state to a :class:`Checkpointer` after an
iteration and start again from such a state (``resume=``): the state holds everything
the next iterations depend on — the parameters, the iteration count, the history, and
per solver the divergence watch of GD, and for L-BFGS and OWL-QN the objective and
gradient at the current point and the last ``LBFGS_MEMORY`` curvature pairs ``(s, y)``.
States are taken between iterations, where no line search is under way (each line
search starts from the current point, its slope and a first step fixed by whether the
memory is empty), so a resumed solver takes exactly the steps an uninterrupted one takes.
That is why L-BFGS is rddml's own (two-loop recursion and a strong-Wolfe line search)
rather than SciPy's L-BFGS-B, whose internal state cannot be saved.

Examples
--------
>>> import numpy as np
>>> quad = lambda t: (float(t @ t), 2 * t)
>>> result = gradient_descent(quad, np.array([1.0, -2.0]), step=0.25, max_iter=50, tol=1e-12)
>>> bool(np.abs(result.theta).max() < 1e-6), result.converged
(True, True)
>>> bool(np.abs(lbfgs(quad, np.array([3.0, 1.0]), max_iter=20, tol=1e-9).theta).max() < 1e-9)
True
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol, TypedDict

import numpy as np

from rddml.errors import ConvergenceError
from rddml.linear.kernels import (
    lbfgs_direction,
    project_orthant,
    pseudo_gradient,
    soft_threshold,
)

if TYPE_CHECKING:
    from typing_extensions import NotRequired, Unpack

logger = logging.getLogger(__name__)

Objective = Callable[[np.ndarray], tuple[float, np.ndarray]]
#: A mini-batch objective: (iteration, θ) → (value, gradient), or None for an empty batch.
BatchObjective = Callable[[int, np.ndarray], "tuple[float, np.ndarray] | None"]
#: A solver's state between two iterations (see :class:`Checkpointer`).
SolverState = dict[str, Any]

#: GD stops with an error when the objective stayed above its best value this long.
RISING_PATIENCE = 5
#: ... where "above" means by more than this relative margin (rounding noise at the optimum).
RISE_MARGIN = 1e-9
#: Curvature pairs (s, y) kept by L-BFGS and OWL-QN.
LBFGS_MEMORY = 10
ARMIJO_C = 1e-4
MAX_BACKTRACKS = 40
#: Strong Wolfe conditions of the L-BFGS line search (sufficient decrease, curvature).
WOLFE_C1 = 1e-4
WOLFE_C2 = 0.9
#: Objective evaluations (passes) one L-BFGS line search may spend.
MAX_LINE_SEARCH = 20
#: Largest first step along the steepest descent direction (as SciPy's L-BFGS-B).
MAX_FIRST_STEP = 1e10
DIVERGENCE_HINT = ("Use a smaller step_size, standardize=True, or optimizer='lbfgs' "
                   "(which chooses its own steps).")
#: What a gradient beyond double precision means: features (or weights) so large that
#: squares overflow, which no step size or optimizer can work around.
SCALE_HINT = ("The features (or the sample weights) are too large: values whose squares "
              "overflow (|x| near 1e154 or more) cannot be fitted in double precision. "
              "Rescale them before fitting (divide each feature by a power of ten or by "
              "its standard deviation).")


class Checkpointer(Protocol):
    """Where a solver hands its state: ``due(it)`` says whether the state after iteration
    ``it`` should be saved, ``save(it, state)`` saves it. The solver asks only after an
    iteration that did not end the run (the final state is :attr:`SolverResult.state`)."""

    def due(self, iteration: int) -> bool: ...

    def save(self, iteration: int, state: SolverState) -> None: ...


class SolverOptions(TypedDict):
    """The keywords every solver takes: stop after ``max_iter`` iterations or at its ``tol``
    rule; ``resume``: a state to continue from (:attr:`SolverResult.state`);
    ``checkpoint``: where to hand the state between iterations; ``on_iteration``: called
    with the number and objective of every iteration (progress displays)."""

    max_iter: int
    tol: float
    resume: NotRequired[Mapping[str, Any] | None]
    checkpoint: NotRequired[Checkpointer | None]
    on_iteration: NotRequired[Callable[[int, float], None] | None]


@dataclass(frozen=True)
class _Run:
    """A solver's :class:`SolverOptions`: its stopping settings, start and checkpoints."""

    max_iter: int
    tol: float
    resume: Mapping[str, Any] | None = None
    checkpoint: Checkpointer | None = None
    on_iteration: Callable[[int, float], None] | None = None

    def start(self, kind: str, theta0: np.ndarray, history: list[float]
              ) -> tuple[np.ndarray, int, bool, bool]:
        """``(θ, iterations, converged, stopped)``: ``θ0`` before any iteration, or the
        resumed state (its history then fills ``history``)."""
        if self.resume is None:
            return np.asarray(theta0, dtype=np.float64).copy(), 0, False, False
        if self.resume.get("kind") != kind:
            raise ValueError(
                f"cannot resume a {kind} solver from a {self.resume.get('kind')!r} state")
        history.extend(float(v) for v in self.resume["history"])
        return (np.asarray(self.resume["theta"], dtype=np.float64).copy(),
                int(self.resume["n_iter"]), bool(self.resume["converged"]),
                bool(self.resume["stopped"]))

    def save(self, it: int, stopped: bool, state: Callable[[], SolverState], value: float
             ) -> None:
        """After iteration ``it`` (objective ``value``): report it, and save the state when
        due and the run goes on."""
        if self.on_iteration is not None:
            self.on_iteration(it, value)
        checkpoint = self.checkpoint
        if checkpoint is not None and not stopped and it < self.max_iter and checkpoint.due(it):
            checkpoint.save(it, state())


@dataclass
class SolverResult:
    """What a solver returns: the parameters, iterations, passes and objective history,
    and its final state (from which ``resume=`` continues, e.g. with a larger
    ``max_iter``)."""

    theta: np.ndarray
    n_iter: int
    converged: bool
    history: list[float] = field(default_factory=list)
    n_evals: int = 0
    message: str = ""
    state: SolverState = field(default_factory=dict)
    #: The quasi-Newton solvers' objective at the start and after each iteration
    #: (``n_iter + 1`` values: pyspark.ml's ``objectiveHistory``); None for GD and SGD,
    #: whose ``history`` is already one value per iteration.
    path: list[float] | None = None


def l1_value(theta: np.ndarray, l1: np.ndarray | None) -> float:
    """``Σ l1_i |θ_i|`` (0 without an L1 term)."""
    return 0.0 if l1 is None else float(l1 @ np.abs(theta))


def _check_finite(value: float, vector: np.ndarray, iteration: int, optimizer: str,
                  step: float | None, what: str = "gradient") -> None:
    """Raise unless the objective and ``vector`` (``what``: the gradient, or the updated
    parameters) are finite, and ``vector``'s squared norm is too: every solver takes it
    (step sizes, curvature pairs, convergence tests), and when it overflows an L-BFGS run
    stops at its start and returns the starting point as if nothing were wrong."""
    if math.isfinite(value) and np.all(np.isfinite(vector)):
        with np.errstate(over="ignore"):
            squared = float(vector @ vector)
        if math.isfinite(squared):
            return
        if what != "gradient" and step is not None:
            # The step overshot: the features are fine, the parameters ran away.
            raise ConvergenceError(
                f"optimizer={optimizer!r} diverged at iteration {iteration} with "
                f"step_size={step}: the {what} became too large for double precision "
                f"(largest component {float(np.max(np.abs(vector))):.3g}). {DIVERGENCE_HINT}"
            )
        raise ConvergenceError(
            f"optimizer={optimizer!r} cannot continue at iteration {iteration}: the "
            f"{what} is too large for double precision (largest component "
            f"{float(np.max(np.abs(vector))):.3g}; its squared norm overflows). {SCALE_HINT}"
        )
    step_text = f" with step_size={step}" if step is not None else ""
    problem = (f"the objective became {value!r}" if not math.isfinite(value)
               else "the gradient or the updated parameters became non-finite")
    raise ConvergenceError(
        f"optimizer={optimizer!r} diverged at iteration {iteration}{step_text}: {problem}. "
        f"{DIVERGENCE_HINT}"
    )


def _param_change_small(old: np.ndarray, new: np.ndarray, tol: float) -> bool:
    """Spark MLlib's GD rule: ‖θ_new − θ_old‖ < tol · max(‖θ_new‖, 1)."""
    return float(np.linalg.norm(new - old)) < tol * max(float(np.linalg.norm(new)), 1.0)


def _base_state(kind: str, theta: np.ndarray, n_iter: int, history: list[float],
                converged: bool, stopped: bool) -> SolverState:
    """The fields every solver state has. ``stopped``: the solver ended by its own rule
    (converged, or a line search that found no decrease), so resuming runs no iteration;
    a run that only reached ``max_iter`` is not stopped and can be continued."""
    return {"kind": kind, "theta": theta.copy(), "n_iter": int(n_iter),
            "history": [float(v) for v in history], "converged": bool(converged),
            "stopped": bool(stopped)}


# ------------------------------------------------------------------------ GD
def gradient_descent(fun: Objective, theta0: np.ndarray, *, step: float,
                     l1: np.ndarray | None = None, **options: Unpack[SolverOptions]
                     ) -> SolverResult:
    """Full-batch (proximal) gradient descent with a fixed step: the write-up's algorithm.

    Iteration t evaluates ``f(θ_t)`` (one pass), records the objective, and moves to
    ``θ_{t+1} = prox(θ_t − step ∇f(θ_t))`` where the prox soft-thresholds the L1
    coordinates (plain GD without L1). Stops after ``max_iter`` updates or when the
    update is smaller than ``tol`` relative to ‖θ‖. A non-finite objective, or one that
    stays above its best value for ``RISING_PATIENCE`` iterations, raises
    :class:`ConvergenceError`. The state adds that watch: ``best``, ``best_at``, ``above``.
    """
    run = _Run(**options)
    max_iter, tol, resume = run.max_iter, run.tol, run.resume
    history: list[float] = []
    theta, it, converged, _ = run.start("gd", theta0, history)
    best, best_at, above = math.inf, 0, 0
    if resume is not None:
        best, best_at, above = float(resume["best"]), int(resume["best_at"]), int(resume["above"])

    def state() -> SolverState:
        return {**_base_state("gd", theta, it, history, converged, converged),
                "best": best, "best_at": best_at, "above": above}

    while it < max_iter and not converged:
        it += 1
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
        logger.debug("gd iteration %d/%d objective=%.10g %.3fs", it, max_iter, total,
                     time.perf_counter() - started)
        run.save(it, converged, state, total)
    return SolverResult(theta, it, converged, history, n_evals=len(history), state=state())


def _proximal_step(theta: np.ndarray, grad: np.ndarray, step: float, l1: np.ndarray | None,
                   tol: float, *, it: int, name: str, base_step: float
                   ) -> tuple[np.ndarray, bool]:
    """θ − step·∇, soft-thresholded by step·l1 for an L1 term (non-finite: divergence),
    and whether the change is small enough to stop (MLlib's rule)."""
    new = theta - step * grad
    if l1 is not None:
        new = soft_threshold(new, step * l1)
    _check_finite(0.0, new, it, name, base_step, "updated parameter vector")
    return new, _param_change_small(theta, new, tol)


# ----------------------------------------------------------------------- SGD
def stochastic_gradient_descent(fun: BatchObjective, theta0: np.ndarray, *, step: float,
                                l1: np.ndarray | None = None,
                                **options: Unpack[SolverOptions]) -> SolverResult:
    """Mini-batch (proximal) SGD with the decaying step ``step / sqrt(t)`` (Spark MLlib's).

    ``fun(t, θ)`` evaluates a mini-batch objective for iteration ``t``; an empty batch
    (None) skips the update and records nothing. The history holds mini-batch
    objectives, so it is noisy; only a non-finite value is treated as divergence. The
    batches depend only on the seed (held by ``fun``) and ``t``, so the state is
    ``θ`` and ``t``.
    """
    run = _Run(**options)
    max_iter, tol = run.max_iter, run.tol
    history: list[float] = []
    theta, it, converged, _ = run.start("sgd", theta0, history)

    def state() -> SolverState:
        return _base_state("sgd", theta, it, history, converged, converged)

    while it < max_iter and not converged:
        it += 1
        started = time.perf_counter()
        out = fun(it, theta)
        if out is None:
            logger.warning("sgd iteration %d: the mini-batch is empty; no update", it)
        else:
            value, grad = out
            total = value + l1_value(theta, l1)
            _check_finite(total, grad, it, "sgd", step)
            history.append(total)
            step_t = step / math.sqrt(it)
            theta, converged = _proximal_step(theta, grad, step_t, l1, tol, it=it,
                                              name="sgd", base_step=step)
            logger.debug("sgd iteration %d/%d batch objective=%.10g %.3fs", it, max_iter,
                         total, time.perf_counter() - started)
        run.save(it, converged, state, history[-1] if history else math.nan)
    return SolverResult(theta, it, converged, history, n_evals=len(history), state=state())


# ---------------------------------------------------------- quasi-Newton parts
def _memory_arrays(pairs: list[np.ndarray], p: int) -> np.ndarray:
    return np.array(pairs, dtype=np.float64).reshape(len(pairs), p)


def _qn_state(kind: str, theta: np.ndarray, it: int, history: list[float], converged: bool,
              stopped: bool, value: float, grad: np.ndarray, s_hist: list[np.ndarray],
              y_hist: list[np.ndarray], path: list[float]) -> SolverState:
    p = theta.shape[0]
    return {**_base_state(kind, theta, it, history, converged, stopped),
            "value": float(value), "grad": grad.copy(), "memory": LBFGS_MEMORY,
            "s": _memory_arrays(s_hist, p), "y": _memory_arrays(y_hist, p),
            "path": [float(v) for v in path]}


def _resumed_path(run: _Run, value: float) -> list[float]:
    """The objective path so far: ``[f(θ0)]`` at a fresh start, the saved one on resume
    (a state saved before paths were kept gives just the current value)."""
    if run.resume is None:
        return [float(value)]
    return [float(v) for v in run.resume.get("path", [value])]


def _qn_start(run: _Run, kind: str, theta0: np.ndarray, history: list[float],
              evaluate: Callable[[np.ndarray], tuple[float, np.ndarray]]) -> tuple[
        np.ndarray, int, bool, bool, float, np.ndarray, list[np.ndarray], list[np.ndarray]]:
    """``(θ, iterations, converged, stopped, objective, gradient, s pairs, y pairs)``: at
    ``θ0`` (one evaluation, empty memory), or the resumed state."""
    theta, it, converged, stopped = run.start(kind, theta0, history)
    resume = run.resume
    if resume is None:
        value, grad = evaluate(theta)
        return theta, it, converged, stopped, value, grad, [], []
    s = np.asarray(resume["s"], dtype=np.float64)
    y = np.asarray(resume["y"], dtype=np.float64)
    keep = min(len(s), LBFGS_MEMORY)  # the newest pairs, should the memory have shrunk
    return (theta, it, converged, stopped, float(resume["value"]),
            np.asarray(resume["grad"], dtype=np.float64).copy(),
            [row.copy() for row in s[len(s) - keep:]], [row.copy() for row in y[len(y) - keep:]])


def _remember(s: np.ndarray, y: np.ndarray, s_hist: list[np.ndarray],
              y_hist: list[np.ndarray], threshold: float) -> None:
    """Keep the pair when its curvature ``s·y`` exceeds ``threshold`` (the two-loop
    recursion divides by it), dropping the oldest beyond ``LBFGS_MEMORY``."""
    if float(s @ y) > threshold:
        s_hist.append(s)
        y_hist.append(y)
        if len(s_hist) > LBFGS_MEMORY:
            s_hist.pop(0)
            y_hist.pop(0)


def _relative_decrease(old: float, new: float) -> float:
    return (old - new) / max(abs(old), abs(new), 1.0)


# -------------------------------------------------------------------- L-BFGS
#: A point tried by the line search: (step, objective, slope, (θ, gradient)).
_Trial = tuple[float, float, float, Any]


def _cubic_minimiser(a: _Trial, b: _Trial) -> float:
    """The minimiser of the cubic through two points with their slopes (NaN if none)."""
    (xa, fa, da, _), (xb, fb, db, _) = a, b
    if xa == xb:
        return math.nan
    d1 = da + db - 3.0 * (fa - fb) / (xa - xb)
    radicand = d1 * d1 - da * db
    if not radicand >= 0.0:
        return math.nan
    d2 = math.copysign(math.sqrt(radicand), xb - xa)
    denominator = db - da + 2.0 * d2
    if denominator == 0.0:
        return math.nan
    return xb - (xb - xa) * (db + d2 - d1) / denominator


def wolfe_line_search(
    phi: Callable[[float], tuple[float, float, Any]],
    f0: float,
    slope0: float,
    step: float,
    *,
    c1: float = WOLFE_C1,
    c2: float = WOLFE_C2,
    max_evals: int = MAX_LINE_SEARCH,
) -> tuple[float, float, Any] | None:
    """A step satisfying the strong Wolfe conditions along a descent direction.

    ``phi(α)`` returns the objective at step α, its slope along the direction and a
    payload kept for the accepted step. Nocedal & Wright's algorithms 3.5/3.6: try
    ``step``, extrapolate (cubic, within [1.1, 4]× the last increase) while the objective
    still falls and the slope is steep, then zoom into the bracket by safeguarded cubic
    interpolation. Returns ``(α, objective, payload)``; after ``max_evals`` evaluations
    the lowest point meeting the sufficient decrease, or None when there is none. The
    search is a pure function of its inputs and of ``phi``, so it is reproducible.
    """
    evals = 0
    best: _Trial | None = None

    def trial(alpha: float) -> _Trial:
        nonlocal evals, best
        f, d, payload = phi(alpha)
        evals += 1
        point = (alpha, f, d, payload)
        if f <= f0 + c1 * alpha * slope0 and (best is None or f < best[1]):
            best = point
        return point

    def accepted(point: _Trial) -> tuple[float, float, Any]:
        return point[0], point[1], point[3]

    def sufficient(point: _Trial) -> bool:
        return point[1] <= f0 + c1 * point[0] * slope0

    def curvature(point: _Trial) -> bool:
        return abs(point[2]) <= -c2 * slope0

    def zoom(lo: _Trial, hi: _Trial) -> tuple[float, float, Any] | None:
        while evals < max_evals:
            left, right = min(lo[0], hi[0]), max(lo[0], hi[0])
            margin = 0.1 * (right - left)
            alpha = _cubic_minimiser(lo, hi)
            if not (left + margin <= alpha <= right - margin):
                alpha = 0.5 * (lo[0] + hi[0])
            if right - left <= 1e-12 * max(right, 1e-300):
                break
            point = trial(alpha)
            if not sufficient(point) or point[1] >= lo[1]:
                hi = point
            else:
                if curvature(point):
                    return accepted(point)
                if point[2] * (hi[0] - lo[0]) >= 0:
                    hi = lo
                lo = point
        return None if best is None or best[1] >= f0 else accepted(best)

    previous: _Trial = (0.0, f0, slope0, None)
    alpha = step
    while evals < max_evals:
        point = trial(alpha)
        if not sufficient(point) or (previous[0] > 0 and point[1] >= previous[1]):
            return zoom(previous, point)
        if curvature(point):
            return accepted(point)
        if point[2] >= 0:
            return zoom(point, previous)
        low = alpha + 1.1 * (alpha - previous[0])
        high = alpha + 4.0 * (alpha - previous[0])
        guess = _cubic_minimiser(previous, point)
        previous = point
        alpha = min(max(guess, low), high) if math.isfinite(guess) else high
    return None if best is None or best[1] >= f0 else accepted(best)


def lbfgs(fun: Objective, theta0: np.ndarray, **options: Unpack[SolverOptions]) -> SolverResult:
    """L-BFGS on the smooth objective; one pass per evaluation.

    The direction is the two-loop recursion over the last ``LBFGS_MEMORY`` pairs (scaled
    by ``s·y / y·y``); the step satisfies the strong Wolfe conditions
    (:func:`wolfe_line_search`, first trial 1, or ``1/‖∇f‖`` while the memory is empty,
    as SciPy's L-BFGS-B). A pair enters the memory when ``s·y > ε y·y``.

    Converged when the largest gradient component is ≤ ``tol`` or an iteration lowers the
    objective by ≤ ``max(tol², 1e-15)`` relative — near the optimum the decrease is of
    the order of the squared gradient, so the two tests agree in scale. A line search
    that finds no decrease ends the run (converged when the gradient is ≤
    ``max(tol, 1e-8)``: the objective cannot fall further in floating point).
    """
    history: list[float] = []

    def evaluate(theta: np.ndarray) -> tuple[float, np.ndarray]:
        started = time.perf_counter()
        value, grad = fun(theta)
        _check_finite(value, grad, len(history) + 1, "lbfgs", None)
        history.append(value)
        logger.debug("lbfgs pass %d objective=%.10g %.3fs", len(history), value,
                     time.perf_counter() - started)
        return value, grad

    run = _Run(**options)
    max_iter, tol = run.max_iter, run.tol
    theta, it, converged, stopped, value, grad, s_hist, y_hist = _qn_start(
        run, "lbfgs", theta0, history, evaluate)
    if run.resume is None:
        converged = stopped = float(np.max(np.abs(grad), initial=0.0)) <= tol
    message = ""
    path = _resumed_path(run, value)

    def state() -> SolverState:
        return _qn_state("lbfgs", theta, it, history, converged, stopped, value, grad,
                         s_hist, y_hist, path)

    ftol = max(tol * tol, 1e-15)
    eps = float(np.finfo(np.float64).eps)
    while it < max_iter and not stopped:
        started = time.perf_counter()
        direction = lbfgs_direction(grad, s_hist, y_hist)
        slope = float(direction @ grad)
        if not slope < 0:  # lost descent (or rounding): restart from steepest descent
            s_hist.clear()
            y_hist.clear()
            direction = -grad
            slope = -float(grad @ grad)
        gnorm = float(np.linalg.norm(grad))
        first = 1.0 if s_hist else min(1.0 / gnorm, MAX_FIRST_STEP) if gnorm > 0 else 1.0

        def phi(alpha: float, theta: np.ndarray = theta, direction: np.ndarray = direction
                ) -> tuple[float, float, tuple[np.ndarray, np.ndarray]]:
            x = theta + alpha * direction
            f, g = evaluate(x)
            return f, float(g @ direction), (x, g)

        found = wolfe_line_search(phi, value, slope, first)
        if found is None:
            message = "the line search found no decrease"
            converged = float(np.max(np.abs(grad))) <= max(tol, 1e-8)
            stopped = True
            logger.info("lbfgs line search found no decrease at iteration %d", it + 1)
            break
        it += 1
        _, new_value, (new_theta, new_grad) = found
        s, y = new_theta - theta, new_grad - grad
        _remember(s, y, s_hist, y_hist, eps * float(y @ y))
        decrease = _relative_decrease(value, new_value)
        theta, value, grad = new_theta, new_value, new_grad
        path.append(float(value))
        if float(np.max(np.abs(grad), initial=0.0)) <= tol:
            converged = stopped = True
            message = "the largest gradient component is <= tol"
        elif decrease <= ftol:
            converged = stopped = True
            message = "the relative decrease of the objective is <= max(tol^2, 1e-15)"
        logger.debug("lbfgs iteration %d/%d objective=%.10g passes=%d %.3fs", it, max_iter,
                     value, len(history), time.perf_counter() - started)
        run.save(it, stopped, state, value)
    if not message:
        message = ("the largest gradient component is <= tol" if converged else
                   "max_iter reached")
    return SolverResult(theta, it, converged, history, n_evals=len(history),
                        message=message, state=state(), path=path)


# -------------------------------------------------------------------- OWL-QN
def owlqn(fun: Objective, theta0: np.ndarray, l1: np.ndarray, **options: Unpack[SolverOptions]
          ) -> SolverResult:
    """OWL-QN (Andrew & Gao 2007): L-BFGS for ``f(θ) + Σ l1_i |θ_i|`` — what Spark MLlib
    runs for L1 / elastic-net logistic regression.

    The search direction is the L-BFGS direction of the pseudo-gradient, with every
    coordinate that disagrees with the steepest descent sign zeroed; the line search
    (backtracking from 1, or ``1/max(‖pg‖, 1)`` with an empty memory) stays in the orthant
    chosen at its start, so coefficients reach exactly 0. Converged under the same rule
    as :func:`lbfgs`, on the pseudo-gradient. The state's ``value`` is the full objective
    (with the L1 term) and ``grad`` the smooth part's gradient.
    """
    history: list[float] = []

    def evaluate(x: np.ndarray) -> tuple[float, np.ndarray]:
        value, grad = fun(x)
        total = value + l1_value(x, l1)
        _check_finite(total, grad, len(history) + 1, "lbfgs (OWL-QN)", None)
        history.append(total)
        return total, grad

    run = _Run(**options)
    max_iter, tol = run.max_iter, run.tol
    theta, it, converged, stopped, total, grad, s_hist, y_hist = _qn_start(
        run, "owlqn", theta0, history, evaluate)
    path = _resumed_path(run, total)

    def state() -> SolverState:
        return _qn_state("owlqn", theta, it, history, converged, stopped, total, grad,
                         s_hist, y_hist, path)

    while it < max_iter and not stopped:
        it += 1
        pg = pseudo_gradient(theta, grad, l1)
        if float(np.max(np.abs(pg))) <= tol:
            converged = stopped = True
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
            new_total, new_grad = evaluate(trial)
            if new_total <= total + ARMIJO_C * float(pg @ (trial - theta)):
                break
            alpha *= 0.5
        else:
            logger.info("OWL-QN line search found no decrease at iteration %d", it)
            converged = float(np.max(np.abs(pg))) <= max(tol, 1e-8) * 10
            stopped = True
            break
        s, y = trial - theta, new_grad - grad
        _remember(s, y, s_hist, y_hist,
                  1e-12 * float(np.linalg.norm(s) * np.linalg.norm(y)))
        decrease = _relative_decrease(total, new_total)
        theta, grad, total = trial, new_grad, new_total
        path.append(float(total))
        logger.debug("OWL-QN iteration %d/%d objective=%.10g", it, max_iter, total)
        if decrease <= max(tol * tol, 1e-15):
            converged = stopped = True
            break
        run.save(it, stopped, state, total)
    return SolverResult(theta, it, converged, history, n_evals=len(history), state=state(),
                        path=path)


# ------------------------------------------------------------------ L-BFGS-B
def lbfgsb(fun: Objective, theta0: np.ndarray, lower: np.ndarray, upper: np.ndarray,
           *, max_iter: int, tol: float) -> SolverResult:
    """Bound-constrained L-BFGS (SciPy's L-BFGS-B, as Spark MLlib runs Breeze's LBFGSB for
    bounded logistic regression) on the smooth objective; one pass per evaluation.

    ``lower`` ≤ θ ≤ ``upper`` elementwise (±inf where a parameter is free); θ0 is first
    moved into the box, as MLlib does. Stops, converged, when the largest projected
    gradient component is ≤ ``tol`` or an iteration lowers the objective by ≤
    ``max(tol², 1e-15)`` relative (:func:`lbfgs`'s rules); ``max_iter=0`` evaluates θ0
    only. SciPy keeps its state internally, so this solver cannot resume from a
    checkpoint (the estimator refuses a checkpointed bounded fit).
    """
    from scipy.optimize import minimize

    history: list[float] = []
    values: dict[bytes, float] = {}

    def evaluate(theta: np.ndarray) -> tuple[float, np.ndarray]:
        value, grad = fun(theta)
        _check_finite(value, grad, len(history) + 1, "lbfgs (L-BFGS-B)", None)
        history.append(value)
        values[np.asarray(theta, dtype=np.float64).tobytes()] = float(value)
        return value, grad

    theta = np.clip(np.asarray(theta0, dtype=np.float64), lower, upper)
    value, grad = evaluate(theta)
    path = [float(value)]
    projected = _projected_gradient(theta, grad, lower, upper)
    if max_iter == 0 or float(np.max(np.abs(projected), initial=0.0)) <= tol:
        converged = float(np.max(np.abs(projected), initial=0.0)) <= tol
        return SolverResult(theta, 0, converged, history, n_evals=len(history),
                            message="max_iter reached" if not converged else
                            "the largest projected gradient component is <= tol",
                            path=path)

    # SciPy evaluates its start again: answer that from the pass already made.
    first = {theta.tobytes(): (value, grad)}

    def scipy_fun(x: np.ndarray) -> tuple[float, np.ndarray]:
        known = first.pop(np.asarray(x, dtype=np.float64).tobytes(), None)
        return known if known is not None else evaluate(x)

    def record(xk: np.ndarray) -> None:
        # The iterate SciPy accepted is the point its line search evaluated last.
        path.append(values.get(np.asarray(xk, dtype=np.float64).tobytes(), history[-1]))

    result = minimize(scipy_fun, theta, jac=True, method="L-BFGS-B",
                      bounds=list(zip(lower.tolist(), upper.tolist())), callback=record,
                      options={"maxiter": max_iter, "gtol": tol,
                               "ftol": max(tol * tol, 1e-15), "maxcor": LBFGS_MEMORY,
                               "maxls": MAX_LINE_SEARCH,
                               "maxfun": max(max_iter, 1) * MAX_LINE_SEARCH})
    theta = np.asarray(result.x, dtype=np.float64)
    n_iter = int(result.nit)
    # SciPy reports success when its gtol or ftol rule stopped it.
    converged = bool(result.success)
    logger.info("L-BFGS-B: %d iterations, %d passes, objective %.10g (%s)", n_iter,
                len(history), float(result.fun), result.message)
    return SolverResult(theta, n_iter, converged, history, n_evals=len(history),
                        message=str(result.message), path=path[:n_iter + 1])


def _projected_gradient(theta: np.ndarray, grad: np.ndarray, lower: np.ndarray,
                        upper: np.ndarray) -> np.ndarray:
    """The gradient with the components that push θ out of the box zeroed."""
    blocked = ((theta <= lower) & (grad > 0)) | ((theta >= upper) & (grad < 0))
    return np.where(blocked, 0.0, grad)
