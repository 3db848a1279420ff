"""Model and checkpoint folders from elsewhere (issue 23): nothing in one runs code when it is scored, resumed, named
as an ensemble member or as a distillation teacher; an ensemble's members only where they may lie; a space file's
trainable imported only once it is found; one-line errors for garbled weights and tokenizers; checkpoints told whole
from copied-in-part by their manifest. Fast: tiny models made here, no Ray."""
import json
import os
import pickle
import shutil
import sys
import warnings

import pytest
import torch

from conftest import TINY_TRAIN
from trainables.checkpoints import MANIFEST, TRAINER_STATE, checkpoint_is_whole, plain_state, write_manifest
from trainables.errors import CheckpointError, ConfigError
from trainables.ensemble import ENSEMBLE_FILE, ensemble_members, load_causal_lm, write_ensemble
from trainables.model import build_model, load_trained_model, model_config
from trainables.pretrain import pretrain
from trainables.reporting import run_local

torch.set_num_threads(1)

PLAIN = "not a plain-tensor checkpoint (it would need unpickling code"


class WritesMarker:
    """Unpickled, it calls `how`, which writes the marker file: what a hostile trainer_state.pt would do."""

    def __init__(self, marker, how):
        self.marker, self.how = str(marker), how

    def __reduce__(self):
        if self.how == "system":
            return os.system, (f"touch {self.marker}",)
        return open, (self.marker, "w")


def write_hostile_state(path, marker, form):
    """A trainer_state.pt of the usual layout whose model entry, unpickled, writes `marker`: saved by torch (its zip
    format) or as a bare pickle (torch.load's legacy path)."""
    saved = {"model": WritesMarker(marker, "system" if form == "torch-system" else "open"), "optimizer": {},
             "scheduler": {}, "state": {"step": 0, "wall_s": 0.0}, "rng": {"torch": torch.get_rng_state(), "cuda": None}}
    if form.startswith("pickle"):
        with open(path, "wb") as f:
            # protocol 2 is torch.load's own (refused for its content alone); 4 is what a plain pickle.dump writes
            pickle.dump(saved, f, protocol=4 if form == "pickle-4" else 2)
    else:
        torch.save(saved, path)


FORMS = ["torch-open", "torch-system", "pickle", "pickle-4"]


@pytest.fixture(scope="module")
def trained(tiny_data, tmp_path_factory):
    """A tiny pretraining run of two reports: checkpoint_000000 (scorable: config.json, tokenizer, trainer_state.pt)
    and checkpoint_000001 (the final one, with hf/)."""
    config = dict(TINY_TRAIN, data=str(tiny_data), num_epochs=0.5, budget_step=0.25)
    run = run_local(pretrain, config, tmp_path_factory.mktemp("trained") / "run")
    assert len(run.checkpoints) == 2 and (run.checkpoints[-1] / "hf" / "model.safetensors").is_file()
    run.config = config
    return run


def hostile_checkpoint(trained, where, marker, form="torch-open"):
    """A copy of a scorable checkpoint whose trainer_state.pt runs code when unpickled, with a manifest that agrees
    (the best a hostile folder can do)."""
    shutil.copytree(trained.checkpoints[0], where)
    write_hostile_state(where / TRAINER_STATE, marker, form)
    write_manifest(where)
    return where


def one_line(error) -> str:
    text = str(error.value)
    assert "\n" not in text, text
    return text


def error_lines(capsys):
    return [line for line in capsys.readouterr().err.splitlines() if line.startswith("babysweep: error")]


def files_under(folder):
    return sorted(str(p) for p in folder.rglob("*"))


# ------------------------------------------------------------------------------------------ a pickle that runs code

