"""Zero-shot minimal-pair scoring (BLiMP, its BabyLM supplement, the built-in pairs, any folder in that format).

A pair is a grammatical sentence and an ungrammatical one that differ minimally. The model scores each whole
sentence by its summed token log-probability with the beginning-of-sentence token prepended (`<s>` + the
sentence's tokens, as the training streams are made); the first token is thus scored given `<s>`, and `<s>`
itself is not scored. The defaults are those of lm-eval, the BabyLM evaluation pipeline, so that a score here
and a score there mean the same.

Conventions (every result states them: `conventions(...)`, under "convention", "ties_rule", "newline",
"precision"):
  * **newline = utterance boundary.** The supplement's dialogue sentences hold "\\n" between turns ("David:
    Should you quit?\\nSarah: No, I shouldn't."). Training never sees a newline: a line break in a corpus file
    ends an utterance (trainables/data reads the files with str.splitlines and drops blank lines), and the
    training stream puts `</s> <s>` between two utterances. So a scored text is cut into lines the same way
    (str.splitlines, blank lines dropped) and the lines are joined by that boundary: "u1\\nu2" is encoded
    `<s> u1 </s> <s> u2`, and every token after the first `<s>` is scored, the boundary tokens too (they are the
    same in both sentences of a pair, and scoring them is what scoring "the whole text" means for the model).
    No `</s>` is added at the end (lm-eval adds none). A model trained on an older prepared folder saw the
    stream `<s> u1 <s> u2` (no `</s>`): for it the boundary is `<s>` alone. Which stream a model saw is read by
    `stream_of(checkpoint)`: the checkpoint's babysweep.json ("stream"), else the meta.json of the prepared
    folder it names (`"stream": "bos_eos"`; a meta.json without the field is an old `bos` stream), else the new
    stream (`bos_eos`, also for models from elsewhere). Results record it as "newline" (NEWLINE_RULES).
  * **ties**, an option, lm-eval's by default: `ties="right"` counts good >= bad as right (lm-eval takes the
    first maximum of the choices' log-likelihoods, and the good sentence is the first choice); `ties="wrong"`
    asks for good > bad strictly (babysweep's rule before). Results record it as "ties_rule" ("right" or
    "wrong"), and the number of tied pairs as "ties".
  * **float32 on every device**: no autocast, float32 matmuls (TF32 off while scoring), the log-softmax in
    float32 and each sentence's sum in float64 of the float32 token log-probabilities. A bf16 forward pass keeps
    about 3 significant digits of each activation: enough to flip a close pair, and to make a score depend on
    the device it was computed on. Results record "precision": "float32".
  * a paradigm's accuracy is the fraction of its pairs that are right; a suite's score is the MEAN OF THE
    PER-PARADIGM ACCURACIES (every paradigm weighs the same, whatever its number of pairs), not the fraction of
    all pairs that are right (that, the pooled accuracy, is also given, under "pooled").

The suites' names (`suite_name_of`) and the formats read are analysis/pairs.py's (its docstring says them).

Bad input never gives a traceback: a line that is not a JSON object, or lacks a sentence field, is reported as
"file:line: problem; line skipped" (or, with `strict`, stops everything with a `BlimpError` naming file:line);
an empty paradigm is reported and skipped (an error with `strict`); a missing folder, a folder without `*.jsonl`
files, or a checkpoint that cannot be loaded or whose tokenizer has no BOS token is a `BlimpError`. Every file
is read before the model is loaded, so bad input fails fast and nothing is half-written.

Scoring is batched (`_logprobs_of_ids`, shared with analysis/ewok.py, which scores from a given position of
each sequence): sequences are tokenized together, sorted by length (so a batch holds sequences of about the
same length and little padding), right-padded with an attention mask, run `batch_size` at a time, and put back
in input order. `sentence_logprobs_reference` is the plain one-sentence-per-forward-pass loop it is tested
against.
"""
from __future__ import annotations

import numbers
import sys
from contextlib import contextmanager
from pathlib import Path

import numpy as np

from trainables.names import paradigm_prefix

