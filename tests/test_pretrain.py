"""The pretraining trainable on real tiny runs: exact resume, exact gradient accumulation, divergence,
the Hugging Face output, bad configs, and one run through Ray Tune."""
import math

import pytest

from conftest import TINY_TRAIN
from trainables.errors import ConfigError
from trainables.loop import budget_points
from trainables.pretrain import pretrain
from trainables.reporting import run_local


def run(tiny_data, tmp_path, name, stop_after=None, restore_from=None, **overrides):
    config = dict(TINY_TRAIN, data=str(tiny_data), **overrides)
    return run_local(pretrain, config, tmp_path / name, restore_from=restore_from, stop_after=stop_after)


@pytest.mark.slow
def test_paused_and_resumed_run_matches_uninterrupted(tiny_data, tmp_path):
    # dropout on, so the RNG state must travel with the checkpoint too
    full = run(tiny_data, tmp_path, "full", attention_dropout=0.1)
    assert [r["epoch"] for r in full.results] == [0.25, 0.5, 0.75, 1]
    paused = run(tiny_data, tmp_path, "paused", stop_after=2, attention_dropout=0.1)
    assert len(paused.results) == 2
    resumed = run(tiny_data, tmp_path, "resumed", restore_from=paused.checkpoints[-1], attention_dropout=0.1)
    assert [r["epoch"] for r in resumed.results] == [0.75, 1]
    for a, b in zip(full.results[2:], resumed.results):
        for key in ("val_loss", "train_loss", "test_loss"):
            if key in a:
                assert abs(a[key] - b[key]) < 1e-5, (key, a[key], b[key])
    assert full.results[0]["val_loss"] > full.results[-1]["val_loss"]  # it learns


@pytest.mark.slow
def test_gradient_accumulation_keeps_the_logical_batch(tiny_data, tmp_path):
    whole = run(tiny_data, tmp_path, "whole", stop_after=1)
    accumulated = run(tiny_data, tmp_path, "acc", stop_after=1, max_device_batch_size=3)  # 3 + 3 + 2
    assert abs(whole.results[0]["val_loss"] - accumulated.results[0]["val_loss"]) < 1e-5


@pytest.mark.slow
def test_final_model_is_a_hugging_face_folder(tiny_data, tmp_path):
    result = run(tiny_data, tmp_path, "hf", num_epochs=0.5)
    final = result.results[-1]
    assert final["test_loss"] > 0 and not final["diverged"] and final["tokens_per_s"] > 0
    from transformers import AutoModelForCausalLM, AutoTokenizer

    hf = result.checkpoints[-1] / "hf"
    model = AutoModelForCausalLM.from_pretrained(hf)
    tok = AutoTokenizer.from_pretrained(hf)
    assert model.config.vocab_size == len(tok) and tok.bos_token == "<s>"
    assert model.config.num_hidden_layers == 2


@pytest.mark.slow
def test_nan_loss_reports_diverged_and_stops(tiny_data, tmp_path):
    result = run(tiny_data, tmp_path, "nan", lr=1e6, max_grad_norm=0, num_warmup_steps=0, num_epochs=3)
    assert result.results[-1]["diverged"] is True
    assert result.results[-1]["val_loss"] == math.inf
    assert result.results[-1]["epoch"] < 3  # stopped, did not run on


def test_budget_points_are_nominal_epochs():
    assert budget_points(2, 1, 10) == {10: 1, 20: 2}
    assert budget_points(1, 1 / 3, 10) == {3: pytest.approx(1 / 3), 7: pytest.approx(2 / 3), 10: 1}
    assert budget_points(0.3, 0.1, 514) == {51: 0.1, 103: 0.2, 154: 0.3}


@pytest.mark.parametrize("override, message", [
    ({"lr2": 1}, "lr2: not a parameter of the pretrain trainable"),
    ({"num_attention_heads": 3}, "num_attention_heads: 3 heads do not divide hidden_size 64"),
    ({"num_key_value_heads": 3}, "num_key_value_heads: 3 key/value heads do not divide 4 heads"),
    ({"preset": "huge"}, "preset: unknown preset 'huge'"),
    ({"lr_scheduler_type": "step"}, "lr_scheduler_type: 'step' is not one of"),
    ({"batch_size": 100_000}, "batch_size: 100000 exceeds the"),
])
def test_bad_config_names_the_parameter(tiny_data, tmp_path, override, message):
    with pytest.raises(ConfigError, match=message.replace("(", r"\(")):
        run(tiny_data, tmp_path, "bad", **override)


def test_data_prepared_with_another_tokenizer_is_refused(tiny_data, tmp_path):
    import shutil

    from trainables.errors import DataError
    from trainables.data.prepared import prepare

    other = tmp_path / "other"
    prepare(tiny_data.parent / "corpus", other, vocab_size=350, seq_length=32, log=lambda m: None)
    copy = tmp_path / "copy"
    shutil.copytree(tiny_data, copy)
    shutil.copy(other / "tokenizer.json", copy / "tokenizer.json")
    with pytest.raises(DataError, match="is not the tokenizer the token caches were made with"):
        run(copy, tmp_path, "tok")


@pytest.mark.slow
def test_one_tiny_run_through_ray_tune(tiny_data, tmp_path, ray_temp_dir):
    import ray
    from ray import tune

    ray.init(num_cpus=1, include_dashboard=False, _temp_dir=ray_temp_dir, log_to_driver=False)
    try:
        tuner = tune.Tuner(
            tune.with_resources(pretrain, {"cpu": 1}),
            param_space=dict(TINY_TRAIN, data=str(tiny_data), num_epochs=0.5),
            run_config=tune.RunConfig(storage_path=str(tmp_path / "results"), name="one", verbose=0),
        )
        result = tuner.fit()[0]
    finally:
        ray.shutdown()
    assert result.error is None
    assert result.metrics["epoch"] == 0.5 and result.metrics["test_loss"] > 0
    assert (__import__("pathlib").Path(result.checkpoint.path) / "hf" / "model.safetensors").is_file()
