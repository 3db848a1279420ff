"""What issue 13's conventions change, on the demo sweep: two figures, side by side in one run.

    python benchmarks/bench_conventions.py                      # built-in corpus, 16 trials a sweep: ~12 min
    python benchmarks/bench_conventions.py --corpus babylm      # real text: the first 150k words of the BabyLM
                                                                # subset in ../shared/data, ~25 min on 2 cores

The corpus: the built-in one (`--words` train words), or `--corpus babylm`: the first lines of each domain file of
../shared/data/babylm_2023_subset, as many as give `--words` train words in all (the same share of each file), and
the first lines of its dev files as the test split (a fifth as many words).

1. Validation split. The corpus is prepared twice, with the tail split (the authors': the last lines
   of each domain file) and the random-lines split (babysweep's earlier default), and the same demo sweep (same
   space, searcher seed and trial count) runs on each. Every trial's model is scored (`evaluate_sweep`), which
   gives each its test loss; the R² of test loss on validation loss is printed for both splits.
2. Scoring conventions, same models. The tail sweep's models are scored by this tree's scorer (ties right,
   newline as the utterance boundary, float32) and by the scorer of an earlier commit (`--against`, checked out in
   a temporary git worktree: ties wrong, newline kept as text), on the built-in pairs (built-in corpus) or BabyLM's
   filtered BLiMP (real text), and, when ../shared/data is there, on BabyLM's BLiMP supplement (its dialogue items
   hold newlines); `--limit` pairs per paradigm or task. Printed: the
   R² of each suite score on validation loss under both, and how many pairs changed outcome.

A figure, not a test: a 16-trial sweep of tiny models gives R² with wide intervals (the bootstrap 95% interval is
printed beside each).
"""
import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
SHARED = REPO.parent / "shared" / "data"

from earlier_commit import earlier_commit  # noqa: E402

OLD_SCORER = """
import json, sys
from analysis.blimp import score_checkpoint
jobs = json.loads(sys.argv[1])
out = {}
for tid, ckpt in jobs["checkpoints"]:
    s = score_checkpoint(ckpt, jobs["blimp"], jobs.get("supplement"), limit=jobs.get("limit"), device="cpu")
    out[tid] = {k: v for k, v in s.items() if k != "warnings"}
print(json.dumps(out))
"""


def run_sweep(name, data, storage, samples, seed):
    from search_spaces.loader import SPACES_DIR
    from sweep.launch import SweepSpec, launch

    spec = SweepSpec(space=str(SPACES_DIR / "tiny_demo.yaml"), data=str(data), algo="bohb", samples=samples,
                     cpus_per_trial=1.0, seed=seed, name=name, storage=str(storage))
    launch(spec, overwrite=True, verbose=0)


def r2(x, y, digits=3):
    from analysis.correlate import regress

    fit = regress(x, y, n_boot=2000, seed=0)
    return (f"R² {fit['r2']:.{digits}f} [{fit['r2_lo']:.{digits}f}, {fit['r2_hi']:.{digits}f}] "
            f"(1 − R² = {1 - fit['r2']:.2e}, n={fit['n']})")