from .models import _default_device, load_model, stream_of  # noqa: F401  (also imported from here)
from .pairs import (  # noqa: F401  (the suites' names, also imported from here)
    BABYLM_FOLDERS, BUILTIN_SUITE, CONVENTION, DEFAULT_STREAM, DEFAULT_TIES, NEWLINE_RULES, PAIR_ID_FIELDS,
    PRECISION, RESERVED_SUITE_NAMES, SENTENCE_FIELDS, STREAMS, TIE_RULE, TIES, TIES_RULES, BlimpError, Pair,
    SuiteInput, _one_line, _pair_of, check_fields, check_limit, check_stream, check_ties, conventions,
    is_builtin_pairs, jsonl_files, load_suite, read_file_of, read_jsonl, read_paradigm, suite_name_of)

# -----------------------------------------------------------------------------
# encoding: <s> + the text's tokens, each line break an utterance boundary


def utterances(text: str) -> list[str]:
    """The lines of a text as the corpus reader cuts a file (trainables/data/babylm.py): str.splitlines, blank
    lines dropped, each line kept as it is."""
    return [line for line in text.splitlines() if line.strip()]


def bos_id(tokenizer) -> int:
    bos = tokenizer.bos_token_id
    if bos is None:
        raise BlimpError("the tokenizer has no BOS token; minimal-pair scoring prepends one to every sentence")
    return bos


def boundary_ids(tokenizer, stream=DEFAULT_STREAM) -> list[int]:
    """The tokens between two utterances in the training stream: </s> <s> (bos_eos) or <s> (bos)."""
    bos = bos_id(tokenizer)
    if check_stream(stream) == "bos":
        return [bos]
    if tokenizer.eos_token_id is None:
        raise BlimpError("the tokenizer has no EOS token, but the model's training stream puts </s> <s> between "
                         "utterances (a newline of a scored text)")
    return [tokenizer.eos_token_id, bos]


def tokenize(tokenizer, texts) -> list[list[int]]:
    """The tokens of each text, no special tokens added, in one batched call."""
    texts = list(texts)
    if not texts:
        return []
    return [list(x) for x in tokenizer(texts, add_special_tokens=False)["input_ids"]]


def join_lines(line_ids, boundary) -> list[int]:
    """Token lists of consecutive utterances, joined by the boundary."""
    out = []
    for i, ids in enumerate(line_ids):
        if i:
            out += boundary
        out += ids
    return out


def encode_sentences(tokenizer, sentences, stream=DEFAULT_STREAM) -> list[list[int]]:
    """<s> + the sentence's tokens, for each sentence; a line break is the utterance boundary of `stream`
    ("u1\\nu2": <s> u1 </s> <s> u2 for bos_eos, <s> u1 <s> u2 for bos). The tokenizer adds nothing of its own."""
    bos = bos_id(tokenizer)
    lines = [utterances(s) for s in sentences]
    boundary = boundary_ids(tokenizer, stream) if any(len(ls) > 1 for ls in lines) else []
    flat = iter(tokenize(tokenizer, [u for ls in lines for u in ls]))
    return [[bos] + join_lines([next(flat) for _ in ls], boundary) for ls in lines]


# -----------------------------------------------------------------------------
# scoring


def _setup(model, device):
    """The device to score on; the model moved there, in float32 and eval mode."""
    import torch

    device = torch.device(device) if device is not None else next(model.parameters()).device
    first = next(model.parameters())
    if first.device != device or first.dtype != torch.float32:
        model.to(device=device, dtype=torch.float32)
    model.eval()
    return device


@contextmanager
def _float32_math():
    """True float32 matmuls while scoring (no TF32 on CUDA), whatever the process set before."""
    import torch

    before = torch.get_float32_matmul_precision(), torch.backends.cudnn.allow_tf32
    torch.set_float32_matmul_precision("highest")
    torch.backends.cudnn.allow_tf32 = False
    try:
        yield
    finally:
        torch.set_float32_matmul_precision(before[0])
        torch.backends.cudnn.allow_tf32 = before[1]


