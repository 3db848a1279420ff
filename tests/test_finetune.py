"""Fine-tuning on (Super)GLUE: task registry, readers, formatting, metrics, the finetune trainable (real tiny runs,
exact restore), bad inputs, the per-task search spaces, finetune-all and a real 2-trial sweep on RTE."""
import json
import math
import shutil
from pathlib import Path

import pandas as pd
import pytest
import torch

from conftest import TINY_TRAIN, shared_data
from search_spaces.loader import SPACES_DIR, load_space
from trainables import glue
from trainables.errors import ConfigError
from trainables.finetune import ACCEPTED, finetune
from trainables.glue import GlueError
from trainables.reporting import run_local

torch.set_num_threads(1)

FAST = dict(max_train_examples=64, max_eval_examples=32, max_length=48, num_threads=1, batch_size=8,
            num_warmup_steps=2, lr=1e-3, weight_decay=0.1)


@pytest.fixture(scope="module")
def pretrained(tiny_data, tmp_path_factory):
    """The Hugging Face folder of a tiny pretraining run (half an epoch of the built-in corpus)."""
    from trainables.pretrain import pretrain

    root = tmp_path_factory.mktemp("pretrained")
    run = run_local(pretrain, dict(TINY_TRAIN, data=str(tiny_data), num_epochs=0.5, budget_step=0.5), root)
    return run.checkpoints[-1] / "hf"


@pytest.fixture(scope="module")
def tokenizer(tiny_data):
    from transformers import AutoTokenizer

    return AutoTokenizer.from_pretrained(tiny_data)


def write_jsonl(path, records):
    path.write_text("".join((r if isinstance(r, str) else json.dumps(r)) + "\n" for r in records))
    return path


# -----------------------------------------------------------------------------
# Registry, formatting, metrics (no model)

RECORDS = {
    "cola": {"sentence": "The cat sat.", "label": 1},
    "sst2": {"sentence": "a fine film", "label": 0},
    "mrpc": {"sentence1": "He ran.", "sentence2": "He was running.", "label": 1},
    "qqp": {"question1": "Why?", "question2": "How come?", "label": 1},
    "mnli": {"premise": "A dog barks.", "hypothesis": "An animal is loud.", "label": 2},
    "mnli-mm": {"premise": "A dog barks.", "hypothesis": "Cats fly.", "label": 1},
    "qnli": {"question": "Who ran?", "sentence": "Tom ran.", "label": 0},
    "rte": {"sentence1": "Tom ran home.", "sentence2": "Tom moved.", "label": 0},
    "boolq": {"question": "is it red", "passage": "It is red.", "label": 1},
    "multirc": {"paragraph": "Sam has a dog.", "question": "What has Sam?", "answer": "a dog", "label": 1},
    "wsc": {"text": "Mark told Pete he lied.", "span1_text": "Mark", "span2_text": "he", "span1_index": 0,
            "span2_index": 3, "label": 0},
}
WANT_SEGMENTS = {
    "cola": ["The cat sat."], "sst2": ["a fine film"], "mrpc": ["He ran.", "He was running."],
    "qqp": ["Why?", "How come?"], "mnli": ["A dog barks.", "An animal is loud."],
    "mnli-mm": ["A dog barks.", "Cats fly."], "qnli": ["Who ran?", "Tom ran."],
    "rte": ["Tom ran home.", "Tom moved."], "boolq": ["is it red", "It is red."],
    "multirc": ["Sam has a dog.", "What has Sam?", "a dog"], "wsc": ["Mark told Pete he lied.", "he", "Mark"],
}
WANT_METRIC = {"cola": "mcc", "mrpc": "f1", "qqp": "f1"}


def test_every_table4_task_is_registered_with_its_metric():
    assert set(glue.TABLE4) == set(glue.TASKS) == set(RECORDS)
    for name, task in glue.TASKS.items():
        assert task.metric == WANT_METRIC.get(name, "accuracy"), name
        assert task.num_labels == (3 if name.startswith("mnli") else 2)
    assert glue.TASKS["mnli-mm"].train_file == "mnli" and glue.TASKS["mnli-mm"].valid_file == "mnli-mm"


@pytest.mark.parametrize("name", sorted(RECORDS))
def test_formatting(name, tokenizer):
    task = glue.get_task(name)
    segments, label = glue.parse_record(task, RECORDS[name], "x:1")
    assert segments == WANT_SEGMENTS[name] and label == RECORDS[name]["label"]
    ids = glue.encode(segments, tokenizer, 64)
    bos, eos = tokenizer.bos_token_id, tokenizer.eos_token_id
    assert ids[0] == bos and ids[-1] == eos and ids.count(eos) == len(segments)
    # each segment's own tokens, between the separators
    want = [bos]
    for s in segments:
        want += tokenizer(s, add_special_tokens=False)["input_ids"] + [eos]
    assert ids == want


