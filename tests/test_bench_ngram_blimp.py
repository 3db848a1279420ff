"""benchmarks/bench_ngram_blimp.py: its Witten-Bell n-grams are proper distributions that fit better with each order,
they score minimal pairs as babysweep scores them (a pair the model has seen verbatim is right), and the whole
benchmark runs on a prepared built-in corpus; bad input is one line and exit 2. Fast: no training, no Ray."""
import math

import numpy as np
import pytest

from conftest import load_benchmark


@pytest.fixture(scope="module")
def bench():
    return load_benchmark("bench_ngram_blimp")


@pytest.fixture(scope="module")
def prepared(tmp_path_factory):
    from trainables.data.builtin_corpus import generate_corpus
    from trainables.data.prepared import prepare

    root = tmp_path_factory.mktemp("ngram")
    generate_corpus(root / "corpus", words=6_000, seed=0, pairs_per_paradigm=10)
    prepare(root / "corpus", root / "prepared", vocab_size=300, seq_length=32)
    return root


@pytest.mark.parametrize("order", [1, 2, 3])
def test_every_history_gives_a_distribution_that_sums_to_one(bench, order):
    tokens = np.array([0, 1, 2, 3, 1, 2, 4, 0, 1, 2, 3, 4, 4, 1])
    model = bench.WittenBell(tokens, order, vocab_size=6)
    for history in [(0,), (1,), (0, 1), (1, 2), (5, 5), (4, 4)]:  # seen, unseen and partly seen contexts
        total = sum(model.prob(history, t) for t in range(6))
        assert math.isclose(total, 1.0, rel_tol=1e-12), (order, history, total)


def test_higher_orders_fit_a_repetitive_text_better(bench):
    tokens = np.tile(np.array([0, 3, 1, 4, 1, 5, 2, 6]), 50)
    losses = [bench.mean_loss(bench.WittenBell(tokens, n, vocab_size=8), tokens) for n in (1, 2, 3)]
    assert losses[0] > losses[1] > losses[2] and losses[2] < 0.1


def test_the_benchmark_runs_on_a_prepared_folder(bench, prepared, capsys):
    blimp = prepared / "corpus" / "blimp"
    assert bench.main(["--data", str(prepared / "prepared"), "--blimp", str(blimp), "--supplement", "",
                       "--pairs", "5", "--order", "2"]) == 0
    rows = [line.split() for line in capsys.readouterr().out.splitlines() if "-gram" in line]
    assert [r[0] for r in rows] == ["1-gram", "2-gram"]
    (uni_loss, uni_acc), (bi_loss, bi_acc) = [(float(r[1]), float(r[2])) for r in rows]
    assert bi_loss < uni_loss  # the generated corpus has local structure a bigram catches
    assert 0 <= uni_acc <= 1 and 0 <= bi_acc <= 1


@pytest.mark.parametrize("change, message", [
    ({"--data": "/nonexistent/prepared"}, "no such prepared data folder"),
    ({"--blimp": "{empty}"}, "no *.jsonl files"),
    ({"--order": "0"}, "--order: must be 1 or more"),
])
def test_bad_input_is_one_line_and_exit_2(bench, prepared, tmp_path, capsys, change, message):
    (tmp_path / "empty").mkdir()
    flags = {"--data": str(prepared / "prepared"), "--blimp": str(prepared / "corpus" / "blimp"), "--supplement": ""}
    flags.update({k: v.replace("{empty}", str(tmp_path / "empty")) for k, v in change.items()})
    assert bench.main([x for kv in flags.items() for x in kv]) == 2
    err = capsys.readouterr().err.strip()
    assert message in err and "\n" not in err
