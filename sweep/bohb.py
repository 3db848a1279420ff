"""BOHB as Ray Tune ships it (TuneBOHB + HyperBandForBOHB), with babysweep's fixes.

Resuming: a resumed experiment hands its searcher and scheduler every trial it restored, finished ones included,
in states saved at slightly different moments (ResumableTuneBOHB.on_trial_result / restore,
ResumableHyperBandForBOHB.on_trial_add). Ray saves the searcher with its trials but never the scheduler: a
resumed HyperBand started with empty brackets, filled them in another order (Ray re-adds restored trials latest
result first), and ran a trial that had been paused at a rung on past it before its bracket was cut, where it was
compared at a later epoch than its rivals. So the scheduler's brackets travel in the searcher's saved state
(ResumableTuneBOHB.save, ResumableHyperBandForBOHB.snapshot) and are rebuilt from it, paused trials paused again:
a sweep interrupted and resumed makes the decisions an uninterrupted one makes.

Learning from every result: Ray's controller passes a result to the searcher only when the scheduler does not
STOP the trial, and TuneBOHB.on_trial_complete drops the final result. So hpbandster's model never saw the result a
trial was stopped on at a rung (nor any result at the last rung, where every trial stops), nor the last result of a
trial that ended its own schedule between rungs. Here the scheduler hands those to the searcher when the trial
completes (ResumableHyperBandForBOHB.on_trial_complete), at the rung the trial reached, or at the next rung when it
ended its own schedule between two (a finished run's value is final: it stands for what it would have shown at that
rung). The searcher records each (trial, budget) once (ResumableTuneBOHB.observe), whichever path brings it.
"""
import math
import weakref

from ray.tune.experiment import Trial
from ray.tune.schedulers import HyperBandForBOHB, TrialScheduler
from ray.tune.search.bohb import TuneBOHB

from . import ray_compat as rc
from .budget import ComputeBudget
from .rungs import EPS, bracket_count, bracket_units, ray_bracket_budgets, units


class ResumableTuneBOHB(TuneBOHB):
    """TuneBOHB that records every result it is given once per budget, and survives a resume whose saved searcher
    state is a step behind Ray's trial list (the driver was killed between the two saves): an unknown trial's
    parameters are taken from the config its result carries, instead of failing with a KeyError.

    The compute budget is not its business: ComputeBudget (sweep/budget.py) wraps it."""

    def limit(self, epochs=None, hours=None, gpu_hours=None, gpus_per_trial=0.0):
        """Ask for a compute budget (total epochs, trial-hours, GPU-hours; None: no limit). Only recorded here:
        `connect` wraps a searcher that asks for one in ComputeBudget, which enforces it. For callers that build
        the searcher before the wrapper (sweep/kinds/searched.py): ComputeBudget(searcher, ...) says it directly."""
        self.limits = {"epochs": epochs, "hours": hours, "gpu_hours": gpu_hours}
        self.gpus_per_trial = gpus_per_trial

    def observe(self, trial_id, result, budget) -> bool:
        """Give hpbandster's model the trial's `result` at `budget`, unless it has it already. True when given."""
        observed = self.__dict__.setdefault("observed", set())  # absent from searchers pickled before this fix
        if (trial_id, budget) in observed or self.metric not in result or trial_id not in self.trial_to_params:
            return False
        observed.add((trial_id, budget))
        self.bohber.new_result(rc.observation(rc.metric_sign(self) * result[self.metric], budget,
                                              self.trial_to_params[trial_id]))
        return True

    def observations(self) -> dict:
        """{budget: number of results} that hpbandster's model holds."""
        return {budget: len(losses) for budget, losses in self.bohber.losses.items()}

    def on_trial_result(self, trial_id, result):
        if trial_id not in self.paused:
            self.running.add(trial_id)
        info = result.get("hyperband_info")
        if info is None:
            # Under ASHA or FIFO (--algo asha/random, which sample at random): no budget info, no model to
            # update; stock TuneBOHB would log a warning for every result
            return
        if trial_id not in self.trial_to_params:
            # Ray hands searchers flattened results: the trial's config is under "config/<name>"
            self.trial_to_params[trial_id] = {k[len("config/"):]: v for k, v in result.items()
                                              if k.startswith("config/")}
        if "budget" in info:
            self.observe(trial_id, result, info["budget"])

    def on_trial_complete(self, trial_id, result=None, error=False):
        self.trial_to_params.setdefault(trial_id, {})
        super().on_trial_complete(trial_id, result, error)

    def restore(self, checkpoint_path):
        # The saved running/paused sets may name trials Ray's own saved state never had; counted against
        # max_concurrent they would block new suggestions forever. Reports rebuild them.
        super().restore(checkpoint_path)
        self.running, self.paused = set(), set()

    def save(self, checkpoint_path):
        # Ray saves the searcher in the same step as its trials, and never the scheduler: the scheduler's brackets
        # go along here, consistent with the trials by construction (ResumableHyperBandForBOHB.snapshot)
        scheduler_ref = self.__dict__.pop("scheduler_ref", None)  # a weak reference: not picklable, not wanted
        scheduler = scheduler_ref() if scheduler_ref is not None else None
        if scheduler is not None:
            self.scheduler_snapshot = scheduler.snapshot()
        try:
            super().save(checkpoint_path)
        finally:
            if scheduler_ref is not None:
                self.scheduler_ref = scheduler_ref


