"""What a report suggests after a fine-tuning sweep: its best configuration fine-tuned again by finetune-all, from
the pretrained checkpoint the sweep fine-tuned: with `--sweep TASK=FOLDER` (finetune-all takes the best trial itself,
sweep/finetune_sources.py), or with a --hparams file the report writes beside its figures (the same configuration,
to edit). (After a pretraining sweep the report suggests the analyses of its models instead: BLiMP scores, re-runs,
families; sections.py asks the spec which, `finetunes`.)"""
import shlex

import pandas as pd
import yaml

from .common import FIGURES_DIR, fmt
from .html import esc, missing, storage_flag

HPARAMS_FILE = "best_hparams.yaml"
# finetune-all's own options (read_hparams refuses them in a --hparams file): the model, the GLUE folder, the task
# and the epoch kept come from its command line
FINETUNE_ALL_OPTIONS = ("checkpoint", "glue_dir", "task", "keep")


def plain(value):
    """A table cell as YAML writes it plainly: numpy scalars as Python's, whole floats as integers (the table reads a
    batch size as 16.0 once a column has a gap)."""
    value = value.item() if hasattr(value, "item") else value
    return int(value) if isinstance(value, float) and value.is_integer() else value


def best_hparams(exp, best) -> dict:
    """{task: {name: value}} of the best trial `best` (a results-table row), as finetune-all's --hparams reads it:
    the space's searched parameters and its constants (a --set value of one is the trial's), less finetune-all's own
    options; its epochs those it trained, num_epochs capped at the sweep's budget (as finetune-all's --sweep takes
    them)."""
    space = exp.space
    task = best.get("config/task", space.constants.get("task"))
    names = [*space.params, *space.constants]
    values = {n: plain(best[f"config/{n}"]) for n in names
              if n not in FINETUNE_ALL_OPTIONS and pd.notna(best.get(f"config/{n}"))}
    if "num_epochs" in values:
        values["num_epochs"] = plain(min(float(values["num_epochs"]), float(space.budget_max)))
    return {str(task): values}


def hparams_text(exp, best) -> str:
    return (f"# the best configuration of sweep {exp.name} (trial {best['trial_id']}, {exp.metric} "
            f"{fmt(best[exp.metric])}), for babysweep finetune-all --hparams\n"
            + yaml.safe_dump(best_hparams(exp, best), sort_keys=False))


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
    text = hparams_text(exp, best)
    report.files[HPARAMS_FILE] = text.encode("utf-8")
    path = exp.path / FIGURES_DIR / HPARAMS_FILE
    task = next(iter(best_hparams(exp, best)))
    parts = [f"<p>The best trial, {esc(best['trial_id'])} ({esc(exp.metric)} {esc(fmt(best[exp.metric]))}), has "
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