def test_truncation_cuts_the_longest_segment_first(tokenizer):
    long, short = "the dog sees the cat and the cat sees the dog " * 5, "a cat"
    ids = glue.encode([long, short], tokenizer, 20)
    eos = tokenizer.eos_token_id
    assert len(ids) == 20 and ids[-1] == eos and ids.count(eos) == 2
    assert ids[ids.index(eos) + 1:-1] == tokenizer(short, add_special_tokens=False)["input_ids"]  # untouched
    with pytest.raises(GlueError, match="max_length"):
        glue.encode(["a", "b", "c"], tokenizer, 3)


def test_metrics_against_hand_computed_values():
    y = [1, 1, 1, 0, 0, 0, 1, 0]
    p = [1, 1, 0, 0, 0, 1, 1, 1]   # tp 3, fn 1, tn 2, fp 2
    assert glue.accuracy(y, p) == pytest.approx(5 / 8)
    assert glue.f1(y, p) == pytest.approx(2 * 3 / (2 * 3 + 2 + 1))            # 6/9
    assert glue.mcc(y, p) == pytest.approx((3 * 2 - 2 * 1) / math.sqrt(5 * 4 * 3 * 4))
    assert glue.mcc(y, y) == pytest.approx(1.0) and glue.mcc(y, [1 - v for v in y]) == pytest.approx(-1.0)
    assert glue.mcc(y, [1] * 8) == 0.0 and glue.f1([0, 0], [0, 0]) == 0.0   # degenerate: 0, not NaN
    assert glue.score("cola", y, p) == glue.mcc(y, p) and glue.score("qqp", y, p) == glue.f1(y, p)
    assert glue.score("mnli", [0, 1, 2], [0, 2, 2]) == pytest.approx(2 / 3)


def test_real_files_read_and_present_tasks():
    root = shared_data("glue_filtered")
    present = glue.available_tasks(root)
    assert {"mnli", "mrpc", "qqp", "rte", "wsc"} <= set(present)
    assert "boolq" not in present and "multirc" not in present  # validation files only
    for name in present:
        for split in ("train", "validation"):
            examples = glue.read_split(root, name, split, limit=20)
            assert len(examples) == 20
            assert all(label in glue.TASKS[name].labels and all(s for s in seg) for seg, label in examples)


# -----------------------------------------------------------------------------
# Bad inputs: one line naming the problem


@pytest.mark.slow
def test_bad_inputs(tmp_path, pretrained):
    with pytest.raises(GlueError, match="unknown task"):
        glue.get_task("squad")
    write_jsonl(tmp_path / "rte.valid.jsonl", [RECORDS["rte"]])
    with pytest.raises(GlueError, match=r"task rte: no train split \(rte.train.jsonl"):
        glue.check_task(tmp_path, "rte")
    write_jsonl(tmp_path / "rte.train.jsonl", [RECORDS["rte"], dict(RECORDS["rte"], label=2)])
    with pytest.raises(GlueError, match=r"rte.train.jsonl:2: label 2 is not one of the labels of rte"):
        glue.read_split(tmp_path, "rte", "train")
    write_jsonl(tmp_path / "rte.train.jsonl", [RECORDS["rte"], '{"sentence1": "x", '])
    with pytest.raises(GlueError, match=r"rte.train.jsonl:2: not valid JSON"):
        glue.read_split(tmp_path, "rte", "train")
    write_jsonl(tmp_path / "rte.train.jsonl", [{"sentence1": "x", "label": 0}])
    with pytest.raises(GlueError, match=r"rte.train.jsonl:1: field 'sentence2' missing"):
        glue.read_split(tmp_path, "rte", "train")
    base = dict(FAST, checkpoint=str(pretrained), glue_dir=str(tmp_path))
    with pytest.raises(GlueError, match="unknown task"):
        finetune(dict(base, task="squad"))
    with pytest.raises(ConfigError, match="not a parameter of the finetune trainable"):
        finetune(dict(base, task="rte", learning_rate=1e-3))
    with pytest.raises(GlueError, match="task wsc: no train split"):
        finetune(dict(base, task="wsc"))
    # a checkpoint whose model vocabulary does not match its tokenizer
    bad = tmp_path / "bad-ckpt"
    shutil.copytree(pretrained, bad)
    conf = json.loads((bad / "config.json").read_text())
    conf["vocab_size"] += 7
    (bad / "config.json").write_text(json.dumps(conf))
    write_jsonl(tmp_path / "rte.train.jsonl", [RECORDS["rte"]] * 4)
    with pytest.raises(ConfigError, match=r"vocabulary \(\d+ entries\) does not match its tokenizer"):
        finetune(dict(base, task="rte", checkpoint=str(bad)))
    with pytest.raises(ConfigError, match="hf/ subfolder"):
        finetune(dict(base, task="rte", checkpoint=str(pretrained.parent)))


