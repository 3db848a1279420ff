"""The distillation trainable: a student Llama trained from scratch on a prepared folder against 1-3 teachers.

BabyLlama-2 is "distillation-pretrained": the student is pretrained with the paper's loss (1),

    L = alpha * CE(y, softmax(z_s)) + (1 - alpha) * T^2 * KL(softmax(z_t / T) || softmax(z_s / T)),

where z_t is the mean of the raw logits of the teachers (trials' final models, of the same size, pretrained on the
same data), run in eval mode without gradients on the student's very batch. The paper's values are alpha = 0.5,
T = 1, with the student's other hyperparameters those of its teachers (Table 2).

`distill(config, reporter=None)` is a plain function of one config dict, like trainables.pretrain.pretrain, and
runs on pretraining's loop (pretrain.start and pretrain.train) with its own objective (`Distillation`): the same
data order, model, optimizer, schedule, budget points, exact pause and resume, divergence stop, test loss and final
Hugging Face model. It takes everything pretrain takes, and

    teachers           the teachers' model folders: a list, or one comma-separated string. A trial's
                       checkpoint holding hf/ and an ensemble folder (trainables.ensemble: the mean of its members)
                       count as one teacher each. They must share the prepared folder's tokenizer and vocabulary.
                       Named here, they may lie anywhere (an ensemble's members only where its ensemble.json may
                       name them: trainables.ensemble); loading one runs no code from its folder.
    alpha              weight of the cross-entropy, in [0, 1] (default 0.5; 1 is plain pretraining)
    temperature        T > 0 (default 1)
    kl_normalisation   what the KL summed over the batch, positions and vocabulary is divided by:
                       "batchmean" (default) the batch size, as the authors' KLDivLoss(reduction="batchmean") on
                       (batch, length, vocabulary) tensors: the scale their alpha and T were tuned at, where the
                       KL term weighs about seq_length times the cross-entropy; "token": batch * positions, the KL
                       per predicted token, on the cross-entropy's scale
    max_teachers       at most this many teachers (default 3, the paper's most)

Its reports are pretraining's: val_loss is the student's plain next-token cross-entropy on the validation split
(comparable with its teachers'), train_loss the plain cross-entropy of its training batches; distill_loss adds the
objective's mean over the steps since the last report. Teachers whose logits are not finite stop the run as
diverged, with a warning naming them. On GPU the teachers run in bf16 (half the memory, and the student's
autocast computes in bf16 anyway); on the CPU in float32, so that a paused run resumes bit-exactly.
"""
import numbers
from pathlib import Path

import torch
import torch.nn.functional as F

from . import pretrain
from .data.prepared import open_prepared
from .ensemble import check_causal_lm, load_causal_lm
from .errors import ConfigError, UserError
from .reporting import Reporter, default_reporter

# What distillation adds to pretraining's config: alpha and T searched like its hyperparameters (the paper scanned
# them with the pretraining values held fixed), the others settings
DISTILLATION = dict(alpha=0.5, temperature=1.0, teachers=None, kl_normalisation="batchmean", max_teachers=3)
SEARCHED = ("alpha", "temperature")
HYPERPARAMETERS = dict(pretrain.HYPERPARAMETERS, **{k: v for k, v in DISTILLATION.items() if k in SEARCHED})
SETTINGS = dict(pretrain.SETTINGS, **{k: v for k, v in DISTILLATION.items() if k not in SEARCHED})
ACCEPTED = pretrain.ACCEPTED | set(DISTILLATION)
PATHS = pretrain.PATHS | {"teachers"}
NORMALISATIONS = ("batchmean", "token")


def distillation_loss(student_logits, teacher_logits, labels, alpha: float, temperature: float,
                      normalisation: str = "batchmean"):
    """The paper's loss (1) on (batch, positions, vocabulary) logits: (loss, ce).

    `labels`: (batch, positions), the token each position predicts, -100 where none (the last position of a block).
    ce is the mean next-token cross-entropy over the labelled positions, as transformers' causal LMs compute it (the
    same operations, so alpha = 1 trains exactly as pretraining). The KL covers every position, the last included,
    as the authors' trainer does: the teachers' distribution there is a target even without a label. Its sum is
    divided by the batch size ("batchmean") or by batch * positions ("token"). Computed in float32."""
    student = student_logits.float()
    vocab = student.size(-1)
    ce = F.cross_entropy(student.reshape(-1, vocab), labels.reshape(-1), ignore_index=-100)
    # log-probabilities on both sides (log_target): the same KL as softmax targets, without log(0) where a
    # teacher's probability underflows
    log_p_student = F.log_softmax(student / temperature, dim=-1)
    log_p_teacher = F.log_softmax(teacher_logits.float() / temperature, dim=-1)
    kl = F.kl_div(log_p_student, log_p_teacher, reduction="sum", log_target=True)
    batch, positions = student.shape[:2]
    kl = kl / (batch if normalisation == "batchmean" else batch * positions)
    return alpha * ce + (1 - alpha) * temperature ** 2 * kl, ce


