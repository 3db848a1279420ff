"""The paper's three findings measured on real text at CPU scale: babysweep's whole pipeline on a BabyLM-layout corpus.

    python benchmarks/bench_science.py [--corpus ../shared/data/babylm_2023_subset] [--words 300000]
        [--preset llama-2m] [--trials 16] [--pairs 50] [--out runs/science] [--summary science.md]

1. a budgeted copy of the corpus: the first words/domains words of each *.train file (whole lines; a domain with
   fewer gives all it has and the others share the rest), and of each dev/test file the same share of --test-words;
2. `prepare` (trainables.data.prepared): tail validation split, a byte-level BPE of --vocab-size entries;
3. babysweep.pipeline.run_pipeline: a BOHB sweep of --trials trials of --space (search_spaces/science_cpu.yaml; the
   model is --preset), BLiMP filtered + supplement on every trial (--pairs pairs per paradigm), the correlations
   (R² with bootstrap intervals), a re-run of the --top-k best with --seeds new initialisation seeds each
   (--baseline adds the paper's teacher hyperparameters on the same model), the stability verdicts, the report;
4. one markdown summary (--summary): the three R² (test loss, BLiMP filtered, BLiMP supplement on validation loss)
   with intervals and n, the BLiMP range across trials, the stability verdicts, wall time per stage, the command.

The defaults are sized to finish in 25-30 minutes on 2 CPU cores (measured with 50 pairs per paradigm: 25 min from
a fresh clone, 30 min while other jobs shared the cores; docs/findings.md).
Bad input (a corpus smaller than --words, an unknown preset, a BLiMP folder without *.jsonl files) is a one-line
error and exit status 2 before anything long starts.
"""
import argparse
import math
import shlex
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

SHARED = REPO.parent / "shared" / "data"
CHANCE = 0.55  # a best trial at or below this BLiMP filtered accuracy is "at chance" (the threshold)
SECTIONS = ("## Setup", "## Findings", "## BLiMP across trials", "## Stability", "## Wall time per stage",
            "## Command")


class BenchError(Exception):
    """Bad input: reported in one line, exit status 2."""


# ------------------------------------------------------------------------------------------------ the corpus

def read_lines(path: Path) -> list[str]:
    text = path.read_bytes().decode("utf-8", errors="replace")
    return [line for line in text.splitlines() if line.strip()]


def share_out(budget: int, sizes: dict) -> dict:
    """Split `budget` words evenly over domains of `sizes` words; a domain with fewer gives all it has and the
    others share what it leaves (water-filling). {domain: quota}."""
    quotas, left, open_ = {}, budget, dict(sorted(sizes.items(), key=lambda kv: kv[1]))
    while open_:
        even = left // len(open_)
        name, size = next(iter(open_.items()))
        if size <= even:  # the smallest domain cannot fill its share: it gives all it has
            quotas[name] = size
            left -= size
            del open_[name]
            continue
        for i, name in enumerate(open_):  # every remaining domain can: the same share each (remainder to the first)
            quotas[name] = even + (1 if i < left - even * len(open_) else 0)
        break
    return quotas


def first_words(lines: list[str], quota: int) -> list[str]:
    """The first lines of a file up to `quota` words (whole lines: the last one may cross the quota)."""
    out, words = [], 0
    for line in lines:
        if words >= quota:
            break
        out.append(line)
        words += len(line.split())
    return out


def domain_files(folder: Path, suffixes) -> dict:
    return {p: read_lines(p) for p in sorted(folder.iterdir()) if p.is_file() and p.name.endswith(suffixes)}


def check_corpus(corpus: Path, words: int):
    """(train files {path: lines}, test files {path: lines}); BenchError for a corpus that cannot give `words`."""
    from trainables.data.prepared import locate_folders

    if not corpus.is_dir():
        raise BenchError(f"--corpus {corpus}: no such folder")
    train_dir, test_dir = locate_folders(corpus)
    train = domain_files(train_dir, (".train",)) if train_dir.is_dir() else {}
    if not train:
        raise BenchError(f"--corpus {corpus}: no *.train files (a BabyLM-layout folder: train/*.train, dev/*.dev)")
    total = sum(len(line.split()) for lines in train.values() for line in lines)
    if total < words:
        raise BenchError(f"--corpus {corpus}: its *.train files hold {total:,} words, fewer than --words {words:,}")
    test = domain_files(test_dir, (".dev", ".test")) if test_dir is not None and test_dir.is_dir() else {}
    return train, test


