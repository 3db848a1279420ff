"""The `babysweep` command: a thin layer over the library, one function per subcommand."""
import argparse
import logging
import sys

from analysis.blimp import BlimpError
from analysis.correlate import AnalysisError
from search_spaces.loader import SpaceError
from trainables.data.errors import DataError
from trainables.errors import ConfigError

from .errors import SweepError

# Errors whose message is meant for the user as it is: printed on one line, exit status 2, no traceback
USER_ERRORS = (DataError, ConfigError, SpaceError, SweepError, AnalysisError, BlimpError)


def parse_sets(pairs) -> dict:
    """`--set key=value` pairs; values read as YAML scalars, so 3e-4 is a float and cosine a string."""
    import yaml

    out = {}
    for pair in pairs or []:
        key, sep, value = pair.partition("=")
        if not sep or not key:
            raise ConfigError(f"--set {pair}: expected key=value")
        parsed = yaml.safe_load(value)
        if isinstance(parsed, str):  # PyYAML reads 1e-3 (no dot) as a string; a number was meant
            try:
                parsed = float(parsed)
            except ValueError:
                pass
        out[key] = parsed
    return out


def cmd_data_generate(args):
    from tqdm import tqdm

    from trainables.data.builtin_corpus import generate_corpus

    with tqdm(total=args.words, unit="word", unit_scale=True, desc="generating", disable=args.quiet) as bar:
        def progress(done, total):
            bar.total = total
            bar.update(done - bar.n)

        summary = generate_corpus(args.out, words=args.words, seed=args.seed, progress=progress)
    print(f"built-in corpus in {summary['out_dir']} (seed {summary['seed']})")
    for split, per_domain in summary["words"].items():
        print(f"  {split:<6} {sum(per_domain.values()):>10,} words  " +
              ", ".join(f"{d} {n:,}" for d, n in per_domain.items()))
    pairs = summary["paradigms"]
    print(f"  minimal pairs: {len(pairs)} paradigms, {sum(pairs.values()):,} pairs in {summary['out_dir']}/blimp")


def cmd_data_prepare(args):
    from trainables.data.babylm import summary_table
    from trainables.data.prepared import prepare

    meta = prepare(args.corpus, args.out, test=args.test, vocab_size=args.vocab_size, seq_length=args.seq_length,
                   valid_fraction=args.valid_fraction, valid_words=args.valid_words, seed=args.seed,
                   show_progress=not args.quiet, log=lambda msg: print(msg, file=sys.stderr))
    print(summary_table([(r["domain"], r["split"], r["lines"], r["words"]) for r in meta["domains"]]))
    print(f"tokenizer: byte-level BPE, {meta['tokenizer']['vocab_size']:,} entries (sha256 {meta['tokenizer']['sha256'][:12]})")
    for split, info in meta["splits"].items():
        print(f"  {split:<10} {info['tokens']:>11,} tokens  {info['tokens'] / max(info['words'], 1):.2f} tokens/word")
    print(f"prepared data in {args.out} (sequence length {meta['seq_length']}, cache dtype {meta['dtype']})")


def cmd_train(args):
    import time
    from pathlib import Path

    from tqdm import tqdm

    from search_spaces.loader import load_space
    from trainables.pretrain import ACCEPTED, pretrain
    from trainables.reporting import run_local

    space = load_space(args.space)
    space.check_names(ACCEPTED, "pretrain")
    config = space.centre()
    if args.preset:
        config["preset"] = args.preset
    overrides = parse_sets(args.set)
    unknown = sorted(set(overrides) - ACCEPTED)
    if unknown:
        raise ConfigError(f"--set {unknown[0]}: not a parameter of the pretrain trainable")
    config.update(overrides)
    config["data"] = str(args.data)
    out = Path(args.out or f"runs/train-{time.strftime('%Y%m%d-%H%M%S')}")
    if out.exists() and any(out.iterdir()):
        raise ConfigError(f"--out {out}: folder exists and is not empty; give a new folder")
    config["output_dir"] = str(out / "model")
    print("configuration: " + ", ".join(f"{k}={v}" for k, v in sorted(config.items())))

    with tqdm(total=1, unit="step", desc="training", disable=args.quiet) as bar:
        def on_step(step, total):
            bar.total = total
            bar.update(step - bar.n)

        def on_report(metrics):
            bar.set_postfix(epoch=f"{metrics['epoch']:g}", val_loss=f"{metrics['val_loss']:.4f}")
            tqdm.write(f"epoch {metrics['epoch']:g}: val_loss {metrics['val_loss']:.4f}  "
                       f"train_loss {metrics['train_loss']:.4f}  {metrics['tokens_per_s']:,.0f} tokens/s",
                       file=sys.stderr)

        run = run_local(pretrain, config, out / "checkpoints", on_report=on_report, on_step=on_step, keep_last=1)
    final = run.results[-1]
    if final.get("diverged"):
        print(f"diverged at epoch {final['epoch']:g} (non-finite loss); stopped")
        return 1
    print(f"val_loss {final['val_loss']:.4f}  test_loss {final.get('test_loss', float('nan')):.4f}  "
          f"{final['n_params']:,} parameters  {final['wall_s']:.1f} s")
    print(f"model (Hugging Face format): {out / 'model'}")


