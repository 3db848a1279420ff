"""`babysweep replicate`: a model family (a recipe trained with S seeds, one resumable grid experiment), or a
direct-ensemble family built from another family's models (sweep/replicate.py)."""
from .common import DEFAULT_STORAGE, log_to_stderr, parse_sets, storage_flag

# options of a trained family that an ensemble family has no use for: (attribute, flag)
TRAINING_ONLY = (("space", "--space"), ("trainable", "--trainable"), ("seeds", "--seeds"), ("set", "--set"),
                 ("data", "--data"), ("address", "--address"), ("cpus_per_trial", "--cpus-per-trial"),
                 ("gpus_per_trial", "--gpus-per-trial"), ("max_failures", "--max-failures"),
                 ("seed_base", "--seed-base"), ("reseed", "--reseed"))


def cmd_replicate(args):
    from trainables.errors import ConfigError

    if args.ensemble_of is not None:
        given = [flag for attr, flag in TRAINING_ONLY if getattr(args, attr) is not None]
        if given:
            raise ConfigError(f"{given[0]}: not an option of --ensemble-of (an ensemble family trains nothing)")
        return build_ensemble_family(args)
    for given, flag in ((args.size, "--size"), (args.combinations, "--combinations")):
        if given is not None:
            raise ConfigError(f"{flag}: only with --ensemble-of FAMILY (the members of each ensemble)")
    if args.space is None:
        raise ConfigError("replicate: give --space RECIPE (a space file of constants) to train a family, or "
                          "--ensemble-of FAMILY to build direct ensembles from one")
    from sweep.failures import DEFAULT_MAX_FAILURES
    from sweep.replicate import launch_family
    from .experiments import print_summary

    exp = launch_family(args.name, args.space, trainable=args.trainable, seeds=3 if args.seeds is None else args.seeds,
                        sets=parse_sets(args.set), data=args.data, storage=args.storage, address=args.address,
                        cpus_per_trial=1.0 if args.cpus_per_trial is None else args.cpus_per_trial,
                        gpus_per_trial=0.0 if args.gpus_per_trial is None else args.gpus_per_trial,
                        max_failures=DEFAULT_MAX_FAILURES if args.max_failures is None else args.max_failures,
                        overwrite=args.overwrite, seed_base=args.seed_base, reseed=args.reseed or "init",
                        verbose=0 if args.quiet else 2 if args.verbose else 1, log=log_to_stderr)
    st = print_summary(exp, args.storage)
    print(f"family {args.name}: {exp}; score it with `babysweep evaluate {args.name}{storage_flag(args.storage)} "
          f"--blimp DIR`")
    return st.get("exit_status", 0)


def build_ensemble_family(args):
    from sweep.replicate import build_ensembles, family_summary
    from sweep.status import format_status, sweep_status

    exp = build_ensembles(args.name, args.ensemble_of, size=2 if args.size is None else args.size,
                          combinations=args.combinations or "all", storage=args.storage, overwrite=args.overwrite,
                          log=(lambda m: None) if args.quiet else log_to_stderr)
    print(format_status(sweep_status(args.name, args.storage)))
    print("\n".join(family_summary(exp)))
    print(f"ensemble family {args.name}: {exp}; score it with `babysweep evaluate {args.name}"
          f"{storage_flag(args.storage)} --blimp DIR`")
    return 0


def register(sub):
    r = sub.add_parser(
        "replicate", help="train a named recipe with S seeds as one resumable family, or build direct ensembles "
                          "from a family's models",
        description="A family: the recipe of --space (a space file of constants, e.g. search_spaces/"
                    "teacher_table2.yaml or student_table2.yaml; --set over it) trained once per seed, as one Ray "
                    "Tune grid experiment NAME that status, resume, evaluate and analyze take as any other. With "
                    "--ensemble-of FAMILY: direct ensembles (the mean of K members' logits) of that family's (or "
                    "sweep's) finished models, scored on the validation and test splits, as the family NAME (no "
                    "training, no Ray).")
    r.add_argument("name", help="the family's name (its folder in --storage)")
    r.add_argument("--space", help="the recipe: a space file of constants (a searched parameter must be fixed "
                                   "with --set)")
    r.add_argument("--trainable", help="pretrain, distill, finetune or package.module:function (default: the "
                                       "space file's trainable: key)")
    r.add_argument("--seeds", type=int, help="runs of the recipe, one per seed (default 3)")
    r.add_argument("--seed-base", type=int, help="the first seed; the others follow it (default: the recipe's "
                                                 "seed, so the first run is the recipe itself)")
    r.add_argument("--reseed", help="what a seed changes: init (default: the initialisation, on the recipe's data "
                                    "order, as the paper's families), data (the data order) or both")
    r.add_argument("--set", action="append", metavar="KEY=VALUE",
                   help="a value over the recipe's (repeatable), e.g. teachers=[A,B] for a student")
    r.add_argument("--data", help="prepared data folder (babysweep data prepare)")
    r.add_argument("--ensemble-of", metavar="FAMILY", help="build direct ensembles from this family's (or "
                                                            "sweep's) finished models instead of training")
    r.add_argument("--size", type=int, help="members of each ensemble, with --ensemble-of (default 2)")
    r.add_argument("--combinations", metavar="all|disjoint|N",
                   help="which groups of --size members, with --ensemble-of: every combination (all, the default, "
                        "at most 20), disjoint groups in trial order, or N combinations drawn at random (seed 0)")
    r.add_argument("--storage", default=DEFAULT_STORAGE, help="experiment storage folder")
    r.add_argument("--address", help="join a Ray cluster: auto or HOST:PORT (default: a private local Ray)")
    r.add_argument("--cpus-per-trial", type=float, help="default 1")
    r.add_argument("--gpus-per-trial", type=float, help="fractions allowed (default 0)")
    r.add_argument("--max-failures", type=int, metavar="N",
                   help="retries of a run that lost its worker or node, from its latest checkpoint (default 3)")
    r.add_argument("--overwrite", action="store_true", help="replace an existing experiment of the same name")
    r.add_argument("--quiet", action="store_true", help="nothing while it runs (default: a progress line)")
    r.add_argument("--verbose", action="store_true", help="Ray's own trial tables instead of the progress line")
    r.set_defaults(func=cmd_replicate)