def write_budgeted(train: dict, test: dict, words: int, test_words: int, out: Path) -> dict:
    """The budgeted corpus in `out` (train/, dev/); returns {split: words written}."""
    written = {}
    for split, files, budget, suffix in (("train", train, words, ".train"), ("dev", test, test_words, ".dev")):
        if not files:
            continue
        (out / split).mkdir(parents=True, exist_ok=True)
        sizes = {p: sum(len(line.split()) for line in lines) for p, lines in files.items()}
        quotas = share_out(budget, sizes)
        written[split] = 0
        for p, lines in files.items():
            taken = first_words(lines, quotas[p])
            (out / split / (Path(p).stem + suffix)).write_text("".join(line + "\n" for line in taken), encoding="utf-8")
            written[split] += sum(len(line.split()) for line in taken)
    return written


# ------------------------------------------------------------------------------------------------ the checks

def check_suite(flag: str, folder: str | None):
    if folder is None:
        return
    path = Path(folder)
    if not path.is_dir():
        raise BenchError(f"{flag} {folder}: no such folder")
    if not any(path.glob("*.jsonl")):
        raise BenchError(f"{flag} {folder}: no *.jsonl files (a BLiMP-format folder: one <paradigm>.jsonl each)")


def check_args(args):
    """Everything checked before the corpus is read: BenchError on bad input."""
    from trainables.model import PRESETS

    if args.preset not in PRESETS:
        raise BenchError(f"--preset {args.preset}: unknown preset (known: {', '.join(PRESETS)})")
    for flag, value in (("--words", args.words), ("--trials", args.trials), ("--vocab-size", args.vocab_size),
                        ("--top-k", args.top_k), ("--seeds", args.seeds), ("--seq-length", args.seq_length)):
        if value < 1:
            raise BenchError(f"{flag} {value}: must be at least 1")
    if args.pairs is not None and args.pairs < 1:
        raise BenchError(f"--pairs {args.pairs}: must be at least 1 (or leave it out for every pair)")
    if args.test_words is not None and args.test_words < 1:
        raise BenchError(f"--test-words {args.test_words}: must be at least 1")
    if args.epochs is not None and not (args.epochs > 0 and math.isfinite(args.epochs)):
        raise BenchError(f"--epochs {args.epochs}: must be a positive number")
    if not Path(args.space).is_file():
        raise BenchError(f"--space {args.space}: no such file")
    check_suite("--blimp", args.blimp)
    check_suite("--supplement", args.supplement)


def space_with_epochs(space: str, epochs: float, folder: Path) -> str:
    """A copy of the space file with BOHB's budget max = num_epochs = E, min = budget_step = E/3."""
    import yaml

    data = yaml.safe_load(Path(space).read_text())
    data["budget"] = {"min": epochs / 3, "max": epochs}
    data.setdefault("constants", {})["budget_step"] = epochs / 3
    data["constants"].pop("num_epochs", None)
    data.setdefault("parameters", {})["num_epochs"] = epochs
    path = folder / f"{Path(space).stem}-{epochs:g}ep.yaml"
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    return str(path)


# ------------------------------------------------------------------------------------------------ the summary

def r2_cell(result) -> tuple[str, str]:
    if result is None:
        return "not measured", "—"
    if "skipped" in result:
        return f"not fitted ({result['skipped']})", str(result.get("n", 0))
    lo, hi = result.get("r2_lo", math.nan), result.get("r2_hi", math.nan)
    ci = f"[{lo:.3f}, {hi:.3f}]" if math.isfinite(lo) and math.isfinite(hi) else "no interval"
    return f"{result['r2']:.3f} {ci}", str(result["n"])