UNITS = "hyperband_units"  # the budget the brackets count in: epochs / budget_unit


class ResumableHyperBandForBOHB(rc.HyperBandState, rc.OwnRungs, HyperBandForBOHB):
    """HyperBandForBOHB that hands the searcher the results Ray's controller withholds from it (the module
    docstring), halves at hpbandster's budgets counted in units of the space's reporting step, and does not put
    restored finished trials into its brackets. The searcher it feeds is handed to it (`use_searcher`, done by
    `connect`).

    Rungs: Ray's HyperBand assumes a minimum budget of 1 (its smallest rung is max_t * eta^-s_max with s_max from
    max_t alone) and truncates rungs to integers, r = int(min(r * eta, max_t)): a space with budget {min: 3, max: 27}
    got rungs at 1 epoch (below its minimum), one with fractional budgets lost its rungs, and one whose maximum is
    not r0 * eta^s ended brackets below it ({min: 1, max: 10}: at int(10 / 9) * 9 = 9 epochs, so no trial of them
    was complete). Here budgets count in units of the trainable's reporting step (budget_unit: the space's
    budget_step, else its minimum), the brackets are hpbandster's (min_t: its min_budget; None: one unit), and each
    bracket halves at hpbandster's budgets max * eta^-i rounded to a report, never below the minimum, its last rung
    max_t exactly (sweep/rungs.py bracket_units, in Ray's bracket by sweep/ray_compat.py RungBracket).

    On resume Ray re-adds every trial, TERMINATED ones included. Stock HyperBandForBOHB files them into a
    fresh bracket as if they were to run; they never report again, so that bracket never completes its rung
    and any trial paused in it waits forever (the sweep hangs with nothing running)."""

    def __init__(self, time_attr="epoch", max_t=81, budget_unit=1.0, min_t=None, searcher=None, **kwargs):
        max_units = units(max_t, budget_unit)
        super().__init__(time_attr=UNITS, max_t=max_units, **kwargs)
        self.budget_attr, self.budget_unit = time_attr, budget_unit
        self.min_units = 1.0 if min_t is None else min_t / budget_unit
        # as many brackets as hpbandster: the smallest rung max * eta^-s_max stays at or above the minimum
        self.brackets_per_band = bracket_count(max_units, self.eta, self.min_units)
        self.use_own_rungs()
        if searcher is not None:
            self.use_searcher(searcher)

    def use_searcher(self, searcher):
        """The searcher whose model this scheduler feeds (a ResumableTuneBOHB; its wrappers are not wanted)."""
        self.searcher = searcher

    def use_budget(self, budget):
        """The compute budget (sweep/budget.py ComputeBudget) that decides whether a trial may start or resume."""
        self.budget = budget

    def commitments(self) -> dict:
        """{trial_id: epochs to go to its bracket's next rung} of the trials running or about to (PENDING): what
        they are committed to, for the compute budget."""
        out = {}
        for trial, (bracket, _) in self.placed.items():
            if trial.status in (Trial.RUNNING, Trial.PENDING):
                # schedulers pickled before units existed count in epochs themselves
                done = (trial.last_result or {}).get(self.__dict__.get("budget_attr", self.time_attr)) or 0.0
                out[trial.trial_id] = max(0.0, rc.milestone(bracket) * self.__dict__.get("budget_unit", 1.0) - done)
        return out

    def _no_room(self, trial) -> bool:
        budget = self.__dict__.get("budget")  # absent from schedulers pickled before: connect hands it each run
        return budget is not None and not budget.room(leave_out=trial.trial_id)

    def _searcher(self):
        """The searcher handed to this scheduler, when it can observe (schedulers pickled before searchers were
        handed have none: `connect` hands it on restore)."""
        searcher = self.__dict__.get("searcher")
        return searcher if hasattr(searcher, "observe") else None

    def _in_units(self, result):
        """Add the budget in units to a result, in place (Ray passes the same dict on to the searcher). Schedulers
        pickled before units existed count in their own time_attr and have nothing to add."""
        if self.time_attr == UNITS and result and result.get(self.budget_attr) is not None:
            result[UNITS] = float(units(result[self.budget_attr], self.budget_unit))
        return result

    def rungs_for(self, s) -> list:
        """The rungs (units) of a new bracket s (sweep/rungs.py). A scheduler pickled before min_units existed
        had its minimum at one unit (budget_unit was the minimum)."""
        return bracket_units(s, self.max_units, self.eta, self.__dict__.get("min_units", 1.0))

    def rungs_of(self, trial) -> list:
        """The budgets (units) at which the trial's bracket compares its trials: its own rungs, or stock Ray's
        for a bracket saved before babysweep had them (sweep/rungs.py)."""
        bracket, band_idx = self.placed[trial]
        own = rc.rungs(bracket)
        if own is not None:
            return own
        s = self.brackets_per_band - 1 - self.bands[band_idx].index(bracket)
        return ray_bracket_budgets(s, self.max_units, self.eta)

    # -------------------------------------------------------------- the brackets, saved and rebuilt on resume
    def snapshot(self) -> dict:
        """The brackets as plain data (trial ids, each live trial's last result at its budget, the counters of the
        halving), for ResumableTuneBOHB.save."""
        self._remove_errored()
        kept = {self.time_attr, self.metric, getattr(self, "budget_attr", self.time_attr)}

        def bracket_data(bracket):
            return None if bracket is None else {
                "fields": rc.bracket_state(bracket),
                "all": [t.trial_id for t in rc.members(bracket)],
                "live": {t.trial_id: None if r is None else {k: r[k] for k in kept if k in r}
                         for t, r in rc.live(bracket).items()},
                "unpause": [t.trial_id for t in bracket.trials_to_unpause]}

        current = self.position["bracket"]
        where = next(((i, j) for i, band in enumerate(self.bands) for j, b in enumerate(band)
                      if b is current and current is not None), None)
        return {"bands": [[bracket_data(b) for b in band] for band in self.bands],
                "band_idx": self.position["band_idx"], "bracket": where, "num_stopped": self.num_stopped}

    def _rebuild(self, snapshot: dict):
        """Empty brackets as `snapshot` had them; the restored trials are put back in as Ray re-adds them."""
        self.bands, self._places = [], {}
        for i, band in enumerate(snapshot["bands"]):
            self.bands.append([])
            for data in band:
                bracket = None
                if data is not None:
                    bracket = rc.new_bracket(data["fields"])
                    bracket.order = {trial_id: k for k, trial_id in enumerate(data["all"])}
                    for trial_id in data["all"]:
                        self._places[trial_id] = (bracket, i, data)
                self.bands[-1].append(bracket)
        where = snapshot["bracket"]
        self.position = {"band_idx": snapshot["band_idx"],
                         "bracket": self.bands[where[0]][where[1]] if where is not None else None}
        self.num_stopped = snapshot["num_stopped"]

    def _put_back(self, trial) -> bool:
        """Put a restored trial back where the snapshot had it; a trial that was paused at a rung, waiting for its
        bracket to be cut (Ray restores it PENDING), is paused again. False when the snapshot has no place for it
        (a trial in ERROR that --retry-errored starts again: it goes into a bracket as a new trial would)."""
        bracket, band_idx, data = self._places.get(trial.trial_id, (None, None, None))
        ended = trial.status in (Trial.TERMINATED, Trial.ERROR)
        if bracket is None or not (ended or trial.trial_id in data["live"]):
            return False
        trials = rc.members(bracket)
        trials.append(trial)
        trials.sort(key=lambda t: bracket.order.get(t.trial_id, math.inf))
        self.placed[trial] = bracket, band_idx
        if ended:
            return True
        result = data["live"][trial.trial_id]
        rc.live(bracket)[trial] = result
        if trial.trial_id in data["unpause"]:
            bracket.trials_to_unpause.add(trial)
        elif result is not None and result.get(self.time_attr, 0) >= rc.milestone(bracket) - EPS:
            # Ray registers a trial by the status it has once this returns (TuneController.add_trial)
            trial.set_status(Trial.PAUSED)
            searcher = self._searcher()
            if searcher is not None:
                searcher.on_pause(trial.trial_id)
        return True

    def _forget_missing(self):
        """Once Ray has re-added its restored trials: the snapshot's places are done with. A trial it had but Ray's
        state has not (none, as both are saved in one step) is left out, as an errored trial is."""
        self.__dict__.pop("_places", None)

    def _link_searcher(self):
        """At the first call of a run: the searcher saves this scheduler's brackets with its state (a weak
        reference: not picklable, not wanted in it), and a resumed one gives back the brackets it saved."""
        searcher = self._searcher()
        if isinstance(searcher, ResumableTuneBOHB) and not isinstance(searcher.__dict__.get("scheduler_ref"),
                                                                      weakref.ref):
            searcher.scheduler_ref = weakref.ref(self)
            snapshot = searcher.__dict__.get("scheduler_snapshot")
            if snapshot is not None and not self.placed:  # a resume: the brackets as they were saved
                self._rebuild(snapshot)

    # -------------------------------------------------------------- a failed trial that Ray retries
    # Ray retries a trial that lost its worker (FailureConfig.max_failures) by telling the scheduler it errored and
    # adding it again at once (TuneController._requeue_trial): stock HyperBand dropped it from its bracket and put
    # it into the newest one, where it was compared with other trials at other rungs. Here the removal waits for
    # the scheduler's next call: the same trial added again keeps its place and its last result (it goes on from
    # the checkpoint of that result); any other call means it ended in error, and it is removed then.

    def on_trial_error(self, tune_controller, trial):
        self._remove_errored()
        if trial in self.placed:
            self._errored = (tune_controller, trial)
            return
        super().on_trial_error(tune_controller, trial)

    def _remove_errored(self):
        tune_controller, trial = self.__dict__.pop("_errored", (None, None))
        if trial is not None:
            super().on_trial_remove(tune_controller, trial)

    def on_trial_remove(self, tune_controller, trial):
        self._remove_errored()
        super().on_trial_remove(tune_controller, trial)

    def on_trial_add(self, tune_controller, trial):
        self._link_searcher()
        if self.__dict__.get("_errored", (None, None))[1] is trial:
            del self._errored  # retried: kept where it was (see above)
            return
        self._remove_errored()
        if "_places" in self.__dict__ and self._put_back(trial):
            return
        if trial.status in (Trial.TERMINATED, Trial.ERROR):
            return
        super().on_trial_add(tune_controller, trial)

    def choose_trial_to_run(self, tune_controller, allow_recurse=True):
        self._remove_errored()
        if "_places" in self.__dict__:
            self._forget_missing()
        trial = super().choose_trial_to_run(tune_controller, allow_recurse)
        if trial is None or not self._no_room(trial):
            return trial
        # The compute budget: no trial starts or resumes once the spend plus the running trials' commitments reaches
        # the limit. While a trial runs, wait (stopped at its rung, it frees what it was committed to); with none
        # running the spend alone has reached it, and every trial waiting to start or resume ends where it is.
        if not any(t.status == Trial.RUNNING for t in tune_controller.get_trials()):
            for waiting in [t for t in tune_controller.get_trials() if t.status in (Trial.PENDING, Trial.PAUSED)]:
                tune_controller.stop_trial(waiting)
        return None

    def on_trial_complete(self, tune_controller, trial, result):
        self._remove_errored()
        # Ray calls this before the searcher's on_trial_complete, for trials stopped by this scheduler and for trials
        # that ended their own schedule alike: the one moment both still know the trial
        searcher = self._searcher()
        epoch = self._in_units(result or {}).get(self.time_attr)
        if trial in self.placed and searcher is not None and epoch is not None and math.isfinite(epoch):
            reached = [r for r in self.rungs_of(trial) if r >= epoch - EPS]
            searcher.observe(trial.trial_id, result, reached[0] if reached else rc.max_budget(self.placed[trial][0]))
        super().on_trial_complete(tune_controller, trial, result)

    def _past_rung(self, trial, result) -> bool:
        """The trial's result reached a rung of its bracket and the trial carries on beyond it."""
        done = result.get(self.time_attr)
        return done is not None and trial in self.placed and any(abs(done - r) <= EPS for r in self.rungs_of(trial)) \
            and rc.milestone(self.placed[trial][0]) > done + EPS

    def on_trial_result(self, tune_controller, trial, result):
        self._remove_errored()
        if "_places" in self.__dict__:
            self._forget_missing()
        decision = super().on_trial_result(tune_controller, trial, self._in_units(result))
        budget = self.__dict__.get("budget")
        if budget is not None:
            budget.record(trial.trial_id, result)  # the result counts before the decision on it (Ray: after)
        if decision == TrialScheduler.CONTINUE and self._past_rung(trial, result) and self._no_room(trial):
            decision = TrialScheduler.STOP  # cut at its rung and carried on: a resume, which the budget refuses
        searcher = self._searcher()
        if decision == TrialScheduler.STOP and "budget" in result.get("hyperband_info", {}) and searcher is not None:
            # the controller will not pass this result on: the searcher's model would not see it
            searcher.observe(trial.trial_id, result, result["hyperband_info"]["budget"])
        return decision


def connect(search_alg, scheduler):
    """The searcher and scheduler of a run as the Tuner takes them: a ResumableTuneBOHB that asks for a compute
    budget itself (limit(); and every folder saved before the budget was a wrapper) is wrapped in ComputeBudget,
    a ResumableHyperBandForBOHB is handed the BOHB searcher it feeds, and the budget and that scheduler each other
    (the running trials' commitments count against the budget; the budget decides whether a paused trial resumes).
    Returns the search_alg to run with."""
    inner = search_alg.searcher if isinstance(search_alg, ComputeBudget) else search_alg
    if isinstance(inner, ResumableTuneBOHB):
        if inner is search_alg and any(v is not None for v in (inner.__dict__.get("limits") or {}).values()):
            search_alg = ComputeBudget.adopt(inner)
        if isinstance(scheduler, ResumableHyperBandForBOHB) and scheduler._searcher() is None:
            scheduler.use_searcher(inner)
    if isinstance(search_alg, ComputeBudget) and isinstance(scheduler, ResumableHyperBandForBOHB):
        search_alg.use_scheduler(scheduler)  # the running trials' commitments count against the budget
        scheduler.use_budget(search_alg)
    return search_alg
