"""`babysweep launch | resume | status | demo | rerun | evaluate`: experiments on Ray."""
from pathlib import Path

from .common import DEFAULT_STORAGE, log_to_stderr, parse_sets, storage_flag, verbosity


def print_summary(exp, storage):
    """The experiment's status after a run; its exit status: 1 when trials ended in ERROR (they can be retried)."""
    from sweep.status import format_status, sweep_status

    st = sweep_status(exp.name, storage)
    print(format_status(st))
    print_scan(st)
    unfinished = sum(st["counts"].get(s, 0) for s in ("RUNNING", "PAUSED", "PENDING"))
    if unfinished:
        print(f"interrupted with {unfinished} unfinished trial(s): continue with `babysweep resume {exp.name}"
              + storage_flag(storage) + "`")
    from pathlib import Path

    wandb_runs = Path(st["experiment"]) / "wandb"  # sweep/wandb_runs.py (not imported: it loads Ray and wandb)
    offline = sorted(wandb_runs.glob("offline-run-*"))
    if offline:
        print(f"W&B: {len(offline)} offline run(s) in {wandb_runs}; upload them with "
              f"`wandb sync {wandb_runs}/offline-run-*`")
    errored = st["counts"].get("ERROR", 0)
    if errored:
        log_to_stderr(f"babysweep: {errored} trial(s) ended in ERROR (above, with where each full error text is "
                      f"kept); once the cause is fixed, retry them from their checkpoints with `babysweep resume "
                      f"{exp.name}{storage_flag(storage)} --retry-errored`")
        st["exit_status"] = 1
    return st


def print_scan(st):
    """A scan's one-at-a-time curves (analysis/scan.py) under its status."""
    from sweep.experiment import load_experiment
    from sweep.kinds import ScanSpec

    if isinstance(load_experiment(st["name"], Path(st["experiment"]).parent).spec, ScanSpec):
        import pandas as pd

        from analysis.scan import format_curves, scan_curves

        print("\n".join(format_curves(scan_curves(pd.DataFrame(st["rows"])))))


def interrupted_summary(e, storage) -> int:
    """After Ctrl-C or SIGTERM: the experiment's status, how to go on, and 128 + the signal's number."""
    from pathlib import Path

    from trainables.errors import UserError

    exp = getattr(e, "experiment", None)
    if exp is not None:
        try:
            print_summary(Path(exp), storage)  # it ends "interrupted with N unfinished trial(s): continue with ..."
        except UserError:
            pass
    log_to_stderr(f"babysweep: {e}{'' if e.at_once else ', with every trial saved as it stood'}"
                  + (f"; continue with `babysweep resume {Path(exp).name}{storage_flag(storage)}`" if exp else ""))
    return e.exit_status


def cmd_launch(args):
    from sweep.errors import Interrupted
    from sweep.launch import SweepSpec, launch

    spec = SweepSpec(space=args.space, data=args.data, trainable=args.trainable, algo=args.algo, samples=args.samples,
                     max_concurrent=args.max_concurrent, cpus_per_trial=args.cpus_per_trial,
                     gpus_per_trial=args.gpus_per_trial, reduction_factor=args.reduction_factor, seed=args.seed,
                     name=args.name, storage=args.storage, address=args.address, wandb=args.wandb,
                     keep=args.keep, seeding=args.seeding, max_budget=args.max_budget, max_hours=args.max_hours,
                     max_gpu_hours=args.max_gpu_hours, max_failures=args.max_failures, fail_fast=args.fail_fast,
                     extra=parse_sets(args.set))
    scanned = [n.strip() for n in args.scan_params.split(",") if n.strip()] if args.scan_params else None
    spec.check_scan_points(args.scan_points, scanned)
    try:
        if spec.is_scan:
            from sweep.scan import launch_scan

            exp = launch_scan(spec, 5 if args.scan_points is None else args.scan_points, overwrite=args.overwrite,
                              verbose=verbosity(args), log=log_to_stderr, params=scanned)
        else:
            exp = launch(spec, overwrite=args.overwrite, verbose=verbosity(args))
    except Interrupted as e:
        return interrupted_summary(e, args.storage)
    return print_summary(exp, args.storage).get("exit_status", 0)


def cmd_resume(args):
    from sweep.errors import Interrupted
    from sweep.resume import resume

    try:
        exp = resume(args.name, args.storage, retry_errored=args.retry_errored, address=args.address,
                     verbose=verbosity(args), max_failures=args.max_failures, fail_fast=args.fail_fast)
    except Interrupted as e:
        return interrupted_summary(e, args.storage)
    return print_summary(exp, args.storage).get("exit_status", 0)


