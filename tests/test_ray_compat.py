"""Ray's private names live in sweep/ray_compat.py alone: each one it relies on still exists on the Ray installed
(checked on real objects, made cheaply, without starting Ray), and no other module of babysweep reaches a private
Ray name (a scan of the source tree's code, comments and strings aside)."""
import ast
import importlib

import pytest
import ray
from conftest import REPO
from ray.tune.experiment import Trial
from ray.tune.schedulers import HyperBandForBOHB
from ray.tune.search.bohb import TuneBOHB

from search_spaces.loader import SPACES_DIR, load_space
from sweep import ray_compat

pytestmark = [pytest.mark.filterwarnings("ignore::DeprecationWarning:hpbandster.*"),
              pytest.mark.filterwarnings("ignore::FutureWarning")]
SOURCE = ("trainables", "search_spaces", "sweep", "analysis", "babysweep", "benchmarks")


def instances() -> dict:
    """{what: a real Ray object of that kind}, as ray_compat.PRIVATE names them."""
    from ray import tune

    space = load_space(SPACES_DIR / "tiny_demo.yaml")
    searcher = TuneBOHB(space=space.to_configspace(seed=0), metric="val_loss", mode="min", seed=0)
    scheduler = HyperBandForBOHB(time_attr="epoch", metric="val_loss", mode="min", max_t=9)
    trial = Trial("run_trial", config={}, trial_id="t0", stub=True)

    class Controller:
        def get_trials(self):
            return [trial]

    scheduler.on_trial_add(Controller(), trial)
    bracket = next(b for band in scheduler._hyperbands for b in band if b is not None)
    tuner = tune.Tuner(lambda config: None)
    return {"TuneBOHB instance": searcher, "HyperBandForBOHB instance": scheduler, "_Bracket instance": bracket,
            "Tuner instance": tuner, "TunerInternal instance": tuner._local_tuner}


def test_the_checked_version_is_named():
    assert ray_compat.RAY_VERSION_CHECKED in ray_compat.__doc__
    if ray.__version__ != ray_compat.RAY_VERSION_CHECKED:
        pytest.skip(f"Ray {ray.__version__}: sweep/ray_compat.py was checked against {ray_compat.RAY_VERSION_CHECKED}"
                    f"; the checks below say what moved")


@pytest.fixture(scope="module")
def made():
    return instances()


@pytest.mark.parametrize("what", sorted(ray_compat.PRIVATE))
def test_every_private_name_ray_compat_relies_on_exists(what, made):
    names = ray_compat.PRIVATE[what]
    owner = made[what] if what in made else importlib.import_module(what)
    missing = [name for name in names if not hasattr(owner, name)]
    assert not missing, (f"Ray {ray.__version__} moved {', '.join(missing)} of {what} (sweep/ray_compat.py was "
                         f"checked against Ray {ray_compat.RAY_VERSION_CHECKED}): update sweep/ray_compat.py")


def test_ray_compat_works_on_real_objects(made):
    bracket = made["_Bracket instance"]
    again = ray_compat.new_bracket(ray_compat.bracket_state(bracket))
    assert ray_compat.bracket_state(again) == ray_compat.bracket_state(bracket)
    assert ray_compat.live(again) == {} and ray_compat.members(again) == []
    assert ray_compat.milestone(bracket) == 1 and ray_compat.max_budget(bracket) == 9
    assert ray_compat.metric_sign(made["TuneBOHB instance"]) == 1.0  # hpbandster minimises: a loss as it is
    job = ray_compat.observation(2.5, 3, {"lr": 1e-3})
    assert (job.result["loss"], job.kwargs["budget"], job.kwargs["config"]) == (2.5, 3, {"lr": 1e-3})
    assert ray_compat.run_config(made["Tuner instance"]).callbacks is None
    assert ray_compat.tune_config(made["Tuner instance"]).search_alg is None


def test_the_scheduler_state_names_do_not_shadow_rays_public_ones():
    public = {n for n in dir(HyperBandForBOHB) if not n.startswith("_")}
    ours = {n for n, v in vars(ray_compat.HyperBandState).items() if isinstance(v, property)}
    assert not public & ours


