"""How the benchmark turns calls into seconds per iteration (no Spark, no timing asserted):
the settled stepper's untimed iteration, and pairs of fits over their reported counts."""

from __future__ import annotations

import numpy as np
import pytest

from rddml.bench.kmeans_bench import (
    METHOD_SETTLED,
    METHOD_STEPPED,
    CentreStepper,
    IterationGapError,
    method,
    per_iteration_from_pair,
)


@pytest.mark.parametrize("settle", [False, True])
def test_a_settled_stepper_runs_one_untimed_iteration_before_each_timed_one(settle: bool
                                                                            ) -> None:
    calls: list[float] = []

    def advance(centres: np.ndarray) -> np.ndarray:
        calls.append(float(centres[0]))
        return centres + 1

    stepper = CentreStepper("v", advance, np.zeros(1), settle=settle)
    for _ in range(3):
        stepper.measure()
    per_unit = 2 if settle else 1
    assert len(stepper.samples) == 3
    assert calls == [float(i) for i in range(3 * per_unit)]  # the centres keep iterating
    assert stepper.centres[0] == 3 * per_unit
    assert method(stepper)["method"] == (METHOD_SETTLED if settle else METHOD_STEPPED)


def test_a_pair_divides_by_the_iterations_the_fits_report_not_by_max_iter() -> None:
    # A library that stops early: asked for 2 and 30 iterations it reports 2 and 22, and
    # each fit costs 1 s of fixed work plus 0.5 s per reported iteration.
    reported = {2: 2, 30: 22}

    def fit(max_iter: int) -> tuple[float, int]:
        n = reported[max_iter]
        return 1.0 + 0.5 * n, n

    seconds, low, high = per_iteration_from_pair(fit, 2, 30, min_gap=20)
    assert (low, high) == (2, 22)
    assert seconds == pytest.approx(0.5)  # dividing by 28 asked-for iterations gives 0.357
    with pytest.raises(IterationGapError, match="reported 2 and 22 iterations, fewer than 21"):
        per_iteration_from_pair(fit, 2, 30, min_gap=21)