def cmd_status(args):
    import json

    from sweep.status import format_status, sweep_status

    st = sweep_status(args.name, args.storage)
    print(json.dumps(st, indent=2, default=str) if args.json else format_status(st))
    if not args.json:
        print_scan(st)


def cmd_demo(args):
    import time

    from sweep.demo import demo_corpus, demo_data, demo_spec, run_demo

    t0 = time.time()
    if args.quick:
        exp = run_demo(root=args.dir, storage=args.storage, samples=args.samples, seed=args.seed, words=args.words,
                       log=log_to_stderr, verbose=verbosity(args))
        st = print_summary(exp, args.storage)
        print(f"demo finished in {time.time() - t0:.0f} s: {st['trials']} trials; results in {exp}")
        return st.get("exit_status", 0)

    from babysweep.pipeline import run_pipeline
    from sweep.errors import SweepError

    if args.top_k < 1 or args.seeds < 2:  # what the re-run stage would refuse, said before the sweep runs
        raise SweepError(f"--top-k {args.top_k}: must be at least 1" if args.top_k < 1 else
                         f"--seeds {args.seeds}: at least 2 seeds are needed to measure a spread")
    print("[data] the built-in corpus, prepared", flush=True)
    prepared = demo_data(args.dir, args.words, args.seed, log=lambda m: None)
    spec = demo_spec(prepared, args.storage, "demo", args.samples, args.seed)
    print(f"[sweep] BOHB, {args.samples} trials of search_spaces/tiny_demo.yaml", flush=True)
    outcome = run_pipeline(spec, {"blimp_dir": str(demo_corpus(args.dir, args.words, args.seed) / "blimp")},
                           pairs_per_paradigm=args.pairs, top_k=args.top_k, seeds=args.seeds, baseline=True,
                           log=lambda m: print(m, flush=True), verbose=verbosity(args))
    print()
    st = print_summary(outcome.sweep, args.storage)
    print()
    print(f"demo finished in {time.time() - t0:.0f} s: {st['trials']} trials, {outcome.rerun.name} re-runs")
    print("findings:")
    for line in outcome.findings:
        print(f"  {line}")
    print(f"report: {outcome.report}")
    return st.get("exit_status", 0)


def cmd_rerun(args):
    from sweep.rerun import launch_rerun

    exp = launch_rerun(args.name, top_k=args.top_k, seeds=args.seeds, trials=args.trials, baseline=args.baseline,
                       storage=args.storage, rerun_name=args.rerun_name, cpus_per_trial=args.cpus_per_trial,
                       gpus_per_trial=args.gpus_per_trial, address=args.address,
                       overwrite=args.overwrite, reseed=args.reseed, max_failures=args.max_failures,
                       verbose=verbosity(args), log=log_to_stderr)
    st = print_summary(exp, args.storage)
    print(f"next: `babysweep analyze stability {args.name}{storage_flag(args.storage)}`")
    return st.get("exit_status", 0)


def cmd_evaluate(args):
    """A sweep's models as Ray tasks, or one model folder here; which one, the first line says."""
    from pathlib import Path

    from analysis.blimp import BlimpError, check_ties
    from trainables.model_folder import find_model

    if args.ties is not None:
        check_ties(args.ties)  # a one-line error (argparse's choices would print the usage too)
    if not (args.blimp or args.supplement or args.ewok):
        raise BlimpError("evaluate: nothing to score; give --blimp, --supplement or --ewok (a folder of *.jsonl)")
    folder = Path(args.name).expanduser()
    sweep_dir = Path(args.storage).expanduser() / args.name
    plain = bool(args.name) and not args.name.startswith(".") and not any(c in args.name for c in "/\\\0")
    is_sweep = plain and (sweep_dir / "sweep.json").is_file()
    if folder.is_dir() and find_model(folder) is not None:
        also = f"; not the sweep {args.name!r} of {args.storage}" if is_sweep else ""
        if args.rescore:
            raise BlimpError(f"--rescore: only for a sweep, and {folder} is a model folder (scored afresh each time)")
        print(f"evaluating the model folder {folder} here (no Ray){also}", flush=True)
        return evaluate_one_model(args, folder)
    if not is_sweep and (folder.is_dir() or not plain):
        # meant as a folder: say what it lacks, not that it is no experiment name
        what = ("holds no model (a Hugging Face folder, a trial checkpoint with hf/, or a pretraining checkpoint "
                "with config.json and trainer_state.pt)" if folder.is_dir() else "no such model folder")
        raise BlimpError(f"{folder}: {what}; nor is it a sweep of {args.storage}")
    if args.out or args.device:
        raise BlimpError(f"--{'out' if args.out else 'device'}: only for a model folder, and {args.name!r} is "
                         + ("a sweep" if is_sweep else "no model folder"))
    also = f" ({folder} is also a folder here, but holds no model)" if folder.is_dir() else ""
    print(f"evaluating the sweep {args.name!r} of {args.storage}: every trial's model, as Ray tasks{also}",
          flush=True)
    evaluate_a_sweep(args)


