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

One prior (its kind, its arguments checked, its support, its ConfigSpace hyperparameter) is
search_spaces/priors.py's; this module reads a space file, checks its keys and builds the ConfigSpace.

Numbers: PyYAML reads `1e-3` (no dot) as a string; this loader reads it as a float, as YAML 1.2 does.
Errors: every problem is a SpaceError with one line naming the file and the parameter.
"""
from __future__ import annotations

import difflib
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable

import ConfigSpace as CS
import yaml

from .priors import (  # noqa: F401
    DEFAULT_SIGMAS, KINDS, LOG_KINDS, LOG_NORMAL_KINDS, LOG_PREFIX, Q_KINDS, Prior, SpaceError, _error, _native,
    _number, _parse_prior)

SPACES_DIR = Path(__file__).resolve().parent  # bundled spaces: search_spaces/**/*.yaml
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
