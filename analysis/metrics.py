"""The metrics a family comparison shows (the paper's Table 3 columns and Figure 1 panels): each column's label,
unit and direction, which of a table's columns are metrics, and why a metric has no value yet."""
from dataclasses import dataclass

from sweep.table import suite_columns

from .compare_inputs import FINETUNE_DIR, SUPERGLUE
from .correlate import SUITE_LABELS


@dataclass(frozen=True)
class Metric:
    column: str
    label: str
    unit: str                # "nats" or "%"
    scale: float = 1.0       # table value x scale = the value shown
    lower_is_better: bool = False

    @property
    def title(self) -> str:
        return f"{self.label} ({self.unit}) {'↓' if self.lower_is_better else '↑'}"


# the paper's panels (test loss, BLiMP filtered, BLiMP supplement, SuperGLUE) and validation loss; other suites after
BASE_METRICS = [
    Metric("test_loss", "test loss", "nats", 1.0, True),
    Metric("val_loss", "validation loss", "nats", 1.0, True),
    Metric("blimp_filtered", "BLiMP filtered", "%", 100.0),
    Metric("blimp_supplement", "BLiMP supplement", "%", 100.0),
    Metric(SUPERGLUE, "SuperGLUE macro average", "%", 100.0),
]
WHY_ABSENT = {
    "test_loss": "trials write it when they finish their schedule",
    "val_loss": "no model reported one",
    "blimp_filtered": "babysweep evaluate NAME --blimp DIR",
    "blimp_supplement": "babysweep evaluate NAME --supplement DIR",
    SUPERGLUE: f"babysweep finetune-family NAME --glue DIR (or finetune-all --checkpoint CKPT --out "
               f"<experiment>/{FINETUNE_DIR}/<trial_id>)",
}


def metric_for(column: str) -> Metric:
    """The Metric of a column: a base metric, else a suite score (a fraction, shown in %)."""
    for m in BASE_METRICS:
        if m.column == column:
            return m
    return Metric(column, SUITE_LABELS.get(column, column), "%", 100.0)


def candidate_metrics(tables) -> list[Metric]:
    """The base metrics, then every other suite column of any of the tables (in the order first seen)."""
    out = list(BASE_METRICS)
    seen = {m.column for m in out}
    for df in tables:
        for column in suite_columns(df.columns):
            if column not in seen:
                seen.add(column)
                out.append(metric_for(column))
    return out


def known_metric_names(tables) -> list[str]:
    """Metric names a reference file may use: the base metrics, EWoK, the built-in pairs and the tables' suites."""
    names = [m.column for m in candidate_metrics(tables)]
    return names + [s for s in SUITE_LABELS if s not in names]
