"""BOHB learning on the informative Hartmann function (trainables/synthetic/, no training), driven in-process by
sweep/simulate.py (Ray's controller's calls, no Ray workers): hpbandster's model holds one observation at
every rung each trial reached, each (trial, budget) once, and a compute budget ends the sweep within one rung of
its limit.
One real sweep (slow) checks that the fake controller makes the decisions Ray's own makes on the same seed."""
import pickle

import numpy as np
import pytest
from conftest import REPO
from sweep.simulate import FakeController

from search_spaces.loader import load_space
from sweep.bohb import ResumableHyperBandForBOHB, ResumableTuneBOHB, connect
from sweep.budget import ComputeBudget
from trainables.synthetic.hartmann import hartmann6_informative

pytestmark = [pytest.mark.filterwarnings("ignore::DeprecationWarning:hpbandster.*"),
              pytest.mark.filterwarnings("ignore::FutureWarning")]
SPACE_FILE = REPO / "search_spaces" / "synthetic" / "hartmann6.yaml"  # trainable: key names the Hartmann trainable
SPACE = load_space(SPACE_FILE)
RUNGS = (1, 3, 9, 27)


def parts(max_budget=None, max_concurrent=0, seed=0):
    """The searcher and scheduler a searched sweep of the Hartmann space builds (sweep/kinds/searched.py), joined
    as sweep.runtime joins them (sweep.bohb.connect)."""
    np.random.seed(seed)
    searcher = ResumableTuneBOHB(space=SPACE.to_configspace(seed=seed), metric=SPACE.metric, mode=SPACE.mode,
                                 seed=seed, max_concurrent=max_concurrent)
    searcher.limit(max_budget)
    scheduler = ResumableHyperBandForBOHB(time_attr="epoch", metric=SPACE.metric, mode=SPACE.mode,
                                          max_t=SPACE.budget_max, min_t=SPACE.budget_min,
                                          budget_unit=SPACE.budget_min, reduction_factor=3)
    return connect(searcher, scheduler), scheduler


def sweep(samples, **kw):
    search_alg, scheduler = parts(**kw)
    return FakeController(hartmann6_informative, search_alg, scheduler, samples, constants=SPACE.constants).run()


def observations(searcher) -> dict:
    return {b: len(losses) for b, losses in searcher.bohber.losses.items()}


def reached(run) -> set:
    """{(trial, rung)} of every rung of its bracket (in epochs: the unit here is 1) each trial got to."""
    epochs = run.epochs()
    return {(t.trial_id, rung) for t in run.trials for rung in run.scheduler.rungs_of(t) if epochs[t.trial_id] >= rung}


@pytest.fixture(scope="module")
def run():
    return sweep(48)  # every bracket of a band: 27 + 12 + 6 + 3 trials


def test_the_model_observes_every_rung_the_trials_reached(run):  # all four brackets: 27 trials from 1 epoch, 12 from 3, 6 from 9, 3 at 27
    assert len(run.trials) == 48 and all(t.status == "TERMINATED" for t in run.trials)
    bohb = run.searcher
    # every trial counted at each rung it reached: as many observations at a budget as trials that got there
    expected = reached(run)
    for rung in RUNGS:
        assert observations(bohb).get(rung, 0) == sum(r == rung for _, r in expected), (rung, observations(bohb))
    assert observations(bohb)[27] >= 4  # the last rung, where every trial stops, is observed too


def test_each_trial_is_observed_once_per_budget(run):
    bohb = run.searcher
    assert bohb.observed == reached(run)  # each (trial, budget) once, whichever path brought it
    for budget, configs in bohb.bohber.configs.items():  # no configuration twice at a budget
        assert len({tuple(c) for c in configs}) == len(configs), budget


def test_the_model_is_built_from_the_observations(run):
    # hpbandster builds a model at a budget once it holds dim + 1 observations: 6 parameters, 7 results
    assert set(run.searcher.bohber.kde_models) >= {1, 3}


LARGEST_RUNG_STEP = 27 - 9  # the most epochs a trial is committed to when it starts or resumes


