"""Model families (`babysweep replicate`): a tiny recipe trained with seeds as one grid experiment, its resume after
the driver was killed, a student family distilled from a teacher family, a direct-ensemble family that `evaluate`
scores, and every bad input (one line, exit 2, nothing written). Real tiny runs on tiny_data (conftest.py)."""
import json
import math
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pytest

from conftest import REPO
from search_spaces.loader import SPACES_DIR, load_space
from babysweep.cli import main
from sweep.replicate import RECIPE, family_space_text, launch_family, load_recipe, plan_seeds
from sweep.table import read_history, read_table
from trainables.ensemble import ensemble_members, is_ensemble

BABYSWEEP = [sys.executable, "-m", "babysweep.cli"]

# the tiny preset for one epoch: a few seconds a run on one thread
TINY_RECIPE = """\
trainable: pretrain
budget: {min: 1, max: 1}
constants:
  preset: tiny
  seq_length: 32
  batch_size: 8
  num_epochs: 1
  budget_step: 0.5
  lr: 3.0e-3
  num_warmup_steps: 5
  weight_decay: 0.1
  num_threads: 1
  eval_batch_size: 64
  seed: 0
"""


@pytest.fixture(scope="module")
def recipe(tmp_path_factory):
    path = tmp_path_factory.mktemp("recipe") / "tiny_recipe.yaml"
    path.write_text(TINY_RECIPE)
    return path


@pytest.fixture(scope="module")
def teachers(tiny_data, recipe, tmp_path_factory):
    """A real 2-seed family "teacher" of the tiny recipe: (storage, its folder)."""
    runs = tmp_path_factory.mktemp("families") / "runs"
    exp = launch_family("teacher", recipe, seeds=2, data=tiny_data, storage=runs, verbose=0, log=lambda m: None)
    return runs, exp


@pytest.fixture(scope="module")
def pairs(teachers):
    """The direct ensemble "pairs" of the teacher family's two models (made once: two tests take it)."""
    runs, _ = teachers
    assert main(["replicate", "pairs", "--ensemble-of", "teacher", "--storage", str(runs), "--quiet"]) == 0
    return runs / "pairs"


def errors(capsys):
    return [line for line in capsys.readouterr().err.splitlines() if line.startswith("babysweep: error")]


def run_cli(capsys, *argv):
    code = main([str(a) for a in argv])
    return code, errors(capsys)


# ---------------------------------------------------------------------------------------------- planning (fast)


def test_seeds_are_consecutive_from_the_recipes_and_change_the_initialisation_only():
    runs, seeds = plan_seeds({"lr": 1e-3, "seed": 7}, 3)
    assert seeds == [7, 8, 9]
    assert [r["seed"] for r in runs] == [7, 8, 9] and {r["data_seed"] for r in runs} == {7}
    assert all(r["source_trial_id"] == RECIPE and r["lr"] == 1e-3 for r in runs)
    runs, _ = plan_seeds({"seed": 0, "data_seed": 3}, 2, seed_base=100, reseed="data")
    assert [(r["seed"], r["data_seed"]) for r in runs] == [(0, 100), (0, 101)]
    assert len({(r["source_trial_id"], r["seed"]) for r in runs}) == 2  # how the grid tells its runs apart
    runs, _ = plan_seeds({"seed": 0}, 2, reseed="both")
    assert [(r["seed"], r["data_seed"]) for r in runs] == [(0, 0), (1, 1)]
    runs, _ = plan_seeds({"seed": 0}, 2, data_seed=False)  # a trainable with one seed
    assert [r["seed"] for r in runs] == [0, 1] and "data_seed" not in runs[0]


def test_the_student_recipe_is_table2_with_alpha_and_t_and_the_sweep_searches_them():
    student = load_space(SPACES_DIR / "student_table2.yaml", searchable=False)
    teacher = load_space(SPACES_DIR / "teacher_table2.yaml", searchable=False)
    assert student.trainable == "distill" and student.params == {}
    c = student.centre()
    assert (c["alpha"], c["temperature"], c["kl_normalisation"]) == (0.5, 1.0, "batchmean")
    assert {k: v for k, v in c.items() if k in teacher.constants} == teacher.constants  # the teachers' settings
    assert (student.budget_min, student.budget_max) == (teacher.budget_min, teacher.budget_max)
    sweep = load_space(SPACES_DIR / "distillation.yaml")
    assert sweep.trainable == "distill" and set(sweep.params) == {"alpha", "temperature"}
    assert sweep.params["alpha"].kind == "uniform" and sweep.params["alpha"].args == (0, 1)
    assert sweep.params["temperature"].kind == "log_normal" and sweep.centre()["temperature"] == pytest.approx(1.0)
    assert {k: v for k, v in sweep.constants.items() if k in teacher.constants} == teacher.constants
    # with --set fixing the searched ones, the sweep's space is a recipe too
    _, trainable, _, config = load_recipe(SPACES_DIR / "distillation.yaml", sets={"alpha": 0.3, "temperature": 2.0})
    assert trainable == "distill" and (config["alpha"], config["temperature"]) == (0.3, 2.0)


