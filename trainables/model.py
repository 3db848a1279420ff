"""Model presets: transformers' LlamaForCausalLM at the sizes the BabyLlama-2 paper uses, and one for CPUs."""
import numbers
from contextlib import contextmanager
from pathlib import Path

from .checkpoints import first_line
from .errors import CheckpointError, ConfigError
from .names import WEIGHT_FILES  # noqa: F401  (a Hugging Face folder's weights; also imported from here)

PRESETS = {
    # BabyLlama-2 (paper Table 1; the MobileLLM / SmolLM 345M shape: GQA, depth over width). Untied embeddings
    # give the paper's 345M parameters (tied ones would give 330M).
    "smollm-345m": dict(vocab_size=16_000, num_hidden_layers=32, num_attention_heads=15, num_key_value_heads=5,
                        hidden_size=960, intermediate_size=2560, tie_word_embeddings=False),
    # The 16M model of the paper's appendix B
    "babyllama-16m": dict(vocab_size=16_000, num_hidden_layers=8, num_attention_heads=8, num_key_value_heads=8,
                          hidden_size=256, intermediate_size=1024, tie_word_embeddings=False),
    # Sized for CPU trials: a few seconds an epoch on the built-in demo corpus
    "tiny": dict(vocab_size=2_000, num_hidden_layers=2, num_attention_heads=4, num_key_value_heads=2,
                 hidden_size=64, intermediate_size=256, tie_word_embeddings=True),
    # Sized for real text on CPUs (benchmarks/bench_science.py): 1.75M parameters at its default vocabulary of 6,000
    # (768k in the tied embeddings, 246k per layer); about 4,700 training tokens/s on one CPU core at 128 tokens
    "llama-2m": dict(vocab_size=6_000, num_hidden_layers=4, num_attention_heads=4, num_key_value_heads=2,
                     hidden_size=128, intermediate_size=512, tie_word_embeddings=True),
}
# LlamaConfig fields a config may override on top of a preset
MODEL_FIELDS = {"num_hidden_layers", "num_attention_heads", "num_key_value_heads", "hidden_size",
                "intermediate_size", "tie_word_embeddings", "rope_theta", "rms_norm_eps", "initializer_range"}

SIZES = ("num_hidden_layers", "num_attention_heads", "num_key_value_heads", "hidden_size", "intermediate_size")


def model_config(preset: str, overrides: dict, vocab_size: int, seq_length: int, attention_dropout: float = 0.0):
    """The LlamaConfig of `preset` with `overrides`; the vocabulary always follows the data's tokenizer."""
    from transformers import LlamaConfig

    if preset not in PRESETS:
        raise ConfigError(f"preset: unknown preset {preset!r} (known: {', '.join(PRESETS)})")
    fields = dict(PRESETS[preset], **overrides)
    fields["vocab_size"] = vocab_size
    where = f"preset {preset!r}" + (f" with {overrides}" if overrides else "")
    for name in SIZES:  # before any arithmetic on them: a size of 0 or "abc" fails deep inside transformers
        value = fields[name]
        if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < 1:
            raise ConfigError(f"{name}: must be a whole number >= 1, got {value!r} ({where})")
    heads, kv, hidden = fields["num_attention_heads"], fields["num_key_value_heads"], fields["hidden_size"]
    if heads <= 0 or hidden % heads:
        raise ConfigError(f"num_attention_heads: {heads} heads do not divide hidden_size {hidden} ({where})")
    if kv <= 0 or heads % kv:
        raise ConfigError(f"num_key_value_heads: {kv} key/value heads do not divide {heads} heads ({where})")
    if not 0 <= attention_dropout < 1:
        raise ConfigError(f"attention_dropout: must be in [0, 1), got {attention_dropout}")
    return LlamaConfig(
        **fields,
        max_position_embeddings=seq_length,
        attention_dropout=attention_dropout,
        bos_token_id=1, eos_token_id=2, pad_token_id=0,  # <s>, </s>, <pad> of trainables.data.tokenizer
    )


def build_model(config, attn_implementation="sdpa"):
    from transformers import LlamaForCausalLM

    return LlamaForCausalLM._from_config(config, attn_implementation=attn_implementation)


def flops_per_token(config, seq_length: int) -> float:
    """Training FLOPs per token: 6 per parameter in the matrix multiplies, plus attention scores
    (the PaLM paper's estimate, appendix B). Norm weights are negligible."""
    h, layers, inter = config.hidden_size, config.num_hidden_layers, config.intermediate_size
    head_dim = h // config.num_attention_heads
    kv = config.num_key_value_heads * head_dim
    per_layer = h * h * 2 + h * kv * 2 + 3 * h * inter  # q, o, k, v projections and the SwiGLU MLP
    matmul_params = layers * per_layer + config.vocab_size * h  # the LM head (embedding lookups cost nothing)
    return 6 * matmul_params + 12 * layers * h * seq_length


# Dense bf16 peak of the accelerators a user is likely to have (vendor datasheets), for model FLOPs utilisation
PEAK_BF16_FLOPS = {"H200": 989e12, "H100": 989e12, "A100": 312e12, "L40S": 362e12, "A10G": 125e12, "L4": 121e12,
                   "RTX 4090": 165e12, "RTX 3090": 71e12, "V100": 125e12}


