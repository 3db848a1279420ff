"""The byte-level BPE tokenizer shared by every model of a sweep (BabyLlama-2: 16,000 entries,
trained on the train split only)."""
import hashlib
from pathlib import Path

from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers

from ..errors import DataError

PAD, BOS, EOS = "<pad>", "<s>", "</s>"
SPECIAL_TOKENS = [PAD, BOS, EOS]
# ByteLevel BPE starts from the 256 byte symbols; the special tokens come on top of those
MIN_VOCAB_SIZE = 256 + len(SPECIAL_TOKENS)


def train_tokenizer(lines, vocab_size=16_000, show_progress=False) -> Tokenizer:
    if vocab_size < MIN_VOCAB_SIZE:
        raise DataError(f"vocabulary size {vocab_size} is too small: a byte-level BPE needs at least "
                        f"{MIN_VOCAB_SIZE} (256 bytes + the special tokens {', '.join(SPECIAL_TOKENS)})")
    tok = Tokenizer(models.BPE())
    # No prefix space: decode(encode(text)) gives the text back exactly. Every utterance is encoded on
    # its own after <s>, in training and in scoring alike, so its first word is always tokenized the same way.
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size,
        special_tokens=SPECIAL_TOKENS,  # ids 0, 1, 2
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=show_progress,
    )
    tok.train_from_iterator(lines, trainer=trainer, length=len(lines) if hasattr(lines, "__len__") else None)
    return tok


def save_tokenizer(tok: Tokenizer, folder: Path) -> None:
    """tokenizer.json plus the transformers config, so AutoTokenizer.from_pretrained(folder) works."""
    from transformers import PreTrainedTokenizerFast

    fast = PreTrainedTokenizerFast(tokenizer_object=tok, bos_token=BOS, eos_token=EOS, pad_token=PAD)
    fast.save_pretrained(str(folder))


def load_tokenizer(folder):
    """The tokenizer of a prepared folder or a checkpoint, as a transformers fast tokenizer."""
    from transformers import PreTrainedTokenizerFast

    path = Path(folder) / "tokenizer.json"
    if not path.is_file():
        raise DataError(f"{path}: no tokenizer here")
    return PreTrainedTokenizerFast(tokenizer_file=str(path), bos_token=BOS, eos_token=EOS, pad_token=PAD)


def tokenizer_hash(folder) -> str:
    """Identity of a tokenizer: the hash of its vocabulary and merges, not of the file's formatting."""
    path = Path(folder) / "tokenizer.json"
    if not path.is_file():
        raise DataError(f"{path}: no tokenizer here")
    tok = Tokenizer.from_file(str(path))
    return hashlib.sha256(tok.to_str().encode()).hexdigest()
