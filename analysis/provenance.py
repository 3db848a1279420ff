"""How each score was made: the provenance of a suite's score, recorded beside it, and read by whatever aggregates
scores.

`babysweep evaluate` writes, for every suite it scores on a checkpoint, a column `provenance/<suite>` holding a
compact JSON object:

    source        the option the suite came from: blimp, supplement or ewok (what the suite *is*, whatever its
                  folder was called: a copy of BabyLM's BLiMP in a folder named blimp_original is still --blimp)
    sha256        the first 16 hex digits of the SHA-256 of the suite folder's *.jsonl files (names and bytes)
    per_paradigm  "all", or N: only the first N pairs (items) of each paradigm (domain) were scored (--limit N)
    pairs         how many pairs (items) were scored in all
    ties          the tie rule (right or wrong); newline, the utterance boundary a line break became; precision
    scorer        SCORER_VERSION: the version of babysweep's scorer

A later evaluate whose request (REQUEST_KEYS) differs from a row's scores that suite again (the row's earlier
scores go to evaluation_history.csv; the table shows the latest); `--rescore` scores again whatever the rows hold.
Rows scored before provenance was recorded have none: they are kept as they are ("not recorded"), and rescored
only with --rescore.

Aggregates (correlate, stability, compare, the report, the benchmarks' summaries) find suites by their columns
(sweep.table.suite_columns) or by their source (`suites_from`), state n and the provenance of what they aggregate
(`describe`), mark scores of a --limit run (`label`), and refuse to mix two provenances in one fit or table
(`check_one`: an AnalysisError naming the suite and the two)."""
import hashlib
import json
import math
from pathlib import Path

from .errors import AnalysisError

SCORER_VERSION = 1  # raise when scoring changes what a score means: every suite is then scored again
PREFIX = "provenance/"
REQUEST_KEYS = ("source", "sha256", "per_paradigm", "ties", "scorer")  # what a new request is compared by
RESULT_KEYS = ("newline", "precision")  # known only once the model is scored (its training stream)


def column(suite: str) -> str:
    return PREFIX + suite


def folder_hash(folder) -> str:
    """The first 16 hex digits of the SHA-256 of the folder's *.jsonl files, names and bytes, in name order."""
    digest = hashlib.sha256()
    for path in sorted(p for p in Path(folder).glob("*.jsonl") if p.is_file()):
        digest.update(path.name.encode() + b"\0")
        with open(path, "rb") as f:
            for block in iter(lambda: f.read(1 << 20), b""):
                digest.update(block)
        digest.update(b"\0")
    return digest.hexdigest()[:16]


def requested(suite, ties: str, limit=None) -> dict:
    """What scoring `suite` (an analysis.pairs.SuiteInput, read with `limit`) under `ties` is, before any model."""
    return {"source": suite.option, "sha256": folder_hash(suite.folder),
            "per_paradigm": "all" if limit is None else int(limit),
            "pairs": sum(len(v) for v in suite.data.values()), "ties": ties, "scorer": SCORER_VERSION}


def made(request: dict, scored: dict) -> dict:
    """The provenance of a score: the request and what scoring found (evaluate's result: newline, precision)."""
    return {**request, **{k: scored[k] for k in RESULT_KEYS if k in scored}}


def dumps(provenance: dict) -> str:
    return json.dumps(provenance, sort_keys=True, separators=(",", ":"))


def parse(cell) -> dict | None:
    """A provenance cell as a dict; None when there is none (scored before it was recorded)."""
    if cell is None or (isinstance(cell, float) and math.isnan(cell)) or cell == "":
        return None
    if isinstance(cell, dict):
        return cell
    try:
        value = json.loads(cell)
    except (TypeError, ValueError):
        return None
    return value if isinstance(value, dict) else None


def same_request(stored, request: dict) -> bool:
    """Whether a row's stored provenance answers `request`; a row with none recorded is taken as it is."""
    stored = parse(stored)
    return stored is None or all(stored.get(k) == request.get(k) for k in REQUEST_KEYS)


# ----------------------------------------------------------------------------------------------- aggregates

