"""Direct ensembles: one causal LM whose logits are the mean of its members' logits.

The paper compares its distilled students with "the direct ensembles formed by averaging the logits of two
teachers": the softmax of the averaged logits, the gradient flowing back into both teachers when the ensemble is
fine-tuned. `Ensemble` is that model, a torch module holding its members, so that whatever scores or fine-tunes
a causal LM (`model(input_ids=..., attention_mask=...).logits`, `.loss` with labels, `model.parameters()`) takes
an ensemble as it is. The mean of the raw logits is also what distillation uses as its teacher
(trainables.distill), so an ensemble folder can be given as one teacher.

An ensemble folder names its members instead of copying them:

    <folder>/ensemble.json     {"kind": "ensemble", "members": [paths], "tokenizer_sha256": ...}
                               paths relative to <folder> (`..` included), so that a storage moved as a whole
                               keeps its ensembles; absolute ones (written before) are read as they are, or,
                               in an experiment copied or moved since, at its storage's new place
    <folder>/tokenizer.json    (+ tokenizer_config.json: AutoTokenizer.from_pretrained(<folder>) works)

A member must lie inside the ensemble's trusted root (`members_root`), symlinks resolved: the ensemble folder
itself, or, when the folder is inside an experiment (a folder above it holds sweep.json), that experiment's storage,
where a family's ensembles name the trials of another experiment. A member named outside it (`../../elsewhere`, an
absolute path) is refused in one line before anything is read: an ensemble folder from elsewhere cannot send the
loader around the disk. Whatever is loaded, a member or a teacher named on the command line (which may lie
anywhere), runs no code (trainables.model.load_trained_model).

`write_ensemble(folder, members)` makes one from model folders that share a tokenizer, `load_ensemble(folder)`
loads it, and `load_causal_lm(folder)` loads an ensemble or any other model folder (trainables.model's
load_trained_model, which knows nothing of ensembles: this module is built on it). `Ensemble.save_pretrained`
writes a self-contained one (each member's weights in member_NN/), for an ensemble whose members changed (after
fine-tuning).

Fine-tuning an ensemble folder (trainables.finetune, checkpoint=<ensemble folder>) builds one sequence classifier
per member, each as finetune builds one from a single checkpoint, and trains `SequenceClassificationEnsemble`: class
logits the mean of the members' class logits, every member's parameters in the optimizer. Its saved form is the same
self-contained layout (member_NN/ classifiers, ensemble.json with "head": "sequence-classification"), read back by
`load_classification_ensemble`.

Member and teacher folders are checked here (`check_causal_lm`) by reading small files only (config.json,
tokenizer.json, the weights' header), so that a sweep can refuse a bad one before anything starts.
"""
import json
import os
import shutil
from pathlib import Path

import torch
import torch.nn.functional as F

from .errors import ConfigError, DataError, UserError
from .files import write_json
from .model import check_weights, read_model_config, reading_weights
from .model_folder import ENSEMBLE_RECORD, TRAINER_STATE, WEIGHT_FILES, has_weights, hf_folder, is_ensemble
from .names import EXPERIMENT_RECORD  # the parent of a folder holding one is an experiment storage
from .relocation import experiment_above, moved_storage, reroot

OUTSIDE = "an ensemble's members must be inside it or inside its experiments' storage"

ENSEMBLE_FILE = ENSEMBLE_RECORD
KIND = "ensemble"
# what a tokenizer is saved as (trainables.data.tokenizer.save_tokenizer): copied beside an ensemble's members
TOKENIZER_FILES = ("tokenizer.json", "tokenizer_config.json", "special_tokens_map.json")


def check_causal_lm(path, what: str) -> dict:
    """Check that `path` holds a causal LM with its tokenizer, reading small files only (config.json,
    tokenizer.json, ensemble.json). Returns {"folder", "vocab_size", "tokenizer_sha256"}; a one-line ConfigError
    starting with `what` (the parameter it came from) and the path otherwise. An ensemble folder is one causal LM
    (the mean of its members)."""
    from .data.tokenizer import tokenizer_hash

    given = Path(path)
    if not given.is_dir():
        raise ConfigError(f"{what}: {given}: no such model folder")
    folder = hf_folder(given)
    if is_ensemble(folder):
        members = [check_member(m, f"{what}: {folder} (an ensemble): member") for m in ensemble_members(folder)]
        sizes = sorted({m["vocab_size"] for m in members})
        if len(sizes) > 1:
            raise ConfigError(f"{what}: {folder} (an ensemble): its members' vocabularies differ "
                              f"({', '.join(map(str, sizes))} entries)")
        vocab_size = sizes[0]
    else:
        vocab_size = check_member(folder, what)["vocab_size"]
    if not (folder / "tokenizer.json").is_file():
        raise ConfigError(f"{what}: {folder}: has no tokenizer.json beside the model")
    try:
        sha = tokenizer_hash(folder)
    except DataError as e:
        raise ConfigError(f"{what}: {e}") from None
    return {"folder": folder, "vocab_size": vocab_size, "tokenizer_sha256": sha}


