"""Fine-tuning on (Super)GLUE: task registry, readers, metrics, the schedules, the finetune trainable (real tiny runs,
exact restore, the best epoch kept and resumed, MNLI-mm scored by the MNLI run), bad inputs, --keep in sweeps,
finetune-all and a real 2-trial sweep on RTE. The templates are in test_glue_templates.py, the superglue spaces in
test_search_spaces.py."""
import json
import math
import shutil
from pathlib import Path

import pandas as pd
import pytest
import torch

from conftest import TINY_TRAIN, shared_data
from search_spaces.loader import SPACES_DIR
from sweep.selection import RANKED
from trainables import glue, loop
from trainables.errors import ConfigError
from trainables.finetune import finetune, resolve_config, score_model
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
    assert glue.TASKS["mnli-mm"].part_of == "mnli" and glue.TRAINED == [t for t in glue.TASKS if t != "mnli-mm"]


@pytest.mark.parametrize("name", sorted(RECORDS))
def test_records_give_their_template_fields(name):
    task = glue.get_task(name)
    values, label = glue.parse_record(task, RECORDS[name], "x:1")
    assert values == WANT_SEGMENTS[name] and label == RECORDS[name]["label"]


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
# Schedules (trainables.loop, shared with pretraining)


def schedule_lrs(kind, lr=1e-3, warmup=4, total=12):
    """The learning rate at each optimizer step 0..total-1 of a schedule, as make_scheduler builds it."""
    model = torch.nn.Linear(2, 2)
    cfg = dict(lr=lr, weight_decay=0.0, one_minus_adam_beta1=0.1, one_minus_adam_beta2=1e-3, adam_epsilon=1e-8,
               lr_scheduler_type=kind, num_warmup_steps=warmup)
    optimizer = loop.make_optimizer(model, cfg)
    scheduler = loop.make_scheduler(optimizer, cfg, total)
    lrs = []
    for _ in range(total):
        lrs.append(scheduler.get_last_lr()[0])
        optimizer.step()
        scheduler.step()
    return lrs


def test_constant_has_no_warmup_and_constant_with_warmup_ramps():
    assert schedule_lrs("constant") == [1e-3] * 12  # the full lr from step 0: num_warmup_steps is ignored
    ramp = schedule_lrs("constant_with_warmup")
    assert ramp[:5] == pytest.approx([0, 2.5e-4, 5e-4, 7.5e-4, 1e-3]) and ramp[4:] == pytest.approx([1e-3] * 8)


def test_linear_and_cosine_warm_up_then_decay_as_before():
    warm = [0, 2.5e-4, 5e-4, 7.5e-4]
    assert schedule_lrs("linear") == pytest.approx(warm + [1e-3 * (12 - s) / 8 for s in range(4, 12)])
    assert schedule_lrs("cosine") == pytest.approx(
        warm + [1e-3 * 0.5 * (1 + math.cos(math.pi * (s - 4) / 8)) for s in range(4, 12)])


def test_config_errors_name_the_allowed_values():
    base = dict(checkpoint="ckpt", glue_dir="glue", task="rte")
    with pytest.raises(ConfigError, match="lr_scheduler_type: 'foo' is not one of linear, cosine, constant, "
                                          "constant_with_warmup$"):
        resolve_config(dict(base, lr_scheduler_type="foo"))
    with pytest.raises(ConfigError, match="^keep: 'middle' is not one of best, last$"):
        resolve_config(dict(base, keep="middle"))
    with pytest.raises(ConfigError, match="^task mnli-mm: has no fine-tuning of its own; fine-tune mnli"):
        resolve_config(dict(base, task="mnli-mm"))
    assert resolve_config(base)["keep"] == "best"


def test_keep_middle_is_one_line_and_exit_2(tmp_path, capsys):
    from babysweep.cli import main

    assert main(["finetune-all", "--checkpoint", str(tmp_path), "--keep", "middle"]) == 2
    err = capsys.readouterr().err
    assert err == "babysweep: error: --keep middle: must be one of best, last\n"
    assert main(["launch", str(SPACES_DIR / "superglue" / "rte.yaml"), "--keep", "middle",
                 "--storage", str(tmp_path / "runs")]) == 2
    err = capsys.readouterr().err
    assert err == "babysweep: error: --keep middle: must be one of last, best\n"
    assert not (tmp_path / "runs").exists()


# -----------------------------------------------------------------------------
# --keep in sweeps: best by the sweep's own metric, the default for fine-tuning