def evaluate_one_model(args, folder):
    from analysis.blimp import DEFAULT_TIES
    from analysis.evaluate import evaluate_model, format_model_report

    result = evaluate_model(folder, args.blimp, args.supplement, args.ewok, suite_name=args.suite_name,
                            ties=args.ties or DEFAULT_TIES, batch_size=args.batch_size, device=args.device, limit=args.limit,
                            strict=args.strict, out=args.out, progress=not args.quiet)
    for w in result["warnings"]:
        log_to_stderr(f"warning: {w}")
    print("\n".join(format_model_report(result)))
    if args.out:
        print(f"written: {args.out}")


def evaluate_a_sweep(args):
    from analysis.blimp import DEFAULT_TIES
    from analysis import provenance
    from analysis.evaluate import evaluate_sweep
    from sweep.table import suite_columns

    done = evaluate_sweep(args.name, args.blimp, args.supplement, storage=args.storage, address=args.address,
                          cpus_per_task=args.cpus_per_task, gpus_per_task=args.gpus_per_task,
                          batch_size=args.batch_size, limit=args.limit, strict=args.strict,
                          finished_only=args.finished_only, ewok_dir=args.ewok, suite_name=args.suite_name,
                          ties=args.ties, log=log_to_stderr, rescore=args.rescore)
    cols = ["trial_id"] + suite_columns(done.columns) if "trial_id" in done.columns else []
    shown = done[cols].sort_values("trial_id", kind="stable") if cols else done  # by trial, not by completion
    print(shown.to_string(index=False, float_format=lambda v: f"{v:.4f}") if len(done) else "nothing scored")
    rules = sorted(set(done["ties_rule"].dropna())) if "ties_rule" in done.columns else []
    ties = rules[0] if len(rules) == 1 else args.ties or DEFAULT_TIES
    print(f"suite score = mean of the per-paradigm (EWoK: per-domain) accuracies; a pair is right when the good "
          f"sentence's summed log-probability (after <s>, a newline being an utterance boundary) is "
          f"{'at least as high' if ties == 'right' else 'strictly higher'} (--ties {ties}); float32")
    for suite in suite_columns(done.columns):
        for made in provenance.provenances(done, suite):
            print(f"{suite}: {provenance.describe(made)}")


