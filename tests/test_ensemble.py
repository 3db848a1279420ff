"""Direct ensembles: the mean of the members' logits, gradients into every member, the ensemble folder written,
loaded and moved, loaded through trainables.model's loader, and members that do not go together refused. The members
are trials of an experiment and the ensembles are written in another of the same storage, where ensembles may name
them (trainables.ensemble.members_root; tests/test_untrusted_folders.py has the members refused elsewhere)."""
import json
import shutil

import pytest
import torch

from trainables.ensemble import Ensemble, is_ensemble, load_ensemble, write_ensemble
from trainables.errors import ConfigError
from trainables.model import build_model, load_trained_model, model_config


@pytest.fixture(scope="module")
def members(tiny_data, tmp_path_factory):
    """Two tiny models of different initialisations, each a Hugging Face folder with the data's tokenizer."""
    from trainables.data.prepared import open_prepared

    data = open_prepared(tiny_data)
    storage = tmp_path_factory.mktemp("members")
    for experiment in ("teacher", "pairs"):
        (storage / experiment).mkdir()
        (storage / experiment / "sweep.json").write_text("{}")
    folders = []
    for seed in (1, 2):
        torch.manual_seed(seed)
        model = build_model(model_config("tiny", {}, data.vocab_size, 32))
        folder = storage / "teacher" / f"model{seed}"
        model.save_pretrained(folder)
        data.tokenizer().save_pretrained(folder)
        folders.append(folder)
    return folders


def ensemble_dir(members, tmp_path):
    """A new ensemble folder of this test, in the members' storage (as a family's: <storage>/<family>/ensembles/)."""
    return members[0].parents[1] / "pairs" / "ensembles" / tmp_path.name


@pytest.fixture
def x(tiny_data):
    from trainables.data.prepared import gather_blocks, open_prepared

    tokens = open_prepared(tiny_data).tokens("validation")
    return torch.from_numpy(gather_blocks(tokens, [0, 32, 64], 32))


def logits(model, x):
    with torch.no_grad():
        return model.eval()(input_ids=x).logits


def test_logits_are_the_mean_of_the_members(members, x):
    a, b = (load_trained_model(f) for f in members)
    ensemble = Ensemble([a, b])
    expected = (logits(a, x) + logits(b, x)) / 2
    assert torch.allclose(logits(ensemble, x), expected, atol=1e-6)
    assert not torch.allclose(logits(a, x), logits(b, x))  # two different members, or the mean proves nothing
    assert ensemble.config.vocab_size == a.config.vocab_size


def test_backward_through_the_ensemble_reaches_every_member(members, x):
    ensemble = Ensemble([load_trained_model(f) for f in members]).train()
    out = ensemble(input_ids=x, labels=x)
    # the loss is transformers' causal-LM loss of the mean logits
    expected = torch.nn.functional.cross_entropy(out.logits[:, :-1].reshape(-1, out.logits.size(-1)),
                                                 x[:, 1:].reshape(-1))
    assert torch.allclose(out.loss, expected)
    out.loss.backward()
    assert {id(p) for p in ensemble.parameters()} == {id(p) for m in ensemble.members for p in m.parameters()}
    for member in ensemble.members:
        grads = [p.grad for p in member.parameters()]
        assert all(g is not None for g in grads)
        assert sum(g.abs().sum().item() for g in grads) > 0


def test_written_folder_loads_the_same_ensemble(members, x, tmp_path):
    folder = write_ensemble(ensemble_dir(members, tmp_path), [str(m) for m in members])
    assert is_ensemble(folder) and not is_ensemble(members[0])
    record = json.loads((folder / "ensemble.json").read_text())
    # relative to the folder: a storage moved as a whole keeps its ensembles
    assert record["kind"] == "ensemble" and record["members"] == ["../../../teacher/model1", "../../../teacher/model2"]
    loaded = load_ensemble(folder)
    direct = Ensemble([load_trained_model(f) for f in members])
    assert torch.equal(logits(loaded, x), logits(direct, x))
    # the tokenizer beside it is the members'
    from transformers import AutoTokenizer

    assert AutoTokenizer.from_pretrained(folder).get_vocab() == AutoTokenizer.from_pretrained(members[0]).get_vocab()


