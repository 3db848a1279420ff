"""babysweep: hyperparameter sweeps (BOHB on Ray Tune) for small language models trained on little data.

`import babysweep` is the stable scripting API: every name in `__all__` keeps its meaning across releases, whatever
moves inside. The four packages beside this one (trainables, search_spaces, sweep, analysis) are the project's
layers, lowest first; their modules are importable, but their names may change between releases.

    import babysweep

    exp = babysweep.launch(space="search_spaces/tiny_demo.yaml", data="runs/demo-data/prepared-100000-seed0",
                           samples=4, name="mine", storage="runs")
    exp.best_trial()                                   # the row the selection rule calls best
    babysweep.report(exp)                              # runs/mine/report.html

The command-line interface (`babysweep`, `python -m babysweep`) is babysweep/cli/.
"""
import importlib.util
from pathlib import Path

__version__ = "0.2.0"

_ROOT = Path(__file__).resolve().parent.parent
_LAYERS = ("trainables", "search_spaces", "sweep", "analysis")


def _check_layers_are_ours():
    """A script's own analysis.py (or sweep.py, ...) beside it comes first on sys.path and would be imported in
    place of ours, failing far from the cause; say so here, in one line, instead."""
    for name in _LAYERS:
        spec = importlib.util.find_spec(name)
        origin = Path(spec.origin).resolve() if spec is not None and spec.origin else None
        if origin is None or not origin.is_relative_to(_ROOT / name):
            found = origin or "nothing importable"
            raise ImportError(f"babysweep: the name {name!r} is taken by {found}, not babysweep's package "
                              f"{_ROOT / name}: rename that file or folder (babysweep's layers are trainables, "
                              f"search_spaces, sweep and analysis)")


_check_layers_are_ours()

from .api import (DEFAULT_STORAGE, Experiment, ExperimentSpec, SweepSpec, UserError, compare,  # noqa: E402
                  correlate, evaluate, launch, list_experiments, load_experiment, replicate, report, rerun, resume)

__all__ = ["__version__", "launch", "resume", "rerun", "replicate", "evaluate", "correlate", "compare", "report",
           "load_experiment", "list_experiments", "Experiment", "ExperimentSpec", "SweepSpec", "UserError",
           "DEFAULT_STORAGE"]
