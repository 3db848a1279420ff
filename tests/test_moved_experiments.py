"""Experiments that move: a storage folder copied or moved elsewhere, the original gone, answers from its new place.

Fast: the path logic (trainables/relocation.py), a record of an earlier format re-rooted on read and written relative
(sweep/records.py), the results and evaluation tables (sweep/table.py), an ensemble's absolute members, and the
legacy fixture as a folder made elsewhere whose original is gone (status, the results API, a resume refused in one
line when its data folder outside the storage is gone). Slow: the session sweep copied twice, the first copy
deleted, then status, evaluate, resume and report on the second (a legacy re-run moved with its data folder inside
the storage and resumed: tests/test_legacy_folders.py).
"""
import json
import os
import shutil
from pathlib import Path

import pandas as pd
import pytest

from babysweep.cli import main
from conftest import copy_legacy
from sweep.experiment import load_experiment
from sweep.records import FORMAT, stored_record, upgrade_record
from sweep.status import format_status, sweep_status
from sweep.table import EVALUATION_SCHEMA, read_table, write_table
from trainables.relocation import reroot, resolved_path, stored_path


def made_elsewhere(storage: Path, origin: Path, data=None, names=("legacy", "legacy-rerun")) -> Path:
    """The legacy fixture's experiments copied into `storage` as if made in the storage `origin` (absent: the
    original is gone), their data folder `data` (default: an absent folder beside origin). Only text files are
    rewritten; Ray's pickles keep the fixture's own paths, as a moved folder's do."""
    return copy_legacy(storage, names, data=Path(data) if data is not None else origin.parent / "prep-gone",
                       origin=origin)


def files_text(folder: Path, names=("results.csv", "evaluation.csv", "history.csv", "report.html")) -> str:
    return "".join((folder / n).read_text() for n in names if (folder / n).is_file()) + "".join(
        p.read_text() for p in (folder / "analysis").glob("*") if p.suffix in (".md", ".csv", ".json"))


def snapshot(folder: Path) -> dict:
    return {str(p): (p.stat().st_size, p.stat().st_mtime_ns) for p in sorted(folder.rglob("*"))}


# ---------------------------------------------------------------------------------------------- the path logic

def test_a_path_inside_the_storage_is_stored_relative_and_one_outside_stays_absolute(tmp_path):
    exp = tmp_path / "runs" / "teacher"
    assert stored_path(str(exp / "trial_1/checkpoint_000002/hf"), str(exp)) == "trial_1/checkpoint_000002/hf"
    other = str(tmp_path / "runs" / "family" / "trial_2" / "hf")
    assert stored_path(other, str(exp), within=str(exp.parent)) == "../family/trial_2/hf"
    assert stored_path(other, str(exp)) == other  # not inside the experiment: as it is
    assert stored_path("/data/babylm", str(exp), within=str(exp.parent)) == "/data/babylm"
    assert stored_path([str(exp / "a"), 3, ""], str(exp)) == ["a", 3, ""]
    assert resolved_path("../family/trial_2/hf", str(exp)) == other


def test_reroot_moves_the_experiment_own_paths_and_storage_paths_that_moved_with_it(tmp_path):
    old, new = str(tmp_path / "old"), str(tmp_path / "new")
    own = os.path.join(old, "teacher")
    # the experiment's own files always follow it, whether or not they are there yet
    assert reroot(f"{own}/trial_1/hf", old, new, own=own) == f"{new}/teacher/trial_1/hf"
    # elsewhere in the storage: moved when the original is gone, or the copy holds it
    assert reroot(f"{old}/data/prep", old, new) == f"{new}/data/prep"
    (tmp_path / "old" / "data" / "prep").mkdir(parents=True)
    assert reroot(f"{old}/data/prep", old, new) == f"{old}/data/prep"  # left behind, still there: read there
    (tmp_path / "new" / "data" / "prep").mkdir(parents=True)
    assert reroot(f"{old}/data/prep", old, new) == f"{new}/data/prep"
    assert reroot("/elsewhere/prep", old, new) == "/elsewhere/prep" and reroot(7, old, new) == 7
    assert reroot([f"{own}/a", "x"], old, new, own=own) == [f"{new}/teacher/a", "x"]


