"""What a family comparison reads besides the families' tables: the reference points of --reference (a YAML or
JSON file of named points), and each model's SuperGLUE macro average from the `babysweep finetune-all` runs kept
in its experiment folder."""
import math
from pathlib import Path

import numpy as np
import pandas as pd

from sweep.errors import SweepError
from sweep.table import FINETUNE_SCHEMA, read_table

from .correlate import AnalysisError, numeric

SUPERGLUE = "superglue"
FINETUNE_DIR = "finetune"           # <experiment>/finetune/<trial_id>/finetune_all.csv
FINETUNE_TABLE = "finetune_all.csv"  # as sweep.finetune_all.TABLE (not imported: it pulls in the trainables)
MACRO_AVERAGE = "macro average"     # the task name of finetune_all.csv's last row
REFERENCE_MARKERS = ["^", "s", "*", "D", "v", "P", "h", "o", "<", ">"]
ALLOWED_MARKERS = set(REFERENCE_MARKERS) | {"p", "X", "d", "8", "H", "x", "+", "."}


def read_references(path, known=None) -> dict:
    """Reference points from a YAML or JSON file: {name: {metric: value, ..., marker: M, filled: true|false}}.

    Metrics are column names (test_loss, val_loss, blimp_filtered, blimp_supplement, superglue, ewok, ...) with
    values in the units of the comparison (losses in nats per token, scores in %); `marker` (optional) is a
    matplotlib marker (^ s * D v P h o < > p X d 8 H x + .), `filled` (optional, default true) whether it is
    filled (the paper: filled for 10M-word baselines, empty for 100M). `known`: the metric names allowed (an
    unknown one is an error, a typo would otherwise vanish). Returns {name: {"values": {metric: value},
    "marker": M or None, "filled": bool}}; AnalysisError naming the file and the problem."""
    import yaml

    path = Path(path)
    src = f"--reference {path}"
    if not path.exists():
        raise AnalysisError(f"{src}: file not found")
    if not path.is_file():
        raise AnalysisError(f"{src}: is a folder, not a YAML or JSON file")
    try:
        doc = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (yaml.YAMLError, UnicodeDecodeError) as e:
        raise AnalysisError(f"{src}: not valid YAML/JSON ({' '.join(str(e).split())})") from None
    except OSError as e:
        raise AnalysisError(f"{src}: cannot read ({e.strerror or e})") from None
    if not isinstance(doc, dict) or not doc:
        raise AnalysisError(f"{src}: must map reference names to {{metric: value}} (e.g. 'BabyLlama (10M)': "
                            f"{{blimp_filtered: 69.8}}), got {type(doc).__name__ if doc is not None else 'nothing'}")
    out = {}
    for name, entry in doc.items():
        if not isinstance(name, str) or not name.strip():
            raise AnalysisError(f"{src}: reference name {name!r} must be text")
        if not isinstance(entry, dict) or not entry:
            raise AnalysisError(f"{src}: {name}: must be a mapping of metric: value (got {entry!r})")
        values, marker, filled = {}, None, True
        for key, value in entry.items():
            if key == "marker":
                if not isinstance(value, str) or value not in ALLOWED_MARKERS:
                    raise AnalysisError(f"{src}: {name}: marker {value!r} is not one of "
                                        f"{' '.join(sorted(ALLOWED_MARKERS))}")
                marker = value
            elif key == "filled":
                if not isinstance(value, bool):
                    raise AnalysisError(f"{src}: {name}: filled must be true or false (got {value!r})")
                filled = value
            else:
                if not isinstance(key, str):
                    raise AnalysisError(f"{src}: {name}: metric name {key!r} must be text")
                if known is not None and key not in known:
                    raise AnalysisError(f"{src}: {name}: unknown metric {key!r} (known: {', '.join(known)})")
                if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
                    raise AnalysisError(f"{src}: {name}: {key} must be a finite number (got {value!r})")
                values[key] = float(value)
        if not values:
            raise AnalysisError(f"{src}: {name}: no metric value (e.g. blimp_filtered: 69.8)")
        out[name] = {"values": values, "marker": marker, "filled": filled}
    return out


def superglue_macro_average(path) -> float:
    """The macro average (in %) of a finetune_all.csv, read through its schema (sweep.table.FINETUNE_SCHEMA: a
    SweepError naming the line of a score that is not a number in [-100, 100]); ValueError when it has none."""
    return superglue_of(path)[0]


