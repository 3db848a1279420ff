"""`babysweep demo`: the whole machinery on the built-in corpus, on a laptop, with nothing to download: its data
and its sweep (here; `--quick` stops there), then the rest of the paper's pipeline (babysweep/pipeline.py).

Its data folder (--dir) is the demo's own: the corpus folder is named by the generator's version, and a prepared
folder made there by an earlier babysweep with other settings (say, before the tail validation split) is prepared
again rather than refused.
"""
import shutil
from pathlib import Path

from search_spaces.loader import SPACES_DIR
from trainables.data.builtin_corpus import VERSION, generate_corpus
from trainables.data.prepared import prepare
from trainables.errors import DataError
from .launch import SweepSpec, launch

DEMO_WORDS = 100_000   # small enough for 16+ tiny trials in a few minutes on 2 cores
DEMO_VOCAB = 800     # what 100k built-in words give with no unused entry (2,000 asked gives ~840, with a warning)


def demo_data(root, words=DEMO_WORDS, seed=0, log=print) -> Path:
    """The demo's built-in corpus and its prepared folder under `root` (made once, then reused); returns the
    prepared folder. A prepared folder there made by an earlier version or with other settings is prepared again:
    the folder is the demo's own. Anything else in its place is refused (DataError), never deleted."""
    root = Path(root)
    corpus, prepared = demo_corpus(root, words, seed), root / f"prepared-{words}-seed{seed}"
    log(f"built-in corpus: {corpus}")
    generate_corpus(corpus, words=words, seed=seed)  # reused when already there
    try:
        prepare(corpus, prepared, vocab_size=DEMO_VOCAB, seq_length=128, log=log)
    except DataError:
        if not (prepared / "meta.json").is_file():  # not a prepared folder: not the demo's to replace
            raise
        log(f"{prepared}: prepared by an earlier version or from other files; preparing it again")
        shutil.rmtree(prepared)
        prepare(corpus, prepared, vocab_size=DEMO_VOCAB, seq_length=128, log=log)
    return prepared


def demo_corpus(root, words=DEMO_WORDS, seed=0) -> Path:
    """The demo's built-in corpus folder under `root` (its BLiMP-format pairs in blimp/, EWoK items in ewok/)."""
    return Path(root) / f"corpus-v{VERSION}-{words}-seed{seed}"


def demo_spec(prepared, storage="runs", name="demo", samples=16, seed=0, cpus_per_trial=1.0) -> SweepSpec:
    """The demo's sweep: BOHB over the tiny space on the prepared built-in corpus."""
    return SweepSpec(space=str(SPACES_DIR / "tiny_demo.yaml"), data=str(prepared), algo="bohb", samples=samples,
                     cpus_per_trial=cpus_per_trial, seed=seed, name=name, storage=storage)


def run_demo(root="runs/demo-data", storage="runs", name="demo", samples=16, seed=0, words=DEMO_WORDS,
             cpus_per_trial=1.0, log=print, verbose=1):
    """The demo's sweep alone (`babysweep demo --quick`); the whole pipeline is babysweep.pipeline's."""
    prepared = demo_data(root, words, seed, log)
    # A demo is meant to be run again: it replaces its own previous results, never anything else's
    return launch(demo_spec(prepared, storage, name, samples, seed, cpus_per_trial), overwrite=True, verbose=verbose)
