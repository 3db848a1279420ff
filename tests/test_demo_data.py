"""The demo's data folder is its own: a prepared folder an earlier version left there is prepared again, anything
else in its place is refused and left as it was."""
import json
import shutil

import pytest

from sweep.demo import DEMO_VOCAB, demo_data
from trainables.data.prepared import prepare
from trainables.errors import DataError

WORDS = 6_000


def test_a_prepared_folder_made_with_other_settings_is_prepared_again(tmp_path):
    first = demo_data(tmp_path, words=WORDS, log=lambda *a: None)
    corpus = next(tmp_path.glob("corpus-v*"))
    # as an earlier babysweep left it: the same corpus prepared with other settings (random split, other vocabulary)
    shutil.rmtree(first)
    prepare(corpus, first, vocab_size=300, valid_split="random", log=lambda *a: None)
    lines = []
    again = demo_data(tmp_path, words=WORDS, log=lines.append)
    meta = json.loads((again / "meta.json").read_text())
    assert again == first and meta["split"]["valid_split"] == "tail"
    assert meta["tokenizer"]["requested_vocab_size"] == DEMO_VOCAB
    assert any("preparing it again" in line for line in lines)


def test_something_else_in_the_demos_place_is_refused_and_kept(tmp_path):
    other = tmp_path / f"prepared-{WORDS}-seed0"
    other.mkdir()
    (other / "notes.txt").write_text("mine")
    with pytest.raises(DataError, match="holds other files"):
        demo_data(tmp_path, words=WORDS, log=lambda *a: None)
    assert (other / "notes.txt").read_text() == "mine"
