"""Writing the built-in corpus folder.

    <out>/train/<domain>.train   one utterance a line; `words` words in all, shared among the domains
    <out>/dev/<domain>.dev       by DOMAIN_SHARE; dev and test get a tenth of `words` each (at least
    <out>/test/<domain>.test     MIN_EVAL_WORDS)
    <out>/blimp/<UID>.jsonl      the minimal pairs, one JSON object a line with BLiMP's keys: sentence_good,
                                 sentence_bad, field, linguistics_term, UID, pair_id (analysis.blimp reads them;
                                 its suite is `builtin_pairs`: not BLiMP, and found by the corpus.json beside it)
    <out>/ewok/<domain>.jsonl    EWoK-format items (ewok.py): Domain, ConceptA, ConceptB, Context1, Target1,
                                 Target2, item_id (analysis.ewok reads them)
    <out>/corpus.json            the generator, its version, the arguments, word counts, every file's size
    <out>/README.md              the same for people

No evaluation sentence (of a pair, or a context or target of an EWoK item) appears as a sentence of the corpus:
the pairs and items are made first, and a group of lines (an utterance, a story, an exchange) that holds one of
their sentences is dropped whole.

The folder is built aside and published in one rename (`trainables.files.staged_folder`): a crash leaves
nothing, a second call with the same arguments finds the finished folder and returns at once, and of two
processes writing the same corpus, the second keeps the first one's.
"""
import json
from pathlib import Path

from ...errors import DataError
from ...files import folder_is_free, staged_folder
from .ewok import DEFAULT_ITEMS, item_sentences, make_items
from .grammar import GENERATOR, VERSION, grammar_for
from .paradigms import PARADIGMS, make_pairs

DEFAULT_WORDS = 1_000_000
DOMAINS = ("child_directed_speech", "stories", "dialogue")
DOMAIN_SHARE = {"child_directed_speech": 0.40, "stories": 0.35, "dialogue": 0.25}
MIN_EVAL_WORDS = 3_000  # dev and test get words/10, but never fewer than this
PROGRESS_STEP = 20_000  # words between two progress reports


def generate_corpus(out_dir, words=DEFAULT_WORDS, seed=0, pairs_per_paradigm=250, progress=None,
                    ewok_items_per_domain=DEFAULT_ITEMS) -> dict:
    """Write the built-in corpus, its minimal pairs and its EWoK-format items to out_dir (see the module
    docstring); return {"out_dir", "seed", "words": {split: {domain: n}}, "paradigms": {UID: n_pairs},
    "ewok": {domain: n_items}}.
    `progress(words_done, words_total)` is called now and then, and once at the end."""
    if int(words) != words or words < 1:
        raise DataError(f"--words: must be a positive integer, got {words!r}")
    if int(pairs_per_paradigm) != pairs_per_paradigm or pairs_per_paradigm < 1:
        raise DataError(f"pairs_per_paradigm: must be a positive integer, got {pairs_per_paradigm!r}")
    if int(ewok_items_per_domain) != ewok_items_per_domain or ewok_items_per_domain < 1:
        raise DataError(f"ewok_items_per_domain: must be a positive integer, got {ewok_items_per_domain!r}")
    words, seed, pairs_per_paradigm = int(words), int(seed), int(pairs_per_paradigm)
    out_dir = Path(out_dir)
    params = {"version": VERSION, "words_requested": words, "seed": seed, "pairs_per_paradigm": pairs_per_paradigm,
              "ewok_items_per_domain": int(ewok_items_per_domain)}
    done = _existing(out_dir, params)
    if done is not None:
        return done

    budgets = _split_budgets(words)
    reporter = _Progress(progress, sum(budgets.values()))
    with staged_folder(out_dir) as staging:
        record = _write_corpus(staging.path, params, budgets, reporter)
    if not staging.published:
        # another process finished the same corpus first: theirs is as good as ours
        theirs = _existing(out_dir, params)
        if theirs is None:
            raise DataError(f"{out_dir}: another process emptied this folder while the corpus was written; "
                            f"generate again")
        return theirs
    reporter.finish()
    return _summary_of(record, out_dir)


