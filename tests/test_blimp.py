"""Zero-shot minimal-pair scoring (analysis/blimp.py) on real files and real tiny models: the formats of
BLiMP, BabyLM's filtered sets and supplement and the built-in pairs; batched scoring equal to the
one-sentence reference; bad input as one-line messages; a trained tiny model above chance."""
import json

import numpy as np
import pytest
import torch

from analysis.blimp import (CONVENTION, BlimpError, Pair, load_model, load_suite, read_paradigm, score_checkpoint,
                            score_suite, sentence_logprobs, sentence_logprobs_reference)
from conftest import TINY_TRAIN, shared_data

SUPPLEMENT_TASKS = ["hypernym", "qa_congruence_easy", "qa_congruence_tricky", "subject_aux_inversion", "turn_taking"]


@pytest.fixture(autouse=True)
def one_thread():
    # one thread, as TINY_TRAIN: tiny models gain nothing from more, and on a busy machine a second thread
    # makes every forward pass wait on its barrier (seen here: 100x slower)
    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(previous)


def write_lines(path, lines):
    path.write_text("".join(line + "\n" for line in lines), encoding="utf-8")
    return path


def record(good, bad, **extra):
    return json.dumps({"sentence_good": good, "sentence_bad": bad, **extra})


@pytest.fixture(scope="module")
def random_checkpoint(tiny_data, tmp_path_factory):
    """A randomly initialised tiny Llama with the prepared tokenizer, saved as a Hugging Face folder."""
    from transformers import LlamaConfig, LlamaForCausalLM

    from trainables.data.tokenizer import load_tokenizer

    tok = load_tokenizer(tiny_data)
    torch.manual_seed(0)
    config = LlamaConfig(vocab_size=len(tok), hidden_size=64, num_hidden_layers=2, num_attention_heads=4,
                         num_key_value_heads=2, intermediate_size=128, max_position_embeddings=256,
                         bos_token_id=1, eos_token_id=2, pad_token_id=0)
    folder = tmp_path_factory.mktemp("random_ck")
    LlamaForCausalLM(config).save_pretrained(folder)
    tok.save_pretrained(folder)
    return folder


def builtin_blimp(tiny_data):
    return tiny_data.parent / "corpus" / "blimp"


# -----------------------------------------------------------------------------
# formats


def test_reads_blimp_filtered():
    folder = shared_data("blimp_filtered")
    files = sorted(folder.glob("*.jsonl"))
    lines = sum(1 for path in files for line in path.read_text(encoding="utf-8").splitlines() if line.strip())
    suite, warnings = load_suite(folder)
    assert warnings == []
    assert len(suite) == 67 == len(files)
    assert list(suite) == sorted(p.stem for p in files)
    assert sum(len(pairs) for pairs in suite.values()) == lines == 59_875
    first = json.loads(files[0].read_text(encoding="utf-8").splitlines()[0])
    pair = suite[files[0].stem][0]
    assert (pair.good, pair.bad, pair.pair_id) == (first["sentence_good"], first["sentence_bad"],
                                                  str(first["pair_id"]))
    assert pair.paradigm == first["UID"] == files[0].stem
    limited, _ = load_suite(folder, limit=5)
    assert all(len(pairs) == 5 for pairs in limited.values())


def test_reads_supplement_with_newlines_intact():
    folder = shared_data("supplement_filtered")
    suite, warnings = load_suite(folder)
    assert warnings == [] and list(suite) == SUPPLEMENT_TASKS
    path = folder / "qa_congruence_easy.jsonl"
    raw = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]
    assert len(suite["qa_congruence_easy"]) == len(raw)
    n = next(i for i, r in enumerate(raw) if "\n" in r["sentence_good"])
    pair = suite["qa_congruence_easy"][n]
    assert "\n" in pair.good and pair.good == raw[n]["sentence_good"] and pair.bad == raw[n]["sentence_bad"]
    assert pair.pair_id == str(n + 1)  # no pair id in the supplement: the line number