def test_sweep_keep_defaults_to_best_for_finetune_and_ranks_by_the_space_metric(tmp_path):
    from sweep.kinds import SweepSpec, spec_from_record

    (tmp_path / "model").mkdir()  # checked before Ray: the model folder and the task's two splits exist
    (tmp_path / "glue").mkdir()
    for split in ("train", "valid"):
        write_jsonl(tmp_path / "glue" / f"rte.{split}.jsonl", [RECORDS["rte"]])
    where = {"checkpoint": str(tmp_path / "model"), "glue_dir": str(tmp_path / "glue")}
    ft = SweepSpec(space=str(SPACES_DIR / "superglue" / "rte.yaml"), storage=str(tmp_path), name="ft", extra=where)
    ft.prepare()
    assert ft.keep == "best" and ft.to_record()["keep"] == "best" and ft.extra["keep"] == "best"  # trials keep best
    assert ft.keep_by() == ("score", "max")
    # Ray keeps the highest-scoring checkpoint too (the trainable also writes its best epoch's model at the end)
    assert ft.checkpoint_parts() == {"keep_best_by": "score", "keep_best_order": "max"}
    last = SweepSpec(space=str(SPACES_DIR / "superglue" / "rte.yaml"), storage=str(tmp_path), name="l", keep="last",
                     extra=where)
    last.prepare()
    assert last.extra["keep"] == "last"

    data = {"data": str(tmp_path / "data")}
    pre = SweepSpec(space=str(SPACES_DIR / "tiny_demo.yaml"), storage=str(tmp_path), name="pre", extra=data)
    pre.prepare()
    assert pre.keep == "last" and "keep" not in pre.extra and pre.keep_by() == ("val_loss", "min")
    best = SweepSpec(space=str(SPACES_DIR / "tiny_demo.yaml"), storage=str(tmp_path), name="b", keep="best",
                     extra=data)
    best.prepare()
    assert best.checkpoint_parts() == {"keep_best_by": "val_loss", "keep_best_order": "min"}  # as before

    old = {k: v for k, v in ft.to_record().items() if k not in ("keep", "format")}  # written before keep existed
    assert spec_from_record(old).keep == "last" and spec_from_record(ft.to_record()).keep == "best"


def test_results_table_keep_best_ranks_by_the_sweeps_metric(tmp_path):
    from types import SimpleNamespace

    from sweep.results import ResultsTable

    trial = SimpleNamespace(trial_id="t1", config={"lr": 1e-3, "seed": 1}, status="RUNNING")

    def checkpoint(name, epoch, score, val_loss):
        (tmp_path / name / "hf").mkdir(parents=True)
        (tmp_path / name / "hf" / "babysweep.json").write_text(json.dumps(
            {"metrics": {"epoch": epoch, "score": score, "val_loss": val_loss}}))
        return SimpleNamespace(path=str(tmp_path / name))

    exp = tmp_path / "exp"
    exp.mkdir()
    table = ResultsTable(exp, to_config=dict, keep="best", metric="score", mode="max")
    for name, epoch, score, val_loss in (("c1", 1, 0.5, 0.7), ("c2", 2, 0.6, 0.9), ("c3", 3, 0.6, 0.6),
                                         ("c4", 4, 0.4, 0.5)):
        table.on_checkpoint(0, [trial], trial, checkpoint(name, epoch, score, val_loss))
    row = table.row(trial)  # the highest score (the earlier on a tie), whatever its val_loss
    assert (row["checkpoint"], row["checkpoint_epoch"], row["checkpoint_score"], row["checkpoint_val_loss"]) == \
        (str(tmp_path / "c2" / "hf"), 2, 0.6, 0.9)


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

    assert first["keep"] == "best" and (first["best_score"], first["best_epoch"]) == (first["score"], 1)

    paused = run_local(finetune, config, tmp_path / "paused", stop_after=1)
    # a run stopped before its last epoch (a trial stopped at a rung) has its model too: the one kept so far
    assert len(paused.results) == 1
    assert json.loads((paused.checkpoints[-1] / "hf" / "babysweep.json").read_text())["metrics"]["epoch"] == 1
    resumed = run_local(finetune, config, tmp_path / "resumed", restore_from=paused.checkpoints[-1])
    assert [r["epoch"] for r in resumed.results] == [2]
    for key in ("score", "val_loss", "train_loss", "lr", "best_score", "best_epoch"):
        assert resumed.results[0][key] == pytest.approx(full.results[1][key], abs=1e-5), key


