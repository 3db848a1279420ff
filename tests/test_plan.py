"""`babysweep plan` (sweep/plan.py): a sweep's cost before it runs. Fast: the per-trial figures against a real model,
the paper's model projected in seconds, bad input in one line. Slow: the projection of the session
sweep against what that sweep spent and wrote."""
import json
from collections import Counter

import pytest

from babysweep.cli import main
from search_spaces.loader import SPACES_DIR, load_space
from sweep.table import read_table

TINY = SPACES_DIR / "tiny_demo.yaml"
TEACHER = SPACES_DIR / "teacher_pretraining.yaml"


def plan_json(capsys, *argv) -> dict:
    assert main(["plan", *map(str, argv), "--json"]) == 0
    return json.loads(capsys.readouterr().out)


def test_the_per_trial_figures_are_those_of_the_model_a_trial_builds(tiny_data, capsys):
    from trainables.data.prepared import open_prepared
    from trainables.model import build_model, count_parameters, flops_per_token, model_config

    plan = plan_json(capsys, TINY, "--data", tiny_data, "--samples", 4, "--gpu", "a100", "--mfu", 0.5)
    prepared = open_prepared(tiny_data)
    centre = load_space(TINY).centre()
    config = model_config("tiny", {}, prepared.vocab_size, prepared.meta["seq_length"])
    parameters = count_parameters(build_model(config))
    trial = plan["trial"]
    assert trial["parameters"] == parameters and trial["checkpoint_bytes"] == 12 * parameters
    assert trial["tokens_per_epoch"] == prepared.meta["splits"]["train"]["tokens"]
    assert trial["flops_per_token"] == flops_per_token(config, prepared.meta["seq_length"])
    assert trial["seconds_per_epoch"] == pytest.approx(trial["flops_per_token"] * trial["tokens_per_epoch"]
                                                       / (0.5 * 312e12))
    assert trial["config"]["batch_size"] == centre["batch_size"]
    assert plan["trials"] == 4 and plan["epochs"] == sum(float(e) * n for e, n in plan["reached"].items())


def test_the_papers_model_is_projected_without_training(tiny_data, capsys):
    # the teacher space at the paper's 345M preset, its epoch scaled to a 10M-word corpus's tokens, on 8 GPUs; the
    # schedule of 40 samples (265, the paper's, takes ~10 s: docs/scale.md)
    plan = plan_json(capsys, TEACHER, "--data", tiny_data, "--samples", 40, "--gpus", 8, "--train-tokens",
                     12_000_000, "--set", "preset=smollm-345m")
    assert plan["trials"] == 40 and 40 <= plan["epochs"] <= 40 * 8
    assert plan["trial"]["parameters"] > 300e6 and plan["trial"]["tokens_per_epoch"] == 12_000_000
    assert plan["gpu_hours"] == pytest.approx(plan["epochs"] * plan["trial"]["seconds_per_epoch"] / 3600)
    assert plan["wall_seconds"] == pytest.approx(plan["gpu_hours"] * 3600 / 8)


@pytest.mark.parametrize("argv, message", [
    (["--mfu", "0"], "--mfu 0.0: must be in (0, 1]"),
    (["--mfu", "1.5"], "--mfu 1.5: must be in (0, 1]"),
    (["--gpu", "tpu9"], "--gpu tpu9: unknown GPU (known: "),
    (["--gpus", "0"], "--gpus 0: must be at least 1"),
    (["--samples", "0"], "--samples 0: must be at least 1"),
    (["--set", "preset=smollm-345m", "--set", "seq_length=4096", "--gpu", "l4"], "more than the 24 GiB of --gpu l4"),
    (["--algo", "foo"], "--algo foo: unknown algorithm"),  # what launch refuses, refused here too (spec.prepare)
])
def test_bad_input_is_one_line(tiny_data, capsys, argv, message):
    assert main(["plan", str(TINY), "--data", str(tiny_data), *argv]) == 2
    err = [line for line in capsys.readouterr().err.splitlines() if line.strip()]
    assert len(err) == 1 and message in err[0], err


def test_plan_needs_the_prepared_folder(capsys):
    assert main(["plan", str(TINY)]) == 2
    assert "--data is needed" in capsys.readouterr().err


@pytest.mark.slow
def test_the_plan_of_the_session_sweep_is_what_it_spent_and_wrote(small_sweep, tiny_data, capsys):
    """small_sweep: 5 trials of the tiny space on tiny_data, seed 0. The plan runs the same searcher and scheduler
    without training: the same epochs for every trial, and what the ended trials keep, to a few percent."""
    plan = plan_json(capsys, TINY, "--data", tiny_data, "--samples", 5)
    exp = small_sweep / "small"
    table = read_table(exp / "results.csv")
    assert {float(e): n for e, n in plan["reached"].items()} == dict(Counter(table["epoch"].astype(float)))
    # every trial has ended: its model alone is left (trainables/retention.py), none of its training state
    assert not list(exp.glob("trial_*/checkpoint_*/trainer_state.pt"))
    models = list(exp.glob("trial_*/checkpoint_*/model.safetensors")) + list(exp.glob("trial_*/checkpoint_*/hf/"
                                                                                      "model.safetensors"))
    assert len(models) == len(table)
    assert plan["storage"]["retained"] == pytest.approx(sum(p.stat().st_size for p in models), rel=0.05)
