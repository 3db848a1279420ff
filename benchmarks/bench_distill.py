"""Cost of distillation: student step time / teacher step time for 1, 2 and 3 teachers, beside the physical
expectation of about 1 + N/3.

    python benchmarks/bench_distill.py [--rounds 3] [--steps 30] [--threads 2] [--words 100000]
    python benchmarks/bench_distill.py --threads 1 --cpu-clock      (on a machine other processes are using)
    python benchmarks/bench_distill.py --section cuda [--gpu-steps 20]          (a GPU machine: smollm-345m only)

A teacher step is a step of plain pretraining (trainables.pretrain.pretrain); a student step is a step of the
distillation trainable (trainables.distill.distill) with N teachers, its objective loss (1) with alpha = 0.5,
T = 1, batchmean: the same model, batch, data order, optimizer and threads, plus N teacher forward passes (eval
mode, no gradients) and the KL over the vocabulary. Both run through trainables.reporting.run_local, the way a
sweep's trial runs them, sized to warm-up + --steps optimizer steps and one report at the end. A step's time is
the time between two of the trainable's per-step progress callbacks (its batch, forward, backward, clip, AdamW
step); the first WARMUP steps of each run are left out, and each run's median step is its figure. The runs'
own `tokens_per_s` metric (all steps, first ones included) is shown beside it. With --cpu-clock (CPU section only,
meant with --threads 1) steps are timed by the main thread's CPU time instead of wall time: a figure that other
processes taking the CPUs barely disturb, where wall time on an oversubscribed machine can be several times the
step's own (the metric stays wall time).

Side by side in one run: each round runs the plain teacher and the students of 1, 2 and 3 teachers, in an
order rotated from round to round (so none is always first after the machine was idle), and the figures are the
medians over the rounds. The expectation: a teacher's forward pass costs about a third of a training step
(forward + backward = 3 forwards), so N teachers add N/3; the ratio measured / (1 + N/3) is printed, and beside
it the expectation from the teacher forward pass as measured here (a no-grad forward of one teacher on the very
batches, timed in the same rounds): 1 + N * forward / step. What is left above that is the loss itself: log-softmax
of student and teachers over the vocabulary and the KL, which weigh more the smaller the model is beside its
vocabulary (the tiny preset: 2 layers of width 64, here an ~840-entry vocabulary).

Sections: "cpu" (the tiny preset on the CPU, a prepared folder of the built-in corpus, default 100k words, a
tokenizer of at most 2,000 entries (the corpus's small lexicon gives ~840), seq_length 128, batch 32) and, when a
GPU is present, "cuda" (the smollm-345m preset in bf16 autocast, teachers in bf16, 1M words, a tokenizer of at most
16,000 entries, seq_length 128, batch 128 in chunks of 64 as Table 2), with the peak GPU memory of each run: the
3 teachers + student figure is the issue's one-device check. By default both run (the cpu one in a child process
that sees no GPU: the trainables take a GPU whenever they see one). The teachers are tiny / 345M models at their
initial weights, saved as Hugging Face folders with the prepared folder's tokenizer: a forward pass costs the same
whatever the weights.
"""
import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
WARMUP = 3  # steps left out of each run's figures
clock = time.perf_counter  # what times the steps; --cpu-clock: time.thread_time
TEACHERS = (1, 2, 3)

SECTIONS = {
    "cpu": dict(preset="tiny", words=100_000, vocab_size=2_000, seq_length=128, batch_size=32,
                max_device_batch_size=64),
    "cuda": dict(preset="smollm-345m", words=1_000_000, vocab_size=16_000, seq_length=128, batch_size=128,
                 max_device_batch_size=64),
}


def parse_args():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--section", choices=("cpu", "cuda"), default=None, help="default: cpu, and cuda on a GPU")
    p.add_argument("--rounds", type=int, default=3)
    p.add_argument("--steps", type=int, default=30, help="timed steps per run on the CPU, after the warm-up")
    p.add_argument("--gpu-steps", type=int, default=20, help="timed steps per run on the GPU")
    p.add_argument("--threads", type=int, default=2, help="torch threads on the CPU")
    p.add_argument("--words", type=int, default=None, help="built-in corpus size (default 100k cpu, 1M cuda)")
    p.add_argument("--cpu-clock", action="store_true",
                   help="CPU section: steps timed by main-thread CPU time (with --threads 1 on a busy machine)")
    return p.parse_args()


def make_data(root: Path, s: dict):
    from trainables.data.builtin_corpus import generate_corpus
    from trainables.data.prepared import open_prepared, prepare

    generate_corpus(root / "corpus", words=s["words"], seed=0, pairs_per_paradigm=10)
    prepare(root / "corpus", root / "prepared", vocab_size=s["vocab_size"], seq_length=s["seq_length"],
            log=lambda m: None)
    return open_prepared(root / "prepared")