def register(sub):
    la = sub.add_parser("launch", help="launch a sweep (BOHB on Ray Tune by default)")
    la.add_argument("space", help="search-space YAML (search_spaces/...)")
    la.add_argument("--data", help="prepared data folder (babysweep data prepare); needed by pretrain")
    la.add_argument("--trainable", help="pretrain, finetune or package.module:function (default: the space "
                                        "file's trainable: key)")
    la.add_argument("--algo", default="bohb", help="bohb (default), asha or random: the same priors and budget; "
                                                   "scan: each parameter on its own around the centre (full budget)")
    la.add_argument("--scan-points", type=int, help="points per parameter of --algo scan (default 5)")
    la.add_argument("--scan-params", metavar="P1,P2", help="--algo scan: only these parameters (default: every "
                                                            "searched one; the others stay at the centre)")
    la.add_argument("--samples", type=int, default=16, help="number of trials (default 16)")
    la.add_argument("--max-budget", type=float, metavar="EPOCHS",
                    help="compute budget: total epochs over all trials; no new trial once spent")
    la.add_argument("--max-hours", type=float, metavar="H", help="compute budget in trial-hours")
    la.add_argument("--max-gpu-hours", type=float, metavar="H", help="compute budget in GPU-hours (26 GPU-days: 624)")
    la.add_argument("--max-concurrent", type=int, help="trials running at once (default: as resources allow)")
    la.add_argument("--cpus-per-trial", type=float, default=1.0)
    la.add_argument("--gpus-per-trial", type=float, default=0.0, help="fractions allowed, e.g. 0.5")
    la.add_argument("--reduction-factor", type=float, default=3.0, help="eta of HyperBand/ASHA (default 3)")
    la.add_argument("--address", help="join a Ray cluster: auto or HOST:PORT (default: a private local Ray)")
    la.add_argument("--storage", default=DEFAULT_STORAGE, help="experiment storage folder, shared by all nodes on a cluster")
    la.add_argument("--name", help="experiment name (default <space>-<algo>-<time>)")
    la.add_argument("--seed", type=int, default=0, help="seed of the searcher")
    la.add_argument("--wandb", nargs="?", const="offline", choices=["offline", "online"],
                    help="log trials to Weights & Biases (offline unless 'online' is given)")
    la.add_argument("--set", action="append", metavar="KEY=VALUE", help="extra value for every trial's config")
    la.add_argument("--keep", default=None, help="the checkpoint each trial is scored at: last (where it stopped) or "
                                                 "best (its best result by the space's metric, as the authors' "
                                                 "Trainer); default: best for fine-tuning, last otherwise")
    la.add_argument("--seeding", default="per_trial", help="per_trial (default: each trial its own initialisation "
                                                           "on one data order, as the paper) or fixed (the space's seed)")
    la.add_argument("--max-failures", type=int, default=3, metavar="N",
                    help="retries of a trial that lost its worker or node, from its latest checkpoint (default 3; "
                         "a trial's own error, e.g. a bad config, is not retried)")
    la.add_argument("--fail-fast", type=int, default=3, metavar="N",
                    help="stop the sweep when its first N failing trials all fail with the same error before any "
                         "trial reported (default 3; 0: never)")
    la.add_argument("--overwrite", action="store_true", help="replace an existing sweep of the same name")
    la.add_argument("--quiet", action="store_true", help="nothing while it runs (default: a progress line)")
    la.add_argument("--verbose", action="store_true", help="Ray's own trial tables instead of the progress line")
    la.set_defaults(func=cmd_launch)

    re_ = sub.add_parser("resume", help="continue a stopped sweep from its checkpoints")
    re_.add_argument("name")
    re_.add_argument("--storage", default=DEFAULT_STORAGE)
    re_.add_argument("--retry-errored", action="store_true",
                     help="also continue the trials that ended in ERROR, from their latest checkpoints (without it, "
                          "they stay in ERROR)")
    re_.add_argument("--max-failures", type=int, metavar="N", help="retries of a trial that loses its worker or "
                                                                     "node (default: as launched)")
    re_.add_argument("--fail-fast", type=int, metavar="N", help="stop when the first N failing trials all fail "
                                                                 "alike before any report (default: as launched)")
    re_.add_argument("--address", help="Ray cluster to resume on (default: as launched)")
    re_.add_argument("--quiet", action="store_true")
    re_.add_argument("--verbose", action="store_true", help="Ray's own trial tables instead of the progress line")
    re_.set_defaults(func=cmd_resume)

    st = sub.add_parser("status", help="trials, best configuration and compute used of a sweep")
    st.add_argument("name")
    st.add_argument("--storage", default=DEFAULT_STORAGE)
    st.add_argument("--json", action="store_true", help="machine-readable output")
    st.set_defaults(func=cmd_status)

    de = sub.add_parser("demo", help="the paper's pipeline in miniature on the built-in corpus (CPU, ~5 min): a "
                                     "16-trial BOHB sweep, BLiMP on every model, correlations, a stability re-run "
                                     "of the best 3, and a report")
    de.add_argument("--dir", default="runs/demo-data", help="where the demo corpus and prepared data go")
    de.add_argument("--storage", default=DEFAULT_STORAGE)
    de.add_argument("--samples", type=int, default=16)
    de.add_argument("--seed", type=int, default=0)
    de.add_argument("--words", type=int, default=100_000, help="size of the built-in train corpus (default 100,000)")
    de.add_argument("--quick", action="store_true", help="the sweep alone")
    de.add_argument("--pairs", type=int, default=50, metavar="N", help="pairs per paradigm scored (default 50)")
    de.add_argument("--top-k", type=int, default=3, metavar="K", help="best configurations re-run (default 3)")
    de.add_argument("--seeds", type=int, default=2, metavar="N", help="new seeds per re-run configuration (default 2)")
    de.add_argument("--quiet", action="store_true")
    de.add_argument("--verbose", action="store_true", help="Ray's own trial tables instead of the progress line")
    de.set_defaults(func=cmd_demo)

    rr = sub.add_parser("rerun", help="re-train a sweep's best configurations with new seeds")
    rr.add_argument("name", help="the sweep whose trials to re-run")
    rr.add_argument("--top-k", type=int, default=3, help="best K trials by final validation loss (default 3)")
    rr.add_argument("--seeds", type=int, default=3, help="new seeds per configuration (at least 2; default 3)")
    rr.add_argument("--trials", nargs="+", metavar="ID", help="re-run these trials instead of the top K")
    rr.add_argument("--baseline", action="store_true", help="also re-train the paper's teacher (Table 2 "
                                                           "hyperparameters, on the sweep's model) with the same seeds")
    rr.add_argument("--reseed", default="init", help="what the new seeds change: init (default, as the paper), "
                                                     "data (the data order) or both")
    rr.add_argument("--storage", default=DEFAULT_STORAGE)
    rr.add_argument("--rerun-name", help="experiment name (default <name>-rerun)")
    rr.add_argument("--cpus-per-trial", type=float)
    rr.add_argument("--gpus-per-trial", type=float)
    rr.add_argument("--address")
    rr.add_argument("--max-failures", type=int, metavar="N", help="retries of a trial that loses its worker or "
                                                                    "node (default: the sweep's)")
    rr.add_argument("--overwrite", action="store_true")
    rr.add_argument("--quiet", action="store_true")
    rr.add_argument("--verbose", action="store_true", help="Ray's own trial tables instead of the progress line")
    rr.set_defaults(func=cmd_rerun)

    ev = sub.add_parser("evaluate", help="score every trial's model of a sweep (Ray tasks), or one model folder, "
                                         "on BLiMP-format pairs and EWoK, with its test loss",
                        description="NAME is a sweep (or re-run): every trial's model is scored as Ray tasks and the "
                                    "scores go into its results table. NAME may also be a model folder (a Hugging "
                                    "Face folder, a trial checkpoint with hf/, a pretraining checkpoint): it is "
                                    "scored here and its table printed. A folder wins over a sweep of the same name "
                                    "only when it holds a model; the first line says which.")
    ev.add_argument("name", help="sweep (or re-run) name, or a model folder")
    ev.add_argument("--blimp", help="folder of BLiMP-format *.jsonl paradigms (BabyLM's blimp_filtered: column "
                                    "blimp_filtered; the built-in pairs: builtin_pairs; another: its name)")
    ev.add_argument("--suite-name", metavar="NAME", help="name the --blimp suite's columns (NAME, NAME/<paradigm>)")
    ev.add_argument("--supplement", help="folder of the BabyLM supplement tasks (supplement_filtered: column "
                                         "blimp_supplement)")
    ev.add_argument("--ewok", metavar="DIR", help="folder of EWoK *.jsonl files, one per domain (columns ewok, "
                                                   "ewok/<domain>)")
    ev.add_argument("--ties", default=None, metavar="right|wrong",
                    help="a tie of the two log-probabilities counts as right (as lm-eval) or wrong; default: right, "
                         "or for a sweep already scored, the rule of its rows")
    ev.add_argument("--storage", default=DEFAULT_STORAGE)
    ev.add_argument("--address")
    ev.add_argument("--cpus-per-task", type=float, default=1.0)
    ev.add_argument("--gpus-per-task", type=float, default=0.0)
    ev.add_argument("--batch-size", type=int, default=64)
    ev.add_argument("--limit", type=int, help="score only the first N pairs of each paradigm (quick look: marked as "
                                              "such wherever it is shown; a later full evaluate scores again)")
    ev.add_argument("--rescore", action="store_true", help="a sweep: score every checkpoint again, however its rows "
                                                           "were scored (the rows replaced go to evaluation_history.csv)")
    ev.add_argument("--strict", action="store_true", help="stop at the first malformed line instead of skipping it")
    ev.add_argument("--finished-only", action="store_true",
                    help="score only trials that completed their schedule (default: every trial, where it stopped)")
    ev.add_argument("--out", metavar="FILE.json", help="a model folder's scores, also as JSON (written atomically; an "
                                                       "existing FILE is replaced only when it is an earlier output "
                                                       "of evaluate)")
    ev.add_argument("--device", help="a model folder: where to score it (default: cuda when there is one, else cpu)")
    ev.add_argument("--quiet", action="store_true", help="a model folder: no progress line")
    ev.set_defaults(func=cmd_evaluate)
