"""Zero-shot minimal-pair scoring (BLiMP and its BabyLM supplement).

A pair is a grammatical sentence and an ungrammatical one that differ minimally. The model scores each whole
sentence by its summed token log-probability, with the beginning-of-sentence token prepended (`<s>` + the
sentence's tokens, exactly how the training streams were made); the first token is thus scored given `<s>`,
and `<s>` itself is not scored. Sentences are scored as they are: the supplement's dialogue sentences that
hold a newline keep it. A pair is right when the good sentence scores strictly higher than the bad one; a tie
counts as wrong.

Conventions (stated here and in every result, under "convention"):
  * a paradigm's accuracy is the fraction of its pairs that are right;
  * a suite's score is the MEAN OF THE PER-PARADIGM ACCURACIES (every paradigm weighs the same, whatever its
    number of pairs), not the fraction of all pairs that are right (the pooled accuracy is also given,
    under "pooled").

Formats read (one JSON object a line, blank lines ignored; the paradigm's name is the file's stem):
  * original BLiMP: `sentence_good`, `sentence_bad`, `pairID` (a string), `UID`, ...;
  * BabyLM's filtered BLiMP and the built-in pairs (`babysweep data generate`, `blimp/<UID>.jsonl`):
    `sentence_good`, `sentence_bad`, `pair_id`, `UID`, `field`, `linguistics_term`, ...;
  * BabyLM's supplement: `sentence_good`, `sentence_bad` plus task-specific keys and no pair id: the pair id
    is then the line number.

Bad input never gives a traceback: a line that is not a JSON object, or lacks a sentence field, is reported as
"file:line: problem" and skipped (or, with `strict`, stops everything with a `BlimpError` naming file:line); an
empty paradigm is reported and skipped (an error with `strict`); a missing folder, a folder without `*.jsonl`
files, or a checkpoint that cannot be loaded or whose tokenizer has no BOS token is a `BlimpError`.

Scoring is batched: sentences are tokenized together, sorted by length (so a batch holds sentences of about
the same length and little padding), right-padded with an attention mask, run `batch_size` at a time, and put
back in input order. `sentence_logprobs_reference` is the plain one-sentence-per-forward-pass loop it is
tested against. On CUDA both run under bf16 autocast (the log-softmax itself in float32); on CPU, in float32.
"""
from __future__ import annotations

import json
import sys
from contextlib import nullcontext
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from trainables.errors import UserError

CONVENTION = "mean of per-paradigm accuracies"
TIE_RULE = "a pair is right only when good > bad strictly (ties count as wrong)"
SENTENCE_FIELDS = ("sentence_good", "sentence_bad")
PAIR_ID_FIELDS = ("pair_id", "pairID")  # BabyLM filtered / built-in, original BLiMP


class BlimpError(UserError):
    """One-line, user-facing error naming the file (and line) and the problem."""

    def __init__(self, message):
        super().__init__(_one_line(message))


def _one_line(text) -> str:
    return " ".join(str(text).split())


@dataclass
class Pair:
    good: str
    bad: str
    paradigm: str
    pair_id: str


# -----------------------------------------------------------------------------
# reading pairs


def _pair_of(record, paradigm: str, lineno: int) -> tuple[Pair | None, str | None]:
    """The Pair in one decoded line, or None and the problem."""
    if not isinstance(record, dict):
        return None, f"not a JSON object but a {type(record).__name__}"
    for name in SENTENCE_FIELDS:
        if name not in record:
            return None, f"missing field {name!r}"
        if not isinstance(record[name], str):
            return None, f"field {name!r} is not a string ({type(record[name]).__name__})"
        if not record[name].strip():
            return None, f"field {name!r} is empty"
    pair_id = next((record[k] for k in PAIR_ID_FIELDS if record.get(k) is not None), lineno)
    return Pair(record["sentence_good"], record["sentence_bad"], paradigm, str(pair_id)), None


