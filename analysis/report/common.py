"""What every part of the report shares: its file names, its error, and how a number reads on the page."""
import math
import numbers

import pandas as pd

from sweep.display import fmt as plain_fmt
from sweep.table import suite_columns
from trainables.errors import UserError

REPORT_HTML = "report.html"
FIGURES_DIR = "report"
EPS = 1e-9
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
LOG_SCALED = ("log_normal", "q_log_normal", "log_uniform", "q_log_uniform")
KIND_NAMES = {"log_normal": "log-normal", "q_log_normal": "log-normal, rounded to multiples of q",
              "log_uniform": "log-uniform", "q_log_uniform": "log-uniform, rounded to multiples of q",
              "uniform": "uniform", "int_uniform": "uniform on the integers", "choice": "choice (equal weights)"}


class ReportError(UserError):
    """One-line, user-facing error naming the sweep and why there is no report."""



def fmt(v, spec=".4g") -> str:
    """A cell as a person reads it (sweep/display.py's fmt): '—' for a missing value, whole numbers as integers,
    infinities as ∞."""
    if isinstance(v, numbers.Real) and not isinstance(v, (bool, numbers.Integral)):
        v = float(v)
        if math.isinf(v):
            return "∞" if v > 0 else "-∞"
        if v.is_integer() and abs(v) < 1e6:
            return str(int(v))
    return plain_fmt(v, spec)

def epochs(v) -> str:
    return f"{fmt(v)} epoch" + ("" if v == 1 else "s")


def hours_text(hours: float) -> str:
    """'0.004637 (17 s)': hours, with seconds or minutes beside small amounts."""
    if hours <= 0 or not math.isfinite(hours):
        return fmt(hours)
    if hours < 1 / 60:
        return f"{hours:.4g} ({hours * 3600:.0f} s)"
    if hours < 1:
        return f"{hours:.4g} ({hours * 60:.1f} min)"
    return f"{hours:.4g}"


def scored_suites(df: pd.DataFrame) -> list[str]:
    """The suite-score columns of a table that hold at least one value."""
    return [s for s in suite_columns(df.columns) if pd.to_numeric(df[s], errors="coerce").notna().any()]