def check_member(path, what: str) -> dict:
    """One plain model folder (not an ensemble): config.json of a causal LM, and its weights (present, and their
    header readable without running code: trainables.model.check_weights). Returns {"folder", "vocab_size"}."""
    from transformers.models.auto.modeling_auto import MODEL_FOR_CAUSAL_LM_MAPPING_NAMES

    folder = hf_folder(path)
    if not folder.is_dir():
        raise ConfigError(f"{what}: {folder}: no such model folder")
    if is_ensemble(folder):
        raise ConfigError(f"{what}: {folder}: is itself an ensemble; name its members instead")
    try:
        config = json.loads((folder / "config.json").read_text())
    except FileNotFoundError:
        raise ConfigError(f"{what}: {folder}: not a model folder (no config.json)") from None
    except (OSError, ValueError) as e:
        raise ConfigError(f"{what}: {folder / 'config.json'}: cannot be read ({str(e).splitlines()[0]})") from None
    # `architectures` says which head the weights are for: a fine-tuned classifier is model_type llama too
    architectures = config.get("architectures") or []
    causal = (any(str(a).endswith("ForCausalLM") for a in architectures) if architectures
              else config.get("model_type") in MODEL_FOR_CAUSAL_LM_MAPPING_NAMES)
    if not causal:
        kind = ", ".join(map(str, architectures)) or f"model_type {config.get('model_type')!r}"
        raise ConfigError(f"{what}: {folder}: not a causal language model ({kind})")
    if not has_weights(folder):
        raise ConfigError(f"{what}: {folder}: holds no model weights (no {' / '.join(WEIGHT_FILES)} or "
                          f"{TRAINER_STATE})")
    vocab_size = config.get("vocab_size")
    if not isinstance(vocab_size, int) or isinstance(vocab_size, bool):
        raise ConfigError(f"{what}: {folder / 'config.json'}: has no vocab_size")
    try:
        check_weights(folder)
    except UserError as e:
        raise ConfigError(f"{what}: {e}") from None
    return {"folder": folder, "vocab_size": vocab_size}


def members_root(folder) -> Path:
    """Where the members of the ensemble `folder` may lie (resolved): the storage of the experiment the folder is
    inside (the parent of the nearest folder above it holding sweep.json), else the folder itself."""
    folder = Path(folder).resolve()
    for parent in folder.parents:
        if (parent / EXPERIMENT_RECORD).is_file():
            return parent.parent
    return folder


def ensemble_members(folder, trusted_root=None) -> list[Path]:
    """The member folders named by `folder`/ensemble.json, resolved (relative ones against `folder`, symlinks
    followed). ConfigError (one line, naming ensemble.json and the member) for one outside `trusted_root` (default:
    members_root(folder); given by a caller that knows where the folder belongs, as a family built in a staging
    folder of its storage)."""
    folder = Path(folder)
    path = folder / ENSEMBLE_FILE
    try:
        record = json.loads(path.read_text())
    except (OSError, ValueError) as e:
        raise ConfigError(f"{path}: cannot be read ({str(e).splitlines()[0]})") from None
    members = record.get("members") if isinstance(record, dict) else None
    if (not isinstance(record, dict) or record.get("kind") != KIND or not isinstance(members, list) or not members
            or not all(isinstance(m, str) and m for m in members)):
        raise ConfigError(f"{path}: not an ensemble record ({{\"kind\": \"ensemble\", \"members\": [paths]}} "
                          f"with at least one member)")
    root = Path(trusted_root).resolve() if trusted_root is not None else members_root(folder)
    experiment = experiment_above(folder)
    # an absolute member (written before members were relative) of an experiment copied or moved since: at the
    # storage's new place (trainables/relocation.py)
    moved = moved_storage(experiment) if experiment is not None else None
    resolved = []
    for member in members:
        if moved and os.path.isabs(member):
            member = reroot(member, *moved)
        member_path = (folder / member).resolve()  # an absolute member stays as it is under /
        # its hf/ too: a symlink there is as far a reach as the member's own path
        if not (member_path.is_relative_to(root) and hf_folder(member_path).resolve().is_relative_to(root)):
            raise ConfigError(f"{path}: member {member!r} lies outside {root}; {OUTSIDE}")
        resolved.append(member_path)
    return resolved


