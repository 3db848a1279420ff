"""Every access babysweep makes to a private name of Ray, in one room. Checked against Ray 2.60.0
(RAY_VERSION_CHECKED); tests/test_ray_compat.py fails, naming the attribute, on a Ray whose internals moved, and
checks that no module outside this one reaches a private Ray name (no exception is needed: a Tune trial is told
apart by Ray's public `ray.tune.get_context().get_trial_id()`, trainables/reporting.in_tune).

What is private and why babysweep needs it:

- ``ray.tune.search.bohb.bohb_search._BOHBJobWrapper``: the job object hpbandster's model takes a result in
  (`observation`), for the results Ray's controller withholds from TuneBOHB (sweep/bohb.py).
- ``TuneBOHB._metric_op``: the sign that turns the metric into hpbandster's loss (`metric_sign`).
- ``ray.tune.schedulers.hyperband._Bracket`` and its fields (BRACKET_FIELDS, `_live_trials`, `_all_trials`):
  HyperBand's brackets, saved with the searcher and rebuilt on resume (`bracket_state`, `new_bracket`, `live`,
  `members`, `milestone`). `RungBracket` subclasses it to halve at babysweep's rungs (sweep/rungs.py) instead of
  Ray's int(r * eta), and `OwnRungs` makes the scheduler build those (HyperBandScheduler's `_create_bracket`,
  `_get_r0`, `_get_n0`, `_stop_last_trials`; _Bracket's `_calculate_total_work`).
- HyperBandScheduler's state (`_s_max_1`, `_eta`, `_max_t_attr`, `_hyperbands`, `_state`, `_trial_info`,
  `_num_stopped`, `_time_attr`): the scheduler subclass reads and sets it through `HyperBandState`.
- ``Tuner._local_tuner`` (its run config: callbacks and verbosity of a restored Tuner, which Ray has no public
  accessor for) and its ``_tune_config`` (a restored Tuner's searcher and scheduler): `run_config`, `tune_config`.

What old experiment folders pickled stays importable: tuner.pkl and searcher-state name Ray's own classes by Ray's
module paths and babysweep's (sweep.bohb.ResumableTuneBOHB, ResumableHyperBandForBOHB) by theirs, none of them moved
here; a scheduler snapshot is plain data (no _Bracket in it). A bracket saved before RungBracket existed (no
"rungs" in its snapshot) is rebuilt as Ray's own _Bracket: it goes on halving as it did.
"""
import math

from ray.tune.schedulers.hyperband import _Bracket
from ray.tune.search.bohb.bohb_search import _BOHBJobWrapper

RAY_VERSION_CHECKED = "2.60.0"

# ------------------------------------------------------------------------------------------------ TuneBOHB


def observation(loss: float, budget, config: dict):
    """A result as hpbandster's model takes it (bohber.new_result): its loss at budget for config."""
    return _BOHBJobWrapper(loss, budget, config)


def metric_sign(searcher) -> float:
    """TuneBOHB's sign of the metric: hpbandster minimises metric_sign * value."""
    return searcher._metric_op


# ------------------------------------------------------------------------------------------------ brackets

BRACKET_FIELDS = ("_n", "_n0", "_r", "_r0", "_max_t_attr", "_cumul_r", "_eta", "_halves", "_total_work",
                  "_completed_progress", "stop_last_trials", "is_being_processed", "_time_attr")


class RungBracket(_Bracket):
    """Ray's bracket, halving at the rungs it is given (units, smallest first: sweep/rungs.py bracket_units) instead
    of at Ray's int(min(r * eta, max)), which ends a bracket below a maximum that is not r0 * eta^s (1 to 10 epochs:
    at 9). Its last rung is where it stops its trials."""

    def __init__(self, rungs, **kwargs):
        self.rungs = list(rungs)  # set first: Ray's __init__ counts the bracket's work from them
        super().__init__(init_t_attr=self.rungs[0], s=len(self.rungs) - 1, **kwargs)

    def successive_halving(self, metric, metric_op):
        good, bad = super().successive_halving(metric, metric_op)
        # Ray has just moved the milestone to its own next rung: ours replaces it (`_halves` halvings are left)
        self._r = self._cumul_r = self.rungs[len(self.rungs) - 1 - self._halves]
        return good, bad

    def _calculate_total_work(self, n, r, s):
        # the work of a full bracket (its completion_percentage): every survivor's epochs from rung to rung
        work, reached = 0, 0
        for rung in self.rungs:
            work += n * (rung - reached)
            n, reached = math.ceil(n / self._eta), rung
        return work


