"""BOHB as Ray Tune ships it (TuneBOHB + HyperBandForBOHB), with two fixes for resuming a sweep.

Both come from the same fact: a resumed experiment hands its searcher and scheduler every trial it
restored, finished ones included, in states saved at slightly different moments."""
from ray.tune.experiment import Trial
from ray.tune.schedulers import HyperBandForBOHB
from ray.tune.search.bohb import TuneBOHB


class ResumableTuneBOHB(TuneBOHB):
    """TuneBOHB that survives a resume whose saved searcher state is a step behind Ray's trial list (the
    driver was killed between the two saves): an unknown trial's parameters are taken from the config its
    result carries, instead of failing with a KeyError."""

    def on_trial_result(self, trial_id, result):
        if "hyperband_info" not in result:
            # Under ASHA or FIFO (--algo asha/random, which sample at random): no budget info, no model to
            # update; stock TuneBOHB would log a warning for every result
            if trial_id not in self.paused:
                self.running.add(trial_id)
            return
        if trial_id not in self.trial_to_params:
            # Ray hands searchers flattened results: the trial's config is under "config/<name>"
            self.trial_to_params[trial_id] = {k[len("config/"):]: v for k, v in result.items()
                                              if k.startswith("config/")}
        super().on_trial_result(trial_id, result)

    def on_trial_complete(self, trial_id, result=None, error=False):
        self.trial_to_params.setdefault(trial_id, {})
        super().on_trial_complete(trial_id, result, error)

    def restore(self, checkpoint_path):
        # The saved running/paused sets may name trials Ray's own saved state never had; counted against
        # max_concurrent they would block new suggestions forever. Reports rebuild them.
        super().restore(checkpoint_path)
        self.running, self.paused = set(), set()


class ResumableHyperBandForBOHB(HyperBandForBOHB):
    """HyperBandForBOHB that does not put restored finished trials into its brackets.

    On resume Ray re-adds every trial, TERMINATED ones included. Stock HyperBandForBOHB files them into a
    fresh bracket as if they were to run; they never report again, so that bracket never completes its rung
    and any trial paused in it waits forever (the sweep hangs with nothing running)."""

    def on_trial_add(self, tune_controller, trial):
        if trial.status in (Trial.TERMINATED, Trial.ERROR):
            return
        super().on_trial_add(tune_controller, trial)
