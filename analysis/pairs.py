"""BLiMP-format minimal pairs: the suites' files (one jsonl per paradigm: BabyLM's blimp_filtered and
supplement_filtered, original BLiMP, the built-in pairs), read and checked, and the scoring conventions (ties,
the stream a sentence is scored in) named once. Scoring them, and what each convention means, is
analysis/blimp.py's.

Suite names (the results table's columns, `suite_name_of`): BabyLM's `blimp_filtered` folder is the suite
`blimp_filtered` (per-paradigm columns `blimp/<UID>`), its `supplement_filtered` folder is `blimp_supplement`
(`supplement/<task>`): the names babysweep always used. The built-in pairs (`babysweep data generate` writes
them to `<out>/blimp/`, beside its corpus.json) are not BLiMP: their suite is `builtin_pairs`. Any other folder
is the suite of its name (or the name given), with columns `<suite>/<paradigm>`. `blimp`, `supplement` and
`ewok` are not suite names (the first two are the BabyLM suites' column prefixes, the last is EWoK's suite).

Formats read (one JSON object a line, blank lines ignored; the paradigm's name is the file's stem):
  * original BLiMP: `sentence_good`, `sentence_bad`, `pairID` (a string), `UID`, ...;
  * BabyLM's filtered BLiMP and the built-in pairs (`blimp/<UID>.jsonl`): `sentence_good`, `sentence_bad`,
    `pair_id`, `UID`, `field`, `linguistics_term`, ...;
  * BabyLM's supplement: `sentence_good`, `sentence_bad` plus task-specific keys and no pair id: the pair id
    is then the line number.
"""
from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path

from trainables.names import FIRST_COLUMNS
from trainables.errors import UserError


CONVENTION = "mean of per-paradigm accuracies"
TIES = ("right", "wrong")
DEFAULT_TIES = "right"
TIES_RULES = {"right": "a pair is right when good >= bad (a tie counts as right, as lm-eval: the first maximum)",
              "wrong": "a pair is right only when good > bad strictly (a tie counts as wrong)"}
TIE_RULE = TIES_RULES[DEFAULT_TIES]  # the default rule, in words
PRECISION = "float32"
# the training stream a model saw: "bos_eos" <s> utterance </s> (prepared folders with "stream": "bos_eos"),
# "bos" <s> utterance (older prepared folders, whose meta.json has no "stream")
STREAMS = ("bos_eos", "bos")
DEFAULT_STREAM = "bos_eos"
NEWLINE_RULES = {"bos_eos": "utterance boundary </s> <s>", "bos": "utterance boundary <s>"}
SENTENCE_FIELDS = ("sentence_good", "sentence_bad")
PAIR_ID_FIELDS = ("pair_id", "pairID")  # BabyLM filtered / built-in, original BLiMP

# folder name -> suite name, for BabyLM's folders; the built-in pairs are BUILTIN_SUITE
BABYLM_FOLDERS = {"blimp_filtered": "blimp_filtered", "supplement_filtered": "blimp_supplement"}
BUILTIN_SUITE = "builtin_pairs"
# not suite names: the BabyLM suites' column prefixes, EWoK's suite, and the table's other columns
RESERVED_SUITE_NAMES = ("blimp", "supplement", "ewok", "config", *FIRST_COLUMNS, "scored_epoch", "scored_val_loss",
                        "eval_note", "source_trial_id", "convention", "ties_rule", "newline", "precision", "provenance")


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


@dataclass
class SuiteInput:
    """One suite read from its folder, ready to score: its name (the score column), the prefix of its
    per-paradigm columns, its kind ("pairs" or "ewok"), the option it came from ("blimp", "supplement" or
    "ewok": --blimp, ...), its folder, {paradigm: pairs or items}, the warnings, and the function that scores it
    (score_suite, or ewok.score_ewok: (model, tokenizer, data, batch_size=, device=, progress=, ties=, stream=))."""
    name: str
    prefix: str
    kind: str
    option: str
    folder: Path
    data: dict
    warnings: list
    score: object

    @property
    def unit(self) -> str:
        """What its progress line counts."""
        return "sentences" if self.kind == "pairs" else "continuations"