def superglue_of(path) -> tuple[float, tuple]:
    """(the macro average in %, the tasks it averages, in the table's order) of a finetune_all.csv."""
    table = read_table(path, FINETUNE_SCHEMA)
    is_average = table["task"].astype(str) == MACRO_AVERAGE
    row = table[is_average]
    if row.empty:
        raise ValueError(f"no '{MACRO_AVERAGE}' row")
    value = float(pd.to_numeric(row["score"], errors="coerce").iloc[-1])
    if not math.isfinite(value):
        raise ValueError("its macro average is not a number")
    return value, tuple(str(t) for t in table.loc[~is_average, "task"])


def attach_superglue(df: pd.DataFrame, experiment_dir) -> tuple[pd.DataFrame, list[str]]:
    """The table with a `superglue` column (the SuperGLUE macro average as a fraction, like every suite column)
    from the `babysweep finetune-all` runs kept in <experiment_dir>/finetune/<folder>/finetune_all.csv: a folder
    named after a trial id is that trial's; any other is matched by the checkpoint its finetune_all.json names
    (the trial's `checkpoint`, or a path inside its trial_<id> folder). A table that already has values in
    `superglue` is kept as it is. Returns (table, notes)."""
    if SUPERGLUE in df.columns and np.isfinite(numeric(df, SUPERGLUE)).any():
        return df, []
    root = Path(experiment_dir) / FINETUNE_DIR
    files = sorted(root.glob(f"*/{FINETUNE_TABLE}")) if root.is_dir() else []
    if not files or "trial_id" not in df.columns:
        return df, []
    ids = df["trial_id"].astype(str).tolist()
    by_checkpoint = {}
    if "checkpoint" in df.columns:
        for tid, ckpt in zip(ids, df["checkpoint"]):
            if isinstance(ckpt, str) and ckpt:
                by_checkpoint[str(Path(ckpt))] = tid
    scores, task_sets, notes = {}, {}, []
    for path in files:
        tid = path.parent.name if path.parent.name in ids else None
        if tid is None:
            tid = _trial_of_finetune(path.parent, ids, by_checkpoint)
        if tid is None:
            notes.append(f"{path}: matches no trial of the table (folder name or checkpoint); not used")
            continue
        try:
            value, tasks = superglue_of(path)
        except SweepError as e:  # names the file, its line and value
            notes.append(f"{e}; not used")
            continue
        except (OSError, ValueError) as e:
            notes.append(f"{path}: not used ({' '.join(str(e).split())})")
            continue
        scores[tid], task_sets[tid] = value / 100.0, tasks
    if scores:
        # a mean over other tasks is another number: the family's models are compared on one task set, the one
        # most of them were fine-tuned on (the first such, on a tie); the others are named and left out
        counts = {}
        for tasks in task_sets.values():
            counts[tuple(sorted(tasks))] = counts.get(tuple(sorted(tasks)), 0) + 1
        common = max(counts, key=counts.get)
        for tid in list(scores):
            if tuple(sorted(task_sets[tid])) != common:
                notes.append(f"trial {tid}: its SuperGLUE mean is over {', '.join(task_sets[tid]) or 'no task'}, "
                             f"not the family's {', '.join(common)}; not used")
                del scores[tid]
        notes.append(f"SuperGLUE: mean of {len(common)} tasks ({', '.join(common)}) for {len(scores)} model(s), "
                     f"from {root}/*/{FINETUNE_TABLE}")
    out = df.copy()
    out[SUPERGLUE] = [scores.get(t, math.nan) for t in ids]
    return out, notes


def _trial_of_finetune(folder: Path, ids, by_checkpoint):
    import json

    try:
        checkpoint = json.loads((folder / "finetune_all.json").read_text()).get("checkpoint")
    except (OSError, ValueError, AttributeError):
        return None
    if not isinstance(checkpoint, str):
        return None
    if str(Path(checkpoint)) in by_checkpoint:
        return by_checkpoint[str(Path(checkpoint))]
    parts = set(Path(checkpoint).parts)
    found = [t for t in ids if f"trial_{t}" in parts]
    return found[0] if len(found) == 1 else None
