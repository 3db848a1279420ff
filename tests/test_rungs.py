"""sweep/rungs.py against Ray's real HyperBandForBOHB (stock, and babysweep's in units), driven in-process by
tests/fake_controller.py with trials that report at every budget step: each bracket pauses and stops its trials at
exactly the budgets the pure function gives. No Ray workers, no training."""
import random

import pytest
from fake_controller import FakeController
from ray.tune.schedulers import HyperBandForBOHB, TrialScheduler
from ray.tune.search import Searcher

from sweep.bohb import ResumableHyperBandForBOHB
from sweep.rungs import bracket_budgets, bracket_count, bracket_rungs, units


class RandomSearcher(Searcher):
    """One number per trial; BOHB's pause hooks do nothing."""

    def __init__(self):
        super().__init__(metric="val_loss", mode="min")
        self.rng = random.Random(0)

    def suggest(self, trial_id):
        return {"x": self.rng.random()}

    def on_trial_complete(self, trial_id, result=None, error=False):
        pass

    def on_pause(self, trial_id):
        pass

    def on_unpause(self, trial_id):
        pass


def reporting(step, budget_max):
    """A trainable reporting val_loss = x at step, 2 * step, ... budget_max."""
    def trainable(config, reporter):
        k = 1
        while k * step <= budget_max + 1e-9:
            reporter.report({"epoch": round(k * step, 9), "val_loss": config["x"]})
            k += 1
    return trainable


def decided(run) -> dict:
    """{bracket s: sorted budgets at which the scheduler paused or stopped a trial of it}, as Ray ran them."""
    out = {}
    for trial_id, epoch, decision in run.decisions:
        if decision == TrialScheduler.CONTINUE:
            continue
        trial = next(t for t in run.trials if t.trial_id == trial_id)
        bracket, band_idx = run.scheduler._trial_info[trial]
        s = run.scheduler._s_max_1 - 1 - run.scheduler._hyperbands[band_idx].index(bracket)
        out.setdefault(s, set()).add(epoch)
    return {s: sorted(v) for s, v in out.items()}


def enough_trials(max_units, eta, count):
    return 2 * sum(int(-(-count // (s + 1) * eta ** s)) + 1 for s in range(count))


@pytest.mark.parametrize("budget_min, budget_max, eta, step", [
    (1, 27, 3, None), (1, 9, 3, None), (1, 10, 3, None), (3, 27, 3, None), (0.5, 2, 3, 0.25), (1, 16, 2, None),
    (2, 30, 3, 1), (1, 26, 3, None), (1, 20, 2.5, None)])
def test_babysweeps_scheduler_cuts_where_bracket_rungs_says(budget_min, budget_max, eta, step):
    unit = min(budget_min, step or budget_min)
    scheduler = ResumableHyperBandForBOHB(time_attr="epoch", metric="val_loss", mode="min", max_t=budget_max,
                                          min_t=budget_min, budget_unit=unit, reduction_factor=eta)
    expected = bracket_rungs(budget_min, budget_max, eta, step)
    samples = enough_trials(units(budget_max, unit), eta, len(expected) + 1)
    run = FakeController(reporting(unit, budget_max), RandomSearcher(), scheduler, samples).run()
    got = decided(run)
    assert got == expected
    assert list(expected) == sorted(expected, reverse=True)  # Ray opens the most aggressive bracket first


@pytest.mark.parametrize("max_t, eta", [(27, 3), (9, 3), (10, 3), (81, 3), (16, 2), (26, 3), (20, 2.5), (2, 3)])
def test_stock_hyperband_for_bohb_cuts_where_bracket_budgets_says(max_t, eta):
    scheduler = HyperBandForBOHB(time_attr="epoch", metric="val_loss", mode="min", max_t=max_t, reduction_factor=eta)
    count = bracket_count(max_t, eta)
    assert count == scheduler._s_max_1
    expected = {s: bracket_budgets(s, max_t, eta) for s in range(count - 1, -1, -1) if bracket_budgets(s, max_t, eta)}
    run = FakeController(reporting(1, max_t), RandomSearcher(), scheduler, enough_trials(max_t, eta, count)).run()
    assert decided(run) == expected


def test_the_report_shape():
    """{bracket s: [epochs]}, the form the report shows (analysis.report re-exports bracket_rungs)."""
    assert bracket_rungs(1, 27, 3) == {3: [1, 3, 9, 27], 2: [3, 9, 27], 1: [9, 27], 0: [27]}
    assert bracket_rungs(3, 27, 3) == {2: [3, 9, 27], 1: [9, 27], 0: [27]}
    # a fractional space reported every quarter epoch: its most aggressive bracket stops at 1.5 epochs, not 2
    assert bracket_rungs(0.5, 2, 3, budget_step=0.25) == {1: [0.5, 1.5], 0: [2.0]}