# lr high enough that a later epoch gets worse than an earlier one (constant: no warm-up, no decay); the test takes
# the first whose best epoch has two epochs after it, so a change of the tiny model cannot make it vacuous
BEST_NOT_LAST = [dict(lr=3e-3), dict(lr=1e-2), dict(lr=1e-3), dict(lr=3e-3, seed=1)]


@pytest.mark.slow
def test_the_best_epoch_is_kept_and_survives_a_resume(pretrained, tmp_path):
    root = shared_data("glue_filtered")
    rescore = dict(max_eval_examples=32, max_length=48, num_threads=1)
    tried = []
    for i, candidate in enumerate(BEST_NOT_LAST):
        config = dict(FAST, checkpoint=str(pretrained), glue_dir=str(root), task="rte", num_epochs=4,
                      lr_scheduler_type="constant", **candidate)
        full = run_local(finetune, dict(config, output_dir=str(tmp_path / f"out{i}")), tmp_path / f"full{i}")
        scores = [r["score"] for r in full.results]
        best = scores.index(max(scores))  # the earlier epoch on a tie
        tried.append(scores)
        if best <= len(scores) - 3:
            break
    else:
        pytest.fail(f"no candidate has its best epoch two epochs before its last: {tried}")

    # every epoch is reported, each with the best so far
    for k, r in enumerate(full.results):
        so_far = scores[:k + 1]
        assert (r["best_score"], r["best_accuracy"]) == (max(so_far), max(so_far))
        assert r["best_epoch"] == full.results[so_far.index(max(so_far))]["epoch"]
    final, kept = full.results[-1], full.results[best]
    assert final["best_score"] == max(scores) and final["best_epoch"] == kept["epoch"] < final["epoch"]

    # the model written is the best epoch's: reloaded, it scores that epoch's score and validation loss again
    for folder in (full.checkpoints[-1] / "hf", tmp_path / f"out{i}"):
        again = score_model(folder, root, "rte", **rescore)
        assert again["score"] == max(scores) and again["val_loss"] == pytest.approx(kept["val_loss"], rel=1e-5)
        about = json.loads((folder / "babysweep.json").read_text())
        assert about["keep"] == "best" and about["metrics"]["epoch"] == kept["epoch"]
        assert about["input"] == "<s>{sentence1} {sentence2}</s>"

    # keep=last: the same training, the last epoch's model
    last = run_local(finetune, dict(config, keep="last"), tmp_path / "last")
    assert [r["score"] for r in last.results] == scores
    again = score_model(last.checkpoints[-1] / "hf", root, "rte", **rescore)
    assert again["score"] == final["score"] and again["val_loss"] == pytest.approx(final["val_loss"], rel=1e-5)

    # paused at the best epoch (its weights are the checkpoint's own), or after it (they ride in the checkpoint),
    # then resumed: the run still ends with the best epoch's model
    for pause in (best + 1, best + 2):
        paused = run_local(finetune, config, tmp_path / f"paused{pause}", stop_after=pause)
        saved = torch.load(paused.checkpoints[-1] / "trainer_state.pt", weights_only=True)["extra"]
        assert saved["best_metrics"]["epoch"] == kept["epoch"]
        assert (saved["best_model"] is None) == (pause == best + 1)
        resumed = run_local(finetune, config, tmp_path / f"resumed{pause}", restore_from=paused.checkpoints[-1])
        assert [r["score"] for r in resumed.results] == scores[pause:]
        assert [r["best_epoch"] for r in resumed.results] == [r["best_epoch"] for r in full.results[pause:]]
        again = score_model(resumed.checkpoints[-1] / "hf", root, "rte", **rescore)
        assert again["score"] == max(scores) and again["val_loss"] == pytest.approx(kept["val_loss"], rel=1e-5)