def make_teachers(root: Path, data, s: dict) -> list[Path]:
    """3 models of the preset at their initial weights (seeds 1-3), as Hugging Face folders with the data's
    tokenizer."""
    import torch

    from trainables.model import build_model, model_config

    folders = []
    for seed in (1, 2, 3):
        torch.manual_seed(seed)
        model = build_model(model_config(s["preset"], {}, data.vocab_size, s["seq_length"]))
        folder = root / f"teacher{seed}"
        model.save_pretrained(folder)
        data.tokenizer().save_pretrained(folder)
        folders.append(folder)
        del model
    return folders


def run_config(s: dict, data, steps: int, threads: int) -> dict:
    spe = ((len(data.tokens("train")) - s["seq_length"]) // s["seq_length"]) // s["batch_size"]
    num_epochs = (WARMUP + steps) / spe  # the trainables run round(num_epochs * steps_per_epoch) steps
    return dict(data=str(data.folder), preset=s["preset"], seq_length=s["seq_length"], batch_size=s["batch_size"],
                max_device_batch_size=s["max_device_batch_size"], num_epochs=num_epochs, budget_step=num_epochs,
                num_threads=threads, lr_scheduler_type="constant", num_warmup_steps=0, seed=0, eval_batch_size=64)


def timed_run(trainable, config: dict, ckpt_dir: Path, steps: int) -> dict:
    """One run through run_local: the median of its steady step times, its own tokens_per_s, peak GPU memory."""
    import torch

    from trainables.reporting import run_local

    stamps = []
    if torch.cuda.is_available():
        torch.cuda.empty_cache()
        torch.cuda.reset_peak_memory_stats()
    run = run_local(trainable, config, ckpt_dir, on_step=lambda step, total: stamps.append(clock()),
                    keep_last=1)
    last = run.results[-1]
    assert len(stamps) == WARMUP + steps == last["step"] and not last["diverged"], (len(stamps), last)
    dts = [b - a for a, b in zip(stamps[WARMUP - 1:], stamps[WARMUP:])]
    return {"step_s": statistics.median(dts), "mean_step_s": statistics.fmean(dts),
            "metric_tps": last["tokens_per_s"],
            "peak_gb": torch.cuda.max_memory_allocated() / 2**30 if torch.cuda.is_available() else None}


def teacher_forward(teacher_folder: Path, data, s: dict, steps: int) -> dict:
    """A no-grad forward of one teacher on the run's own first batches, as distillation runs it (eval mode, bf16 on
    a GPU, float32 on the CPU): its median time."""
    import torch

    from trainables import loop
    from trainables.data.prepared import gather_blocks, train_block_starts
    from trainables.distill import load_teacher, teacher_on

    device, autocast = loop.setup_device(None)
    model = teacher_on(load_teacher(teacher_folder), device)
    L, bs, chunk = s["seq_length"], s["batch_size"], min(s["batch_size"], s["max_device_batch_size"])
    tokens = data.tokens("train")
    starts = train_block_starts(len(tokens), L, 0, 0)
    dts = []
    with torch.no_grad():
        for i in range(WARMUP + steps):
            batch = starts[(i * bs) % (len(starts) - bs):][:bs]
            t0 = clock()
            for j in range(0, bs, chunk):
                x = torch.from_numpy(gather_blocks(tokens, batch[j:j + chunk], L)).to(device)
                with autocast():
                    logits = model(input_ids=x).logits.float()
            logits.sum().item()  # waits for the GPU as the student's loss does
            dts.append(clock() - t0)
    del model
    return {"step_s": statistics.median(dts[WARMUP:])}


def section(name: str, args) -> None:
    global clock
    import torch
    import transformers

    from trainables.distill import distill
    from trainables.pretrain import pretrain

    clock = time.thread_time if args.cpu_clock and name == "cpu" else time.perf_counter

    transformers.logging.set_verbosity_error()
    s = dict(SECTIONS[name])
    if args.words and name == "cpu":
        s["words"] = args.words
    steps = args.steps if name == "cpu" else args.gpu_steps
    if name == "cpu":
        torch.set_num_threads(args.threads)
    wall0 = time.perf_counter()
    load_start = os.getloadavg()[0] if hasattr(os, "getloadavg") else None
    with tempfile.TemporaryDirectory(prefix=f"bench-distill-{name}-") as tmp:
        root = Path(tmp)
        t = time.perf_counter()
        data = make_data(root, s)
        teachers = make_teachers(root, data, s)
        made_s = time.perf_counter() - t
        config = run_config(s, data, steps, args.threads)
        where = torch.cuda.get_device_name(0) if name == "cuda" else f"CPU, {args.threads} threads"
        n_train = len(data.tokens("train"))
        spe = ((n_train - s["seq_length"]) // s["seq_length"]) // s["batch_size"]
        print(f"== {name}: preset {s['preset']} on {where}; torch {torch.__version__}, transformers "
              f"{transformers.__version__}")
        print(f"data: built-in corpus, {s['words']:,} words -> {n_train:,} train tokens, vocabulary "
              f"{data.vocab_size:,}, seq_length {s['seq_length']}; batch {s['batch_size']} "
              f"(device chunks of {min(s['batch_size'], s['max_device_batch_size'])}), {spe} steps/epoch; data and "
              f"3 teachers made in {made_s:.1f} s")
        print(f"each run: {WARMUP} warm-up + {steps} timed steps through run_local; {args.rounds} rounds, the order "
              f"rotated each round; student: alpha 0.5, T 1, batchmean; steps timed by "
              f"{'the main thread CPU time' if clock is time.thread_time else 'wall time'}\n", flush=True)

        kinds = ["teacher"] + [f"student{n}" for n in TEACHERS] + ["forward"]
        rows = {k: [] for k in kinds}
        for r in range(args.rounds):
            order = kinds[r % len(kinds):] + kinds[:r % len(kinds)]
            for kind in order:
                ckpt = root / f"ckpt-{kind}-{r}"
                if kind == "teacher":
                    got = timed_run(pretrain, config, ckpt, steps)
                elif kind == "forward":
                    got = teacher_forward(teachers[0], data, s, steps)
                else:
                    n = int(kind[len("student"):])
                    got = timed_run(distill, dict(config, teachers=[str(t) for t in teachers[:n]], alpha=0.5,
                                                  temperature=1.0), ckpt, steps)
                rows[kind].append(got)
            print(f"round {r + 1} ({', '.join(order)}): " + ", ".join(
                f"{k} {rows[k][-1]['step_s'] * 1e3:.1f} ms" for k in kinds), flush=True)

    med = statistics.median
    teacher_s = med([x["step_s"] for x in rows["teacher"]])
    forward_s = med([x["step_s"] for x in rows["forward"]])
    f = forward_s / teacher_s
    print(f"\nmedian step time over rounds: teacher (plain pretraining) {teacher_s * 1e3:.1f} ms; one teacher's "
          f"no-grad forward on a batch {forward_s * 1e3:.1f} ms = {f:.2f} of a training step (the physical "
          f"expectation takes 1/3)")
    print(f"\n{'N teachers':<11}{'student ms':>11}{'ratio':>8}{'per round':>22}{'1+N/3':>7}{'ratio/(1+N/3)':>15}"
          f"{'1+N*fwd':>9}{'ratio/(1+N*fwd)':>17}{'metric ratio':>14}" + ("" if name == "cpu" else f"{'peak GB':>9}"))
    teacher_tps = med([x["metric_tps"] for x in rows["teacher"]])
    for n in TEACHERS:
        runs = rows[f"student{n}"]
        student_s = med([x["step_s"] for x in runs])
        per_round = [x["step_s"] / t["step_s"] for x, t in zip(runs, rows["teacher"])]
        ratio = student_s / teacher_s
        expect, measured_expect = 1 + n / 3, 1 + n * f
        metric_ratio = teacher_tps / med([x["metric_tps"] for x in runs])
        line = (f"{n:<11}{student_s * 1e3:>11.1f}{ratio:>8.2f}{' '.join(f'{x:.2f}' for x in per_round):>22}"
                f"{expect:>7.2f}{ratio / expect:>15.2f}{measured_expect:>9.2f}{ratio / measured_expect:>17.2f}"
                f"{metric_ratio:>14.2f}")
        if name != "cpu":
            line += f"{max(x['peak_gb'] for x in runs):>9.1f}"
        print(line)
    if name != "cpu":
        print(f"peak GPU memory of plain pretraining: {max(x['peak_gb'] for x in rows['teacher']):.1f} GB")
    print("ratio: student / teacher median step; metric ratio: the same from the runs' own tokens_per_s (all steps)")
    load_end = os.getloadavg()[0] if hasattr(os, "getloadavg") else None
    print(f"{name} section wall time {time.perf_counter() - wall0:.0f} s; load average (1 min) at start "
          f"{load_start if load_start is None else f'{load_start:.1f}'}, at end "
          f"{load_end if load_end is None else f'{load_end:.1f}'}, on {os.cpu_count()} CPUs\n", flush=True)


def main():
    args = parse_args()
    sys.path.insert(0, str(REPO))
    import torch

    cuda = torch.cuda.is_available()
    if args.section in (None, "cpu"):
        if cuda:  # the trainables take the GPU whenever they see one: the CPU figures come from a child without it
            argv = [sys.executable, __file__, "--section", "cpu", "--rounds", str(args.rounds), "--steps",
                    str(args.steps), "--threads", str(args.threads)] + (["--words", str(args.words)] if args.words
                                                                          else []) + (["--cpu-clock"] if args.cpu_clock
                                                                                      else [])
            subprocess.run(argv, check=True, env=dict(os.environ, CUDA_VISIBLE_DEVICES=""))
        else:
            section("cpu", args)
    if args.section in (None, "cuda"):
        if cuda:
            section("cuda", args)
        else:
            print("no GPU here: the smollm-345m section (bf16, 3 teachers + student on one device) needs one; skipped")


if __name__ == "__main__":
    main()
