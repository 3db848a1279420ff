"""Zero-shot EWoK scoring (Elements of World Knowledge, in BabyLM's format), on analysis/blimp.py's scorer.

Format (BabyLM's EWoK folder): a folder of `*.jsonl` files, one file per domain, one JSON object a line with at
least `Context1`, `Target1` and `Target2` (strings) and optionally `Domain` (else the file's stem). Other keys
(Context2, ConceptA, TargetDiff, ...) are kept out of the way. An item is right when

    log P(Target1 | Context1) >= log P(Target2 | Context1)      (or > with ties="wrong")

where the context is encoded `<s>` + its tokens and the target is its continuation: " " + the target, of which
only the target's tokens are scored (lm-eval's target delimiter " "; the context's own log-probability is the
same for both targets and cancels). Trailing spaces of the context are dropped (the delimiter is the one space).
A line break of a context or a target is an utterance boundary, as in analysis/blimp.py (`</s> <s>` for a model
trained on `<s> utterance </s>` streams, `<s>` for the older `<s> utterance` ones: `blimp.stream_of`); a context
that ends with a line break (or is empty) puts the target at the start of a new utterance, without the space.

A domain's accuracy is the fraction of its items that are right; the suite's score is the MACRO AVERAGE over the
domains (every domain weighs the same), as BLiMP's suite score is over paradigms. The results table has it as
the column `ewok`, with `ewok/<domain>` per domain. Ties, float32 and the other conventions are blimp.py's and
every result states them (`blimp.conventions`).

Bad input as for BLiMP: a line that is not a JSON object or lacks a field is a counted warning "file:line:
missing field 'Target2'; line skipped" (a BlimpError with `strict`); an empty file is reported and skipped; a
missing folder or one without *.jsonl files is a BlimpError. Everything is read before a model is loaded.

The project ships no EWoK data (its licence forbids plain-text redistribution); `babysweep data generate` writes
EWoK-format items made from the built-in corpus's lexicon to `<out>/ewok/<domain>.jsonl`.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .blimp import (DEFAULT_STREAM, DEFAULT_TIES, BlimpError, SuiteInput, _logprobs_of_ids, _stderr_progress,
                    accuracies, bos_id, boundary_ids, check_fields, check_limit, check_ties, conventions,
                    is_right, join_lines, jsonl_files, read_file_of, read_jsonl, tokenize, utterances)

SUITE = "ewok"
FIELDS = ("Context1", "Target1", "Target2")
TARGET_DELIMITER = " "  # lm-eval's, between a context and its continuation


@dataclass
class Item:
    context: str
    target1: str  # the right continuation
    target2: str
    domain: str
    item_id: str


def _item_of(record, stem: str, lineno: int) -> tuple[Item | None, str | None]:
    problem = check_fields(record, FIELDS, may_be_empty=("Context1",))
    if problem:
        return None, problem
    domain = record.get("Domain")
    if domain is not None and (not isinstance(domain, str) or not domain.strip() or "/" in domain):
        return None, f"field 'Domain' is not a domain name ({domain!r})"
    return Item(record["Context1"], record["Target1"], record["Target2"], (domain or stem).strip(),
                str(record.get("item_id", record.get("ItemId", lineno)))), None


def read_domain_file(path, strict=False) -> tuple[list[Item], list[str]]:
    """The items of one jsonl file and the warnings ("file:line: problem; line skipped") for the lines skipped
    (with `strict`, the first bad line raises BlimpError instead)."""
    stem = Path(path).stem
    return read_jsonl(path, lambda record, lineno: _item_of(record, stem, lineno), strict)


def load_ewok(folder, strict=False, limit=None) -> tuple[dict[str, list[Item]], list[str]]:
    """{domain: items} for every *.jsonl file of `folder`, domains sorted by name, and the warnings. `limit`:
    the first `limit` items of each domain. An empty file is a warning and is left out (a BlimpError with
    `strict`); a missing folder, one without *.jsonl files, or one without any item is a BlimpError."""
    folder = Path(folder)
    files = jsonl_files(folder, "EWoK items per domain")
    check_limit(limit, "items per domain")
    domains, warnings = {}, []
    for path in files:
        items, w = read_file_of(path, read_domain_file, strict, "items", "file")
        warnings += w
        for item in items:
            domains.setdefault(item.domain, []).append(item)
    if not domains:
        raise BlimpError(f"{folder}: no domain has any items")
    if limit is not None:
        domains = {d: items[:int(limit)] for d, items in domains.items()}
    return dict(sorted(domains.items())), warnings


def read_ewok_suite(folder, strict=False, limit=None) -> SuiteInput:
    domains, warnings = load_ewok(folder, strict=strict, limit=limit)
    return SuiteInput(SUITE, SUITE, "ewok", "ewok", Path(folder), domains, warnings, score_ewok)


# -----------------------------------------------------------------------------
# encoding and scoring


def _starts_new_utterance(context: str) -> bool:
    """True when the target does not continue the context's last line: an empty context, or one ending with a
    line break (blank lines and spaces after it included)."""
    if not utterances(context):
        return True
    tail = (context + "\x00").splitlines()[-1]
    return tail.strip(" \t") == "\x00"


def encode_continuations(tokenizer, pairs, stream=DEFAULT_STREAM) -> tuple[list[list[int]], list[int]]:
    """(ids, starts) for (context, target) pairs: ids = <s> + the context's tokens + the target's, start = the
    position of the target's first token (the scorer sums from there). The target continues the context's last
    line after TARGET_DELIMITER, or starts a new utterance (see the module docstring); line breaks are the
    utterance boundary of `stream`."""
    bos = bos_id(tokenizer)
    boundary = None
    plans = []  # (context lines, target lines, new utterance)
    for context, target in pairs:
        context = context.rstrip(" \t")
        new = _starts_new_utterance(context)
        target_lines = utterances(target)
        if target_lines and not new:
            target_lines[0] = TARGET_DELIMITER + target_lines[0]
        plans.append((utterances(context), target_lines, new))
        if len(plans[-1][0]) + len(target_lines) > 1 and boundary is None:
            boundary = boundary_ids(tokenizer, stream)
    flat = iter(tokenize(tokenizer, [u for c, t, _ in plans for u in (*c, *t)]))
    ids, starts = [], []
    for context_lines, target_lines, new in plans:
        seq = [bos] + join_lines([next(flat) for _ in context_lines], boundary)
        if new and context_lines:
            seq += boundary
        starts.append(len(seq))
        seq += join_lines([next(flat) for _ in target_lines], boundary)
        ids.append(seq)
    return ids, starts


def continuation_logprobs(model, tokenizer, pairs, batch_size=64, device=None, progress=None,
                          stream=DEFAULT_STREAM) -> np.ndarray:
    """log P(target | context) (nats, float64) of each (context, target) pair, in input order: the summed
    log-probabilities of the target's tokens, batched as blimp.sentence_logprobs."""
    ids, starts = encode_continuations(tokenizer, pairs, stream)
    return _logprobs_of_ids(model, ids, batch_size, device, progress, starts=starts)


