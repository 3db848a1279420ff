"""Bad input that used to reach Ray, a traceback or a silent no-op: one line naming the thing, exit 2, nothing
written (issue 14's first cases). Table-driven, per command; fast: each is refused before Ray starts."""
from pathlib import Path

import pytest

from conftest import copy_legacy
from search_spaces.loader import SPACES_DIR
from babysweep.cli import main

LEGACY = Path(__file__).parent / "fixtures" / "legacy_v0_1"


def error_lines(capsys):
    return [line for line in capsys.readouterr().err.splitlines() if line.startswith("babysweep: error")]


@pytest.mark.parametrize("name", ["../escaped", "a/b", ".hidden", "..", "a\\b"])
def test_an_experiment_name_that_would_leave_its_storage_is_refused_by_every_command(tmp_path, capsys, name):
    store = tmp_path / "store"
    store.mkdir()
    space = str(SPACES_DIR / "synthetic" / "hartmann6.yaml")
    for argv in (["launch", space, "--name", name], ["status", name], ["resume", name]):
        assert main([*argv, "--storage", str(store)]) == 2, argv
        err = error_lines(capsys)
        assert len(err) == 1 and f"experiment name {name!r}: must be a plain folder name" in err[0], argv
    # evaluate also takes a model folder: a name that is a path is one, and is told what it lacks
    assert main(["evaluate", name, "--blimp", str(tmp_path), "--storage", str(store)]) == 2
    err = error_lines(capsys)
    assert len(err) == 1 and ("no such model folder" in err[0] or "holds no model" in err[0]), err
    assert "nor is it a sweep of" in err[0]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["store"] and not any(store.iterdir())


@pytest.mark.parametrize("argv, message", [
    (["--cpus-per-trial", "nan"], "--cpus-per-trial nan: must be a number > 0"),
    (["--cpus-per-trial", "0"], "--cpus-per-trial 0.0: must be a number > 0"),
    (["--gpus-per-trial", "nan"], "--gpus-per-trial nan: must be a number >= 0"),
])
def test_launch_refuses_resources_ray_would_wait_for_forever(tmp_path, capsys, argv, message):
    space = str(SPACES_DIR / "synthetic" / "hartmann6.yaml")
    assert main(["launch", space, "--storage", str(tmp_path / "store"), "--name", "x", *argv]) == 2
    err = error_lines(capsys)
    assert len(err) == 1 and message in err[0]
    assert not (tmp_path / "store" / "x").exists()


@pytest.mark.parametrize("argv, message", [
    (["--batch-size", "0"], "--batch-size 0: must be a whole number >= 1"),
    (["--cpus-per-task", "nan"], "--cpus-per-task nan: must be a number > 0"),
])
def test_evaluate_refuses_a_setting_that_would_score_nothing_or_hang(tmp_path, capsys, argv, message):
    runs = tmp_path / "runs"
    copy_legacy(runs, ["legacy"])
    before = (runs / "legacy" / "results.csv").read_text()
    assert main(["evaluate", "legacy", "--storage", str(runs), "--blimp", str(tmp_path), *argv]) == 2
    err = error_lines(capsys)
    assert len(err) == 1 and message in err[0]
    assert (runs / "legacy" / "results.csv").read_text() == before


@pytest.mark.parametrize("value, message", [
    ("abc", "lr: must be a finite number, got 'abc'"),
    ("nan", "lr: must be a finite number, got nan"),
    ("true", "lr: must be a finite number, got True"),
])
def test_a_trainable_setting_that_is_not_a_number_is_one_line(value, message):
    from trainables.errors import ConfigError
    from trainables.pretrain import resolve_config

    with pytest.raises(ConfigError, match=message):
        resolve_config({"data": "somewhere", "lr": {"abc": "abc", "nan": float("nan"), "true": True}[value]})


@pytest.mark.parametrize("file, content, message", [
    ("results.csv", "", "results.csv: is empty, not a results table"),
    ("results.csv", 'trial_id,state\n"a,b\n', "results.csv: not a readable results table"),
    ("sweep.json", "{not json", "sweep.json: not valid JSON"),
    ("sweep.json", "[1, 2]", "sweep.json: not a JSON object"),
])
def test_a_damaged_results_table_or_record_is_one_line_for_every_reader_and_left_as_it_is(tmp_path, capsys, file,
                                                                                         content, message):
    runs = tmp_path / "runs"
    copy_legacy(runs, ["legacy"])
    (runs / "legacy" / file).write_text(content)
    pairs = tmp_path / "pairs"
    pairs.mkdir()
    (pairs / "p.jsonl").write_text('{"sentence_good": "a cat sat .", "sentence_bad": "a cat sit ."}\n')
    for argv in (["status", "legacy"], ["resume", "legacy"], ["evaluate", "legacy", "--blimp", str(pairs)],
                 ["rerun", "legacy"], ["analyze", "correlate", "legacy"]):
        assert main([*argv, "--storage", str(runs)]) == 2, argv
        err = error_lines(capsys)
        assert len(err) == 1 and message in err[0], (argv, err)
        assert (runs / "legacy" / file).read_text() == content


