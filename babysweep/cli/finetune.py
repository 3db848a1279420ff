"""`babysweep finetune-all`: one checkpoint fine-tuned on every GLUE/SuperGLUE task (paper Table 4 settings, or
each task's own sweep's best with --from-sweeps / --sweep), each task's row at the epoch it keeps (--keep best|last,
default best); mnli-mm's row comes from the mnli run. `babysweep finetune-family`: the same for every model of an
experiment, into <experiment>/finetune/<trial_id>/ (sweep/finetune_family.py). Every argument is checked before
anything is written; --out is finetune-all's own folder (sweep/finetune_all.py), and a run into an earlier one
adds its tasks to that table."""
from pathlib import Path

from trainables import glue
from trainables.errors import ConfigError

from sweep.finetune_all import DEFAULT_GLUE, TABLE, check_keep, check_options, default_glue, finetune_all, format_table


def per_task_sweeps(values) -> dict:
    """--sweep TASK=FOLDER values -> {task: folder}; ConfigError (one line) for a malformed one."""
    out = {}
    for value in values or []:
        task, sep, path = value.partition("=")
        if not sep or not task or not path:
            raise ConfigError(f"--sweep {value}: must be TASK=FOLDER (e.g. rte=runs/rte-sweep)")
        glue.get_task(task)
        out[task] = path
    return out


def options(args) -> dict:
    check_keep(args.keep)  # before looking for the GLUE folder
    check_options(args.epochs_scale, args.max_train_examples, args.max_eval_examples, args.num_threads)
    return dict(hparams=args.hparams, tasks=args.tasks, max_train_examples=args.max_train_examples,
                max_eval_examples=args.max_eval_examples, epochs_scale=args.epochs_scale,
                num_threads=args.num_threads, keep=args.keep, from_sweeps=args.from_sweeps,
                sweeps=per_task_sweeps(args.sweep))


def cmd_finetune_all(args):
    import time

    opts = options(args)
    glue_dir = Path(args.glue) if args.glue else default_glue()
    out = Path(args.out or f"runs/finetune-{time.strftime('%Y%m%d-%H%M%S')}")
    table = finetune_all(args.checkpoint, glue_dir, out, transfer=args.transfer, **opts)
    print(format_table(table, table.attrs.get("skipped"), table.attrs.get("subset")))
    print(f"table: {out / TABLE}")


def cmd_finetune_family(args):
    from sweep.finetune_family import finetune_family

    opts = options(args)
    glue_dir = Path(args.glue) if args.glue else default_glue()
    tables = finetune_family(args.name, args.storage, glue_dir, **opts)
    for tid, table in tables.items():
        print(f"trial {tid}:")
        print(format_table(table, table.attrs.get("skipped"), table.attrs.get("subset")))
    print(f"compare: babysweep analyze compare {args.name} --storage {args.storage}")


def add_common(p):
    p.add_argument("--glue", help=f"folder of <task>.train.jsonl / <task>.valid.jsonl (default: ./{DEFAULT_GLUE})")
    p.add_argument("--hparams", help="YAML/JSON file: {task or all: {name: value}} overriding Table 4 (or the "
                                     "sweeps' configurations)")
    p.add_argument("--from-sweeps", metavar="DIR", help="a storage folder of task sweeps: each task fine-tuned "
                                                        "with its sweep's best configuration instead of Table 4's")
    p.add_argument("--sweep", action="append", metavar="TASK=FOLDER",
                   help="one task's sweep folder (repeatable; wins over --from-sweeps for that task)")
    p.add_argument("--tasks", nargs="+", metavar="TASK",
                   help=f"only these ({', '.join(glue.TRAINED)}; mnli also gives the mnli-mm row)")
    p.add_argument("--keep", default="best", help="the epoch each task's row and model are: best (default: the best "
                                                  "by the task's metric, the earlier on a tie) or last")
    p.add_argument("--max-train-examples", type=int, help="first N train examples per task (quick runs; not "
                                                          "comparable with full ones)")
    p.add_argument("--max-eval-examples", type=int, help="first N validation examples per task")
    p.add_argument("--epochs-scale", type=float, help="multiply every task's epochs (e.g. 0.5)")
    p.add_argument("--num-threads", type=int, help="CPU threads")


def register(subparsers):
    from trainables.names import DEFAULT_STORAGE

    p = subparsers.add_parser("finetune-all", help="fine-tune one checkpoint on every GLUE/SuperGLUE task "
                                                   "(paper Table 4 settings, or each task's sweep) and print the "
                                                   "score table")
    p.add_argument("--checkpoint", required=True, help="pretrained Hugging Face folder (e.g. a trial's .../hf)")
    p.add_argument("--out", help="output folder (default runs/finetune-<time>): a new or empty one, or one an earlier "
                                 "finetune-all of the same checkpoint wrote (this run's tasks are added to its "
                                 "table; an experiment folder or any other is refused)")
    p.add_argument("--transfer", action="store_true", help="use sweeps made on another checkpoint (the paper's run "
                                                           "2 and teachers took run 1's configurations)")
    add_common(p)
    p.set_defaults(func=cmd_finetune_all)

    p = subparsers.add_parser("finetune-family", help="finetune-all of every model of an experiment (a family, its "
                                                      "ensembles, a re-run; a sweep's best), for the SuperGLUE "
                                                      "column of analyze compare")
    p.add_argument("name", help="the experiment")
    p.add_argument("--storage", default=DEFAULT_STORAGE, help=f"storage folder (default {DEFAULT_STORAGE})")
    add_common(p)
    p.set_defaults(func=cmd_finetune_family)
