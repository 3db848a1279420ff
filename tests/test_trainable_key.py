"""The space file's `trainable:` key is the trainable unless --trainable says otherwise (then a note says so)."""
import pytest

from search_spaces.loader import SPACES_DIR, load_space
from sweep.errors import SweepError
from sweep.kinds import SweepSpec

SPACE = "trainable: {trainable}\nbudget: {{min: 1, max: 3}}\nparameters:\n  lr: {{log_uniform: [1.0e-4, 1.0e-2]}}\n"


def space_file(tmp_path, trainable):
    path = tmp_path / "space.yaml"
    path.write_text(SPACE.format(trainable=trainable))
    return path


def test_the_space_files_trainable_is_used_when_no_flag_is_given(tmp_path):
    spec = SweepSpec(space=str(space_file(tmp_path, "trainables.pretrain:pretrain")))
    fn = spec.settle_trainable(load_space(spec.space))
    assert spec.trainable == "trainables.pretrain:pretrain" and fn.__name__ == "pretrain"


def test_a_space_file_naming_a_trainable_that_cannot_be_imported(tmp_path):
    path = space_file(tmp_path, "no_such_pkg.mod:fn")
    with pytest.raises(SweepError, match=rf"^{path}: trainable no_such_pkg.mod:fn: cannot import no_such_pkg.mod"):
        SweepSpec(space=str(path)).settle_trainable(load_space(path))


def test_the_flag_wins_over_the_file_and_says_so(tmp_path, capsys):
    space = load_space(SPACES_DIR / "superglue" / "rte.yaml")  # trainable: finetune
    spec = SweepSpec(space=str(space.path), trainable="pretrain")
    assert spec.settle_trainable(space).__name__ == "pretrain"
    assert "note: --trainable pretrain is used" in capsys.readouterr().err
    SweepSpec(space=str(space.path), trainable="trainables.finetune:finetune").settle_trainable(space)
    assert capsys.readouterr().err == ""  # the same trainable by another name: nothing to say
