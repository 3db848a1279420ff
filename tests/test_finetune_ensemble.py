"""Fine-tuning a direct ensemble (trainables.finetune with an ensemble folder as checkpoint), as the paper did: one
classifier per member, class logits the mean of the members', gradients into every member; the best epoch kept and
written as an ensemble folder that score_model reads; exact pause and resume; members that do not share the
ensemble's tokenizer refused in one line. A tiny RTE-shaped task is written here (no shared data needed). The members
are trials of an experiment and the ensembles lie in another of the same storage, where ensembles may name them
(trainables.ensemble.members_root)."""
import json
import random
import shutil

import pytest
import torch

from trainables import loop
from trainables.ensemble import (SequenceClassificationEnsemble, is_ensemble, load_classification_ensemble,
                                 write_ensemble)
from trainables.errors import ConfigError
from trainables.finetune import encode_split, finetune, load_pretrained, pad_batch, score_model
from trainables.glue import get_task
from trainables.reporting import run_local

torch.set_num_threads(1)

FAST = dict(max_length=48, num_threads=1, batch_size=8, num_warmup_steps=2, lr=3e-3, weight_decay=0.1,
            eval_batch_size=16)
WORDS = ("the cat dog bird sat ran saw a big small red old new man woman child house tree park ball "
         "happy sad went came home").split()


@pytest.fixture(scope="module")
def members(tiny_data, tmp_path_factory):
    """Two tiny causal LMs of different initialisations, each a Hugging Face folder with the data's tokenizer."""
    from trainables.data.prepared import open_prepared
    from trainables.model import build_model, model_config

    data = open_prepared(tiny_data)
    storage = tmp_path_factory.mktemp("ft-members")
    for experiment in ("teacher", "pairs"):
        (storage / experiment).mkdir()
        (storage / experiment / "sweep.json").write_text("{}")
    folders = []
    for seed in (1, 2):
        torch.manual_seed(seed)
        model = build_model(model_config("tiny", {}, data.vocab_size, 64))
        folder = storage / "teacher" / f"model{seed}"
        model.save_pretrained(folder)
        data.tokenizer().save_pretrained(folder)
        folders.append(folder)
    return folders


@pytest.fixture(scope="module")
def ensemble(members):
    return write_ensemble(members[0].parents[1] / "pairs" / "ensembles" / "ens", [str(m) for m in members])


def in_storage(members, tmp_path, name):
    """A new folder of this test in the members' storage, inside an experiment (where an ensemble's members may
    lie anywhere in the storage)."""
    return members[0].parents[1] / "pairs" / tmp_path.name / name


@pytest.fixture(scope="module")
def glue_dir(tmp_path_factory):
    """rte.{train,valid}.jsonl: 48 and 24 pairs; label 0 when the second sentence repeats the first one's start."""
    root = tmp_path_factory.mktemp("ft-glue")
    rng = random.Random(0)

    def records(n):
        out = []
        for i in range(n):
            first = rng.sample(WORDS, 6)
            entailed = i % 2 == 0
            second = first[:3] if entailed else rng.sample(WORDS, 3)
            out.append({"sentence1": " ".join(first), "sentence2": " ".join(second), "label": 0 if entailed else 1,
                        "idx": i})
        return "".join(json.dumps(r) + "\n" for r in out)

    (root / "rte.train.jsonl").write_text(records(48))
    (root / "rte.valid.jsonl").write_text(records(24))
    return root


def class_logits(model, tokenizer, glue_dir, n=12):
    task = get_task("rte")
    xs, _ = encode_split(glue_dir, task, "validation", tokenizer, 48, n)
    ids, mask = pad_batch(xs, model.config.pad_token_id, torch.device("cpu"))
    with torch.no_grad():
        return model.eval()(input_ids=ids, attention_mask=mask).logits


def config(ensemble, glue_dir, **overrides):
    return dict(FAST, checkpoint=str(ensemble), glue_dir=str(glue_dir), task="rte", **overrides)


