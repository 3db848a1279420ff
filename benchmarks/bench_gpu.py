"""babysweep's trainable path on one accelerator, without Ray: training speed, MFU and memory, a distillation step,
and the scorer, in one JSON.

    python benchmarks/bench_gpu.py [--device cuda] [--preset smollm-345m] [--steps 30] [--out bench_gpu.json]
    python benchmarks/bench_gpu.py --device cpu            (the same path at the tiny preset, in under a minute)

It imports only torch, transformers, tokenizers and numpy, through babysweep's trainables (model presets, the
prepared-data format, the distillation loss) and its scorer (analysis/blimp.py, which needs no pandas): never
sweep/, Ray or pandas, so it runs on a machine that has nothing else (the project's lent GPU: torch and
transformers, nothing downloadable). Steps, one after the other:

1. data: the built-in corpus (trainables/data/builtin_corpus) generated and prepared here (its own BPE), with
   its BLiMP-format pairs: at least --pairs in all, spread evenly over its paradigms (59,875 by default on a GPU:
   BLiMP filtered's size);
2. training: the preset from random weights, the trainables' AdamW (fused on CUDA), bf16 autocast and SDPA on CUDA
   (float32 on the CPU), --steps optimizer steps on blocks of the prepared stream at --batch-size, after --warmup steps left
   out; tokens/s, MFU (trainables.model.flops_per_token against the GPU's bf16 peak), peak memory. Then the same
   with torch.compile (--compile; its compile time reported apart);
3. distillation: one student step on the mean logits of 2 teachers (trainables.distill.distillation_loss, alpha
   0.5, T 2): its time against a plain step's;
4. scoring: every pair scored in float32 by analysis.blimp.score_suites (the evaluate path), pairs/s.

The JSON (--out) holds every figure with the device, torch and transformers versions. On a machine without CUDA
it runs the tiny preset with small sizes: a check that the path works, not a figure of a GPU.
"""
import argparse
import json
import math
import platform
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))


def parser():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--device", default=None, help="cuda or cpu (default: cuda when there is one)")
    p.add_argument("--preset", default=None, help="a trainables.model preset (default: smollm-345m on CUDA, tiny on CPU)")
    p.add_argument("--steps", type=int, default=None, help="timed optimizer steps (default 30 on CUDA, 8 on CPU)")
    p.add_argument("--warmup", type=int, default=3)
    p.add_argument("--batch-size", type=int, default=None, help="default 32 on CUDA, 8 on CPU")
    p.add_argument("--seq-length", type=int, default=128)
    p.add_argument("--words", type=int, default=None, help="built-in corpus words (default 300,000 / 20,000)")
    p.add_argument("--pairs", type=int, default=None, help="pairs scored (default 59,875 on CUDA, 1,000 on CPU)")
    p.add_argument("--compile", action=argparse.BooleanOptionalAction, default=None,
                   help="also time torch.compile (default: on CUDA)")
    p.add_argument("--out", default="bench_gpu.json")
    p.add_argument("--work", default=None, help="work folder (default: a temporary one)")
    return p


def sync(device):
    import torch

    if device.type == "cuda":
        torch.cuda.synchronize()


def batches(tokens, batch_size, seq_length, device, seed=0):
    """Endless (inputs, labels) of random blocks of the token stream (labels: the next tokens; the last position of a
    block has none, as in training)."""
    import numpy as np
    import torch

    rng = np.random.default_rng(seed)
    n = (len(tokens) - 1) // seq_length
    while True:
        starts = rng.integers(0, n, batch_size) * seq_length
        block = torch.from_numpy(np.stack([tokens[s:s + seq_length] for s in starts]).astype(np.int64)).to(device)
        labels = block.clone()
        labels[:, :-1] = block[:, 1:]
        labels[:, -1] = -100
        yield block, labels


def timed_training(model, data, device, steps, warmup, loss_of) -> dict:
    """Seconds per optimizer step over `steps` after `warmup`, with the trainables' AdamW (trainables.loop:
    fused on CUDA, the paper's teacher settings) under bf16 autocast on CUDA (float32 on the CPU, as they run)."""
    from contextlib import nullcontext

    import torch

    from trainables.loop import make_optimizer
    from trainables.pretrain import HYPERPARAMETERS

    optimizer = make_optimizer(model, HYPERPARAMETERS)
    autocast = torch.autocast("cuda", dtype=torch.bfloat16) if device.type == "cuda" else nullcontext()
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats(device)
    for i in range(warmup + steps):
        if i == warmup:
            sync(device)
            start = time.perf_counter()
        inputs, labels = next(data)
        with autocast:
            loss = loss_of(model, inputs, labels)
        loss.backward()
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)
    sync(device)
    seconds = (time.perf_counter() - start) / steps
    out = {"seconds_per_step": seconds, "loss": float(loss.detach().float())}
    if device.type == "cuda":
        out["peak_memory_gib"] = torch.cuda.max_memory_allocated(device) / 2**30
    return out


