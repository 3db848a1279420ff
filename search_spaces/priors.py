"""One prior of a search space: its kind (log-normal, log-uniform, uniform on the integers, choice, rounded
variants), its arguments checked, its support, and its ConfigSpace hyperparameter; and the one-line error of a
space file (SpaceError), which names the file and the parameter."""
from __future__ import annotations

import math
from dataclasses import dataclass

import ConfigSpace as CS
import numpy as np

from trainables.errors import UserError

LOG_PREFIX = "log__"                          # ConfigSpace name of the log of a log-normal parameter

DEFAULT_SIGMAS = 4.0                          # default truncation of log-normal kinds: mu +- 4 sigma
KINDS = {  # kind -> the names of its arguments, in order (choice takes its options instead)
    "log_normal": ("mu", "sigma"),
    "q_log_normal": ("mu", "sigma", "q"),
    "log_uniform": ("min", "max"),
    "q_log_uniform": ("min", "max", "q"),
    "uniform": ("min", "max"),
    "int_uniform": ("min", "max"),
    "choice": None,
}
LOG_NORMAL_KINDS = ("log_normal", "q_log_normal")
LOG_KINDS = LOG_NORMAL_KINDS + ("q_log_uniform",)  # searched on z = log(x), as log__<name>
Q_KINDS = ("q_log_normal", "q_log_uniform")        # rounded to a multiple of q

class SpaceError(UserError, ValueError):
    """A search-space file is wrong, or a config does not fit the space. One line: file, parameter, problem."""


def _error(path, where: str | None, msg: str) -> SpaceError:
    text = f"{path}: {where}: {msg}" if where else f"{path}: {msg}"
    return SpaceError(" ".join(text.split()))  # one line, whatever the message (YAML errors span several)


def _number(path, where, value, what: str, integer: bool = False):
    # bool is an int in Python; `yes` in YAML would otherwise become 1
    ok = isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)
    if integer:
        ok = ok and float(value).is_integer()
    if not ok:
        raise _error(path, where, f"{what} must be {'an integer' if integer else 'a number'} (got {value!r})")
    return int(value) if integer else value


def _native(value):
    """numpy scalars -> Python scalars, so configs go to JSON, YAML and Ray without surprises."""
    return value.item() if isinstance(value, np.generic) else value


# -----------------------------------------------------------------------------
# One prior


@dataclass(frozen=True)
class Prior:
    """One searched parameter. lower/upper are in ConfigSpace units: log(x) for the log-normal kinds, x otherwise."""
    name: str
    kind: str
    args: tuple          # as written: (mu, sigma), (mu, sigma, q), (min, max), or the options of a choice
    lower: float | None  # None for choice
    upper: float | None

    @property
    def cs_name(self) -> str:
        return LOG_PREFIX + self.name if self.kind in LOG_KINDS else self.name

    @property
    def mu(self) -> float:
        return float(self.args[0])

    @property
    def sigma(self) -> float:
        return float(self.args[1])

    @property
    def q(self) -> int:
        return int(self.args[2]) if self.kind in Q_KINDS else 1

    def hyperparameter(self) -> CS.hyperparameters.Hyperparameter:
        meta = {"babysweep_name": self.name, "kind": self.kind}
        if self.kind in LOG_NORMAL_KINDS:  # a plain Normal on z = log(x): see the module docstring
            default = min(max(self.mu, self.lower), self.upper)  # mu, unless log(exp(mu)) lost an ulp at a bound
            return CS.NormalFloatHyperparameter(self.cs_name, mu=self.mu, sigma=self.sigma, lower=self.lower,
                                                upper=self.upper, default_value=default, meta=meta)
        if self.kind == "q_log_uniform":  # a plain Uniform on z = log(x)
            return CS.UniformFloatHyperparameter(self.cs_name, lower=self.lower, upper=self.upper, meta=meta)
        if self.kind in ("log_uniform", "uniform"):
            return CS.UniformFloatHyperparameter(self.name, lower=self.lower, upper=self.upper,
                                                 log=self.kind == "log_uniform", meta=meta)
        if self.kind == "int_uniform":
            return CS.UniformIntegerHyperparameter(self.name, lower=int(self.lower), upper=int(self.upper), meta=meta)
        return CS.CategoricalHyperparameter(self.name, choices=list(self.args), meta=meta)

    def q_range(self) -> tuple[int, int]:
        """Smallest and largest value of a q_log_normal: its bounds rounded like the values (the map is monotone)."""
        return self.to_value(self.lower), self.to_value(self.upper)

    def to_value(self, v):
        """ConfigSpace value -> trainable value."""
        v = _native(v)
        if self.kind == "log_normal":
            return math.exp(v)
        if self.kind in Q_KINDS:
            q = self.q
            return max(q, q * math.floor(math.exp(v) / q + 0.5))  # round half up (Python's round() goes to even)
        if self.kind == "int_uniform":
            return int(v)
        if self.kind in ("log_uniform", "uniform"):
            return float(v)
        return v

    def centre(self):
        """The prior's centre in trainable units (see SearchSpace.centre)."""
        if self.kind in LOG_NORMAL_KINDS:
            return self.to_value(self.mu)
        if self.kind == "q_log_uniform":
            return self.to_value((self.lower + self.upper) / 2)
        if self.kind == "log_uniform":
            return math.sqrt(self.lower * self.upper)
        if self.kind == "uniform":
            return (self.lower + self.upper) / 2
        if self.kind == "int_uniform":
            return (int(self.lower) + int(self.upper)) // 2
        return self.args[0]

    def in_configspace(self, v) -> bool:
        """Is v a value of this parameter's ConfigSpace hyperparameter?"""
        if self.kind == "choice":
            return any(v == o and type(v) is type(o) for o in self.args)
        if not isinstance(v, (int, float, np.number)) or isinstance(v, bool):
            return False
        if self.kind == "int_uniform" and not float(v).is_integer():
            return False
        eps = 1e-9 * max(1.0, abs(self.lower), abs(self.upper))  # ConfigSpace's own float round trips
        return self.lower - eps <= v <= self.upper + eps

    def in_support(self, x) -> bool:
        """Is x a value this parameter can take in trainable units?"""
        if self.kind == "log_normal":
            return isinstance(x, (int, float, np.number)) and not isinstance(x, bool) and x > 0 \
                and self.in_configspace(math.log(x))
        if self.kind in Q_KINDS:
            lo, hi = self.q_range()
            return isinstance(x, (int, np.integer)) and not isinstance(x, bool) and lo <= x <= hi and x % self.q == 0
        return self.in_configspace(x)