def test_an_old_absolute_record_is_re_rooted_on_read_and_an_outside_data_folder_kept(tmp_path):
    old = "/nowhere/original/runs"
    record = {"kind": "rerun", "algo": "replicate", "format": 2, "name": "students", "storage": old,
              "data": "/corpora/prep", "source_experiment": f"{old}/teachers", "space": f"{old}/teachers/space.yaml",
              "extra": {"data": "/corpora/prep", "teachers": [f"{old}/teachers/trial_1/hf"], "lr": 0.1,
                        "checkpoint": f"{old}/teachers/trial_2/hf"},
              "runs": [{"seed": 1, "checkpoint": f"{old}/teachers/trial_3/hf"}]}
    exp = tmp_path / "runs" / "students"
    read = upgrade_record(record, where=exp)
    new = str(tmp_path / "runs")
    assert read["format"] == FORMAT and read["storage"] == new
    assert read["source_experiment"] == f"{new}/teachers" and read["space"] == f"{new}/teachers/space.yaml"
    assert read["extra"]["teachers"] == [f"{new}/teachers/trial_1/hf"]
    assert read["extra"]["checkpoint"] == f"{new}/teachers/trial_2/hf" and read["extra"]["lr"] == 0.1
    assert read["runs"][0]["checkpoint"] == f"{new}/teachers/trial_3/hf"
    assert read["data"] == read["extra"]["data"] == "/corpora/prep"  # the user's input, outside the storage
    assert record["storage"] == old  # the argument is left as it is


def test_a_record_is_written_relative_to_its_storage_and_read_back_where_it_is_now(tmp_path):
    here = str(tmp_path / "a" / "runs")
    record = {"kind": "sweep", "format": FORMAT, "name": "s", "storage": here, "data": f"{here}/demo-data/prep",
              "space": "search_spaces/tiny_demo.yaml", "extra": {"data": f"{here}/demo-data/prep",
                                                                  "glue_dir": "/glue", "preset": "tiny"}}
    stored = stored_record(record)
    assert stored["data"] == stored["extra"]["data"] == "demo-data/prep" and stored["extra"]["glue_dir"] == "/glue"
    assert stored["storage"] == here and stored["space"] == "search_spaces/tiny_demo.yaml"  # as the user gave it
    read = upgrade_record(json.loads(json.dumps(stored)), where=tmp_path / "b" / "runs" / "s")
    moved = str(tmp_path / "b" / "runs")
    assert read["data"] == read["extra"]["data"] == f"{moved}/demo-data/prep" and read["storage"] == moved
    assert read["extra"]["preset"] == "tiny" and read["space"] == "search_spaces/tiny_demo.yaml"


def test_an_ensemble_naming_absolute_members_finds_them_where_its_storage_is_now(tmp_path):
    from trainables.ensemble import ensemble_members

    runs, old = tmp_path / "runs", "/nowhere/original/runs"
    (runs / "pairs" / "ensembles" / "e0").mkdir(parents=True)
    (runs / "pairs" / "sweep.json").write_text(json.dumps({"name": "pairs", "storage": old}))
    (runs / "pairs" / "ensembles" / "e0" / "ensemble.json").write_text(json.dumps(
        {"kind": "ensemble", "members": [f"{old}/family/trial_1/hf", "../../../family/trial_2/hf"]}))
    for trial in ("trial_1", "trial_2"):
        (runs / "family" / trial / "hf").mkdir(parents=True)
    assert ensemble_members(runs / "pairs" / "ensembles" / "e0") == [
        (runs / "family" / "trial_1" / "hf").resolve(), (runs / "family" / "trial_2" / "hf").resolve()]


# ---------------------------------------------------------------------------------------------- tables and commands

def test_a_moved_legacy_folder_reads_its_checkpoints_at_the_new_place(tmp_path, capsys):
    origin = tmp_path / "original" / "runs"  # never made: the original is gone
    storage = made_elsewhere(tmp_path / "copy" / "runs", origin)
    exp = load_experiment("legacy", storage)
    assert exp.record["storage"] == str(storage.resolve())
    named = exp.table["checkpoint"].dropna()
    assert len(named) and all(Path(c).is_relative_to(storage.resolve() / "legacy") for c in named)
    st = sweep_status("legacy", storage)
    assert st["best"]["checkpoint"] == str(storage.resolve() / "legacy/trial_0ad21f93/checkpoint_000002/hf")
    assert str(origin) not in format_status(st)
    assert main(["status", "legacy", "--storage", str(storage), "--json"]) == 0
    assert str(origin) not in capsys.readouterr().out
    evaluation = read_table(storage / "legacy" / "evaluation.csv")
    assert all(Path(c).is_relative_to(storage.resolve()) for c in evaluation["checkpoint"])