@pytest.mark.slow  # trains a model (the trained fixture)
@pytest.mark.parametrize("form", FORMS)
def test_a_checkpoint_whose_pickle_runs_code_is_refused_by_every_loader(trained, tiny_data, tmp_path, form):
    from trainables.distill import check_teachers, load_teacher

    marker = tmp_path / "ran"
    hostile = hostile_checkpoint(trained, tmp_path / "hostile", marker, form)
    state = hostile / TRAINER_STATE

    for load in (load_trained_model, load_causal_lm):
        with pytest.raises(CheckpointError) as e:
            load(hostile)
        assert one_line(e).startswith(f"{state}: {PLAIN}")
    # as a distillation teacher: refused by the check before a sweep starts, and by the trainable's own loading
    with pytest.raises(ConfigError) as e:
        check_teachers({"data": str(tiny_data), "teachers": [str(hostile)]})
    assert one_line(e).startswith(f"teachers: {state}: ")
    with pytest.raises(CheckpointError) as e:
        load_teacher(hostile)
    assert one_line(e).startswith(f"teachers: {state}: {PLAIN}")
    from trainables.distill import distill

    with pytest.raises(ConfigError, match="^teachers: "):
        run_local(distill, dict(TINY_TRAIN, data=str(tiny_data), teachers=[str(hostile)]), tmp_path / "student")
    assert not marker.exists()


@pytest.mark.slow  # trains a model (the trained fixture)
@pytest.mark.parametrize("form", FORMS)
def test_evaluate_refuses_a_checkpoint_whose_pickle_runs_code_in_one_line(trained, tiny_data, tmp_path, capsys,
                                                                         form):
    from babysweep.cli import main

    marker = tmp_path / "ran"
    hostile = hostile_checkpoint(trained, tmp_path / "hostile", marker, form)
    before = files_under(tmp_path)
    pairs = tiny_data.parent / "corpus" / "blimp"
    with warnings.catch_warnings(record=True) as warned:  # torch's note on a foreign pickle's protocol is not shown
        warnings.simplefilter("always")
        code = main(["evaluate", str(hostile), "--blimp", str(pairs), "--limit", "2", "--quiet",
                     "--storage", str(tmp_path / "store")])
    assert code == 2
    [line] = error_lines(capsys)
    assert str(hostile / TRAINER_STATE) in line and PLAIN in line
    assert [str(w.message) for w in warned if "pickle" in str(w.message)] == []
    assert not marker.exists() and files_under(tmp_path) == before


@pytest.mark.slow  # trains a model (the trained fixture)
def test_evaluate_of_an_ensemble_naming_a_folder_outside_it_refuses_it_before_reading_anything(trained, tiny_data,
                                                                                              tmp_path, capsys):
    from babysweep.cli import main

    marker = tmp_path / "ran"
    hostile_checkpoint(trained, tmp_path / "evil", marker)
    ens = tmp_path / "ens"
    ens.mkdir()  # no tokenizer either: where the members lie is what is checked first
    (ens / ENSEMBLE_FILE).write_text(json.dumps({"kind": "ensemble", "members": ["../evil"]}))
    before = files_under(tmp_path)
    pairs = tiny_data.parent / "corpus" / "blimp"
    assert main(["evaluate", str(ens), "--blimp", str(pairs), "--limit", "2", "--quiet",
                 "--storage", str(tmp_path / "store")]) == 2
    [line] = error_lines(capsys)
    assert line.endswith(f"{ens / ENSEMBLE_FILE}: member '../evil' lies outside {ens.resolve()}; an ensemble's "
                         f"members must be inside it or inside its experiments' storage")
    assert not marker.exists() and files_under(tmp_path) == before


def ensemble_folder(folder, members, tokenizer_from):
    """An ensemble.json naming `members` as written (made by hand, as a hostile folder would be)."""
    folder.mkdir(parents=True)
    for name in ("tokenizer.json", "tokenizer_config.json"):
        shutil.copyfile(tokenizer_from / name, folder / name)
    (folder / ENSEMBLE_FILE).write_text(json.dumps({"kind": "ensemble", "members": members}))
    return folder


@pytest.mark.slow  # trains a model (the trained fixture)
def test_an_ensemble_member_whose_pickle_runs_code_is_refused(trained, tmp_path):
    marker = tmp_path / "ran"
    ens = tmp_path / "ens"
    ensemble_folder(ens, ["member"], trained.checkpoints[0])
    hostile_checkpoint(trained, ens / "member", marker)
    with pytest.raises(ConfigError) as e:
        load_causal_lm(ens)
    assert one_line(e).startswith(f"{ens / ENSEMBLE_FILE}: member: {ens / 'member' / TRAINER_STATE}: {PLAIN}")
    assert not marker.exists()