PAPER = {"test_loss": "0.999", "blimp_filtered": "0.86", "blimp_supplement": "0.6"}
FINDINGS = (("test_loss", "test loss on validation loss"), ("blimp_filtered", "BLiMP filtered on validation loss"),
            ("blimp_supplement", "BLiMP supplement on validation loss"))


SOURCES = {"blimp_filtered": "blimp", "blimp_supplement": "supplement"}  # what each finding's suite is (provenance)


def suite_for(table, y: str) -> str:
    """The column of the table that holds the scores a finding is about: the suite scored from --blimp (or
    --supplement), whatever its folder was called (analysis/provenance.py suites_from); `y` itself otherwise."""
    from analysis.provenance import suites_from

    found = suites_from(table, SOURCES[y]) if y in SOURCES and table is not None else []
    return found[0] if found else y


def blimp_section(table) -> tuple[list[str], dict]:
    """The BLiMP range across the sweep's scored trials, and the best trial's (lowest validation loss) score."""
    import pandas as pd

    facts = {}
    column = suite_for(table, "blimp_filtered")
    if column not in table.columns:
        return ["No trial has a BLiMP filtered score."], facts
    df = table.copy().assign(v=pd.to_numeric(table["val_loss"], errors="coerce"),
                      b=pd.to_numeric(table[column], errors="coerce")).dropna(subset=["v", "b"])
    if df.empty:
        return ["No trial has both a validation loss and a BLiMP filtered score."], facts
    best = df.loc[df["v"].idxmin()]
    top = df.loc[df["b"].idxmax()]
    facts = {"min": float(df["b"].min()), "max": float(df["b"].max()), "best_val": float(best["b"]),
             "n": len(df)}
    lines = [f"- BLiMP filtered across {len(df)} scored trials: {facts['min']:.3f} – {facts['max']:.3f} "
             f"(mean {df['b'].mean():.3f})",
             f"- best trial by validation loss ({best['trial_id']}, val loss {best['v']:.3f}, "
             f"epoch {best.get('epoch', '?')}): BLiMP filtered {best['b']:.3f}",
             f"- highest BLiMP filtered: {top['b']:.3f} ({top['trial_id']}, val loss {top['v']:.3f})"]
    supplement = suite_for(df, "blimp_supplement")
    if supplement in df.columns:
        s = pd.to_numeric(df[supplement], errors="coerce").dropna()
        if len(s):
            lines.append(f"- BLiMP supplement across trials: {s.min():.3f} – {s.max():.3f}")
    verdict = ("at chance" if facts["best_val"] <= CHANCE else "above chance")
    lines.append(f"- verdict: the best trial's BLiMP filtered is {verdict} (threshold {CHANCE}; chance is 0.5)")
    facts["verdict"] = verdict
    return lines, facts


def stability_section(table) -> list[str]:
    if table is None or len(table) == 0:
        return ["No re-run finished with a validation loss: no verdict."]
    lines = ["| configuration | original val loss | re-seeded mean ± std (n) | gap | verdict |", "|---|---|---|---|---|"]
    for _, r in table.iterrows():
        orig = "—" if math.isnan(r["original"]) else f"{r['original']:.4f}"
        std = "—" if math.isnan(r["std"]) else f"{r['std']:.4f}"
        gap = "—" if math.isnan(r["gap"]) else f"{r['gap']:+.4f}"
        lines.append(f"| {r['source_trial_id']} | {orig} | {r['mean']:.4f} ± {std} ({r['n_seeds']}) | {gap} | "
                     f"{r['verdict']} |")
    judged = table[table["verdict"] != "-"]
    regressed = int((judged["verdict"] == "regressed").sum())
    worse = int((judged["gap"] > 0).sum())
    lines += ["", f"{regressed} of {len(judged)} best configurations regressed (re-seeded mean worse than the "
                  f"original by more than 2 re-seeded standard deviations); {worse} of {len(judged)} did worse on "
                  f"average when re-trained from new initialisations (the paper: the best configurations regress)."]
    return lines


