"""EWoK scoring (analysis/ewok.py) on the built-in generator's items and a tiny random model: the format, bad
input as counted one-line warnings, the context/target encoding (a newline as the utterance boundary), per-domain
accuracies and their macro average equal to a direct one-item-at-a-time computation, and the tie rule."""
import json

import numpy as np
import pytest
import torch

from analysis.blimp import BlimpError
from analysis.ewok import (Item, continuation_logprobs, encode_continuations, load_ewok, read_domain_file,
                           score_ewok)
from test_blimp import one_line, one_thread, random_checkpoint, write_lines  # noqa: F401  (fixtures)


def builtin_ewok(tiny_data):
    return tiny_data.parent / "corpus" / "ewok"


def item(context, target1, target2, **extra):
    return json.dumps({"Context1": context, "Target1": target1, "Target2": target2, **extra})


def test_reads_the_generators_items(tiny_data):
    folder = builtin_ewok(tiny_data)
    domains, warnings = load_ewok(folder)
    assert warnings == [] and list(domains) == ["agent-properties", "physical-relations", "spatial-relations"]
    for domain, items in domains.items():
        raw = [json.loads(line) for line in (folder / f"{domain}.jsonl").read_text(encoding="utf-8").splitlines()]
        assert len(items) == len(raw) == 100
        assert [(i.context, i.target1, i.target2, i.domain) for i in items] == \
            [(r["Context1"], r["Target1"], r["Target2"], r["Domain"]) for r in raw]
    limited, _ = load_ewok(folder, limit=7)
    assert all(len(items) == 7 for items in limited.values())


def test_the_domain_is_the_field_or_the_file_stem(tmp_path):
    write_lines(tmp_path / "spatial.jsonl", [item("a is on b .", "b is under a .", "a is under b ."),
                                             item("c is on d .", "d is under c .", "c is under d .",
                                                  Domain="physical")])
    write_lines(tmp_path / "more.jsonl", [item("", "x .", "y .", Domain="physical", item_id=7)])
    domains, warnings = load_ewok(tmp_path)
    assert warnings == []
    assert {d: [i.item_id for i in items] for d, items in domains.items()} == {"physical": ["7", "2"],
                                                                              "spatial": ["1"]}


def test_a_missing_field_is_a_counted_warning_or_an_error_when_strict(tmp_path):
    path = write_lines(tmp_path / "social.jsonl", [item("a .", "b .", "c ."),
                                                   json.dumps({"Context1": "a .", "Target1": "b ."}),
                                                   "not json", json.dumps({"Context1": 3, "Target1": "b .",
                                                                           "Target2": "c ."}),
                                                   item("a .", "b .", " ")])
    items, warnings = read_domain_file(path)
    assert len(items) == 1 and len(warnings) == 4
    assert one_line(warnings[0]) == f"{path}:2: missing field 'Target2'; line skipped"
    assert warnings[1].startswith(f"{path}:3: malformed JSON")
    assert warnings[2] == f"{path}:4: field 'Context1' is not a string (int); line skipped"
    assert warnings[3] == f"{path}:5: field 'Target2' is empty; line skipped"
    domains, all_warnings = load_ewok(tmp_path)
    assert len(domains["social"]) == 1 and all_warnings == warnings
    with pytest.raises(BlimpError) as e:
        load_ewok(tmp_path, strict=True)
    assert one_line(str(e.value)) == f"{path}:2: missing field 'Target2'"
    (tmp_path / "empty.jsonl").write_text("")
    _, warnings = load_ewok(tmp_path)
    assert warnings[0] == f"{tmp_path / 'empty.jsonl'}: no items; file skipped"
    for bad in (tmp_path / "nope", tmp_path / "social.jsonl"):
        with pytest.raises(BlimpError, match="no such folder"):
            load_ewok(bad)


