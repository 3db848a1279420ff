"""Zero-shot minimal-pair scoring (analysis/pairs.py reads the pairs, analysis/blimp.py scores them) on real
files and real tiny models: the formats of BLiMP, BabyLM's filtered sets and supplement and the built-in pairs;
batched float32 scoring equal to the one-sentence reference, real lines with newlines included; a newline
encoded as the utterance boundary of the model's training stream; the tie rule; suite names; bad input as
one-line messages; a trained tiny model above chance."""
import json
import os

import numpy as np
import pytest
import torch

from analysis.blimp import (CONVENTION, NEWLINE_RULES, BlimpError, Pair, encode_sentences, load_model, load_suite,
                            read_paradigm, score_checkpoint, score_suite, sentence_logprobs,
                            sentence_logprobs_reference, stream_of, suite_name_of)
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
    # the same sentence twice, in batches padded to other lengths: equal up to float32 summation order
    assert batched[0] == pytest.approx(batched[-1], abs=1e-5)
    # BOS is prepended: one token's log-probability is log p(token | <s>)
    with torch.no_grad():
        first = torch.log_softmax(model(input_ids=torch.tensor([[1]])).logits[0, 0], -1)
    assert reference[sentences.index("x")] == pytest.approx(first[tok.encode("x")[0]].item(), abs=1e-5)
    assert np.max(np.abs(sentence_logprobs(model, tok, sentences, batch_size=64) - reference)) < 1e-4
    assert sentence_logprobs(model, tok, []).shape == (0,)


def test_suite_score_is_mean_over_paradigms(tiny_data, random_checkpoint):
    model, tok = load_model(random_checkpoint, device="cpu")
    s = ["the dog runs .", "the dog run .", "the dogs run .", "the dogs runs .", "a cat sleeps .",
         "a cat sleep ."]
    logp = sentence_logprobs(model, tok, s)
    pairs = [Pair(s[0], s[1], "big", "0"), Pair(s[2], s[3], "big", "1"), Pair(s[4], s[5], "big", "2"),
             Pair(s[1], s[0], "big", "3")]
    right = [logp[0] > logp[1], logp[2] > logp[3], logp[4] > logp[5], logp[1] > logp[0]]
    small = Pair("a cat sleeps .", "a cat sleep .", "small", "0")
    result = score_suite(model, tok, {"big": pairs, "small": [small]}, batch_size=2)
    assert result["paradigms"] == {"big": pytest.approx(sum(right) / 4), "small": float(right[2])}
    assert result["counts"] == {"big": 4, "small": 1}
    assert result["score"] == pytest.approx((sum(right) / 4 + right[2]) / 2)  # not the pooled one
    assert result["pooled"] == pytest.approx((sum(right) + right[2]) / 5)
    assert result["pairs"] == 5 and result["ties"] == 0 and result["convention"] == CONVENTION
    assert (result["precision"], result["newline"]) == ("float32", "utterance boundary </s> <s>")


def test_a_tie_counts_right_by_default_and_wrong_when_asked(random_checkpoint):
    model, tok = load_model(random_checkpoint, device="cpu")
    tie = Pair("the same sentence .", "the same sentence .", "tie", "0")
    other = Pair("the dog runs .", "the dog run .", "other", "0")
    suite = {"tie": [tie], "other": [other]}
    default, right, wrong = (score_suite(model, tok, suite, **kw) for kw in ({}, {"ties": "right"},
                                                                             {"ties": "wrong"}))
    assert default == right and right["ties_rule"] == "right" and wrong["ties_rule"] == "wrong"
    assert right["paradigms"]["tie"] == 1.0 and wrong["paradigms"]["tie"] == 0.0
    assert right["ties"] == wrong["ties"] == 1
    assert right["paradigms"]["other"] == wrong["paradigms"]["other"]  # no tie there: the rules agree
    with pytest.raises(BlimpError) as e:
        score_suite(model, tok, suite, ties="maybe")
    assert one_line(str(e.value)).startswith("--ties: must be right")


def real_lines():
    """Sentences of BabyLM's filtered BLiMP (one pair of every paradigm) and its supplement, the dialogue
    sentences that hold a newline included."""
    blimp, _ = load_suite(shared_data("blimp_filtered"), limit=1)
    supplement, _ = load_suite(shared_data("supplement_filtered"))
    sentences = [s for pairs in blimp.values() for p in pairs for s in (p.good, p.bad)][::2]
    newline = [s for pairs in supplement.values() for p in pairs for s in (p.good, p.bad) if "\n" in s]
    plain = [p.good for pairs in supplement.values() for p in pairs[:3] if "\n" not in p.good]
    return sentences + newline[::12] + plain


