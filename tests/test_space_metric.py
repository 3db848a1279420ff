"""The space's metric everywhere: a fine-tuning sweep (search_spaces/superglue/rte.yaml: metric score, mode max) is
recorded, shown and reported in score, highest first, as a pretraining sweep is in val_loss; its results table names
each trial's kept model; its report suggests finetune-all with its best configuration, never BLiMP scoring.

The sweep here is hand-made with the project's own writers: its record by SweepSpec, its folder by sweep.folder,
its results.csv and history.csv by the ResultsTable callback fed fake trials the way Ray's controller calls it
(reports, checkpoints holding the model the trainable keeps, completions). A real tiny one is in test_finetune.py."""
import functools
import json
from pathlib import Path
from types import SimpleNamespace

import pandas as pd
import pytest
import yaml

from babysweep.cli import main
from search_spaces.loader import SPACES_DIR, load_space
from sweep import folder
from sweep.errors import SweepError
from sweep.experiment import load_experiment
from sweep.kinds import SweepSpec
from sweep.kinds.searched import table_config
from sweep.results import ResultsTable
from sweep.status import format_status, sweep_status
from sweep.table import HISTORY_COLUMNS, read_history, read_table

RTE = SPACES_DIR / "superglue" / "rte.yaml"
# (lr, [(score, val_loss) per epoch], epochs it ran): t1's val_loss ends lowest, t2's score highest, so that a reader
# ranking by val_loss picks another trial than one ranking by the space's score; t3 is stopped at the first rung
TRIALS = {"t1": (5e-5, [(0.50, 0.70), (0.62, 0.60), (0.58, 0.55)]),
          "t2": (1e-4, [(0.55, 0.68), (0.57, 0.66), (0.66, 0.65)]),
          "t3": (2e-5, [(0.45, 0.90)])}


def trial_config(lr):
    space = load_space(RTE)
    return {**{p: space.centre()[p] for p in space.params}, "lr": lr}


def kept_so_far(reports):
    """The report finetune keeps by score (the earlier on a tie), as its checkpoints' hf/babysweep.json holds it."""
    best = None
    for r in reports:
        if best is None or r["score"] > best["score"]:
            best = r
    return best


def make_finetuning_sweep(storage: Path, name="rte-sweep", history_header=None) -> Path:
    """A finished 3-trial sweep of the RTE space, its tables written by ResultsTable; `history_header`: a history.csv
    begun with that header (an earlier version's) before the first report."""
    extra = {"checkpoint": str(storage / "pretrained" / "hf"), "glue_dir": str(storage / "glue_filtered"),
             "num_epochs": 3, "keep": "best"}
    spec = SweepSpec(space=str(RTE), trainable="finetune", name=name, storage=str(storage), samples=3, keep="best",
                     extra=extra)
    exp = folder.create(storage, name, spec.to_record(), RTE)
    if history_header is not None:
        (exp / "history.csv").write_text(",".join(history_header) + "\n")
    table = ResultsTable(exp, functools.partial(table_config, str(exp / "space.yaml"), extra=extra),
                         keep="best", metric="score", mode="max")
    table.setup()
    for tid, (lr, epochs) in TRIALS.items():
        trial = SimpleNamespace(trial_id=tid, config=trial_config(lr), status="RUNNING")
        table.on_trial_start(0, [trial], trial)
        reports = []
        for epoch, (score, val_loss) in enumerate(epochs, start=1):
            result = {"epoch": epoch, "score": score, "metric": "accuracy", "accuracy": score, "val_loss": val_loss,
                      "wall_s": 10.0 * epoch, "diverged": False}
            reports.append(result)
            table.on_trial_result(0, [trial], trial, result)
            hf = exp / f"trial_{tid}" / f"checkpoint_{epoch - 1:06d}" / "hf"
            hf.mkdir(parents=True)
            (hf / "config.json").write_text("{}")
            (hf / "babysweep.json").write_text(json.dumps({"metrics": kept_so_far(reports)}))
            table.on_checkpoint(0, [trial], trial, SimpleNamespace(path=str(hf.parent)))
        trial.status = "TERMINATED"
        table.on_trial_complete(0, [trial], trial)
        table.on_step_end(0, [trial])
    return exp


@pytest.fixture
def sweep(tmp_path):
    storage = tmp_path / "runs"
    storage.mkdir()
    return storage, make_finetuning_sweep(storage)


# ---------------------------------------------------------------------------------------------- the tables

def test_history_records_the_spaces_metric_beside_val_loss(sweep):
    _, exp = sweep
    assert (exp / "history.csv").read_text().splitlines()[0] == "trial_id,epoch,val_loss,score,wall_s,time"
    history = load_experiment("rte-sweep", exp.parent).history
    assert list(history["score"]) == [s for _, epochs in TRIALS.values() for s, _ in epochs]
    assert list(history["val_loss"]) == [v for _, epochs in TRIALS.values() for _, v in epochs]