def test_a_target_continues_its_context_and_a_newline_is_the_boundary(random_checkpoint):
    from analysis.blimp import load_model

    _, tok = load_model(random_checkpoint, device="cpu")
    enc = lambda text: tok.encode(text, add_special_tokens=False)
    bos, eos = tok.bos_token_id, tok.eos_token_id
    pairs = [("the ball is in the box .", "the box holds the ball ."),
             ("A: where is it?\nB: in the box .", "it is there ."),
             ("A: where is it?\n", "B: here ."),
             ("", "the box holds the ball ."),
             ("the ball is in the box .  ", "the box holds it .\nyes .")]
    ids, starts = encode_continuations(tok, pairs)
    assert ids[0] == [bos] + enc("the ball is in the box .") + enc(" the box holds the ball .")
    assert starts[0] == 1 + len(enc("the ball is in the box ."))
    assert ids[1] == [bos] + enc("A: where is it?") + [eos, bos] + enc("B: in the box .") + enc(" it is there .")
    assert ids[2] == [bos] + enc("A: where is it?") + [eos, bos] + enc("B: here .")  # a new utterance: no space
    assert starts[2] == len(ids[2]) - len(enc("B: here ."))
    assert ids[3] == [bos] + enc("the box holds the ball .") and starts[3] == 1
    assert ids[4] == [bos] + enc("the ball is in the box .") + enc(" the box holds it .") + [eos, bos] + enc("yes .")
    old, _ = encode_continuations(tok, pairs[1:2], stream="bos")
    assert old[0] == [bos] + enc("A: where is it?") + [bos] + enc("B: in the box .") + enc(" it is there .")


def direct_logprob(model, tok, context, target):
    """log P(target | context) by hand: one forward pass of <s> context target, the target's tokens summed."""
    context_ids = [tok.bos_token_id] + tok.encode(context, add_special_tokens=False)
    target_ids = tok.encode(" " + target, add_special_tokens=False)
    ids = context_ids + target_ids
    with torch.inference_mode():
        logp = torch.log_softmax(model(input_ids=torch.tensor([ids])).logits[0].float(), -1)
    return sum(logp[t - 1, ids[t]].item() for t in range(len(context_ids), len(ids)))


def test_accuracies_match_a_direct_computation(tiny_data, random_checkpoint):
    from analysis.blimp import load_model

    model, tok = load_model(random_checkpoint, device="cpu")
    domains, _ = load_ewok(builtin_ewok(tiny_data), limit=25)
    result = score_ewok(model, tok, domains, batch_size=8)
    expected, direct = {}, []
    for domain, items in domains.items():
        right = []
        for i in items:
            one, two = direct_logprob(model, tok, i.context, i.target1), direct_logprob(model, tok, i.context,
                                                                                        i.target2)
            right.append(one >= two)
            direct += [one, two]
        expected[domain] = sum(right) / len(right)
    batched = continuation_logprobs(model, tok, [(i.context, t) for items in domains.values() for i in items
                                                 for t in (i.target1, i.target2)], batch_size=8)
    print("EWoK, random tiny model:", {d: round(a, 3) for d, a in result["paradigms"].items()},
          f"max abs diff {np.max(np.abs(batched - direct)):.2e}")
    assert np.max(np.abs(batched - np.array(direct))) < 1e-4
    assert result["paradigms"] == pytest.approx(expected, abs=0)
    assert result["score"] == pytest.approx(np.mean(list(expected.values())))  # the macro average
    assert result["items"] == 75 and result["counts"] == {d: 25 for d in domains}
    assert (result["ties_rule"], result["precision"]) == ("right", "float32")


def test_a_tie_counts_right_by_default_and_wrong_when_asked(random_checkpoint):
    from analysis.blimp import load_model

    model, tok = load_model(random_checkpoint, device="cpu")
    domains = {"same": [Item("the ball is red .", "it is red .", "it is red .", "same", "0")]}
    assert score_ewok(model, tok, domains)["paradigms"] == {"same": 1.0}
    assert score_ewok(model, tok, domains, ties="wrong")["paradigms"] == {"same": 0.0}
    assert score_ewok(model, tok, domains)["ties"] == 1
    with pytest.raises(BlimpError, match="--ties"):
        score_ewok(model, tok, domains, ties="never")
