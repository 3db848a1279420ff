"""Speed of the pretraining trainable against a bare PyTorch loop on the same model, batch and threads.

    python benchmarks/bench_trainable.py [--rounds 3] [--steps 100] [--threads 2] [--preset tiny] [--batch-size 32]
    python benchmarks/bench_trainable.py --threads 1 --cpu-clock       (on a machine other processes are using)
    python benchmarks/bench_trainable.py --device cuda [--preset smollm-345m]      (on a GPU machine)

In one process, alternately (A, B, A, B, ...), for --rounds rounds:
  A  the trainable itself: trainables.reporting.run_local(trainables.pretrain.pretrain, ...), sized to run
     exactly warm-up + --steps optimizer steps (num_epochs = steps / steps_per_epoch, budget_step = num_epochs,
     so it reports once, at the end, after its validation and test loss, checkpoint and model save);
  B  the loop a person would write by hand: the same LlamaForCausalLM (same preset, seed, initial weights),
     AdamW with the same settings, the same blocks in the same order, forward with labels, backward,
     clip_grad_norm_, step, loss.item() per step; no scheduler, no reports, no checkpoints.
Both run the same number of steps. Then one lockstep run: the trainable again, with one step of B run
inside its per-step progress callback, so that A and B alternate step by step under the same machine load
(the figure to trust on a shared machine). Warm-up is treated the same in both: the first 3 steps of each run are
left out of the "steady" figures (per-step times come from the trainable's progress callback for A and
from the loop itself for B). The trainable's own `tokens_per_s` metric includes its first steps, so it is
set beside B timed over all its steps. Target: A steady / B steady >= 0.95.

Minor page faults per step are shown for A and B. On Linux with glibc, the large temporaries of a step (the
logits and their gradient, 20 MB for the tiny preset) can be given back to the kernel and faulted in afresh
every step, more or less often depending only on the order of allocations; this costs system time and can
make A and B differ by 10% or more with nothing in their code to explain it. Run with
MALLOC_MMAP_THRESHOLD_=33554432 MALLOC_TRIM_THRESHOLD_=1073741824 in the environment to switch it off.

As a check that A and B do the very same work, A runs with a constant learning rate and B uses the same
two parameter groups, so their mean training losses must agree.

Peak memory: one whole tiny-preset trial (1 epoch) on CPU in a fresh process, its peak RSS beside the
RSS of that process when it had only imported torch and transformers. The peak is VmHWM, not ru_maxrss:
on Linux a child's ru_maxrss starts from its parent's peak (it is kept across the vfork + exec of
subprocess), so here it would report this benchmark's own memory.

With --device cuda the comparison runs on the GPU (bf16 autocast, SDPA, fused AdamW in both) and the
trainable's `mfu` metric is shown (target >= 40% for smollm-345m on an H100).
"""
import argparse
import gc
import json
import math
import os
import statistics
import subprocess
import sys
import tempfile
import time
from contextlib import nullcontext
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
WARMUP = 3  # steps left out of the steady figures, in A and B alike
MFU_TARGET = 0.40
RATIO_TARGET = 0.95
clock = time.perf_counter  # what times the steps; --cpu-clock: time.thread_time

MEMORY_TRIAL = """
import json, resource, sys, time

def status_mb(field):  # Linux: VmRSS (now) and VmHWM (peak) of this process since its exec
    try:
        for line in open("/proc/self/status"):
            if line.startswith(field + ":"):
                return int(line.split()[1]) / 1024
    except OSError:
        return None

def peak_mb():
    # ru_maxrss is no good here: Linux carries the parent's peak across the fork/vfork + exec that started us
    hwm = status_mb("VmHWM")
    if hwm is not None:
        return hwm
    r = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return r / 2**20 if sys.platform == "darwin" else r / 1024

import torch, transformers
after_import = {"rss_mb": status_mb("VmRSS"), "peak_mb": peak_mb()}
from trainables.pretrain import pretrain
from trainables.reporting import run_local
t = time.perf_counter()
run = run_local(pretrain, json.loads(sys.argv[1]), sys.argv[2])
print(json.dumps({"after_import": after_import, "peak_mb": peak_mb(), "wall_s": time.perf_counter() - t,
                  "steps": run.results[-1]["step"], "n_params": run.results[-1]["n_params"]}))
"""


