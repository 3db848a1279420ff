"""`babysweep finetune-all`: one checkpoint fine-tuned on every GLUE/SuperGLUE task (paper Table 4 settings), each
task's row at the epoch it keeps (--keep best|last, default best); mnli-mm's row comes from the mnli run. Every
argument is checked before --out is made; --out is finetune-all's own folder (sweep/finetune_all.py), and a run into
an earlier one adds its tasks to that table."""
from pathlib import Path

from trainables import glue

from sweep.finetune_all import DEFAULT_GLUE, TABLE, check_keep, check_options, default_glue, finetune_all, format_table


def cmd_finetune_all(args):
    import time

    check_keep(args.keep)  # before looking for the GLUE folder
    check_options(args.epochs_scale, args.max_train_examples, args.max_eval_examples, args.num_threads)
    glue_dir = Path(args.glue) if args.glue else default_glue()
    out = Path(args.out or f"runs/finetune-{time.strftime('%Y%m%d-%H%M%S')}")
    table = finetune_all(args.checkpoint, glue_dir, out, hparams=args.hparams, tasks=args.tasks,
                         max_train_examples=args.max_train_examples, max_eval_examples=args.max_eval_examples,
                         epochs_scale=args.epochs_scale, num_threads=args.num_threads, keep=args.keep)
    print(format_table(table))
    print(f"table: {out / TABLE}")


def register(subparsers):
    p = subparsers.add_parser("finetune-all", help="fine-tune one checkpoint on every GLUE/SuperGLUE task "
                                                   "(paper Table 4 settings) and print the score table")
    p.add_argument("--checkpoint", required=True, help="pretrained Hugging Face folder (e.g. a trial's .../hf)")
    p.add_argument("--glue", help=f"folder of <task>.train.jsonl / <task>.valid.jsonl (default: ./{DEFAULT_GLUE})")
    p.add_argument("--hparams", help="YAML/JSON file: {task or all: {name: value}} overriding Table 4")
    p.add_argument("--out", help="output folder (default runs/finetune-<time>): a new or empty one, or one an earlier "
                                 "finetune-all of the same checkpoint wrote (this run's tasks are added to its "
                                 "table; an experiment folder or any other is refused)")
    p.add_argument("--tasks", nargs="+", metavar="TASK",
                   help=f"only these ({', '.join(glue.TRAINED)}; mnli also gives the mnli-mm row)")
    p.add_argument("--keep", default="best", help="the epoch each task's row and model are: best (default: the best "
                                                  "by the task's metric, the earlier on a tie) or last")
    p.add_argument("--max-train-examples", type=int, help="first N train examples per task (quick runs)")
    p.add_argument("--max-eval-examples", type=int, help="first N validation examples per task")
    p.add_argument("--epochs-scale", type=float, help="multiply every task's epochs (e.g. 0.5)")
    p.add_argument("--num-threads", type=int, help="CPU threads")
    p.set_defaults(func=cmd_finetune_all)
