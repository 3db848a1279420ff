"""The distillation trainable on real tiny runs: the loss against a hand computation, alpha = 1 as plain
pretraining, a student drawn towards its teacher, exact resume, bad configs and teachers, and a teacher whose
logits are not finite."""
import json
import math
import shutil

import pytest
import torch

from conftest import TINY_TRAIN
from trainables.distill import check_config, distill, distillation_loss
from trainables.errors import ConfigError
from trainables.pretrain import pretrain
from trainables.reporting import run_local

# half an epoch at a report a quarter: two reports, ~140 steps of the tiny preset
SHORT = dict(TINY_TRAIN, num_epochs=0.5)


@pytest.fixture(scope="module")
def teacher(tiny_data, tmp_path_factory):
    """A teacher: the tiny preset pretrained for half an epoch, as a trial's final Hugging Face folder."""
    out = tmp_path_factory.mktemp("teacher") / "model"
    run_local(pretrain, dict(SHORT, data=str(tiny_data), seed=7, output_dir=str(out)), out.parent / "run")
    return out


def run(trainable, tiny_data, tmp_path, name, stop_after=None, restore_from=None, **overrides):
    config = dict(SHORT, data=str(tiny_data), **overrides)
    return run_local(trainable, config, tmp_path / name, restore_from=restore_from, stop_after=stop_after)


def copy_teacher(teacher, folder):
    shutil.copytree(teacher, folder)
    return folder


# ---- the loss ----

def softmax(z):
    e = [math.exp(v - max(z)) for v in z]
    return [v / sum(e) for v in e]


@pytest.mark.parametrize("normalisation, divisor", [("batchmean", 1), ("token", 2)])
def test_loss_matches_a_hand_computation(normalisation, divisor):
    # one block of 2 positions over a 5-word vocabulary; the last position has no label (as a block's last token)
    student = [[1.0, 2.0, 0.0, -1.0, 0.5], [0.0, 0.0, 1.0, 2.0, -1.0]]
    teacher = [[0.5, 1.0, 0.0, 0.0, -0.5], [1.0, -1.0, 0.0, 3.0, 0.0]]
    labels = [3, -100]
    alpha, T = 0.3, 2.0

    ce = -math.log(softmax(student[0])[3])  # the one labelled position
    kl_sum = 0.0
    for s, t in zip(student, teacher):  # every position, the unlabelled one included
        p, q = softmax([v / T for v in t]), softmax([v / T for v in s])
        kl_sum += sum(pi * (math.log(pi) - math.log(qi)) for pi, qi in zip(p, q))
    expected = alpha * ce + (1 - alpha) * T ** 2 * kl_sum / divisor  # batch 1; positions 2

    loss, got_ce = distillation_loss(torch.tensor([student]), torch.tensor([teacher]), torch.tensor([labels]),
                                     alpha, T, normalisation)
    assert got_ce.item() == pytest.approx(ce, rel=1e-6)
    assert loss.item() == pytest.approx(expected, rel=1e-6)


def test_batchmean_divides_by_the_batch_and_token_by_every_position():
    torch.manual_seed(0)
    student, teacher = torch.randn(3, 4, 6), torch.randn(3, 4, 6)
    labels = torch.randint(6, (3, 4))
    batchmean, _ = distillation_loss(student, teacher, labels, 0.0, 1.0, "batchmean")
    token, _ = distillation_loss(student, teacher, labels, 0.0, 1.0, "token")
    assert batchmean.item() == pytest.approx(4 * token.item(), rel=1e-6)


# ---- real runs ----

@pytest.mark.slow  # trains a model (the teacher fixture)
def test_alpha_one_reproduces_plain_pretraining(tiny_data, tmp_path, teacher):
    plain = run(pretrain, tiny_data, tmp_path, "plain", attention_dropout=0.1)
    student = run(distill, tiny_data, tmp_path, "student", attention_dropout=0.1, teachers=[str(teacher)], alpha=1.0)
    assert [r["epoch"] for r in student.results] == [0.25, 0.5]
    for a, b in zip(plain.results, student.results, strict=True):
        for key in ("val_loss", "train_loss", "test_loss"):
            if key in a:
                assert a[key] == b[key], (key, a[key], b[key])
    assert student.results[-1]["distill_loss"] > 0  # the objective: alpha * CE alone here