def score_ewok(model, tokenizer, domains, batch_size=64, device=None, progress=False, ties=DEFAULT_TIES,
               stream=DEFAULT_STREAM) -> dict:
    """Accuracy per domain and the suite score, their macro average:
    {"paradigms": {domain: accuracy}, "counts": {domain: items}, "score": mean over domains, "items": number of
     items, "pooled": fraction of all items right, "ties": items where both targets score the same,
     "long_sentences": sequences longer than the model's max_position_embeddings, and blimp.conventions(ties,
     stream)}. Each distinct (context, target) is scored once."""
    check_ties(ties)
    if not domains:
        raise BlimpError("no EWoK domains to score")
    for name, items in domains.items():
        if not items:
            raise BlimpError(f"EWoK domain {name!r} has no items")
    index: dict[tuple[str, str], int] = {}
    for items in domains.values():
        for item in items:
            index.setdefault((item.context, item.target1), len(index))
            index.setdefault((item.context, item.target2), len(index))
    ids, starts = encode_continuations(tokenizer, list(index), stream)
    report = _stderr_progress("EWoK", "continuations") if progress is True else (progress or None)
    logp = _logprobs_of_ids(model, ids, batch_size, device, report, starts=starts)
    max_len = getattr(model.config, "max_position_embeddings", None)
    long_sequences = sum(len(x) > max_len for x in ids) if max_len else 0

    right, ties_n = {}, 0
    for name, items in domains.items():
        first = logp[[index[(i.context, i.target1)] for i in items]]
        second = logp[[index[(i.context, i.target2)] for i in items]]
        right[name] = is_right(first, second, ties)
        ties_n += int(np.sum(first == second))
    return {**accuracies(domains, right), "items": sum(len(i) for i in domains.values()), "ties": ties_n,
            "long_sentences": int(long_sequences), **conventions(ties, stream)}