def parse_args():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--device", choices=("cpu", "cuda"), default="cpu")
    p.add_argument("--preset", default=None, help="default: tiny on cpu, smollm-345m on cuda")
    p.add_argument("--batch-size", type=int, default=None, help="default: 32 on cpu, 64 on cuda")
    p.add_argument("--max-device-batch-size", type=int, default=64)
    p.add_argument("--threads", type=int, default=2, help="torch threads on CPU, the same for A and B")
    p.add_argument("--steps", type=int, default=100, help="timed steps per run, after the warm-up steps")
    p.add_argument("--rounds", type=int, default=3)
    p.add_argument("--words", type=int, default=None, help="built-in corpus size; default 200k (1M on cuda)")
    p.add_argument("--vocab-size", type=int, default=None, help="default 2000 on cpu, 16000 on cuda")
    p.add_argument("--seq-length", type=int, default=128)
    p.add_argument("--compile", action="store_true", help="torch.compile on cuda, in A and B")
    p.add_argument("--cpu-clock", action="store_true",
                   help="time A's and B's steps by the main thread's CPU time, not wall time: with --threads 1 a figure "
                        "that other processes on a shared machine barely disturb (the trainable's metric stays wall time)")
    p.add_argument("--no-lockstep", action="store_true", help="skip the run where A and B alternate step by step")
    p.add_argument("--no-memory", action="store_true", help="skip the peak-memory trial (always skipped on cuda)")
    args = p.parse_args()
    cuda = args.device == "cuda"
    args.preset = args.preset or ("smollm-345m" if cuda else "tiny")
    args.batch_size = args.batch_size or (64 if cuda else 32)
    args.words = args.words or (1_000_000 if cuda else 200_000)
    args.vocab_size = args.vocab_size or (16_000 if cuda else 2_000)
    return args


# ---- A: the trainable ----

def trainable_config(args, data_dir, spe):
    num_epochs = (WARMUP + args.steps) / spe  # pretrain runs round(num_epochs * steps_per_epoch) steps
    return dict(data=str(data_dir), preset=args.preset, seq_length=args.seq_length, batch_size=args.batch_size,
                max_device_batch_size=args.max_device_batch_size, num_epochs=num_epochs, budget_step=num_epochs,
                num_threads=args.threads, lr_scheduler_type="constant", num_warmup_steps=0, seed=0,
                compile=args.compile)


def run_trainable(args, data_dir, ckpt_dir, spe):
    from trainables.pretrain import pretrain
    from trainables.reporting import run_local

    total = WARMUP + args.steps
    config = trainable_config(args, data_dir, spe)
    stamps, flts = [], []

    def on_step(step, n):
        stamps.append(clock())
        flts.append(page_faults())

    reset_peak_memory()
    t0 = clock()
    run = run_local(pretrain, config, ckpt_dir, on_step=on_step, keep_last=1)
    t_end = clock()
    m = run.results[-1]
    assert m["step"] == total == len(stamps), (m["step"], total, len(stamps))
    tokens = args.batch_size * args.seq_length
    return {
        "metric_tps": m["tokens_per_s"],  # the trainable's own figure: all its steps, warm-up included
        "steady_tps": tokens * args.steps / (stamps[-1] - stamps[WARMUP - 1]),
        "median_step_tps": tokens / statistics.median(b - a for a, b in zip(stamps[WARMUP - 1:], stamps[WARMUP:])),
        "end_to_end_tps": tokens * total / (t_end - t0),
        "setup_and_step1_s": stamps[0] - t0,
        "steps_s": stamps[-1] - stamps[0],
        "after_s": t_end - stamps[-1],  # validation + test loss, checkpoint, Hugging Face save
        "faults_per_step": (flts[-1] - flts[WARMUP - 1]) / args.steps,
        "mfu": m["mfu"],
        "train_loss": m["train_loss"],
        "peak_gpu_gb": peak_memory_gb(),
    }