class EnsembleConfig:
    """What the readers of `model.config` ask a causal LM (scorers, fine-tuning): the vocabulary, the special
    ids, the positions every member takes. Not a transformers config: an ensemble is saved as ensemble.json."""
    model_type = KIND

    def __init__(self, member_configs):
        first = member_configs[0]
        self.vocab_size = first.vocab_size
        self.num_members = len(member_configs)
        for name in ("pad_token_id", "bos_token_id", "eos_token_id"):
            setattr(self, name, getattr(first, name, None))
        positions = [getattr(c, "max_position_embeddings", None) for c in member_configs]
        self.max_position_embeddings = min(positions) if None not in positions else None

    def to_dict(self) -> dict:
        return {"model_type": self.model_type, **vars(self)}


def checked_members(members, fields) -> list:
    """The members, refused in one line when there are none or their configs differ in one of `fields`."""
    members = list(members)
    if not members:
        raise ConfigError("members: an ensemble needs at least one member")
    for name in fields:
        values = sorted({getattr(m.config, name) for m in members}, key=str)
        if len(values) > 1:
            raise ConfigError(f"members: their {name} differ ({', '.join(map(str, values))})")
    return members


def mean_logits(members, input_ids, attention_mask, **kwargs):
    """The float32 mean of the members' logits, summed one member at a time (not one tensor per member held)."""
    total = None
    for member in members:
        logits = member(input_ids=input_ids, attention_mask=attention_mask, **kwargs).logits.float()
        total = logits if total is None else total + logits
    return total / len(members)


class Ensemble(torch.nn.Module):
    """A causal LM whose logits are the mean of its members' raw logits (in float32, whatever the members'
    precision). Its parameters are all its members', so a loss on the ensemble trains every member. Members:
    modules returning an object with `.logits` (transformers causal LMs), sharing one vocabulary."""

    def __init__(self, members):
        super().__init__()
        self.members = torch.nn.ModuleList(checked_members(members, ("vocab_size",)))
        self.config = EnsembleConfig([m.config for m in self.members])

    def forward(self, input_ids=None, attention_mask=None, labels=None, **kwargs):
        from transformers.modeling_outputs import CausalLMOutput

        logits = mean_logits(self.members, input_ids, attention_mask, **kwargs)
        loss = None
        if labels is not None:  # as transformers' causal LMs: position i predicts label i + 1; -100 is ignored
            loss = F.cross_entropy(logits[:, :-1].reshape(-1, logits.size(-1)), labels[:, 1:].reshape(-1),
                                   ignore_index=-100)
        return CausalLMOutput(loss=loss, logits=logits)

    def save_pretrained(self, folder, **kwargs):
        """A self-contained ensemble folder: each member's weights in member_NN/, named by ensemble.json. As with
        transformers models, the tokenizer is the caller's to save beside it (trainables.loop.save_hf_model)."""
        folder = Path(folder)
        folder.mkdir(parents=True, exist_ok=True)
        names = [f"member_{i:02d}" for i in range(len(self.members))]
        for name, member in zip(names, self.members):
            member.save_pretrained(folder / name, **kwargs)
        write_json(folder / ENSEMBLE_FILE, {"kind": KIND, "members": names})


def write_ensemble(folder, members, trusted_root=None) -> Path:
    """An ensemble folder naming `members` (model folders, or trial checkpoints holding hf/), with their shared
    tokenizer copied beside it. Members are named by paths relative to `folder`, so that the storage holding both
    can move. ConfigError (one line) when a member is not a causal LM, its tokenizer or vocabulary is not the first
    member's, or it lies outside where the ensemble's members may be (`trusted_root`, default members_root(folder):
    the folder, or its experiment's storage), or when `folder` exists and is not empty."""
    folder = Path(folder)
    if isinstance(members, (str, os.PathLike)):
        members = [members]
    if not members:
        raise ConfigError("members: an ensemble needs at least one member")
    checked = []
    for member in members:
        info = check_causal_lm(member, "members")
        if is_ensemble(info["folder"]):
            raise ConfigError(f"members: {info['folder']}: is itself an ensemble; name its members instead")
        checked.append(info)
    first = checked[0]
    for info in checked[1:]:
        if info["tokenizer_sha256"] != first["tokenizer_sha256"]:
            raise ConfigError(f"members: {info['folder']}: its tokenizer is not the one of {first['folder']}")
        if info["vocab_size"] != first["vocab_size"]:
            raise ConfigError(f"members: {info['folder']}: its vocabulary ({info['vocab_size']} entries) is not the "
                              f"one of {first['folder']} ({first['vocab_size']})")
    if folder.exists() and (not folder.is_dir() or any(folder.iterdir())):
        raise ConfigError(f"{folder}: exists and is not an empty folder; give a new one for the ensemble")
    root = Path(trusted_root).resolve() if trusted_root is not None else members_root(folder)
    for info in checked:  # what ensemble_members would refuse, never written
        if not info["folder"].resolve().is_relative_to(root):
            raise ConfigError(f"members: {info['folder']}: lies outside {root}; {OUTSIDE} (write the ensemble there)")
    folder.mkdir(parents=True, exist_ok=True)
    names = [Path(os.path.relpath(info["folder"].resolve(), folder.resolve())).as_posix() for info in checked]
    for name in TOKENIZER_FILES:
        if (first["folder"] / name).is_file():
            shutil.copyfile(first["folder"] / name, folder / name)
    # written last: a folder is an ensemble (is_ensemble) only once its tokenizer is there
    write_json(folder / ENSEMBLE_FILE, {"kind": KIND, "members": names,
                                        "tokenizer_sha256": first["tokenizer_sha256"]})
    return folder


