"""The paper's central claim in miniature (issue 15, docs/claim-in-miniature.md): do students distilled from an
ensemble of teachers beat the teachers, and the models a sweep finds? On the built-in corpus, tiny preset, 2 cores.

    python benchmarks/bench_claim.py                       # ~10 min: the demo sweep, then the families
    python benchmarks/bench_claim.py --storage runs --pairs 50

It runs babysweep's own commands, in this order (the same sequence a user types, printed as it goes):
    babysweep demo --quick                                       the sweep (16 trials), if the storage has none
    babysweep replicate teachers   --space teacher_table2.yaml --seeds 6   (Table 2's recipe at the tiny scale)
    babysweep replicate students-1 --space student_table2.yaml --seeds 3 --set teachers=[T1]
    babysweep replicate students-2 --space student_table2.yaml --seeds 3 --set teachers=[T1,T2]
    babysweep replicate ensembles  --ensemble-of teachers --size 2       (3 direct ensembles of 2 teachers)
    babysweep evaluate <each> --blimp <corpus>/blimp --limit N           (the built-in pairs)
    babysweep analyze compare teachers students-1 students-2 ensembles --sweep demo
Both recipes are the paper's Table 2 scaled to the tiny model the demo sweeps: the tiny_demo space's centre for
lr, batch size, warm-up and weight decay, 3 epochs (--set over the recipe files). T1 and T2 are the first two
teachers; the students keep alpha = 0.5, T = 1.
"""
import argparse
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
SPACES = REPO / "search_spaces"
# Table 2's recipe at the tiny scale: the tiny_demo space's centre (lr 3e-3, batch 32, 20 warm-up steps, weight
# decay 0.1) and its 3-epoch schedule
TINY = ["--set", "preset=tiny", "--set", "lr=0.003", "--set", "batch_size=32", "--set", "num_warmup_steps=20",
        "--set", "weight_decay=0.1", "--set", "num_epochs=3"]


def babysweep(*args, log=print):
    log("$ babysweep " + " ".join(str(a) for a in args))
    t0 = time.time()
    out = subprocess.run([sys.executable, "-m", "babysweep.cli", *map(str, args)], cwd=REPO, capture_output=True,
                         text=True)
    if out.returncode != 0:
        sys.exit(f"babysweep {args[0]} failed ({out.returncode}):\n{out.stderr[-3000:]}")
    log(f"  ({time.time() - t0:.0f} s)")
    return out.stdout


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--storage", default="runs/claim", help="where the experiments go (default runs/claim)")
    parser.add_argument("--dir", default="runs/demo-data", help="the demo's data folder")
    parser.add_argument("--pairs", type=int, default=50, help="built-in pairs per paradigm scored (default 50)")
    args = parser.parse_args()

    sys.path.insert(0, str(REPO))
    from sweep.demo import DEMO_WORDS, demo_corpus, demo_data
    from sweep.table import read_table

    storage, t0 = Path(args.storage), time.time()
    prepared = demo_data(args.dir, log=lambda m: None)
    blimp = demo_corpus(args.dir, DEMO_WORDS) / "blimp"
    common = ["--storage", storage, "--quiet"]
    if not (storage / "demo" / "results.csv").is_file():
        babysweep("demo", "--quick", "--dir", args.dir, "--storage", storage, "--quiet")
    babysweep("replicate", "teachers", "--space", SPACES / "teacher_table2.yaml", "--data", prepared, "--seeds", 6,
              *TINY, *common, "--overwrite")
    teachers = read_table(storage / "teachers" / "results.csv").sort_values("seed")["checkpoint"].tolist()
    t1, t2 = teachers[:2]
    for name, chosen in (("students-1", [t1]), ("students-2", [t1, t2])):
        babysweep("replicate", name, "--space", SPACES / "student_table2.yaml", "--data", prepared, "--seeds", 3,
                  *TINY, "--set", f"teachers=[{','.join(chosen)}]", *common, "--overwrite")
    babysweep("replicate", "ensembles", "--ensemble-of", "teachers", "--size", 2, "--storage", storage, "--quiet",
              "--overwrite")
    for name in ("demo", "teachers", "students-1", "students-2", "ensembles"):
        babysweep("evaluate", name, "--blimp", blimp, "--limit", args.pairs, "--storage", storage)
    print(babysweep("analyze", "compare", "teachers", "students-1", "students-2", "ensembles", "--sweep", "demo",
                    "--storage", storage))
    print(f"total {time.time() - t0:.0f} s")


if __name__ == "__main__":
    main()