# -----------------------------------------------------------------------------
# conventions


def check_ties(ties) -> str:
    if ties not in TIES:
        raise BlimpError(f"--ties: must be right (good >= bad counts as right, lm-eval's rule) or wrong (only "
                         f"good > bad), got {ties!r}")
    return ties


def check_stream(stream, where="stream") -> str:
    if stream not in STREAMS:
        raise BlimpError(f"{where}: unknown training stream {stream!r} (known: {', '.join(STREAMS)})")
    return stream


def conventions(ties=DEFAULT_TIES, stream=DEFAULT_STREAM) -> dict:
    """What every result records about how it was scored."""
    return {"convention": CONVENTION, "ties_rule": check_ties(ties), "newline": NEWLINE_RULES[check_stream(stream)],
            "precision": PRECISION}


# -----------------------------------------------------------------------------
# reading pairs


def _pair_of(record, paradigm: str, lineno: int) -> tuple[Pair | None, str | None]:
    """The Pair in one decoded line, or None and the problem."""
    problem = check_fields(record, SENTENCE_FIELDS)
    if problem:
        return None, problem
    pair_id = next((record[k] for k in PAIR_ID_FIELDS if record.get(k) is not None), lineno)
    return Pair(record["sentence_good"], record["sentence_bad"], paradigm, str(pair_id)), None


def check_fields(record, fields, may_be_empty=()) -> str | None:
    """The problem of a decoded line that should be a JSON object with these string fields, or None."""
    if not isinstance(record, dict):
        return f"not a JSON object but a {type(record).__name__}"
    for name in fields:
        if name not in record:
            return f"missing field {name!r}"
        if not isinstance(record[name], str):
            return f"field {name!r} is not a string ({type(record[name]).__name__})"
        if name not in may_be_empty and not record[name].strip():
            return f"field {name!r} is empty"
    return None


def read_jsonl(path, parse, strict=False) -> tuple[list, list[str]]:
    """The objects `parse(record, lineno)` makes of the lines of a jsonl file, and the warnings ("file:line:
    problem; line skipped") for the lines it skipped. `parse` returns (object, None) or (None, problem). With
    `strict`, the first bad line raises BlimpError instead."""
    path = Path(path)
    if not path.is_file():
        raise BlimpError(f"{path}: no such file")
    out, warnings = [], []
    try:
        f = open(path, "rb")
    except OSError as e:
        raise BlimpError(f"{path}: cannot read ({e.strerror or e})") from None
    with f:
        for lineno, raw in enumerate(f, start=1):
            try:
                line = raw.decode("utf-8")
            except UnicodeDecodeError:
                obj, problem = None, "not UTF-8"
            else:
                if not line.strip():
                    continue
                try:
                    record = json.loads(line)
                except json.JSONDecodeError as e:
                    obj, problem = None, f"malformed JSON ({e.msg}, column {e.colno})"
                else:
                    obj, problem = parse(record, lineno)
            if problem is None:
                out.append(obj)
                continue
            message = f"{path}:{lineno}: {problem}"
            if strict:
                raise BlimpError(message)
            warnings.append(_one_line(message + "; line skipped"))
    return out, warnings


def read_paradigm(path, strict=False) -> tuple[list[Pair], list[str]]:
    """The pairs of one jsonl file and the warnings ("file:line: problem") for the lines skipped.
    With `strict`, the first bad line raises BlimpError instead. The paradigm is the file's stem."""
    paradigm = Path(path).stem
    return read_jsonl(path, lambda record, lineno: _pair_of(record, paradigm, lineno), strict)


