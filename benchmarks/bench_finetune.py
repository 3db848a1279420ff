"""Speed of the fine-tuning trainable, and what the paper's full Table 4 fine-tuning would cost on one GPU.

    python benchmarks/bench_finetune.py [--checkpoint HF_DIR] [--glue DIR] [--task rte] [--examples 256]
                                        [--batch-size 32] [--max-length 128] [--threads 2]

1. Measured (CPU, tiny preset by default): makes a tiny pretrained model (built-in corpus, 2,000-entry tokenizer,
   a quarter epoch of the tiny preset) unless --checkpoint is given, then runs trainables.finetune.finetune on the
   first --examples train examples of --task for one epoch through run_local, and prints its own examples_per_s
   metric (training steps only) and the evaluation speed (validation examples / evaluation time).
2. Estimated (printed, not measured): the time of every task of Table 4 at its full settings (all train examples
   present in the GLUE folder, the table's epochs and batch sizes, one validation pass per epoch) for the paper's
   smollm-345m on one H100, from the FLOPs of each step. Assumptions, printed with the figures: 6 x parameters
   FLOPs per trained token and 2 x per evaluated token; tokens per example measured with the checkpoint's
   tokenizer and capped at --max-length (the batch is padded to its longest example: x1.3); 25% of the bf16 peak
   (989 TFLOP/s) for batches of 32 (short sequences, padding, a sequence-classification head), and a floor of
   60 ms per optimizer step (kernel launches and a 345M-parameter AdamW step dominate at batch 1-8).
"""
import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

PEAK = 989e12
MFU = 0.25
STEP_FLOOR_S = 0.060
PAD_FACTOR = 1.3
PARAMS_345M = 345e6


def parse_args():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--checkpoint", help="pretrained Hugging Face folder (default: make a tiny one)")
    p.add_argument("--glue", default=str(REPO.parent / "shared" / "data" / "glue_filtered"))
    p.add_argument("--task", default="rte")
    p.add_argument("--examples", type=int, default=256, help="train examples timed")
    p.add_argument("--batch-size", type=int, default=32)
    p.add_argument("--max-length", type=int, default=128)
    p.add_argument("--threads", type=int, default=2)
    return p.parse_args()


def tiny_checkpoint(root: Path, threads: int) -> Path:
    from trainables.data.builtin_corpus import generate_corpus
    from trainables.data.prepared import prepare
    from trainables.pretrain import pretrain
    from trainables.reporting import run_local

    generate_corpus(root / "corpus", words=60_000, seed=0, pairs_per_paradigm=10)
    prepare(root / "corpus", root / "prepared", vocab_size=2000, seq_length=64, log=lambda m: None)
    run = run_local(pretrain, dict(data=str(root / "prepared"), preset="tiny", batch_size=16, num_epochs=0.25,
                                   budget_step=0.25, num_warmup_steps=5, lr=3e-3, num_threads=threads), root / "pt")
    return run.checkpoints[-1] / "hf"


def measure(checkpoint, args):
    from trainables.finetune import finetune
    from trainables.reporting import run_local

    config = dict(checkpoint=str(checkpoint), glue_dir=args.glue, task=args.task, num_epochs=1, lr=1e-4,
                  batch_size=args.batch_size, num_warmup_steps=0, max_train_examples=args.examples,
                  max_eval_examples=args.examples, max_length=args.max_length, num_threads=args.threads,
                  save_model=False)
    with tempfile.TemporaryDirectory() as tmp:
        t0 = time.perf_counter()
        run = run_local(finetune, config, Path(tmp))
        total = time.perf_counter() - t0
    m = run.results[-1]
    return m, total


def estimate(checkpoint, args):
    from transformers import AutoTokenizer

    from trainables import glue

    tok = AutoTokenizer.from_pretrained(checkpoint)
    rows, total_s = [], 0.0
    for name in glue.TRAINED:
        t = glue.TASKS[name]
        if not all(t.path(args.glue, s).is_file() for s in ("train", "validation")):
            continue
        h = glue.TABLE4[name]
        n_train = sum(1 for _ in open(t.path(args.glue, "train")))
        n_valid = sum(1 for _ in open(t.path(args.glue, "validation")))
        sample = glue.read_split(args.glue, name, "train", limit=200)
        tokens = sum(len(glue.encode(t, s, tok, args.max_length)) for s, _ in sample) / len(sample) * PAD_FACTOR
        steps = -(-n_train // h["batch_size"]) * h["num_epochs"]
        step_s = max(6 * PARAMS_345M * tokens * h["batch_size"] / (MFU * PEAK), STEP_FLOOR_S)
        eval_s = 2 * PARAMS_345M * tokens * n_valid * h["num_epochs"] / (MFU * PEAK)
        s = steps * step_s + eval_s
        total_s += s
        rows.append((name, n_train, h["num_epochs"], h["batch_size"], tokens, steps, s))
    return rows, total_s


def main():
    args = parse_args()
    import torch

    torch.set_num_threads(args.threads)
    with tempfile.TemporaryDirectory() as tmp:
        checkpoint = Path(args.checkpoint) if args.checkpoint else tiny_checkpoint(Path(tmp), args.threads)
        m, total = measure(checkpoint, args)
        print(f"measured on {'cuda' if torch.cuda.is_available() else 'cpu'} ({args.threads} threads), "
              f"task {args.task}, {m['n_train']} train / {m['n_valid']} validation examples, batch {args.batch_size}, "
              f"max_length {args.max_length}:")
        print(f"  training   {m['examples_per_s']:.1f} examples/s (the trainable's examples_per_s)")
        eval_s = m["wall_s"] - m["n_train"] / m["examples_per_s"]
        print(f"  evaluation {m['n_valid'] / max(eval_s, 1e-9):.1f} examples/s (approx: wall_s minus training time)")
        print(f"  whole run_local call {total:.1f} s (model load, tokenization, checkpoint included)")
        rows, total_s = estimate(checkpoint, args)
    print("\nestimate, full Table 4 settings, smollm-345m on one H100 (not measured): "
          f"6N FLOPs/token, {MFU:.0%} of {PEAK / 1e12:.0f} TFLOP/s, >= {STEP_FLOOR_S * 1e3:.0f} ms/step, "
          f"tokens/example from this tokenizer x{PAD_FACTOR} padding")
    print(f"  {'task':<8} {'train':>7} {'epochs':>6} {'batch':>5} {'tok/ex':>6} {'steps':>7} {'time':>9}")
    for name, n, ep, bs, tok, steps, s in rows:
        print(f"  {name:<8} {n:>7} {ep:>6} {bs:>5} {tok:>6.0f} {steps:>7} {s / 60:>7.1f} m")
    print(f"  total {total_s / 3600:.2f} GPU-hours for the {len(rows)} tasks with a train split in {args.glue}")
    print(json.dumps({"examples_per_s": m["examples_per_s"], "estimate_gpu_h": total_s / 3600}))


if __name__ == "__main__":
    main()