def peak_flops(device) -> float | None:
    import torch

    if device.type != "cuda":
        return None  # no meaningful peak for CPUs; mfu is left out
    name = torch.cuda.get_device_name(device)
    return next((v for k, v in PEAK_BF16_FLOPS.items() if k in name), None)


def count_parameters(model) -> int:
    return sum(p.numel() for p in model.parameters())


def load_trained_model(folder):
    """The causal LM saved in `folder`: a Hugging Face folder (its weights file), or a pretraining checkpoint that
    holds config.json and trainer_state.pt (the weights of the report it was taken at: loop.report_budget_point
    with scorable). Loaded on the CPU; None when the folder holds neither.

    Nothing in the folder runs code: weights come from safetensors or torch.load(weights_only=True) (a
    pytorch_model.bin or trainer_state.pt whose pickle asks for more is refused unread), and config.json never names
    code to fetch (trust_remote_code=False). A folder that cannot be loaded (a garbled or truncated weights file, a
    checkpoint that its manifest, checkpoint.json, finds copied in part) is a one-line CheckpointError or ConfigError
    naming the file."""
    from transformers import AutoModelForCausalLM

    from .checkpoints import TRAINER_STATE, missing_manifest, read_trainer_state

    folder = Path(folder)
    check_whole(folder)
    if any((folder / name).is_file() for name in WEIGHT_FILES):
        config = read_model_config(folder)
        with reading_weights(folder):
            return AutoModelForCausalLM.from_pretrained(str(folder), config=config, weights_only=True,
                                                        trust_remote_code=False)
    if (folder / TRAINER_STATE).is_file() and (folder / "config.json").is_file():
        model = AutoModelForCausalLM.from_config(read_model_config(folder), trust_remote_code=False)
        saved = read_trainer_state(folder / TRAINER_STATE, needs=("model",))
        problem = missing_manifest(folder, saved)
        if problem is not None:
            raise CheckpointError(problem)
        try:
            model.load_state_dict(saved["model"])
        except (RuntimeError, TypeError, ValueError, KeyError) as e:  # weights of another shape, or not a dict
            raise CheckpointError(f"{folder / TRAINER_STATE}: its model weights do not fit {folder / 'config.json'} "
                                  f"({first_line(e)})") from None
        return model
    return None


def check_whole(folder):
    """CheckpointError when `folder`, or the checkpoint whose hf/ it is, has a manifest that says it is not whole."""
    from .checkpoints import MANIFEST, manifest_problem

    for where in ((folder, folder.parent) if folder.name == "hf" else (folder,)):
        if (where / MANIFEST).exists():
            problem = manifest_problem(where)
            if problem is not None:
                raise CheckpointError(f"{problem}; the checkpoint {where} is not whole")


def read_model_config(folder, **kwargs):
    """transformers' config of the model in `folder` (never code it names); ConfigError naming config.json."""
    from transformers import AutoConfig

    path = Path(folder) / "config.json"
    try:
        return AutoConfig.from_pretrained(str(folder), trust_remote_code=False, **kwargs)
    except (OSError, ValueError, KeyError, TypeError) as e:
        raise ConfigError(f"{path}: not a readable model config ({first_line(e)})") from None


def weights_file(folder) -> Path:
    """The weights file transformers reads in `folder` (safetensors first), for error messages."""
    folder = Path(folder)
    return next((folder / name for name in WEIGHT_FILES if (folder / name).is_file()), folder / WEIGHT_FILES[0])


def check_weights(folder) -> None:
    """Read as little of the folder's weights as tells a garbled, truncated or code-asking file (the header of
    model.safetensors; else the pickle of pytorch_model.bin or trainer_state.pt, memory-mapped, with weights_only):
    CheckpointError naming it. For the checks before a sweep starts, which read small files only."""
    from .checkpoints import TRAINER_STATE, read_trainer_state

    folder = Path(folder)
    if (folder / "model.safetensors").is_file():
        from safetensors import safe_open

        with reading_weights(folder), safe_open(str(folder / "model.safetensors"), framework="pt"):
            pass  # opening reads and checks the header against the file's size
    elif not (folder / "model.safetensors.index.json").is_file():
        for name in ("pytorch_model.bin", TRAINER_STATE):
            if (folder / name).is_file():
                read_trainer_state(folder / name, needs=(), mmap=True)
                return


@contextmanager
def reading_weights(folder):
    """Around a transformers from_pretrained of `folder`: what a garbled, truncated or code-asking weights file
    raises, as one line naming the file."""
    import pickle
    import zipfile

    from safetensors import SafetensorError

    from .checkpoints import unreadable

    try:
        yield
    except pickle.UnpicklingError as e:  # a pytorch_model.bin refused by weights_only, or damaged
        raise unreadable(weights_file(folder), e) from None
    except (SafetensorError, OSError, ValueError, RuntimeError, KeyError, EOFError, zipfile.BadZipFile) as e:
        raise CheckpointError(f"{weights_file(folder)}: cannot be read as model weights ({first_line(e)})") from None
