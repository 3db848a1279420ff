"""Every score says how it was made (analysis/provenance.py): what evaluate records beside a suite's score, when a
later evaluate scores again, what the replaced rows become, and how the aggregates refuse to mix two provenances
and mark a --limit run. Fast: tables and small folders, no Ray, no model (the slow round trip on a real sweep is
tests/test_evaluate.py::test_evaluate_then_correlate)."""
import json

import numpy as np
import pandas as pd
import pytest
from test_space_metric import make_finetuning_sweep

from analysis import provenance
from analysis.correlate import correlate
from analysis.errors import AnalysisError
from analysis.evaluate import EVALUATION_HISTORY, pending_checkpoints, record_scores
from analysis.pairs import SuiteInput
from babysweep.cli import main
from sweep.table import EVALUATION_SCHEMA, read_table


def suite_folder(path, pairs=3):
    path.mkdir(parents=True, exist_ok=True)
    for name in ("anaphor", "island"):
        lines = [json.dumps({"sentence_good": f"a {name} {i} .", "sentence_bad": f"{name} a {i} ."}) for i in range(pairs)]
        (path / f"{name}.jsonl").write_text("\n".join(lines) + "\n")
    return path


def made(per_paradigm="all", sha="aaaa", source="blimp", ties="right", newline="utterance boundary"):
    return provenance.dumps({"source": source, "sha256": sha, "per_paradigm": per_paradigm, "pairs": 134,
                             "ties": ties, "scorer": provenance.SCORER_VERSION, "newline": newline,
                             "precision": "float32"})


def scored_table(cells, n=6, suite="blimp_filtered"):
    rng = np.random.default_rng(0)
    loss = np.linspace(3.0, 4.0, n)
    return pd.DataFrame({"trial_id": [f"t{i}" for i in range(n)], "val_loss": loss,
                         suite: 0.9 - 0.1 * loss + rng.normal(0, 0.01, n), f"{suite}/anaphor": 0.6,
                         provenance.column(suite): cells})


def test_the_request_names_the_folders_content_the_limit_and_the_tie_rule(tmp_path):
    folder = suite_folder(tmp_path / "blimp_original")
    suite = SuiteInput("blimp_original", "blimp_original", "pairs", "blimp", folder, {"a": [1, 2], "b": [3]}, [], None)
    request = provenance.requested(suite, "right", limit=2)
    assert request["source"] == "blimp" and request["per_paradigm"] == 2 and request["pairs"] == 3
    assert provenance.requested(suite, "right")["per_paradigm"] == "all"
    before = request["sha256"]
    (folder / "island.jsonl").write_text('{"sentence_good": "x .", "sentence_bad": ". x"}\n')
    assert provenance.folder_hash(folder) != before  # another content, another suite


def test_a_checkpoint_scored_otherwise_is_scored_again_and_one_scored_as_asked_is_not():
    request = json.loads(made(per_paradigm="all"))
    table = pd.DataFrame({"trial_id": ["a", "b", "c"], "checkpoint": ["ca", "cb", "cc"]})
    done = pd.DataFrame({"trial_id": ["a", "b", "c"], "checkpoint": ["ca", "cb", "cc"],
                         "blimp_filtered": [0.6, 0.7, 0.8],
                         provenance.column("blimp_filtered"): [made(per_paradigm=20), made(), None]})
    todo = pending_checkpoints(table, done, suites=["blimp_filtered"], requests={"blimp_filtered": request})
    assert [t for t, _, _ in todo] == ["a"]  # a --limit 20 score; c's has no provenance recorded: kept as it is
    other = {**request, "sha256": "bbbb"}  # another folder's content under the same name
    assert [t for t, _, _ in pending_checkpoints(table, done, suites=["blimp_filtered"],
                                                 requests={"blimp_filtered": other})] == ["a", "b"]
    assert len(pending_checkpoints(table, done, suites=["blimp_filtered"], requests={"blimp_filtered": request},
                                   rescore=True)) == 3


def test_a_replaced_score_is_kept_in_the_evaluation_history(tmp_path):
    first = {"trial_id": "a", "checkpoint": "ca", "blimp_filtered": 0.61, "blimp/anaphor": 0.61, "ties_rule": "right",
             provenance.column("blimp_filtered"): made(per_paradigm=20)}
    record_scores(tmp_path, [first], "right")
    assert not (tmp_path / EVALUATION_HISTORY).exists()  # nothing replaced yet
    record_scores(tmp_path, [{**first, "blimp_filtered": 0.66, provenance.column("blimp_filtered"): made()}], "right")
    latest = read_table(tmp_path / "evaluation.csv", EVALUATION_SCHEMA)
    history = read_table(tmp_path / EVALUATION_HISTORY, EVALUATION_SCHEMA)
    assert latest["blimp_filtered"].tolist() == [0.66]
    assert history["blimp_filtered"].tolist() == [0.61]
    assert json.loads(history[provenance.column("blimp_filtered")].iloc[0])["per_paradigm"] == 20


def test_a_fit_refuses_scores_made_two_ways_and_marks_a_limit_run():
    mixed = scored_table([made(per_paradigm=20)] * 3 + [made()] * 3)
    fit = correlate(mixed, n_boot=0)[0]
    assert "skipped" in fit and "made 2 ways" in fit["skipped"] and "--limit 20" in fit["skipped"]
    quick = correlate(scored_table([made(per_paradigm=20)] * 6), n_boot=0)[0]
    assert "skipped" not in quick and quick["label"] == "BLiMP filtered (--limit 20)"
    assert "the first 20 per paradigm only" in quick["provenance"]
    full = correlate(scored_table([made()] * 6), n_boot=0)[0]
    assert full["label"] == "BLiMP filtered" and "every pair" in full["provenance"]
    # each model in its own stream's newline convention: still one measure
    streams = scored_table([made(newline="a")] * 3 + [made(newline="b")] * 3)
    assert "skipped" not in correlate(streams, n_boot=0)[0]


def test_scores_with_no_provenance_recorded_go_with_the_others_and_are_counted():
    old = scored_table([None] * 2 + [made()] * 4)
    assert "2 score(s) with no provenance recorded" in provenance.check_one(old, "blimp_filtered", "here")
    with pytest.raises(AnalysisError, match="here: the blimp_filtered scores were made 2 ways"):
        provenance.check_one(scored_table([made(ties="wrong")] + [made()] * 5), "blimp_filtered", "here")


def test_a_suite_is_found_by_what_it_is_whatever_its_folder_was_called():
    table = scored_table([made()] * 6, suite="blimp_original")
    assert provenance.suites_from(table, "blimp") == ["blimp_original"]
    assert provenance.suites_from(table, "supplement") == []
    legacy = scored_table([None] * 6).drop(columns=[provenance.column("blimp_filtered")])
    assert provenance.suites_from(legacy, "blimp") == ["blimp_filtered"]  # scored before: by its BabyLM name


def test_rescore_on_a_sweep_with_no_scores_is_one_line_and_nothing_is_written(tmp_path, capsys):
    make_finetuning_sweep(tmp_path)
    pairs = suite_folder(tmp_path / "pairs")
    before = sorted(p.name for p in (tmp_path / "rte-sweep").iterdir())
    assert main(["evaluate", "rte-sweep", "--storage", str(tmp_path), "--blimp", str(pairs), "--rescore"]) == 2
    err = [line for line in capsys.readouterr().err.splitlines() if line.strip()]
    assert len(err) == 1 and "--rescore" in err[0] and "holds no scores to score again" in err[0]
    assert sorted(p.name for p in (tmp_path / "rte-sweep").iterdir()) == before
