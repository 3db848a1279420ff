"""What a report suggests after a fine-tuning sweep: its best configuration fine-tuned again by finetune-all, from
the pretrained checkpoint the sweep fine-tuned: with `--sweep TASK=FOLDER` (finetune-all takes the best trial itself,
sweep/finetune_sources.py), or with a --hparams file the report writes beside its figures (the same configuration,
to edit). (After a pretraining sweep the report suggests the analyses of its models instead: BLiMP scores, re-runs,
families; sections.py asks the spec which, `finetunes`.)"""
import shlex

import yaml

from sweep.selection import best_summary

from .common import FIGURES_DIR, fmt
from .html import esc, missing, storage_flag

HPARAMS_FILE = "best_hparams.yaml"


def best_hparams(exp) -> dict:
    """{task: {name: value}} of the sweep's best trial, as finetune-all's --hparams reads it: the configuration
    finetune-all's --sweep takes from the sweep (sweep/finetune_sources.best_choice, the one definition), so that
    the file and --sweep fine-tune alike."""
    from sweep.finetune_sources import best_choice

    choice = best_choice(exp)
    return {choice.task: dict(choice.config)}


def hparams_text(exp, best, hparams) -> str:
    return (f"# the best configuration of sweep {exp.name} (trial {best['trial_id']}, "
            f"{best_summary(best, exp.metric, exp.keep)}), for babysweep finetune-all --hparams\n"
            + yaml.safe_dump(hparams, sort_keys=False))


def finetune_command(exp, task, *source) -> str:
    """The finetune-all command that fine-tunes the sweep's pretrained checkpoint on `task` with its best
    configuration, from `source` (--sweep TASK=FOLDER, or --hparams FILE)."""
    spec = exp.spec
    checkpoint = spec.pretrained_checkpoint or "CHECKPOINT"
    words = ["babysweep", "finetune-all", "--checkpoint", str(checkpoint), *map(str, source), "--tasks", str(task)]
    if spec.extra.get("glue_dir"):
        words += ["--glue", str(spec.extra["glue_dir"])]
    return " ".join(shlex.quote(w) for w in words)


def next_step_section(report) -> str:
    """The section, with the --hparams file put in report.files (written into the figures folder with them)."""
    from .html import cmd

    exp = report.exp
    head = '<section id="next"><h2>Next: fine-tune with the best configuration</h2>'
    best = exp.best_trial()
    if best is None:
        return head + missing(
            f"No trial has completed its schedule yet ({esc(exp.best_rule())}): once one has, "
            f"{cmd('babysweep report ' + exp.name + storage_flag(exp))} writes its configuration as a --hparams "
            f"file for babysweep finetune-all.") + "</section>"
    hparams = best_hparams(exp)
    text = hparams_text(exp, best, hparams)
    report.files[HPARAMS_FILE] = text.encode("utf-8")
    path = exp.path / FIGURES_DIR / HPARAMS_FILE
    task = next(iter(hparams))
    parts = [f"<p>The best trial, {esc(best['trial_id'])} ({esc(best_summary(best, exp.metric, exp.keep))}), has "
             f"its configuration in {cmd(path)}:</p><pre>{esc(text)}</pre>",
             f"<p>Fine-tune the pretrained checkpoint on {esc(task)} with it: "
             f"{cmd(finetune_command(exp, task, '--sweep', f'{task}={exp.path}'))} (finetune-all takes the sweep's "
             f"best trial itself, and its table says so), or from the file, to edit it first: "
             f"{cmd(finetune_command(exp, task, '--hparams', path))}. Without --tasks, finetune-all also runs every "
             f"other task, with the paper's Table 4 settings.</p>"]
    if not exp.spec.pretrained_checkpoint:
        parts.append(missing("The sweep's record names no pretrained checkpoint (--set checkpoint=...): put the "
                             "model folder the sweep fine-tuned in place of CHECKPOINT."))
    model = best.get("checkpoint")
    if isinstance(model, str):
        parts.append(f'<p class="note">The best trial\'s own fine-tuned model (the epoch it keeps, '
                     f'{esc(fmt(best.get("checkpoint_epoch")))}): {cmd(model)}.</p>')
    return head + "".join(parts) + "</section>"
