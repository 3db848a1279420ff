"""HyperBand's brackets and rungs as plain arithmetic: what babysweep's HyperBandForBOHB (sweep/bohb.py, on Ray's
HyperBandScheduler) does, without Ray. tests/test_rungs.py drives Ray's real scheduler with fake trials and checks
that it pauses and stops them at exactly these budgets.

Budgets count in units of the trainable's reporting step (`unit`: the space's budget_step, else its minimum).
Per band, Ray opens brackets s = S-1, S-2, ..., 0 (most aggressive first; S brackets, as many as hpbandster has
for min/max, or Ray's own count without a minimum). Bracket s starts its trials at r0 = int(max * eta^-s) units
(a bracket with r0 = 0 is skipped), then halves s times, each rung at int(min(r * eta, max)): s + 1 rungs, the
last one where every trial of the bracket is stopped.
"""
import math

EPS = 1e-9


def units(budget_max: float, unit: float = 1.0) -> int:
    """The maximum budget in units, as the scheduler counts it (at least 1)."""
    return max(1, round(budget_max / unit))


def bracket_count(max_units: int, eta: float, min_units: float | None = None) -> int:
    """Brackets per band. With a minimum (in units): hpbandster's count, so that the smallest first rung
    max * eta^-(S-1) stays at or above it; without one, Ray's own int(round(log max / log eta)) + 1."""
    if min_units is None:
        return round(math.log(max_units) / math.log(eta)) + 1
    ratio = max_units / max(1.0, min_units)
    return math.floor(math.log(ratio) / math.log(eta) + EPS) + 1 if ratio > 1 and eta > 1 else 1


def first_rung(s: int, max_units: int, eta: float) -> int:
    """r0 of bracket s, in units (0: Ray skips the bracket)."""
    return int(max_units * eta ** (-s))


def bracket_budgets(s: int, max_units: int, eta: float) -> list:
    """The rungs of bracket s in units: r0, then s halvings at int(min(r * eta, max)). Empty when r0 is 0."""
    r = first_rung(s, max_units, eta)
    if r == 0:
        return []
    out = [r]
    for _ in range(s):
        r = int(min(r * eta, max_units))
        out.append(r)
    return out


def bracket_rungs(budget_min: float, budget_max: float, eta: float, budget_step=None) -> dict:
    """{bracket s: [rung budgets in epochs]} of babysweep's HyperBandForBOHB for a space with budget
    {min: budget_min, max: budget_max} reported every budget_step (None: every budget_min), in the order Ray opens
    the brackets of a band; skipped brackets (r0 = 0) are left out."""
    unit = min(float(budget_min), float(budget_step) if budget_step else math.inf)
    max_units = units(budget_max, unit)
    count = bracket_count(max_units, eta, budget_min / unit)
    return {s: [r * unit for r in budgets] for s in range(count - 1, -1, -1)
            if (budgets := bracket_budgets(s, max_units, eta))}


def asha_rungs(budget_min: float, budget_max: float, eta: float) -> list:
    """ASHA's milestones (Ray's ASHAScheduler): the grace period (budget min) times eta^k, up to the maximum."""
    out, r = [], float(budget_min)
    while r < budget_max - EPS and eta > 1:
        out.append(r)
        r *= eta
    return out + [float(budget_max)]
