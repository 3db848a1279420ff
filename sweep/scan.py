"""`babysweep launch SPACE --algo scan`: the paper's coarse-grained scan, as the authors chose their Table 2 settings
and the centres of their priors: each searched parameter varied on its own around the space's centre (k points at
the quantiles (i + 1/2) / k of its prior, every option of a choice), the others held at the centre, each run at its
full schedule. It runs as a fixed-configuration grid (sweep/kinds/grid.py); each row's source_trial_id says which
point it is ("scan:<name>=<value>", "scan:centre" for the centre itself), and `status` and `analyze scan` show
the one-at-a-time curves (analysis/scan.py)."""
import math
import time
from statistics import NormalDist

from .errors import SweepError
from .kinds import ScanSpec, SweepSpec
from .launch import launch

CENTRE = "scan:centre"


def prior_points(prior, k: int) -> list:
    """k values of one prior at the quantiles (i + 1/2) / k, in trainable units, without repeats; every option of a
    choice. Log-normal quantiles are the Normal's on log(x), clipped to the prior's bounds."""
    if prior.kind == "choice":
        return list(prior.args)
    out = []
    for i in range(k):
        p = (i + 0.5) / k
        if prior.kind in ("log_normal", "q_log_normal"):
            z = min(max(NormalDist(prior.mu, prior.sigma).inv_cdf(p), prior.lower), prior.upper)
            value = prior.to_value(z)
        elif prior.kind == "log_uniform":
            value = math.exp(math.log(prior.lower) + p * (math.log(prior.upper) - math.log(prior.lower)))
        elif prior.kind == "q_log_uniform":  # uniform on log(x): prior.lower/upper are its log bounds
            value = prior.to_value(prior.lower + p * (prior.upper - prior.lower))
        elif prior.kind == "int_uniform":
            value = int(round(prior.lower + p * (prior.upper - prior.lower)))
        else:
            value = prior.lower + p * (prior.upper - prior.lower)
        if value not in out:
            out.append(value)
    return out


def scan_params(space, names) -> list[str]:
    """The parameters to scan: `names` (--scan-params, in the space's order), default every searched one;
    SweepError naming the first that the space does not search."""
    if not names:
        return list(space.params)
    unknown = [n for n in names if n not in space.params]
    if unknown:
        raise SweepError(f"--scan-params {unknown[0]}: not a parameter {space.path} searches "
                         f"({', '.join(space.params)})")
    return [n for n in space.params if n in names]


def scan_runs(space, k: int, names=None) -> list[dict]:
    """The centre once, then each scanned parameter's other points with the rest at the centre."""
    centre = space.centre()
    runs = [{**centre, "source_trial_id": CENTRE}]
    chosen = scan_params(space, names)
    for name, prior in ((n, p) for n, p in space.params.items() if n in chosen):
        runs += [{**centre, name: value, "source_trial_id": f"scan:{name}={_short(value)}"}
                 for value in prior_points(prior, k) if value != centre[name]]
    return runs


def _short(value) -> str:
    return f"{value:.4g}" if isinstance(value, float) else str(value)


def launch_scan(spec: SweepSpec, points=5, overwrite=False, verbose=1, log=print, params=None):
    """Run the scan of spec's space (its trainable, data, resources, storage, name) as a fixed grid; `params`
    (--scan-params): only these parameters (the others stay at the centre)."""
    if points < 2:
        raise SweepError(f"--scan-points {points}: at least 2 points per parameter are needed for a curve")
    from search_spaces.loader import load_space

    space = load_space(spec.space)
    scanned = scan_params(space, params)  # an unknown name is one line before anything runs
    spec.name = spec.name or f"{space.name}-scan-{time.strftime('%Y%m%d-%H%M%S')}"
    spec.algo = "bohb"  # only to pass the searched kind's checks: the space, trainable, data and resources
    spec.prepare()
    runs = scan_runs(space, points, scanned)
    which = f" of {', '.join(scanned)}" if params else ""
    log(f"scan: {len(runs)} runs at full budget ({points} points per parameter{which} around the centre)")
    grid = ScanSpec(name=spec.name, storage=spec.storage, trainable=spec.trainable,
                    data=spec.data, extra=spec.extra, cpus_per_trial=spec.cpus_per_trial,
                    gpus_per_trial=spec.gpus_per_trial, address=spec.address, wandb=spec.wandb, keep=spec.keep,
                    constant_schedule=spec.constant_schedule, max_failures=spec.max_failures, runs=runs, space=spec.space, seeds=[], top_k=points,
                    notes=[f"{points} points per parameter at its prior's quantiles (i + 1/2) / {points}"
                           + (f"; scanned: {', '.join(scanned)}" if params else "")])
    return launch(grid, overwrite=overwrite, verbose=verbose)
