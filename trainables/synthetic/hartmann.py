"""The 6-D Hartmann function with a fidelity-dependent bias, as a plain function and as two babysweep trainables.

Hartmann 6-D (Dixon & Szegő 1978, "The global optimisation problem: an introduction"; constants as in Surjanovic &
Bingham's Virtual Library of Simulation Experiments, "hart6"), on x in [0, 1]^6:

    f(x) = - sum_{i=1..4} alpha_i exp( - sum_{j=1..6} A_ij (x_j - P_ij)^2 )

global minimum f(x*) = -3.32237 at x* = (0.20169, 0.150011, 0.476874, 0.275332, 0.311652, 0.6573).

Multi-fidelity version (Kandasamy et al. 2017, "Multi-fidelity Bayesian Optimisation with Continuous
Approximations", ICML, appendix on the Hartmann experiments; the same form as mf-prior-bench's MFHartmann6 and
Syne Tune's / HPOBench's "mf-hartmann"): at fidelity z in [0, 1] each weight alpha_i is lowered by a bias that
vanishes at full fidelity,

    alpha'_i(z) = alpha_i - bias_i (1 - z),     f(x, z) = - sum_i alpha'_i(z) exp(...)

so f(x, 1) is the Hartmann function itself. Kandasamy et al. use bias 0.1; mf-prior-bench calls 0.5 its default
and 3.5 "bad" (it also adds half-normal noise shrinking with fidelity and scales z by log budget; both are left
out here: the values are deterministic and z is linear in the budget). The bias decides whether low fidelities
rank configurations as the full one does:

    INFORMATIVE_BIAS = 0.5   the weights shrink but keep their signs and order; the Spearman correlation between
                             the values at 1/27 and at full fidelity, on 500 uniform points, is 0.996
    MISLEADING_BIAS  = 3.5   at low fidelity every alpha'_i is negative, so the function is roughly turned upside
                             down: Spearman -0.76 at z = 1/27, -0.37 at 3/27, +0.26 at 9/27

Trainables (`fn(config, reporter=None)`, see trainables.reporting): `hartmann6_informative` and
`hartmann6_misleading`, for `--trainable trainables.synthetic.hartmann:hartmann6_informative` (or
`:hartmann6_misleading`). Config: x1..x6 in [0, 1], num_epochs (the full budget, default 27), budget_step
(default 1) and seed (accepted for babysweep's re-runs, unused: the function is deterministic). At each budget
point e = budget_step, 2 budget_step, ..., num_epochs they report {"epoch": e, "val_loss": f(x, z = e / num_epochs)}
with a checkpoint to resume from (trainables.synthetic.budget). Both take the same names: ACCEPTED below.
"""
import numpy as np

from ..errors import ConfigError
from .budget import BUDGET_NAMES, resolve_config, run_budget, unit_interval

ALPHA = np.array([1.0, 1.2, 3.0, 3.2])
A = np.array([
    [10, 3, 17, 3.5, 1.7, 8],
    [0.05, 10, 17, 0.1, 8, 14],
    [3, 3.5, 1.7, 10, 17, 8],
    [17, 8, 0.05, 10, 0.1, 14],
])
P = 1e-4 * np.array([
    [1312, 1696, 5569, 124, 8283, 5886],
    [2329, 4135, 8307, 3736, 1004, 9991],
    [2348, 1451, 3522, 2883, 3047, 6650],
    [4047, 8828, 8732, 5743, 1091, 381],
])
GLOBAL_MINIMUM = -3.32237
GLOBAL_MINIMISER = (0.20169, 0.150011, 0.476874, 0.275332, 0.311652, 0.6573)

INFORMATIVE_BIAS = 0.5  # low fidelities rank configurations as the full one does
MISLEADING_BIAS = 3.5   # low fidelities rank them roughly backwards

INPUTS = tuple(f"x{j}" for j in range(1, 7))
ACCEPTED = set(INPUTS) | BUDGET_NAMES  # both trainables of this module take exactly these names


def hartmann6(x, fidelity=1.0, bias=INFORMATIVE_BIAS):
    """f(x, z) of the module docstring: lower is better, -3.32237 at best at full fidelity (z = 1).

    x: 6 numbers (or an array of shape (..., 6) for many points at once); fidelity: z in [0, 1]; bias: one number
    for every term, or 4 numbers, one per term of the sum. Returns a float for one point, an array otherwise."""
    x = np.asarray(x, dtype=float)
    if x.shape[-1:] != (6,):
        raise ValueError(f"hartmann6: x must have 6 coordinates, got shape {x.shape}")
    if not 0 <= fidelity <= 1:
        raise ValueError(f"hartmann6: fidelity must be in [0, 1], got {fidelity}")
    bias = np.asarray(bias, dtype=float)
    if bias.shape not in ((), (4,)):
        raise ValueError(f"hartmann6: bias must be a number or 4 numbers, got shape {bias.shape}")
    weights = ALPHA - bias * (1.0 - fidelity)
    terms = np.exp(-np.sum(A * (x[..., None, :] - P) ** 2, axis=-1))  # (..., 4)
    value = -(terms @ weights)
    return float(value) if value.ndim == 0 else value


def _run(config, reporter, bias, trainable):
    cfg = resolve_config(config, {}, ACCEPTED, trainable)
    missing = [name for name in INPUTS if name not in cfg]
    if missing:
        raise ConfigError(f"{missing[0]}: required by the {trainable} trainable (x1..x6, each in [0, 1])")
    x = [unit_interval(cfg, name) for name in INPUTS]
    num_epochs = float(cfg["num_epochs"])
    run_budget(cfg, reporter, lambda epoch: hartmann6(x, min(1.0, epoch / num_epochs), bias), trainable)


def hartmann6_informative(config: dict, reporter=None) -> None:
    """The trainable of hartmann6 with INFORMATIVE_BIAS (module docstring)."""
    _run(config, reporter, INFORMATIVE_BIAS, "hartmann6_informative")


def hartmann6_misleading(config: dict, reporter=None) -> None:
    """The trainable of hartmann6 with MISLEADING_BIAS (module docstring)."""
    _run(config, reporter, MISLEADING_BIAS, "hartmann6_misleading")