def test_reads_original_blimp_pairID(tmp_path):
    path = write_lines(tmp_path / "anaphor_gender_agreement.jsonl", [
        record("Katherine can't help herself.", "Katherine can't help himself.", field="morphology",
               linguistics_term="anaphor_agreement", UID="anaphor_gender_agreement", simple_LM_method=True,
               one_prefix_method=True, two_prefix_method=False, lexically_identical=False, pairID="0"),
        "",
        record("Many teenagers were helping themselves.", "Many teenagers were helping herself.",
               UID="anaphor_gender_agreement", pairID="1"),
    ])
    pairs, warnings = read_paradigm(path)
    assert warnings == []
    assert pairs == [Pair("Katherine can't help herself.", "Katherine can't help himself.",
                          "anaphor_gender_agreement", "0"),
                     Pair("Many teenagers were helping themselves.", "Many teenagers were helping herself.",
                          "anaphor_gender_agreement", "1")]


def test_reads_builtin_pairs(tiny_data):
    folder = builtin_blimp(tiny_data)
    suite, warnings = load_suite(folder)
    assert warnings == [] and len(suite) >= 10
    for uid, pairs in suite.items():
        raw = [json.loads(line) for line in (folder / f"{uid}.jsonl").read_text(encoding="utf-8").splitlines()]
        assert len(pairs) == len(raw) == 200
        assert {r["UID"] for r in raw} == {uid}
        assert [p.pair_id for p in pairs] == [str(r["pair_id"]) for r in raw]
        assert [(p.good, p.bad) for p in pairs] == [(r["sentence_good"], r["sentence_bad"]) for r in raw]


# -----------------------------------------------------------------------------
# scoring


def test_batched_equals_reference(tiny_data, random_checkpoint):
    model, tok = load_model(random_checkpoint, device="cpu")
    suite, _ = load_suite(builtin_blimp(tiny_data), limit=3)
    sentences = [s for pairs in suite.values() for p in pairs for s in (p.good, p.bad)][:40]
    sentences += ["What did you get?\nI got a chair.", "A: Who cleaned?\nB: Sarah.", "Hi", "the", "x",
                  " ".join(["the dog sees the cat and the cat sees the dog ."] * 5), "ok .\n", sentences[0]]
    lengths = {len(tok.encode(s, add_special_tokens=False)) for s in sentences}
    assert min(lengths) == 1 and max(lengths) > 40  # mixed lengths: batches of 7 must pad
    reference = sentence_logprobs_reference(model, tok, sentences)
    batched = sentence_logprobs(model, tok, sentences, batch_size=7)
    diff = np.max(np.abs(batched - reference))
    print(f"batched vs reference: {len(sentences)} sentences, max abs diff {diff:.2e}")
    assert batched.dtype == np.float64 and batched.shape == (len(sentences),)
    assert diff < 1e-4
    assert np.all(reference < 0) and len(set(np.round(reference, 3))) > 40  # real, distinct numbers
    assert batched[0] == pytest.approx(batched[-1], abs=1e-9)  # the same sentence twice
    # BOS is prepended: one token's log-probability is log p(token | <s>)
    with torch.no_grad():
        first = torch.log_softmax(model(input_ids=torch.tensor([[1]])).logits[0, 0], -1)
    assert reference[sentences.index("x")] == pytest.approx(first[tok.encode("x")[0]].item(), abs=1e-5)
    assert np.max(np.abs(sentence_logprobs(model, tok, sentences, batch_size=64) - reference)) < 1e-4
    assert sentence_logprobs(model, tok, []).shape == (0,)