def test_a_familys_space_copy_reads_as_a_space_with_its_seeds(recipe, tmp_path):
    space, trainable, _, config = load_recipe(recipe)
    for n in (1, 3):
        runs, seeds = plan_seeds(config, n)
        path = tmp_path / f"space{n}.yaml"
        path.write_text(family_space_text("fam", space, trainable, runs, seeds, {}))
        copy = load_space(path)
        assert list(copy.params) == ["seed"] and copy.params["seed"].lower == 0
        assert copy.params["seed"].upper == max(n - 1, 1)
        assert copy.constants == {k: v for k, v in runs[0].items() if k not in ("seed", "source_trial_id")}
        assert (copy.budget_max, copy.metric) == (1.0, "val_loss")


def _fake_family(runs, name, n_models):
    """A family folder as replicate writes one, with `n_models` finished rows whose checkpoints exist."""
    exp = runs / name
    exp.mkdir(parents=True)
    space = TINY_RECIPE.replace("  seed: 0\n", "") + "parameters:\n  seed: {int_uniform: [0, 1]}\n"
    (exp / "space.yaml").write_text(space)
    (exp / "sweep.json").write_text(json.dumps({"kind": "rerun", "name": name, "runs": [], "algo": "replicate"}))
    rows = []
    for i in range(n_models):
        (exp / f"model{i}").mkdir()
        rows.append({"trial_id": f"t{i}", "state": "TERMINATED", "epoch": 1, "val_loss": 2.0, "seed": i,
                     "checkpoint": str(exp / f"model{i}"), "config/num_epochs": 1})
    pd.DataFrame(rows).to_csv(exp / "results.csv", index=False)
    return exp


def test_bad_input_is_one_line_exit_2_and_writes_nothing(tiny_data, recipe, tmp_path, capsys):
    runs = tmp_path / "runs"
    base = ["replicate", "fam", "--space", recipe, "--data", tiny_data, "--storage", runs]

    def refused(*argv, match):
        code, lines = run_cli(capsys, *argv)
        assert code == 2 and len(lines) == 1 and match in lines[0], lines
        return lines[0]

    refused(*base, "--seeds", 0, match="--seeds 0: must be a whole number >= 1")
    refused(*base, "--seeds", -2, match="--seeds -2: must be")
    refused(*base, "--max-failures", -1, match="--max-failures -1: must be a whole number >= 0")
    refused(*base, "--trainable", "nosuch", match="--trainable nosuch: unknown trainable")
    refused(*base, "--trainable", "nosuch.module:fn", match="cannot import nosuch.module")
    line = refused("replicate", "fam", "--space", SPACES_DIR / "tiny_demo.yaml", "--data", tiny_data, "--storage",
                   runs, match="searches lr (log_normal")  # the first searched parameter, named
    assert "a recipe is constants only" in line and "--set lr=VALUE" in line
    refused(*base, "--set", "no_such_knob=1", match="--set no_such_knob: not a parameter of the pretrain trainable")
    refused(*base, "--seed-base", -1, match="--seed-base -1")
    refused(*base, "--reseed", "weights", match="--reseed weights: must be one of init, data, both")
    refused(*base, "--cpus-per-trial", 0, match="--cpus-per-trial 0.0: must be a number > 0")
    refused(*base, "--trainable", "distill", match="teachers: at least one teacher")
    refused(*base, "--trainable", "distill", "--set", f"teachers=[{tmp_path / 'gone'}]", match="no such model folder")
    refused("replicate", "fam", "--space", recipe, "--data", tmp_path / "nodata", "--storage", runs,
            match=str(tmp_path / "nodata"))
    refused("replicate", "fam", "--storage", runs, match="give --space RECIPE")
    refused(*base, "--size", 2, match="--size: only with --ensemble-of")
    refused("replicate", "ens", "--ensemble-of", "teacher", "--seeds", 2, "--storage", runs,
            match="--seeds: not an option of --ensemble-of")
    refused("replicate", "ens", "--ensemble-of", "nosuch", "--storage", runs, match="no sweep named 'nosuch'")
    refused("replicate", "ens", "--ensemble-of", "teacher", "--size", 1, "--storage", runs,
            match="--size 1: an ensemble needs at least 2 members")
    for bad in ("0", "some", "2.5"):
        refused("replicate", "ens", "--ensemble-of", "teacher", "--combinations", bad, "--storage", runs,
                match=f"--combinations {bad}: must be all, disjoint or a whole number >= 1")
    refused(*base, "--combinations", "all", match="--combinations: only with --ensemble-of")
    assert not runs.exists()  # nothing written, not even the storage folder

    # an existing name is refused and left as it was; an ensemble family needs --size finished models
    exp = _fake_family(runs, "fam", 1)
    before = {p: p.read_bytes() for p in exp.rglob("*") if p.is_file()}
    refused(*base, match="family 'fam' already exists")
    refused("replicate", "fam", "--ensemble-of", "other", "--storage", runs,
            match="ensemble family 'fam' already exists")
    refused("replicate", "fam", "--ensemble-of", "fam", "--storage", runs, match="is the family being built")
    refused("replicate", "ens", "--ensemble-of", "fam", "--storage", runs,
            match="--ensemble-of fam: 1 finished model(s)")
    assert {p: p.read_bytes() for p in exp.rglob("*") if p.is_file()} == before
    assert sorted(p.name for p in runs.iterdir()) == ["fam"]


