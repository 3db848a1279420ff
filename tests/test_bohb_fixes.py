"""The two resume fixes of sweep/bohb.py on real TuneBOHB / HyperBandForBOHB objects, fed by hand: no Ray cluster,
no training. Each fix is shown against the stock Ray class on the same input, so a test fails if the fix is lost
or if Ray's own class stops needing it."""
import copy
import logging
import math

import numpy as np
import pytest
from ray.tune.experiment import Trial
from ray.tune.schedulers import HyperBandForBOHB
from ray.tune.search.bohb import TuneBOHB

from search_spaces.loader import SPACES_DIR, load_space
from sweep import ray_compat as rc
from sweep.bohb import ResumableHyperBandForBOHB, ResumableTuneBOHB, connect
from sweep.budget import ComputeBudget

pytestmark = [pytest.mark.filterwarnings("ignore::DeprecationWarning:hpbandster.*"),
              pytest.mark.filterwarnings("ignore::FutureWarning")]

SPACE = load_space(SPACES_DIR / "tiny_demo.yaml")
BOHB_LOGGER = "ray.tune.search.bohb.bohb_search"  # where stock TuneBOHB warns; Ray's loggers do not propagate


def searcher(cls=ResumableTuneBOHB, **kw):
    np.random.seed(0)  # hpbandster draws its random-vs-model choice from numpy's global generator
    return cls(space=SPACE.to_configspace(seed=0), metric=SPACE.metric, mode=SPACE.mode, seed=0, **kw)


def flat_result(config, val_loss, budget=None, epoch=1.0):
    """A result as Ray hands it to a searcher: flattened, the trial's config under config/<name>; under
    HyperBandForBOHB with the "hyperband_info" dict the scheduler adds to the flattened result (its "budget" only
    when the trial reached a rung)."""
    result = {"val_loss": val_loss, "epoch": epoch, "training_iteration": int(epoch), "done": False,
              **{f"config/{k}": v for k, v in config.items()}}
    if budget is not None:
        result["hyperband_info"] = {"budget": budget}
    return result


def restored(cls, path, **kw):
    """A searcher as a resume builds it: constructed afresh, then its saved state restored."""
    s = searcher(cls, **kw)
    s.restore(str(path))
    return s


@pytest.fixture
def bohb_warnings():
    records = []

    class Keep(logging.Handler):
        def emit(self, record):
            records.append(record)

    handler, log = Keep(level=logging.WARNING), logging.getLogger(BOHB_LOGGER)
    log.addHandler(handler)
    yield records
    log.removeHandler(handler)


# ------------------------------------------------------------------------------------ ResumableTuneBOHB

@pytest.fixture
def saved_a_step_behind(tmp_path):
    """Searcher state saved after suggesting t0 only, while Ray's trial list (saved later) also has t1: the driver
    was killed between the two saves. Returns (state file, t1's config as Ray's trial carries it)."""
    s = searcher()
    s.suggest("t0")
    path = tmp_path / "searcher-state.pkl"
    s.save(str(path))
    t1_config = s.suggest("t1")  # the step the saved state missed
    return path, dict(t1_config)


def test_result_of_a_trial_the_restored_searcher_never_suggested_is_accepted(saved_a_step_behind):
    path, config = saved_a_step_behind
    s = restored(ResumableTuneBOHB, path)
    assert "t1" not in s.trial_to_params  # the premise: the saved state is a step behind

    s.on_trial_result("t1", flat_result(config, val_loss=3.25, budget=1.0))

    assert s.trial_to_params["t1"] == config  # the parameters came from the result's config/<name> keys
    assert set(s.trial_to_params["t1"]) == set(SPACE.to_configspace())  # and nothing else of the result
    assert len(s.bohber.configs[1.0]) == 1 and s.bohber.losses[1.0] == [3.25]  # BOHB's model got the result
    assert "t1" in s.running


def test_stock_tune_bohb_fails_on_the_same_result(saved_a_step_behind):
    path, config = saved_a_step_behind
    s = restored(TuneBOHB, path)
    with pytest.raises(KeyError, match="t1"):
        s.on_trial_result("t1", flat_result(config, val_loss=3.25, budget=1.0))