def load_causal_lm(folder, trusted_root=None):
    """The causal LM of any model folder: an ensemble folder's Ensemble (its members inside `trusted_root`: see
    ensemble_members), else trainables.model.load_trained_model (a Hugging Face folder or a pretraining checkpoint;
    None when the folder holds no model). Runs no code from the folder; what cannot be loaded is a one-line
    UserError naming the file."""
    from .model import load_trained_model

    return load_ensemble(folder, trusted_root) if is_ensemble(folder) else load_trained_model(folder)


def load_ensemble(folder, trusted_root=None) -> Ensemble:
    """The ensemble of `folder`/ensemble.json, its members loaded on the CPU (trainables.model.load_trained_model)."""
    from .model import load_trained_model

    folder = Path(folder)
    members = []
    for path in ensemble_members(folder, trusted_root):
        info = check_member(path, f"{folder / ENSEMBLE_FILE}: member")
        try:
            model = load_trained_model(info["folder"])
        except UserError as e:  # which ensemble, then which file
            raise type(e)(f"{folder / ENSEMBLE_FILE}: member {info['folder']}: {e}") from None
        if model is None:
            raise ConfigError(f"{folder / ENSEMBLE_FILE}: member {info['folder']}: holds no loadable model")
        members.append(model)
    return Ensemble(members)


# ---- fine-tuning a direct ensemble: one sequence classifier per member, their class logits averaged ----

# what ensemble.json says of an ensemble of fine-tuned classifiers (SequenceClassificationEnsemble.save_pretrained)
CLASSIFICATION_HEAD = "sequence-classification"


class ClassificationEnsembleConfig(EnsembleConfig):
    """EnsembleConfig, with the classifiers' num_labels and their pad token (the one they pool at the token before)."""

    def __init__(self, member_configs):
        super().__init__(member_configs)
        self.num_labels = member_configs[0].num_labels


class SequenceClassificationEnsemble(torch.nn.Module):
    """Sequence classifiers (transformers' LlamaForSequenceClassification, one per member of a direct ensemble)
    whose class logits are the mean of the members' class logits, in float32. Its parameters are all its
    members', so fine-tuning it (trainables.finetune) trains every member through the mean, as the paper fine-tuned
    its direct ensembles. Called and read as finetune reads a transformers classifier: `model(input_ids=...,
    attention_mask=..., labels=None)` gives `.logits` (batch, num_labels) and `.loss` with labels;
    `model.config.pad_token_id`; `save_pretrained(folder)`."""

    def __init__(self, members):
        super().__init__()
        self.members = torch.nn.ModuleList(checked_members(members, ("vocab_size", "num_labels", "pad_token_id")))
        self.config = ClassificationEnsembleConfig([m.config for m in self.members])

    def forward(self, input_ids=None, attention_mask=None, labels=None, **kwargs):
        from transformers.modeling_outputs import SequenceClassifierOutput

        logits = mean_logits(self.members, input_ids, attention_mask, **kwargs)
        loss = None
        if labels is not None:  # as transformers' classifiers: regression with one label, else cross-entropy
            loss = (F.mse_loss(logits.squeeze(-1), labels.float()) if self.config.num_labels == 1
                    else F.cross_entropy(logits, labels))
        return SequenceClassifierOutput(loss=loss, logits=logits)

    def save_pretrained(self, folder, **kwargs):
        """A self-contained folder, as Ensemble.save_pretrained: each member (a transformers classifier folder) in
        member_NN/, named by ensemble.json; the tokenizer is the caller's to save beside it. Loaded again by
        load_classification_ensemble (trainables.finetune.score_model)."""
        folder = Path(folder)
        folder.mkdir(parents=True, exist_ok=True)
        names = [f"member_{i:02d}" for i in range(len(self.members))]
        for name, member in zip(names, self.members):
            member.save_pretrained(folder / name, **kwargs)
        write_json(folder / ENSEMBLE_FILE, {"kind": KIND, "head": CLASSIFICATION_HEAD, "members": names,
                                            "num_labels": self.config.num_labels})