def read_paradigm(path, strict=False) -> tuple[list[Pair], list[str]]:
    """The pairs of one jsonl file and the warnings ("file:line: problem") for the lines skipped.
    With `strict`, the first bad line raises BlimpError instead. The paradigm is the file's stem."""
    path = Path(path)
    if not path.is_file():
        raise BlimpError(f"{path}: no such file")
    paradigm = path.stem
    pairs, warnings = [], []
    try:
        f = open(path, "rb")
    except OSError as e:
        raise BlimpError(f"{path}: cannot read ({e.strerror or e})") from None
    with f:
        for lineno, raw in enumerate(f, start=1):
            try:
                line = raw.decode("utf-8")
            except UnicodeDecodeError:
                pair, problem = None, "not UTF-8"
            else:
                if not line.strip():
                    continue
                try:
                    record = json.loads(line)
                except json.JSONDecodeError as e:
                    pair, problem = None, f"malformed JSON ({e.msg}, column {e.colno})"
                else:
                    pair, problem = _pair_of(record, paradigm, lineno)
            if problem is None:
                pairs.append(pair)
                continue
            message = f"{path}:{lineno}: {problem}"
            if strict:
                raise BlimpError(message)
            warnings.append(_one_line(message + "; line skipped"))
    return pairs, warnings


def load_suite(folder, strict=False, limit=None) -> tuple[dict[str, list[Pair]], list[str]]:
    """{paradigm: pairs} for every *.jsonl file of `folder`, sorted by name, and the warnings. `limit`: keep
    only the first `limit` pairs of each paradigm (quick runs). An empty paradigm is a warning and is left out
    (a BlimpError with `strict`); a missing folder, one without *.jsonl files, or one whose paradigms are all
    empty is a BlimpError."""
    folder = Path(folder)
    if not folder.is_dir():
        raise BlimpError(f"{folder}: no such folder (expected one .jsonl file of minimal pairs per paradigm)")
    files = sorted(p for p in folder.glob("*.jsonl") if p.is_file())
    if not files:
        raise BlimpError(f"{folder}: no *.jsonl files (expected one file of minimal pairs per paradigm)")
    if limit is not None and (int(limit) != limit or limit < 1):
        raise BlimpError(f"limit: must be a positive whole number of pairs per paradigm, got {limit!r}")
    suite, warnings = {}, []
    for path in files:
        pairs, w = read_paradigm(path, strict=strict)
        warnings += w
        if not pairs:
            message = f"{path}: no pairs" + (" (every line was skipped)" if w else "")
            if strict:
                raise BlimpError(message)
            warnings.append(message + "; paradigm skipped")
            continue
        suite[path.stem] = pairs[:int(limit)] if limit is not None else pairs
    if not suite:
        raise BlimpError(f"{folder}: no paradigm has any pairs")
    return dict(sorted(suite.items())), warnings


# -----------------------------------------------------------------------------
# the model


def _default_device():
    import torch

    return torch.device("cuda" if torch.cuda.is_available() else "cpu")


def load_model(checkpoint, device=None):
    """(model, tokenizer) of a model folder, the model in eval mode on `device` (default: CUDA when available): a
    Hugging Face folder, a trial's checkpoint holding one (hf/), or a pretraining checkpoint taken at any report
    (its config.json, tokenizer and trainer_state.pt). BlimpError when the folder is missing, cannot be loaded,
    or its tokenizer has no BOS token."""
    from transformers import AutoTokenizer
    from transformers.utils import logging as hf_logging

    from trainables.model import load_trained_model

    checkpoint = Path(checkpoint)
    if not checkpoint.is_dir():
        raise BlimpError(f"{checkpoint}: no such checkpoint folder")
    if (checkpoint / "hf" / "config.json").is_file():
        checkpoint = checkpoint / "hf"
    if not (checkpoint / "config.json").is_file():
        raise BlimpError(f"{checkpoint}: not a Hugging Face model folder (no config.json)")
    hf_logging.disable_progress_bar()
    try:
        tokenizer = AutoTokenizer.from_pretrained(str(checkpoint))
    except Exception as e:  # transformers raises OSError, ValueError, ... with multi-line texts
        raise BlimpError(f"{checkpoint}: cannot load the tokenizer: {e}") from None
    if tokenizer.bos_token_id is None:
        raise BlimpError(f"{checkpoint}: the tokenizer has no BOS token; minimal-pair scoring prepends one to "
                         f"every sentence")
    try:
        model = load_trained_model(checkpoint)
    except Exception as e:
        raise BlimpError(f"{checkpoint}: cannot load the model: {_one_line(e)}") from None
    if model is None:
        raise BlimpError(f"{checkpoint}: holds no model weights (no model.safetensors or trainer_state.pt)")
    vocab = getattr(model.config, "vocab_size", None)
    if vocab is not None and len(tokenizer) > vocab:
        raise BlimpError(f"{checkpoint}: the tokenizer has {len(tokenizer)} entries but the model only {vocab}")
    model.to(_default_device() if device is None else device)
    model.eval()
    return model, tokenizer