# ---------------------------------------------------------------------------------------------- real runs (slow)


@pytest.mark.slow
def test_a_two_seed_family_trains_two_runs_with_distinct_seeds(teachers, recipe, capsys):
    runs, exp = teachers
    table = read_table(exp / "results.csv")
    assert len(table) == 2 and set(table["state"]) == {"TERMINATED"}
    assert sorted(table["seed"]) == [0, 1] and set(table["config/data_seed"]) == {0}  # one data order
    assert set(table["source_trial_id"]) == {RECIPE} and table["test_loss"].notna().all()
    assert all(math.isfinite(v) for v in table["val_loss"])
    record = json.loads((exp / "sweep.json").read_text())
    assert (record["kind"], record["algo"], record["seeds"]) == ("rerun", "replicate", [0, 1])
    assert record["space"] == str(recipe.resolve()) and str(recipe.resolve()) in record["notes"][0]
    assert main(["status", "teacher", "--storage", str(runs)]) == 0  # status takes a family as any experiment
    out = capsys.readouterr().out
    assert "sweep teacher (replicate, 2/2 trials" in out and "best: " in out


@pytest.mark.slow
def test_a_student_family_distils_from_the_teacher_familys_models(teachers, tiny_data, recipe, capsys):
    runs, exp = teachers
    models = read_table(exp / "results.csv")["checkpoint"].tolist()
    code = main(["replicate", "student", "--space", str(recipe), "--trainable", "distill", "--seeds", "1",
                 "--set", f"teachers=[{','.join(models)}]", "--set", "alpha=0.5", "--data", str(tiny_data),
                 "--storage", str(runs), "--quiet"])
    assert code == 0, capsys.readouterr().err[-2000:]
    table = read_table(runs / "student" / "results.csv")
    assert len(table) == 1 and table["state"].iloc[0] == "TERMINATED"
    assert math.isfinite(table["val_loss"].iloc[0]) and table["test_loss"].notna().all()
    about = json.loads((Path(table["checkpoint"].iloc[0]) / "babysweep.json").read_text())
    assert sorted(about["teachers"]) == sorted(str(os.path.realpath(m)) for m in models)
    assert json.loads((runs / "student" / "sweep.json").read_text())["trainable"] == "distill"


