import importlib.util
import os
import shutil
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


LEGACY_FIXTURE = REPO / "tests" / "fixtures" / "legacy_v0_1"  # folders written by babysweep 0.1 (its README)
# The absolute paths the fixture's text files name: where it was made, on another machine
LEGACY_ORIGIN = {"runs": "/tmp/legacy/runs", "data": "/tmp/legacy/prep", "code": "/tmp/oldcode"}


def copy_legacy(storage: Path, names=("legacy", "legacy-rerun"), data=None, origin=None) -> Path:
    """The legacy fixture's experiments copied into `storage`, with the absolute paths their tables and records name
    (of the machine that made them) rewritten into the copy's own tmp_path: the storage to `storage`, the data folder
    to `data` (default: an absent folder beside `storage`), so that no test depends on what /tmp holds here. Ray's
    pickles (tuner.pkl) keep the old paths: a resume relocates them, and tests/test_experiment_api checks it.
    `origin`: the storage the copies name instead, as if they were made there and moved (default `storage`)."""
    storage = Path(storage)
    data = Path(data) if data is not None else storage.parent / "legacy-data-absent"
    runs = Path(origin) if origin is not None else storage
    new = {"runs": str(runs), "data": str(data), "code": str(runs.parent / "legacy-code-absent")}
    for name in names:
        shutil.copytree(LEGACY_FIXTURE / name, storage / name)
        for path in (storage / name).rglob("*"):
            if path.suffix in (".csv", ".json") and path.is_file():
                try:
                    text = path.read_text()
                except UnicodeDecodeError:
                    continue
                for key, origin in LEGACY_ORIGIN.items():
                    text = text.replace(origin, new[key])
                path.write_text(text)
    return storage


def load_benchmark(name: str):
    """benchmarks/<name>.py as a module (benchmarks/ is a folder of scripts, not a package)."""
    spec = importlib.util.spec_from_file_location(name, REPO / "benchmarks" / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="session")
def tiny_data(tmp_path_factory):
    """The built-in corpus at a few thousand words, prepared with a small vocabulary: data for real tiny runs."""
    from trainables.data.builtin_corpus import generate_corpus
    from trainables.data.prepared import prepare

    root = tmp_path_factory.mktemp("tiny")
    generate_corpus(root / "corpus", words=15_000, seed=0, pairs_per_paradigm=200)
    prepare(root / "corpus", root / "prepared", vocab_size=400, seq_length=32, log=lambda m: None)
    return root / "prepared"


TINY_TRAIN = dict(preset="tiny", seq_length=32, batch_size=8, num_epochs=1, budget_step=0.25, lr=3e-3,
                  num_warmup_steps=5, weight_decay=0.1, num_threads=1, eval_batch_size=64)


@pytest.fixture
def ray_temp_dir():
    """Ray's own temp dir for this test: short, since Ray puts unix sockets under it (107-byte limit)."""
    import shutil
    import tempfile

    path = tempfile.mkdtemp(prefix="bsray-", dir="/tmp")
    yield path
    shutil.rmtree(path, ignore_errors=True)


@pytest.fixture(scope="session")
def small_sweep(tiny_data, tmp_path_factory):
    """A real 5-trial BOHB sweep of the tiny space on tiny_data, named "small": for re-runs and evaluation."""
    from search_spaces.loader import SPACES_DIR
    from sweep.launch import SweepSpec, launch

    runs = tmp_path_factory.mktemp("sweeps") / "runs"
    launch(SweepSpec(space=str(SPACES_DIR / "tiny_demo.yaml"), data=str(tiny_data), samples=5, name="small",
                     storage=str(runs)), verbose=0)
    return runs


@pytest.hookimpl(tryfirst=True)
def pytest_collection_modifyitems(config, items):
    """Under pytest-xdist (setup.cfg runs the tests on one worker per core), the tests of one module run on one
    worker, which makes its module fixtures (a tiny family, a pretrained model) once, not once a worker; and every
    test of the one real session sweep, whatever its module, on the same worker, which makes that sweep once.
    tryfirst: xdist's own hook turns these marks into the node ids its scheduler groups by, so they must be there
    before it runs (without it every test went to whichever worker was free)."""
    for item in items:
        if "small_sweep" in getattr(item, "fixturenames", ()):
            item.add_marker(pytest.mark.xdist_group("small_sweep"))
        else:
            item.add_marker(pytest.mark.xdist_group(item.path.name))


def watch_table(path, find, process, timeout=300, every=0.2):
    """Read the results table at `path` every `every` seconds while `process` runs, until `find(table)` returns
    something other than None, and return that; None when the process ended or `timeout` passed first. (For tests
    that act on a running sweep: kill its worker, its node, its driver.)"""
    import time

    from sweep.table import read_table

    deadline = time.time() + timeout
    while time.time() < deadline and process.poll() is None:
        time.sleep(every)
        try:
            table = read_table(path)
        except Exception:  # not written yet
            continue
        found = find(table)
        if found is not None:
            return found
    return None
