"""A checkpoint folder on disk: its training state, read without running code, and its manifest.

    <checkpoint>/trainer_state.pt   torch.save of a dict of plain values only (see `plain_state`): tensors, numbers,
                                    strings, bools, None, lists, tuples and dicts
                                        model       the model's state_dict
                                        optimizer   the optimizer's state_dict
                                        scheduler   the schedule's state_dict (transformers' LambdaLR: its lambdas
                                                    are saved as None or their plain attributes, never the functions)
                                        state       the position: {"step", "wall_s"} (trainables.loop.Progress)
                                        rng         {"torch": ByteTensor, "cuda": [ByteTensor] or None}
                                        extra       the trainable's own state (fine-tuning's best epoch), if any
                                        format      2 (this layout, written with a manifest); absent before
    <checkpoint>/checkpoint.json    the manifest, written last: {"files": {relative path: size in bytes}} of every
                                    other file of the folder (hf/ and the scoring files included)

A trainer_state.pt is read with torch.load(weights_only=True) alone: a pickle that would need code to unpickle (a
class, a function, a `__reduce__`) is refused unread, in one line naming the file, whoever reads it (a resume, the
scorer, an ensemble member, a distillation teacher). Checkpoints written before format 2 hold the same layout and
no other type (saved by the code of then and checked: torch's weights-only unpickler takes all of it, so no type
needs allowing), and are read by the same load.

Ray copies a checkpoint from the trial's scratch folder into storage, and a full disk or a killed copy leaves part
of it there. The manifest tells a whole checkpoint from such a part: `checkpoint_is_whole(folder)` is True when
the manifest is there and every file it lists has its size, False when the manifest cannot be read, a file is
missing or of another size, or a format-2 trainer_state.pt has no manifest beside it (or cannot be read at all),
and None when nothing can tell (no manifest and no format-2 training state: a checkpoint written before
manifests, a Hugging Face folder, another trainable's checkpoint).
"""
import json
import numbers
import os
import pickle
import re
import warnings
import zipfile
from collections import OrderedDict
from pathlib import Path

from .errors import CheckpointError
from .files import atomic_path, write_json
from .names import TRAINER_STATE

MANIFEST = "checkpoint.json"
FORMAT = 2  # trainer_state.pt's "format" from which a manifest is written beside it
# What torch.load raises on a file cut short or garbled (a truncated zip, a missing record)
DAMAGED = (RuntimeError, EOFError, OSError, ValueError, KeyError, IndexError, TypeError, AttributeError,
           pickle.UnpicklingError, zipfile.BadZipFile)
# torch's weights-only unpickler says so when a pickle asks for more than plain values
REFUSED = "Weights only load failed"
REFUSED_GLOBAL = re.compile(r"GLOBAL (\S+?) was not an allowed global")


def plain_state(obj, where="trainer_state"):
    """`obj` as plain values that torch.load(weights_only=True) reads back without running code; numpy scalars
    become the Python numbers they hold (exactly). TypeError, naming the key, for anything else: a trainable's
    state that would need unpickling code is a bug, found at its first checkpoint."""
    import torch

    if obj is None or isinstance(obj, (bool, int, float, str, torch.Tensor)):
        return obj
    if type(obj) in (dict, OrderedDict):
        out = type(obj)()
        for key, value in obj.items():
            if not (key is None or isinstance(key, (bool, int, float, str))):
                raise TypeError(f"{where}: key {key!r} is not a plain value")
            out[key] = plain_state(value, f"{where}[{key!r}]")
        if hasattr(obj, "_metadata"):  # a state_dict's module versions, which load_state_dict reads
            out._metadata = plain_state(obj._metadata, f"{where}._metadata")
        return out
    if type(obj) in (list, tuple):
        return type(obj)(plain_state(value, f"{where}[{i}]") for i, value in enumerate(obj))
    if isinstance(obj, numbers.Number) and hasattr(obj, "item"):
        return obj.item()
    raise TypeError(f"{where}: {type(obj).__module__}.{type(obj).__qualname__} is not a plain value; a checkpoint "
                    f"holds only tensors, numbers, strings, bools, None, lists, tuples and dicts")


def save_trainer_state(folder, saved: dict) -> Path:
    """`saved` as folder/trainer_state.pt (format 2), written under a temporary name and renamed: a kill
    mid-write leaves no half file under the real name."""
    import torch

    path = Path(folder) / TRAINER_STATE
    state = plain_state({**saved, "format": FORMAT})
    with atomic_path(path) as tmp, open(tmp, "wb") as f:  # a file object: the archive's inner name is fixed
        torch.save(state, f)
    return path