def bracket_state(bracket) -> dict:
    """A bracket's counters as plain data (trials aside); a RungBracket's rungs too."""
    fields = {name: getattr(bracket, name) for name in BRACKET_FIELDS}
    if isinstance(bracket, RungBracket):
        fields["rungs"] = list(bracket.rungs)
    return fields


def new_bracket(fields: dict):
    """An empty bracket with the counters `fields` (bracket_state) had: no trial in it yet. A RungBracket when the
    fields have its rungs, else Ray's own bracket (saved before babysweep's rungs: it halves as it did)."""
    cls = RungBracket if "rungs" in fields else _Bracket
    bracket = cls.__new__(cls)
    bracket._live_trials, bracket._all_trials, bracket.trials_to_unpause = {}, [], set()
    for name, value in fields.items():
        setattr(bracket, name, value)
    return bracket


def live(bracket) -> dict:
    """{trial: its last result} of the bracket's live trials (Ray's own dict: changes are Ray's)."""
    return bracket._live_trials


def members(bracket) -> list:
    """Every trial the bracket ever had, in the order they came (Ray's own list)."""
    return bracket._all_trials


def milestone(bracket):
    """The budget (units) the bracket's live trials run to before it is cut next."""
    return bracket._cumul_r


def max_budget(bracket):
    return bracket._max_t_attr


def rungs(bracket):
    """A RungBracket's rungs (units); None for Ray's own bracket (its rungs: sweep/rungs.py ray_bracket_budgets)."""
    return bracket.rungs if isinstance(bracket, RungBracket) else None


# ------------------------------------------------------------------------------------------------ the scheduler


def _field(name, doc):
    return property(lambda self: getattr(self, name), lambda self, value: setattr(self, name, value), doc=doc)


class HyperBandState:
    """A mixin for a subclass of Ray's HyperBandScheduler: its private state under names of our own."""
    brackets_per_band = _field("_s_max_1", "brackets in a band (S; bracket s opens S-1, ..., 0)")
    eta = _field("_eta", "the reduction factor")
    max_units = _field("_max_t_attr", "the maximum budget in the scheduler's time unit")
    bands = _field("_hyperbands", "[[bracket or None, ...] per band]")
    position = _field("_state", "{'bracket': the bracket new trials go into, 'band_idx': its band}")
    placed = _field("_trial_info", "{trial: (bracket, band index)}")
    num_stopped = _field("_num_stopped", "trials stopped so far")
    time_attr = _field("_time_attr", "the result key budgets are counted in")


class OwnRungs:
    """A mixin for a subclass of Ray's HyperBandScheduler whose brackets are RungBrackets on the rungs its
    `rungs_for(s)` gives (units). Ray creates a band's bracket s in `_create_bracket(s)`, after skipping it when
    `_get_r0(s)` (its first rung) is 0; Ray's __init__ puts its own _get_r0 in the instance, which `use_own_rungs`
    takes out (a scheduler pickled before keeps Ray's: its first rungs are 0 exactly where these are absent)."""

    def use_own_rungs(self):
        self.__dict__.pop("_get_r0", None)

    def _get_r0(self, s):
        return self.rungs_for(s)[0]

    def _create_bracket(self, s):
        return RungBracket(self.rungs_for(s), time_attr=self._time_attr, max_trials=self._get_n0(s),
                           max_t_attr=self._max_t_attr, eta=self._eta, stop_last_trials=self._stop_last_trials)


# ------------------------------------------------------------------------------------------------ the Tuner


def run_config(tuner):
    """The RunConfig a Tuner runs with (a restored one's included: its callbacks, its verbosity)."""
    return tuner._local_tuner.get_run_config()


def tune_config(tuner):
    """The TuneConfig a Tuner runs with: a restored one's searcher and scheduler as tuner.pkl had them."""
    return tuner._local_tuner._tune_config


# what tests/test_ray_compat.py checks exists on this Ray: {what: [private names]}
PRIVATE = {
    "ray.tune.search.bohb.bohb_search": ["_BOHBJobWrapper"],
    "ray.tune.schedulers.hyperband": ["_Bracket"],
    "TuneBOHB instance": ["_metric_op"],
    "_Bracket instance": [*(f for f in BRACKET_FIELDS if f.startswith("_")), "_live_trials", "_all_trials",
                          "_calculate_total_work"],
    "HyperBandForBOHB instance": ["_s_max_1", "_eta", "_max_t_attr", "_hyperbands", "_state", "_trial_info",
                                  "_num_stopped", "_time_attr", "_create_bracket", "_get_r0", "_get_n0",
                                  "_stop_last_trials"],
    "Tuner instance": ["_local_tuner"],
    "TunerInternal instance": ["_tune_config"],
}