def test_suite_score_is_mean_over_paradigms_and_ties_are_wrong(tiny_data, random_checkpoint):
    model, tok = load_model(random_checkpoint, device="cpu")
    s = ["the dog runs .", "the dog run .", "the dogs run .", "the dogs runs .", "a cat sleeps .",
         "a cat sleep ."]
    logp = sentence_logprobs(model, tok, s)
    pairs = [Pair(s[0], s[1], "big", "0"), Pair(s[2], s[3], "big", "1"), Pair(s[4], s[5], "big", "2"),
             Pair(s[1], s[0], "big", "3")]
    right = [logp[0] > logp[1], logp[2] > logp[3], logp[4] > logp[5], logp[1] > logp[0]]
    tie = Pair("the same sentence .", "the same sentence .", "tie", "0")
    result = score_suite(model, tok, {"big": pairs, "tie": [tie]}, batch_size=2)
    assert result["paradigms"] == {"big": pytest.approx(sum(right) / 4), "tie": 0.0}
    assert result["score"] == pytest.approx(sum(right) / 4 / 2)  # not the pooled sum(right) / 5
    assert result["pooled"] == pytest.approx(sum(right) / 5)
    assert result["pairs"] == 5 and result["ties"] == 1 and result["convention"] == CONVENTION


@pytest.mark.slow
def test_trained_checkpoint_scores_above_chance(tiny_data, tmp_path):
    from trainables.pretrain import pretrain
    from trainables.reporting import run_local

    # 6 epochs of the 30k-word corpus (batch 16, lr 4e-3, ~35 s on 2 cores): 0.68 on all the pairs;
    # TINY_TRAIN's 3 epochs at batch 8 reach only 0.63
    config = dict(TINY_TRAIN, data=str(tiny_data), num_epochs=6, budget_step=6, batch_size=16, lr=4e-3)
    result = run_local(pretrain, config, tmp_path / "ck")
    checkpoint = result.checkpoints[-1] / "hf"
    blimp = builtin_blimp(tiny_data)
    scores = score_checkpoint(checkpoint, blimp, supplement_dir=blimp, limit=100, device="cpu")
    uids = sorted(p.stem for p in blimp.glob("*.jsonl"))
    print("trained tiny model:", {k: round(v, 3) for k, v in scores.items() if isinstance(v, float)})
    assert scores["blimp_filtered"] > 0.6
    assert scores["blimp_filtered"] == pytest.approx(np.mean([scores[f"blimp/{u}"] for u in uids]))
    assert scores["blimp_supplement"] == scores["blimp_filtered"]  # the same files given as the supplement
    assert sorted(k for k in scores if k.startswith("supplement/")) == [f"supplement/{u}" for u in uids]
    assert scores["warnings"] == []
    alone = score_checkpoint(checkpoint, blimp, limit=1)  # the columns without a supplement
    assert alone["blimp_supplement"] is None and not any(k.startswith("supplement/") for k in alone)


# -----------------------------------------------------------------------------
# bad input: one line, naming the file (and line), never a traceback


def one_line(message):
    assert "\n" not in message and "Traceback" not in message, message
    return message


def test_malformed_line_is_skipped_and_counted_or_stops_when_strict(tmp_path):
    path = write_lines(tmp_path / "p.jsonl", [record("a b .", "b a .", pair_id=0), '{"sentence_good": "c d .", ',
                                              record("e f .", "f e .", pair_id=2), "[1, 2]"])
    pairs, warnings = read_paradigm(path)
    assert [p.pair_id for p in pairs] == ["0", "2"]
    assert len(warnings) == 2
    assert one_line(warnings[0]).startswith(f"{path}:2: malformed JSON")
    assert one_line(warnings[1]).startswith(f"{path}:4: not a JSON object")
    suite, suite_warnings = load_suite(tmp_path)
    assert len(suite["p"]) == 2 and suite_warnings == warnings
    with pytest.raises(BlimpError) as e:
        read_paradigm(path, strict=True)
    assert one_line(str(e.value)).startswith(f"{path}:2: malformed JSON")
    with pytest.raises(BlimpError, match=":2: malformed"):
        load_suite(tmp_path, strict=True)


