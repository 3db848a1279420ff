"""The page's HTML pieces (inline CSS, escaped text, embedded PNGs, tables) and where the report looks for the
analyses of a sweep and its re-runs."""
import base64
import html
from pathlib import Path

import pandas as pd

from sweep.experiment import list_experiments
from sweep.kinds import RerunSpec
from trainables.names import DEFAULT_STORAGE

from .common import PNG_MAGIC, fmt


def storage_flag(exp) -> str:
    storage = exp.path.parent
    return "" if storage == Path(DEFAULT_STORAGE).resolve() else f" --storage {storage}"


def command(exp, *words) -> str:
    return "babysweep " + " ".join(words) + storage_flag(exp)


def analysis_folders(exp, reruns) -> list[Path]:
    """Where an analysis of this sweep may be: its own analysis folder, then each re-run's."""
    return [exp.analysis_dir] + [r / "analysis" for r in reruns]


def find_reruns(exp) -> list[Path]:
    """Re-run experiments of this sweep in its storage: <name>-rerun first, then the others made from it."""
    found = [e.path for e in list_experiments(exp.path.parent, source=exp.name, kind=RerunSpec)]
    default = exp.path.parent / f"{exp.name}-rerun"
    return sorted(found, key=lambda p: p != default)


def _png(path: Path) -> bytes | None:
    try:
        data = path.read_bytes()
    except OSError:
        return None
    return data if data.startswith(PNG_MAGIC) else None


def _read_csv(path: Path):
    try:
        return pd.read_csv(path, dtype={"source_trial_id": str})
    except (OSError, ValueError, pd.errors.ParserError, pd.errors.EmptyDataError):
        return None


def _stale(path: Path, exp_paths) -> bool:
    """Was the analysis file written before the latest change of the tables it was drawn from?"""
    try:
        written = path.stat().st_mtime
        return any(p.is_file() and p.stat().st_mtime > written + 1.0 for p in exp_paths)
    except OSError:
        return False


# ------------------------------------------------------------------------------------------------ HTML

CSS = """
body { font-family: -apple-system, "Segoe UI", Roboto, Helvetica, Arial, sans-serif; margin: 0 auto;
       max-width: 1100px; padding: 1.5em; color: #222; line-height: 1.45; }
h1 { margin-bottom: 0.2em; } h2 { border-bottom: 1px solid #ccc; padding-bottom: 0.2em; margin-top: 2em; }
.meta { color: #666; font-size: 0.9em; }
nav a { margin-right: 1em; font-size: 0.9em; }
code { background: #f3f3f3; padding: 0.05em 0.3em; border-radius: 3px; font-size: 0.92em; }
table { border-collapse: collapse; font-size: 0.86em; margin: 0.6em 0; }
th, td { border: 1px solid #ddd; padding: 0.25em 0.55em; text-align: left; vertical-align: top; }
th { background: #f5f5f5; } td.num { text-align: right; font-variant-numeric: tabular-nums; }
tr.best td { background: #eef7ee; font-weight: 600; }
.scroll { overflow-x: auto; }
figure { margin: 1em 0; } figure img { max-width: 100%; height: auto; border: 1px solid #eee; }
figcaption { color: #555; font-size: 0.9em; max-width: 900px; }
.missing { background: #fff8e1; border-left: 4px solid #f0b400; padding: 0.6em 0.9em; }
.running { background: #e8f1fd; border-left: 4px solid #2f6fd6; padding: 0.6em 0.9em; }
.note { color: #555; font-size: 0.9em; }
"""


def esc(text) -> str:
    return html.escape(str(text), quote=True)


def img_tag(png: bytes, alt: str) -> str:
    return f'<img src="data:image/png;base64,{base64.b64encode(png).decode("ascii")}" alt="{esc(alt)}">'


def figure_html(png: bytes, alt: str, caption: str = "") -> str:
    cap = f"<figcaption>{caption}</figcaption>" if caption else ""
    return f"<figure>{img_tag(png, alt)}{cap}</figure>"


def kv_table(rows) -> str:
    return ('<table class="kv">' + "".join(f"<tr><th>{esc(k)}</th><td>{v}</td></tr>" for k, v in rows)
            + "</table>")


def html_table(df: pd.DataFrame, headers=None, titles=None, numeric=(), highlight=None) -> str:
    headers = headers or list(df.columns)
    titles = titles or {}
    head = "".join(f'<th title="{esc(titles[c])}">{esc(h)}</th>' if c in titles else f"<th>{esc(h)}</th>"
                   for c, h in zip(df.columns, headers))
    body = []
    for i, row in enumerate(df.itertuples(index=False)):
        cls = ' class="best"' if highlight is not None and i == highlight else ""
        cells = "".join(f'<td class="num">{esc(fmt(v))}</td>' if c in numeric else f"<td>{esc(fmt(v))}</td>"
                        for c, v in zip(df.columns, row))
        body.append(f"<tr{cls}>{cells}</tr>")
    return f'<div class="scroll"><table><thead><tr>{head}</tr></thead><tbody>{"".join(body)}</tbody></table></div>'


def missing(text: str) -> str:
    return f'<p class="missing">{text}</p>'


def cmd(text: str) -> str:
    return f"<code>{esc(text)}</code>"