@pytest.mark.slow  # trains a model (the trained fixture)
@pytest.mark.parametrize("how", ["parent", "absolute", "symlink"])
def test_an_ensemble_member_outside_the_ensemble_is_refused_before_anything_is_read(trained, tmp_path, monkeypatch,
                                                                                   how):
    import trainables.checkpoints

    marker = tmp_path / "ran"
    hostile = hostile_checkpoint(trained, tmp_path / "evil", marker)
    ens = tmp_path / "ens"
    named = {"parent": "../evil", "absolute": str(hostile), "symlink": "link"}[how]
    ensemble_folder(ens, [named], trained.checkpoints[0])
    if how == "symlink":
        (ens / "link").symlink_to(hostile, target_is_directory=True)
    read = []
    monkeypatch.setattr(trainables.checkpoints, "read_trainer_state", lambda *a, **k: read.append(a))
    with pytest.raises(ConfigError) as e:
        load_causal_lm(ens)
    assert one_line(e) == (f"{ens / ENSEMBLE_FILE}: member {named!r} lies outside {ens.resolve()}; an ensemble's "
                           f"members must be inside it or inside its experiments' storage")
    assert read == [] and not marker.exists()


@pytest.mark.slow  # trains a model (the trained fixture)
def test_resuming_from_a_checkpoint_whose_pickle_runs_code_refuses_it(trained, tmp_path, capfd):
    marker = tmp_path / "ran"
    # the only checkpoint: nothing to fall back to, one line
    for form in FORMS:
        alone = hostile_checkpoint(trained, tmp_path / form / "checkpoint_000000", marker, form)
        with pytest.raises(CheckpointError) as e:
            run_local(pretrain, trained.config, tmp_path / f"resumed-{form}", restore_from=alone)
        assert one_line(e).startswith(f"{alone}: no readable checkpoint to resume from (checkpoint_000000: "
                                      f"{alone / TRAINER_STATE}: {PLAIN}")
    # with an earlier one beside it: skipped for it, with a warning naming why
    kept = tmp_path / "kept"
    shutil.copytree(trained.checkpoints[0], kept / "checkpoint_000000")
    hostile_checkpoint(trained, kept / "checkpoint_000001", marker, "torch-system")
    resumed = run_local(pretrain, trained.config, tmp_path / "again", restore_from=kept / "checkpoint_000001")
    warning = resumed.results[0]["warning"]
    assert warning.startswith(f"checkpoint checkpoint_000001 is damaged (checkpoint_000001: "
                              f"{kept / 'checkpoint_000001' / TRAINER_STATE}: {PLAIN}")
    assert "resumed from the previous checkpoint checkpoint_000000" in warning
    assert [r["val_loss"] for r in resumed.results] == [trained.results[1]["val_loss"]]
    assert not marker.exists()


# ------------------------------------------------------------------------------------------ the checkpoint format

@pytest.mark.slow  # trains a model (the trained fixture)
def test_a_new_checkpoint_is_plain_values_and_lists_its_files_in_its_manifest(trained):
    for folder in trained.checkpoints:
        saved = torch.load(folder / TRAINER_STATE, weights_only=True)
        assert saved["format"] == 2 and set(saved) >= {"model", "optimizer", "scheduler", "state", "rng"}
        files = json.loads((folder / MANIFEST).read_text())["files"]
        on_disk = {p.relative_to(folder).as_posix(): p.stat().st_size
                   for p in folder.rglob("*") if p.is_file() and p.name != MANIFEST}
        assert files == on_disk and TRAINER_STATE in files
        assert checkpoint_is_whole(folder) is True
        assert not [p for p in folder.rglob("*") if p.name.endswith(".tmp")]  # written under a temporary name
    assert "hf/model.safetensors" in json.loads((trained.checkpoints[-1] / MANIFEST).read_text())["files"]


@pytest.mark.slow  # trains a model (the trained fixture)
def test_a_checkpoint_in_the_format_of_before_still_loads_and_resumes_exactly(trained, tmp_path):
    old = tmp_path / "run" / "checkpoint_000000"
    shutil.copytree(trained.checkpoints[0], old)
    saved = torch.load(old / TRAINER_STATE, weights_only=True)
    del saved["format"]
    torch.save(saved, old / TRAINER_STATE)  # as the code of before saved it: plain torch.save, no manifest
    (old / MANIFEST).unlink()
    assert checkpoint_is_whole(old) is None  # nothing to tell by: read as before

    model = load_trained_model(old)
    assert all(torch.equal(model.state_dict()[k], v) for k, v in saved["model"].items())
    resumed = run_local(pretrain, trained.config, tmp_path / "resumed", restore_from=old)
    assert [r["val_loss"] for r in resumed.results] == [trained.results[1]["val_loss"]]
    assert "warning" not in resumed.results[0]