def test_result_between_rungs_of_an_unknown_trial_is_accepted(saved_a_step_behind):
    path, config = saved_a_step_behind
    s = restored(ResumableTuneBOHB, path)
    result = flat_result(config, val_loss=3.5, epoch=2.0)
    result["hyperband_info"] = {}  # what HyperBandForBOHB adds to a result that reached no rung
    s.on_trial_result("t1", result)
    assert s.trial_to_params["t1"] == config and s.bohber.configs == {}  # no budget: no model update yet
    s.on_trial_result("t1", flat_result(config, val_loss=3.0, budget=3.0, epoch=3.0))
    assert s.bohber.losses[3.0] == [3.0]


def test_result_of_a_known_trial_keeps_the_suggested_parameters():
    s = searcher()
    suggested = dict(s.suggest("t0"))
    other = dict(SPACE.to_configspace(seed=1).sample_configuration())
    s.on_trial_result("t0", flat_result(other, val_loss=2.0, budget=1.0))  # a result's config never overrides
    assert s.trial_to_params["t0"] == suggested
    assert s.bohber.losses[1.0] == [2.0]


def test_score_metric_is_maximised():
    s = ResumableTuneBOHB(space=SPACE.to_configspace(seed=0), metric="score", mode="max", seed=0)
    config = dict(s.suggest("t0"))
    s.on_trial_result("t0", {**flat_result(config, val_loss=1.0, budget=1.0), "score": 0.75})
    assert s.bohber.losses[1.0] == [-0.75]  # hpbandster minimises: the score enters negated


def test_completion_of_an_unknown_trial_does_not_raise():
    s = searcher()
    s.on_trial_complete("never-suggested", {"val_loss": 1.0})
    s.on_trial_complete("never-suggested-errored", None, error=True)
    assert "never-suggested" not in s.running and "never-suggested" not in s.paused

    stock = searcher(TuneBOHB)
    with pytest.raises(KeyError):
        stock.on_trial_complete("never-suggested", {"val_loss": 1.0})


def test_completion_of_a_known_paused_trial_forgets_it():
    s = searcher()
    s.suggest("t0")
    s.on_pause("t0")
    s.on_trial_complete("t0", {"val_loss": 1.0})
    assert "t0" not in s.trial_to_params and "t0" not in s.paused and "t0" not in s.running


def test_under_asha_or_fifo_a_result_counts_the_trial_running_without_warning_or_model_update(bohb_warnings):
    s = searcher()
    config = dict(s.suggest("t0"))
    s.on_pause("t0")
    s.on_unpause("t0")
    s.running.discard("t0")  # as after a restore: only reports rebuild the set
    for epoch in (1.0, 2.0, 3.0):
        s.on_trial_result("t0", flat_result(config, val_loss=3.0 / epoch, epoch=epoch))  # no hyperband_info
    assert bohb_warnings == []
    assert s.bohber.configs == {} and s.bohber.losses == {}
    assert s.running == {"t0"}

    s.on_pause("t0")  # a paused trial's late result does not make it running again
    s.on_trial_result("t0", flat_result(config, val_loss=1.0, epoch=3.0))
    assert s.paused == {"t0"} and s.running == set()

    # an unknown trial's result under ASHA is no error either: nothing is looked up
    s.on_trial_result("unknown", flat_result(config, val_loss=1.0))
    assert "unknown" in s.running and bohb_warnings == []


def test_stock_tune_bohb_warns_on_every_result_without_budget(bohb_warnings):
    s = searcher(TuneBOHB)
    config = dict(s.suggest("t0"))
    for epoch in (1.0, 2.0):
        s.on_trial_result("t0", flat_result(config, val_loss=1.0, epoch=epoch))
    assert len(bohb_warnings) == 2 and "BOHB Info not detected" in bohb_warnings[0].getMessage()


def test_restore_empties_running_and_paused_so_max_concurrent_does_not_block(tmp_path):
    s = searcher(max_concurrent=2)
    s.suggest("t0")
    s.suggest("t1")
    s.on_pause("t1")
    s.suggest("t2")
    assert s.suggest("t3") is None  # two running: the limit holds
    assert s.running == {"t0", "t2"} and s.paused == {"t1"}
    path = tmp_path / "searcher-state.pkl"
    s.save(str(path))

    fixed = restored(ResumableTuneBOHB, path, max_concurrent=2)
    assert fixed.running == set() and fixed.paused == set()
    assert set(fixed.trial_to_params) == {"t0", "t1", "t2"}  # the rest of the state is restored
    assert fixed.suggest("t3") is not None  # Ray's restored trial list may not hold t0/t2: they must not block

    stock = restored(TuneBOHB, path, max_concurrent=2)
    assert stock.running == {"t0", "t2"} and stock.paused == {"t1"}
    assert stock.suggest("t3") is None


