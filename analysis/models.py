"""A model folder loaded for scoring: the model in float32 and eval mode with its tokenizer (never running code
a folder names), and the stream its sentences are scored in (what its tokenizer was trained on)."""
from __future__ import annotations

import json
from pathlib import Path


from .pairs import DEFAULT_STREAM, BlimpError, _one_line, check_stream


# -----------------------------------------------------------------------------
# the model


def _default_device():
    import torch

    return torch.device("cuda" if torch.cuda.is_available() else "cpu")


def load_model(checkpoint, device=None):
    """(model, tokenizer) of a model folder, the model in float32 and eval mode on `device` (default: CUDA when
    available): a Hugging Face folder, a trial's checkpoint holding one (hf/), or a pretraining checkpoint taken
    at any report (its config.json, tokenizer and trainer_state.pt). BlimpError when the folder is missing,
    cannot be loaded, or its tokenizer has no BOS token."""
    import torch
    from transformers import AutoTokenizer
    from transformers.utils import logging as hf_logging

    from trainables.ensemble import ensemble_members, is_ensemble, load_causal_lm
    from trainables.errors import UserError

    checkpoint = Path(checkpoint)
    if not checkpoint.is_dir():
        raise BlimpError(f"{checkpoint}: no such checkpoint folder")
    if (checkpoint / "hf" / "config.json").is_file():
        checkpoint = checkpoint / "hf"
    if not (checkpoint / "config.json").is_file() and not is_ensemble(checkpoint):
        raise BlimpError(f"{checkpoint}: not a Hugging Face model folder (no config.json)")
    if is_ensemble(checkpoint):
        try:  # where its members lie is checked before anything of the folder is read
            ensemble_members(checkpoint)
        except UserError as e:
            raise BlimpError(str(e)) from None
    hf_logging.disable_progress_bar()
    try:
        # never the code a folder's tokenizer_config.json may name (transformers would ask, or run it)
        tokenizer = AutoTokenizer.from_pretrained(str(checkpoint), trust_remote_code=False)
    except Exception as e:  # transformers raises OSError, ValueError, ... with multi-line texts
        raise BlimpError(f"{checkpoint}: cannot load the tokenizer: {_one_line(e)}") from None
    if tokenizer.bos_token_id is None:
        raise BlimpError(f"{checkpoint}: the tokenizer has no BOS token; minimal-pair scoring prepends one to "
                         f"every sentence")
    try:
        model = load_causal_lm(checkpoint)
    except Exception as e:
        raise BlimpError(f"{checkpoint}: cannot load the model: {_one_line(e)}") from None
    if model is None:
        raise BlimpError(f"{checkpoint}: holds no model weights (no model.safetensors or trainer_state.pt)")
    vocab = getattr(model.config, "vocab_size", None)
    if vocab is not None and len(tokenizer) > vocab:
        raise BlimpError(f"{checkpoint}: the tokenizer has {len(tokenizer)} entries but the model only {vocab}")
    model.to(device=_default_device() if device is None else device, dtype=torch.float32)
    model.eval()
    return model, tokenizer


def _read_json(path: Path) -> dict:
    try:
        record = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as e:
        raise BlimpError(f"{path}: cannot read it ({_one_line(e)})") from None
    if not isinstance(record, dict):
        raise BlimpError(f"{path}: not a JSON object")
    return record


def stream_of(checkpoint) -> tuple[str, str]:
    """(stream, where it was read): the training stream the model of `checkpoint` saw, which says what a newline
    of a scored text becomes (see the module docstring). From its babysweep.json's "stream", else from the
    meta.json of the prepared folder babysweep.json names ("stream", absent in the older `bos` folders), else
    DEFAULT_STREAM (a model from elsewhere, or one whose prepared folder is gone)."""
    checkpoint = Path(checkpoint)
    about_path = next((p for p in (checkpoint / "babysweep.json", checkpoint / "hf" / "babysweep.json")
                       if p.is_file()), None)
    if about_path is None:
        return DEFAULT_STREAM, f"default: {checkpoint} has no babysweep.json"
    about = _read_json(about_path)
    if about.get("stream") is not None:
        return check_stream(about["stream"], f"{about_path}: stream"), str(about_path)
    data = about.get("data")
    meta_path = Path(data) / "meta.json" if isinstance(data, str) and data else None
    if meta_path is None or not meta_path.is_file():
        return DEFAULT_STREAM, (f"default: the prepared folder {about_path} names ({data}) is not here" if data
                                else f"default: {about_path} names no prepared folder")
    meta = _read_json(meta_path)
    return check_stream(meta.get("stream", "bos"), f"{meta_path}: stream"), str(meta_path)
