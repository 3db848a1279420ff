"""Real small sweeps on the informative Hartmann function (seconds, no training): hpbandster's model holds an
observation at every rung the trials reached, the space file's trainable is used, and a compute budget stops the
sweep at its limit."""
import pickle

import pytest

from conftest import REPO
from sweep.cli import main
from sweep.table import read_table

pytestmark = pytest.mark.slow  # real Ray runs
SPACE = REPO / "search_spaces" / "synthetic" / "hartmann6.yaml"  # trainable: key names the Hartmann trainable


def searcher_state(exp):
    """The searcher Ray saved last (a ResumableTuneBOHB), as a resume would restore it."""
    path = sorted(exp.glob("searcher-state-*.pkl"))[-1]
    with open(path, "rb") as f:
        return pickle.load(f)


def test_the_model_observes_every_rung_the_trials_reached(tmp_path, capsys):
    assert main(["launch", str(SPACE), "--samples", "24", "--storage", str(tmp_path), "--name", "h", "--quiet"]) == 0
    table = read_table(tmp_path / "h" / "results.csv")
    assert len(table) == 24 and set(table["state"]) == {"TERMINATED"}
    assert table["config/x1"].notna().all()  # the space file's trainable ran: no --trainable given
    state = searcher_state(tmp_path / "h")
    observations = {b: len(losses) for b, losses in state["bohber"].losses.items()}
    # every trial counted at the rung it reached: as many observations at a budget as trials that got there
    for rung in (1, 3, 9, 27):
        reached = int((table["epoch"] >= rung).sum())
        assert observations.get(rung, 0) == reached, (rung, observations)
    assert observations.get(27, 0) >= 1  # the last rung, where every trial stops, is observed too


def test_a_compute_budget_stops_new_trials_at_the_limit(tmp_path, capsys):
    assert main(["launch", str(SPACE), "--samples", "200", "--max-budget", "60", "--max-concurrent", "1",
                 "--storage", str(tmp_path), "--name", "b", "--quiet"]) == 0
    out = capsys.readouterr().out
    table = read_table(tmp_path / "b" / "results.csv")
    spent = table["epoch"].sum()
    assert len(table) < 200 and 60 <= spent <= 60 + 27  # no new trial once 60 epochs were spent
    assert "compute budget:" in out and "of 60 epochs used" in out
    assert main(["status", "b", "--storage", str(tmp_path)]) == 0
    assert "no new trial is started" in capsys.readouterr().out