@pytest.mark.slow
def test_mnli_mm_is_scored_by_the_mnli_run_and_never_trained(pretrained, tmp_path, monkeypatch):
    """One mnli run reports matched and mismatched scores every epoch; finetune-all's mnli-mm row is that run's,
    at its kept epoch; no run of mnli-mm. glue_filtered has no mnli-mm file: other MNLI validation lines stand in."""
    import trainables.finetune
    from sweep.finetune_all import finetune_all

    root = shared_data("glue_filtered")
    glue_dir = tmp_path / "glue"
    glue_dir.mkdir()
    train = (root / "mnli.train.jsonl").read_text().splitlines()
    valid = (root / "mnli.valid.jsonl").read_text().splitlines()
    write_jsonl(glue_dir / "mnli.train.jsonl", train[:48])
    write_jsonl(glue_dir / "mnli.valid.jsonl", valid[:24])
    write_jsonl(glue_dir / "mnli-mm.valid.jsonl", valid[100:130])

    runs = []

    def counted(config, reporter=None):
        runs.append((config["task"], reporter))
        return finetune(config, reporter)

    monkeypatch.setattr(trainables.finetune, "finetune", counted)
    hparams = {"all": dict(num_epochs=3, batch_size=8, max_length=48, num_threads=1, lr=3e-3, num_warmup_steps=2)}
    table = finetune_all(pretrained, glue_dir, tmp_path / "out", hparams=hparams, max_train_examples=48,
                         log=lambda m: None)
    assert [task for task, _ in runs] == ["mnli"]  # one training; mnli-mm's row comes from it
    assert sorted(p.name for p in (tmp_path / "out" / "checkpoints").iterdir()) == ["mnli"]
    results = runs[0][1].results
    for r in results:
        assert r["n_valid"] == 24 and r["mnli_mm_n_valid"] == 30 and 0 <= r["mnli_mm_accuracy"] <= 1
        assert math.isfinite(r["mnli_mm_val_loss"]) and r["metric"] == "accuracy"
    final = results[-1]
    kept = results[[r["epoch"] for r in results].index(final["best_epoch"])]  # chosen by the matched score
    assert kept["score"] == max(r["score"] for r in results)
    assert final["best_mnli_mm_accuracy"] == kept["mnli_mm_accuracy"]

    rows = table.set_index("task")
    assert list(table["task"]) == ["mnli", "mnli-mm", "macro average"]
    assert rows.loc["mnli", "score"] == pytest.approx(100 * kept["score"])
    assert rows.loc["mnli-mm", "score"] == pytest.approx(100 * kept["mnli_mm_accuracy"])
    assert rows.loc["mnli-mm", "val_loss"] == pytest.approx(kept["mnli_mm_val_loss"])
    assert rows.loc["mnli", "epoch"] == rows.loc["mnli-mm", "epoch"] == kept["epoch"]
    assert rows.loc["mnli-mm", "trained_as"] == "mnli" and rows.loc["mnli-mm", "n_valid"] == 30
    model = rows.loc["mnli-mm", "model"]
    assert model == rows.loc["mnli", "model"]
    assert score_model(model, glue_dir, "mnli-mm", max_length=48)["score"] == kept["mnli_mm_accuracy"]
    history = pd.read_csv(tmp_path / "out" / "history.csv")
    assert list(history["mnli_mm_accuracy"]) == [r["mnli_mm_accuracy"] for r in results]

    with pytest.raises(ConfigError, match=r"^--tasks mnli-mm: mnli-mm has no fine-tuning of its own; ask for mnli"):
        finetune_all(pretrained, glue_dir, tmp_path / "out2", tasks=["mnli-mm"], log=lambda m: None)
    (glue_dir / "mnli-mm.valid.jsonl").unlink()
    with pytest.raises(GlueError, match=r"^task mnli-mm: no validation file \(mnli-mm.valid.jsonl is missing"):
        finetune_all(pretrained, glue_dir, tmp_path / "out2", tasks=["mnli", "mnli-mm"], log=lambda m: None)
    assert len(runs) == 1


@pytest.mark.slow
def test_finetune_all_table(pretrained, tmp_path):
    from sweep.finetune_all import finetune_all

    root = shared_data("glue_filtered")
    hparams = tmp_path / "hp.yaml"
    hparams.write_text("all: {num_epochs: 3, batch_size: 16, max_length: 48, num_threads: 1, lr: 3.0e-3}\n"
                       "wsc: {lr: 1.0e-3}\n")
    table = finetune_all(pretrained, root, tmp_path / "out", hparams=str(hparams), tasks=["rte", "wsc"],
                         max_train_examples=32, max_eval_examples=16, log=lambda m: None)
    assert list(table["task"]) == ["rte", "wsc", "macro average"]
    assert table["score"].between(0, 100).all()
    assert table["score"].iloc[-1] == pytest.approx(table["score"].iloc[:2].mean())
    written = pd.read_csv(tmp_path / "out" / "finetune_all.csv")
    assert list(written["task"]) == list(table["task"]) and list(written["metric"].iloc[:2]) == ["accuracy"] * 2
    # each row is its run's kept epoch (keep best: the first best by score), whose model the row names
    history = pd.read_csv(tmp_path / "out" / "history.csv")
    for row in table.iloc[:2].to_dict("records"):
        epochs = history[history["task"] == row["task"]]
        best = epochs.iloc[int(epochs["score"].values.argmax())]
        assert row["score"] == pytest.approx(100 * best["score"]) and row["epoch"] == best["epoch"]
        assert row["epochs"] == 3 and row["val_loss"] == pytest.approx(best["val_loss"])
        assert json.loads((Path(row["model"]) / "babysweep.json").read_text())["metrics"]["epoch"] == row["epoch"]
    assert json.loads((tmp_path / "out" / "finetune_all.json").read_text())["keep"] == "best"
    with pytest.raises(GlueError, match="task boolq: no train split"):
        finetune_all(pretrained, root, tmp_path / "out2", tasks=["boolq"], log=lambda m: None)