# ------------------------------------------------------------------------------------ nothing private elsewhere

def ray_private_names(made) -> set:
    """Every private name (one leading underscore) of the Ray objects babysweep deals with: their attributes,
    their classes' and Ray's TuneController's and Trial's."""
    from ray.tune.execution.tune_controller import TuneController
    from ray.tune.search import Searcher, SearchGenerator

    names = set()
    for obj in [*made.values(), TuneController, Trial, SearchGenerator, Searcher, HyperBandForBOHB, TuneBOHB]:
        names |= set(dir(obj)) | set(getattr(obj, "__dict__", {}))
    # babysweep's own marks on Ray's classes (sweep/failures.py's `_babysweep_policy`, set on Trial once a run has
    # started in this process) are ours, not Ray's
    return {n for n in names if n.startswith("_") and not n.startswith("__") and not n.startswith("_babysweep")}


def offences(path, private: set) -> list:
    """(line, what) of every reach into a private Ray name in one file."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    out = []
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and (node.module or "").split(".")[0] == "ray":
            if any(part.startswith("_") for part in node.module.split(".")):
                out.append((node.lineno, f"from {node.module} import ..."))
            out += [(node.lineno, f"from {node.module} import {a.name}") for a in node.names if a.name.startswith("_")]
        elif isinstance(node, ast.Import):
            out += [(node.lineno, f"import {a.name}") for a in node.names
                    if a.name.split(".")[0] == "ray" and any(p.startswith("_") for p in a.name.split("."))]
        elif isinstance(node, ast.Attribute) and node.attr in private:
            out.append((node.lineno, f".{node.attr}"))
        elif isinstance(node, ast.Call) and getattr(node.func, "id", None) in ("getattr", "setattr", "hasattr") \
                and len(node.args) >= 2 and isinstance(node.args[1], ast.Constant) and node.args[1].value in private:
            out.append((node.lineno, f"{node.func.id}(..., {node.args[1].value!r})"))
    return out


def test_no_private_ray_name_outside_ray_compat(made):
    private = ray_private_names(made)
    assert {"_trial_info", "_local_tuner", "_s_max_1", "_live_trials"} <= private  # the scan sees Ray's names
    found = []
    for folder in SOURCE:
        for path in sorted((REPO / folder).rglob("*.py")):
            if path == REPO / "sweep" / "ray_compat.py":
                continue
            found += [f"{path.relative_to(REPO)}:{line}: {what}" for line, what in offences(path, private)]
    assert not found, "private Ray names outside sweep/ray_compat.py:\n" + "\n".join(found)


def test_the_scan_catches_what_it_is_for(tmp_path, made):
    bad = tmp_path / "bad.py"
    bad.write_text("from ray.train._internal.session import get_session\n"
                   "from ray.tune.search.bohb.bohb_search import _BOHBJobWrapper\n"
                   "def f(tuner, scheduler):\n"
                   "    # tuner._local_tuner in a comment is no access\n"
                   "    return tuner._local_tuner, getattr(scheduler, '_trial_info')\n")
    assert [line for line, _ in offences(bad, ray_private_names(made))] == [1, 2, 5, 5]


def test_a_bracket_on_babysweeps_rungs_is_saved_and_rebuilt_with_them():
    from sweep.bohb import ResumableHyperBandForBOHB

    scheduler = ResumableHyperBandForBOHB(time_attr="epoch", metric="val_loss", mode="min", max_t=10, min_t=1)
    bracket = scheduler._create_bracket(2)
    assert ray_compat.rungs(bracket) == [1, 3, 10] and ray_compat.milestone(bracket) == 1
    again = ray_compat.new_bracket(ray_compat.bracket_state(bracket))
    assert isinstance(again, ray_compat.RungBracket) and ray_compat.rungs(again) == [1, 3, 10]
    assert ray_compat.bracket_state(again) == ray_compat.bracket_state(bracket)
