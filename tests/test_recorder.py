"""The results-table callback's choice of the model to score (--keep last / best), on fake checkpoints: no Ray run."""
import json
from types import SimpleNamespace

import pytest

from sweep.results import ResultsTable
from sweep.table import read_table


def checkpoint(tmp_path, name, epoch, val_loss, final=False, scorable=True):
    """A folder shaped like a pretraining checkpoint (trainables.loop.report_budget_point)."""
    folder = tmp_path / name
    folder.mkdir()
    (folder / "trainer_state.pt").write_bytes(b"")
    about = json.dumps({"metrics": {"epoch": epoch, "val_loss": val_loss}})
    if scorable:
        (folder / "config.json").write_text("{}")
        (folder / "babysweep.json").write_text(about)
    if final:
        (folder / "hf").mkdir()
        (folder / "hf" / "babysweep.json").write_text(about)
    return SimpleNamespace(path=str(folder))


@pytest.fixture
def trial():
    return SimpleNamespace(trial_id="t1", config={"lr": 0.001, "seed": 7}, status="RUNNING")


def recorder(tmp_path, keep):
    exp = tmp_path / "exp"
    exp.mkdir()
    return ResultsTable(exp, to_config=dict, keep=keep), exp


def test_keep_last_names_the_checkpoint_where_the_trial_stands(tmp_path, trial):
    table, exp = recorder(tmp_path, "last")
    table.on_checkpoint(0, [trial], trial, checkpoint(tmp_path, "c1", 1.0, 3.0))
    table.on_checkpoint(0, [trial], trial, checkpoint(tmp_path, "c2", 2.0, 3.5))  # worse, but the latest
    row = table.row(trial)
    assert row["checkpoint"] == str(tmp_path / "c2") and row["checkpoint_epoch"] == 2.0
    table.on_checkpoint(0, [trial], trial, checkpoint(tmp_path, "c3", 3.0, 3.4, final=True))
    assert table.row(trial)["checkpoint"] == str(tmp_path / "c3" / "hf")  # the final Hugging Face folder
    table.on_step_end(0, [trial])
    saved = read_table(exp / "results.csv").iloc[0]
    assert saved["checkpoint"] == str(tmp_path / "c3" / "hf") and saved["checkpoint_val_loss"] == 3.4


def test_keep_best_names_the_best_validation_checkpoint(tmp_path, trial):
    table, _ = recorder(tmp_path, "best")
    table.on_checkpoint(0, [trial], trial, checkpoint(tmp_path, "c1", 1.0, 3.0))
    table.on_checkpoint(0, [trial], trial, checkpoint(tmp_path, "c2", 2.0, 2.5))
    table.on_checkpoint(0, [trial], trial, checkpoint(tmp_path, "c3", 3.0, 2.9, final=True))  # last, not best
    row = table.row(trial)
    assert (row["checkpoint"], row["checkpoint_epoch"], row["checkpoint_val_loss"]) == (str(tmp_path / "c2"), 2.0, 2.5)


def test_a_checkpoint_without_a_model_is_not_named(tmp_path, trial):
    """Checkpoints of trainables that keep no scorable model (fine-tuning before its end, a custom trainable)."""
    table, _ = recorder(tmp_path, "last")
    table.on_checkpoint(0, [trial], trial, checkpoint(tmp_path, "c1", 1.0, 3.0, scorable=False))
    assert "checkpoint" not in table.row(trial)


def test_a_callback_restored_from_an_earlier_version_keeps_the_last(tmp_path, trial):
    """Ray restores the callback pickled at launch: one from babysweep 0.1 has no `keep` attribute."""
    table, _ = recorder(tmp_path, "last")
    del table.keep
    table.on_checkpoint(0, [trial], trial, checkpoint(tmp_path, "c1", 1.0, 3.0))
    table.on_checkpoint(0, [trial], trial, checkpoint(tmp_path, "c2", 2.0, 3.5))
    assert table.row(trial)["checkpoint"] == str(tmp_path / "c2")