# what makes two scores two measures: the request, and the precision. Not the newline rule: each model is scored in
# its own training stream's convention (analysis/pairs.py), so families of two streams still compare
SAME_MEASURE = REQUEST_KEYS + ("precision",)


def _key(p: dict | None):
    return None if p is None else tuple((k, p.get(k)) for k in SAME_MEASURE)


def scored_cells(df, suite: str) -> list:
    """The provenance (a dict; None: not recorded) of each row of `df` that has a `suite` score."""
    import pandas as pd

    if suite not in df:
        return []
    rows = df[pd.to_numeric(df[suite], errors="coerce").notna()]
    return [parse(cell) for cell in (rows[column(suite)] if column(suite) in rows else [None] * len(rows))]


def provenances(df, suite: str) -> list:
    """The distinct provenances (dicts; None: not recorded) of the rows of `df` that have a `suite` score."""
    seen = {}
    for p in scored_cells(df, suite):
        seen.setdefault(_key(p), p)
    return list(seen.values())


def describe(p: dict | None) -> str:
    """One phrase: where a suite's scores come from."""
    if p is None:
        return "provenance not recorded (scored before babysweep recorded it)"
    per = p.get("per_paradigm")
    part = "every pair" if per == "all" else f"the first {per} per paradigm only (--limit {per}: a quick look)"
    return (f"--{p.get('source')} sha256 {p.get('sha256')}, {part}, {p.get('pairs', '?'):,} pairs, ties "
            f"{p.get('ties')}, newline {p.get('newline', '?')}, {p.get('precision', '?')}, scorer {p.get('scorer')}")


def label(df, suite: str, text: str) -> str:
    """`text` (a suite's label in a table or figure), marked when its scores are of a --limit run."""
    found = [p for p in provenances(df, suite) if p is not None and p.get("per_paradigm") != "all"]
    return f"{text} (--limit {found[0]['per_paradigm']})" if found else text


def check_one(df, suite: str, where: str) -> str:
    """describe() of the one provenance of `df`'s `suite` scores; AnalysisError when they have more than one (two
    folders, two limits, two tie rules...: not one measure), naming both and how to make them one. Scores with none
    recorded (made before babysweep recorded it) are taken with the others, and counted in the description."""
    cells = scored_cells(df, suite)
    found = provenances(df, suite)
    recorded = [p for p in found if p is not None]
    if len(recorded) > 1:
        shown = "; ".join(describe(p) for p in recorded[:2])
        raise AnalysisError(f"{where}: the {suite} scores were made {len(recorded)} ways ({shown}): not comparable "
                            f"in one fit or table; score them again as one (babysweep evaluate NAME --rescore ...)")
    if not found:
        return "no scores"
    if not recorded:
        return describe(None)
    unknown = sum(p is None for p in cells)
    newlines = sorted({str(p.get("newline")) for p in cells if p is not None})
    return (describe(recorded[0]) + (f" (newline: {' / '.join(newlines)}, each model in its own stream's)"
                                     if len(newlines) > 1 else "")
            + (f"; {unknown} score(s) with no provenance recorded" if unknown else ""))


def suites_from(df, source: str) -> list[str]:
    """The suite columns of `df` whose scores came from option `source` (blimp, supplement, ewok), whatever the
    suites are called; a suite with no recorded provenance counts by its BabyLM name (blimp_filtered: blimp,
    blimp_supplement: supplement, ewok: ewok)."""
    from sweep.table import suite_columns

    legacy = {"blimp_filtered": "blimp", "blimp_supplement": "supplement", "ewok": "ewok"}
    out = []
    for suite in suite_columns(df.columns):
        sources = {p.get("source") if p is not None else legacy.get(suite) for p in provenances(df, suite)}
        if source in sources:
            out.append(suite)
    return out


def section(fits) -> list[str]:
    """Markdown lines saying n and the provenance of the scores of each fit (or table row) that has them."""
    rows = [f"- {r['label']}: n = {r['n']}, {r['provenance']}" for r in fits
            if r.get("provenance") and "skipped" not in r]
    return ["Scores:", "", *rows, ""] if rows else []