@pytest.mark.slow  # trains a model (the teacher fixture)
def test_student_of_one_teacher_draws_near_it(tiny_data, tmp_path, teacher):
    # alpha = 0, T = 1: the objective is the KL to the teacher alone
    student = run(distill, tiny_data, tmp_path, "kl", teachers=str(teacher), alpha=0.0, temperature=1.0,
                  budget_step=0.125, output_dir=str(tmp_path / "kl-model"))
    kl = [r["distill_loss"] for r in student.results]
    assert len(kl) == 4 and kl[-1] < 0.5 * kl[0], kl

    # and on the validation split, measured here: the trained student is nearer the teacher than at its start
    from trainables.data.prepared import eval_block_starts, gather_blocks, open_prepared
    from trainables.model import build_model, load_trained_model

    valid = open_prepared(tiny_data).tokens("validation")
    x = torch.from_numpy(gather_blocks(valid, eval_block_starts(len(valid), 32)[:32], 32))
    trained, teacher_model = load_trained_model(tmp_path / "kl-model"), load_trained_model(teacher)
    torch.manual_seed(0)  # the student's seed: its initialisation
    untrained = build_model(trained.config)

    def kl_to_teacher(model):
        with torch.no_grad():
            log_p = torch.log_softmax(teacher_model(input_ids=x).logits.double(), -1)
            log_q = torch.log_softmax(model(input_ids=x).logits.double(), -1)
        return (log_p.exp() * (log_p - log_q)).sum(-1).mean().item()  # per position

    assert kl_to_teacher(trained) < 0.5 * kl_to_teacher(untrained)


@pytest.mark.slow  # trains a model (the teacher fixture)
def test_paused_and_resumed_run_matches_uninterrupted(tiny_data, tmp_path, teacher):
    # dropout on, so the RNG state must travel with the checkpoint too
    options = dict(teachers=[str(teacher)], attention_dropout=0.1, alpha=0.5, temperature=2.0)
    full = run(distill, tiny_data, tmp_path, "full", **options)
    paused = run(distill, tiny_data, tmp_path, "paused", stop_after=1, **options)
    resumed = run(distill, tiny_data, tmp_path, "resumed", restore_from=paused.checkpoints[-1], **options)
    assert [r["epoch"] for r in resumed.results] == [0.5]
    a, b = full.results[-1], resumed.results[-1]
    for key in ("val_loss", "train_loss", "distill_loss", "test_loss"):
        assert a[key] == b[key], (key, a[key], b[key])
    assert not b["diverged"]
    # the final model, with its tokenizer and its teachers in babysweep.json
    hf = resumed.checkpoints[-1] / "hf"
    assert (hf / "model.safetensors").is_file() and (hf / "tokenizer.json").is_file()
    about = json.loads((hf / "babysweep.json").read_text())
    assert about["teachers"] == [str(teacher.resolve())] and about["config"]["alpha"] == 0.5


@pytest.mark.slow  # trains a model (the teacher fixture)
def test_teacher_with_non_finite_logits_stops_the_student_as_diverged(tiny_data, tmp_path, teacher):
    from trainables.model import load_trained_model

    broken = tmp_path / "nan-teacher"
    copy_teacher(teacher, broken)
    model = load_trained_model(teacher)
    with torch.no_grad():
        for p in model.parameters():
            p.fill_(math.nan)
    model.save_pretrained(broken)
    result = run(distill, tiny_data, tmp_path, "nan", teachers=[str(teacher), str(broken)])
    assert len(result.results) == 1  # stopped at once, no budget point reached
    last = result.results[-1]
    assert last["diverged"] is True and last["val_loss"] == math.inf and last["step"] == 0
    assert "teacher logits are not finite" in last["warning"] and str(broken) in last["warning"]
    assert result.checkpoints == []


# ---- bad input: one line naming the parameter ----

def other_tokenizer(teacher, folder):
    """The teacher with a tokenizer of the same size that is not the data's (it lowercases)."""
    copy_teacher(teacher, folder)
    tok = json.loads((folder / "tokenizer.json").read_text())
    tok["normalizer"] = {"type": "Lowercase"}
    (folder / "tokenizer.json").write_text(json.dumps(tok))
    return folder


