"""Reading a corpus in the BabyLM layout and splitting it into train and validation.

The BabyLM layout is a folder of domain files (`aochildes.train`, `cbt.train`, ...), plain UTF-8 text,
one utterance per line. The paper (BabyLlama-2, section 5) splits the 10M-word train folder by line
into 9.5M words of train and 0.5M of validation, and uses the "dev" folder as the held-out test split.

Two ways to choose the validation lines, each domain giving the same share of its words:

    tail     the last lines of each domain file, a contiguous block taken from the end up to the domain's
             word budget (the default). Consecutive lines of a file are often one dialogue or one story:
             a held-out block is unseen text as a whole, like the test split, where lines drawn at random
             leave the rest of their dialogue or story in train.
    random   lines drawn at random, seeded per domain (what babysweep did before: prepared folders whose
             meta.json names no split mode were made this way, and it stays bit-identical per seed).
"""
import hashlib
import logging
import random
from dataclasses import dataclass
from pathlib import Path

from ..errors import DataError

log = logging.getLogger("babysweep")

SPLIT_SUFFIXES = {"train": (".train",), "test": (".dev", ".test")}
VALID_SPLITS = ("tail", "random")  # the first is the default


@dataclass
class DomainFile:
    name: str  # the domain, i.e. the file stem ("aochildes")
    path: Path
    lines: list[str]
    sha256: str
    replaced: int  # invalid UTF-8 sequences replaced by U+FFFD

    @property
    def words(self) -> int:
        return count_words(self.lines)


def count_words(lines) -> int:
    return sum(len(line.split()) for line in lines)


def read_domain_file(path: Path) -> DomainFile:
    data = path.read_bytes()
    text = data.decode("utf-8", errors="replace")
    # U+FFFD already present in the file is legitimate text, not a replacement we made
    replaced = text.count("\ufffd") - data.count("\ufffd".encode())
    if replaced:
        log.warning("%s: %d invalid UTF-8 byte sequence(s) replaced with U+FFFD", path, replaced)
    # Blank lines carry no words; keeping them would only add separator tokens
    lines = [line for line in text.splitlines() if line.strip()]
    return DomainFile(path.stem, path, lines, hashlib.sha256(data).hexdigest(), replaced)


def read_folder(folder, suffixes) -> list[DomainFile]:
    """All domain files of `folder` whose name ends with one of `suffixes`, sorted by name."""
    folder = Path(folder)
    if not folder.exists():
        raise DataError(f"{folder}: no such folder")
    if not folder.is_dir():
        raise DataError(f"{folder}: not a folder")
    entries = sorted(p for p in folder.iterdir() if not p.name.startswith("."))
    if not entries:
        raise DataError(f"{folder}: folder is empty")
    files = [p for p in entries if p.is_file() and p.name.endswith(tuple(suffixes))]
    if not files:
        wanted = " or ".join(f"*{s}" for s in suffixes)
        raise DataError(f"{folder}: no {wanted} files (found {', '.join(p.name for p in entries[:5])})")
    domains = [read_domain_file(p) for p in files]
    if not any(d.lines for d in domains):
        raise DataError(f"{folder}: all {wanted_names(suffixes)} files are empty")
    return domains


def wanted_names(suffixes) -> str:
    return " / ".join(f"*{s}" for s in suffixes)


def split_train_validation(domains, valid_fraction=0.05, valid_words=None, seed=0, mode="tail"):
    """Line-level split, stratified per domain: each domain gives the same share of its words.

    Returns {domain: (train_lines, valid_lines)}, each list in the file's original order.
    `valid_words` (an absolute budget) wins over `valid_fraction` when given. `mode` is "tail" (the last
    lines of each file) or "random" (lines drawn with `seed`); see the module docstring.
    """
    if mode not in VALID_SPLITS:
        raise DataError(f"validation split {mode!r}: must be one of {', '.join(VALID_SPLITS)}")
    total = sum(d.words for d in domains)
    if valid_words is not None:
        if not 0 < valid_words < total:
            raise DataError(f"validation words must be between 1 and {total - 1} (the corpus has {total}), got {valid_words}")
        fraction = valid_words / total
    else:
        if not 0 < valid_fraction < 1:
            raise DataError(f"validation fraction must be in (0, 1), got {valid_fraction}")
        fraction = valid_fraction
    out = {}
    for d in domains:
        budget = round(d.words * fraction)
        if mode == "tail":
            order = range(len(d.lines) - 1, -1, -1)
        else:
            # Seeded per domain by name, so adding a domain file does not reshuffle the others
            rng = random.Random(f"{seed}:{d.name}")
            order = list(range(len(d.lines)))
            rng.shuffle(order)
        taken, words = [], 0
        for i in order:
            if words >= budget:
                break
            taken.append(i)
            words += len(d.lines[i].split())
        chosen = set(taken)
        train = [line for i, line in enumerate(d.lines) if i not in chosen]
        valid = [d.lines[i] for i in sorted(taken)]
        out[d.name] = (train, valid)
    return out


def summary_table(rows) -> str:
    """rows: list of (domain, split, lines, words) -> a fixed-width text table with totals per split."""
    header = f"{'domain':<28} {'split':<11} {'lines':>10} {'words':>11}"
    out = [header, "-" * len(header)]
    for domain, split, lines, words in rows:
        out.append(f"{domain:<28} {split:<11} {lines:>10,} {words:>11,}")
    out.append("-" * len(header))
    for split in dict.fromkeys(r[1] for r in rows):
        lines = sum(r[2] for r in rows if r[1] == split)
        words = sum(r[3] for r in rows if r[1] == split)
        out.append(f"{'total':<28} {split:<11} {lines:>10,} {words:>11,}")
    return "\n".join(out)