def babylm_cut(out: Path, words: int) -> Path:
    """The first lines of each domain file of the BabyLM subset: `words` train words in all, the same share of
    each file; the first lines of the dev files, a fifth as many words, as the test split."""
    source = SHARED / "babylm_2023_subset"
    if not source.is_dir():
        sys.exit(f"--corpus babylm: {source} is not here")
    for split, budget in (("train", words), ("dev", words // 5)):
        files = sorted((source / split).glob(f"*.{split}"))
        texts = {f: f.read_text(encoding="utf-8").splitlines() for f in files}
        total = sum(len(line.split()) for lines in texts.values() for line in lines)
        (out / split).mkdir(parents=True)
        for f, lines in texts.items():
            share, taken, n = budget * sum(len(x.split()) for x in lines) / total, [], 0
            for line in lines:
                if n >= share:
                    break
                taken.append(line)
                n += len(line.split())
            (out / split / f.name).write_text("".join(x + "\n" for x in taken), encoding="utf-8")
    return out


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--samples", type=int, default=16)
    p.add_argument("--corpus", choices=["builtin", "babylm"], default="builtin")
    p.add_argument("--words", type=int, default=None, help="train words (default: 100,000 built-in, 150,000 babylm)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--against", default="852ec44", help="the commit whose scorer is 'old' (default 852ec44)")
    p.add_argument("--limit", type=int, default=200, help="pairs per paradigm or task, both scorers (default 200)")
    args = p.parse_args()

    from analysis.evaluate import evaluate_sweep
    from sweep.experiment import load_experiment
    from trainables.data.builtin_corpus import generate_corpus
    from trainables.data.prepared import prepare

    work = Path(tempfile.mkdtemp(prefix="bench-conventions-"))
    corpus = work / "corpus"
    if args.corpus == "builtin":
        generate_corpus(corpus, words=args.words or 100_000, seed=args.seed)
        pairs, pairs_label, old_pairs_column = corpus / "blimp", "built-in pairs", "blimp_filtered"
    else:
        babylm_cut(corpus, args.words or 150_000)
        pairs, pairs_label, old_pairs_column = SHARED / "blimp_filtered", "BLiMP filtered (real)", "blimp_filtered"
    supplement = SHARED / "supplement_filtered" if (SHARED / "supplement_filtered").is_dir() else None
    tables = {}
    for split in ("tail", "random"):
        t0 = time.perf_counter()
        data = work / f"prepared-{split}"
        prepare(corpus, data, vocab_size=2_000, seq_length=128, valid_split=split, log=lambda *a: None)
        run_sweep(f"conv-{split}", data, work / "runs", args.samples, args.seed)
        evaluate_sweep(f"conv-{split}", pairs, supplement, storage=work / "runs", limit=args.limit,
                       log=lambda *a: None)
        tables[split] = load_experiment(f"conv-{split}", work / "runs").table
        print(f"{split} split: sweep and evaluation in {time.perf_counter() - t0:.0f} s", flush=True)

    print("\n1. test loss on validation loss, over every trial's scored model (the same demo sweep on each split)")
    for split, table in tables.items():
        scored = table[table["test_loss"].notna() & table["scored_val_loss"].notna()]
        print(f"   {split:<6} split: {r2(scored['scored_val_loss'], scored['test_loss'], digits=5)}")

    table = tables["tail"]
    new_pairs_column = "builtin_pairs" if args.corpus == "builtin" else "blimp_filtered"
    scored = table[table[new_pairs_column].notna()]
    jobs = {"checkpoints": [[str(t), str(c)] for t, c in zip(scored["trial_id"], scored["checkpoint"])],
            "blimp": str(pairs), "supplement": str(supplement) if supplement else None,
            "limit": args.limit}
    with earlier_commit(args.against, "bench-conventions-") as (_, old_code):
        env = dict(os.environ, PYTHONPATH=str(old_code))
        out = subprocess.run([sys.executable, "-c", OLD_SCORER, json.dumps(jobs)], cwd=old_code, env=env,
                             capture_output=True, text=True)
    if out.returncode != 0:
        sys.exit(f"the scorer of {args.against} failed:\n{out.stderr[-3000:]}")
    old = json.loads(out.stdout.strip().splitlines()[-1])

    print(f"\n2. suite score on validation loss, the tail sweep's {len(scored)} models scored two ways")
    print(f"   old: the scorer of {args.against} (ties wrong, newline kept as text); "
          f"new: this tree's (ties right, newline = </s> <s>, float32)")
    suites = [(new_pairs_column, old_pairs_column, pairs_label)]
    if supplement:
        suites.append(("blimp_supplement", "blimp_supplement", "BLiMP supplement (real, 5 tasks)"))
    x = scored["scored_val_loss"].to_numpy()
    for new_col, old_col, label in suites:
        old_scores = [old[str(t)][old_col] for t in scored["trial_id"]]
        new_scores = scored[new_col].to_numpy()
        diff = max(abs(a - b) for a, b in zip(old_scores, new_scores))
        print(f"   {label}:\n     old {r2(x, old_scores)}\n     new {r2(x, new_scores)}\n"
              f"     largest change of a model's score: {diff:.4f}")
    print(f"\nwork folder (delete when done): {work}")


if __name__ == "__main__":
    main()