# -----------------------------------------------------------------------------
# Real fine-tuning runs


@pytest.mark.slow
def test_finetune_rte_reports_and_restores_exactly(pretrained, tmp_path):
    root = shared_data("glue_filtered")
    config = dict(FAST, checkpoint=str(pretrained), glue_dir=str(root), task="rte", num_epochs=2)
    full = run_local(finetune, config, tmp_path / "full")
    assert [r["epoch"] for r in full.results] == [1, 2]
    first = full.results[0]
    assert first["metric"] == "accuracy" and first["score"] == first["accuracy"] and 0 <= first["score"] <= 1
    assert first["n_train"] == 64 and first["n_valid"] == 32 and first["step"] == 8
    for key in ("val_loss", "train_loss", "examples_per_s", "wall_s"):
        assert math.isfinite(first[key]) and first[key] > 0, key
    assert (full.checkpoints[-1] / "hf" / "config.json").is_file()
    from transformers import AutoConfig

    assert AutoConfig.from_pretrained(full.checkpoints[-1] / "hf").num_labels == 2

    paused = run_local(finetune, config, tmp_path / "paused", stop_after=1)
    assert len(paused.results) == 1 and not (paused.checkpoints[-1] / "hf").exists()
    resumed = run_local(finetune, config, tmp_path / "resumed", restore_from=paused.checkpoints[-1])
    assert [r["epoch"] for r in resumed.results] == [2]
    for key in ("score", "val_loss", "train_loss", "lr"):
        assert resumed.results[0][key] == pytest.approx(full.results[1][key], abs=1e-5), key


def test_search_spaces_centre_on_table4():
    files = sorted((SPACES_DIR / "superglue").glob("*.yaml"))
    assert {p.stem for p in files} == set(glue.TABLE4)
    for path in files:
        space = load_space(path)
        space.check_names(ACCEPTED, "finetune")
        assert (space.trainable, space.metric, space.mode) == ("finetune", "score", "max")
        centre, want = space.centre(), glue.TABLE4[path.stem]
        assert centre["task"] == path.stem and centre["seed"] == 12
        assert space.budget_max == want["num_epochs"] == centre["num_epochs"]
        for key, value in want.items():
            if isinstance(value, str) or key in ("batch_size", "num_warmup_steps", "num_epochs"):
                assert centre[key] == value, (path.stem, key)
            else:
                assert centre[key] == pytest.approx(value, rel=1e-9), (path.stem, key)


@pytest.mark.slow
def test_finetune_all_table(pretrained, tmp_path):
    from sweep.finetune_all import finetune_all

    root = shared_data("glue_filtered")
    hparams = tmp_path / "hp.yaml"
    hparams.write_text("all: {num_epochs: 1, batch_size: 16, max_length: 48, num_threads: 1}\n"
                       "wsc: {lr: 1.0e-3}\n")
    table = finetune_all(pretrained, root, tmp_path / "out", hparams=str(hparams), tasks=["rte", "wsc"],
                         max_train_examples=32, max_eval_examples=16, log=lambda m: None)
    assert list(table["task"]) == ["rte", "wsc", "macro average"]
    assert table["score"].between(0, 100).all()
    assert table["score"].iloc[-1] == pytest.approx(table["score"].iloc[:2].mean())
    written = pd.read_csv(tmp_path / "out" / "finetune_all.csv")
    assert list(written["task"]) == list(table["task"]) and list(written["metric"].iloc[:2]) == ["accuracy"] * 2
    with pytest.raises(GlueError, match="task boolq: no train split"):
        finetune_all(pretrained, root, tmp_path / "out2", tasks=["boolq"], log=lambda m: None)


@pytest.mark.slow
def test_sweep_on_rte(pretrained, tmp_path):
    from sweep.launch import SweepSpec, launch
    from sweep.table import read_table

    root = shared_data("glue_filtered")
    exp = launch(SweepSpec(space=str(SPACES_DIR / "superglue" / "rte.yaml"), trainable="finetune", samples=2,
                           storage=str(tmp_path / "runs"), name="rte",
                           extra={"checkpoint": str(pretrained), "glue_dir": str(root), "max_train_examples": 32,
                                  "max_eval_examples": 16, "max_length": 48, "num_threads": 1}), verbose=0)
    table = read_table(exp / "results.csv")
    assert len(table) == 2 and (table["state"] == "TERMINATED").all()
    assert table["val_loss"].notna().all() and (table["config/task"] == "rte").all()
    # the searched metric: the results table records val_loss; score is in each trial's Ray results
    scores = []
    for trial_id in table["trial_id"]:
        lines = (exp / f"trial_{trial_id}" / "result.json").read_text().splitlines()
        scores.append(json.loads(lines[-1])["score"])
    assert len(scores) == 2 and all(0 <= s <= 1 for s in scores)