def check_batch_size(batch_size, name="batch_size") -> int:
    """`batch_size` as an int; BlimpError (one line, naming `name`: "--batch-size" for the command) unless it is a
    whole number >= 1."""
    if isinstance(batch_size, bool) or not isinstance(batch_size, numbers.Real) or int(batch_size) != batch_size \
            or batch_size < 1:
        raise BlimpError(f"{name} {batch_size!r}: must be a whole number >= 1 (sentences per forward pass)")
    return int(batch_size)


def _logprobs_of_ids(model, ids, batch_size, device, progress=None, starts=None) -> np.ndarray:
    """Summed log-probability of tokens starts[i].. of each id list given the ones before (starts: 1 for every
    list when None, i.e. all but the leading <s>), batched, in float32 with float64 sums."""
    import torch

    batch_size = check_batch_size(batch_size)
    device = _setup(model, device)
    pad = getattr(model.config, "pad_token_id", None) or 0  # any id will do: padded positions are masked
    out = np.zeros(len(ids), dtype=np.float64)
    lengths = np.array([len(x) for x in ids], dtype=np.int64)
    starts = np.ones(len(ids), dtype=np.int64) if starts is None else np.asarray(starts, dtype=np.int64)
    if len(starts) != len(ids) or (len(ids) and (starts.min() < 1 or np.any(starts > lengths))):
        raise ValueError("starts: one position per sequence, from 1 to its length")
    order = np.argsort(-lengths, kind="stable")  # longest first: an out-of-memory shows at once
    done = 0
    with torch.inference_mode(), _float32_math():
        for begin in range(0, len(ids), batch_size):
            idx = order[begin:begin + batch_size]
            width = int(lengths[idx[0]])
            x = np.full((len(idx), width), pad, dtype=np.int64)
            mask = np.zeros((len(idx), width), dtype=np.int64)
            scored = np.zeros((len(idx), width), dtype=bool)  # the target positions to sum
            for row, i in enumerate(idx):
                x[row, :lengths[i]] = ids[i]
                mask[row, :lengths[i]] = 1
                scored[row, starts[i]:lengths[i]] = True
            x = torch.from_numpy(x).to(device, non_blocking=True)
            mask = torch.from_numpy(mask).to(device, non_blocking=True)
            scored = torch.from_numpy(scored[:, 1:]).to(device, non_blocking=True)
            try:
                logits = model(input_ids=x, attention_mask=mask).logits[:, :-1].float()
                # log p(target) = logit(target) - logsumexp(logits): no full log-softmax tensor is made
                target = logits.gather(-1, x[:, 1:, None])[..., 0] - torch.logsumexp(logits, dim=-1)
            except torch.cuda.OutOfMemoryError:
                raise BlimpError(f"out of GPU memory scoring {len(idx)} sentences of {width} tokens at once; "
                                 f"use a smaller batch_size") from None
            sums = torch.where(scored, target, torch.zeros_like(target)).double().sum(-1)
            out[idx] = sums.cpu().numpy()
            done += len(idx)
            if progress:
                progress(done, len(ids))
    return out


def sentence_logprobs(model, tokenizer, sentences, batch_size=64, device=None, progress=None,
                      stream=DEFAULT_STREAM) -> np.ndarray:
    """Summed token log-probability (nats, float64) of each sentence after <s>, in input order, a newline
    being the utterance boundary of `stream`. Batched: sorted by length, right-padded with an attention mask,
    `batch_size` sentences per forward pass. `device`: where to run (default: the model's; the model is moved
    there). `progress`: called with (sentences done, total) after each batch."""
    return _logprobs_of_ids(model, encode_sentences(tokenizer, sentences, stream), batch_size, device, progress)