def test_a_state_that_would_need_unpickling_code_is_never_saved():
    import numpy as np

    assert plain_state({"score": np.float64(0.25), "n": np.int64(3)}) == {"score": 0.25, "n": 3}
    with pytest.raises(TypeError, match=r"trainer_state\['extra'\]\['best'\]: builtins.object is not a plain value"):
        plain_state({"extra": {"best": object()}})


# ------------------------------------------------------------------------------------------ whole or not

def copied_in_part(trained, root, damage):
    """The trained run's two checkpoints copied to `root`, the second damaged by `damage(folder)`."""
    for checkpoint in trained.checkpoints:
        shutil.copytree(checkpoint, root / checkpoint.name)
    damage(root / trained.checkpoints[-1].name)
    return root / trained.checkpoints[-1].name


def append(path, data=b"  "):
    with open(path, "ab") as f:
        f.write(data)


DAMAGES = {
    "size": (lambda f: append(f / "config.json"), "config.json: {size} bytes, checkpoint.json says"),
    "missing-file": (lambda f: (f / "hf" / "model.safetensors").unlink(),
                     "hf/model.safetensors: missing (listed in checkpoint.json)"),
    "missing-manifest": (lambda f: (f / MANIFEST).unlink(),
                         "checkpoint.json: missing beside a format-2 trainer_state.pt"),
    "garbled-manifest": (lambda f: (f / MANIFEST).write_text("{not json"), "checkpoint.json: cannot be read"),
}


@pytest.mark.slow  # trains a model (the trained fixture)
@pytest.mark.parametrize("damage", sorted(DAMAGES))
def test_a_checkpoint_copied_in_part_is_not_whole(trained, tmp_path, damage):
    from trainables.loop import read_checkpoint

    damage, reason = DAMAGES[damage]
    last = copied_in_part(trained, tmp_path / "run", damage)
    assert checkpoint_is_whole(last) is False and checkpoint_is_whole(last.parent / "checkpoint_000000") is True
    with pytest.raises(CheckpointError) as e:  # what restore reads each candidate with
        read_checkpoint(last)
    assert reason.format(size=(last / "config.json").stat().st_size) in one_line(e)


@pytest.mark.slow  # trains a model (the trained fixture)
@pytest.mark.parametrize("damage", ["size", "missing-manifest"])  # the manifest says so; the training state says so
def test_a_checkpoint_copied_in_part_is_skipped_for_the_earlier_one(trained, tmp_path, damage, capfd):
    damage, reason = DAMAGES[damage]
    last = copied_in_part(trained, tmp_path / "run", damage)
    reason = reason.format(size=(last / "config.json").stat().st_size)

    resumed = run_local(pretrain, trained.config, tmp_path / "resumed", restore_from=last)
    warning = resumed.results[0]["warning"]
    assert warning.startswith(f"checkpoint {last.name} is damaged ({last.name}: ") and reason in warning
    assert "resumed from the previous checkpoint checkpoint_000000" in warning
    assert f"warning: checkpoint {last.name} is damaged" in capfd.readouterr().err
    # back to report 1: report 2 again, exactly as the run that was not cut
    assert [r["val_loss"] for r in resumed.results] == [trained.results[1]["val_loss"]]


@pytest.mark.slow  # trains a model (the trained fixture)
def test_a_model_of_a_checkpoint_copied_in_part_is_not_scored(trained, tmp_path):
    last = copied_in_part(trained, tmp_path / "run", lambda f: append(f / "hf" / "config.json"))
    with pytest.raises(CheckpointError) as e:
        load_trained_model(last / "hf")
    assert one_line(e).startswith(f"{last / 'hf' / 'config.json'}: ") and f"the checkpoint {last} is not whole" \
        in str(e.value)


# ------------------------------------------------------------------------------------------ garbled files

def hf_model(tiny_data, folder, seed=1):
    from trainables.data.prepared import open_prepared

    data = open_prepared(tiny_data)
    torch.manual_seed(seed)
    build_model(model_config("tiny", {}, data.vocab_size, 32)).save_pretrained(folder)
    data.tokenizer().save_pretrained(folder)
    return folder


