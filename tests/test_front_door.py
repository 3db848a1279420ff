"""`import babysweep`: the stable scripting API, its version, `python -m babysweep`, and a script's own module
named like one of babysweep's layers said in one line."""
import importlib.metadata
import subprocess
import sys

import pytest

import babysweep
from conftest import copy_legacy

REPO = babysweep._ROOT


def test_the_front_door_exports_its_api_and_the_installed_version():
    assert babysweep.__version__ == importlib.metadata.version("babysweep")
    missing = [name for name in babysweep.__all__ if not hasattr(babysweep, name)]
    assert missing == []
    for name in ("launch", "resume", "rerun", "replicate", "load_experiment", "list_experiments", "evaluate",
                 "correlate", "compare", "report", "SweepSpec"):
        assert name in babysweep.__all__


def test_python_dash_m_babysweep_is_the_command():
    out = subprocess.run([sys.executable, "-m", "babysweep", "--help"], capture_output=True, text=True, cwd=REPO)
    assert out.returncode == 0 and out.stdout.startswith("usage: babysweep")


@pytest.mark.parametrize("shadow", ["analysis.py", "sweep/__init__.py"])
def test_a_scripts_own_module_named_like_a_layer_is_one_line_naming_it(tmp_path, shadow):
    path = tmp_path / shadow
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("x = 1\n")
    out = subprocess.run([sys.executable, "-c", "import babysweep"], capture_output=True, text=True, cwd=tmp_path)
    assert out.returncode == 1
    last = out.stderr.strip().splitlines()[-1]
    name = shadow.split("/")[0].removesuffix(".py")
    assert last == (f"ImportError: babysweep: the name {name!r} is taken by {path}, not babysweep's package "
                    f"{REPO / name}: rename that file or folder (babysweep's layers are trainables, search_spaces, "
                    f"sweep and analysis)")


def test_a_script_reads_lists_and_analyses_experiments_through_the_front_door(tmp_path):
    storage = copy_legacy(tmp_path)
    exp = babysweep.load_experiment("legacy", storage)
    assert isinstance(exp, babysweep.Experiment) and exp.best_trial() is not None
    assert [e.name for e in babysweep.list_experiments(storage, source="legacy")] == ["legacy-rerun"]
    fits = babysweep.correlate("legacy", storage, n_boot=50)
    assert fits and all("y" in f and "x" in f for f in fits)
    assert babysweep.correlate(exp.table, n_boot=50) == fits
    comparison = babysweep.compare({"re-runs": "legacy-rerun"}, sweep="legacy", storage=storage)
    assert "re-runs" in comparison.families and comparison.sources["legacy"].endswith("results.csv")
    with pytest.raises(babysweep.UserError, match="no sweep named 'absent'"):
        babysweep.load_experiment("absent", storage)
