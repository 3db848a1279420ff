"""`babysweep plan`: what a sweep will cost, before anything runs.

Per trial, at the space's centre configuration on the prepared folder: the model's parameters (the preset at the
folder's vocabulary, counted on PyTorch's meta device: no memory, no weights), training FLOPs per token (the PaLM
estimate, trainables.model.flops_per_token) and per epoch (the folder's train tokens), the time an epoch takes at a
model-FLOPs utilisation of a GPU's dense bf16 peak, the peak training memory (fp32 weights, gradients and Adam's two
moments, 16 bytes a parameter; activations under bf16 autocast with SDPA, about 34 bytes per token per layer per
hidden unit (Korthikanti et al. 2022, no recomputation, attention scores not kept); the logits in fp32 and bf16 and
their gradient), and the sizes of what a trial writes: a checkpoint (trainer_state.pt: fp32 weights and both Adam
moments, 12 bytes a parameter) and a final model (fp32 safetensors, 4 bytes a parameter).

For the sweep: the epochs the schedule spends on N samples, counted by running the sweep's own searcher and
scheduler (babysweep's ResumableTuneBOHB and ResumableHyperBandForBOHB, with the rung function the scheduler uses)
on sweep/simulate.py's in-process controller, each trial reporting at the budget points pretrain reports at
(trainables.loop.budget_epochs) with a made-up loss: how many trials reach each rung does not depend on the losses,
only which ones do. Then GPU-hours and GPU-days, the wall time on G GPUs (one trial a GPU), and the storage the
trials leave: once a trial has ended, its model alone (trainables/retention.py); while it runs, Ray's latest 2
checkpoints (sweep/runtime.py); and, for comparison, what they would leave without retention (2 checkpoints each,
and the final model of each trial that completed its schedule).
"""
import math
from collections import Counter
from dataclasses import dataclass

from trainables.model import PEAK_BF16_FLOPS

from .errors import SweepError
from .runtime import CHECKPOINTS_KEPT

# GPU memory (GiB) of the accelerators trainables.model.PEAK_BF16_FLOPS knows, by the names `--gpu` takes
GPU_MEMORY_GIB = {"h200": 141, "h100": 80, "a100": 80, "l40s": 48, "a10g": 24, "l4": 24, "rtx4090": 24,
                  "rtx3090": 24, "v100": 32}
BYTES_TRAINING_STATE, BYTES_CHECKPOINT, BYTES_MODEL = 16, 12, 4  # per parameter (module docstring)
ACTIVATION_BYTES = 34  # per token, layer and hidden unit (module docstring)


def gpu_spec(name=None, peak_tflops=None) -> tuple[str, float, float | None]:
    """(label, dense bf16 peak FLOP/s, memory GiB or None) of `--gpu NAME` or `--peak-tflops X`."""
    peaks = {key.lower().replace(" ", ""): value for key, value in PEAK_BF16_FLOPS.items()}
    if peak_tflops is not None:
        if not (math.isfinite(peak_tflops) and peak_tflops > 0):
            raise SweepError(f"--peak-tflops {peak_tflops}: must be a number > 0")
        return (name or "a GPU"), peak_tflops * 1e12, GPU_MEMORY_GIB.get((name or "").lower())
    key = (name or "h100").lower().replace(" ", "")
    if key not in peaks:
        raise SweepError(f"--gpu {name}: unknown GPU (known: {', '.join(sorted(peaks))}); or give --peak-tflops X")
    return key, peaks[key], GPU_MEMORY_GIB.get(key)


@dataclass
class TrialCost:
    config: dict             # the trial's configuration (the space's centre)
    seq_length: int
    parameters: int
    tokens_per_epoch: int
    flops_per_token: float
    seconds_per_epoch: float
    memory: dict             # bytes: weights_grads_adam, activations, logits, total
    checkpoint_bytes: int
    model_bytes: int

    @property
    def flops_per_epoch(self) -> float:
        return self.flops_per_token * self.tokens_per_epoch


