"""Speed of zero-shot minimal-pair scoring: the batched scorer against the one-sentence-per-forward-pass loop.

    python benchmarks/bench_blimp.py [--pairs 400] [--rounds 3] [--threads 2] [--batch-size 64]
    python benchmarks/bench_blimp.py --checkpoint DIR --blimp DIR [--limit N] [--batch-size 256]
    python benchmarks/bench_blimp.py --checkpoint random:smollm-345m --blimp ../shared/data/blimp_filtered

Default mode (CPU): makes its own data in a temporary folder (the built-in corpus, prepared with a 2,000-entry
tokenizer) and a tiny-preset Llama (random weights: speed does not depend on them), saved as a Hugging Face
folder and loaded back with analysis.blimp.load_model. It takes --pairs pairs (round-robin over the built-in
paradigms) and scores their 2 x --pairs sentences, alternately (A, B, A, B, ...) for --rounds rounds:
  A  analysis.blimp.sentence_logprobs: tokenized together, sorted by length, right-padded, --batch-size
     sentences per forward pass;
  B  analysis.blimp.sentence_logprobs_reference: one sentence per forward pass, no padding.
It prints pairs/s of each (median over rounds), the ratio A / B (target >= 5x) and the largest difference
between their log-probabilities (they must agree within 1e-4).

Suite mode (--checkpoint): loads a checkpoint (or a random model of a preset: random:<preset>, with the
built-in corpus's tokenizer and the preset's 16,000-entry vocabulary), reads a folder of BLiMP jsonl files and
times analysis.blimp.score_suite over all of it (--limit N pairs per paradigm for a quick run). Target on a GPU
machine: all 59,875 pairs of BabyLM's blimp_filtered with smollm-345m in at most 2 minutes (120 s).
"""
import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

RATIO_TARGET = 5.0
GPU_TARGET_S = 120.0


def parse_args():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--pairs", type=int, default=400, help="pairs scored per round (default mode)")
    p.add_argument("--rounds", type=int, default=3)
    p.add_argument("--threads", type=int, default=2, help="torch CPU threads")
    p.add_argument("--batch-size", type=int, default=None, help="default: 64 on CPU, 256 on CUDA")
    p.add_argument("--words", type=int, default=60_000, help="built-in corpus size for the tokenizer")
    p.add_argument("--checkpoint", help="suite mode: a Hugging Face folder, or random:<preset>")
    p.add_argument("--blimp", help="suite mode: folder of *.jsonl minimal pairs")
    p.add_argument("--limit", type=int, default=None, help="suite mode: pairs per paradigm")
    p.add_argument("--device", default=None, help="default: cuda when available, else cpu")
    args = p.parse_args()
    if bool(args.checkpoint) != bool(args.blimp):
        p.error("--checkpoint and --blimp go together")
    return args


def make_data(tmp: Path, words: int) -> Path:
    from trainables.data.builtin_corpus import generate_corpus
    from trainables.data.prepared import prepare

    generate_corpus(tmp / "corpus", words=words, seed=0, pairs_per_paradigm=250)
    prepare(tmp / "corpus", tmp / "prepared", vocab_size=2000, seq_length=128, log=lambda m: None)
    return tmp / "prepared"


def make_random_checkpoint(prepared: Path, preset: str, out: Path, vocab_size=None) -> Path:
    import torch

    from trainables.data.tokenizer import load_tokenizer
    from trainables.model import build_model, model_config

    tok = load_tokenizer(prepared)
    torch.manual_seed(0)
    model = build_model(model_config(preset, {}, vocab_size or len(tok), 128))
    model.save_pretrained(out)
    tok.save_pretrained(out)
    return out


def take_pairs(suite: dict, n: int) -> list:
    """n pairs, round-robin over the paradigms (so every paradigm's sentence lengths are represented)."""
    queues = [list(pairs) for pairs in suite.values()]
    out = []
    while len(out) < n and any(queues):
        for q in queues:
            if q and len(out) < n:
                out.append(q.pop(0))
    return out