GARBLED_WEIGHTS = {"garbage": lambda data: b"\x00not safetensors at all" * 8, "truncated": lambda data: data[:-100],
                   "header-only": lambda data: data[:4000]}


@pytest.mark.parametrize("garble", sorted(GARBLED_WEIGHTS))
def test_garbled_model_weights_are_one_line_naming_the_file(tiny_data, tmp_path, capsys, garble):
    from babysweep.cli import main
    from trainables.distill import check_teachers

    model = hf_model(tiny_data, tmp_path / "model")
    weights = model / "model.safetensors"
    weights.write_bytes(GARBLED_WEIGHTS[garble](weights.read_bytes()))
    with pytest.raises(CheckpointError) as e:
        load_trained_model(model)
    assert one_line(e).startswith(f"{weights}: cannot be read as model weights (")

    pairs = tiny_data.parent / "corpus" / "blimp"
    assert main(["evaluate", str(model), "--blimp", str(pairs), "--limit", "2", "--quiet",
                 "--storage", str(tmp_path / "store")]) == 2
    [line] = error_lines(capsys)
    assert f"{weights}: cannot be read as model weights" in line

    ens = ensemble_folder(tmp_path / "ens", ["member"], model)
    shutil.copytree(model, ens / "member")
    with pytest.raises(ConfigError) as e:
        load_causal_lm(ens)
    assert one_line(e).startswith(f"{ens / ENSEMBLE_FILE}: member: {ens / 'member' / 'model.safetensors'}: cannot be "
                                  f"read as model weights")
    with pytest.raises(ConfigError) as e:
        check_teachers({"data": str(tiny_data), "teachers": [str(model)]})
    assert one_line(e).startswith(f"teachers: {weights}: cannot be read as model weights")


@pytest.mark.parametrize("content", ["{not json", '{"model": {}}', ""], ids=["not-json", "not-a-tokenizer", "empty"])
def test_a_tokenizer_that_does_not_parse_is_one_line_for_teachers_and_fine_tuning(tiny_data, tmp_path, content):
    from trainables.distill import check_teachers
    from trainables.finetune import load_pretrained

    model = hf_model(tiny_data, tmp_path / "model")
    (model / "tokenizer.json").write_text(content)
    with pytest.raises(ConfigError) as e:
        check_teachers({"data": str(tiny_data), "teachers": [str(model)]})
    assert one_line(e).startswith(f"teachers: {model / 'tokenizer.json'}: not a readable tokenizer (")
    with pytest.raises(ConfigError) as e:
        load_pretrained(model, 2)
    assert one_line(e).startswith(f"checkpoint: {model / 'tokenizer.json'}: not a readable tokenizer (")


def test_a_pytorch_bin_whose_pickle_runs_code_is_refused(tiny_data, tmp_path):
    marker = tmp_path / "ran"
    model = hf_model(tiny_data, tmp_path / "model")
    (model / "model.safetensors").unlink()
    torch.save({"model.embed_tokens.weight": WritesMarker(marker, "open")}, model / "pytorch_model.bin")
    with pytest.raises(CheckpointError) as e:
        load_trained_model(model)
    assert one_line(e).startswith(f"{model / 'pytorch_model.bin'}: {PLAIN}")
    assert not marker.exists()


# ------------------------------------------------------------------------------------------ where members may lie

def experiment(storage, name):
    folder = storage / name
    folder.mkdir(parents=True)
    (folder / "sweep.json").write_text("{}")
    return folder


def test_an_ensemble_names_its_members_relative_to_itself_and_moves_with_its_storage(tiny_data, tmp_path):
    storage = tmp_path / "runs"
    teacher = experiment(storage, "teacher")
    members = [hf_model(tiny_data, teacher / f"trial_{i}", seed=i) for i in (1, 2)]
    ens = experiment(storage, "pairs") / "ensembles" / "ensemble_00"
    write_ensemble(ens, members)
    record = json.loads((ens / ENSEMBLE_FILE).read_text())
    assert record["members"] == ["../../../teacher/trial_1", "../../../teacher/trial_2"]
    assert ensemble_members(ens) == members
    x = torch.arange(8).reshape(1, 8)
    before = load_causal_lm(ens).eval()(input_ids=x).logits

    shutil.move(storage, tmp_path / "moved")
    moved = tmp_path / "moved" / "pairs" / "ensembles" / "ensemble_00"
    assert torch.equal(load_causal_lm(moved).eval()(input_ids=x).logits, before)

    # written before members were relative: absolute paths inside the storage still load
    record["members"] = [str(tmp_path / "moved" / "teacher" / f"trial_{i}") for i in (1, 2)]
    (moved / ENSEMBLE_FILE).write_text(json.dumps(record))
    assert torch.equal(load_causal_lm(moved).eval()(input_ids=x).logits, before)


