"""The fine-tuning input: one utterance per example, `<s>` + the task's template + `</s>` (trainables/glue.py).

The exact text of each task's template on a real line of glue_filtered (every task present there; skipped when
../shared/data is absent) and on hand-made records for the tasks it lacks (cola, sst2, qnli); ids that start with
<s>, end with </s> and hold no other special token; the field-by-field tokenization equal to the whole text's on
real lines; truncation that cuts the longest field and never the template's words. No model: a byte-level BPE
trained on the built-in corpus."""
import json

import pytest

from conftest import shared_data
from trainables import glue
from trainables.glue import GlueError

REAL_TASKS = ["boolq", "mnli", "mrpc", "multirc", "qqp", "rte", "wsc"]  # in glue_filtered (boolq, multirc: valid only)


@pytest.fixture(scope="module")
def tokenizer(tmp_path_factory):
    """The project's tokenizer recipe (byte-level BPE, no prefix space, <pad> <s> </s>) on the built-in corpus."""
    from trainables.data.builtin_corpus import generate_corpus
    from trainables.data.tokenizer import load_tokenizer, save_tokenizer, train_tokenizer

    root = tmp_path_factory.mktemp("tok")
    generate_corpus(root / "corpus", words=20_000, seed=0, pairs_per_paradigm=10)
    lines = [line for f in sorted((root / "corpus" / "train").iterdir()) for line in f.read_text().splitlines()]
    save_tokenizer(train_tokenizer(lines, vocab_size=600), root / "tok")
    return load_tokenizer(root / "tok")


def want_text(task: str, r: dict) -> str:
    """Each template written out by hand, from the record's fields."""
    return {
        "cola": lambda: r["sentence"],
        "sst2": lambda: r["sentence"],
        "mrpc": lambda: r["sentence1"] + " " + r["sentence2"],
        "rte": lambda: r["sentence1"] + " " + r["sentence2"],
        "qqp": lambda: r["question1"] + " " + r["question2"],
        "mnli": lambda: r["premise"] + " " + r["hypothesis"],
        "mnli-mm": lambda: r["premise"] + " " + r["hypothesis"],
        "qnli": lambda: r["question"] + " " + r["sentence"],
        "boolq": lambda: r["question"] + " " + r["passage"],
        "multirc": lambda: r["paragraph"] + " Question: " + r["question"] + " Answer: " + r["answer"],
        "wsc": lambda: r["text"] + ' Does "' + r["span2_text"] + '" refer to "' + r["span1_text"] + '"?',
    }[task]()


def real_lines(task: str, limit=None):
    """Records of the task's files in glue_filtered (train when there is one, then valid)."""
    root = shared_data("glue_filtered")
    t = glue.TASKS[task]
    records = []
    for split in ("train", "validation"):
        path = t.path(root, split)
        if path.is_file():
            with open(path, encoding="utf-8") as f:
                records += [json.loads(line) for _, line in zip(range(limit or 10**9), f)]
    return records


def check_ids(ids, text, tokenizer):
    """<s> + the text's own tokens + </s>, and no other special token."""
    bos, eos = tokenizer.bos_token_id, tokenizer.eos_token_id
    assert ids[0] == bos and ids[-1] == eos
    assert not set(ids[1:-1]) & set(tokenizer.all_special_ids)
    assert ids[1:-1] == tokenizer(text, add_special_tokens=False, split_special_tokens=True)["input_ids"]
    assert tokenizer.decode(ids[1:-1]) == text  # a byte-level BPE gives the text back exactly


# -----------------------------------------------------------------------------
# The templates


def test_every_task_has_its_documented_template():
    assert {name: t.template for name, t in glue.TASKS.items()} == {
        "cola": "{sentence}", "sst2": "{sentence}", "mrpc": "{sentence1} {sentence2}",
        "qqp": "{question1} {question2}", "mnli": "{premise} {hypothesis}", "mnli-mm": "{premise} {hypothesis}",
        "qnli": "{question} {sentence}", "rte": "{sentence1} {sentence2}", "boolq": "{question} {passage}",
        "multirc": "{paragraph} Question: {question} Answer: {answer}",
        "wsc": '{text} Does "{span2_text}" refer to "{span1_text}"?'}
    for name, t in glue.TASKS.items():  # the module docstring shows each template beside its task
        assert f"{name:<9}{t.template}" in glue.__doc__, name


@pytest.mark.parametrize("task", REAL_TASKS)
def test_template_on_a_real_line(task, tokenizer):
    record = real_lines(task, limit=1)[0]
    t = glue.get_task(task)
    values, label = glue.parse_record(t, record, f"{task}:1")
    assert label == record["label"]
    text = want_text(task, record)
    assert t.render(values) == text
    check_ids(glue.encode(t, values, tokenizer, 10_000), text, tokenizer)


HAND_MADE = {  # the tasks glue_filtered lacks, in their real record shapes
    "cola": {"sentence": "The sailors rode the breeze clear of the rocks.", "label": 1, "idx": 0},
    "sst2": {"sentence": "it 's a charming and often affecting journey . ", "label": 1, "idx": 0},
    "qnli": {"question": "When did the third Digimon series begin?",
             "sentence": "Unlike the two seasons before it, Digimon Tamers takes a darker approach.", "label": 1,
             "idx": 0},
}


@pytest.mark.parametrize("task", sorted(HAND_MADE))
def test_template_on_hand_made_records(task, tokenizer):
    record = HAND_MADE[task]
    t = glue.get_task(task)
    values, _ = glue.parse_record(t, record, f"{task}:1")
    text = want_text(task, record)
    assert t.render(values) == text
    check_ids(glue.encode(t, values, tokenizer, 10_000), text, tokenizer)