def test_a_table_written_into_an_experiment_names_its_files_relative_to_it(tmp_path):
    storage = made_elsewhere(tmp_path / "runs", tmp_path / "gone")
    exp = storage.resolve() / "legacy"
    table = read_table(exp / "evaluation.csv")
    table.loc[0, "checkpoint"] = str(storage.resolve() / "legacy-rerun" / "trial_x" / "hf")  # another experiment's
    write_table(table, exp / "evaluation.csv")
    raw = pd.read_csv(exp / "evaluation.csv", dtype=str)
    assert raw.loc[0, "checkpoint"] == "../legacy-rerun/trial_x/hf"
    assert raw.loc[1, "checkpoint"] == "trial_0ad21f93/checkpoint_000002/hf"
    assert "/" + "gone" not in (exp / "evaluation.csv").read_text()
    assert list(read_table(exp / "evaluation.csv")["checkpoint"][:2]) == [
        str(storage.resolve() / "legacy-rerun" / "trial_x" / "hf"), str(exp / "trial_0ad21f93/checkpoint_000002/hf")]
    assert table.loc[1, "checkpoint"] == str(exp / "trial_0ad21f93/checkpoint_000002/hf")  # the caller's as it was


def test_resume_of_a_moved_experiment_whose_data_outside_the_storage_is_gone_is_one_line(tmp_path, capsys):
    storage = made_elsewhere(tmp_path / "copy" / "runs", tmp_path / "original" / "runs",
                             data=tmp_path / "corpora" / "prep")  # outside the storage, and gone
    before = snapshot(storage)
    assert main(["resume", "legacy", "--storage", str(storage)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and str(tmp_path / "corpora" / "prep") in err[0] and "is gone" in err[0]
    assert snapshot(storage) == before  # nothing written


# ---------------------------------------------------------------------------------------------- real runs

@pytest.mark.slow
def test_a_copied_storage_with_its_original_deleted_answers_from_its_new_place(small_sweep, tiny_data, tmp_path,
                                                                              capsys):
    """The session sweep's storage copied, that copy copied again and deleted: status, evaluate, resume, report and
    compare on the second answer from its place and write nothing naming the old ones. One checkpoint of the copy
    was pruned meanwhile: evaluate notes it in the table instead of failing."""
    first, moved = tmp_path / "first" / "runs", tmp_path / "moved" / "runs"
    shutil.copytree(small_sweep, first, ignore=shutil.ignore_patterns("evaluation*.csv", "report.html", "analysis"))
    shutil.copytree(first, moved)
    shutil.rmtree(tmp_path / "first")
    exp = moved.resolve() / "small"
    old = (str(small_sweep.resolve()), str(first))

    def run(*args) -> str:
        code = main([*map(str, args)])
        out, err = capsys.readouterr()
        assert code == 0, err[-3000:]
        assert not any(o in out + err for o in old), (out + err)[-3000:]
        return out + err

    assert f"model: {exp}/trial_" in run("status", "small", "--storage", moved)
    pruned = load_experiment("small", moved).table["checkpoint"].iloc[0]
    shutil.rmtree(pruned)
    text = run("evaluate", "small", "--storage", moved, "--blimp", tiny_data.parent / "corpus" / "blimp",
               "--limit", "20")
    assert "no longer exists" in text
    run("resume", "small", "--storage", moved, "--quiet")
    run("report", "small", "--storage", moved)
    run("analyze", "compare", "small", "--storage", moved)
    assert (exp / "report.html").is_file() and (exp / "analysis" / "compare.md").is_file()
    # what this evaluate scored (results.csv may hold the session sweep's earlier scores, merged before the copy)
    scored = read_table(exp / "evaluation.csv", EVALUATION_SCHEMA).set_index("checkpoint")
    assert "no longer exists" in scored.loc[pruned, "eval_note"] and scored["builtin_pairs"].isna().sum() == 1
    assert scored["builtin_pairs"].notna().sum() == len(load_experiment("small", moved).table) - 1
    assert all(Path(c).is_relative_to(exp) for c in scored.index)
    assert all(Path(c).is_relative_to(exp) for c in load_experiment("small", moved).table["checkpoint"].dropna())
    assert not any(o in files_text(exp) for o in old)