def check_config(config: dict) -> None:
    """What a sweep checks before Ray starts (sweep.kinds): the settings, and the teachers against the prepared
    folder, reading small files only (config.json, tokenizer.json, meta.json)."""
    check_teachers(resolve_config(config))


def resolve_config(config: dict) -> dict:
    unknown = sorted(set(config) - ACCEPTED)
    if unknown:  # named as this trainable's, before pretraining's check sees the distillation names
        raise ConfigError(f"{unknown[0]}: not a parameter of the distill trainable")
    cfg = pretrain.resolve_config({k: v for k, v in config.items() if k not in DISTILLATION})
    cfg.update({k: config.get(k, default) for k, default in DISTILLATION.items()})
    alpha, temperature = number(cfg, "alpha"), number(cfg, "temperature")
    if not 0 <= alpha <= 1:
        raise ConfigError(f"alpha: must be in [0, 1], got {alpha}")
    if not temperature > 0:
        raise ConfigError(f"temperature: must be > 0, got {temperature}")
    if cfg["kl_normalisation"] not in NORMALISATIONS:
        raise ConfigError(f"kl_normalisation: {cfg['kl_normalisation']!r} is not one of {', '.join(NORMALISATIONS)}")
    max_teachers = cfg["max_teachers"]
    if isinstance(max_teachers, bool) or not isinstance(max_teachers, numbers.Integral) or max_teachers < 1:
        raise ConfigError(f"max_teachers: must be a whole number >= 1, got {max_teachers!r}")
    cfg["teachers"] = teacher_list(cfg["teachers"], max_teachers)
    return cfg


def number(cfg: dict, name: str) -> float:
    value = cfg[name]
    if isinstance(value, bool) or not isinstance(value, numbers.Real) or value != value or abs(value) == float("inf"):
        raise ConfigError(f"{name}: must be a finite number, got {value!r}")
    return float(value)


def teacher_list(teachers, max_teachers: int) -> list[str]:
    """`teachers` as a list of folder names: a list, or one comma-separated string (as --set gives it)."""
    if teachers is None:
        teachers = []
    elif isinstance(teachers, str):
        teachers = [t.strip() for t in teachers.split(",") if t.strip()]
    elif isinstance(teachers, (list, tuple)) and all(isinstance(t, (str, Path)) for t in teachers):
        teachers = [str(t) for t in teachers]
    else:
        raise ConfigError(f"teachers: must be a list of model folders or one comma-separated string, "
                          f"got {teachers!r}")
    if not teachers:
        raise ConfigError("teachers: at least one teacher model folder is required")
    if len(teachers) > max_teachers:
        raise ConfigError(f"teachers: {len(teachers)} given, at most max_teachers = {max_teachers}")
    resolved = [Path(t).resolve() for t in teachers]
    for i, path in enumerate(resolved):
        if path in resolved[:i]:  # the mean would count it twice
            raise ConfigError(f"teachers: {teachers[i]} is named twice")
    return teachers


def check_teachers(cfg: dict, data=None) -> list[dict]:
    """Each teacher checked against the prepared folder (`data`, opened here when not given): a causal LM with
    the folder's tokenizer (the hash of its tokenizer.json) and vocabulary size. Returns their
    trainables.ensemble.check_causal_lm records."""
    data = open_prepared(cfg["data"]) if data is None else data
    checked = []
    for teacher in cfg["teachers"]:
        info = check_causal_lm(teacher, "teachers")
        if info["tokenizer_sha256"] != data.tokenizer_sha256:
            raise ConfigError(f"teachers: {info['folder']}: its tokenizer is not the one of the prepared folder "
                              f"{data.folder} (tokenizer.json hashes differ)")
        if info["vocab_size"] != data.vocab_size:
            raise ConfigError(f"teachers: {info['folder']}: its vocabulary ({info['vocab_size']} entries) is not the "
                              f"prepared folder's ({data.vocab_size})")
        checked.append(info)
    return checked