def sentence_logprobs_reference(model, tokenizer, sentences, device=None, stream=DEFAULT_STREAM) -> np.ndarray:
    """The same quantity, one sentence per forward pass and no padding, token by token: what the batched scorer
    must match."""
    import torch

    device = _setup(model, device)
    bos = bos_id(tokenizer)
    out = []
    with torch.inference_mode(), _float32_math():
        for sentence in sentences:
            lines = [tokenizer.encode(u, add_special_tokens=False) for u in utterances(sentence)]
            ids = [bos] + join_lines(lines, boundary_ids(tokenizer, stream) if len(lines) > 1 else [])
            logits = model(input_ids=torch.tensor([ids], device=device)).logits
            logp = torch.log_softmax(logits[0, :-1].float(), dim=-1)
            out.append(sum(logp[t, ids[t + 1]].item() for t in range(len(ids) - 1)))
    return np.array(out, dtype=np.float64)


# -----------------------------------------------------------------------------
# suites


def _stderr_progress(label, unit="sentences"):
    def show(done, total):
        end = "\n" if done == total else ""
        print(f"\r{label}: {done:,}/{total:,} {unit}", end=end, file=sys.stderr, flush=True)

    return show


def is_right(first, second, ties=DEFAULT_TIES) -> np.ndarray:
    """Per item, whether the right choice (`first`) wins: first >= second with ties="right", > with "wrong"."""
    return (first >= second) if check_ties(ties) == "right" else (first > second)


def accuracies(groups: dict, right: dict) -> dict:
    """{"paradigms": {name: accuracy}, "counts": {name: n}, "score": mean of the accuracies, "pooled": fraction
    of all items right} of `right` ({name: boolean array})."""
    acc = {name: float(np.mean(right[name])) for name in groups}
    n = sum(len(items) for items in groups.values())
    return {"paradigms": acc, "counts": {name: len(items) for name, items in groups.items()},
            "score": float(np.mean(list(acc.values()))), "pooled": sum(int(np.sum(r)) for r in right.values()) / n}


def score_suite(model, tokenizer, suite, batch_size=64, device=None, progress=False, ties=DEFAULT_TIES,
                stream=DEFAULT_STREAM) -> dict:
    """Accuracy per paradigm and the suite score, the mean over paradigms:
    {"paradigms": {name: accuracy}, "counts": {name: pairs}, "score": mean of the accuracies, "pairs": number of
     pairs, "pooled": fraction of all pairs right, "ties": pairs where good == bad, "long_sentences": sentences
     longer than the model's max_position_embeddings (scored all the same), and `conventions(ties, stream)`:
     "convention", "ties_rule", "newline", "precision"}.
    Every distinct sentence is scored once (the supplement repeats some). `progress`: True for a line on
    stderr, or a callable (done, total)."""
    check_ties(ties)
    if not suite:
        raise BlimpError("no paradigms to score")
    for name, pairs in suite.items():
        if not pairs:
            raise BlimpError(f"paradigm {name!r} has no pairs")
    index: dict[str, int] = {}
    for pairs in suite.values():
        for p in pairs:
            index.setdefault(p.good, len(index))
            index.setdefault(p.bad, len(index))
    ids = encode_sentences(tokenizer, list(index), stream)
    report = _stderr_progress("minimal pairs") if progress is True else (progress or None)
    logp = _logprobs_of_ids(model, ids, batch_size, device, report)
    max_len = getattr(model.config, "max_position_embeddings", None)
    long_sentences = sum(len(x) > max_len for x in ids) if max_len else 0

    right, ties_n = {}, 0
    for name, pairs in suite.items():
        good = logp[[index[p.good] for p in pairs]]
        bad = logp[[index[p.bad] for p in pairs]]
        right[name] = is_right(good, bad, ties)
        ties_n += int(np.sum(good == bad))
    return {**accuracies(suite, right), "pairs": sum(len(p) for p in suite.values()), "ties": ties_n,
            "long_sentences": int(long_sentences), **conventions(ties, stream)}


def suite_columns_of(suite: SuiteInput, result: dict) -> dict:
    """The results-table columns of one scored suite: {name: score, "<prefix>/<paradigm>": accuracy, ...}."""
    return {suite.name: result["score"], **{f"{suite.prefix}/{p}": a for p, a in result["paradigms"].items()}}


