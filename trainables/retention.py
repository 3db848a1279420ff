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


def is_slim(checkpoint: Path) -> bool:
    return not (checkpoint / TRAINER_STATE).is_file()


def holds_babysweep_model(checkpoint: Path) -> bool:
    return (checkpoint / CONFIG).is_file() or (checkpoint / HF_FOLDER / CONFIG).is_file()


def export_weights(checkpoint: Path):
    """The weights of a scorable checkpoint's trainer_state.pt as checkpoint/model.safetensors (beside its config)."""
    from .model import load_trained_model

    model = load_trained_model(checkpoint)
    model.save_pretrained(checkpoint, safe_serialization=True)


def slim_checkpoint(checkpoint: Path, keep_model: bool) -> int:
    """Drop the training state of one checkpoint (and, unless `keep_model`, its models); the bytes freed."""
    checkpoint = Path(checkpoint)
    weights = [checkpoint / name for name in WEIGHT_FILES] + [checkpoint / HF_FOLDER]
    if not holds_babysweep_model(checkpoint) or (is_slim(checkpoint) and (keep_model or not any(
            p.exists() for p in weights))):
        return 0
    before = folder_bytes(checkpoint)
    if keep_model and find_model(checkpoint / HF_FOLDER) is None and not any(
            (checkpoint / name).is_file() for name in WEIGHT_FILES):
        export_weights(checkpoint)  # its model was the one in its training state
    (checkpoint / TRAINER_STATE).unlink(missing_ok=True)
    if not keep_model:
        shutil.rmtree(checkpoint / HF_FOLDER, ignore_errors=True)
        for name in WEIGHT_FILES:
            (checkpoint / name).unlink(missing_ok=True)
    if (checkpoint / MANIFEST).is_file() or keep_model:
        write_manifest(checkpoint)  # what is left is the whole checkpoint now
    return before - folder_bytes(checkpoint)


def slim_trial(trial_dir: Path, kept) -> int:
    """Slim every checkpoint of the ended trial in `trial_dir`, keeping the model of `kept` (the table's checkpoint:
    a checkpoint folder or its hf/; None: the latest checkpoint's); the bytes freed."""
    checkpoints = sorted(Path(trial_dir).glob("checkpoint_*"))
    if not checkpoints:
        return 0
    kept_dir = Path(kept) if kept else checkpoints[-1]
    kept_dir = kept_dir.parent if kept_dir.name == HF_FOLDER else kept_dir
    return sum(slim_checkpoint(c, keep_model=c.resolve() == kept_dir.resolve()) for c in checkpoints)


def folder_bytes(folder: Path) -> int:
    return sum(p.stat().st_size for p in Path(folder).rglob("*") if p.is_file())