# ---- B: the bare loop ----

def bare_loop(args, data_dir):
    """The hand-written loop, as a generator: it yields once when the model and optimizer are built, then
    after every step (its loss), so a caller can time its steps or run them one at a time."""
    import numpy as np
    import torch

    from trainables.data.prepared import gather_blocks, open_prepared, train_block_starts
    from trainables.model import build_model, model_config

    device = torch.device(args.device)
    torch.set_num_threads(args.threads)
    L, bs = args.seq_length, args.batch_size
    data = open_prepared(data_dir)
    tokens = data.tokens("train")
    spe = ((len(tokens) - L) // L) // bs
    autocast = (lambda: torch.autocast("cuda", dtype=torch.bfloat16)) if device.type == "cuda" else nullcontext

    torch.manual_seed(0)
    model = build_model(model_config(args.preset, {}, data.vocab_size, L)).to(device)
    model.train()
    step_model = torch.compile(model) if args.compile and device.type == "cuda" else model
    # The trainable's hyperparameter defaults; the same two groups (no decay on norm weights) as it uses
    decay = [p for p in model.parameters() if p.ndim >= 2]
    no_decay = [p for p in model.parameters() if p.ndim < 2]
    optimizer = torch.optim.AdamW([{"params": decay, "weight_decay": 5.0}, {"params": no_decay, "weight_decay": 0.0}],
                                  lr=7e-4, betas=(0.9, 0.999), eps=1e-8, fused=device.type == "cuda")
    n_micro = math.ceil(bs / min(bs, args.max_device_batch_size))
    yield None
    starts, starts_epoch = None, None
    for step in range(WARMUP + args.steps):
        epoch, i = divmod(step, spe)
        if epoch != starts_epoch:
            starts, starts_epoch = train_block_starts(len(tokens), L, epoch, 0), epoch
        batch = starts[i * bs:(i + 1) * bs]
        step_loss = 0.0
        for chunk in np.array_split(batch, n_micro):  # one chunk unless the batch exceeds the device batch
            x = torch.from_numpy(gather_blocks(tokens, chunk, L)).to(device)
            with autocast():
                loss = step_model(input_ids=x, labels=x).loss
                if n_micro > 1:
                    loss = loss * (len(chunk) / bs)
            loss.backward()
            step_loss += loss.item()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)
        if device.type == "cuda":
            torch.cuda.synchronize()  # as the trainable does before it reads its clock
        yield step_loss


def run_bare(args, data_dir):
    reset_peak_memory()
    t0 = clock()
    loop = bare_loop(args, data_dir)
    next(loop)  # build
    stamps, flts = [clock()], [page_faults()]
    losses = []
    for loss in loop:
        losses.append(loss)
        stamps.append(clock())
        flts.append(page_faults())
    tok = args.batch_size * args.seq_length
    return {
        "all_tps": tok * (WARMUP + args.steps) / (stamps[-1] - stamps[0]),
        "steady_tps": tok * args.steps / (stamps[-1] - stamps[WARMUP]),
        "median_step_tps": tok / statistics.median(b - a for a, b in zip(stamps[WARMUP:], stamps[WARMUP + 1:])),
        "setup_s": stamps[0] - t0,
        "faults_per_step": (flts[-1] - flts[WARMUP]) / args.steps,
        "train_loss": sum(losses) / len(losses),
        "peak_gpu_gb": peak_memory_gb(),
    }