@pytest.mark.slow
def test_an_ensemble_family_of_two_seeds_is_scored_and_evaluated(teachers, pairs, tiny_data, capsys):
    runs, exp = teachers
    members = read_table(exp / "results.csv").sort_values("trial_id")
    # more members than finished models: refused before anything is written
    code, lines = run_cli(capsys, "replicate", "triples", "--ensemble-of", "teacher", "--size", 3, "--storage", runs)
    assert code == 2 and "2 finished model(s)" in lines[0] and "--size 3" in lines[0]
    assert not (runs / "triples").exists()

    table = read_table(runs / "pairs" / "results.csv")
    assert len(table) == 1
    row = table.iloc[0]
    assert row["state"] == "TERMINATED" and math.isfinite(row["val_loss"]) and math.isfinite(row["test_loss"])
    assert row["members"] == "+".join(members["trial_id"]) and row["seed"] == 0
    folder = row["checkpoint"]
    assert folder.startswith(str(runs / "pairs" / "ensembles")) and is_ensemble(folder)
    assert [str(p) for p in ensemble_members(folder)] == members["checkpoint"].tolist()
    assert json.loads((runs / "pairs" / "sweep.json").read_text())["algo"] == "ensemble"
    # the ensemble's loss is its own (the mean of the members' logits), not a member's
    assert row["val_loss"] not in set(members["val_loss"])

    pairs = tiny_data.parent / "corpus" / "blimp"
    assert main(["evaluate", "pairs", "--storage", str(runs), "--blimp", str(pairs), "--limit", "2"]) == 0
    scored = read_table(runs / "pairs" / "results.csv").iloc[0]
    assert 0 <= scored["builtin_pairs"] <= 1
    assert scored["test_loss"] == pytest.approx(row["test_loss"], rel=1e-5)  # evaluate's own, on the same split
    assert main(["status", "pairs", "--storage", str(runs)]) == 0


def tiny_rte(folder):
    """rte.{train,valid}.jsonl of 32 and 16 pairs: label 0 when the second sentence repeats the first one's start."""
    import random

    words = "the cat dog bird sat ran saw a big small red old man woman child house tree park".split()
    rng = random.Random(0)
    folder.mkdir(parents=True)
    for split, n in (("train", 32), ("valid", 16)):
        lines = []
        for i in range(n):
            first = rng.sample(words, 6)
            second = first[:3] if i % 2 == 0 else rng.sample(words, 3)
            lines.append(json.dumps({"sentence1": " ".join(first), "sentence2": " ".join(second),
                                     "label": i % 2, "idx": i}))
        (folder / f"rte.{split}.jsonl").write_text("\n".join(lines) + "\n")
    return folder


@pytest.mark.slow
def test_a_family_and_its_ensembles_fine_tuned_give_the_superglue_column_with_its_tasks(teachers, pairs, tmp_path,
                                                                                         capsys):
    runs, exp = teachers
    glue_dir = tiny_rte(tmp_path / "glue")
    hparams = tmp_path / "hp.yaml"
    hparams.write_text("all: {num_epochs: 2, batch_size: 8, max_length: 48, num_threads: 1, lr: 3.0e-3, "
                       "num_warmup_steps: 2}\n")
    members = read_table(exp / "results.csv")
    for name in ("teacher", "pairs"):  # pairs: the family's direct ensemble (every member fine-tuned)
        code = main(["finetune-family", name, "--storage", str(runs), "--glue", str(glue_dir), "--tasks", "rte",
                     "--hparams", str(hparams)])
        out, err = capsys.readouterr()
        assert code == 0, err[-2000:]
        assert "not the paper's SuperGLUE mean" in out and f"babysweep analyze compare {name}" in out
    for tid in members["trial_id"]:
        table = pd.read_csv(exp / "finetune" / tid / "finetune_all.csv")
        assert list(table["task"]) == ["rte", "macro average"] and table["metric"].iloc[-1] == "mean of 1: rte"
        record = json.loads((exp / "finetune" / tid / "finetune_all.json").read_text())
        assert record["checkpoint"] == str(Path(members.set_index("trial_id").loc[tid, "checkpoint"]).resolve())
    ensemble = read_table(runs / "pairs" / "results.csv").iloc[0]
    model = pd.read_csv(runs / "pairs" / "finetune" / ensemble["trial_id"] / "finetune_all.csv")["model"].iloc[0]
    assert is_ensemble(model) and len(ensemble_members(model)) == 2  # one classifier a member, fine-tuned together

    code = main(["analyze", "compare", "teacher", "pairs", "--storage", str(runs)])
    out, err = capsys.readouterr()
    assert code == 0, err[-2000:]
    text = out + err + "".join(p.read_text() for p in runs.rglob("compare.md"))
    assert "SuperGLUE: mean of 1 tasks (rte) for 2 model(s)" in text and "SuperGLUE" in text