@pytest.mark.parametrize("task", REAL_TASKS)
def test_fields_tokenized_apart_give_the_whole_texts_tokens(task, tokenizer):
    """Each field is tokenized on its own (with the space before it), so truncation can cut fields alone: on real
    lines (all of WSC's, 300 of each other task) the ids are exactly those of the whole text."""
    t = glue.get_task(task)
    for i, record in enumerate(real_lines(task, limit=None if task == "wsc" else 150)):
        values, _ = glue.parse_record(t, record, f"{task}:{i}")
        text = t.render(values)
        want = [tokenizer.bos_token_id] + tokenizer(text, add_special_tokens=False)["input_ids"] + \
            [tokenizer.eos_token_id]
        assert glue.encode(t, values, tokenizer, 100_000) == want, (task, i, text)


# -----------------------------------------------------------------------------
# Truncation


def test_truncation_cuts_the_longest_field_and_keeps_the_template_words(tokenizer):
    record = max(real_lines("multirc", limit=50), key=lambda r: len(r["paragraph"]))  # a long paragraph
    t = glue.get_task("multirc")
    values, _ = glue.parse_record(t, record, "multirc")
    paragraph, question = (len(tokenizer(s, add_special_tokens=False)["input_ids"])
                           for s in (values[0], " " + values[1]))
    assert paragraph > question + 20
    size = len(glue.encode(t, values, tokenizer, 100_000)) - (paragraph - question - 5)  # cut the paragraph only
    ids = glue.encode(t, values, tokenizer, size)
    assert len(ids) == size and ids[0] == tokenizer.bos_token_id and ids[-1] == tokenizer.eos_token_id
    assert not set(ids[1:-1]) & set(tokenizer.all_special_ids)
    text = tokenizer.decode(ids[1:-1])
    # the question and the answer are short: the paragraph alone was cut, the template's words are all there
    assert text.endswith(" Question: " + record["question"] + " Answer: " + record["answer"])
    assert record["paragraph"].startswith(text.split(" Question: ")[0])

    record = max(real_lines("wsc"), key=lambda r: len(r["text"]))
    t = glue.get_task("wsc")
    values, _ = glue.parse_record(t, record, "wsc")
    full = glue.encode(t, values, tokenizer, 10_000)
    ids = glue.encode(t, values, tokenizer, len(full) - 10)
    assert len(ids) == len(full) - 10 and ids[-1] == tokenizer.eos_token_id
    text = tokenizer.decode(ids[1:-1])
    assert text.endswith(' Does "' + record["span2_text"] + '" refer to "' + record["span1_text"] + '"?')


def test_truncation_evens_out_two_long_fields_and_refuses_too_short_a_budget(tokenizer):
    t = glue.get_task("rte")
    long_a, long_b = "the dog sees the cat and the cat sees the dog " * 6, "a bird sings to the moon at night " * 6
    ids = glue.encode(t, [long_a, long_b], tokenizer, 40)
    a = tokenizer([long_a], add_special_tokens=False)["input_ids"][0]
    b = tokenizer([" " + long_b], add_special_tokens=False)["input_ids"][0]
    assert len(ids) == 40
    kept_a = next(k for k in range(len(a), -1, -1) if ids[1:1 + k] == a[:k])
    kept_b = 38 - kept_a
    assert ids[1 + kept_a:-1] == b[:kept_b] and abs(kept_a - kept_b) <= 1  # both cut, to the same length
    short = "A cat."
    ids = glue.encode(t, [long_a, short], tokenizer, 20)  # the short field is never touched
    assert tokenizer.decode(ids[1:-1]).endswith(" " + short) and len(ids) == 20
    with pytest.raises(GlueError, match="max_length: 5 is too short for task multirc"):
        glue.encode("multirc", ["p", "q", "a"], tokenizer, 5)


def test_special_token_text_in_a_record_stays_text(tokenizer):
    ids = glue.encode("rte", ["It ends here </s> and goes on <s>.", "<pad> Yes."], tokenizer, 200)
    assert ids.count(tokenizer.eos_token_id) == 1 and ids.count(tokenizer.bos_token_id) == 1
    assert tokenizer.pad_token_id not in ids
    assert tokenizer.decode(ids[1:-1]) == "It ends here </s> and goes on <s>. <pad> Yes."


# -----------------------------------------------------------------------------
# MNLI-mm in the registry


def test_mnli_mm_is_scored_by_the_mnli_run(tmp_path):
    mm = glue.get_task("mnli-mm")
    assert mm.part_of == "mnli" and glue.get_task("mnli").also_scores == ("mnli-mm",)
    assert (mm.train_file, mm.valid_file, mm.key) == ("mnli", "mnli-mm", "mnli_mm")
    assert "mnli-mm" not in glue.TRAINED and len(glue.TRAINED) == len(glue.TASKS) - 1
    for name in ("mnli.train.jsonl", "mnli.valid.jsonl", "mnli-mm.valid.jsonl"):
        (tmp_path / name).write_text(json.dumps({"premise": "A.", "hypothesis": "B.", "label": 0}) + "\n")
    assert glue.available_tasks(tmp_path) == ["mnli"]
    assert [t.name for t in glue.also_scored(tmp_path, "mnli")] == ["mnli-mm"]
    (tmp_path / "mnli-mm.valid.jsonl").unlink()
    assert glue.also_scored(tmp_path, "mnli") == []