def run_lockstep(args, data_dir, ckpt_dir, spe):
    """A and B one step each in turn: B's step runs inside the trainable's per-step progress callback, so both
    see the same load from anything else on the machine. The trainable's own clock stops before it calls back,
    so its tokens_per_s leaves B's steps out; here A's step k is the time from the end of B's step k-1 to the
    callback of step k."""
    from trainables.pretrain import pretrain
    from trainables.reporting import run_local

    loop = bare_loop(args, data_dir)
    next(loop)
    a_dt, b_dt, last = [], [], [None]

    def on_step(step, total):
        t = clock()
        if last[0] is not None:
            a_dt.append(t - last[0])  # A's steps 2, 3, ...
        next(loop)
        last[0] = clock()
        b_dt.append(last[0] - t)  # B's steps 1, 2, ...

    run = run_local(pretrain, trainable_config(args, data_dir, spe), ckpt_dir, on_step=on_step, keep_last=1)
    a, b = a_dt[WARMUP - 1:], b_dt[WARMUP:]  # steps WARMUP + 1 ... WARMUP + steps of each
    assert len(a) == len(b) == args.steps, (len(a), len(b))
    tok = args.batch_size * args.seq_length
    return {"a_steady_tps": tok * len(a) / sum(a), "b_steady_tps": tok * len(b) / sum(b),
            "a_median_step_tps": tok / statistics.median(a), "b_median_step_tps": tok / statistics.median(b),
            "a_metric_tps": run.results[-1]["tokens_per_s"]}


def page_faults() -> int:
    """Minor page faults of this process so far (0 where the resource module is missing)."""
    try:
        import resource
    except ImportError:
        return 0
    return resource.getrusage(resource.RUSAGE_SELF).ru_minflt


def reset_peak_memory():
    import torch

    gc.collect()
    if torch.cuda.is_available():
        torch.cuda.empty_cache()
        torch.cuda.reset_peak_memory_stats()


def peak_memory_gb():
    import torch

    return torch.cuda.max_memory_allocated() / 2**30 if torch.cuda.is_available() else None


# ---- peak memory of a CPU trial, in a fresh process ----

def memory_trial(args, data_dir, root):
    config = dict(data=str(data_dir), preset="tiny", seq_length=args.seq_length, batch_size=32, num_epochs=1,
                  num_threads=args.threads, seed=0)
    env = dict(os.environ, CUDA_VISIBLE_DEVICES="", PYTHONPATH=str(REPO))
    out = subprocess.run([sys.executable, "-c", MEMORY_TRIAL, json.dumps(config), str(root / "memory-trial")],
                         cwd=REPO, env=env, check=True, capture_output=True, text=True).stdout
    return json.loads(out.strip().splitlines()[-1])