def test_float32_batched_equals_reference_on_real_lines_with_newlines(random_checkpoint):
    sentences = real_lines()
    assert sum("\n" in s for s in sentences) >= 20 and len(sentences) > 60
    model, tok = load_model(random_checkpoint, device="cpu")
    assert next(model.parameters()).dtype == torch.float32
    scores = {}
    for stream in ("bos_eos", "bos"):
        reference = sentence_logprobs_reference(model, tok, sentences, stream=stream)
        batched = sentence_logprobs(model, tok, sentences, batch_size=16, stream=stream)
        diff = np.max(np.abs(batched - reference))
        print(f"{stream}: {len(sentences)} real sentences, max abs diff {diff:.2e}")
        assert diff < 1e-4
        scores[stream] = batched
    # the boundary is what differs between the streams, and only where there is a newline
    newline = np.array(["\n" in s for s in sentences])
    assert np.max(np.abs(scores["bos_eos"][~newline] - scores["bos"][~newline])) < 1e-4  # batched otherwise
    assert np.all(np.abs(scores["bos_eos"][newline] - scores["bos"][newline]) > 1e-3)


def checkpoint_with_meta(random_checkpoint, folder, meta=None, about=None):
    """A copy of the random checkpoint whose babysweep.json names a prepared folder holding `meta`."""
    import shutil

    shutil.copytree(random_checkpoint, folder)
    prepared = folder.parent / f"{folder.name}-prepared"
    prepared.mkdir()
    (prepared / "meta.json").write_text(json.dumps({"format": 1, **(meta or {})}))
    (folder / "babysweep.json").write_text(json.dumps({"data": str(prepared), "metrics": {}, **(about or {})}))
    return folder


def test_a_newline_is_the_utterance_boundary_of_the_models_training_stream(random_checkpoint, tmp_path):
    new = checkpoint_with_meta(random_checkpoint, tmp_path / "new", {"stream": "bos_eos"})
    old = checkpoint_with_meta(random_checkpoint, tmp_path / "old")  # prepared before "stream" was recorded
    said = checkpoint_with_meta(random_checkpoint, tmp_path / "said", about={"stream": "bos"})
    assert stream_of(new) == ("bos_eos", str(tmp_path / "new-prepared" / "meta.json"))
    assert stream_of(old) == ("bos", str(tmp_path / "old-prepared" / "meta.json"))
    assert stream_of(said) == ("bos", str(said / "babysweep.json"))
    assert stream_of(random_checkpoint)[0] == "bos_eos"  # a model from elsewhere: the new convention
    assert "no babysweep.json" in stream_of(random_checkpoint)[1]

    _, tok = load_model(random_checkpoint, device="cpu")
    u1, u2 = "David: Should you quit?", "Sarah: No, I shouldn't."
    e1, e2 = (tok.encode(u, add_special_tokens=False) for u in (u1, u2))
    bos, eos = tok.bos_token_id, tok.eos_token_id
    assert (bos, eos) == (1, 2)
    assert encode_sentences(tok, [f"{u1}\n{u2}"], "bos_eos") == [[bos] + e1 + [eos, bos] + e2]
    assert encode_sentences(tok, [f"{u1}\n{u2}"], "bos") == [[bos] + e1 + [bos] + e2]
    assert encode_sentences(tok, [f"{u1}\n\n{u2}\n", u1]) == [[bos] + e1 + [eos, bos] + e2, [bos] + e1]

    # score_checkpoint takes the convention from the checkpoint and records it
    pairs = tmp_path / "dialogue"
    pairs.mkdir()
    write_lines(pairs / "turns.jsonl", [record(f"{u1}\n{u2}", f"David: Should she quit?\n{u2}")])
    for checkpoint, stream in ((new, "bos_eos"), (old, "bos")):
        scores = score_checkpoint(checkpoint, pairs, device="cpu")
        assert scores["newline"] == NEWLINE_RULES[stream] and scores["ties_rule"] == "right"
        assert scores["precision"] == "float32"
        model, _ = load_model(checkpoint, device="cpu")
        good, bad = sentence_logprobs_reference(model, tok, [f"{u1}\n{u2}", f"David: Should she quit?\n{u2}"],
                                                stream=stream)
        assert scores["dialogue/turns"] == float(good >= bad)