def main(argv=None) -> int:
    args = parser().parse_args(argv)
    import numpy as np  # noqa: F401  (fails here, in one line, on a machine without it)
    import torch
    import transformers

    from analysis.blimp import read_pair_suites, score_suites
    from trainables.data.builtin_corpus import generate_corpus
    from trainables.data.builtin_corpus.paradigms import PARADIGMS
    from trainables.data.prepared import open_prepared, prepare
    from trainables.data.tokenizer import load_tokenizer
    from trainables.distill import distillation_loss
    from trainables.model import build_model, count_parameters, flops_per_token, model_config, peak_flops

    device = torch.device(args.device or ("cuda" if torch.cuda.is_available() else "cpu"))
    gpu = device.type == "cuda"
    preset = args.preset or ("smollm-345m" if gpu else "tiny")
    steps, batch = args.steps or (30 if gpu else 8), args.batch_size or (32 if gpu else 8)
    words, pairs = args.words or (300_000 if gpu else 20_000), args.pairs or (59_875 if gpu else 1_000)
    compile_too = gpu if args.compile is None else args.compile
    report = {"device": torch.cuda.get_device_name(device) if gpu else platform.processor() or "cpu",
              "torch": torch.__version__, "transformers": transformers.__version__, "preset": preset,
              "batch_size": batch, "seq_length": args.seq_length, "steps": steps}
    t0 = time.time()
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(args.work or tmp)
        corpus = generate_corpus(work / "corpus", words=words, seed=0,
                                 pairs_per_paradigm=max(1, math.ceil(pairs / len(PARADIGMS))))
        prepare(work / "corpus", work / "prepared", vocab_size=16_000 if gpu else 2_000, seq_length=args.seq_length,
                log=lambda m: None)
        prepared = open_prepared(work / "prepared")
        report["data"] = {"words": words, "train_tokens": prepared.meta["splits"]["train"]["tokens"],
                          "paradigms": len(corpus["paradigms"]), "seconds": round(time.time() - t0, 1)}
        tokens = prepared.tokens("train")
        config = model_config(preset, {}, prepared.vocab_size, args.seq_length)
        torch.manual_seed(0)

        def plain(model, inputs, labels):
            return model(input_ids=inputs, labels=labels).loss

        model = build_model(config).to(device)
        report["parameters"] = count_parameters(model)
        per_token = flops_per_token(config, args.seq_length)
        peak = peak_flops(device)
        data = batches(tokens, batch, args.seq_length, device)
        plain_run = timed_training(model, data, device, steps, args.warmup, plain)
        tokens_per_s = batch * args.seq_length / plain_run["seconds_per_step"]
        report["train"] = {**plain_run, "tokens_per_s": tokens_per_s,
                           "mfu": per_token * tokens_per_s / peak if peak else None}

        if compile_too:
            compiled = torch.compile(build_model(config).to(device))
            start = time.perf_counter()
            run = timed_training(compiled, data, device, steps, args.warmup, plain)
            compiled_tps = batch * args.seq_length / run["seconds_per_step"]
            report["train_compiled"] = {**run, "tokens_per_s": compiled_tps, "wall_s": time.perf_counter() - start,
                                        "mfu": per_token * compiled_tps / peak if peak else None}
            del compiled

        teachers = [build_model(config).to(device).eval() for _ in range(2)]

        def distilled(student, inputs, labels):
            with torch.no_grad():
                mean = torch.stack([t(input_ids=inputs).logits.float() for t in teachers]).mean(0)
            return distillation_loss(student(input_ids=inputs).logits, mean, labels, alpha=0.5, temperature=2.0)[0]

        run = timed_training(model, data, device, max(2, steps // 2), args.warmup, distilled)
        report["distill_2_teachers"] = {**run, "ratio_to_plain_step": run["seconds_per_step"]
                                        / plain_run["seconds_per_step"]}
        teachers.clear()  # their memory, before scoring

        folder = work / "model"  # the trained model as a Hugging Face folder, as a trial leaves it
        model.save_pretrained(folder)
        load_tokenizer(work / "prepared").save_pretrained(folder)
        suites = read_pair_suites(blimp_dir=work / "corpus" / "blimp")
        n_pairs = sum(len(v) for s in suites for v in s.data.values())
        start = time.perf_counter()
        scored = score_suites(folder, suites, device=device, batch_size=256 if gpu else 64)
        seconds = time.perf_counter() - start
        report["score"] = {"pairs": n_pairs, "seconds": seconds, "pairs_per_s": n_pairs / seconds,
                           "score": next(iter(scored["suites"].values()))["score"], "precision": scored["precision"]}
    report["total_s"] = round(time.time() - t0, 1)
    Path(args.out).write_text(json.dumps(report, indent=2, default=str) + "\n")
    print(json.dumps(report, indent=2, default=str))
    return 0


if __name__ == "__main__":
    sys.exit(main())