def test_restored_searcher_keeps_its_model(tmp_path):
    s = searcher()
    for i in range(3):
        config = dict(s.suggest(f"t{i}"))
        s.on_trial_result(f"t{i}", flat_result(config, val_loss=float(i), budget=1.0))
    path = tmp_path / "searcher-state.pkl"
    s.save(str(path))
    back = restored(ResumableTuneBOHB, path)
    assert back.bohber.losses[1.0] == [0.0, 1.0, 2.0]
    assert all(math.isfinite(v) for v in back.bohber.configs[1.0][0])


# ------------------------------------------------------------------------------------ ResumableHyperBandForBOHB

class ControllerWithTrials:
    """The few attributes of Ray's TuneController a HyperBandForBOHB reads (on_trial_add reads none of them)."""

    def __init__(self, trials=(), searcher=None):
        self.trials = list(trials)
        self.search_alg = type("SearchAlg", (), {"searcher": searcher})()

    def get_trials(self):
        return self.trials

    def stop_trial(self, trial):
        trial.set_status(Trial.TERMINATED)


def scheduler(cls=ResumableHyperBandForBOHB):
    return cls(time_attr="epoch", metric="val_loss", mode="min", max_t=SPACE.budget_max, reduction_factor=3)


def trial(trial_id, status):
    t = Trial("run_trial", config={"lr": 1e-3}, trial_id=trial_id, stub=True)
    t.set_status(status)
    return t


def bracketed(sched):
    """Every trial in the scheduler's brackets."""
    return [t for band in sched._hyperbands for b in band if b is not None for t in b.current_trials()]


@pytest.mark.parametrize("status", [Trial.TERMINATED, Trial.ERROR])
def test_restored_finished_trial_is_not_put_in_a_bracket(status):
    sched, done = scheduler(), trial("done", status)
    sched.on_trial_add(ControllerWithTrials([done]), done)
    assert bracketed(sched) == [] and done not in sched._trial_info
    assert sched._state["bracket"] is None  # no bracket opened for it


@pytest.mark.parametrize("status", [Trial.PENDING, Trial.PAUSED])
def test_unfinished_trial_is_put_in_a_bracket(status):
    sched, t = scheduler(), trial("t", status)
    sched.on_trial_add(ControllerWithTrials([t]), t)
    assert bracketed(sched) == [t] and t in sched._trial_info


def test_resume_order_finished_then_pending_brackets_only_the_pending_one():
    sched = scheduler()
    trials = [trial("a", Trial.TERMINATED), trial("b", Trial.ERROR), trial("c", Trial.TERMINATED),
              trial("d", Trial.PENDING)]
    controller = ControllerWithTrials(trials)
    for t in trials:  # as a resume re-adds every restored trial, finished ones included
        sched.on_trial_add(controller, t)
    assert bracketed(sched) == [trials[3]]


def test_stock_hyperband_for_bohb_brackets_a_terminated_trial():
    sched, done = scheduler(HyperBandForBOHB), trial("done", Trial.TERMINATED)
    sched.on_trial_add(ControllerWithTrials([done]), done)
    assert bracketed(sched) == [done]  # the bug the fix removes: a bracket slot for a trial that never reports


# ------------------------------------------------------------------------------------ every result reaches the model

class FakeController:
    """What HyperBandForBOHB reads of Ray's TuneController: the search algorithm's searcher, the trials, and the
    calls it makes to pause or stop other trials (recorded, not run)."""

    def __init__(self, searcher):
        self.search_alg = type("SearchGenerator", (), {"searcher": searcher})()
        self.trials, self.stopped = [], []

    def get_trials(self):
        return self.trials

    def stop_trial(self, trial):
        self.stopped.append(trial.trial_id)


def hyperband(cls=ResumableHyperBandForBOHB):
    return cls(time_attr="epoch", metric="val_loss", mode="min", max_t=9, reduction_factor=3)