def print_summary(exp, storage):
    from .status import format_status, sweep_status

    st = sweep_status(exp.name, storage)
    print(format_status(st))
    unfinished = sum(st["counts"].get(s, 0) for s in ("RUNNING", "PAUSED", "PENDING"))
    if unfinished:
        print(f"interrupted with {unfinished} unfinished trial(s): continue with `babysweep resume {exp.name}"
              + (f" --storage {storage}" if storage != "runs" else "") + "`")
    return st


def cmd_launch(args):
    from .launch import SweepSpec, launch

    spec = SweepSpec(space=args.space, data=args.data, trainable=args.trainable, algo=args.algo, samples=args.samples,
                     max_concurrent=args.max_concurrent, cpus_per_trial=args.cpus_per_trial,
                     gpus_per_trial=args.gpus_per_trial, reduction_factor=args.reduction_factor, seed=args.seed,
                     name=args.name, storage=args.storage, address=args.address, wandb=args.wandb,
                     extra=parse_sets(args.set))
    exp = launch(spec, overwrite=args.overwrite, verbose=0 if args.quiet else 1)
    print_summary(exp, args.storage)


def cmd_resume(args):
    from .launch import resume

    exp = resume(args.name, args.storage, retry_errored=args.retry_errored, address=args.address,
                 verbose=0 if args.quiet else 1)
    print_summary(exp, args.storage)


def cmd_status(args):
    import json

    from .status import format_status, sweep_status

    st = sweep_status(args.name, args.storage)
    print(json.dumps(st, indent=2, default=str) if args.json else format_status(st))


def cmd_demo(args):
    import time

    from .demo import run_demo

    t0 = time.time()
    exp = run_demo(root=args.dir, storage=args.storage, samples=args.samples, seed=args.seed, words=args.words,
                   log=lambda m: print(m, file=sys.stderr), verbose=0 if args.quiet else 1)
    st = print_summary(exp, args.storage)
    print(f"demo finished in {time.time() - t0:.0f} s: {st['trials']} trials; results in {exp}")


def cmd_rerun(args):
    from .rerun import launch_rerun

    exp = launch_rerun(args.name, top_k=args.top_k, seeds=args.seeds, trials=args.trials, baseline=args.baseline,
                       storage=args.storage, rerun_name=args.rerun_name, cpus_per_trial=args.cpus_per_trial,
                       gpus_per_trial=args.gpus_per_trial, address=args.address,
                       overwrite=args.overwrite, verbose=0 if args.quiet else 1,
                       log=lambda m: print(m, file=sys.stderr))
    print_summary(exp, args.storage)
    print(f"next: `babysweep analyze stability {args.name}`" + (f" --storage {args.storage}" if args.storage != "runs" else ""))