def long_warning(checkpoint, suite: SuiteInput, result: dict, model) -> list[str]:
    n = result.get("long_sentences")
    if not n:
        return []
    return [f"{checkpoint}: {n} {suite.name} sequences are longer than the model's "
            f"{model.config.max_position_embeddings} positions (scored all the same)"]


def score_suites(checkpoint, suites: list[SuiteInput], ties=DEFAULT_TIES, stream=None, batch_size=64, device=None,
                 progress=False, loaded=None) -> dict:
    """The scores of one model on `suites` (each scored by its own function):
    {"columns": {suite: score, "<prefix>/<paradigm>": accuracy, ...}, "suites": {suite: its result, with "folder"
     and "prefix"}, "stream": the model's training stream, "stream_source": where that was read,
     "ties_rule", "newline", "precision", "convention", "warnings": [...]}.
    `stream`: the training stream, when known (default: `stream_of(checkpoint)`); `loaded`: (model, tokenizer)
    already loaded."""
    check_ties(ties)
    stream, source = (check_stream(stream), "given") if stream is not None else stream_of(checkpoint)
    model, tokenizer = loaded or load_model(checkpoint, device)
    columns, results, warnings = {}, {}, []
    for suite in suites:
        warnings += suite.warnings
        result = suite.score(model, tokenizer, suite.data, batch_size=batch_size, device=device, ties=ties,
                             stream=stream,
                             progress=_stderr_progress(f"{suite.name} {checkpoint}", suite.unit) if progress else False)
        results[suite.name] = dict(result, folder=str(suite.folder), prefix=suite.prefix)
        columns.update(suite_columns_of(suite, result))
        warnings += long_warning(checkpoint, suite, result, model)
    return {"columns": columns, "suites": results, "stream": stream, "stream_source": source,
            **conventions(ties, stream), "warnings": warnings}


def score_checkpoint(checkpoint, blimp_dir=None, supplement_dir=None, batch_size=64, device=None, limit=None,
                     strict=False, progress=False, loaded=None, suite_name=None, ties=DEFAULT_TIES,
                     stream=None) -> dict:
    """The minimal-pair columns of one checkpoint, flat, named as the results table names them (see
    `suite_name_of`): {"blimp_filtered": score, "blimp/<UID>": accuracy, ..., "blimp_supplement": score,
    "supplement/<task>": accuracy, ..., "builtin_pairs": ..., "<suite>/<paradigm>": ..., "convention",
    "ties_rule", "newline", "precision", "warnings": [...]}. Scores are means of per-paradigm accuracies; ties
    count as `ties` says; `stream` (default: `stream_of(checkpoint)`) says what a newline becomes. The pair files
    are read before the model is loaded, so bad input fails fast (unless the caller passes the model it
    `loaded` already: (model, tokenizer))."""
    check_ties(ties)
    suites = read_pair_suites(blimp_dir, supplement_dir, suite_name, strict=strict, limit=limit)
    if not suites:
        raise BlimpError("no minimal-pair folder to score (give --blimp or --supplement)")
    result = score_suites(checkpoint, suites, ties=ties, stream=stream, batch_size=batch_size, device=device,
                          progress=progress, loaded=loaded)
    return {**result["columns"], **conventions(ties, result["stream"]), "warnings": result["warnings"]}

def read_pair_suites(blimp_dir=None, supplement_dir=None, suite_name=None, strict=False,
                     limit=None) -> list[SuiteInput]:
    """The pair suites of --blimp (named `suite_name` when given) and --supplement, read and named; a
    BlimpError when two would have the same name."""
    out = []
    for option, folder, name in (("blimp", blimp_dir, suite_name), ("supplement", supplement_dir, None)):
        if folder is None:
            continue
        suite = suite_name_of(folder, name)
        data, warnings = load_suite(folder, strict=strict, limit=limit)
        out.append(SuiteInput(suite, paradigm_prefix(suite), "pairs", option, Path(folder), data, warnings,
                              score_suite))
    if len(out) == 2 and out[0].name == out[1].name:
        raise BlimpError(f"--blimp {blimp_dir} and --supplement {supplement_dir} are both the suite "
                         f"{out[0].name!r}; name the --blimp one with --suite-name")
    return out