@pytest.mark.parametrize("limit,slots", [(20, 1), (60, 3)])
def test_a_compute_budget_ends_the_sweep_within_one_rung_of_the_running_trials_past_its_limit(limit, slots):
    # Before, the wrapper only refused new trials once the spend reached the limit: 20 epochs ended at 74 (a trial
    # started at 19 epochs spent was resumed to 27), 60 on 3 slots at 135
    search_alg, scheduler = parts(max_budget=limit, max_concurrent=slots)
    run = FakeController(hartmann6_informative, search_alg, scheduler, 100, constants=SPACE.constants, slots=slots,
                         max_pending=slots).run()
    assert isinstance(run.searcher, ComputeBudget)
    spent = sum(run.epochs().values())
    assert len(run.trials) < 100 and limit <= spent <= limit + slots * LARGEST_RUNG_STEP, spent
    assert run.finished and run.searcher.spent()["epochs"] == spent
    assert all(t.status == "TERMINATED" for t in run.trials)  # none left waiting to resume


def test_no_paused_trial_resumes_once_spend_and_commitments_reach_the_limit():
    """A trial that reached a rung waits (PAUSED) for its bracket; when its bracket is cut, it would resume towards
    the next rung. With 26 of 27 epochs spent it is stopped at its rung instead, and no further trial starts."""
    search_alg, scheduler = parts(max_budget=27)
    run = FakeController(hartmann6_informative, search_alg, scheduler, 100, constants=SPACE.constants).run()
    epochs = run.epochs()
    assert sum(epochs.values()) == 27 and set(epochs.values()) == {1}  # the first bracket's 27 one-epoch trials
    assert not any(d == "CONTINUE" and e == 1 for _, e, d in run.decisions)  # none carried on past its rung


def test_the_budget_counts_the_running_trials_commitments():
    search_alg, scheduler = parts(max_budget=10)
    run = FakeController(hartmann6_informative, search_alg, scheduler, 100, constants=SPACE.constants, slots=3,
                         max_pending=3)
    run._fill()  # three trials started in the first bracket, each committed to its first rung (1 epoch)
    assert scheduler.commitments() == {t.trial_id: 1.0 for t in run.trials}
    assert search_alg.committed()["epochs"] == 3.0 and search_alg.room()
    assert search_alg.committed(leave_out=run.trials[0].trial_id)["epochs"] == 2.0


def test_without_a_budget_every_sample_runs():
    search_alg, _ = parts()
    assert isinstance(search_alg, ResumableTuneBOHB)  # no limit asked for: nothing wrapped
    assert len(sweep(12).trials) == 12


# ------------------------------------------------------------------------------------ against Ray's own controller

def searcher_state(exp):
    """The searcher Ray saved last (a ResumableTuneBOHB's state), as a resume would restore it."""
    path = max(exp.glob("searcher-state-*.pkl"))
    with open(path, "rb") as f:
        return pickle.load(f)


@pytest.mark.slow  # a real Ray run
def test_the_fake_controller_decides_as_rays_own_on_the_same_seed(tmp_path, capsys):
    from babysweep.cli import main
    from sweep.table import read_table

    assert main(["launch", str(SPACE_FILE), "--samples", "24", "--max-concurrent", "1", "--max-budget", "40",
                 "--storage", str(tmp_path), "--name", "h", "--quiet"]) == 0
    table = read_table(tmp_path / "h" / "results.csv")
    assert len(table) <= 24 and set(table["state"]) == {"TERMINATED"}
    assert table["config/x1"].notna().all()  # the space file's trainable ran: no --trainable given
    real = {b: len(losses) for b, losses in searcher_state(tmp_path / "h")["bohber"].losses.items()}
    for rung in RUNGS:
        assert real.get(rung, 0) == int((table["epoch"] >= rung).sum()), (rung, real)

    fake = sweep(24, max_budget=40, max_concurrent=1)
    assert observations(fake.searcher.searcher) == real
    assert sorted(fake.epochs().values()) == sorted(table["epoch"].tolist())
    assert fake.searcher.spent()["epochs"] == table["epoch"].sum()
    assert 40 <= table["epoch"].sum() <= 40 + LARGEST_RUNG_STEP  # the budget kept on Ray's own controller too