def test_suite_names_follow_the_folder(tiny_data, random_checkpoint, tmp_path):
    for name in ("blimp_filtered", "supplement_filtered", "my_pairs", "blimp"):
        (tmp_path / name).mkdir()
        for paradigm in ("p1", "p2"):
            write_lines(tmp_path / name / f"{paradigm}.jsonl", [record("the dog runs .", "the dog run .")])
    assert suite_name_of(tmp_path / "blimp_filtered") == "blimp_filtered"
    assert suite_name_of(tmp_path / "supplement_filtered") == "blimp_supplement"
    assert suite_name_of(tmp_path / "my_pairs") == "my_pairs"
    assert suite_name_of(tmp_path / "my_pairs", "mine") == "mine"
    assert suite_name_of(builtin_blimp(tiny_data)) == "builtin_pairs"  # its corpus.json is beside it
    os.symlink(tmp_path / "my_pairs", tmp_path / "blimp_filtered_link")
    assert suite_name_of(tmp_path / "blimp_filtered_link") == "blimp_filtered_link"  # the name given
    for folder, name in ((tmp_path / "blimp", None), (tmp_path / "my_pairs", "a/b"), (tmp_path / "my_pairs", "ewok"),
                         (tmp_path / "my_pairs", "val_loss")):
        with pytest.raises(BlimpError, match="--suite-name") as e:
            suite_name_of(folder, name)
        one_line(str(e.value))

    model = load_model(random_checkpoint, device="cpu")
    columns = lambda scores: sorted(k for k, v in scores.items() if isinstance(v, float))
    scores = score_checkpoint(random_checkpoint, tmp_path / "blimp_filtered", tmp_path / "supplement_filtered",
                              loaded=model)
    assert columns(scores) == ["blimp/p1", "blimp/p2", "blimp_filtered", "blimp_supplement", "supplement/p1",
                               "supplement/p2"]
    scores = score_checkpoint(random_checkpoint, tmp_path / "my_pairs", loaded=model)
    assert columns(scores) == ["my_pairs", "my_pairs/p1", "my_pairs/p2"]
    assert scores["my_pairs"] == pytest.approx((scores["my_pairs/p1"] + scores["my_pairs/p2"]) / 2)
    scores = score_checkpoint(random_checkpoint, tmp_path / "my_pairs", loaded=model, suite_name="mine")
    assert columns(scores) == ["mine", "mine/p1", "mine/p2"]
    with pytest.raises(BlimpError, match="both the suite 'my_pairs'"):
        score_checkpoint(random_checkpoint, tmp_path / "my_pairs", tmp_path / "my_pairs", loaded=model)


@pytest.mark.slow
def test_trained_checkpoint_scores_above_chance(tiny_data, tmp_path):
    from trainables.pretrain import pretrain
    from trainables.reporting import run_local

    # 12 epochs of the 15k-word corpus (batch 16, lr 4e-3: as many steps as 6 epochs of 30k words, which reached
    # 0.68 on all the pairs; fewer steps reach only 0.63)
    config = dict(TINY_TRAIN, data=str(tiny_data), num_epochs=12, budget_step=12, batch_size=16, lr=4e-3)
    result = run_local(pretrain, config, tmp_path / "ck")
    checkpoint = result.checkpoints[-1] / "hf"
    blimp = builtin_blimp(tiny_data)
    os.symlink(blimp, tmp_path / "supplement_filtered")  # the same files, given as BabyLM's supplement
    scores = score_checkpoint(checkpoint, blimp, supplement_dir=tmp_path / "supplement_filtered", limit=100,
                              device="cpu")
    uids = sorted(p.stem for p in blimp.glob("*.jsonl"))
    print("trained tiny model:", {k: round(v, 3) for k, v in scores.items() if isinstance(v, float)})
    assert scores["builtin_pairs"] > 0.6
    assert scores["builtin_pairs"] == pytest.approx(np.mean([scores[f"builtin_pairs/{u}"] for u in uids]))
    assert scores["blimp_supplement"] == scores["builtin_pairs"]
    assert sorted(k for k in scores if k.startswith("supplement/")) == [f"supplement/{u}" for u in uids]
    # no line skipped; a rare pair longer than the tiny model's 32 positions is scored all the same, and said
    assert all("longer than the model's 32 positions" in w for w in scores["warnings"])
    assert scores["newline"] == "utterance boundary </s> <s>"
    alone = score_checkpoint(checkpoint, blimp, limit=1)  # the columns without a supplement
    assert "blimp_supplement" not in alone and not any(k.startswith("supplement/") for k in alone)


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