def test_an_ensemble_is_not_written_where_its_members_could_not_be_loaded(tiny_data, tmp_path):
    member = hf_model(tiny_data, tmp_path / "elsewhere" / "model")
    with pytest.raises(ConfigError) as e:
        write_ensemble(tmp_path / "ens", [member])
    assert one_line(e) == (f"members: {member}: lies outside {(tmp_path / 'ens').resolve()}; an ensemble's members "
                           f"must be inside it or inside its experiments' storage (write the ensemble there)")
    assert not (tmp_path / "ens").exists()
    # a caller that knows where the folder belongs says so (a family built in a staging folder of its storage)
    ens = write_ensemble(tmp_path / "ens", [member], trusted_root=tmp_path)
    assert ensemble_members(ens, trusted_root=tmp_path) == [member]
    with pytest.raises(ConfigError, match="lies outside"):
        ensemble_members(ens)


# ------------------------------------------------------------------------------------------ a space file's trainable

SPACE = "trainable: {trainable}\nbudget: {{min: 1, max: 3}}\nparameters:\n  lr: {{log_uniform: [1.0e-4, 1.0e-2]}}\n"


def settle(tmp_path, trainable):
    from search_spaces.loader import load_space
    from sweep.kinds import SweepSpec

    path = tmp_path / "space.yaml"
    path.write_text(SPACE.format(trainable=trainable))
    return path, SweepSpec(space=str(path)).settle_trainable(load_space(path))


@pytest.fixture
def package(tmp_path, monkeypatch):
    """A package on the path whose import writes a marker; it has a module `real` with a function `fn`."""
    pkg = tmp_path / "code" / "marker_pkg_u23"
    pkg.mkdir(parents=True)
    (pkg / "__init__.py").write_text(f"open({str(tmp_path / 'imported')!r}, 'w').close()\n")
    (pkg / "real.py").write_text("def fn(config, reporter=None):\n    return 'ran'\n")
    monkeypatch.syspath_prepend(str(tmp_path / "code"))
    yield pkg
    for name in [n for n in sys.modules if n.startswith("marker_pkg_u23")]:
        del sys.modules[name]


@pytest.mark.parametrize("trainable, missing", [
    ("no_such_module_xyz:fn", "no_such_module_xyz"),
    ("marker_pkg_u23.no_such_sub:fn", "marker_pkg_u23.no_such_sub"),
    ("marker_pkg_u23.real.inner:fn", "marker_pkg_u23.real.inner"),
])
def test_a_trainable_that_cannot_be_found_is_refused_and_nothing_is_imported(tmp_path, package, monkeypatch,
                                                                             trainable, missing):
    import importlib

    from sweep.errors import SweepError

    imported = []
    real_import = importlib.import_module
    monkeypatch.setattr(importlib, "import_module", lambda name, *a: imported.append(name) or real_import(name, *a))
    with pytest.raises(SweepError) as e:
        settle(tmp_path, trainable)
    module = trainable.partition(":")[0]
    assert one_line(e) == (f"{tmp_path / 'space.yaml'}: trainable {trainable}: cannot import {module} (no module "
                           f"{missing} on the Python path; nothing was imported)")
    assert module not in imported and not (tmp_path / "imported").exists()
    assert "marker_pkg_u23" not in sys.modules


def test_a_trainable_module_that_is_found_is_imported_and_needs_its_function(tmp_path, package):
    from sweep.errors import SweepError

    _, fn = settle(tmp_path, "marker_pkg_u23.real:fn")
    assert fn({}) == "ran" and (tmp_path / "imported").exists()  # what naming a trainable asks for
    with pytest.raises(SweepError) as e:
        settle(tmp_path, "marker_pkg_u23.real:no_such_fn")
    assert one_line(e).endswith("trainable marker_pkg_u23.real:no_such_fn: marker_pkg_u23.real has no function "
                                "no_such_fn")
