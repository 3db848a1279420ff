"""Paths an experiment stores about its own files, and how they follow a storage folder that was copied or moved.

An experiment names its own files (its checkpoints, an ensemble's members, a data folder or a model inside the
same storage) by paths relative to its folder or its storage, so that the storage can be copied or moved as a
whole; a path outside the storage (the user's input: a corpus, a space file) stays absolute. Folders written by
earlier versions hold absolute paths to where they were made: `reroot` takes such a path from the storage the
experiment was in (its sweep.json's `storage`, see `moved_storage`) to the one it is in now, when it is read.
Nothing here writes a file.
"""
import json
import os
from pathlib import Path

from .names import EXPERIMENT_RECORD


def is_inside(path, root) -> bool:
    """Whether the absolute `path` is `root` or below it (by name: no folder is looked at)."""
    return os.path.normpath(path) == os.path.normpath(root) or os.path.normpath(path).startswith(
        os.path.normpath(root).rstrip(os.sep) + os.sep)


def stored_path(value, base, within=None):
    """What a file stores for `value`: an absolute path inside `within` (default `base`) as a path relative to
    `base` (with `..` when `within` is above `base`); anything else (a relative path, a path outside, not a path) as
    it is. Lists are taken item by item."""
    if isinstance(value, (list, tuple)):
        return [stored_path(v, base, within) for v in value]
    if isinstance(value, Path):
        value = str(value)
    if isinstance(value, str) and value and os.path.isabs(value) and is_inside(value, within or base):
        return os.path.relpath(os.path.normpath(value), os.path.normpath(base))
    return value


def reroot(value, old_root, new_root, own=None):
    """`value` (a path, or a list of them) with an absolute path under `old_root` moved to the same place under
    `new_root`. A path under `own` (the experiment's own folder, where it was) always moves with it; one elsewhere
    under `old_root` (another experiment's model, a data folder in the storage) moves when it exists at the new
    place or no longer exists at the old one (a folder moved on its own keeps reading what it left behind)."""
    if isinstance(value, (list, tuple)):
        return [reroot(v, old_root, new_root, own) for v in value]
    if not (isinstance(value, str) and value and os.path.isabs(value) and old_root and new_root
            and is_inside(value, old_root)) or os.path.normpath(old_root) == os.path.normpath(new_root):
        return value
    moved = os.path.join(os.path.normpath(new_root), os.path.relpath(os.path.normpath(value),
                                                                     os.path.normpath(old_root)))
    if (own is not None and is_inside(value, own)) or os.path.exists(moved) or not os.path.exists(value):
        return os.path.normpath(moved)
    return value


def resolved_path(value, base, moved=None, own=None):
    """The absolute path a file's stored `value` names now: a relative one against `base`, an absolute one re-rooted
    by `moved` ((old storage, new storage), or None: see reroot). Anything else as it is."""
    if isinstance(value, (list, tuple)):
        return [resolved_path(v, base, moved, own) for v in value]
    if not isinstance(value, str) or not value:
        return value
    if not os.path.isabs(value):
        return os.path.normpath(os.path.join(base, value))
    return reroot(value, *moved, own=own) if moved else value


def experiment_above(folder) -> Path | None:
    """The experiment folder `folder` is (or lies in): the nearest one holding sweep.json; None when there is none."""
    folder = Path(folder).absolute()
    return next((p for p in (folder, *folder.parents) if (p / EXPERIMENT_RECORD).is_file()), None)


def moved_storage(experiment) -> tuple[str, str] | None:
    """(the storage the experiment was written in, the one it is in now) when its sweep.json names another storage
    than the folder it is in (copied or moved since); None when it has not moved or its record does not say."""
    experiment = Path(experiment).absolute()
    try:
        written = json.loads((experiment / EXPERIMENT_RECORD).read_text()).get("storage")
    except (OSError, ValueError, AttributeError):
        return None
    now = str(experiment.resolve().parent)
    if not isinstance(written, str) or not os.path.isabs(written) or os.path.normpath(written) == now:
        return None
    return os.path.normpath(written), now