def test_logits_are_the_mean_of_the_members_class_logits(ensemble, members, glue_dir):
    torch.manual_seed(12)
    tokenizer, model = load_pretrained(ensemble, 2)
    assert isinstance(model, SequenceClassificationEnsemble) and len(model.members) == 2
    assert model.config.num_labels == 2 and model.config.pad_token_id == model.members[0].config.pad_token_id
    # each member built as a single checkpoint is (same seed, same order: the same new classification heads)
    torch.manual_seed(12)
    singles = [load_pretrained(m, 2)[1] for m in members]
    for member, single in zip(model.members, singles):
        assert type(member) is type(single)
        assert torch.equal(member.score.weight, single.score.weight)
    got = class_logits(model, tokenizer, glue_dir)
    a, b = (class_logits(s, tokenizer, glue_dir) for s in singles)
    assert got.shape == (12, 2)
    assert not torch.allclose(a, b)  # two different members, or the mean proves nothing
    assert torch.allclose(got, (a + b) / 2, atol=1e-6)
    # every member's parameters are the ensemble's, and the optimizer's
    optimizer = loop.make_optimizer(model, dict(FAST, one_minus_adam_beta1=0.1, one_minus_adam_beta2=1e-3,
                                                adam_epsilon=1e-8))
    in_optimizer = {id(p) for group in optimizer.param_groups for p in group["params"]}
    assert in_optimizer == {id(p) for m in model.members for p in m.parameters()}


@pytest.mark.slow  # trains a model
def test_one_optimizer_step_changes_every_member_and_writes_an_ensemble_folder(ensemble, members, glue_dir,
                                                                                tmp_path):
    from trainables.model import load_trained_model

    out = tmp_path / "out"
    run = run_local(finetune, config(ensemble, glue_dir, max_train_examples=8, num_epochs=1, keep="last",
                                     lr_scheduler_type="constant", output_dir=str(out)), tmp_path / "run")
    assert [r["step"] for r in run.results] == [1]  # one optimizer step
    saved = run.checkpoints[-1] / "hf"
    for folder in (saved, out):
        assert is_ensemble(folder) and (folder / "tokenizer.json").is_file() and (folder / "babysweep.json").is_file()
        record = json.loads((folder / "ensemble.json").read_text())
        assert record["members"] == ["member_00", "member_01"] and record["head"] == "sequence-classification"
    tuned = load_classification_ensemble(out)
    for member, original_folder in zip(tuned.members, members):
        original = load_trained_model(original_folder)
        # the backbone (not only the new head) moved: the gradient flowed through the mean into this member
        assert not torch.equal(member.model.embed_tokens.weight, original.model.embed_tokens.weight)
        assert not torch.equal(member.model.layers[0].self_attn.q_proj.weight,
                               original.model.layers[0].self_attn.q_proj.weight)
    # the written ensemble scores as the run scored it
    again = score_model(out, glue_dir, "rte", max_length=48)
    assert again["score"] == run.results[-1]["score"]
    assert again["val_loss"] == pytest.approx(run.results[-1]["val_loss"], rel=1e-5)