def compare(args):
    import numpy as np
    import torch

    from analysis.blimp import load_model, load_suite, sentence_logprobs, sentence_logprobs_reference

    batch_size = args.batch_size or 64
    with tempfile.TemporaryDirectory(prefix="bench-blimp-") as tmp:
        tmp = Path(tmp)
        t = time.perf_counter()
        prepared = make_data(tmp, args.words)
        folder = make_random_checkpoint(prepared, "tiny", tmp / "model")
        print(f"data and model: {time.perf_counter() - t:.1f} s (built-in corpus {args.words:,} words, "
              f"vocabulary 2,000, tiny preset, random weights)")
        model, tok = load_model(folder, device="cpu")
        suite, _ = load_suite(tmp / "corpus" / "blimp")
        pairs = take_pairs(suite, args.pairs)
    sentences = [s for p in pairs for s in (p.good, p.bad)]
    n_tokens = [len(x) + 1 for x in tok(sentences, add_special_tokens=False)["input_ids"]]
    print(f"{len(pairs)} pairs from {len(suite)} paradigms: {len(sentences)} sentences, "
          f"{min(n_tokens)}-{max(n_tokens)} tokens with <s> (mean {np.mean(n_tokens):.1f}); "
          f"{model.num_parameters():,} parameters; CPU, {torch.get_num_threads()} threads; "
          f"batch size {batch_size}; {args.rounds} rounds, alternating")

    # one untimed call of each first: the first forward passes pay for lazy initialisation
    sentence_logprobs(model, tok, sentences[:batch_size], batch_size=batch_size)
    sentence_logprobs_reference(model, tok, sentences[:8])
    times = {"batched": [], "reference": []}
    for r in range(args.rounds):
        t = time.perf_counter()
        batched = sentence_logprobs(model, tok, sentences, batch_size=batch_size)
        times["batched"].append(time.perf_counter() - t)
        t = time.perf_counter()
        reference = sentence_logprobs_reference(model, tok, sentences)
        times["reference"].append(time.perf_counter() - t)
        print(f"  round {r + 1}: batched {times['batched'][-1]:.2f} s, reference {times['reference'][-1]:.2f} s")
    diff = float(np.max(np.abs(batched - reference)))
    rate = {k: len(pairs) / statistics.median(v) for k, v in times.items()}
    ratio = rate["batched"] / rate["reference"]
    print()
    print(f"{'scorer':<34}{'pairs/s (median)':>18}{'s per round':>14}")
    print(f"{'A batched (sentence_logprobs)':<34}{rate['batched']:>18,.0f}{statistics.median(times['batched']):>14.2f}")
    print(f"{'B reference (one per forward)':<34}{rate['reference']:>18,.0f}"
          f"{statistics.median(times['reference']):>14.2f}")
    print(f"ratio A / B: {ratio:.1f}x (target >= {RATIO_TARGET:.0f}x: {'met' if ratio >= RATIO_TARGET else 'NOT met'})")
    print(f"max |A - B| over the {len(sentences)} log-probabilities: {diff:.2e} nats "
          f"({'within' if diff < 1e-4 else 'OUTSIDE'} 1e-4)")


def suite(args):
    import torch

    from analysis.blimp import CONVENTION, TIE_RULE, load_model, load_suite, score_suite

    device = torch.device(args.device or ("cuda" if torch.cuda.is_available() else "cpu"))
    batch_size = args.batch_size or (256 if device.type == "cuda" else 64)
    if device.type != "cuda":
        print(f"note: no CUDA here; the {GPU_TARGET_S:.0f} s target for all 59,875 blimp_filtered pairs with "
              f"smollm-345m needs a GPU machine. Timing on CPU ({torch.get_num_threads()} threads).")
    with tempfile.TemporaryDirectory(prefix="bench-blimp-") as tmp:
        tmp = Path(tmp)
        t = time.perf_counter()
        if args.checkpoint.startswith("random:"):
            preset = args.checkpoint.split(":", 1)[1]
            from trainables.model import PRESETS

            prepared = make_data(tmp, args.words)
            folder = make_random_checkpoint(prepared, preset, tmp / "model", PRESETS[preset]["vocab_size"])
            print(f"random {preset} model made in {time.perf_counter() - t:.1f} s")
        else:
            folder = Path(args.checkpoint)
        t = time.perf_counter()
        pairs, warnings = load_suite(args.blimp, limit=args.limit)
        t_read = time.perf_counter() - t
        t = time.perf_counter()
        model, tok = load_model(folder, device=device)
        if device.type == "cuda":
            torch.cuda.synchronize()
        t_load = time.perf_counter() - t
    n = sum(len(p) for p in pairs.values())
    print(f"{n:,} pairs in {len(pairs)} paradigms ({len(warnings)} warnings), read in {t_read:.1f} s; model "
          f"{model.num_parameters() / 1e6:.1f}M parameters, loaded in {t_load:.1f} s; {device}, "
          f"batch size {batch_size}")
    t = time.perf_counter()
    result = score_suite(model, tok, pairs, batch_size=batch_size, device=device)
    if device.type == "cuda":
        torch.cuda.synchronize()
    wall = time.perf_counter() - t
    print(f"scored in {wall:.1f} s: {n / wall:,.0f} pairs/s; read + load + score {t_read + t_load + wall:.1f} s")
    print(f"score {result['score']:.4f} ({CONVENTION}; {TIE_RULE}); pooled {result['pooled']:.4f}")
    if result["long_sentences"]:
        print(f"note: {result['long_sentences']:,} sentences are longer than the model's "
              f"{model.config.max_position_embeddings} positions (scored all the same)")
    if device.type == "cuda":
        total = t_read + t_load + wall
        print(f"target: all pairs in <= {GPU_TARGET_S:.0f} s: {'met' if total <= GPU_TARGET_S else 'NOT met'}"
              + ("" if n == 59_875 else f" (this run had {n:,} pairs, not 59,875)"))


def main():
    args = parse_args()
    import torch

    torch.set_num_threads(args.threads)
    from transformers.utils import logging as hf_logging

    hf_logging.disable_progress_bar()
    if args.checkpoint:
        suite(args)
    else:
        compare(args)


if __name__ == "__main__":
    main()
