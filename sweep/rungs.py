"""HyperBand's brackets and rungs as plain arithmetic, the one definition that babysweep's HyperBandForBOHB
(sweep/bohb.py, on Ray's HyperBandScheduler: its brackets take their rungs from here, sweep/ray_compat.py
RungBracket) and the report (sweep/kinds/searched.py rung_budgets) share. tests/test_rungs.py checks it against
hpbandster's own budgets, and drives Ray's real scheduler with fake trials to check that it pauses and stops them at
exactly these budgets.

The budgets are hpbandster's (hpbandster/optimizers/bohb.py): S = -int(log(min / max) / log(eta)) + 1 budgets
max * eta^-i, i = S-1, ..., 0. Per band, Ray opens brackets s = S-1, S-2, ..., 0 (most aggressive first); bracket s
starts its trials at max * eta^-s and halves s times, its rungs the last s + 1 budgets; at the last one, the maximum
itself, every trial of the bracket is stopped. Trials report only every reporting step, so a rung below the maximum
is rounded to the nearest report, and never below the minimum. With budget 1 to 10 epochs and eta = 3: brackets
[1, 3, 10], [3, 10] and [10].

Ray's own arithmetic (`ray_bracket_budgets`: r0 = int(max * eta^-s), then int(min(r * eta, max))) stopped that first
bracket at int(10 / 9) * 9 = 9 epochs: no trial of it reached the maximum, so none counted as complete for the best
trial (sweep/selection.py). It is kept for brackets saved before babysweep had its own rungs: they resume as they ran.

Budgets count in units of the trainable's reporting step (`unit`: the space's budget_step, else its minimum): rung r
in units is r * unit epochs. A maximum that is not a whole number of units stays fractional in units (the
trainable's last report is at num_epochs itself, trainables/reporting.budget_epochs).
"""
import math

EPS = 1e-9
DIGITS = 9  # budgets in units are rounded to this many decimals, so that k * step / step is k again


def units(budget: float, unit: float = 1.0):
    """A budget (epochs) in units, as the scheduler counts it: a whole number where it is one."""
    count = round(budget / unit, DIGITS)
    return int(count) if count == int(count) else count


def bracket_count(max_units: float, eta: float, min_units: float = 1.0) -> int:
    """Brackets per band: hpbandster's count, so that the smallest first rung max * eta^-(S-1) stays at or above the
    minimum (EPS: log(27) / log(3) may come out a hair below 3)."""
    ratio = max_units / max(1.0, min_units)
    return math.floor(math.log(ratio) / math.log(eta) + EPS) + 1 if ratio > 1 + EPS and eta > 1 else 1


def bracket_units(s: int, max_units: float, eta: float, min_units: float = 1.0) -> list:
    """The rungs of bracket s in units, smallest first: hpbandster's budgets max * eta^-i for i = s, ..., 0, each
    below the maximum rounded to the nearest whole unit (a report) and at least the minimum (its first report); the
    last one is the maximum exactly. A rung that rounding makes equal to the one before it is that one rung."""
    lowest = math.ceil(min_units - EPS)
    out = []
    for i in range(s, 0, -1):
        rung = max(lowest, math.floor(max_units * eta ** -i + 0.5))
        if rung < max_units - EPS and (not out or rung > out[-1]):
            out.append(rung)
    return out + [max_units]


def bracket_rungs(budget_min: float, budget_max: float, eta: float, budget_step=None) -> dict:
    """{bracket s: [rung budgets in epochs]} of babysweep's HyperBandForBOHB for a space with budget
    {min: budget_min, max: budget_max} reported every budget_step (None: every budget_min), in the order Ray opens
    the brackets of a band. Every bracket's last rung is budget_max."""
    unit = min(float(budget_min), float(budget_step) if budget_step else math.inf)
    max_units, min_units = units(budget_max, unit), budget_min / unit
    below_max = {s: bracket_units(s, max_units, eta, min_units)[:-1]
                 for s in range(bracket_count(max_units, eta, min_units) - 1, -1, -1)}
    return {s: [round(r * unit, DIGITS) for r in rungs] + [float(budget_max)] for s, rungs in below_max.items()}


def ray_bracket_count(max_units: int, eta: float) -> int:
    """Stock Ray's brackets per band: int(round(log max / log eta)) + 1 (its first ones may be skipped)."""
    return round(math.log(max_units) / math.log(eta)) + 1


def ray_bracket_budgets(s: int, max_units: int, eta: float) -> list:
    """Stock Ray's rungs of bracket s in units: r0 = int(max * eta^-s), then s halvings at int(min(r * eta, max)).
    Empty when r0 is 0 (Ray skips the bracket). What a bracket saved before babysweep's own rungs runs on."""
    r = int(max_units * eta ** (-s))
    if r == 0:
        return []
    out = [r]
    for _ in range(s):
        r = int(min(r * eta, max_units))
        out.append(r)
    return out


def asha_rungs(budget_min: float, budget_max: float, eta: float) -> list:
    """ASHA's milestones (Ray's ASHAScheduler): the grace period (budget min) times eta^k, up to the maximum."""
    out, r = [], float(budget_min)
    while r < budget_max - EPS and eta > 1:
        out.append(r)
        r *= eta
    return out + [float(budget_max)]