@pytest.mark.slow
def test_a_family_with_a_model_folder_missing_is_refused_before_any_fine_tuning(teachers, tmp_path, capsys):
    from sweep.finetune_family import family_models
    from sweep.experiment import load_experiment

    runs, exp = teachers
    glue_dir = tiny_rte(tmp_path / "glue")
    table = read_table(exp / "results.csv")
    broken = tmp_path / "runs"
    shutil.copytree(exp, broken / "teacher", ignore=shutil.ignore_patterns("finetune"))
    assert [tid for tid, _ in family_models(load_experiment("teacher", runs))] == list(table["trial_id"])
    # the copy names its own models (an experiment's files move with it): one of them is gone
    gone = load_experiment("teacher", broken).table["checkpoint"].iloc[1]
    shutil.rmtree(gone)
    code, lines = run_cli(capsys, "finetune-family", "teacher", "--storage", broken, "--glue", glue_dir,
                          "--tasks", "rte")
    assert code == 2 and len(lines) == 1, lines
    assert f"trial {table['trial_id'].iloc[1]} has no model folder ({gone})" in lines[0]
    assert not (broken / "teacher" / "finetune").exists()


@pytest.mark.slow
def test_a_killed_family_resumes_without_rerunning_what_finished(tiny_data, recipe, tmp_path):
    runs = tmp_path / "runs"
    exp = runs / "cut"
    driver = subprocess.Popen([*BABYSWEEP, "replicate", "cut", "--space", str(recipe), "--data", str(tiny_data),
                               "--seeds", "3", "--storage", str(runs), "--quiet"],
                              cwd=REPO, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    done_before = None
    deadline = time.time() + 300
    while time.time() < deadline and done_before is None:
        time.sleep(0.1)  # a tiny trial takes ~2 s: the window with part of the family done is about as long
        try:
            t = read_table(exp / "results.csv")
        except Exception:  # not written yet, or empty
            continue
        if 1 <= (t["state"] == "TERMINATED").sum() < 3:  # killed with part of the family done
            done_before = t[t["state"] == "TERMINATED"].set_index("trial_id")
    assert done_before is not None, "the family did not reach the point to kill it"
    os.killpg(driver.pid, signal.SIGKILL)  # the driver and the Ray it started: a crash, no clean-up
    driver.wait()
    killed_at = time.time()
    assert main(["resume", "cut", "--storage", str(runs), "--quiet"]) == 0
    after = read_table(exp / "results.csv").set_index("trial_id")
    done = after[after["state"] == "TERMINATED"]
    assert len(done) == 3 and set(after["state"]) <= {"TERMINATED", "LOST"}
    assert sorted(done["seed"]) == [0, 1, 2]  # every seed once
    history = read_history(exp / "history.csv")
    for tid, row in done_before.iterrows():
        assert after.loc[tid, "val_loss"] == row["val_loss"]
        assert history[(history["trial_id"] == tid) & (history["time"] > killed_at)].empty, f"{tid} was re-run"


def test_ensembles_are_every_combination_of_the_members_or_disjoint_groups_or_n_of_them():
    from itertools import combinations

    from sweep.replicate import MAX_COMBINATIONS, ensemble_groups

    rows = [{"trial_id": t} for t in "abcd"]
    names = lambda groups: ["".join(r["trial_id"] for r in g) for g in groups]
    groups, notes = ensemble_groups(rows, 2)  # all, the default: C(4, 2) = 6
    assert names(groups) == ["ab", "ac", "ad", "bc", "bd", "cd"] and "every combination" in notes[0]
    assert names(ensemble_groups(rows[:3], 2)[0]) == ["ab", "ac", "bc"]  # 3 teachers: 3 pairs, not 1
    groups, notes = ensemble_groups(rows[:3], 2, "disjoint")
    assert names(groups) == ["ab"] and notes[1] == "left out (fewer than 2 remained): c"
    groups, notes = ensemble_groups(rows, 2, 4)
    assert len(set(names(groups))) == 4 and set(names(groups)) <= {"ab", "ac", "ad", "bc", "bd", "cd"}
    assert names(groups) == names(ensemble_groups(rows, 2, 4)[0]) and "4 of the 6 combinations" in notes[0]
    many = [{"trial_id": f"t{i}"} for i in range(8)]  # C(8, 3) = 56: all stops at the cap
    groups, _ = ensemble_groups(many, 3)
    assert len(groups) == MAX_COMBINATIONS < len(list(combinations(range(8), 3)))