def _encode(tokenizer, sentences) -> list[list[int]]:
    """<s> + the sentence's tokens, for each sentence. The tokenizer adds no special tokens of its own."""
    bos = tokenizer.bos_token_id
    if bos is None:
        raise BlimpError("the tokenizer has no BOS token; minimal-pair scoring prepends one to every sentence")
    sentences = list(sentences)
    if not sentences:
        return []
    ids = tokenizer(sentences, add_special_tokens=False)["input_ids"]
    return [[bos] + list(x) for x in ids]


def _setup(model, device):
    import torch

    device = torch.device(device) if device is not None else next(model.parameters()).device
    if next(model.parameters()).device != device:
        model.to(device)
    model.eval()
    autocast = (lambda: torch.autocast("cuda", dtype=torch.bfloat16)) if device.type == "cuda" else nullcontext
    return device, autocast


def _logprobs_of_ids(model, ids, batch_size, device, progress=None) -> np.ndarray:
    """Summed log-probability of tokens 1.. of each id list given the ones before, batched."""
    import torch

    if int(batch_size) != batch_size or batch_size < 1:
        raise BlimpError(f"batch_size: must be a positive whole number, got {batch_size!r}")
    batch_size = int(batch_size)
    device, autocast = _setup(model, device)
    pad = getattr(model.config, "pad_token_id", None) or 0  # any id will do: padded positions are masked
    out = np.zeros(len(ids), dtype=np.float64)
    lengths = np.array([len(x) for x in ids])
    order = np.argsort(-lengths, kind="stable")  # longest first: an out-of-memory shows at once
    done = 0
    with torch.inference_mode():
        for start in range(0, len(ids), batch_size):
            idx = order[start:start + batch_size]
            width = int(lengths[idx[0]])
            x = np.full((len(idx), width), pad, dtype=np.int64)
            mask = np.zeros((len(idx), width), dtype=np.int64)
            for row, i in enumerate(idx):
                x[row, :lengths[i]] = ids[i]
                mask[row, :lengths[i]] = 1
            x = torch.from_numpy(x).to(device, non_blocking=True)
            mask = torch.from_numpy(mask).to(device, non_blocking=True)
            try:
                with autocast():
                    logits = model(input_ids=x, attention_mask=mask).logits[:, :-1]
                logits = logits.float()
                # log p(target) = logit(target) - logsumexp(logits): no full log-softmax tensor is made
                target = logits.gather(-1, x[:, 1:, None])[..., 0] - torch.logsumexp(logits, dim=-1)
            except torch.cuda.OutOfMemoryError:
                raise BlimpError(f"out of GPU memory scoring {len(idx)} sentences of {width} tokens at once; "
                                 f"use a smaller batch_size") from None
            sums = (target.double() * mask[:, 1:]).sum(-1)
            out[idx] = sums.cpu().numpy()
            done += len(idx)
            if progress:
                progress(done, len(ids))
    return out


def sentence_logprobs(model, tokenizer, sentences, batch_size=64, device=None, progress=None) -> np.ndarray:
    """Summed token log-probability (nats, float64) of each sentence after <s>, in input order. Batched:
    sorted by length, right-padded with an attention mask, `batch_size` sentences per forward pass.
    `device`: where to run (default: the model's; the model is moved there). `progress`: called with
    (sentences done, total) after each batch."""
    return _logprobs_of_ids(model, _encode(tokenizer, sentences), batch_size, device, progress)


