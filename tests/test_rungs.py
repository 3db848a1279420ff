"""sweep/rungs.py against hpbandster's own budgets (its code, as installed) and against Ray's real HyperBandForBOHB
(stock, and babysweep's in units), driven in-process by sweep/simulate.py with trials that report as the
trainables do (every budget step, then num_epochs itself): each bracket pauses and stops its trials at exactly the
budgets the pure function gives, its last rung the space's maximum. No Ray workers, no training."""
import inspect
import math
import random
import types

import numpy as np
import pandas as pd
import pytest
from sweep.simulate import FakeController
from ray.tune.schedulers import HyperBandForBOHB, TrialScheduler
from ray.tune.search import Searcher

from sweep.bohb import ResumableHyperBandForBOHB
from sweep.rungs import bracket_rungs, ray_bracket_budgets, ray_bracket_count, units
from sweep.selection import best_trial, complete_trials
from sweep.table import FINISHED
from trainables.reporting import budget_epochs

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning:hpbandster.*")


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


def reporting(step, num_epochs):
    """A trainable reporting val_loss = x where the trainables report (budget_epochs: every step, then num_epochs)."""
    def trainable(config, reporter):
        for epoch in budget_epochs(num_epochs, step):
            reporter.report({"epoch": round(epoch, 9), "val_loss": config["x"]})
    return trainable


def bracket_of(run, trial) -> int:
    bracket, band_idx = run.scheduler._trial_info[trial]
    return run.scheduler._s_max_1 - 1 - run.scheduler._hyperbands[band_idx].index(bracket)


def decided(run) -> dict:
    """{bracket s: sorted budgets at which the scheduler paused or stopped a trial of it}, as Ray ran them."""
    out = {}
    for trial_id, epoch, decision in run.decisions:
        if decision == TrialScheduler.CONTINUE:
            continue
        trial = next(t for t in run.trials if t.trial_id == trial_id)
        out.setdefault(bracket_of(run, trial), set()).add(epoch)
    return {s: sorted(v) for s, v in out.items()}