def added(scheduler, controller, searcher_, trial_id):
    """A trial the searcher suggested and the scheduler placed in a bracket (rungs 1, 3, 9: the first bracket). Ours
    is handed the searcher it feeds, as sweep.bohb.connect does."""
    if isinstance(scheduler, ResumableHyperBandForBOHB):
        scheduler.use_searcher(searcher_)
    config = searcher_.suggest(trial_id)
    trial = Trial("run_trial", config=config, trial_id=trial_id, stub=True)
    trial.set_status(Trial.RUNNING)
    controller.trials.append(trial)
    scheduler.on_trial_add(controller, trial)
    return trial, config


def test_the_rungs_of_a_bracket_are_the_ones_ray_uses():
    scheduler, s = hyperband(), searcher()
    controller = FakeController(s)
    trial, _ = added(scheduler, controller, s, "t0")
    assert scheduler.rungs_of(trial) == [1, 3, 9]


@pytest.mark.parametrize("epoch, budget", [(1.0, 1), (2.0, 3), (3.0, 3), (5.0, 9), (9.0, 9)])
def test_a_completed_trial_is_counted_at_the_rung_it_reached_or_the_next(epoch, budget):
    """Ray's controller hands the searcher nothing when a trial ends (TuneBOHB.on_trial_complete drops the result):
    the scheduler's completion hook now does, at the rung reached, or the next one for a run that ended between two."""
    scheduler, s = hyperband(), searcher()
    controller = FakeController(s)
    trial, config = added(scheduler, controller, s, "t0")
    scheduler.on_trial_complete(controller, trial, flat_result(config, val_loss=2.5, epoch=epoch))
    assert s.observations() == {budget: 1}
    assert s.bohber.losses[budget] == [2.5]


def test_stock_bohb_learns_nothing_from_a_completed_trial():
    scheduler, s = hyperband(HyperBandForBOHB), searcher(TuneBOHB)
    controller = FakeController(s)
    trial, config = added(scheduler, controller, s, "t0")
    scheduler.on_trial_complete(controller, trial, flat_result(config, val_loss=2.5, epoch=9.0))
    s.on_trial_complete("t0", flat_result(config, val_loss=2.5, epoch=9.0))
    assert dict(s.bohber.losses) == {}


def test_a_result_the_scheduler_stops_on_reaches_the_model(monkeypatch):
    """When HyperBand decides STOP at a rung, Ray's controller skips the searcher: the scheduler passes it on."""
    from ray.tune.schedulers import TrialScheduler

    def stop_at_rung(self, tune_controller, trial, result):  # what HyperBandForBOHB does when the bracket is done
        result["hyperband_info"] = {"budget": 9}
        return TrialScheduler.STOP

    monkeypatch.setattr(HyperBandForBOHB, "on_trial_result", stop_at_rung)
    scheduler, s = hyperband(), searcher()
    controller = FakeController(s)
    trial, config = added(scheduler, controller, s, "t0")
    assert scheduler.on_trial_result(controller, trial, flat_result(config, 2.0, epoch=9.0)) == TrialScheduler.STOP
    assert s.observations() == {9: 1}


def test_each_trial_is_counted_once_per_budget_whichever_path_brings_it():
    scheduler, s = hyperband(), searcher()
    controller = FakeController(s)
    trial, config = added(scheduler, controller, s, "t0")
    s.on_trial_result("t0", flat_result(config, 3.0, budget=1, epoch=1.0))       # paused at the first rung
    s.on_trial_result("t0", flat_result(config, 3.0, budget=1, epoch=1.0))       # the same result again
    scheduler.on_trial_complete(controller, trial, flat_result(config, 3.0, epoch=1.0))  # then stopped there
    assert s.observations() == {1: 1}


def test_a_searcher_pickled_before_the_fix_observes_after_a_restore(tmp_path):
    s = searcher()
    config = s.suggest("t0")
    s.__dict__.pop("observed", None)  # as pickled by babysweep 0.1
    path = tmp_path / "searcher-state.pkl"
    s.save(str(path))
    again = restored(ResumableTuneBOHB, path)
    again.__dict__.pop("observed", None)
    assert again.observe("t0", flat_result(config, 2.0), 3) and again.observations() == {3: 1}


# ------------------------------------------------------------------------------------ the compute budget