def trial_cost(space, prepared, peak_flops: float, mfu: float, extra=None, train_tokens=None) -> TrialCost:
    """The cost of one trial of `space` (its centre, with `extra`: --set) on the prepared folder `prepared`
    (trainables.data.prepared), an epoch being its train tokens (or `train_tokens`)."""
    import torch

    from trainables.model import MODEL_FIELDS, build_model, count_parameters, flops_per_token, model_config

    config = {**space.centre(), **space.constants, **(extra or {})}
    seq_length = int(config.get("seq_length") or prepared.meta["seq_length"])
    model = model_config(config.get("preset", "smollm-345m"), {k: v for k, v in config.items() if k in MODEL_FIELDS},
                         prepared.vocab_size, seq_length)
    with torch.device("meta"):
        parameters = count_parameters(build_model(model))
    batch = int(config.get("batch_size", 128))
    tokens = int(train_tokens if train_tokens is not None else prepared.meta["splits"]["train"]["tokens"])
    per_token = flops_per_token(model, seq_length)
    activations = ACTIVATION_BYTES * batch * seq_length * model.hidden_size * model.num_hidden_layers
    logits = (4 + 2 + 4) * batch * seq_length * model.vocab_size
    memory = {"weights_grads_adam": BYTES_TRAINING_STATE * parameters, "activations": activations, "logits": logits}
    memory["total"] = sum(memory.values())
    return TrialCost(config=config, seq_length=seq_length, parameters=parameters, tokens_per_epoch=tokens,
                     flops_per_token=per_token,
                     seconds_per_epoch=per_token * tokens / (mfu * peak_flops), memory=memory,
                     checkpoint_bytes=BYTES_CHECKPOINT * parameters, model_bytes=BYTES_MODEL * parameters)


def projected_epochs(spec, space, concurrency=1) -> list[tuple[float, float, int]]:
    """(the epoch the trial reached, its num_epochs, its reports) of every trial the sweep `spec` (a SweepSpec of
    `space`) would run: its own searcher and scheduler on sweep/simulate.py's controller (the module docstring)."""
    import numpy as np

    from trainables.loop import budget_epochs

    from .bohb import connect
    from .simulate import FakeController

    rng = np.random.default_rng(spec.seed)

    def trial(config, reporter=None):
        settings = {**space.constants, **spec.extra, **space.to_trainable_config(config)}
        loss = rng.uniform(2, 6)
        for epoch in budget_epochs(float(settings.get("num_epochs", space.budget_max)),
                                   float(settings.get("budget_step", 1.0))):
            reporter.report({"epoch": epoch, "num_epochs": settings.get("num_epochs"), space.metric: loss + 1 / epoch})

    scheduler = spec.scheduler(space)
    search_alg = connect(spec.searcher(space), scheduler)
    run = FakeController(trial, search_alg, scheduler, spec.samples, slots=concurrency, max_pending=concurrency).run()
    return [((t.last_result or {}).get("epoch", 0.0), (t.last_result or {}).get("num_epochs"),
             int((t.last_result or {}).get("training_iteration", 0))) for t in run.trials]


def scaled(n: float, units, below="") -> str:
    """`n` in the largest of `units` ((suffix, size), largest first) it reaches, to 3 significant digits; `below`:
    the suffix of a number below them all."""
    return next((f"{n / size:.3g}{suffix}" for suffix, size in units if abs(n) >= size), f"{n:.3g}{below}")


def fmt_bytes(n: float) -> str:
    return scaled(n, ((" TB", 1e12), (" GB", 1e9), (" MB", 1e6), (" kB", 1e3)), below=" B")


def fmt_count(n: float) -> str:
    return scaled(n, (("G", 1e9), ("M", 1e6), ("k", 1e3)))


def fmt_seconds(s: float) -> str:
    if s < 120:
        return f"{s:.3g} s"
    if s < 7200:
        return f"{s / 60:.3g} min"
    if s < 2 * 86400:
        return f"{s / 3600:.3g} h"
    return f"{s / 86400:.3g} days"


