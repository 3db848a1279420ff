import os
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
# ../shared next to the clone: real benchmark files, present for developers and CI, absent elsewhere
SHARED_DATA = Path(os.environ.get("BABYSWEEP_SHARED_DATA", REPO.parent / "shared" / "data"))


def shared_data(name: str) -> Path:
    path = SHARED_DATA / name
    if not path.is_dir():
        pytest.skip(f"real-format data {path} is absent (../shared/data is only beside developer and CI clones)")
    return path