def other_vocabulary(teacher, folder):
    copy_teacher(teacher, folder)
    config = json.loads((folder / "config.json").read_text())
    config["vocab_size"] += 1
    (folder / "config.json").write_text(json.dumps(config))
    return folder


def classifier(teacher, folder):
    """A fine-tuned classifier's folder: model_type llama, but not a causal LM."""
    copy_teacher(teacher, folder)
    config = json.loads((folder / "config.json").read_text())
    config["architectures"] = ["LlamaForSequenceClassification"]
    (folder / "config.json").write_text(json.dumps(config))
    return folder


def no_tokenizer(teacher, folder):
    copy_teacher(teacher, folder)
    (folder / "tokenizer.json").unlink()
    return folder


@pytest.mark.slow  # trains a model (the teacher fixture)
@pytest.mark.parametrize("make, overrides, message", [
    (None, {"alpha": 1.5}, r"alpha: must be in \[0, 1\], got 1.5"),
    (None, {"alpha": -0.1}, r"alpha: must be in \[0, 1\], got -0.1"),
    (None, {"alpha": "half"}, "alpha: must be a finite number, got 'half'"),
    (None, {"temperature": 0}, "temperature: must be > 0, got 0"),
    (None, {"temperature": -1.0}, "temperature: must be > 0, got -1.0"),
    (None, {"kl_normalisation": "mean"}, "kl_normalisation: 'mean' is not one of batchmean, token"),
    (None, {"teachers": []}, "teachers: at least one teacher model folder is required"),
    (None, {"teachers": None}, "teachers: at least one teacher model folder is required"),
    (None, {"teachers": "TEACHER,TEACHER2,TEACHER3,TEACHER4"}, "teachers: 4 given, at most max_teachers = 3"),
    (None, {"teachers": "TEACHER,TEACHER2", "max_teachers": 1}, "teachers: 2 given, at most max_teachers = 1"),
    (None, {"teachers": "TEACHER,TEACHER"}, "teachers: .* is named twice"),
    (None, {"teachers": "MISSING"}, "teachers: .*missing: no such model folder"),
    (None, {"lr2": 1}, "lr2: not a parameter of the distill trainable"),
    (other_tokenizer, {}, "teachers: .*: its tokenizer is not the one of the prepared folder"),
    (other_vocabulary, {}, r"teachers: .*: its vocabulary \(401 entries\) is not the prepared folder's"),
    (classifier, {}, r"teachers: .*: not a causal language model \(LlamaForSequenceClassification\)"),
    (no_tokenizer, {}, "teachers: .*: has no tokenizer.json beside the model"),
])
def test_bad_config_is_one_line_naming_the_parameter(tiny_data, tmp_path, teacher, make, overrides, message):
    def folder(name):  # TEACHER2...: further teachers, in folders of their own
        if name == "MISSING":
            return str(tmp_path / "missing")
        return str(teacher if name == "TEACHER" else copy_teacher(teacher, tmp_path / name.lower()))

    teachers = overrides.get("teachers", "TEACHER")
    if isinstance(teachers, str):
        teachers = ",".join(folder(t) for t in teachers.split(","))
    if make is not None:
        teachers = str(make(teacher, tmp_path / "bad-teacher"))
    config = dict(SHORT, data=str(tiny_data), **{**overrides, "teachers": teachers})
    vocab = json.loads((teacher / "config.json").read_text())["vocab_size"]
    message = message.replace("401", str(vocab + 1))
    for check in (check_config, lambda c: run_local(distill, c, tmp_path / "run")):
        with pytest.raises(ConfigError, match=message) as caught:
            check(config)
        assert "\n" not in str(caught.value)


@pytest.mark.slow  # trains a model (the teacher fixture)
def test_check_config_accepts_a_trial_checkpoint_and_a_comma_separated_list(tiny_data, tmp_path, teacher):
    checkpoint = tmp_path / "checkpoint_000001"
    copy_teacher(teacher, checkpoint / "hf")
    check_config(dict(SHORT, data=str(tiny_data), teachers=f"{teacher}, {checkpoint}"))