def test_no_new_trial_once_the_compute_budget_is_spent():
    from ray.tune.search import Searcher

    s = ComputeBudget(searcher(), epochs=5)
    configs = [s.suggest(f"t{i}") for i in range(2)]
    s.on_trial_result("t0", flat_result(configs[0], 3.0, epoch=3.0))
    assert isinstance(s.suggest("t2"), dict)  # 3 of 5 epochs spent
    s.on_trial_complete("t1", flat_result(configs[1], 3.0, epoch=2.0))  # a trial's final result counts too
    assert s.spent()["epochs"] == 5.0 and s.suggest("t3") == Searcher.FINISHED


def test_hours_and_gpu_hours_limits():
    from ray.tune.search import Searcher

    s = ComputeBudget(searcher(), gpu_hours=1.0, gpus_per_trial=0.5)
    config = s.suggest("t0")
    s.on_trial_result("t0", {**flat_result(config, 3.0, epoch=1.0), "wall_s": 3600.0})
    assert s.spent() == {"epochs": 1.0, "hours": 1.0, "gpu_hours": 0.5} and s.suggest("t1") != Searcher.FINISHED
    s.on_trial_result("t0", {**flat_result(config, 3.0, epoch=2.0), "wall_s": 7200.0})
    assert s.suggest("t2") == Searcher.FINISHED


def test_the_compute_budget_is_a_wrapper_saved_by_ray_beside_the_searcher(tmp_path):
    """SearchGenerator.save_to_dir (what Ray's controller calls) saves the wrapper's state in search_gen_state and the
    BOHB searcher's in searcher-state; a resume restores both, and the spend counts on."""
    from ray.tune.search import Searcher, SearchGenerator

    s = ComputeBudget(searcher(), epochs=5)
    config = s.suggest("t0")
    s.on_trial_result("t0", flat_result(config, 3.0, epoch=3.0))
    SearchGenerator(s).save_to_dir(str(tmp_path), session_str="x")
    assert "latest" not in s.searcher.__dict__ and "limits" not in s.searcher.__dict__  # not BOHB's business

    again = ComputeBudget(searcher(), epochs=5)
    SearchGenerator(again).restore_from_dir(str(tmp_path))
    assert again.spent()["epochs"] == 3.0 and "t0" in again.searcher.trial_to_params
    again.on_trial_result("t0", flat_result(config, 3.0, epoch=5.0))
    assert again.suggest("t1") == Searcher.FINISHED


def test_a_searcher_that_carried_its_budget_itself_gets_the_wrapper(tmp_path):
    """Folders saved before the budget was a wrapper: a bare ResumableTuneBOHB with limits (tuner.pkl) and its spend
    (searcher-state). connect wraps it and takes both over; the scheduler is handed the BOHB searcher."""
    from ray.tune.search import Searcher, SearchGenerator

    old = searcher()
    old.limit(epochs=5)
    config = old.suggest("t0")
    old.latest = {"t0": (4.0, 0.0)}  # what the searcher of before recorded from its results
    old.on_trial_result("t0", flat_result(config, 3.0, budget=1, epoch=1.0))
    SearchGenerator(old).save_to_dir(str(tmp_path), session_str="x")

    pickled = searcher()
    pickled.limit(epochs=5)  # as tuner.pkl holds it: limits, no spend
    sched = hyperband()
    wrapped = connect(pickled, sched)
    assert isinstance(wrapped, ComputeBudget) and wrapped.searcher is pickled and sched.searcher is pickled
    assert wrapped.limits["epochs"] == 5 and "limits" not in pickled.__dict__
    SearchGenerator(wrapped).restore_from_dir(str(tmp_path))  # Ray warns that the wrapper's own state is absent
    assert wrapped.spent()["epochs"] == 4.0 and "latest" not in pickled.__dict__
    assert pickled.observations() == {1: 1}
    wrapped.on_trial_result("t0", flat_result(config, 3.0, epoch=5.0))
    assert wrapped.suggest("t1") == Searcher.FINISHED
    assert connect(wrapped, sched) is wrapped  # once is enough