def test_missing_or_wrong_fields(tmp_path):
    path = write_lines(tmp_path / "p.jsonl", [json.dumps({"sentence_good": "a b ."}),
                                              json.dumps({"sentence_good": "a b .", "sentence_bad": None}),
                                              json.dumps({"sentence_good": " ", "sentence_bad": "b a ."}),
                                              record("c d .", "d c .")])
    pairs, warnings = read_paradigm(path)
    assert [(p.good, p.pair_id) for p in pairs] == [("c d .", "4")]
    assert [one_line(w).split(": ", 1)[1] for w in warnings] == [
        "missing field 'sentence_bad'; line skipped", "field 'sentence_bad' is not a string (NoneType); line skipped",
        "field 'sentence_good' is empty; line skipped"]
    assert warnings[0].startswith(f"{path}:1:")
    with pytest.raises(BlimpError, match=r"p\.jsonl:1: missing field 'sentence_bad'"):
        read_paradigm(path, strict=True)


def test_empty_paradigm_is_reported_and_skipped(tmp_path):
    write_lines(tmp_path / "good.jsonl", [record("a b .", "b a .", pair_id=0)])
    (tmp_path / "empty.jsonl").write_text("")
    write_lines(tmp_path / "broken.jsonl", ["{not json"])
    suite, warnings = load_suite(tmp_path)
    assert list(suite) == ["good"]
    assert [one_line(w) for w in warnings] == [
        f"{tmp_path / 'broken.jsonl'}:1: malformed JSON (Expecting property name enclosed in double quotes, "
        f"column 2); line skipped",
        f"{tmp_path / 'broken.jsonl'}: no pairs (every line was skipped); paradigm skipped",
        f"{tmp_path / 'empty.jsonl'}: no pairs; paradigm skipped"]
    (tmp_path / "broken.jsonl").unlink()
    with pytest.raises(BlimpError, match=r"empty\.jsonl: no pairs"):
        load_suite(tmp_path, strict=True)
    with pytest.raises(BlimpError, match="has no pairs"):
        score_suite(None, None, {"good": suite["good"], "empty": []})


def test_missing_folders_and_files(tmp_path, random_checkpoint):
    for call in (lambda: load_suite(tmp_path / "nope"), lambda: load_model(tmp_path / "nope"),
                 lambda: read_paradigm(tmp_path / "nope.jsonl"),
                 lambda: score_checkpoint(random_checkpoint, tmp_path / "nope")):
        with pytest.raises(BlimpError) as e:
            call()
        assert "nope" in one_line(str(e.value))
    (tmp_path / "notes.txt").write_text("no pairs here")
    with pytest.raises(BlimpError, match=r"no \*\.jsonl files"):
        load_suite(tmp_path)
    with pytest.raises(BlimpError, match="no config.json"):
        load_model(tmp_path)


def test_checkpoint_without_bos_is_refused(tiny_data, random_checkpoint, tmp_path):
    import shutil

    from transformers import PreTrainedTokenizerFast

    folder = tmp_path / "no_bos"
    shutil.copytree(random_checkpoint, folder)
    for name in ("tokenizer.json", "tokenizer_config.json", "special_tokens_map.json"):
        (folder / name).unlink(missing_ok=True)
    PreTrainedTokenizerFast(tokenizer_file=str(tiny_data / "tokenizer.json"), bos_token=None, eos_token="</s>",
                            pad_token="<pad>").save_pretrained(folder)
    with pytest.raises(BlimpError) as e:
        load_model(folder)
    assert one_line(str(e.value)) == (f"{folder}: the tokenizer has no BOS token; minimal-pair scoring prepends "
                                      f"one to every sentence")
    model, tok = load_model(random_checkpoint)
    tok.bos_token = None  # a tokenizer handed in directly is checked too
    with pytest.raises(BlimpError, match="no BOS token"):
        sentence_logprobs(model, tok, ["a b ."])