class Distillation(pretrain.NextToken):
    """The objective of pretraining's loop (pretrain.train) for a student: loss (1) against the teachers' mean
    logits. Keeps each chunk's plain cross-entropy for the step's train_loss, and the objective's mean since the
    last report for distill_loss."""

    def __init__(self, run, teachers, names, cfg):
        super().__init__(run)
        self.teachers, self.names = teachers, names
        self.alpha, self.temperature = float(cfg["alpha"]), float(cfg["temperature"])
        self.normalisation = cfg["kl_normalisation"]
        self.chunk_ce = []  # (cross-entropy, rows) of the chunks of the step under way
        self.seg_objective, self.seg_steps = 0.0, 0

    @torch.no_grad()
    def teacher_logits(self, x):
        """The mean of the teachers' raw logits on x, in float32; Diverged when any is not finite."""
        total, finite = None, []
        with self.run.autocast():
            for teacher in self.teachers:
                logits = teacher(input_ids=x).logits.float()
                finite.append(torch.isfinite(logits).all())
                total = logits if total is None else total + logits
        if not torch.stack(finite).all().item():  # one sync a chunk; the loss's .item() makes one anyway
            bad = [name for name, ok in zip(self.names, finite) if not ok.item()]
            raise pretrain.Diverged(f"teacher logits are not finite: {', '.join(bad)}")
        return total / len(self.teachers)

    def chunk_loss(self, x):
        teacher = self.teacher_logits(x)
        with self.run.autocast():
            student = self.run.train_model(input_ids=x).logits
        labels = F.pad(x[:, 1:], (0, 1), value=-100)  # position i predicts token i + 1; the last one nothing
        loss, ce = distillation_loss(student, teacher, labels, self.alpha, self.temperature, self.normalisation)
        self.chunk_ce.append((ce.detach(), len(x)))
        return loss

    def step_done(self, batch_loss: float) -> float:
        # the batch's cross-entropy weighted as loop.accumulate_gradients weighs the loss: with alpha = 1 the
        # train_loss is pretraining's to the last bit
        rows = sum(n for _, n in self.chunk_ce)
        train_loss = sum((ce * (n / rows)).item() for ce, n in self.chunk_ce)
        self.chunk_ce = []
        self.seg_objective += batch_loss
        self.seg_steps += 1
        return train_loss

    def metrics(self) -> dict:
        distill_loss = self.seg_objective / self.seg_steps if self.seg_steps else float("nan")
        self.seg_objective, self.seg_steps = 0.0, 0
        return {"distill_loss": distill_loss}


def load_teacher(folder):
    """A teacher on the CPU, in eval mode (no dropout) and without gradients. Loading runs no code from the folder
    (trainables.model.load_trained_model): what cannot be loaded is a one-line UserError starting with teachers:."""
    try:
        model = load_causal_lm(folder)
    except UserError as e:
        raise type(e)(f"teachers: {e}") from None
    if model is None:
        raise ConfigError(f"teachers: {folder}: holds no loadable model")
    return model.eval().requires_grad_(False)


def teacher_on(model, device):
    """bf16 on GPU, float32 on the CPU."""
    return model.to(device=device, dtype=torch.bfloat16 if device.type == "cuda" else torch.float32)


def distill(config: dict, reporter: Reporter | None = None) -> None:
    cfg = resolve_config(config)
    reporter = default_reporter() if reporter is None else reporter
    data = open_prepared(cfg["data"])
    teachers = check_teachers(cfg, data)  # before anything is built
    # loaded before pretrain.start seeds the student: whatever loading draws from the RNG, the student's
    # initialisation and dropout are pretraining's (alpha = 1 reproduces it exactly)
    models = [load_teacher(t["folder"]) for t in teachers]
    run = pretrain.start(cfg, config, reporter, data)
    models = [teacher_on(m, run.device) for m in models]
    names = [str(t["folder"]) for t in teachers]
    about = {"teachers": [str(Path(name).resolve()) for name in names]}
    pretrain.train(run, reporter, Distillation(run, models, names, cfg), about=about)
