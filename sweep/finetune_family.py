"""SuperGLUE per family (the paper's Figure 1, fourth panel, and Table 3's SuperGLUE column): every model of an
experiment fine-tuned by finetune-all on the same tasks with the same configurations.

    babysweep finetune-family NAME [--storage DIR] [finetune-all's options]

The models: each finished trial of a family (babysweep replicate: teachers, students; its ensembles' experiment:
direct ensembles, fine-tuned as one model with the gradient flowing into every member), of a re-run, or of a
scan; of a searched sweep, its best trial only (the paper fine-tuned the sweep's best checkpoint alone: all 265
would have been prohibitive). Each goes to <experiment>/finetune/<trial_id>/, finetune-all's own folder, which
`babysweep analyze compare` reads for the SuperGLUE violin and column (analysis/compare_inputs.py). Every model
folder is found before the first run: a trial without one is a ConfigError naming it, and nothing is written.
The configurations (Table 4, --hparams, or each task's sweep with --from-sweeps) are transferred to every model,
as the paper transferred its run 1's (so --transfer is implied).
"""
from __future__ import annotations

from pathlib import Path

from trainables.errors import ConfigError
from trainables.model_folder import find_model

FINETUNE_DIR = "finetune"  # <experiment>/finetune/<trial_id>/: analysis.compare_inputs.FINETUNE_DIR


def family_models(exp) -> list[tuple[str, Path]]:
    """[(trial_id, model folder)] of the models of experiment `exp` to fine-tune; ConfigError (one line) when it has
    none finished, or one of them has no model folder."""
    from .kinds.searched import SweepSpec
    from .table import FINISHED

    table = exp.require_table()
    if isinstance(exp.spec, SweepSpec):  # a scan is stored as a grid (ScanSpec): every point is a model
        best = exp.best_trial()
        if best is None:
            raise ConfigError(f"experiment {exp.name}: no complete trial yet ({exp.best_rule()}), so no best model "
                              f"to fine-tune")
        rows = [best]
    else:
        rows = [r for _, r in table.iterrows() if r.get("state") == FINISHED]
        if not rows:
            raise ConfigError(f"experiment {exp.name}: no finished trial, so no model to fine-tune")
    out = []
    for row in rows:
        tid, checkpoint = str(row["trial_id"]), row.get("checkpoint")
        model = find_model(checkpoint) if isinstance(checkpoint, str) and checkpoint else None
        if model is None:
            raise ConfigError(f"experiment {exp.name}: trial {tid} has no model folder "
                              f"({checkpoint if isinstance(checkpoint, str) and checkpoint else 'no checkpoint'})")
        out.append((tid, model))
    return out


def finetune_family(name, storage, glue_dir, log=print, **options) -> dict:
    """finetune-all of every model of experiment `name` into <experiment>/finetune/<trial_id>/; returns
    {trial_id: table}. `options`: finetune_all's (tasks, hparams, from_sweeps, sweeps, keep, ...)."""
    from .experiment import load_experiment
    from .finetune_all import check_keep, check_options, finetune_all

    check_keep(options.get("keep", "best"))
    check_options(options.get("epochs_scale"), options.get("max_train_examples"), options.get("max_eval_examples"),
                  options.get("num_threads"))
    if not Path(glue_dir).is_dir():
        raise ConfigError(f"--glue {glue_dir}: GLUE folder not found")
    exp = load_experiment(name, storage)
    models = family_models(exp)
    tables = {}
    for i, (tid, model) in enumerate(models, 1):
        log(f"[{i}/{len(models)}] {exp.name} trial {tid}: {model}")
        tables[tid] = finetune_all(model, glue_dir, exp.path / FINETUNE_DIR / tid, transfer=True, log=log,
                                   **options)
    return tables
