"""
Search spaces: a YAML file of priors -> a ConfigSpace for BOHB -> the trainable's config dict.

A search space is data, but for `trainable:`, which names code that a sweep imports and runs (only once the module
is found: missing_module), so a space file is code you run. The YAML file looks like this (every bundled file
repeats it in its header):

    name: my_space               # optional, default: the file name without .yaml
    trainable: pretrain          # pretrain | finetune | package.module:function
    metric: val_loss             # optional, default val_loss
    mode: min                    # optional, default min (min | max)
    budget: {min: 1, max: 27}    # BOHB budget in epochs; floats allowed (e.g. min: 0.25)
    constants:                   # optional: passed to the trainable as they are, never searched
      preset: smollm-345m
    parameters:
      lr:         {log_normal: [-7.3, 0.7]}      # x = exp(z), z ~ N(mu, sigma): mu and sigma in natural-log space
      batch_size: {q_log_normal: [5, 1.5, 1]}    # the same, then rounded to a multiple of q (an integer, >= q)
      beta:       {log_uniform: [1.0e-2, 1]}     # log(x) uniform on [log min, log max]
      batch:      {q_log_uniform: [1, 32, 1]}    # the same, then rounded to a multiple of q (an integer, >= q)
      dropout:    {uniform: [0, 1]}
      layers:     {int_uniform: [2, 8]}          # both ends included
      schedule:   {choice: [linear, cosine]}     # equal weights
      seq_length: 128                            # a plain value: a constant
      lr2: {log_normal: [-7.3, 0.7], bounds: [1.0e-5, 1.0e-2]}   # optional bounds, in the trainable's units

Log-normal kinds (the one real subtlety). ConfigSpace 1.x's NormalFloatHyperparameter(log=True) takes mu and sigma
in the units of x, not of log(x) (sigma=1 around mu=1 gives a spike, and mu<=0 is refused), while the BabyLlama-2
sweep files write them in log space. So each log-normal parameter `p` becomes a *plain* NormalFloatHyperparameter
named `log__p` on z = log(x), truncated to the log of its bounds (default mu +- 4 sigma, which keeps
99.994% of the mass), and to_trainable_config maps it back:
    log_normal:    p = exp(z)
    q_log_normal:  p = max(q, q * floor(exp(z)/q + 1/2))   (an int; the bounds are rounded the same way)
q_log_uniform [min, max, q] is handled the same way: a plain UniformFloatHyperparameter named `log__p` on
z = log(x) in [log min, log max], mapped back as q_log_normal is (W&B's q_log_uniform_values).
Every other kind keeps its own name and its value. The ConfigSpace is therefore the space BOHB models (its KDE works
on z, where the prior is Gaussian), and the trainable only ever sees plain values.

Numbers: PyYAML reads `1e-3` (no dot) as a string; this loader reads it as a float, as YAML 1.2 does.
Errors: every problem is a SpaceError with one line naming the file and the parameter.
"""
from __future__ import annotations

import difflib
import math
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable

import ConfigSpace as CS
import numpy as np
import yaml

from trainables.errors import UserError

SPACES_DIR = Path(__file__).resolve().parent  # bundled spaces: search_spaces/**/*.yaml
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
TOP_LEVEL_KEYS = {"name", "trainable", "metric", "mode", "budget", "constants", "parameters"}
# pretrain | pkg.module:function (\Z, not $: "$" would let a trailing newline through)
TRAINABLE_RE = re.compile(r"[A-Za-z_]\w*\Z|[A-Za-z_]\w*(?:\.[A-Za-z_]\w*)*:[A-Za-z_]\w*\Z")
NAME_RE = re.compile(r"^[A-Za-z_][\w.-]*$")


def missing_module(name: str) -> str | None:
    """The first part of the dotted module `name` that cannot be found (a, a.b, ...), or None when it can be:
    found without importing anything, since a space file's `trainable:` key is imported only once it is known to
    exist. importlib.util.find_spec("a.b") would import package a to find b; here each part is looked up on the
    path of the one above (importlib.machinery.PathFinder), and only the top-level name through sys.meta_path
    (find_spec of a name without a dot imports nothing). Modules already imported count as found."""
    import importlib.machinery
    import importlib.util
    import sys

    parts = name.split(".")
    locations = None  # where the submodules of the part found last are
    for i in range(len(parts)):
        prefix = ".".join(parts[:i + 1])
        if sys.modules.get(prefix) is not None:
            locations = getattr(sys.modules[prefix], "__path__", None)
            continue
        if i > 0 and locations is None:  # inside a module, not a package: nothing is
            return prefix
        try:
            spec = (importlib.util.find_spec(prefix) if i == 0
                    else importlib.machinery.PathFinder.find_spec(prefix, locations))
        except (ImportError, ValueError):
            spec = None
        if spec is None:
            return prefix
        locations = spec.submodule_search_locations
    return None


class SpaceError(UserError, ValueError):
    """A search-space file is wrong, or a config does not fit the space. One line: file, parameter, problem."""


