"""What a trial that can no longer resume keeps of its checkpoints: its model's weights, not its training state.

A checkpoint holds trainer_state.pt: the fp32 weights and both Adam moments, 3 times the weights (12 bytes a
parameter: 4.1 GB at 345M parameters), all a run needs to go on exactly. Once a trial has ended for good (its
schedule done, or stopped by its scheduler at a rung) nothing resumes it, and only its model is still needed (to
score it, to fine-tune or distil from it). `slim_trial` then keeps, in the checkpoint whose model the trial hands on
(the results table's `checkpoint`), the model alone: its hf/ folder when it has one, else the weights written as
model.safetensors beside the config.json a scorable checkpoint holds (loaded from trainer_state.pt with
torch.load(weights_only=True), as every reader does); the trial's other checkpoints lose their training state and
models. Each checkpoint's manifest (checkpoint.json) is written again for what is left. A checkpoint that holds no
model of babysweep's (a synthetic trainable's) is left as it is. Trials still able to resume (PAUSED, PENDING,
RUNNING, or in error: `resume --retry-errored` goes on from their checkpoint) are never touched: sweep/results.py
calls this only for a trial its table records as ended, once that record and Ray's own state are saved.
"""
import shutil
from pathlib import Path

from .checkpoints import MANIFEST, write_manifest
from .model_folder import find_model
from .names import CONFIG, HF_FOLDER, TRAINER_STATE, WEIGHT_FILES


def holds_babysweep_model(checkpoint: Path) -> bool:
    return (checkpoint / CONFIG).is_file() or (checkpoint / HF_FOLDER / CONFIG).is_file()


def export_weights(checkpoint: Path):
    """The weights of a scorable checkpoint's trainer_state.pt as checkpoint/model.safetensors (beside its config)."""
    from .model import load_trained_model

    model = load_trained_model(checkpoint)
    model.save_pretrained(checkpoint, safe_serialization=True)


def slim_checkpoint(checkpoint: Path, keep_model: bool):
    """Drop the training state of one checkpoint and, unless `keep_model`, its models; the one model kept is its
    hf/, else its own weights file, else the weights of its training state, exported first."""
    checkpoint = Path(checkpoint)
    state = checkpoint / TRAINER_STATE
    models = [p for p in (checkpoint / HF_FOLDER, *(checkpoint / name for name in WEIGHT_FILES)) if p.exists()]
    if not holds_babysweep_model(checkpoint) or not (state.is_file() or (models and not keep_model)):
        return  # not a model of babysweep's, or slim already
    if keep_model and not (find_model(checkpoint / HF_FOLDER) or any(p.is_file() for p in models)):
        export_weights(checkpoint)  # its model was the one in its training state
    state.unlink(missing_ok=True)
    if not keep_model:
        for path in models:
            if path.is_dir():
                shutil.rmtree(path)
            else:
                path.unlink()
    if (checkpoint / MANIFEST).is_file() or keep_model:
        write_manifest(checkpoint)  # what is left is the whole checkpoint now


def slim_trial(trial_dir: Path, kept):
    """Slim every checkpoint of the ended trial in `trial_dir`, keeping the model of `kept` (the table's checkpoint:
    a checkpoint folder or its hf/; None: the latest checkpoint's)."""
    checkpoints = sorted(Path(trial_dir).glob("checkpoint_*"))
    if not checkpoints:
        return
    kept_dir = Path(kept) if kept else checkpoints[-1]
    kept_dir = (kept_dir.parent if kept_dir.name == HF_FOLDER else kept_dir).resolve()
    for checkpoint in checkpoints:
        slim_checkpoint(checkpoint, keep_model=checkpoint.resolve() == kept_dir)
