"""The built-in corpus: synthetic child-directed English from a small grammar, with minimal pairs from it.

babysweep must run on a fresh machine with nothing to download, so it ships this generator instead of data.
`generate_corpus` writes a corpus in the BabyLM layout (train/dev/test folders of `<domain>.<split>` text
files, one utterance a line) and BLiMP-style minimal pairs (blimp/<UID>.jsonl) made by the same grammar, so
that a model that learned the grammar can tell every good sentence from its bad twin, and one that learned
nothing scores about 50%; and EWoK-format items (ewok/<domain>.jsonl) from its words, for the EWoK scorer.
The output is the same, byte for byte, for the same arguments.

    lexicon     the words and the pools the grammar draws from
    grammar     the probabilistic grammar: noun phrases, statements, questions, the three domains
    paradigms   the minimal-pair paradigms made with the grammar
    ewok        EWoK-format world-knowledge items made from the lexicon (<out>/ewok/<domain>.jsonl)
    writer      the corpus folder: word budgets, pairs kept out of the corpus, publishing
"""
from .grammar import GENERATOR, VERSION
from .writer import DEFAULT_WORDS, DOMAINS, MIN_EVAL_WORDS, generate_corpus

__all__ = ["DEFAULT_WORDS", "DOMAINS", "GENERATOR", "MIN_EVAL_WORDS", "VERSION", "generate_corpus"]