@pytest.fixture(scope="module")
def rte_sweep(pretrained, tmp_path_factory):
    """A real 2-trial BOHB sweep of RTE's own space (budget 1 to 10 epochs, num_epochs 10) on the tiny pretrained
    model, on a few examples: the one fine-tuning sweep the slow tests share (each Ray sweep costs ~30 s of
    actor starts here, the training well under one); its folder."""
    from sweep.launch import SweepSpec, launch

    root = shared_data("glue_filtered")
    storage = tmp_path_factory.mktemp("rte") / "runs"
    return launch(SweepSpec(space=str(SPACES_DIR / "superglue" / "rte.yaml"), trainable="finetune", samples=2,
                            storage=str(storage), name="rte",
                            extra={"checkpoint": str(pretrained), "glue_dir": str(root), "max_train_examples": 16,
                                   "max_eval_examples": 8, "max_length": 32, "num_threads": 1}), verbose=0)


def trial_reports(exp, trial_id) -> list[dict]:
    """result.json of a trial: its reports since its last restore."""
    return [json.loads(line) for line in (exp / f"trial_{trial_id}" / "result.json").read_text().splitlines()]


@pytest.mark.slow
def test_sweep_on_rte(rte_sweep):
    from sweep.table import read_table

    exp = rte_sweep
    table = read_table(exp / "results.csv")
    assert len(table) == 2 and (table["state"] == "TERMINATED").all()
    assert table["val_loss"].notna().all() and (table["config/task"] == "rte").all()
    assert json.loads((exp / "sweep.json").read_text())["keep"] == "best"  # the default of a finetune sweep
    # the searched metric is each epoch's score; a trial that ran its whole schedule keeps its best epoch's model,
    # which the table names with that epoch's score
    finished = 0
    for row in table.to_dict("records"):
        results = trial_reports(exp, row["trial_id"])
        assert all(0 <= r["score"] <= 1 for r in results) and results[-1]["keep"] == "best"
        assert results[-1]["best_score"] >= max(r["score"] for r in results)
        if results[-1]["epoch"] == 10:
            finished += 1
            assert row["checkpoint_epoch"] == results[-1]["best_epoch"]
            assert row["checkpoint_score"] == results[-1]["best_score"]
    assert finished >= 1


@pytest.mark.slow
def test_a_sweep_on_budget_1_to_10_has_trials_that_reach_10_epochs_and_the_best_is_one(rte_sweep):
    """RTE's own space: budget 1 to 10 epochs, num_epochs 10. HyperBand's rungs are hpbandster's (1, 3, 10 in the
    first bracket; stock Ray's 1, 3, 9 stopped every trial an epoch short, and status said "best: none yet"): a
    trial that survives the rungs runs to 10 epochs, is complete, and status names the best of those by the score
    of the model each kept (keep best, a fine-tuning sweep's default)."""
    from sweep.status import sweep_status
    from sweep.table import read_table

    table = read_table(rte_sweep / "results.csv")
    assert (table["state"] == "TERMINATED").all() and (table["config/num_epochs"] == 10).all()
    assert set(table["epoch"]) <= {1.0, 3.0, 10.0}  # stopped at a rung, or run to the maximum
    reached = set(table.loc[table["epoch"] == 10, "trial_id"])
    assert reached
    best = sweep_status("rte", rte_sweep.parent)["best"]
    assert best is not None and best["trial_id"] in reached and best["epoch"] == 10
    top = table[table["epoch"] == 10].sort_values(["checkpoint_score", "trial_id"], ascending=[False, True]).iloc[0]
    assert best["trial_id"] == top["trial_id"] and best["value"] == top["checkpoint_score"]