def test_results_table_names_each_trials_kept_model_and_the_best_score(sweep):
    _, exp = sweep
    table = read_table(exp / "results.csv").set_index("trial_id")
    # t1 keeps epoch 2 (its best score): the latest checkpoint holding that model is named, which Ray keeps
    assert table.loc["t1", "checkpoint"] == str(exp / "trial_t1" / "checkpoint_000002" / "hf")
    assert (table.loc["t1", "checkpoint_epoch"], table.loc["t1", "checkpoint_score"]) == (2, 0.62)
    assert (table.loc["t2", "checkpoint_epoch"], table.loc["t2", "checkpoint_score"]) == (3, 0.66)
    # a trial stopped at a rung has its model too
    assert table.loc["t3", "checkpoint"] == str(exp / "trial_t3" / "checkpoint_000000" / "hf")
    assert list(table["best_score"]) == [0.62, 0.66, 0.45] and list(table["score"]) == [0.58, 0.66, 0.45]
    assert all(Path(c).is_dir() for c in table["checkpoint"])


def test_a_named_checkpoint_that_is_gone_is_replaced_by_the_next(tmp_path):
    table = ResultsTable(tmp_path, dict, keep="best", metric="score", mode="max")
    trial = SimpleNamespace(trial_id="t", config={"lr": 1.0}, status="RUNNING")
    for k, (epoch, score) in enumerate([(1, 0.6), (2, 0.5)]):
        hf = tmp_path / f"c{k}" / "hf"
        hf.mkdir(parents=True)
        (hf / "babysweep.json").write_text(json.dumps({"metrics": {"epoch": epoch, "score": score}}))
        if k == 1:
            (tmp_path / "c0" / "hf" / "babysweep.json").unlink()
            (tmp_path / "c0" / "hf").rmdir()  # Ray deleted the checkpoint the table named
        table.on_checkpoint(0, [trial], trial, SimpleNamespace(path=str(hf.parent)))
    assert table.row(trial)["checkpoint"] == str(tmp_path / "c1" / "hf")


def test_an_earlier_versions_history_keeps_its_columns_and_still_reads(tmp_path):
    """A fine-tuning sweep whose history.csv was begun before babysweep recorded the metric there: the writer goes on
    in its columns (no line read as torn), and every reader takes it, its curves in val_loss."""
    storage = tmp_path / "runs"
    storage.mkdir()
    exp = make_finetuning_sweep(storage, history_header=HISTORY_COLUMNS)
    lines = (exp / "history.csv").read_text().splitlines()
    assert lines[0] == ",".join(HISTORY_COLUMNS) and all(len(line.split(",")) == 5 for line in lines)
    loaded = load_experiment("rte-sweep", storage)
    assert "score" not in loaded.history and len(loaded.history) == 7
    assert loaded.history_metric() == ("val_loss", "min")
    assert main(["report", "rte-sweep", "--storage", str(storage)]) == 0


def test_a_history_with_neither_the_metric_nor_val_loss_is_one_line(tmp_path):
    path = tmp_path / "history.csv"
    path.write_text("trial_id,epoch,wall_s,time\nt1,1,3.0,5.0\n")
    with pytest.raises(SweepError) as e:
        read_history(path, metric="score")
    assert str(e.value).startswith(f"{path}: no score or val_loss column") and "\n" not in str(e.value)
    path.write_text("trial_id,epoch,score,time\nt1,1,high,5.0\n")
    with pytest.raises(SweepError, match="line 2: score 'high': not a number"):
        read_history(path, metric="score")


# ---------------------------------------------------------------------------------------------- status

def test_status_ranks_and_shows_the_spaces_metric(sweep):
    storage, _ = sweep
    st = sweep_status("rte-sweep", storage)
    assert (st["metric"], st["mode"]) == ("score", "max")
    b = st["best"]
    assert (b["trial_id"], b["metric"], b["value"], b["val_loss"]) == ("t2", "score", 0.66, 0.65)
    text = format_status(st)
    lines = text.splitlines()
    assert "score max" in lines[0]
    assert lines[1].split()[:6] == ["trial", "state", "epoch", "score", "best", "val_loss"]
    t1 = next(line for line in lines if line.startswith("t1 "))
    assert t1.split()[3:6] == ["0.58", "0.62", "0.55"]  # its last score, its best score, its val_loss
    assert "best: t2 score 0.6600 at epoch 3 (best score (max) of the model each trial kept" in text
    assert f"model: {storage / 'rte-sweep' / 'trial_t2' / 'checkpoint_000002' / 'hf'}" in text


def test_status_says_when_a_sweep_stopped_at_its_compute_budget(sweep):
    storage, _ = sweep
    st = sweep_status("rte-sweep", storage)
    st.update(samples=8, driver="stopped", compute_budget=[{"unit": "epochs", "limit": 4, "used": 4.0, "left": 0.0}])
    assert "the sweep stopped at its compute budget: 3 of 8 samples started" in format_status(st)
    st["compute_budget"][0].update(used=3.0, left=1.0)  # stopped short of its budget: Ctrl-C, say
    assert "stopped at its compute budget" not in format_status(st)