# -----------------------------------------------------------------------------
# Parsing one parameter


def _parse_prior(path, name: str, spec: dict) -> Prior:
    where = f"parameter '{name}'"
    kinds = [k for k in spec if k in KINDS]
    others = [k for k in spec if k not in KINDS and k != "bounds"]
    if others:
        raise _error(path, where, f"unknown kind '{others[0]}' (kinds: {', '.join(KINDS)}; "
                                  "a constant that is a mapping goes under constants:)")
    if len(kinds) != 1:
        raise _error(path, where, f"give exactly one kind, got {len(kinds)} ({', '.join(kinds) or 'none'})")
    kind = kinds[0]
    args = spec[kind]

    if kind == "choice":
        if "bounds" in spec:
            raise _error(path, where, "bounds only apply to log_normal and q_log_normal")
        if not isinstance(args, list) or not args:
            raise _error(path, where, f"choice needs a non-empty list of options (got {args!r})")
        if len(args) < 2:
            raise _error(path, where, f"choice needs at least 2 options; write a single value as a constant ({args[0]!r})")
        for o in args:
            if not isinstance(o, (str, int, float, bool)):
                raise _error(path, where, f"choice options must be plain values (got {o!r})")
        if len(set(map(repr, args))) != len(args):
            raise _error(path, where, f"choice options repeat: {args!r}")
        return Prior(name, kind, tuple(args), None, None)

    arg_names = KINDS[kind]
    if not isinstance(args, list) or len(args) != len(arg_names):
        raise _error(path, where, f"{kind} takes {len(arg_names)} arguments [{', '.join(arg_names)}] (got {args!r})")
    integer = kind == "int_uniform"
    args = [_number(path, where, a, n, integer=integer or n == "q") for a, n in zip(args, arg_names)]

    if kind in LOG_NORMAL_KINDS:
        mu, sigma = args[0], args[1]
        if sigma <= 0:
            raise _error(path, where, f"sigma must be > 0 (got {sigma})")
        if kind == "q_log_normal" and args[2] <= 0:
            raise _error(path, where, f"q must be > 0 (got {args[2]})")
        if "bounds" in spec:  # written in the trainable's units, so they read like the values the run will get
            b = spec["bounds"]
            if not isinstance(b, list) or len(b) != 2:
                raise _error(path, where, f"bounds must be [min, max] (got {b!r})")
            lo, hi = (_number(path, where, x, "bounds") for x in b)
            if lo <= 0:
                raise _error(path, where, f"bounds of a {kind} must be > 0 (got {lo})")
            if lo >= hi:
                raise _error(path, where, f"bounds min must be < max (got [{lo}, {hi}])")
            # mu outside the bounds would make a prior that is mostly cut away, and a centre outside the space
            if not lo <= math.exp(mu) <= hi:
                raise _error(path, where, f"bounds [{lo}, {hi}] must contain the centre exp(mu) = {math.exp(mu):.6g}")
            lower, upper = math.log(lo), math.log(hi)
        else:
            lower, upper = mu - DEFAULT_SIGMAS * sigma, mu + DEFAULT_SIGMAS * sigma
        prior = Prior(name, kind, tuple(args), lower, upper)
        if kind == "q_log_normal" and prior.q_range()[0] == prior.q_range()[1]:
            raise _error(path, where, f"every value rounds to {prior.q_range()[0]}: widen sigma or the bounds, "
                                      "or make it a constant")
        return prior

    if "bounds" in spec:
        raise _error(path, where, f"bounds only apply to log_normal and q_log_normal; {kind} has its own [min, max]")
    if kind == "q_log_uniform":
        lo, hi, q = args
        if q <= 0:
            raise _error(path, where, f"q must be > 0 (got {q})")
        if not 0 < lo < hi:
            raise _error(path, where, f"q_log_uniform needs 0 < min < max (got [{lo}, {hi}])")
        prior = Prior(name, kind, tuple(args), math.log(lo), math.log(hi))
        if prior.q_range()[0] == prior.q_range()[1]:
            raise _error(path, where, f"every value rounds to {prior.q_range()[0]}: widen [min, max] or make it a "
                                      "constant")
        return prior
    lo, hi = args
    if lo >= hi:
        raise _error(path, where, f"min must be < max (got [{lo}, {hi}])")
    if kind == "log_uniform" and lo <= 0:
        raise _error(path, where, f"log_uniform min must be > 0 (got {lo})")
    return Prior(name, kind, tuple(args), lo, hi)