def make_data(args, root):
    from trainables.data.builtin_corpus import generate_corpus
    from trainables.data.prepared import open_prepared, prepare

    t = time.perf_counter()
    generate_corpus(root / "corpus", words=args.words)
    prepare(root / "corpus", root / "prepared", vocab_size=args.vocab_size, seq_length=args.seq_length,
            log=lambda m: None)
    data = open_prepared(root / "prepared")
    n_train = len(data.tokens("train"))
    spe = ((n_train - args.seq_length) // args.seq_length) // args.batch_size
    return root / "prepared", data, n_train, spe, time.perf_counter() - t


def fmt(x, spec=",.0f"):
    return "-" if x is None else format(x, spec)


def main():
    global clock
    args = parse_args()
    if args.cpu_clock:
        clock = time.thread_time
    if args.device == "cpu":
        os.environ["CUDA_VISIBLE_DEVICES"] = ""  # the trainable takes a GPU whenever it sees one
    sys.path.insert(0, str(REPO))
    import torch
    import transformers

    transformers.logging.set_verbosity_error()
    if args.device == "cuda" and not torch.cuda.is_available():
        print("no CUDA device here: the GPU figures (smollm-345m in bf16, mfu; target >= 40% on an H100) need a GPU "
              "machine; skipped. Run without --device cuda for the CPU figures.")
        return
    from trainables.model import build_model, count_parameters, flops_per_token, model_config, peak_flops

    torch.set_num_threads(args.threads)
    wall0 = time.perf_counter()
    load_start = os.getloadavg()[0] if hasattr(os, "getloadavg") else None
    with tempfile.TemporaryDirectory(prefix="bench-trainable-") as tmp:
        root = Path(tmp)
        data_dir, data, n_train, spe, data_s = make_data(args, root)
        device = torch.device(args.device)
        mconf = model_config(args.preset, {}, data.vocab_size, args.seq_length)
        with torch.device("meta"):  # only to count
            n_params = count_parameters(build_model(mconf))
        where = torch.cuda.get_device_name(0) if device.type == "cuda" else f"CPU, {args.threads} threads"
        print(f"torch {torch.__version__}, transformers {transformers.__version__}; {where}")
        print(f"data: built-in corpus, {args.words:,} words -> {n_train:,} train tokens, vocabulary {data.vocab_size:,},"
              f" seq_length {args.seq_length} ({data_s:.1f} s to make)")
        print(f"model: preset {args.preset}, {n_params:,} parameters; batch {args.batch_size} x {args.seq_length} = "
              f"{args.batch_size * args.seq_length:,} tokens/step, {spe} steps/epoch")
        print(f"each run: {WARMUP} warm-up + {args.steps} timed steps; {args.rounds} rounds, A then B in each; steps timed "
              f"by {'the main thread CPU time' if args.cpu_clock else 'wall time'}\n")

        rows = []
        for r in range(args.rounds):
            a = run_trainable(args, data_dir, root / f"ckpt-{r}", spe)
            b = run_bare(args, data_dir)
            rows.append((a, b))
            print(f"round {r + 1}: A steady {a['steady_tps']:,.0f} tok/s (metric {a['metric_tps']:,.0f}), "
                  f"B steady {b['steady_tps']:,.0f} tok/s (all steps {b['all_tps']:,.0f}); "
                  f"ratio {a['steady_tps'] / b['steady_tps']:.3f}", flush=True)
        lock = None if args.no_lockstep else run_lockstep(args, data_dir, root / "ckpt-lockstep", spe)
        mem = None if args.no_memory or device.type == "cuda" else memory_trial(args, data_dir, root)
    load_end = os.getloadavg()[0] if hasattr(os, "getloadavg") else None

    med = statistics.median
    A = {k: med([a[k] for a, _ in rows]) for k in ("metric_tps", "steady_tps", "end_to_end_tps", "setup_and_step1_s",
                                                  "steps_s", "after_s")}
    B = {k: med([b[k] for _, b in rows]) for k in ("all_tps", "steady_tps", "setup_s")}
    print(f"\n{'tokens/s':<21}" + "".join(f"{f'round {i + 1}':>12}" for i in range(len(rows))) + f"{'median':>12}")
    table = [
        ("A trainable, steady", [a["steady_tps"] for a, _ in rows]),
        ("B bare loop, steady", [b["steady_tps"] for _, b in rows]),
        ("A tokens_per_s metric", [a["metric_tps"] for a, _ in rows]),
        ("B all steps", [b["all_tps"] for _, b in rows]),
        ("A end to end", [a["end_to_end_tps"] for a, _ in rows]),
        ("A median step", [a["median_step_tps"] for a, _ in rows]),
        ("B median step", [b["median_step_tps"] for _, b in rows]),
    ]
    for name, xs in table:
        print(f"{name:<21}" + "".join(f"{x:>12,.0f}" for x in xs) + f"{med(xs):>12,.0f}")
    ratios = [a["steady_tps"] / b["steady_tps"] for a, b in rows]
    metric_ratios = [a["metric_tps"] / b["all_tps"] for a, b in rows]
    print(f"{'ratio A/B steady':<21}" + "".join(f"{x:>12.3f}" for x in ratios) + f"{med(ratios):>12.3f}")
    step_ratios = [a["median_step_tps"] / b["median_step_tps"] for a, b in rows]
    print(f"{'ratio metric/B all':<21}" + "".join(f"{x:>12.3f}" for x in metric_ratios) + f"{med(metric_ratios):>12.3f}")
    print(f"{'ratio median step':<21}" + "".join(f"{x:>12.3f}" for x in step_ratios) + f"{med(step_ratios):>12.3f}")

    ratio = med(ratios)
    print(f"\ntrainable / bare loop, steady steps (first {WARMUP} of each run left out of both): {ratio:.3f}   "
          f"[target >= {RATIO_TARGET}: {'met' if ratio >= RATIO_TARGET else 'NOT met'}]")
    print(f"the same from the median step time (less sensitive to other processes taking the CPUs now and then): "
          f"{med(step_ratios):.3f}")
    if lock is not None:
        lr, lm = lock["a_steady_tps"] / lock["b_steady_tps"], lock["a_median_step_tps"] / lock["b_median_step_tps"]
        print(f"lockstep run (A and B one step each in turn, same load on both): A {lock['a_steady_tps']:,.0f}, "
              f"B {lock['b_steady_tps']:,.0f} tok/s (A's metric {lock['a_metric_tps']:,.0f}); ratio {lr:.3f}, "
              f"from the median step {lm:.3f}   [target >= {RATIO_TARGET}: {'met' if lr >= RATIO_TARGET else 'NOT met'}]")
    print(f"trainable's own tokens_per_s metric (all its steps, first ones included) / bare loop over all its steps: "
          f"{med(metric_ratios):.3f}" + ("  (the metric is wall time, B here CPU time: not comparable)"
                                         if args.cpu_clock else ""))
    print(f"A end to end (run_local call: open data, build model, steps, validation + test loss, checkpoint, model "
          f"save), medians: setup + step 1 {A['setup_and_step1_s']:.2f} s, steps 2-{WARMUP + args.steps} "
          f"{A['steps_s']:.2f} s, after the last step {A['after_s']:.2f} s; B's setup (build model, optimizer) "
          f"{B['setup_s']:.2f} s")
    fa, fb = med([a["faults_per_step"] for a, _ in rows]), med([b["faults_per_step"] for _, b in rows])
    print(f"minor page faults per timed step, medians: A {fa:,.0f}, B {fb:,.0f} (each one a fresh 4 KiB page from the "
          f"kernel: freed memory the allocator gave back and takes again)")
    la, lb = rows[-1][0]["train_loss"], rows[-1][1]["train_loss"]
    print(f"same work: mean train loss A {la:.6f}, B {lb:.6f} ({'equal' if math.isclose(la, lb, rel_tol=1e-4) else 'DIFFERENT'})")

    if device.type == "cuda":
        flops = flops_per_token(mconf, args.seq_length)
        peak = peak_flops(device)
        mfus = [a["mfu"] for a, _ in rows if a["mfu"] is not None]
        if peak is None:
            print(f"\nmfu: {torch.cuda.get_device_name(0)} is not in trainables.model.PEAK_BF16_FLOPS; no mfu")
        else:
            mfu = med(mfus)
            print(f"\nmfu ({args.preset}, bf16, peak {peak / 1e12:.0f} TFLOP/s, {flops / 1e9:.2f} GFLOP/token): "
                  f"trainable's metric {mfu:.1%}; steady A {flops * A['steady_tps'] / peak:.1%}, "
                  f"B {flops * B['steady_tps'] / peak:.1%}   [target >= {MFU_TARGET:.0%} on an H100: "
                  f"{'met' if mfu >= MFU_TARGET else 'NOT met'}]")
        print(f"peak GPU memory allocated: A {max(a['peak_gpu_gb'] for a, _ in rows):.1f} GB, "
              f"B {max(b['peak_gpu_gb'] for _, b in rows):.1f} GB")
    if mem is not None:
        imp = mem["after_import"]
        print(f"\npeak memory of a tiny-preset trial on CPU ({mem['n_params']:,} parameters, {mem['steps']} steps = 1 "
              f"epoch, batch 32, {args.threads} threads, fresh process, {mem['wall_s']:.1f} s): "
              f"peak RSS {mem['peak_mb']:.0f} MB; after `import torch, transformers` alone: RSS "
              f"{fmt(imp['rss_mb'])} MB (peak so far {imp['peak_mb']:.0f} MB)")
    print(f"\nbenchmark wall time: {time.perf_counter() - wall0:.0f} s; load average (1 min) at start {fmt(load_start, '.1f')},"
          f" at end {fmt(load_end, '.1f')}, on {os.cpu_count()} CPUs")
    if load_end is not None and max(load_start, load_end) > (os.cpu_count() or 1) - 0.5:
        print("note: other processes were using these CPUs; the figures are noisy (the per-round ratios pair runs made "
              "close in time, and the median-step ratio is the least disturbed)")


if __name__ == "__main__":
    main()