def _split_budgets(words):
    eval_words = max(words // 10, MIN_EVAL_WORDS)
    return {"train": words, "dev": eval_words, "test": eval_words}


def _write_corpus(folder: Path, params, budgets, reporter) -> dict:
    """Fill `folder` (a staging folder, ours alone until it is published) and return corpus.json's record."""
    # pairs and EWoK items first: the corpus must not contain any of their sentences
    pairs = make_pairs(params["seed"], params["pairs_per_paradigm"])
    items = make_items(params["seed"], params["ewok_items_per_domain"])
    good = {r["sentence_good"] for rs in pairs.values() for r in rs}
    bad = {r["sentence_bad"] for rs in pairs.values() for r in rs}
    ewok = item_sentences(items)
    # "bad" stays 0 unless the grammar can make an ungrammatical sentence
    rejected = {"good": 0, "bad": 0, "ewok": 0}

    counts, files = {}, {}  # words per split and domain; bytes per file written
    words_before = 0  # in the files already written
    for split, budget in budgets.items():
        (folder / split).mkdir()
        counts[split] = {}
        for d, domain in enumerate(DOMAINS):
            # the last domain takes the rest, so the split's total is on budget
            share = budget - sum(counts[split].values()) if d == len(DOMAINS) - 1 \
                else round(budget * DOMAIN_SHARE[domain])
            grammar = grammar_for(params["seed"], split, domain)
            lines, n = [], 0
            while n < share:
                group = grammar.lines(domain)
                sentences = [" ".join(s) for _, ss in group for s in ss]
                if any(s in good or s in bad or s in ewok for s in sentences):
                    rejected["good"] += sum(s in good for s in sentences)
                    rejected["bad"] += sum(s in bad for s in sentences)
                    rejected["ewok"] += sum(s in ewok for s in sentences)
                    continue
                for speaker, ss in group:
                    line = speaker + " ".join(" ".join(s) for s in ss)
                    lines.append(line)
                    n += len(line.split())
                reporter.update(words_before + n)
            counts[split][domain] = n
            words_before += n
            _write(folder, f"{split}/{domain}.{split}", "\n".join(lines) + "\n", files)

    (folder / "blimp").mkdir()
    for uid, records in pairs.items():
        _write(folder, f"blimp/{uid}.jsonl", "".join(json.dumps(r) + "\n" for r in records), files)
    (folder / "ewok").mkdir()
    for domain, records in items.items():
        _write(folder, f"ewok/{domain}.jsonl", "".join(json.dumps(r) + "\n" for r in records), files)

    record = {"generator": GENERATOR, **params, "words": counts,
              "paradigms": {uid: len(rs) for uid, rs in pairs.items()},
              "ewok": {domain: len(rs) for domain, rs in items.items()},
              "paradigm_info": {uid: {"field": f, "linguistics_term": t} for uid, f, t, _ in PARADIGMS},
              "rejected_corpus_sentences": rejected, "files": files}
    (folder / "README.md").write_text(_readme(record), encoding="utf-8")
    (folder / "corpus.json").write_text(json.dumps(record, indent=1) + "\n", encoding="utf-8")
    return record


def _write(folder: Path, rel: str, text: str, sizes: dict) -> None:
    """Write one data file; its size goes to `sizes` (corpus.json keeps them, to notice damage later)."""
    data = text.encode("utf-8")
    (folder / rel).write_bytes(data)
    sizes[rel] = len(data)


class _Progress:
    """Passes `words_done` to the caller's progress(words_done, words_total) every PROGRESS_STEP words."""

    def __init__(self, callback, total):
        self.callback, self.total, self.reported = callback, total, 0

    def update(self, words_done):
        if self.callback is not None and words_done - self.reported >= PROGRESS_STEP:
            self.reported = words_done
            self.callback(min(words_done, self.total), self.total)

    def finish(self):
        if self.callback is not None:
            self.callback(self.total, self.total)


def _summary_of(record, out_dir):
    return {"out_dir": str(out_dir), "seed": record["seed"], "words": record["words"],
            "paradigms": record["paradigms"], "ewok": record.get("ewok", {})}


def _existing(out_dir: Path, params):
    """The summary of a finished corpus with the same parameters in out_dir; None if out_dir is absent or
    empty (free to publish into); DataError for anything else."""
    if folder_is_free(out_dir):
        return None
    if not out_dir.is_dir():
        raise DataError(f"{out_dir}: exists and is not a folder; choose another output folder")
    try:
        record = json.loads((out_dir / "corpus.json").read_text(encoding="utf-8"))
        ours = record.get("generator") == GENERATOR
    except (OSError, ValueError, AttributeError):
        ours = False
    if not ours:
        raise DataError(f"{out_dir}: folder is not empty and holds no corpus of babysweep's built-in "
                        f"generator; choose an empty or new folder")
    theirs = {k: record.get(k) for k in params}
    if record.get("version") != params["version"]:
        raise DataError(f"{out_dir}: holds a built-in corpus of generator version {record.get('version')}, and this "
                        f"is version {params['version']} (its output differs); delete {out_dir} and generate "
                        f"again, or choose another folder")
    if theirs != params:
        said = ", ".join(f"{k}={v}" for k, v in theirs.items())
        raise DataError(f"{out_dir}: holds a built-in corpus made with {said}; choose another folder "
                        f"for {', '.join(f'{k}={v}' for k, v in params.items())}")
    for rel, size in record.get("files", {}).items():
        f = out_dir / rel
        if not f.is_file() or f.stat().st_size != size:
            raise DataError(f"{f}: missing or changed since the built-in generator wrote it; delete {out_dir} "
                            f"and generate again")
    return _summary_of(record, out_dir)


def _readme(record):
    rows = "\n".join(f"| {split} | " + " | ".join(str(record["words"][split][d]) for d in DOMAINS) + " |"
                     for split in record["words"])
    paradigms = "\n".join(f"- `{uid}` ({record['paradigm_info'][uid]['field']}): {n} pairs"
                          for uid, n in record["paradigms"].items())
    ewok = "\n".join(f"- `{domain}`: {n} items" for domain, n in record["ewok"].items())
    return f"""# Built-in corpus (babysweep)

Made by `{GENERATOR}` version {record['version']} with words={record['words_requested']},
seed={record['seed']}, pairs_per_paradigm={record['pairs_per_paradigm']},
ewok_items_per_domain={record['ewok_items_per_domain']}: synthetic child-directed English from a small
probabilistic grammar, in the BabyLM layout (one utterance a line), with BLiMP-style minimal pairs made by the
same grammar and EWoK-format world-knowledge items made from its words. No evaluation sentence (of a pair or an
item) occurs as a sentence of the corpus. Regenerate it any time: the output is the same, byte for byte, for
the same arguments.

Words (whitespace-separated) per split and domain:

| split | {' | '.join(DOMAINS)} |
|---|{'---|' * len(DOMAINS)}
{rows}

Minimal-pair paradigms (`blimp/<UID>.jsonl`; keys sentence_good, sentence_bad, field, linguistics_term,
UID, pair_id). `babysweep evaluate` names this suite `builtin_pairs` (they are not BLiMP):

{paradigms}

EWoK-format items (`ewok/<domain>.jsonl`; keys Domain, ConceptA, ConceptB, Context1, Target1, Target2, item_id;
an item is right when Target1 is the more probable continuation of Context1; `babysweep evaluate --ewok`):

{ewok}
"""
