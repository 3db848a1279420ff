"""An in-process stand-in for Ray Tune's TuneController (ray/tune/execution/tune_controller.py, Ray 2.60): it drives
a scheduler, a searcher and Tune callbacks through the very calls, in the very order, the real controller makes, on
real Trial objects, with no Ray workers and no ray.init. `babysweep plan` runs a sweep's own searcher and scheduler
on it to count the epochs the schedule spends (sweep/plan.py); the tests run whole tuning loops on it
(tests/test_bohb_learning.py, tests/test_rungs.py). Trials run a trainable of the babysweep kind
(`fn(config, reporter)`, e.g. the synthetic test functions of trainables/synthetic/) whose reports are computed up
front and handed out one at a time, as if the trial were training.

What it mirrors:
- new trials: the searcher is asked (`suggest`) while fewer than `max_pending` trials wait; FINISHED ends the
  search, None waits (TuneController._maybe_update_trial_queue / SearchGenerator.next_trial); each new trial is
  added with `scheduler.on_trial_add` (TuneController.add_trial);
- starting: `scheduler.choose_trial_to_run` picks a PENDING or to-be-unpaused trial while a slot is free
  (TuneController._maybe_add_actors);
- a result: flattened, the scheduler's `on_trial_result` decides; the searcher's `on_trial_result` is called only
  when the decision is not STOP; callbacks see every result (TuneController._process_trial_result); PAUSE frees the
  slot, STOP stops the trial;
- a trainable that returns: its last result again with done=True, which stops the trial without asking the scheduler
  (Trial.should_stop);
- stopping (`stop_trial`, also what the scheduler calls on other trials): a RUNNING trial gets
  `scheduler.on_trial_complete` and `searcher.on_trial_complete` with its last result, a PAUSED or PENDING one
  `scheduler.on_trial_remove` and `searcher.on_trial_complete` without one (TuneController.stop_trial).
The searcher is wrapped in Ray's real SearchGenerator, as tune.run does: Ray's HyperBandForBOHB reaches it as
`tune_controller.search_alg.searcher` for on_pause / on_unpause.
"""
import itertools
from contextlib import contextmanager

from ray.tune.experiment import Trial
from ray.tune.schedulers import TrialScheduler
from ray.tune.search import Searcher, SearchGenerator
from ray.tune.utils import flatten_dict

from trainables.reporting import Reporter


class Collect(Reporter):
    """A reporter that keeps a trainable's reports (checkpoints are not kept: a fake trial resumes by position)."""

    def __init__(self):
        self.results = []

    def report(self, metrics, checkpoint_dir=None):
        self.results.append(dict(metrics))

    @contextmanager
    def restored_checkpoint(self):
        yield None


class FakeController:
    def __init__(self, trainable, searcher, scheduler, num_samples, callbacks=(), slots=1, max_pending=1,
                 constants=None):
        self.trainable, self.scheduler, self.num_samples = trainable, scheduler, num_samples
        self.search_alg = SearchGenerator(searcher)
        self.callbacks, self.slots, self.max_pending = list(callbacks), slots, max_pending
        self.constants = dict(constants or {})
        self.trials, self.iteration, self.finished = [], 0, False
        self.pending_results = {}  # trial -> its reports not handed out yet
        self.decisions = []  # (trial_id, epoch, decision) of every scheduler decision on a result
        self.stopped = []  # trial ids in the order they stopped
        self._ids = itertools.count()
        for callback in self.callbacks:
            callback.setup()

    # ---------------------------------------------------------------- what the scheduler reads and calls
    def get_trials(self):
        return self.trials

    def get_live_trials(self):
        return {t for t in self.trials if t.status != Trial.TERMINATED}

    def stop_trial(self, trial):
        if trial.status in (Trial.ERROR, Trial.TERMINATED):
            return
        if trial.status in (Trial.PENDING, Trial.PAUSED):
            self.scheduler.on_trial_remove(self, trial)
            self.search_alg.on_trial_complete(trial.trial_id)
        else:
            last = flatten_dict(trial.last_result)
            self.scheduler.on_trial_complete(self, trial, last)
            self.search_alg.on_trial_complete(trial.trial_id, result=last)
        for callback in self.callbacks:
            callback.on_trial_complete(iteration=self.iteration, trials=self.trials, trial=trial)
        trial.set_status(Trial.TERMINATED)
        self.stopped.append(trial.trial_id)

    # ---------------------------------------------------------------- the loop
    def _new_trial(self) -> bool:
        if self.finished or len(self.trials) >= self.num_samples:
            return False
        trial_id = f"{next(self._ids):05d}"
        config = self.search_alg.searcher.suggest(trial_id)
        if config == Searcher.FINISHED:
            self.finished = True  # SearchGenerator.set_finished: no more suggestions asked for
            return False
        if config is None:
            return False
        trial = Trial("run_trial", config=dict(config), trial_id=trial_id, stub=True)
        reporter = Collect()
        self.trainable({**config, **self.constants}, reporter=reporter)
        self.pending_results[trial] = list(reporter.results)
        self.trials.append(trial)
        self.scheduler.on_trial_add(self, trial)
        return True

    def _running(self):
        return [t for t in self.trials if t.status == Trial.RUNNING]

    def _fill(self):
        while sum(t.status == Trial.PENDING for t in self.trials) < self.max_pending and self._new_trial():
            pass
        while len(self._running()) < self.slots:
            trial = self.scheduler.choose_trial_to_run(self)
            if trial is None:
                return
            trial.set_status(Trial.RUNNING)
            for callback in self.callbacks:
                callback.on_trial_start(iteration=self.iteration, trials=self.trials, trial=trial)

    def _result(self, trial, result):
        """TuneController._process_trial_result, then the decision executed."""
        iteration = (trial.last_result or {}).get("training_iteration", 0) + (0 if result.get("done") else 1)
        result = {**result, "trial_id": trial.trial_id, "training_iteration": iteration, "config": dict(trial.config)}
        flat = flatten_dict(result)
        if result.get("done"):
            decision = TrialScheduler.STOP
        else:
            decision = self.scheduler.on_trial_result(self, trial, flat)
            self.decisions.append((trial.trial_id, result.get("epoch"), decision))
        if decision != TrialScheduler.STOP:
            self.search_alg.on_trial_result(trial.trial_id, flat)
        for callback in self.callbacks:
            callback.on_trial_result(iteration=self.iteration, trials=self.trials, trial=trial, result=result)
        trial.update_last_result(result)
        if decision == TrialScheduler.STOP:
            self.stop_trial(trial)
        elif decision == TrialScheduler.PAUSE:
            trial.set_status(Trial.PAUSED)

    def step(self) -> bool:
        """One result of one running trial (the oldest one first); False once nothing is left to run."""
        self.iteration += 1
        self._fill()
        running = self._running()
        if not running:
            return False
        trial = running[0]
        results = self.pending_results[trial]
        if results:
            self._result(trial, results.pop(0))
        else:  # the trainable returned: Ray hands its last result again, done
            self._result(trial, {**{k: v for k, v in trial.last_result.items() if k != "config"}, "done": True})
        return True

    def run(self, max_steps=1_000_000):
        for _ in range(max_steps):
            if not self.step():
                break
        for callback in self.callbacks:
            callback.on_experiment_end(trials=self.trials)
        return self

    # ---------------------------------------------------------------- what a test reads
    @property
    def searcher(self):
        return self.search_alg.searcher

    def epochs(self) -> dict:
        """{trial_id: the last epoch it reported}."""
        return {t.trial_id: (t.last_result or {}).get("epoch", 0) for t in self.trials}