def test_saved_ensemble_is_self_contained_and_moves(members, x, tmp_path):
    ensemble = Ensemble([load_trained_model(f) for f in members])
    with torch.no_grad():  # as after fine-tuning: the members' weights are no longer their folders'
        next(ensemble.members[0].parameters()).add_(0.01)
    ensemble.save_pretrained(tmp_path / "saved")
    record = json.loads((tmp_path / "saved" / "ensemble.json").read_text())
    assert record["members"] == ["member_00", "member_01"]  # relative: resolved against the folder
    shutil.move(tmp_path / "saved", tmp_path / "moved")
    assert torch.equal(logits(load_ensemble(tmp_path / "moved"), x), logits(ensemble, x))


def test_model_loader_gives_an_ensemble_for_an_ensemble_folder(members, x, tmp_path):
    from trainables.ensemble import load_causal_lm

    folder = write_ensemble(ensemble_dir(members, tmp_path), members)
    assert load_trained_model(folder) is None  # the lower layer knows no ensembles
    model = load_causal_lm(folder)
    assert isinstance(model, Ensemble) and len(model.members) == 2
    assert torch.equal(logits(model, x), logits(load_ensemble(folder), x))


def test_an_ensemble_folder_serves_as_one_distillation_teacher(members, tiny_data, tmp_path):
    from trainables.distill import check_teachers

    folder = write_ensemble(ensemble_dir(members, tmp_path), members)
    [info] = check_teachers({"data": str(tiny_data), "teachers": [str(folder)]})
    assert info["folder"] == folder


def test_members_with_another_tokenizer_are_refused(members, tmp_path):
    other = tmp_path / "other"
    shutil.copytree(members[1], other)
    tok = json.loads((other / "tokenizer.json").read_text())
    tok["normalizer"] = {"type": "Lowercase"}
    (other / "tokenizer.json").write_text(json.dumps(tok))
    with pytest.raises(ConfigError, match=f"members: {other}: its tokenizer is not the one of {members[0]}") as e:
        write_ensemble(tmp_path / "ens", [members[0], other])
    assert "\n" not in str(e.value)
    assert not (tmp_path / "ens").exists()


@pytest.mark.parametrize("damage, message", [
    (lambda f: (f / "config.json").write_text(json.dumps(
        {**json.loads((f / "config.json").read_text()), "architectures": ["LlamaForSequenceClassification"]})),
     "not a causal language model"),
    (lambda f: (f / "model.safetensors").unlink(), "holds no model weights"),
    (lambda f: shutil.rmtree(f), "no such model folder"),
])
def test_a_member_that_is_no_causal_lm_is_refused(members, tmp_path, damage, message):
    bad = tmp_path / "bad"
    shutil.copytree(members[1], bad)
    damage(bad)
    with pytest.raises(ConfigError, match=f"members: {bad}: {message}") as e:
        write_ensemble(tmp_path / "ens", [members[0], bad])
    assert "\n" not in str(e.value)


def test_an_existing_folder_is_not_overwritten(members, tmp_path):
    (tmp_path / "ens").mkdir()
    (tmp_path / "ens" / "notes.txt").write_text("mine")
    with pytest.raises(ConfigError, match="exists and is not an empty folder"):
        write_ensemble(tmp_path / "ens", members)


def test_evaluate_scores_an_ensemble_folder_like_any_model_folder(members, tiny_data, tmp_path, capsys):
    from analysis.blimp import load_model
    from trainables.model_folder import find_model
    from babysweep.cli import main

    folder = write_ensemble(ensemble_dir(members, tmp_path), members)
    assert find_model(folder) == folder
    model, _ = load_model(folder, device="cpu")
    assert isinstance(model, Ensemble)
    pairs = tiny_data.parent / "corpus" / "blimp"
    assert main(["evaluate", str(folder), "--blimp", str(pairs), "--limit", "5", "--quiet"]) == 0
    assert f"evaluating the model folder {folder}" in capsys.readouterr().out
