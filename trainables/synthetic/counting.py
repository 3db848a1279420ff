"""Counting ones, the toy function of the BOHB paper, as a plain function and as a babysweep trainable.

Falkner, Klein & Hutter 2018, "BOHB: Robust and Efficient Hyperparameter Optimization at Scale", ICML, Section 5.1
("Counting Ones"): N_cat binary categorical inputs x_i in {0, 1} and N_cont continuous ones x_j in [0, 1],

    f(x) = - ( sum_{i in cat} x_i + sum_{j in cont} E[B_{p = x_j}] )

where B_p is a Bernoulli variable with success probability p. The budget b is the number of Bernoulli samples
drawn to estimate each expectation, so a low budget gives a noisy but unbiased value (the paper's budgets run from
9 to 729 samples with eta = 3). The minimum, -(N_cat + N_cont), is at all ones.

Here the samples come from numpy's Generator seeded with (seed, b): a value is stochastic by definition, yet the
same (x, b, seed) gives the same value in any process, and a re-run reproduces a sweep. The b samples of one input
are summed as one Binomial(b, x_j) draw, which has the same distribution as counting b Bernoulli successes.

Trainable `counting_ones_trainable` (`--trainable trainables.synthetic.counting:counting_ones_trainable`), a
function `fn(config, reporter=None)` (trainables.reporting). Config: cat1..catN (0 or 1) and cont1..contM (in
[0, 1]), N and M from 0 to MAX_INPUTS each, numbered from 1 without gaps; num_epochs (the full budget, default
27), budget_step (default 1), samples_per_epoch (default 27: at 27 epochs, the paper's 729 samples) and seed. At each
budget point e it reports {"epoch": e, "val_loss": f(x) estimated with b = round(e * samples_per_epoch) samples}
with a checkpoint to resume from (trainables.synthetic.budget). Its config names: ACCEPTED below.
"""
import numpy as np

from ..errors import ConfigError
from .budget import BUDGET_NAMES, resolve_config, run_budget, unit_interval

MAX_INPUTS = 64  # per kind; the paper's largest problem has 32 categorical and 32 continuous inputs
CATEGORICAL = tuple(f"cat{i}" for i in range(1, MAX_INPUTS + 1))
CONTINUOUS = tuple(f"cont{i}" for i in range(1, MAX_INPUTS + 1))
DEFAULTS = dict(samples_per_epoch=27)
ACCEPTED = set(CATEGORICAL) | set(CONTINUOUS) | set(DEFAULTS) | BUDGET_NAMES


def counting_ones(x_cat, x_cont, samples=None, seed=0) -> float:
    """f(x) of the module docstring, lower is better: each continuous input's expectation estimated from `samples`
    Bernoulli draws (seeded with (seed, samples)), or exact when samples is None (the infinite budget)."""
    x_cat = np.asarray(x_cat, dtype=float).reshape(-1)
    x_cont = np.asarray(x_cont, dtype=float).reshape(-1)
    if not np.all((x_cat == 0) | (x_cat == 1)):
        raise ValueError(f"counting_ones: categorical inputs must be 0 or 1, got {x_cat.tolist()}")
    if not np.all((0 <= x_cont) & (x_cont <= 1)):
        raise ValueError(f"counting_ones: continuous inputs must be in [0, 1], got {x_cont.tolist()}")
    if int(seed) != seed or seed < 0:
        raise ValueError(f"counting_ones: seed must be a whole number >= 0, got {seed}")
    if samples is None:
        estimates = x_cont
    else:
        if int(samples) != samples or samples < 1:
            raise ValueError(f"counting_ones: samples must be a whole number >= 1, got {samples}")
        rng = np.random.default_rng([int(seed), int(samples)])
        estimates = rng.binomial(int(samples), x_cont) / int(samples)
    return -float(x_cat.sum() + estimates.sum())


def _numbered(cfg: dict, names: tuple, kind: str) -> list:
    """The names of one kind that the config holds: a prefix of `names` (cat1, cat2, ... without a gap)."""
    present = [name for name in names if name in cfg]
    if present != list(names[:len(present)]):
        first_gap = next(name for name, want in zip(present, names) if name != want)
        raise ConfigError(f"{first_gap}: {kind} inputs must be numbered from 1 without gaps")
    return present


def counting_ones_trainable(config: dict, reporter=None) -> None:
    """The trainable of counting_ones (module docstring)."""
    trainable = "counting_ones_trainable"
    cfg = resolve_config(config, DEFAULTS, ACCEPTED, trainable)
    x_cat = []
    for name in _numbered(cfg, CATEGORICAL, "categorical"):
        if cfg[name] not in (0, 1):
            raise ConfigError(f"{name}: must be 0 or 1, got {cfg[name]!r}")
        x_cat.append(int(cfg[name]))
    x_cont = [unit_interval(cfg, name) for name in _numbered(cfg, CONTINUOUS, "continuous")]
    if not x_cat and not x_cont:
        raise ConfigError(f"cat1, cont1: the {trainable} trainable needs at least one input")
    seed, per_epoch = cfg["seed"], cfg["samples_per_epoch"]
    if isinstance(seed, bool) or not isinstance(seed, (int, float)) or int(seed) != seed or seed < 0:
        raise ConfigError(f"seed: must be a whole number >= 0, got {seed!r}")
    if isinstance(per_epoch, bool) or not isinstance(per_epoch, (int, float)) or not per_epoch > 0:
        raise ConfigError(f"samples_per_epoch: must be a number > 0, got {per_epoch!r}")

    def value_at(epoch):
        return counting_ones(x_cat, x_cont, samples=max(1, round(epoch * per_epoch)), seed=int(seed))

    run_budget(cfg, reporter, value_at, trainable)