def read_trainer_state(path, needs=("model", "optimizer", "scheduler", "state", "rng"), mmap=False) -> dict:
    """The dict of a trainer_state.pt, read with weights_only=True; CheckpointError (one line naming the file) when
    it would need unpickling code (refused unread: nothing in it runs), is damaged, or lacks one of `needs`."""
    import torch

    path = Path(path)
    try:
        # mmap takes torch's zip format only; anything else is read as it is, and refused or damaged all the same
        with warnings.catch_warnings():  # torch's note on a foreign pickle's protocol: the refusal below says it all
            warnings.filterwarnings("ignore", message="Detected pickle protocol", category=UserWarning)
            saved = torch.load(path, map_location="cpu", weights_only=True, mmap=mmap and zipfile.is_zipfile(path))
    except DAMAGED as e:
        raise unreadable(path, e) from None
    missing = [key for key in needs if not isinstance(saved, dict) or key not in saved]
    if missing:
        raise CheckpointError(f"{path}: not a babysweep training state (no {missing[0]!r} in it)")
    return saved


def unreadable(path, error: Exception) -> CheckpointError:
    """The one-line error of a torch file that torch.load(weights_only=True) could not read: refused (its pickle
    asks for code; nothing of it ran) or damaged."""
    if isinstance(error, pickle.UnpicklingError) and str(error).startswith(REFUSED):
        found = REFUSED_GLOBAL.search(str(error))
        return CheckpointError(f"{path}: not a plain-tensor checkpoint (it would need unpickling code"
                               f"{': ' + found.group(1) if found else ''}); refused unread, nothing in it ran")
    return CheckpointError(f"{path}: cannot be read ({type(error).__name__}: {first_line(error)})")


def first_line(error) -> str:
    text = str(error).strip()
    return text.splitlines()[0] if text else type(error).__name__


def write_manifest(folder) -> Path:
    """folder/checkpoint.json: the size of every other file in `folder`; written last, atomically."""
    folder = Path(folder)
    files = {p.relative_to(folder).as_posix(): p.stat().st_size
             for p in sorted(folder.rglob("*")) if p.is_file() and p.name != MANIFEST}
    write_json(folder / MANIFEST, {"files": files})
    return folder / MANIFEST


def manifest_problem(folder) -> str | None:
    """What folder/checkpoint.json finds wrong with the folder (unreadable, a file missing or of another size), or
    None: all there, or no manifest to go by."""
    folder = Path(folder)
    path = folder / MANIFEST
    if not path.exists():
        return None
    try:
        files = json.loads(path.read_text(encoding="utf-8"))["files"]
        if not isinstance(files, dict) or not all(isinstance(k, str) and isinstance(v, int) and not
                                                  isinstance(v, bool) for k, v in files.items()):
            raise ValueError("not {\"files\": {path: size}}")
    except (OSError, ValueError, KeyError, TypeError) as e:
        return f"{path}: cannot be read ({first_line(e)})"
    for name, size in files.items():
        if Path(name).is_absolute() or ".." in Path(name).parts:
            return f"{path}: names {name!r}, which is not inside the checkpoint"
        try:
            actual = os.stat(folder / name).st_size
        except OSError:
            return f"{folder / name}: missing (listed in {MANIFEST})"
        if actual != size:
            return f"{folder / name}: {actual} bytes, {MANIFEST} says {size} (copied in part)"
    return None


def missing_manifest(folder, saved: dict) -> str | None:
    """The problem of a folder whose training state `saved` was written with a manifest that is not there."""
    if saved.get("format", 1) >= FORMAT and not (Path(folder) / MANIFEST).exists():
        return f"{Path(folder) / MANIFEST}: missing beside a format-{saved['format']} {TRAINER_STATE} (copied in part)"
    return None


def checkpoint_problem(folder) -> str | None:
    """Why the checkpoint `folder` is not whole (one line), or None when it is or nothing can tell (see the module
    docstring). Reads the manifest, and the training state only when there is no manifest (memory-mapped, with
    weights_only: its pickle alone is read)."""
    folder = Path(folder)
    if (folder / MANIFEST).exists():
        return manifest_problem(folder)
    if not (folder / TRAINER_STATE).is_file():
        return None
    try:
        saved = read_trainer_state(folder / TRAINER_STATE, needs=(), mmap=True)
    except CheckpointError as e:
        return str(e)
    return missing_manifest(folder, saved) if isinstance(saved, dict) else None


def checkpoint_is_whole(folder) -> bool | None:
    """True: the manifest lists every file at its size; False: not whole (checkpoint_problem says why); None:
    nothing can tell (no manifest, and no training state that says there should be one)."""
    if checkpoint_problem(folder) is not None:
        return False
    return True if (Path(folder) / MANIFEST).exists() else None