def classifier_ensemble_for_finetuning(folder, build_member):
    """(tokenizer, SequenceClassificationEnsemble) of the ensemble folder `folder` (ensemble.json naming causal LMs),
    for trainables.finetune: the tokenizer is the ensemble folder's, and each member is built by
    `build_member(member_folder, tokenizer)` (finetune's own loading of one checkpoint: a new classification head,
    the pad token set). A member whose folder holds a tokenizer must hold this one (tokenizer.json hashes); one
    without (member_NN/ of Ensemble.save_pretrained) takes it. One-line ConfigErrors starting with `checkpoint:`."""
    from transformers import AutoTokenizer

    from .data.tokenizer import tokenizer_hash

    folder = Path(folder)
    where = f"checkpoint: {folder} (an ensemble)"
    if not (folder / "tokenizer.json").is_file():
        raise ConfigError(f"{where}: has no tokenizer.json beside {ENSEMBLE_FILE}")
    try:
        sha = tokenizer_hash(folder)  # first: a tokenizer.json that does not parse fails in AutoTokenizer untidily
        tokenizer = AutoTokenizer.from_pretrained(folder, trust_remote_code=False)
    except DataError as e:
        raise ConfigError(f"{where}: {e}") from None
    except (OSError, ValueError, KeyError) as e:
        raise ConfigError(f"{where}: has no readable tokenizer ({str(e).splitlines()[0]})") from None
    members = []
    for path in ensemble_members(folder):
        member = check_member(path, f"{where}: member")["folder"]
        if not any((member / name).is_file() for name in WEIGHT_FILES):  # a checkpoint with trainer_state.pt alone
            raise ConfigError(f"{where}: member {member}: is not a Hugging Face model folder (no weights file)")
        if (member / "tokenizer.json").is_file() and member_tokenizer_hash(member, where) != sha:
            raise ConfigError(f"{where}: member {member}: its tokenizer is not the ensemble's "
                              f"({folder / 'tokenizer.json'}; tokenizer.json hashes differ)")
        members.append(build_member(member, tokenizer))
    return tokenizer, SequenceClassificationEnsemble(members)


def member_tokenizer_hash(member, where) -> str:
    from .data.tokenizer import tokenizer_hash

    try:
        return tokenizer_hash(member)
    except DataError as e:
        raise ConfigError(f"{where}: member {member}: {e}") from None


def load_classification_ensemble(folder) -> SequenceClassificationEnsemble:
    """A fine-tuned ensemble written by SequenceClassificationEnsemble.save_pretrained, its members loaded on the CPU
    in float32."""
    from transformers import AutoModelForSequenceClassification

    folder = Path(folder)
    members = []
    for path in ensemble_members(folder):
        if not (path / "config.json").is_file():
            raise ConfigError(f"{folder / ENSEMBLE_FILE}: member {path}: not a model folder (no config.json)")
        config = read_model_config(path)
        with reading_weights(path):
            members.append(AutoModelForSequenceClassification.from_pretrained(
                str(path), config=config, dtype=torch.float32, weights_only=True, trust_remote_code=False))
    return SequenceClassificationEnsemble(members)


def score_new_ensemble(folder, members, data, seq_length, batch_size, trusted_root=None, device=None):
    """Write the ensemble of `members` at `folder` and score it on the prepared `data`: (validation loss, test loss
    or None when the data has no test split), in nats per token, as a pretraining trial scores itself."""
    from contextlib import nullcontext

    from transformers.utils import logging as hf_logging

    from .pretrain import mean_loss

    device = torch.device(device or ("cuda" if torch.cuda.is_available() else "cpu"))
    hf_logging.disable_progress_bar()  # a bar per member loaded
    write_ensemble(folder, members, trusted_root=trusted_root)
    model = load_causal_lm(folder, trusted_root=trusted_root).to(device)
    val_loss = mean_loss(model, data.tokens("validation"), seq_length, batch_size, device, nullcontext)
    test_loss = (mean_loss(model, data.tokens("test"), seq_length, batch_size, device, nullcontext)
                 if "test" in data.splits else None)
    return val_loss, test_loss