def write_summary(path: Path, args, command: str, setup: dict, outcome, table, seconds: dict, total=None) -> Path:
    by_y = {r["y"]: r for r in outcome.correlations}
    lines = ["# babysweep science benchmark: the paper's findings on real text", "", "## Setup", ""]
    lines += [f"- {k}: {v}" for k, v in setup.items()]
    lines += ["", "## Findings", "", "| finding | R² [95% bootstrap interval] | n | paper |", "|---|---|---|---|"]
    for y, label in FINDINGS:
        cell, n = r2_cell(by_y.get(suite_for(table, y)))
        lines.append(f"| {label} | {cell} | {n} | {PAPER[y]} |")
    lines += ["", f"Bootstrap: {args.n_boot} resamples of the trials; n counts the trials with both values.", ""]
    lines += [f"- {r['label']} (`{r['y']}`): {r['provenance']}" for r in outcome.correlations if r.get("provenance")]
    lines += ["",
              "## BLiMP across trials", ""]
    blimp_lines, facts = blimp_section(table)
    lines += blimp_lines
    lines += ["", "## Stability", ""] + stability_section(outcome.stability)
    lines += ["", "## Wall time per stage", "", "| stage | seconds |", "|---|---|"]
    lines += [f"| {k} | {v:.0f} |" for k, v in seconds.items()]
    lines += [f"| all stages | {sum(seconds.values()):.0f} |"]
    if total is not None:
        lines.append(f"| end to end (with Ray's start and the summary) | {total:.0f} |")
    lines += ["",
              "Wall times are of this run on this machine; other jobs sharing its CPUs make them longer.", "",
              "## Command", "", "```", command, "```", ""]
    if outcome.report is not None:
        lines[-1:-1] = ["", f"Full report: {outcome.report}"]
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


# ------------------------------------------------------------------------------------------------ main

def parser():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--corpus", default=str(SHARED / "babylm_2023_subset"), help="a BabyLM-layout corpus")
    p.add_argument("--words", type=int, default=300_000, help="train words, taken evenly across the *.train files")
    p.add_argument("--test-words", type=int, default=None,
                   help="words of the dev files kept as the test split (default: a tenth of --words)")
    p.add_argument("--vocab-size", type=int, default=6_000)
    p.add_argument("--seq-length", type=int, default=128)
    p.add_argument("--preset", default="llama-2m", help="a trainables.model preset")
    p.add_argument("--space", default=str(REPO / "search_spaces" / "science_cpu.yaml"))
    p.add_argument("--epochs", type=float, default=None,
                   help="BOHB's maximum budget in epochs (a copy of --space with max E, min E/3)")
    p.add_argument("--trials", type=int, default=16)
    p.add_argument("--pairs", type=int, default=50, help="pairs per paradigm (BLiMP and supplement; default 50, the measured run's)")
    p.add_argument("--blimp", default=str(SHARED / "blimp_filtered"))
    p.add_argument("--supplement", default=str(SHARED / "supplement_filtered"),
                   help="a BLiMP-format folder; 'none' to skip")
    p.add_argument("--top-k", type=int, default=3)
    p.add_argument("--seeds", type=int, default=2)
    p.add_argument("--baseline", action=argparse.BooleanOptionalAction, default=False,
                   help="also re-run the paper's teacher hyperparameters on the same model (8 epochs each: off by "
                        "default at this scale, where they cost as much as the rest of the re-runs)")
    p.add_argument("--n-boot", type=int, default=2000)
    p.add_argument("--seed", type=int, default=0, help="the searcher's seed")
    p.add_argument("--out", default=None, help="work folder (corpus copy, prepared data, runs); default: a temp one")
    p.add_argument("--summary", default=str(REPO / "runs" / "science" / "summary.md"))
    p.add_argument("--name", default="science")
    p.add_argument("--quiet", action="store_true")
    return p


