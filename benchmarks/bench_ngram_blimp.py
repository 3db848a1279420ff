"""How much BLiMP signal a corpus carries for the simplest language models: n-gram baselines on a prepared folder.

    python benchmarks/bench_ngram_blimp.py --data PREPARED [--blimp ../shared/data/blimp_filtered]
        [--supplement ../shared/data/supplement_filtered] [--pairs 50] [--order 3]

A reference for the science benchmark (docs/findings.md): when a neural model sits at chance on BLiMP, is the
model broken, or does a model trained on this few words simply not get there? The n-grams here see exactly what a
babysweep model sees: the prepared folder's train tokens (the `bos_eos` stream, <s> utterance </s>), and score
each minimal pair exactly as analysis.blimp does (<s> + the sentence's tokens; the sum of log-probabilities of every
token after <s>; a pair is right when the good sentence scores higher). Ties are shown apart: a unigram model ties
every pair whose sentences hold the same words in another order (whole BLiMP paradigms are such), so the usual "ties
right" rule would credit it with word-order knowledge it does not have; the accuracy here counts a tie wrong and
the ties column says how many pairs tied (a neural model almost never ties). Models, orders 1 to
--order: add-one unigram, then interpolated Witten-Bell (each order backs off to the one below with the weight of
the distinct continuations its context has been seen with). Prints, per order, BLiMP filtered (mean of
per-paradigm accuracies), the supplement, and the validation loss in nats per token, comparable with val_loss.
"""
import argparse
import math
import sys
from collections import Counter, defaultdict
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))
SHARED = REPO.parent / "shared" / "data"


class WittenBell:
    """n-gram probabilities of token ids, interpolated Witten-Bell down to an add-one unigram."""

    def __init__(self, tokens: np.ndarray, order: int, vocab_size: int):
        self.order = order
        self.unigram = (np.bincount(tokens, minlength=vocab_size) + 1.0) / (len(tokens) + vocab_size)
        seq = tokens.tolist()
        self.counts = {}      # n -> Counter of (context..., token)
        self.context = {}     # n -> Counter of context: how often it was followed by anything
        self.types = {}       # n -> {context: number of distinct tokens seen after it}
        for n in range(2, order + 1):
            grams = Counter(zip(*(seq[i:] for i in range(n))))
            context, types = Counter(), defaultdict(int)
            for gram, c in grams.items():
                context[gram[:-1]] += c
                types[gram[:-1]] += 1
            self.counts[n], self.context[n], self.types[n] = grams, context, types

    def prob(self, history: tuple, token: int) -> float:
        p = self.unigram[token]
        for n in range(2, self.order + 1):
            ctx = history[-(n - 1):]
            if len(ctx) < n - 1:
                break
            seen = self.context[n].get(ctx, 0)
            if not seen:
                break  # a longer context was never seen either: the shorter order's estimate stands
            t = self.types[n][ctx]
            p = (self.counts[n].get(ctx + (token,), 0) + t * p) / (seen + t)
        return p

    def logprob(self, ids: list[int]) -> float:
        """Sum of log P(token | history) over every token after the first (<s>), as the neural scoring does."""
        return sum(math.log(self.prob(tuple(ids[max(0, i - self.order + 1):i]), ids[i])) for i in range(1, len(ids)))


def suite_accuracy(model, tokenizer, folder, pairs) -> tuple[float, float]:
    """(mean of per-paradigm accuracies with ties counted wrong, share of all pairs tied)."""
    from analysis import blimp

    suite, _ = blimp.load_suite(folder, limit=pairs)
    accuracies, ties, n = [], 0, 0
    for name, items in suite.items():
        good = blimp.encode_sentences(tokenizer, [p.good for p in items])
        bad = blimp.encode_sentences(tokenizer, [p.bad for p in items])
        margins = np.array([model.logprob(g) - model.logprob(b) for g, b in zip(good, bad)])
        accuracies.append(np.mean(margins > 0))
        ties, n = ties + int(np.sum(np.abs(margins) < 1e-9)), n + len(margins)
    return float(np.mean(accuracies)), ties / n


def mean_loss(model, tokens: np.ndarray) -> float:
    """Nats per token over every token after the first, as val_loss counts them."""
    return -model.logprob(tokens.tolist()) / (len(tokens) - 1)


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--data", required=True, help="a prepared folder (babysweep data prepare)")
    p.add_argument("--blimp", default=str(SHARED / "blimp_filtered"))
    p.add_argument("--supplement", default=str(SHARED / "supplement_filtered"), help="'' to leave it out")
    p.add_argument("--pairs", type=int, default=50, help="pairs per paradigm (default 50, the science benchmark's)")
    p.add_argument("--order", type=int, default=3, help="the highest n-gram order (default 3)")
    args = p.parse_args(argv)

    from analysis.blimp import BlimpError, jsonl_files
    from trainables.data.prepared import open_prepared
    from trainables.errors import DataError

    try:
        if args.order < 1:
            raise ValueError(f"--order: must be 1 or more, got {args.order}")
        data = open_prepared(args.data)
        for folder in filter(None, (args.blimp, args.supplement)):
            jsonl_files(folder, "minimal pairs per paradigm")
        train, validation = data.tokens("train"), data.tokens("validation")
        tokenizer = data.tokenizer()
    except (ValueError, DataError, BlimpError) as e:
        print(f"bench_ngram_blimp: {e}", file=sys.stderr)
        return 2

    print(f"{args.data}: {len(train):,} train tokens, vocabulary {data.vocab_size:,}; {args.pairs} pairs per paradigm")
    print(f"{'model':<8} {'val loss':>9} {'BLiMP filtered':>15} {'(ties)':>7} {'supplement':>11} {'(ties)':>7}")
    train, validation = np.asarray(train, dtype=np.int64), np.asarray(validation, dtype=np.int64)
    for order in range(1, args.order + 1):
        model = WittenBell(train, order, data.vocab_size)
        filtered, filtered_ties = suite_accuracy(model, tokenizer, args.blimp, args.pairs)
        supplement, supplement_ties = (suite_accuracy(model, tokenizer, args.supplement, args.pairs)
                                       if args.supplement else (float("nan"), float("nan")))
        print(f"{f'{order}-gram':<8} {mean_loss(model, validation):>9.3f} "
              f"{filtered:>15.3f} {filtered_ties:>7.1%} {supplement:>11.3f} {supplement_ties:>7.1%}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