def test_status_into_a_closed_pipe_ends_quietly(tmp_path):
    import subprocess
    import sys

    storage = copy_legacy(tmp_path)  # the fixture's paths rewritten into tmp_path
    code = ("import sys; from babysweep.cli import main; "
            f"sys.exit(main(['status', 'legacy', '--storage', {str(storage)!r}]))")
    out = subprocess.run(f"{sys.executable} -c \"{code}\" | head -c 10", shell=True, capture_output=True, text=True,
                         cwd=Path(__file__).parents[1])
    assert "BrokenPipeError" not in out.stderr and "Traceback" not in out.stderr, out.stderr


@pytest.mark.parametrize("overrides, message", [
    ({"hidden_size": 0}, "hidden_size: must be a whole number >= 1, got 0"),
    ({"num_hidden_layers": "abc"}, "num_hidden_layers: must be a whole number >= 1, got 'abc'"),
    ({"num_attention_heads": 2.5}, "num_attention_heads: must be a whole number >= 1, got 2.5"),
])
def test_a_model_size_that_is_not_a_positive_whole_number_is_one_line(overrides, message):
    from trainables.errors import ConfigError
    from trainables.model import model_config

    with pytest.raises(ConfigError, match=message):
        model_config("tiny", overrides, vocab_size=300, seq_length=16)


@pytest.mark.parametrize("command", [["data", "generate", "--words", "2000", "--quiet"],
                                     ["data", "prepare", "--corpus", "CORPUS", "--quiet"],
                                     ["train", "--data", "DATA"]])
@pytest.mark.parametrize("where", ["at", "under"])
def test_an_output_folder_at_or_under_a_file_is_one_line(tmp_path, capsys, command, where):
    afile = tmp_path / "afile"
    afile.write_text("keep me")
    out = afile if where == "at" else afile / "sub" / "out"
    argv = [str(tmp_path) if a in ("CORPUS", "DATA") else a for a in command]
    assert main([*argv, "--out", str(out)]) == 2
    err = error_lines(capsys)
    assert len(err) == 1 and str(afile) in err[0] and ("is a file" in err[0] or "not a folder" in err[0]), err
    assert afile.read_text() == "keep me" and sorted(p.name for p in tmp_path.iterdir()) == ["afile"]


@pytest.mark.parametrize("argv, message", [
    ([], "data: the prepared data folder is required"),
    (["--set", "data=somewhere", "--set", "lr=-1"], "--set lr: lr is searched by"),
    (["--set", "data=somewhere", "--set", "budget_step=0"], "budget_step: must be > 0, got 0"),
    (["--set", "data=somewhere", "--set", "eval_batch_size=0"], "eval_batch_size: must be at least 1, got 0"),
    (["--set", "data=somewhere", "--set", "foo=1"], "foo: not a parameter of the pretrain trainable"),
    (["--set", "data=somewhere", "--set", "weight_decay=-1"], "--set weight_decay: weight_decay is searched by"),
])
def test_launch_checks_the_trainables_config_before_ray_starts(tmp_path, capsys, argv, message):
    store = tmp_path / "store"
    assert main(["launch", str(SPACES_DIR / "tiny_demo.yaml"), "--storage", str(store), "--name", "x", *argv]) == 2
    err = error_lines(capsys)
    assert len(err) == 1 and message in err[0], err
    assert not (store / "x").exists()


@pytest.mark.parametrize("task, files, message", [
    ("boolq", ["boolq.valid.jsonl"], "task boolq: no train split (boolq.train.jsonl is missing in"),  # glue_filtered's
    ("rte", ["rte.train.jsonl", "rte.valid.jsonl"], "checkpoint: {model} is not a folder"),
])
def test_a_task_sweep_whose_files_are_missing_is_one_line_before_ray_starts(tmp_path, capsys, task, files, message):
    glue = tmp_path / "glue"
    glue.mkdir()
    for name in files:
        (glue / name).write_text('{"sentence1": "a", "sentence2": "b", "label": 0}\n')
    model = tmp_path / "model"
    if task == "boolq":
        model.mkdir()
    store = tmp_path / "store"
    assert main(["launch", str(SPACES_DIR / "superglue" / f"{task}.yaml"), "--set", f"checkpoint={model}", "--set",
                 f"glue_dir={glue}", "--storage", str(store), "--name", "x"]) == 2
    err = error_lines(capsys)
    assert len(err) == 1 and message.format(model=model) in err[0], err
    assert not store.exists()


@pytest.mark.parametrize("setting, message", [
    ("weight_decay=-1", "weight_decay: must be >= 0, got -1"),
    ("num_warmup_steps=-5", "num_warmup_steps: must be >= 0, got -5"),
    ("lr=abc", "lr: must be a finite number, got 'abc'"),
    ("hidden_size=0", "hidden_size: must be a whole number >= 1, got 0"),
])
def test_train_refuses_a_setting_out_of_range_before_training(tmp_path, capsys, tiny_data, setting, message):
    out = tmp_path / "model"
    assert main(["train", "--data", str(tiny_data), "--preset", "tiny", "--out", str(out), "--set", setting]) == 2
    err = error_lines(capsys)
    assert len(err) == 1 and message in err[0], err
    assert not out.exists()