def test_budgets_count_in_units_of_the_spaces_minimum():
    """{min: 3, max: 27}: stock Ray's rungs start at 1 epoch, below the minimum; in units of 3 they are 3, 9, 27."""
    scheduler, s = ResumableHyperBandForBOHB(time_attr="epoch", metric="val_loss", mode="min", max_t=27,
                                             budget_unit=3, reduction_factor=3), searcher()
    controller = FakeController(s)
    trial, config = added(scheduler, controller, s, "t0")
    assert [r * 3 for r in scheduler.rungs_of(trial)] == [3, 9, 27]
    scheduler.on_trial_complete(controller, trial, flat_result(config, val_loss=2.5, epoch=5.0))
    assert s.observations() == {3: 1}  # epoch 5 ended between rungs 3 and 9 epochs: counted at 9 epochs (3 units)


def test_fractional_budgets_keep_their_rungs():
    """{min: 0.5, max: 2} reported every 0.25 epoch: stock Ray (integer budgets) has one bracket at 2, no early
    stopping; in quarter epochs the brackets are hpbandster's: one with rungs at 0.75 epochs (its 2/3, on a report)
    and 2, one at 2."""
    stock = HyperBandForBOHB(time_attr="epoch", metric="val_loss", mode="min", max_t=2, reduction_factor=3)
    assert [r for r in (stock._get_r0(s) for s in range(stock._s_max_1)) if r > 0] == [2]
    scheduler, s = ResumableHyperBandForBOHB(time_attr="epoch", metric="val_loss", mode="min", max_t=2, min_t=0.5,
                                             budget_unit=0.25, reduction_factor=3), searcher()
    controller = FakeController(s)
    trial, _ = added(scheduler, controller, s, "t0")
    # its most aggressive bracket halves once: Ray stops its trials at 0.75 and 2 epochs (tests/test_rungs.py)
    assert [r * 0.25 for r in scheduler.rungs_of(trial)] == [0.75, 2.0]


def milestones(bracket) -> list:
    """The budgets a bracket's trials run to, rung by rung, as it halves (no trial in it: nothing to compare)."""
    out = [rc.milestone(bracket)]
    while bracket._halves:
        bracket.successive_halving("val_loss", -1.0)
        out.append(rc.milestone(bracket))
    return out


def test_a_bracket_resumes_on_babysweeps_rungs_and_one_saved_before_them_on_rays():
    """Budget 1 to 10: the most aggressive bracket's rungs 1, 3, 10 travel in the snapshot and are rebuilt as they
    were; a snapshot saved before babysweep had its own rungs (no "rungs") goes on as stock Ray: 1, 3, 9."""
    def fresh():
        return ResumableHyperBandForBOHB(time_attr="epoch", metric="val_loss", mode="min", max_t=10, min_t=1,
                                         reduction_factor=3)

    sched, s = fresh(), searcher()
    t0, _ = added(sched, FakeController(s), s, "t0")
    assert sched.rungs_of(t0) == [1, 3, 10]
    snapshot = sched.snapshot()
    again = fresh()
    again._rebuild(snapshot)
    bracket = again._places["t0"][0]
    assert rc.bracket_state(bracket) == snapshot["bands"][0][0]["fields"]  # its rungs included
    assert milestones(bracket) == [1, 3, 10]

    legacy = copy.deepcopy(snapshot)
    for band in legacy["bands"]:
        for data in filter(None, band):
            del data["fields"]["rungs"]
    old = fresh()
    old._rebuild(legacy)
    assert rc.rungs(old._places["t0"][0]) is None and milestones(old._places["t0"][0]) == [1, 3, 9]


# ------------------------------------------------------------------------------------ the brackets across a resume

def restored_trial(trial_id, config, status=Trial.PENDING):
    """A trial as Ray's resume hands it to the scheduler: every unfinished one PENDING (TuneController
    ._requeue_restored_trials), finished ones as they ended."""
    t = Trial("run_trial", config=config, trial_id=trial_id, stub=True)
    t.set_status(status)
    return t


def unit_result(scheduler, epoch, val_loss):
    return scheduler._in_units({"epoch": epoch, "val_loss": val_loss})