def enough_trials(eta, count):
    return 2 * sum(int(-(-count // (s + 1) * eta ** s)) + 1 for s in range(count))


def ours(budget_min, budget_max, eta, step=None):
    unit = min(budget_min, step or budget_min)
    return ResumableHyperBandForBOHB(time_attr="epoch", metric="val_loss", mode="min", max_t=budget_max,
                                     min_t=budget_min, budget_unit=unit, reduction_factor=eta), unit


# ------------------------------------------------------------------------------------ against hpbandster

def hpbandster_brackets(budget_min, budget_max, eta) -> dict:
    """{bracket s: its budgets} as hpbandster's BOHB computes them: the two lines of BOHB.__init__ that make its
    budget list, run on these budgets, then its get_next_iteration for each bracket. (A whole BOHB object is not
    made: its dispatcher starts threads that look for a Pyro name server.)"""
    from hpbandster.optimizers.bohb import BOHB

    lines = [line.strip() for line in inspect.getsource(BOHB.__init__).splitlines()
             if line.strip().startswith(("self.max_SH_iter =", "self.budgets ="))]
    assert len(lines) == 2, "hpbandster's BOHB.__init__ moved: update hpbandster_brackets"
    bohb = BOHB.__new__(BOHB)
    bohb.eta, bohb.min_budget, bohb.max_budget = eta, budget_min, budget_max
    bohb.config_generator = types.SimpleNamespace(get_config=None)
    for line in lines:
        exec(line, {"np": np}, {"self": bohb, "min_budget": budget_min, "max_budget": budget_max, "eta": eta})
    iterations = [bohb.get_next_iteration(i) for i in range(bohb.max_SH_iter)]
    return {len(it.budgets) - 1: [float(b) for b in it.budgets] for it in iterations}


@pytest.mark.parametrize("budget_min, budget_max, eta, step", [
    (1, 10, 3, None), (1, 24, 3, None), (1, 27, 3, None), (0.5, 8, 3, None), (1, 10, 3, 0.5), (0.5, 2, 3, 0.25),
    (2, 9, 3, None), (1, 20, 2.5, None)])
def test_rungs_are_hpbandsters_budgets_rounded_to_a_report(budget_min, budget_max, eta, step):
    expected = hpbandster_brackets(budget_min, budget_max, eta)
    got = bracket_rungs(budget_min, budget_max, eta, step)
    unit = min(budget_min, step or budget_min)
    assert sorted(got) == sorted(expected)  # hpbandster's brackets, no more, no fewer
    for s, rungs in got.items():
        assert len(rungs) == len(expected[s]) == s + 1
        assert rungs[-1] == budget_max  # the top rung is the maximum itself, in every bracket
        for rung, budget in zip(rungs[:-1], expected[s][:-1]):
            assert rung >= budget_min
            assert math.isclose(rung / unit, round(rung / unit), abs_tol=1e-9)  # on a report
            # the nearest report to hpbandster's budget, or the minimum where that is above it
            assert abs(rung - budget) <= unit / 2 + 1e-9 or (rung == budget_min and budget < budget_min + unit / 2)
        assert rungs == sorted(set(rungs))


def test_the_report_shape():
    """{bracket s: [epochs]}, the form the report shows (analysis.report re-exports bracket_rungs)."""
    assert bracket_rungs(1, 27, 3) == {3: [1, 3, 9, 27], 2: [3, 9, 27], 1: [9, 27], 0: [27]}
    assert bracket_rungs(3, 27, 3) == {2: [3, 9, 27], 1: [9, 27], 0: [27]}
    # hpbandster's 1.11, 3.33, 10 epochs on whole-epoch reports (stock Ray: 1, 3, 9)
    assert bracket_rungs(1, 10, 3) == {2: [1, 3, 10], 1: [3, 10], 0: [10]}
    assert bracket_rungs(1, 24, 3) == {2: [3, 8, 24], 1: [8, 24], 0: [24]}  # 2.67, 8, 24
    # a fractional space reported every quarter epoch: hpbandster's 0.67 epochs is the report at 0.75
    assert bracket_rungs(0.5, 2, 3, budget_step=0.25) == {1: [0.75, 2.0], 0: [2.0]}
    # a maximum that is no whole number of reporting steps: the last report, at num_epochs, is the top rung
    assert bracket_rungs(2, 9, 3) == {1: [4, 9], 0: [9]}


# ------------------------------------------------------------------------------------ against Ray's scheduler

@pytest.mark.parametrize("budget_min, budget_max, eta, step", [
    (1, 27, 3, None), (1, 9, 3, None), (1, 10, 3, None), (1, 24, 3, None), (3, 27, 3, None), (0.5, 2, 3, 0.25),
    (1, 16, 2, None), (2, 30, 3, 1), (1, 26, 3, None), (1, 20, 2.5, None), (0.5, 8, 3, None), (1, 10, 3, 0.5),
    (2, 9, 3, None)])
def test_babysweeps_scheduler_cuts_where_bracket_rungs_says(budget_min, budget_max, eta, step):
    scheduler, unit = ours(budget_min, budget_max, eta, step)
    expected = bracket_rungs(budget_min, budget_max, eta, step)
    run = FakeController(reporting(unit, budget_max), RandomSearcher(), scheduler,
                         enough_trials(eta, len(expected) + 1)).run()
    assert decided(run) == expected
    assert list(expected) == sorted(expected, reverse=True)  # Ray opens the most aggressive bracket first
    assert all(scheduler.rungs_of(t) == [units(r, unit) for r in expected[bracket_of(run, t)]] for t in run.trials)


def results_table(run, num_epochs) -> pd.DataFrame:
    """The run as the results table has it, for the selection rules."""
    return pd.DataFrame([{"trial_id": t.trial_id, "state": FINISHED, "epoch": t.last_result["epoch"],
                          "val_loss": t.last_result["val_loss"], "config/num_epochs": num_epochs}
                         for t in run.trials])


@pytest.mark.parametrize("budget_max, num_epochs, cuts", [(10, 10, [1, 3]), (24, 24, [3, 8]), (10, 12, [1, 3])])
def test_the_most_aggressive_brackets_survivors_reach_the_maximum_and_count_as_complete(budget_max, num_epochs,
                                                                                         cuts):
    """Budget 1 to 10 (RTE's) or 1 to 24 (WSC's), eta 3: the first bracket stops trials at its two lower rungs and
    runs the rest to the maximum (stock Ray stopped them all by 9 of 10, 18 of 24): those are complete trials, and
    the best is one of them. A schedule longer than the maximum (12 of 10) is stopped, complete, at the maximum."""
    scheduler, _ = ours(1, budget_max, 3)
    run = FakeController(reporting(1, num_epochs), RandomSearcher(), scheduler, enough_trials(3, 4)).run()
    epochs = run.epochs()
    first = [t for t in run.trials if bracket_of(run, t) == 2]
    assert sorted({epochs[t.trial_id] for t in first}) == [*cuts, budget_max]
    reached = {t.trial_id for t in run.trials if epochs[t.trial_id] == budget_max}
    assert reached and all(e in (*cuts, budget_max) for e in epochs.values())

    table = results_table(run, num_epochs)
    ranked, _ = complete_trials(table, budget_max)
    assert set(ranked["trial_id"]) == reached
    assert best_trial(table, budget_max)["trial_id"] in reached


@pytest.mark.parametrize("max_t, eta", [(27, 3), (9, 3), (10, 3), (81, 3), (16, 2), (26, 3), (20, 2.5), (2, 3)])
def test_stock_hyperband_for_bohb_cuts_where_ray_bracket_budgets_says(max_t, eta):
    """Stock Ray's arithmetic (what brackets saved before babysweep's rungs resume on)."""
    scheduler = HyperBandForBOHB(time_attr="epoch", metric="val_loss", mode="min", max_t=max_t, reduction_factor=eta)
    count = ray_bracket_count(max_t, eta)
    assert count == scheduler._s_max_1
    expected = {s: budgets for s in range(count - 1, -1, -1) if (budgets := ray_bracket_budgets(s, max_t, eta))}
    run = FakeController(reporting(1, max_t), RandomSearcher(), scheduler, enough_trials(eta, count)).run()
    assert decided(run) == expected


def test_stock_ray_ends_a_bracket_below_a_maximum_that_is_not_r0_times_eta_to_the_s():
    assert ray_bracket_budgets(2, 10, 3) == [1, 3, 9]
    assert ray_bracket_budgets(2, 24, 3) == [2, 6, 18]
