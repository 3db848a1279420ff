"""The compute budget of a sweep (--max-budget, --max-hours, --max-gpu-hours) as a Searcher wrapper, like Ray's
ConcurrencyLimiter: `ComputeBudget(searcher, epochs=...)` passes every call on to the searcher it wraps and keeps
the budget exactly: no new trial is suggested once what the trials have spent plus what the running trials are
committed to reaches the limit (None: ask again later, a running trial stopped at its rung frees what it was
committed to), and none at all once the spend alone reaches it (Searcher.FINISHED). A running trial is committed
to the budget of its next rung, as its scheduler knows it (`commitments()`, BOHB's ResumableHyperBandForBOHB;
`use_scheduler`, done by sweep.bohb.connect), and that scheduler resumes no paused trial either once there is no
room. So a sweep ends at most one rung of its running trials past the limit. Under schedulers that know no
commitments (ASHA, FIFO), only the spend counts: a trial started just before the limit runs on as its scheduler
decides. What is spent is counted from the results the wrapper sees, each trial's latest; hours committed at each
trial's own pace (seconds per epoch so far, else the mean pace of all trials).

Ray saves a wrapper's state (get_state) in its search_gen_state file and the wrapped searcher's in searcher-state
(SearchGenerator.save_to_dir unwraps anything with a `searcher` attribute). Folders saved before the budget was a
wrapper hold a bare ResumableTuneBOHB that carried the limits and the spend itself (`limits`, `gpus_per_trial`,
`latest` in its state): `adopt` takes them over (sweep.bohb.connect does, for every run)."""
from ray.tune.search import Searcher

LIMITS = ("epochs", "hours", "gpu_hours")
CARRIED = ("limits", "gpus_per_trial")  # what a searcher of an older folder carried itself, besides "latest"


class ComputeBudget(Searcher):
    def __init__(self, searcher: Searcher, epochs=None, hours=None, gpu_hours=None, gpus_per_trial=0.0):
        self.searcher = searcher
        self.limits = {"epochs": epochs, "hours": hours, "gpu_hours": gpu_hours}
        self.gpus_per_trial = gpus_per_trial
        self.latest = {}  # {trial_id: (epoch, wall_s)} of each trial's latest result
        self.scheduler = None  # what knows the running trials' commitments (use_scheduler); not in get_state
        super().__init__(metric=searcher.metric, mode=searcher.mode)

    def use_scheduler(self, scheduler):
        """The scheduler whose `commitments()` ({trial_id: epochs to its next rung} of the running trials) count
        against the budget beside the spend; one without them counts nothing."""
        self.scheduler = scheduler if hasattr(scheduler, "commitments") else None

    @classmethod
    def adopt(cls, searcher) -> "ComputeBudget":
        """A wrapper around a searcher that carries its own limits (an older folder's): they move here."""
        limits = searcher.__dict__.pop("limits", None) or {}
        gpus = searcher.__dict__.pop("gpus_per_trial", 0.0)
        wrapper = cls(searcher, **{name: limits.get(name) for name in LIMITS}, gpus_per_trial=gpus)
        wrapper.take_spend()
        return wrapper

    def take_spend(self):
        """The spend a wrapped searcher restored from an older folder's state carries: it counts here."""
        self.latest.update(self.searcher.__dict__.pop("latest", None) or {})
        for name in CARRIED:
            self.searcher.__dict__.pop(name, None)

    # ------------------------------------------------------------------ the budget
    def spent(self) -> dict:
        """What the trials have used so far: epochs, trial-hours, GPU-hours."""
        self.take_spend()
        hours = sum(wall for _, wall in self.latest.values()) / 3600
        return {"epochs": sum(epoch for epoch, _ in self.latest.values()), "hours": hours,
                "gpu_hours": hours * self.gpus_per_trial}

    def committed(self, leave_out=None) -> dict:
        """What the running trials (and those started but not yet running) are committed to beyond their spend:
        epochs to their next rung, and the hours that takes at each trial's pace; `leave_out`: a trial not counted
        (the one asking to start)."""
        scheduler = self.__dict__.get("scheduler")  # absent from wrappers pickled before commitments counted
        to_go = scheduler.commitments() if scheduler is not None else {}
        to_go.pop(leave_out, None)
        paces = {t: wall / epoch for t, (epoch, wall) in self.latest.items() if epoch > 0 and wall > 0}
        mean_pace = sum(paces.values()) / len(paces) if paces else 0.0
        hours = sum(epochs * paces.get(t, mean_pace) for t, epochs in to_go.items()) / 3600
        return {"epochs": float(sum(to_go.values())), "hours": hours, "gpu_hours": hours * self.gpus_per_trial}

    def _limits(self) -> dict:
        return {name: limit for name, limit in self.limits.items() if limit is not None}

    def budget_spent(self) -> bool:
        """The spend alone has reached a limit: no trial starts or resumes any more."""
        limits = self._limits()
        spent = self.spent() if limits else {}
        return any(spent[name] >= limit for name, limit in limits.items())

    def room(self, leave_out=None) -> bool:
        """The spend plus the running trials' commitments is below every limit: a trial may start or resume."""
        limits = self._limits()
        if not limits:
            return True
        spent, committed = self.spent(), self.committed(leave_out)
        return all(spent[name] + committed[name] < limit for name, limit in limits.items())

    def record(self, trial_id, result):
        if result and result.get("epoch") is not None:
            self.latest[trial_id] = (float(result["epoch"]), float(result.get("wall_s") or 0.0))

    # ------------------------------------------------------------------ the Searcher interface, passed on
    def suggest(self, trial_id):
        if self.budget_spent():
            return Searcher.FINISHED
        if not self.room():
            return None  # asked again later: a running trial stopped at its rung frees what it was committed to
        return self.searcher.suggest(trial_id)

    def on_trial_result(self, trial_id, result):
        self.record(trial_id, result)
        self.searcher.on_trial_result(trial_id, result)

    def on_trial_complete(self, trial_id, result=None, error=False):
        self.record(trial_id, result)
        self.searcher.on_trial_complete(trial_id, result=result, error=error)

    def set_search_properties(self, metric, mode, config, **spec) -> bool:
        return self.searcher.set_search_properties(metric, mode, config, **spec)

    def set_max_concurrency(self, max_concurrent) -> bool:
        return self.searcher.set_max_concurrency(max_concurrent)

    def add_evaluated_point(self, *args, **kwargs):
        return self.searcher.add_evaluated_point(*args, **kwargs)

    def on_pause(self, trial_id):  # BOHB's: HyperBandForBOHB calls them on the controller's searcher
        self.searcher.on_pause(trial_id)

    def on_unpause(self, trial_id):
        self.searcher.on_unpause(trial_id)

    @property
    def metric(self):
        return self.searcher.metric

    @property
    def mode(self):
        return self.searcher.mode

    # ------------------------------------------------------------------ saved with the trials (see the docstring)
    def get_state(self) -> dict:
        return {"limits": dict(self.limits), "gpus_per_trial": self.gpus_per_trial, "latest": dict(self.latest)}

    def set_state(self, state: dict):
        self.limits = dict(state.get("limits", self.limits))
        self.gpus_per_trial = state.get("gpus_per_trial", self.gpus_per_trial)
        self.latest = dict(state.get("latest", {}))

    def save(self, checkpoint_path):
        self.searcher.save(checkpoint_path)

    def restore(self, checkpoint_path):
        self.searcher.restore(checkpoint_path)