def jsonl_files(folder, what: str) -> list[Path]:
    """The *.jsonl files of `folder`, sorted; BlimpError when the folder is missing or has none. `what`: what
    one file holds, for the message ("minimal pairs per paradigm")."""
    folder = Path(folder)
    if not folder.is_dir():
        raise BlimpError(f"{folder}: no such folder (expected one .jsonl file of {what})")
    files = sorted(p for p in folder.glob("*.jsonl") if p.is_file())
    if not files:
        raise BlimpError(f"{folder}: no *.jsonl files (expected one file of {what})")
    return files


def check_limit(limit, what="pairs per paradigm"):
    if limit is not None and (int(limit) != limit or limit < 1):
        raise BlimpError(f"limit: must be a positive whole number of {what}, got {limit!r}")


def read_file_of(path, read, strict, what, unit) -> tuple[list, list[str]]:
    """`read(path, strict=strict)`'s objects and warnings, with one more warning when it gave none ("file: no
    <what>; <unit> skipped"), which `strict` makes a BlimpError."""
    objs, warnings = read(path, strict=strict)
    if not objs:
        message = f"{path}: no {what}" + (" (every line was skipped)" if warnings else "")
        if strict:
            raise BlimpError(message)
        warnings = warnings + [message + f"; {unit} skipped"]
    return objs, warnings


def load_suite(folder, strict=False, limit=None) -> tuple[dict[str, list[Pair]], list[str]]:
    """{paradigm: pairs} for every *.jsonl file of `folder`, sorted by name, and the warnings. `limit`: keep
    only the first `limit` pairs of each paradigm (quick runs). An empty paradigm is a warning and is left out
    (a BlimpError with `strict`); a missing folder, one without *.jsonl files, or one whose paradigms are all
    empty is a BlimpError."""
    folder = Path(folder)
    files = jsonl_files(folder, "minimal pairs per paradigm")
    check_limit(limit)
    suite, warnings = {}, []
    for path in files:
        pairs, w = read_file_of(path, read_paradigm, strict, "pairs", "paradigm")
        warnings += w
        if not pairs:
            continue
        suite[path.stem] = pairs[:int(limit)] if limit is not None else pairs
    if not suite:
        raise BlimpError(f"{folder}: no paradigm has any pairs")
    return dict(sorted(suite.items())), warnings


def is_builtin_pairs(folder) -> bool:
    """True for the `blimp/` folder of a built-in corpus (`babysweep data generate`): its corpus.json, beside
    it, names babysweep's generator."""
    from trainables.data.builtin_corpus import GENERATOR

    folder = Path(folder)
    try:
        record = json.loads((folder.parent / "corpus.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return False
    return folder.name == "blimp" and isinstance(record, dict) and record.get("generator") == GENERATOR


def suite_name_of(folder, name=None) -> str:
    """The suite (score column) of a folder of minimal pairs: `name` when given, else blimp_filtered for
    BabyLM's blimp_filtered, blimp_supplement for its supplement_filtered, builtin_pairs for the built-in
    pairs, the folder's name for any other. BlimpError for a name that cannot be a column of its own."""
    folder = Path(folder).expanduser()
    if name is None:
        given = Path(os.path.abspath(folder))  # the name given (".." resolved), not that of a symlink's target
        if given.name in BABYLM_FOLDERS:
            return BABYLM_FOLDERS[given.name]
        if is_builtin_pairs(given):
            return BUILTIN_SUITE
        name, how = given.name, f"{folder}: the folder's name"
    else:
        how = "--suite-name"
    if not name or "/" in name or name != name.strip() or name in RESERVED_SUITE_NAMES:
        why = "is the column prefix of a BabyLM suite or EWoK's suite" if name in RESERVED_SUITE_NAMES else \
            "cannot name a column (empty, or holds '/' or spaces at its ends)"
        raise BlimpError(f"{how} {name!r} {why}; name the suite with --suite-name NAME (or rename the folder)")
    return name