def sentence_logprobs_reference(model, tokenizer, sentences, device=None) -> np.ndarray:
    """The same quantity, one sentence per forward pass and no padding: what the batched scorer must match."""
    import torch

    device, autocast = _setup(model, device)
    bos = tokenizer.bos_token_id
    if bos is None:
        raise BlimpError("the tokenizer has no BOS token; minimal-pair scoring prepends one to every sentence")
    out = []
    with torch.inference_mode():
        for sentence in sentences:
            ids = [bos] + tokenizer.encode(sentence, add_special_tokens=False)
            x = torch.tensor([ids], device=device)
            with autocast():
                logits = model(input_ids=x).logits
            logp = torch.log_softmax(logits[0, :-1].float(), dim=-1)
            out.append(sum(logp[t, ids[t + 1]].item() for t in range(len(ids) - 1)))
    return np.array(out, dtype=np.float64)


# -----------------------------------------------------------------------------
# suites


def _stderr_progress(label):
    def show(done, total):
        end = "\n" if done == total else ""
        print(f"\r{label}: {done:,}/{total:,} sentences", end=end, file=sys.stderr, flush=True)

    return show


def score_suite(model, tokenizer, suite, batch_size=64, device=None, progress=False) -> dict:
    """Accuracy per paradigm and the suite score, the mean over paradigms:
    {"paradigms": {name: accuracy}, "score": mean of the accuracies, "pairs": number of pairs,
     "pooled": fraction of all pairs right, "ties": pairs where good == bad, "long_sentences": sentences
     longer than the model's max_position_embeddings (scored all the same), "convention": CONVENTION,
     "ties_rule": TIE_RULE}.
    Every distinct sentence is scored once (the supplement repeats some). `progress`: True for a line on
    stderr, or a callable (done, total)."""
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
    ids = _encode(tokenizer, list(index))
    report = _stderr_progress("minimal pairs") if progress is True else (progress or None)
    logp = _logprobs_of_ids(model, ids, batch_size, device, report)
    max_len = getattr(model.config, "max_position_embeddings", None)
    long_sentences = sum(len(x) > max_len for x in ids) if max_len else 0

    accuracies, right_total, ties, n_pairs = {}, 0, 0, 0
    for name, pairs in suite.items():
        good = logp[[index[p.good] for p in pairs]]
        bad = logp[[index[p.bad] for p in pairs]]
        right = int(np.sum(good > bad))  # strictly: a tie is wrong
        ties += int(np.sum(good == bad))
        accuracies[name] = right / len(pairs)
        right_total += right
        n_pairs += len(pairs)
    return {"paradigms": accuracies, "score": float(np.mean(list(accuracies.values()))), "pairs": n_pairs,
            "pooled": right_total / n_pairs, "ties": ties, "long_sentences": int(long_sentences),
            "convention": CONVENTION, "ties_rule": TIE_RULE}


def score_checkpoint(checkpoint, blimp_dir, supplement_dir=None, batch_size=64, device=None, limit=None,
                     strict=False, progress=False, loaded=None) -> dict:
    """The BLiMP columns of one checkpoint, flat, named as the results table names them:
    {"blimp_filtered": score, "blimp_supplement": score or None, "blimp/<UID>": accuracy, ...,
     "supplement/<task>": accuracy, ..., "warnings": [...]}. Scores are means of per-paradigm accuracies
    (CONVENTION); ties count as wrong (TIE_RULE). The pair files are read before the model is loaded, so
    bad input fails fast (unless the caller passes the model it `loaded` already)."""
    suites = {"blimp": load_suite(blimp_dir, strict=strict, limit=limit)}
    if supplement_dir is not None:
        suites["supplement"] = load_suite(supplement_dir, strict=strict, limit=limit)
    model, tokenizer = loaded or load_model(checkpoint, device)  # loaded: (model, tokenizer) already on device
    out = {"blimp_filtered": None, "blimp_supplement": None}
    warnings = []
    for prefix, (suite, w) in suites.items():
        warnings += w
        result = score_suite(model, tokenizer, suite, batch_size=batch_size, device=device,
                             progress=_stderr_progress(f"{prefix} {checkpoint}") if progress else False)
        out["blimp_filtered" if prefix == "blimp" else "blimp_supplement"] = result["score"]
        out.update({f"{prefix}/{name}": acc for name, acc in result["paradigms"].items()})
        if result["long_sentences"]:
            warnings.append(f"{checkpoint}: {result['long_sentences']} {prefix} sentences are longer than the "
                            f"model's {model.config.max_position_embeddings} positions (scored all the same)")
    out["warnings"] = warnings
    return out
