"""An earlier commit of this repository, checked out for a side-by-side benchmark and removed afterwards."""
import shutil
import subprocess
import tempfile
from contextlib import contextmanager
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


@contextmanager
def earlier_commit(rev: str, prefix="bench-"):
    """Yield (scratch folder, the commit's code in a git worktree inside it); both go at the end."""
    root = Path(tempfile.mkdtemp(prefix=prefix))
    code = root / "old-code"
    subprocess.run(["git", "-C", str(REPO), "worktree", "add", "--detach", str(code), rev], check=True,
                   capture_output=True)
    try:
        yield root, code
    finally:
        subprocess.run(["git", "-C", str(REPO), "worktree", "remove", "--force", str(code)], capture_output=True)
        shutil.rmtree(root, ignore_errors=True)