def _error(path, where: str | None, msg: str) -> SpaceError:
    text = f"{path}: {where}: {msg}" if where else f"{path}: {msg}"
    return SpaceError(" ".join(text.split()))  # one line, whatever the message (YAML errors span several)


# -----------------------------------------------------------------------------
# YAML reading


class _Loader(yaml.SafeLoader):
    """SafeLoader that also reads 1e-3, 2E5, 1.0e2 as floats (PyYAML's YAML 1.1 rules want a dot and a signed
    exponent, and would silently hand us the string '1e-3')."""


_Loader.add_implicit_resolver(
    "tag:yaml.org,2002:float",
    re.compile(r"^[-+]?(?:[0-9][0-9_]*(?:\.[0-9_]*)?|\.[0-9_]+)[eE][-+]?[0-9]+$"),
    list("-+0123456789."),
)


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


# -----------------------------------------------------------------------------
# The space


@dataclass
class SearchSpace:
    path: Path
    name: str
    trainable: str
    metric: str
    mode: str
    budget_max: float
    budget_min: float
    constants: dict             # the constants block + plain values in parameters
    params: dict[str, Prior]    # the searched ones, in file order

    def to_configspace(self, seed: int | None = None) -> CS.ConfigurationSpace:
        """The ConfigSpace BOHB searches. Log-normal parameters appear as log__<name> (see the module docstring)."""
        cs = CS.ConfigurationSpace(name=self.name, seed=seed)
        for p in self.params.values():
            try:
                cs.add(p.hyperparameter())
            except ValueError as e:  # anything ConfigSpace refuses that load_space did not already catch
                raise _error(self.path, f"parameter '{p.name}'", f"ConfigSpace refuses it: {e}") from None
        return cs

    def to_trainable_config(self, sampled: dict) -> dict:
        """ConfigSpace values (a dict, or a Configuration) -> the trainable's arguments, constants included.

        Each searched parameter may come in ConfigSpace form (log__lr = -7.3) or already in trainable form
        (lr = 6.7e-4, checked against the prior's support), so the function is idempotent:
        to_trainable_config(to_trainable_config(c)) == to_trainable_config(c). Both forms of one parameter, a missing
        parameter, a constant with another value, or a name the space does not know raise SpaceError.
        """
        sampled = dict(sampled)
        out = {}
        for p in self.params.values():
            where = f"parameter '{p.name}'"
            if p.cs_name != p.name and p.cs_name in sampled and p.name in sampled:
                raise _error(self.path, where, f"both '{p.cs_name}' (ConfigSpace form) and '{p.name}' given")
            if p.cs_name in sampled:
                v = _native(sampled.pop(p.cs_name))
                if not p.in_configspace(v):
                    raise _error(self.path, where, f"'{p.cs_name}' = {v!r} is outside the space")
                out[p.name] = p.to_value(v)
            elif p.name in sampled:  # already in trainable form
                x = _native(sampled.pop(p.name))
                if not p.in_support(x):
                    raise _error(self.path, where, f"{x!r} is not a value of its {p.kind} prior")
                out[p.name] = int(x) if p.kind == "int_uniform" else x
            else:
                raise _error(self.path, where, f"missing (expected '{p.cs_name}')")
        for k, v in self.constants.items():
            if k in sampled and sampled.pop(k) != v:
                raise _error(self.path, f"constant '{k}'", f"is fixed to {v!r} by the space")
            out[k] = v
        if sampled:
            raise _error(self.path, f"parameter '{next(iter(sampled))}'", "not in this search space")
        return out

    def centre(self) -> dict:
        """The prior's centre in trainable form: exp(mu) for log_normal (rounded to q for q_log_normal), geometric mean
        for log_uniform, midpoint for uniform and int_uniform (rounded down), the first option of a choice."""
        return {**{p.name: p.centre() for p in self.params.values()}, **self.constants}

    def sample(self, n: int, seed: int) -> list[dict]:
        """n draws from the prior (through the ConfigSpace), in trainable form: for random search and tests."""
        if n <= 0:
            return []
        cs = self.to_configspace(seed)
        # ConfigSpace 1.x returns a bare Configuration for size=1 (and warns); size=None is the supported way
        configs = cs.sample_configuration(n) if n > 1 else [cs.sample_configuration()]
        return [self.to_trainable_config(dict(c)) for c in configs]

    def check_names(self, accepted: Iterable[str], trainable: str) -> None:
        """Raise SpaceError naming the first parameter or constant that the trainable does not take."""
        accepted = set(accepted)
        names = [("parameter", n) for n in self.params] + [("constant", n) for n in self.constants]
        for what, n in names:
            if n not in accepted:
                close = difflib.get_close_matches(n, sorted(accepted), n=1)
                hint = f"; did you mean '{close[0]}'?" if close else ""
                raise _error(self.path, f"{what} '{n}'", f"not an argument of trainable '{trainable}'{hint}")


# -----------------------------------------------------------------------------
# Loading