def cmd_evaluate(args):
    from analysis.evaluate import evaluate_sweep

    done = evaluate_sweep(args.name, args.blimp, args.supplement, storage=args.storage, address=args.address,
                          cpus_per_task=args.cpus_per_task, gpus_per_task=args.gpus_per_task,
                          batch_size=args.batch_size, limit=args.limit, strict=args.strict,
                          log=lambda m: print(m, file=sys.stderr))
    cols = [c for c in ("trial_id", "blimp_filtered", "blimp_supplement") if c in done.columns]
    print(done[cols].to_string(index=False, float_format=lambda v: f"{v:.4f}") if len(done) else "nothing scored")
    print("suite score = mean of the per-paradigm accuracies; a pair is right when the good sentence's summed "
          "log-probability (after <s>) is strictly higher")


def build_parser():
    p = argparse.ArgumentParser(prog="babysweep", description=__doc__)
    sub = p.add_subparsers(dest="command", required=True, metavar="COMMAND")

    data = sub.add_parser("data", help="make and prepare corpora").add_subparsers(dest="data_command", required=True,
                                                                                  metavar="ACTION")
    g = data.add_parser("generate", help="write the built-in corpus and minimal pairs (no download)")
    g.add_argument("--out", required=True, help="folder to write (train/, dev/, test/, blimp/)")
    g.add_argument("--words", type=int, default=1_000_000, help="train words (default 1,000,000)")
    g.add_argument("--seed", type=int, default=0)
    g.add_argument("--quiet", action="store_true", help="no progress bar")
    g.set_defaults(func=cmd_data_generate)

    pr = data.add_parser("prepare", help="split a BabyLM-layout corpus, train the tokenizer, build the token cache")
    pr.add_argument("--corpus", required=True,
                    help="folder of *.train files, or a release root holding train/ (and dev/, used as test)")
    pr.add_argument("--test", help="folder of *.dev or *.test files for the test split (default: <corpus>/dev)")
    pr.add_argument("--out", required=True, help="the prepared folder to write")
    pr.add_argument("--vocab-size", type=int, default=16_000)
    pr.add_argument("--seq-length", type=int, default=128)
    pr.add_argument("--valid-fraction", type=float, default=0.05, help="share of train words held out (default 0.05)")
    pr.add_argument("--valid-words", type=int, help="hold out this many words instead of a fraction")
    pr.add_argument("--seed", type=int, default=0, help="seed of the line-level split")
    pr.add_argument("--quiet", action="store_true", help="no progress bars")
    pr.set_defaults(func=cmd_data_prepare)

    t = sub.add_parser("train", help="train one configuration outside any sweep (the prior's centre by default)")
    t.add_argument("--space", required=True, help="search-space YAML (its centre gives the configuration)")
    t.add_argument("--data", required=True, help="prepared data folder (babysweep data prepare)")
    t.add_argument("--preset", help="model preset (smollm-345m, babyllama-16m, tiny)")
    t.add_argument("--set", action="append", metavar="KEY=VALUE", help="override one value (repeatable)")
    t.add_argument("--out", help="output folder (default runs/train-<time>)")
    t.add_argument("--quiet", action="store_true", help="no progress bar")
    t.set_defaults(func=cmd_train)

    la = sub.add_parser("launch", help="launch a sweep (BOHB on Ray Tune by default)")
    la.add_argument("space", help="search-space YAML (search_spaces/...)")
    la.add_argument("--data", help="prepared data folder (babysweep data prepare); needed by pretrain")
    la.add_argument("--trainable", default="pretrain", help="pretrain, finetune or package.module:function")
    la.add_argument("--algo", default="bohb", help="bohb (default), asha or random: the same priors and budget")
    la.add_argument("--samples", type=int, default=16, help="number of trials (default 16)")
    la.add_argument("--max-concurrent", type=int, help="trials running at once (default: as resources allow)")
    la.add_argument("--cpus-per-trial", type=float, default=1.0)
    la.add_argument("--gpus-per-trial", type=float, default=0.0, help="fractions allowed, e.g. 0.5")
    la.add_argument("--reduction-factor", type=float, default=3.0, help="eta of HyperBand/ASHA (default 3)")
    la.add_argument("--address", help="join a Ray cluster: auto or HOST:PORT (default: a private local Ray)")
    la.add_argument("--storage", default="runs", help="experiment storage folder, shared by all nodes on a cluster")
    la.add_argument("--name", help="experiment name (default <space>-<algo>-<time>)")
    la.add_argument("--seed", type=int, default=0, help="seed of the searcher")
    la.add_argument("--wandb", nargs="?", const="offline", choices=["offline", "online"],
                    help="log trials to Weights & Biases (offline unless 'online' is given)")
    la.add_argument("--set", action="append", metavar="KEY=VALUE", help="extra value for every trial's config")
    la.add_argument("--overwrite", action="store_true", help="replace an existing sweep of the same name")
    la.add_argument("--quiet", action="store_true", help="no trial table while running")
    la.set_defaults(func=cmd_launch)

    re_ = sub.add_parser("resume", help="continue a stopped sweep from its checkpoints")
    re_.add_argument("name")
    re_.add_argument("--storage", default="runs")
    re_.add_argument("--retry-errored", action="store_true", help="also re-run trials that errored")
    re_.add_argument("--address", help="Ray cluster to resume on (default: as launched)")
    re_.add_argument("--quiet", action="store_true")
    re_.set_defaults(func=cmd_resume)

    st = sub.add_parser("status", help="trials, best configuration and compute used of a sweep")
    st.add_argument("name")
    st.add_argument("--storage", default="runs")
    st.add_argument("--json", action="store_true", help="machine-readable output")
    st.set_defaults(func=cmd_status)

    de = sub.add_parser("demo", help="generate the built-in corpus, prepare it, run a 16-trial BOHB sweep (CPU)")
    de.add_argument("--dir", default="runs/demo-data", help="where the demo corpus and prepared data go")
    de.add_argument("--storage", default="runs")
    de.add_argument("--samples", type=int, default=16)
    de.add_argument("--seed", type=int, default=0)
    de.add_argument("--words", type=int, default=100_000, help="size of the built-in train corpus (default 100,000)")
    de.add_argument("--quiet", action="store_true")
    de.set_defaults(func=cmd_demo)

    rr = sub.add_parser("rerun", help="re-train a sweep's best configurations with new seeds")
    rr.add_argument("name", help="the sweep whose trials to re-run")
    rr.add_argument("--top-k", type=int, default=3, help="best K trials by final validation loss (default 3)")
    rr.add_argument("--seeds", type=int, default=3, help="new seeds per configuration (at least 2; default 3)")
    rr.add_argument("--trials", nargs="+", metavar="ID", help="re-run these trials instead of the top K")
    rr.add_argument("--baseline", action="store_true", help="also re-train the space's centre with the same seeds")
    rr.add_argument("--storage", default="runs")
    rr.add_argument("--rerun-name", help="experiment name (default <name>-rerun)")
    rr.add_argument("--cpus-per-trial", type=float)
    rr.add_argument("--gpus-per-trial", type=float)
    rr.add_argument("--address")
    rr.add_argument("--overwrite", action="store_true")
    rr.add_argument("--quiet", action="store_true")
    rr.set_defaults(func=cmd_rerun)

    ev = sub.add_parser("evaluate", help="score every finished trial's final checkpoint on BLiMP (Ray tasks)")
    ev.add_argument("name", help="sweep (or re-run) name")
    ev.add_argument("--blimp", required=True, help="folder of BLiMP-format *.jsonl paradigms")
    ev.add_argument("--supplement", help="folder of the BabyLM supplement tasks")
    ev.add_argument("--storage", default="runs")
    ev.add_argument("--address")
    ev.add_argument("--cpus-per-task", type=float, default=1.0)
    ev.add_argument("--gpus-per-task", type=float, default=0.0)
    ev.add_argument("--batch-size", type=int, default=64)
    ev.add_argument("--limit", type=int, help="score only the first N pairs of each paradigm (quick look)")
    ev.add_argument("--strict", action="store_true", help="stop at the first malformed line instead of skipping it")
    ev.set_defaults(func=cmd_evaluate)

    from analysis.cli import register

    from .finetune_all import add_parser as add_finetune_all

    add_finetune_all(sub)
    register(sub)
    return p


def main(argv=None):
    logging.basicConfig(format="babysweep: %(levelname)s: %(message)s", level=logging.INFO)
    args = build_parser().parse_args(argv)
    try:
        return args.func(args) or 0
    except USER_ERRORS as e:
        print(f"babysweep: error: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("babysweep: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