def main(argv=None) -> int:
    args = parser().parse_args(argv)
    if args.supplement in ("none", ""):
        args.supplement = None
    command = "python benchmarks/bench_science.py " + " ".join(shlex.quote(a) for a in
                                                                (sys.argv[1:] if argv is None else argv))
    say = (lambda m: None) if args.quiet else (lambda m: print(m, flush=True))
    try:
        check_args(args)
        train, test = check_corpus(Path(args.corpus), args.words)
    except BenchError as e:
        print(f"bench_science: error: {e}", file=sys.stderr)
        return 2
    test_words = args.test_words or max(args.words // 10, 1)

    from babysweep.pipeline import run_pipeline
    from sweep.kinds.searched import SweepSpec
    from sweep.experiment import load_experiment
    from trainables.data.prepared import prepare

    t_start = time.time()
    tmp = None
    if args.out is None:
        tmp = tempfile.TemporaryDirectory(prefix="bench-science-")
        work = Path(tmp.name)
    else:
        work = Path(args.out).resolve()
        work.mkdir(parents=True, exist_ok=True)
    try:
        seconds = {}
        t0 = time.time()
        corpus = work / f"corpus-{args.words}"
        if corpus.exists():
            import shutil
            shutil.rmtree(corpus)
        written = write_budgeted(train, test, args.words, test_words, corpus)
        prepared = work / f"prepared-{args.words}-v{args.vocab_size}-s{args.seq_length}"
        meta = prepare(corpus, prepared, vocab_size=args.vocab_size, seq_length=args.seq_length,
                       log=lambda m: say(f"[prepare] {m}") if m.startswith("warning") else None)
        seconds["prepare"] = time.time() - t0
        tokens = {s: v.get("tokens") for s, v in meta["splits"].items()}
        say(f"[prepare] {written} words -> tokens {tokens}, vocabulary {meta['tokenizer']['vocab_size']}, "
            f"in {seconds['prepare']:.0f} s")

        space = args.space if args.epochs is None else space_with_epochs(args.space, args.epochs, work)
        spec = SweepSpec(space=space, data=str(prepared), algo="bohb", samples=args.trials, seed=args.seed,
                         name=args.name, storage=str(work / "runs"), extra={"preset": args.preset})
        suites = {"blimp_dir": args.blimp, "supplement_dir": args.supplement}
        outcome = run_pipeline(spec, {k: v for k, v in suites.items() if v}, pairs_per_paradigm=args.pairs,
                               top_k=args.top_k, seeds=args.seeds, baseline=args.baseline, n_boot=args.n_boot,
                               log=say, verbose=0 if args.quiet else 1)
        seconds.update(outcome.stage_seconds)
        exp = load_experiment(outcome.sweep.name, str(outcome.sweep.parent))
        from search_spaces.loader import load_space
        sp = load_space(space)
        setup = {
            "corpus": f"{args.corpus}: {written.get('train', 0):,} train words (validation: the tail 5% of each "
                      f"domain), {written.get('dev', 0):,} test words from the dev files",
            "tokens": ", ".join(f"{s} {n:,}" for s, n in tokens.items()),
            "vocabulary": f"{meta['tokenizer']['vocab_size']:,} (requested {args.vocab_size:,}), "
                          f"{args.seq_length} tokens a block",
            "model": f"{args.preset} ({parameter_count(args.preset, meta['tokenizer']['vocab_size'], args.seq_length):,}"
                     f" parameters at this vocabulary)",
            "sweep": f"BOHB, {args.trials} trials of {Path(args.space).name}, budget {sp.budget_min:g}–"
                     f"{sp.budget_max:g} epochs, searcher seed {args.seed}",
            "evaluation": f"BLiMP filtered ({args.blimp}) and supplement ({args.supplement}), "
                          f"{args.pairs or 'all'} pairs per paradigm",
            "re-runs": f"top {args.top_k} x {args.seeds} new initialisation seeds"
                       + (" + the paper's teacher baseline" if args.baseline else ""),
            "results": str(outcome.sweep),
        }
        summary = write_summary(Path(args.summary), args, command, setup, outcome, exp.table, seconds,
                                time.time() - t_start)
    finally:
        if tmp is not None:
            tmp.cleanup()
    say(f"summary: {summary} ({time.time() - t_start:.0f} s in all)")
    for line in outcome.findings:
        say(f"  {line}")
    return 0


def parameter_count(preset, vocab_size, seq_length) -> int:
    from trainables.model import build_model, count_parameters, model_config

    return count_parameters(build_model(model_config(preset, {}, vocab_size, seq_length)))


if __name__ == "__main__":
    sys.exit(main())
