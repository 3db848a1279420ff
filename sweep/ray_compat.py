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
  `members`, `milestone`).
- HyperBandScheduler's state (`_s_max_1`, `_eta`, `_max_t_attr`, `_hyperbands`, `_state`, `_trial_info`,
  `_num_stopped`, `_time_attr`): the scheduler subclass reads and sets it through `HyperBandState`.
- ``Tuner._local_tuner`` (its run config: callbacks and verbosity of a restored Tuner, which Ray has no public
  accessor for) and its ``_tune_config`` (a restored Tuner's searcher and scheduler): `run_config`, `tune_config`.

What old experiment folders pickled stays importable: tuner.pkl and searcher-state name Ray's own classes by Ray's
module paths and babysweep's (sweep.bohb.ResumableTuneBOHB, ResumableHyperBandForBOHB) by theirs, none of them moved
here; a scheduler snapshot is plain data (no _Bracket in it).
"""
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


def bracket_state(bracket) -> dict:
    """A bracket's counters as plain data (trials aside)."""
    return {name: getattr(bracket, name) for name in BRACKET_FIELDS}


def new_bracket(fields: dict):
    """An empty bracket with the counters `fields` (bracket_state) had: no trial in it yet."""
    bracket = _Bracket.__new__(_Bracket)
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
    "_Bracket instance": [*(f for f in BRACKET_FIELDS if f.startswith("_")), "_live_trials", "_all_trials"],
    "HyperBandForBOHB instance": ["_s_max_1", "_eta", "_max_t_attr", "_hyperbands", "_state", "_trial_info",
                                  "_num_stopped", "_time_attr"],
    "Tuner instance": ["_local_tuner"],
    "TunerInternal instance": ["_tune_config"],
}