@pytest.mark.parametrize("command", [
    ["launch", str(SPACES_DIR / "synthetic" / "hartmann6.yaml"), "--name", "x"],
    ["resume", "legacy"],
    ["rerun", "legacy"],
])
def test_a_negative_max_failures_is_one_line(tmp_path, capsys, command):
    store = tmp_path / "store"
    copy_legacy(store)
    before = sorted(p.relative_to(store) for p in store.rglob("*"))
    assert main([*command, "--storage", str(store), "--max-failures", "-1"]) == 2
    err = error_lines(capsys)
    assert len(err) == 1 and "--max-failures -1: must be a whole number >= 0" in err[0]
    assert sorted(p.relative_to(store) for p in store.rglob("*")) == before


def test_a_driver_refused_by_token_auth_is_told_what_to_set(monkeypatch):
    from sweep.runtime import join_error

    monkeypatch.delenv("RAY_AUTH_MODE", raising=False)
    message = join_error("10.0.0.1:6379", ConnectionError("Failed to connect to Ray cluster at 10.0.0.1:6379"))
    assert "RAY_AUTH_MODE=token" in message and "docs/cluster.md" in message and "\n" not in message
    monkeypatch.setenv("RAY_AUTH_MODE", "token")
    AuthenticationError = type("AuthenticationError", (Exception,), {})
    message = join_error("10.0.0.1:6379", AuthenticationError(
        "Token authentication is enabled but no authentication token was found. Ensure that ..."))
    assert message.startswith("--address 10.0.0.1:6379: the Ray cluster refused this driver's authentication "
                              "(Token authentication is enabled but no authentication token was found)")
    assert "~/.ray/auth_token" in message and "\n" not in message


@pytest.mark.parametrize("argv, message", [
    (["--scan-points", "3"], "--scan-points 3: only for --algo scan (this is --algo bohb)"),
    (["--algo", "grid"], "--algo grid: unknown algorithm (use bohb, asha, random, or scan)"),
    (["--fail-fast", "-1"], "--fail-fast -1: must be a whole number >= 0"),
])
def test_launch_options_that_do_not_fit_are_one_line(tmp_path, capsys, argv, message):
    space = str(SPACES_DIR / "synthetic" / "hartmann6.yaml")
    assert main(["launch", space, "--storage", str(tmp_path / "store"), "--name", "x", *argv]) == 2
    err = error_lines(capsys)
    assert len(err) == 1 and message in err[0], err
    assert not (tmp_path / "store" / "x").exists()


def test_evaluate_of_a_folder_without_a_model_says_so(tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "downloaded").mkdir()
    (tmp_path / "downloaded" / "README.md").write_text("not a model")
    for name in ("downloaded", "./downloaded", str(tmp_path / "downloaded")):
        assert main(["evaluate", name, "--blimp", str(tmp_path), "--storage", str(tmp_path / "runs")]) == 2
        err = error_lines(capsys)
        assert len(err) == 1 and "downloaded: holds no model" in err[0] and "must be a plain" not in err[0], err
    assert not (tmp_path / "runs").exists()


def test_relative_paths_in_set_are_made_absolute_for_trials_that_run_elsewhere(tmp_path, monkeypatch):
    # a trial runs in its own folder (and on any node): `--set teachers=[runs/t/hf]` must name the same folder there
    from sweep.kinds import absolute_paths
    from trainables.distill import distill
    from trainables.finetune import finetune
    from trainables.pretrain import pretrain

    monkeypatch.chdir(tmp_path)
    here = str(tmp_path)
    assert absolute_paths(finetune, {"checkpoint": "runs/t/hf", "glue_dir": "../glue", "task": "rte", "lr": 1e-5}) \
        == {"checkpoint": f"{here}/runs/t/hf", "glue_dir": str(tmp_path.parent / "glue"), "task": "rte", "lr": 1e-5}
    assert absolute_paths(distill, {"teachers": ["a/hf", "/abs/b/hf"], "alpha": 0.5}) == \
        {"teachers": [f"{here}/a/hf", "/abs/b/hf"], "alpha": 0.5}
    assert absolute_paths(pretrain, {"data": "prep", "preset": "tiny", "seed": 3}) == \
        {"data": f"{here}/prep", "preset": "tiny", "seed": 3}
    assert absolute_paths(distill, {"teachers": None}) == {"teachers": None}  # not a path: left as it is


@pytest.mark.parametrize("argv, message", [(["--top-k", "0"], "--top-k 0: must be at least 1"),
                                           (["--seeds", "1"], "--seeds 1: at least 2 seeds")])
def test_a_demo_whose_rerun_would_be_refused_is_refused_before_its_sweep(tmp_path, capsys, argv, message):
    assert main(["demo", *argv, "--dir", str(tmp_path / "data"), "--storage", str(tmp_path / "runs")]) == 2
    err = error_lines(capsys)
    assert len(err) == 1 and message in err[0], err
    assert list(tmp_path.iterdir()) == []  # no corpus made, no sweep launched