def sweep_plan(spec, space, prepared, gpu=None, gpus=1, mfu=0.4, peak_tflops=None, train_tokens=None) -> dict:
    """The plan of the sweep `spec` of `space` on the prepared folder (the module docstring), as plain data."""
    if not (math.isfinite(mfu) and 0 < mfu <= 1):
        raise SweepError(f"--mfu {mfu}: must be in (0, 1] (a share of the GPU's peak; 0.3 to 0.5 is usual)")
    if gpus < 1:
        raise SweepError(f"--gpus {gpus}: must be at least 1")
    if train_tokens is not None and train_tokens < 1:
        raise SweepError(f"--train-tokens {train_tokens}: must be at least 1")
    label, peak, memory_gib = gpu_spec(gpu, peak_tflops)
    cost = trial_cost(space, prepared, peak, mfu, spec.extra, train_tokens)
    if memory_gib is not None and cost.memory["total"] > memory_gib * 2**30:
        raise SweepError(f"{space.path}: a trial needs about {cost.memory['total'] / 2**30:.1f} GiB on the GPU "
                         f"(preset {cost.config.get('preset')}, batch {cost.config.get('batch_size')}, "
                         f"{cost.seq_length} tokens a sequence), more than the {memory_gib} GiB of --gpu {label}: a "
                         f"smaller batch_size, seq_length or preset, or a larger GPU")
    trials = projected_epochs(spec, space, concurrency=min(gpus, 8))
    epochs = sum(e for e, _, _ in trials)
    completed = sum(1 for e, n, _ in trials if n is not None and e >= float(n) - 1e-9)
    kept = sum(min(reports, CHECKPOINTS_KEPT) for _, _, reports in trials)
    gpu_seconds = epochs * cost.seconds_per_epoch
    reached = Counter(e for e, _, _ in trials)
    return {"space": str(space.path), "samples": spec.samples, "algo": spec.algo, "gpu": label, "peak_flops": peak,
            "gpu_memory_gib": memory_gib, "gpus": gpus, "mfu": mfu, "trial": cost, "trials": len(trials),
            "reached": dict(sorted(reached.items())), "epochs": epochs, "completed": completed,
            "gpu_hours": gpu_seconds / 3600, "wall_seconds": gpu_seconds / gpus,
            "storage": {"checkpoints": kept * cost.checkpoint_bytes, "models": completed * cost.model_bytes,
                        # trainables/retention.py: an ended trial keeps its model alone; the running ones their 2
                        "retained": len(trials) * cost.model_bytes,
                        "peak": min(gpus, len(trials)) * CHECKPOINTS_KEPT * cost.checkpoint_bytes
                        + len(trials) * cost.model_bytes}}


def format_plan(plan: dict) -> list[str]:
    cost, c = plan["trial"], plan["trial"].config
    memory = cost.memory
    fits = "" if plan["gpu_memory_gib"] is None else f" of the {plan['gpu_memory_gib']} GiB of a {plan['gpu']}"
    stored = plan["storage"]
    reached = ", ".join(f"{n} at {e:g}" for e, n in plan["reached"].items())
    return [
        f"plan of {plan['space']}: {plan['samples']} samples, {plan['algo']}, on {plan['gpus']} x {plan['gpu']} "
        f"(dense bf16 peak {plan['peak_flops'] / 1e12:.0f} TFLOP/s) at MFU {plan['mfu']:g}",
        f"per trial (the space's centre: preset {c.get('preset')}, batch {c.get('batch_size')}, "
        f"{cost.tokens_per_epoch:,} tokens an epoch):",
        f"  parameters        {fmt_count(cost.parameters)} ({cost.parameters:,})",
        f"  FLOP              {fmt_count(cost.flops_per_token)} per token, {cost.flops_per_epoch:.3g} per epoch",
        f"  time              {fmt_seconds(cost.seconds_per_epoch)} per epoch",
        f"  peak GPU memory   {memory['total'] / 2**30:.3g} GiB{fits} (weights, gradients and Adam "
        f"{memory['weights_grads_adam'] / 2**30:.3g} GiB; activations {memory['activations'] / 2**30:.3g} GiB; "
        f"logits {memory['logits'] / 2**30:.3g} GiB)",
        f"  files             a checkpoint {fmt_bytes(cost.checkpoint_bytes)} (trainer_state.pt), the final model "
        f"{fmt_bytes(cost.model_bytes)}",
        "the sweep (its own searcher and scheduler, run without training):",
        f"  trials            {plan['trials']}: the epoch each ends at: {reached}; {plan['completed']} complete "
        f"their schedule",
        f"  epochs            {plan['epochs']:g} ({plan['epochs'] / max(plan['trials'], 1):.3g} a trial)",
        f"  GPU time          {plan['gpu_hours']:,.1f} GPU-hours = {plan['gpu_hours'] / 24:,.2f} GPU-days",
        f"  wall time         {fmt_seconds(plan['wall_seconds'])} on {plan['gpus']} GPU(s), at best (one trial a GPU, "
        f"none waiting)",
        f"  storage           {fmt_bytes(stored['retained'])} at the end: each trial's model (an ended trial drops "
        f"its training state), at most {fmt_bytes(stored['peak'])} while {min(plan['gpus'], plan['trials'])} run; "
        f"without that, {fmt_bytes(stored['checkpoints'] + stored['models'])} (each trial's latest "
        f"{CHECKPOINTS_KEPT} checkpoints {fmt_bytes(stored['checkpoints'])}, the final models "
        f"{fmt_bytes(stored['models'])})",
    ]