@pytest.mark.slow
def test_a_finetuning_sweep_records_its_score_and_names_each_trials_kept_model(rte_sweep, capsys):
    from babysweep.cli import main
    from sweep.experiment import load_experiment
    from trainables.model_folder import find_model

    exp = load_experiment("rte", rte_sweep.parent)
    # history.csv: every report's score (the space's metric) beside its val_loss
    history = exp.history
    assert {"score", "val_loss"} <= set(history.columns) and history["score"].between(0, 1).all()
    for tid, reports in ((t, trial_reports(rte_sweep, t)) for t in exp.table["trial_id"]):
        mine = history[history["trial_id"] == tid].set_index("epoch")["score"]
        assert all(mine[r["epoch"]] == r["score"] for r in reports)
    # results.csv: every trial's kept model, wherever it stopped, a Hugging Face folder of the epoch it keeps
    for row in exp.table.to_dict("records"):
        last = trial_reports(rte_sweep, row["trial_id"])[-1]
        model = Path(row["checkpoint"])
        assert find_model(model) == model and (model / "config.json").is_file()
        about = json.loads((model / "babysweep.json").read_text())
        assert about["metrics"]["epoch"] == row["checkpoint_epoch"] == last["best_epoch"]
        assert about["metrics"]["score"] == row["checkpoint_score"] == last["best_score"] == row["best_score"]
    # status names the score, highest first
    assert main(["status", "rte", "--storage", str(rte_sweep.parent)]) == 0
    out = capsys.readouterr().out
    assert "score max" in out.splitlines()[0] and out.splitlines()[1].split()[3:6] == ["score", "best", "val_loss"]
    best = exp.best_trial()
    assert best is not None and f"best: {best['trial_id']} score {best[RANKED]:.4f}" in out


@pytest.mark.slow
def test_finetune_all_takes_each_tasks_configuration_from_its_sweep(pretrained, rte_sweep, tmp_path):
    from sweep.experiment import load_experiment
    from sweep.finetune_all import finetune_all

    root = shared_data("glue_filtered")
    storage = rte_sweep.parent
    best = load_experiment("rte", storage).best_trial()
    assert best is not None
    quick = {"all": {"num_threads": 1}}
    table = finetune_all(pretrained, root, tmp_path / "out", hparams=quick, tasks=["rte"], from_sweeps=storage,
                         max_train_examples=32, max_eval_examples=16, log=lambda m: None)
    row = table.iloc[0]
    assert row["hparams_from"] == f"sweep {rte_sweep} trial {best['trial_id']} (score " \
                                  f"{best[RANKED]:.4g}) + --hparams"
    settings = json.loads((tmp_path / "out" / "finetune_all.json").read_text())["runs"]["rte"]
    for name in ("lr", "batch_size", "weight_decay", "lr_scheduler_type", "max_length"):
        assert settings[name] == pytest.approx(best[f"config/{name}"]) if isinstance(settings[name], float) \
            else settings[name] == best[f"config/{name}"], name
    assert settings["num_epochs"] == 10 and row["subset"] == "first 32 train examples"
    assert table.attrs["subset"].startswith("quick run") and "not comparable" in table.attrs["subset"]
    # the model folder is named after the epoch it holds, and holds it
    model = tmp_path / "out" / "checkpoints" / "rte" / f"model_epoch_{row['epoch']:g}"
    assert row["model"] == str(model)
    assert json.loads((model / "babysweep.json").read_text())["metrics"]["epoch"] == row["epoch"]
    assert not list((tmp_path / "out" / "checkpoints" / "rte").glob("checkpoint_*"))  # no optimizer state kept

    # bad input: a sweep of another checkpoint (without --transfer), of another task; nothing written
    other = tmp_path / "other-model"
    shutil.copytree(pretrained, other)
    with pytest.raises(ConfigError, match=r"swept task rte on another checkpoint .* add --transfer"):
        finetune_all(other, root, tmp_path / "out2", tasks=["rte"], from_sweeps=storage, log=lambda m: None)
    with pytest.raises(ConfigError, match=r"is a sweep of task rte, not wsc"):
        finetune_all(pretrained, root, tmp_path / "out2", tasks=["wsc"], sweeps={"wsc": rte_sweep},
                     log=lambda m: None)
    assert not (tmp_path / "out2").exists()