def test_status_json_names_the_metric_and_mode(sweep, capsys):
    storage, _ = sweep
    assert main(["status", "rte-sweep", "--storage", str(storage), "--json"]) == 0
    st = json.loads(capsys.readouterr().out)
    assert (st["metric"], st["mode"], st["best"]["trial_id"], st["best"]["metric"]) == ("score", "max", "t2", "score")
    assert {r["trial_id"]: r["best_score"] for r in st["rows"]} == {"t1": 0.62, "t2": 0.66, "t3": 0.45}


def test_the_progress_line_shows_the_best_score_highest_first():
    from sweep.progress import ProgressLine

    line = ProgressLine(2, dict, metric="score", mode="max", shown=["lr"])
    for tid, score in (("a", 0.6), ("b", 0.7), ("a", 0.65)):
        trial = SimpleNamespace(trial_id=tid, config={"lr": 0.1 if tid == "a" else 0.2}, status="RUNNING")
        line.on_trial_result(0, [trial], trial, {"score": score, "epoch": 1, "val_loss": 0.1})
    trials = [SimpleNamespace(trial_id=t, status="RUNNING") for t in "ab"]
    assert "| best score 0.7000 (b: lr=0.2) |" in line.line(trials)


# ---------------------------------------------------------------------------------------------- report

def test_the_reports_figures_are_in_score_highest_first(sweep):
    from analysis.report.figures import Colours, anytime_curve, plot_anytime, plot_hyperparameters, plot_trials

    storage, _ = sweep
    exp = load_experiment("rte-sweep", storage)
    curve = anytime_curve(exp.history, *exp.history_metric())
    assert list(curve["best"]) == [0.50, 0.62, 0.62, 0.62, 0.62, 0.66, 0.66]  # the running maximum
    assert list(curve["budget"]) == [1, 2, 3, 4, 5, 6, 7]
    ax = plot_anytime(exp).axes[0]
    assert ax.get_ylabel() == "best score so far (highest)" and "score" in ax.get_title()
    colours = Colours(exp)
    ax = plot_trials(exp, colours, []).axes[0]
    assert ax.get_ylabel() == "score"
    drawn = {tuple(line.get_ydata()) for line in ax.lines}
    assert (0.50, 0.62, 0.58) in drawn and (0.55, 0.57, 0.66) in drawn  # each trial's scores, not its losses
    panels = plot_hyperparameters(exp, colours).axes
    assert panels[0].get_ylabel() == "kept model score"  # keep best: each trial at the score of the model it kept
    dots = {round(float(y), 2) for c in panels[0].collections for _, y in c.get_offsets()}
    assert 0.62 in dots and 0.58 not in dots  # t1 kept its epoch 2 (0.62), not its last (0.58)


def test_the_report_of_a_finetuning_sweep_suggests_finetune_all_with_its_best_configuration(sweep, capsys):
    from sweep.finetune_all import read_hparams
    from test_report import Page, decode_png

    storage, exp = sweep
    assert main(["report", "rte-sweep", "--storage", str(storage)]) == 0
    capsys.readouterr()
    text = (exp / "report.html").read_text()
    page = Page(text)
    assert list(page.sections) == ["settings", "compute", "anytime", "trials", "hyperparameters", "next", "results"]
    for _, src in page.images:
        decode_png(src)
    assert "Best score against budget" in page.sections["anytime"] and "highest" in page.sections["anytime"]
    assert "Every trial's score" in page.sections["trials"]
    assert "t2: score 0.6600 at epoch 3" in page.sections["compute"]  # the best trial by the space's metric
    hparams = exp / "report" / "best_hparams.yaml"
    start = f"babysweep finetune-all --checkpoint {storage / 'pretrained' / 'hf'}"
    end = f"--tasks rte --glue {storage / 'glue_filtered'}"
    assert f"{start} --sweep rte={exp} {end}" in page.sections["next"]
    assert f"{start} --hparams {hparams} {end}" in page.sections["next"]
    for pretraining_only in ("--blimp", "analyze correlate", "analyze stability", "babysweep evaluate"):
        assert pretraining_only not in text, pretraining_only
    # the file holds t2's configuration, and finetune-all's own reader takes it
    best = yaml.safe_load(hparams.read_text())
    assert best == {"rte": {**trial_config(1e-4), "seed": 12, "num_epochs": 3}}
    assert read_hparams(hparams) == best
    # and --sweep rte=FOLDER takes the same trial
    from sweep.finetune_sources import best_choice

    assert best_choice(load_experiment("rte-sweep", storage), "rte").trial_id == "t2"


def test_the_report_of_a_pretraining_sweep_still_suggests_blimp_and_its_analyses(tmp_path):
    from conftest import copy_legacy
    from analysis.report import write_report

    storage = copy_legacy(tmp_path / "runs")
    exp = load_experiment("legacy", storage)
    assert not exp.finetunes and exp.history_metric() == ("val_loss", "min")
    text = write_report(exp).read_text()
    assert "babysweep analyze correlate legacy" in text and "babysweep analyze stability legacy" in text
    assert 'id="next"' not in text and "finetune-all" not in text
    assert not (exp.path / "report" / "best_hparams.yaml").exists()
    assert pd.notna(exp.best_trial()["val_loss"])