def bundled_spaces(searchable=True) -> list[str]:
    """Names of the spaces shipped in search_spaces/, e.g. 'tiny_demo', 'superglue/boolq'; with searchable=False,
    of the fixed configurations (files of constants alone), e.g. 'teacher_table2'."""
    return sorted(p.relative_to(SPACES_DIR).with_suffix("").as_posix() for p in SPACES_DIR.rglob("*.yaml")
                  if bool((yaml.load(p.read_text(encoding="utf-8"), Loader=_Loader) or {}).get("parameters"))
                  == searchable)


def load_space(path, searchable=True) -> SearchSpace:
    """Read and check a search-space YAML file. `path` is a file, or the name of a bundled space ('tiny_demo').
    With searchable=False, a file of constants alone is accepted: a fixed configuration such as the paper's
    teacher (teacher_table2.yaml), for `babysweep train` and `rerun --baseline`."""
    path = Path(path)
    if not path.exists() and path.suffix == "" and (SPACES_DIR / f"{path}.yaml").exists():
        path = SPACES_DIR / f"{path}.yaml"
    if not path.is_file():
        hint = f" (bundled spaces: {', '.join(bundled_spaces())})" if path.suffix == "" else ""
        raise _error(path, None, f"search-space file not found{hint}")
    try:
        doc = yaml.load(path.read_text(encoding="utf-8"), Loader=_Loader)
    except yaml.MarkedYAMLError as e:
        mark = e.problem_mark
        raise _error(path, None, f"not valid YAML: {e.problem} (line {mark.line + 1}, column {mark.column + 1})")
    except (yaml.YAMLError, UnicodeDecodeError) as e:
        raise _error(path, None, f"not valid YAML: {e}")
    if not isinstance(doc, dict):
        raise _error(path, None, f"must be a YAML mapping (trainable, budget, parameters, ...), got {type(doc).__name__}")
    unknown = [k for k in doc if k not in TOP_LEVEL_KEYS]
    if unknown:
        raise _error(path, f"key '{unknown[0]}'", f"unknown (keys: {', '.join(sorted(TOP_LEVEL_KEYS))})")

    name = doc.get("name", path.stem)
    if not isinstance(name, str) or not name:
        raise _error(path, "name", f"must be a non-empty string (got {name!r})")
    trainable = doc.get("trainable")
    if not isinstance(trainable, str) or not TRAINABLE_RE.match(trainable):
        raise _error(path, "trainable", f"must be pretrain, finetune or package.module:function (got {trainable!r})")
    metric, mode = doc.get("metric", "val_loss"), doc.get("mode", "min")
    if not isinstance(metric, str) or not metric:
        raise _error(path, "metric", f"must be a metric name such as val_loss (got {metric!r})")
    if mode not in ("min", "max"):
        raise _error(path, "mode", f"must be min or max (got {mode!r})")

    budget = doc.get("budget")
    if not isinstance(budget, dict) or set(budget) != {"min", "max"}:
        raise _error(path, "budget", f"must be a mapping with min and max, in epochs (got {budget!r})")
    b_min = float(_number(path, "budget", budget["min"], "budget min"))
    b_max = float(_number(path, "budget", budget["max"], "budget max"))
    if b_min <= 0:
        raise _error(path, "budget", f"min must be > 0 (got {b_min:g})")
    if b_min > b_max:
        raise _error(path, "budget", f"min must be <= max (got min {b_min:g}, max {b_max:g})")

    constants = doc.get("constants") or {}
    if not isinstance(constants, dict):
        raise _error(path, "constants", f"must be a mapping of name: value (got {constants!r})")
    parameters = doc.get("parameters") or ({} if not searchable else None)
    if not isinstance(parameters, dict) or (searchable and not parameters):
        raise _error(path, "parameters", "must be a non-empty mapping of name: prior")

    for what, keys in (("constant", constants), ("parameter", parameters)):
        for key in keys:
            # '/' would be unflattened into nested dicts by Ray Tune; log__ is reserved for the ConfigSpace names
            if not isinstance(key, str) or not NAME_RE.match(key) or key.startswith(LOG_PREFIX):
                raise _error(path, f"{what} '{key}'",
                             f"name must be letters, digits, _ . - and not start with {LOG_PREFIX}")
    constants, params = dict(constants), {}
    for key, spec in parameters.items():
        if key in constants:
            raise _error(path, f"parameter '{key}'", "is also in constants")
        if isinstance(spec, dict):
            params[key] = _parse_prior(path, key, spec)
        else:
            constants[key] = spec  # a plain value: a constant
    if not params and searchable:
        raise _error(path, "parameters", "nothing to search: every parameter is a constant")
    space = SearchSpace(path=path, name=name, trainable=trainable, metric=metric, mode=mode,
                        budget_max=b_max, budget_min=b_min, constants=constants, params=params)
    space.to_configspace()  # so that whatever ConfigSpace refuses fails here, not in the middle of a sweep
    return space
