"""A model folder's layout, in one place: what makes a folder hold a model, and where in it the model is.

    <checkpoint>/             a trial's checkpoint (trainables/loop.py writes it)
        config.json, tokenizer.json, trainer_state.pt     a pretraining checkpoint: scorable as it is
        hf/                   the trial's final model as a Hugging Face folder (config.json, model.safetensors,
                              tokenizer, babysweep.json)
    <folder>/ensemble.json    a direct ensemble: its members named, not copied (trainables/ensemble.py)

Loading is trainables/model.py's (a trained model, never unpickling anything) and trainables/ensemble.py's
(any causal LM, ensembles included); evaluation, distillation and fine-tuning find their models through here.
"""
from pathlib import Path

from .names import CONFIG, ENSEMBLE_RECORD, HF_FOLDER, MODEL_RECORD, TRAINER_STATE, WEIGHT_FILES

__all__ = ["CONFIG", "ENSEMBLE_RECORD", "HF_FOLDER", "MODEL_RECORD", "TRAINER_STATE", "WEIGHT_FILES",
           "find_model", "has_weights", "hf_folder", "is_ensemble", "model_record_path"]


def is_ensemble(folder) -> bool:
    return (Path(folder) / ENSEMBLE_RECORD).is_file()


def has_weights(folder) -> bool:
    """A Hugging Face weights file, or a pretraining checkpoint's training state (which holds the weights)."""
    return any((Path(folder) / name).is_file() for name in (*WEIGHT_FILES, TRAINER_STATE))


def hf_folder(path) -> Path:
    """The folder holding the model of `path`: a trial's checkpoint keeps its final model in hf/; any other
    folder (an ensemble, a Hugging Face folder, a pretraining checkpoint) is its own."""
    path = Path(path)
    return path / HF_FOLDER if (path / HF_FOLDER / CONFIG).is_file() and not is_ensemble(path) else path


def find_model(checkpoint) -> Path | None:
    """The folder holding the model of `checkpoint` (an ensemble, its hf/, or itself), when it holds one: config.json
    and weights; None otherwise."""
    checkpoint = Path(checkpoint)
    if is_ensemble(checkpoint):  # its members' mean logits
        return checkpoint
    for folder in (checkpoint / HF_FOLDER, checkpoint):
        if (folder / CONFIG).is_file() and has_weights(folder):
            return folder
    return None


def model_record_path(checkpoint) -> Path | None:
    """babysweep.json of the model of `checkpoint` (beside it, or in its hf/), when there is one."""
    checkpoint = Path(checkpoint)
    return next((p for p in (checkpoint / MODEL_RECORD, checkpoint / HF_FOLDER / MODEL_RECORD) if p.is_file()), None)
