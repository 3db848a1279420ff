"""Where an analysis writes: its output folder, and each figure as PNG and PDF, every file under a temporary name
first, then renamed (trainables.files.atomic_path), so a reader never finds one half-written."""
from pathlib import Path

from trainables.files import atomic_path

from .errors import AnalysisError


def output_folder(out_dir) -> Path:
    """`out_dir`, created if needed; AnalysisError naming it when it cannot be."""
    out = Path(out_dir)
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise AnalysisError(f"--out {out}: cannot create the folder ({e.strerror or e})") from None
    return out


def save_figure(fig, out: Path, stem: str, dpi=None) -> dict:
    """<out>/<stem>.png and .pdf; returns {file name: path}."""
    paths = {}
    for ext in ("png", "pdf"):
        path = Path(out) / f"{stem}.{ext}"
        with atomic_path(path) as tmp:
            fig.savefig(tmp, format=ext, **({"dpi": dpi} if dpi else {}))
        paths[path.name] = path
    return paths