@pytest.fixture
def interrupted(tmp_path):
    """A sweep stopped mid-run: t0 paused at the first rung (1 epoch), t1 running below it (0.5), t2 not started;
    the searcher saved as Ray saves it (with its trials). Returns (scheduler, its snapshot, searcher state, configs)."""
    scheduler, s = ResumableHyperBandForBOHB(time_attr="epoch", metric="val_loss", mode="min", max_t=9,
                                             budget_unit=0.5, reduction_factor=3), searcher()
    controller = FakeController(s)
    (t0, c0), (t1, c1), (t2, c2) = (added(scheduler, controller, s, f"t{i}") for i in range(3))
    assert scheduler.on_trial_result(controller, t1, unit_result(scheduler, 0.5, 3.4)) == "CONTINUE"
    assert scheduler.on_trial_result(controller, t0, unit_result(scheduler, 1.0, 3.1)) == "PAUSE"
    t0.set_status(Trial.PAUSED)
    path = tmp_path / "searcher-state.pkl"
    s.save(str(path))  # Ray's save_to_dir: the searcher, with the scheduler's brackets
    return scheduler, scheduler.snapshot(), path, {"t0": c0, "t1": c1, "t2": c2}


def test_a_resumed_scheduler_has_its_brackets_back_and_the_trial_paused_at_a_rung_paused_again(interrupted):
    _, before, path, configs = interrupted
    s = restored(ResumableTuneBOHB, path)
    again = ResumableHyperBandForBOHB(time_attr="epoch", metric="val_loss", mode="min", max_t=9, budget_unit=0.5,
                                      reduction_factor=3, searcher=s)
    controller = FakeController(s)
    trials = {tid: restored_trial(tid, configs[tid]) for tid in ("t1", "t2", "t0")}  # Ray's order: latest first
    for t in trials.values():
        again.on_trial_add(controller, t)

    assert trials["t0"].status == Trial.PAUSED  # it waits for its bracket's cut, as before the stop
    assert trials["t1"].status == trials["t2"].status == Trial.PENDING
    assert "t0" in s.paused
    assert again.snapshot() == before  # same brackets, same order, same last results, same counters
    bracket = again._trial_info[trials["t0"]][0]
    assert [t.trial_id for t in bracket._all_trials] == ["t0", "t1", "t2"]
    assert again.choose_trial_to_run(controller) is not trials["t0"]


def test_stock_hyperband_starts_a_resume_with_empty_brackets_and_runs_the_paused_trial_on(interrupted):
    _, _, _, configs = interrupted
    stock = HyperBandForBOHB(time_attr="epoch", metric="val_loss", mode="min", max_t=18, reduction_factor=3)
    controller = FakeController(searcher())
    t0 = restored_trial("t0", configs["t0"])
    stock.on_trial_add(controller, t0)
    assert t0.status == Trial.PENDING and stock._trial_info[t0][0]._live_trials[t0] is None


def test_a_trial_ray_retries_keeps_its_place_and_its_last_result(interrupted):
    scheduler, before, _, _ = interrupted
    controller = FakeController(searcher())
    t1 = next(t for t in scheduler._trial_info if t.trial_id == "t1")
    scheduler.on_trial_error(controller, t1)  # Ray's _requeue_trial: the error, then the same trial added again
    t1.set_status(Trial.PENDING)
    scheduler.on_trial_add(controller, t1)
    assert scheduler.snapshot() == before


def test_a_trial_that_ends_in_error_leaves_its_bracket_at_the_schedulers_next_call(interrupted):
    scheduler, before, _, _ = interrupted
    controller = FakeController(searcher())
    t1 = next(t for t in scheduler._trial_info if t.trial_id == "t1")
    scheduler.on_trial_error(controller, t1)
    scheduler.choose_trial_to_run(controller)
    bracket = next(b for band in scheduler.snapshot()["bands"] for b in band if b is not None)
    assert set(bracket["live"]) == {"t0", "t2"} and bracket["all"] == ["t0", "t1", "t2"]


def test_stock_hyperband_moves_a_retried_trial_and_forgets_its_result():
    stock, s = HyperBandForBOHB(time_attr="epoch", metric="val_loss", mode="min", max_t=18, reduction_factor=3), \
        searcher()
    controller = FakeController(s)
    t0, _ = added(stock, controller, s, "t0")
    stock.on_trial_result(controller, t0, {"epoch": 1.0, "val_loss": 3.4})
    stock.on_trial_error(controller, t0)
    stock.on_trial_add(controller, t0)
    bracket = stock._trial_info[t0][0]
    assert bracket._live_trials[t0] is None and [t.trial_id for t in bracket._all_trials] == ["t0", "t0"]