@pytest.mark.slow  # trains a model
def test_fine_tunes_keeps_the_best_epoch_and_resumes_exactly(ensemble, glue_dir, tmp_path):
    cfg = config(ensemble, glue_dir, num_epochs=3)
    full = run_local(finetune, dict(cfg, output_dir=str(tmp_path / "out")), tmp_path / "full")
    assert [r["epoch"] for r in full.results] == [1, 2, 3]
    for r in full.results:
        assert 0 <= r["score"] <= 1 and r["val_loss"] > 0 and r["train_loss"] > 0 and r["n_train"] == 48
    # the checkpoint holds the whole ensemble
    state = torch.load(full.checkpoints[-1] / "trainer_state.pt", weights_only=True)
    assert {k.split(".")[1] for k in state["model"]} == {"0", "1"}

    # the model written is the best epoch's
    final = full.results[-1]
    kept = full.results[[r["epoch"] for r in full.results].index(final["best_epoch"])]
    for folder in (full.checkpoints[-1] / "hf", tmp_path / "out"):
        about = json.loads((folder / "babysweep.json").read_text())
        assert about["metrics"]["epoch"] == kept["epoch"] and about["finetuned_from"] == str(ensemble)
        again = score_model(folder, glue_dir, "rte", max_length=48)
        assert again["score"] == kept["score"] and again["val_loss"] == pytest.approx(kept["val_loss"], rel=1e-5)

    paused = run_local(finetune, cfg, tmp_path / "paused", stop_after=1)
    # a run stopped before its last epoch (a trial stopped at a rung) has its model too: the one kept so far
    assert len(paused.results) == 1
    assert json.loads((paused.checkpoints[-1] / "hf" / "babysweep.json").read_text())["metrics"]["epoch"] == 1
    resumed = run_local(finetune, cfg, tmp_path / "resumed", restore_from=paused.checkpoints[-1])
    assert [r["epoch"] for r in resumed.results] == [2, 3]
    for a, b in zip(full.results[1:], resumed.results, strict=True):
        for key in ("score", "val_loss", "train_loss", "lr", "best_score", "best_epoch"):
            assert a[key] == b[key], (key, a[key], b[key])
    ta, tb = (load_classification_ensemble(run.checkpoints[-1] / "hf") for run in (full, resumed))
    for (name, x), (_, y) in zip(ta.state_dict().items(), tb.state_dict().items(), strict=True):
        assert torch.equal(x, y), name


def other_tokenizer(folder):
    """The folder's tokenizer changed (it lowercases): as large, not the same."""
    tok = json.loads((folder / "tokenizer.json").read_text())
    tok["normalizer"] = {"type": "Lowercase"}
    (folder / "tokenizer.json").write_text(json.dumps(tok))


def test_a_member_with_another_tokenizer_is_refused_in_one_line(members, ensemble, glue_dir, tmp_path):
    from sweep.finetune_all import finetune_all

    odd = in_storage(members, tmp_path, "odd")
    shutil.copytree(members[1], odd)
    other_tokenizer(odd)
    bad = in_storage(members, tmp_path, "bad-ens")
    shutil.copytree(ensemble, bad)  # write_ensemble refuses it: an ensemble.json made by hand (or edited later)
    record = json.loads((bad / "ensemble.json").read_text())
    record["members"] = [str(members[0]), str(odd)]
    (bad / "ensemble.json").write_text(json.dumps(record))
    message = rf"^checkpoint: {bad} \(an ensemble\): member {odd}: its tokenizer is not the ensemble's"
    for attempt in (lambda: load_pretrained(bad, 2),
                    lambda: run_local(finetune, config(bad, glue_dir), tmp_path / "run"),
                    lambda: finetune_all(bad, glue_dir, tmp_path / "all", tasks=["rte"], log=lambda m: None)):
        with pytest.raises(ConfigError, match=message) as caught:
            attempt()
        assert "\n" not in str(caught.value)
    assert not (tmp_path / "run").exists() or not any((tmp_path / "run").iterdir())

    # a member whose vocabulary is not the ensemble tokenizer's, and one that is not a causal LM
    wide = in_storage(members, tmp_path, "wide")
    shutil.copytree(members[1], wide)
    conf = json.loads((wide / "config.json").read_text())
    conf["vocab_size"] += 3
    (wide / "config.json").write_text(json.dumps(conf))
    record["members"] = [str(members[0]), str(wide)]
    (bad / "ensemble.json").write_text(json.dumps(record))
    with pytest.raises(ConfigError, match=rf"^checkpoint: {wide}: the model's vocabulary \(\d+ entries\) does not "
                                          rf"match its tokenizer"):
        load_pretrained(bad, 2)
    classifier = in_storage(members, tmp_path, "classifier")
    shutil.copytree(members[1], classifier)
    conf = json.loads((classifier / "config.json").read_text())
    conf["architectures"] = ["LlamaForSequenceClassification"]
    (classifier / "config.json").write_text(json.dumps(conf))
    record["members"] = [str(members[0]), str(classifier)]
    (bad / "ensemble.json").write_text(json.dumps(record))
    with pytest.raises(ConfigError, match=r"^checkpoint: .* \(an ensemble\): member: .*: not a causal language "
                                          r"model \(LlamaForSequenceClassification\)$"):
        load_pretrained(bad, 2)
