"""The prepared folder: one tokenizer and one token cache per corpus, shared by every trial of a sweep.

    <out>/meta.json            what it was made from: input file hashes, split settings (the validation
                               split mode), tokenizer hash, requested and actual vocabulary size and the
                               entries pruned, the token stream convention, sequence length,
                               lines/words/tokens per split and domain
    <out>/tokenizer.json       (+ tokenizer_config.json: AutoTokenizer.from_pretrained(<out>) works)
    <out>/text/<split>.txt     the exact lines of each split (train, validation, test)
    <out>/tokens/<split>-<key>.npy
                               the split as one flat array of token ids, uint16 while the vocabulary fits.
                               <key> hashes the split's text, the tokenizer and the stream convention, so a
                               cache can never be read with the wrong tokenizer or the wrong convention.

The token stream (meta["stream"]): every utterance is <s> + its tokens + </s> ("bos_eos"), so the model learns
where an utterance ends as well as how one begins. Folders prepared before meta.json recorded a stream have
none and mean "bos" (<s> + its tokens, no </s>); they keep it: a cache they rebuild is rebuilt the old way,
under the old key (which left the convention out; every other convention is part of the key). Likewise a
meta.json without split["valid_split"] was split with "random" (`PreparedData.valid_split`). Such folders
open, train and score exactly as before.

The folder is built aside and published in one rename, and a token cache rebuilt later is written to a
temporary name and renamed into place (trainables.files), so a reader never sees half a file or half a
folder, and trials that find a cache missing can all rebuild it at once without harm.
"""
import hashlib
import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from . import babylm
from ..errors import DataError
from ..files import atomic_path, check_folder_path, folder_is_free, staged_folder, write_json
from .tokenizer import BOS, EOS, METHOD, fit_tokenizer, load_tokenizer, save_tokenizer, tokenizer_hash

FORMAT = 1  # new fields are added with defaults that read old folders as they were made: no format change
STREAMS = {"bos": "<s> + tokens", "bos_eos": "<s> + tokens + </s>"}
STREAM = "bos_eos"  # what new folders get
LEGACY_STREAM = "bos"  # what a meta.json without "stream" means
LEGACY_VALID_SPLIT = "random"  # what a meta.json without split["valid_split"] means
SPLITS = ("train", "validation", "test")
ENCODE_CHUNK = 20_000  # lines per encode_batch call: bounds memory and paces the progress bar


def sha256_text(lines) -> str:
    h = hashlib.sha256()
    for line in lines:
        h.update(line.encode())
        h.update(b"\n")
    return h.hexdigest()


def locate_folders(corpus, test=None):
    """A BabyLM release root (train/ and dev/ inside) or a plain folder of *.train files."""
    corpus = Path(corpus)
    if (corpus / "train").is_dir():
        train_dir = corpus / "train"
        if test is None:
            test = next((corpus / name for name in ("dev", "test") if (corpus / name).is_dir()), None)
    else:
        train_dir = corpus
    return train_dir, (Path(test) if test is not None else None)


def settings_key(train_files, test_files, settings) -> str:
    blob = json.dumps({"format": FORMAT, "train": [(d.name, d.sha256) for d in train_files],
                       "test": [(d.name, d.sha256) for d in test_files], "settings": settings}, sort_keys=True)
    return hashlib.sha256(blob.encode()).hexdigest()


def prepare(corpus, out, test=None, vocab_size=16_000, seq_length=128, valid_fraction=0.05,
            valid_words=None, seed=0, valid_split="tail", show_progress=False, log=print) -> dict:
    """Split, train the tokenizer on the train split, tokenize every split once. Returns meta.json's content.
    `log` gets progress notes and warnings (lines starting "warning: ")."""
    out = check_folder_path(out)  # before hours of tokenizing, not after
    if seq_length < 2:
        raise DataError(f"sequence length must be at least 2, got {seq_length}")
    if valid_split not in babylm.VALID_SPLITS:
        raise DataError(f"--valid-split {valid_split}: must be one of {', '.join(babylm.VALID_SPLITS)}")
    train_dir, test_dir = locate_folders(corpus, test)
    train_files = babylm.read_folder(train_dir, babylm.SPLIT_SUFFIXES["train"])
    test_files = babylm.read_folder(test_dir, babylm.SPLIT_SUFFIXES["test"]) if test_dir else []
    if test_dir is None:
        log(f"note: no test folder ({corpus}/dev not found and no --test given): no test split")
    seed = seed if valid_split == "random" else None  # a tail split draws nothing
    settings = {"valid_fraction": None if valid_words else valid_fraction, "valid_words": valid_words,
                "seed": seed, "vocab_size": vocab_size, "seq_length": seq_length, "valid_split": valid_split,
                "stream": STREAM, "tokenizer": METHOD}
    key = settings_key(train_files, test_files, settings)

    existing = check_out_folder(out, key)
    if existing is not None:
        data = PreparedData(out, existing)
        for split in data.splits:  # rebuild any cache file that went missing
            data.tokens(split)
        log(f"{out}: already prepared from the same files and settings; reusing it")
        return dict(existing, reused=True)

    parts = babylm.split_train_validation(train_files, valid_fraction, valid_words, seed, mode=valid_split)
    log(f"validation split: {valid_split} ({VALID_SPLIT_NOTES[valid_split]})")
    splits = {"train": [], "validation": [], "test": []}
    rows = []  # the summary table: (domain, split, lines, words)
    for d in train_files:
        train, valid = parts[d.name]
        splits["train"] += train
        splits["validation"] += valid
        rows += [(d.name, "train", len(train), babylm.count_words(train)),
                 (d.name, "validation", len(valid), babylm.count_words(valid))]
    for d in test_files:
        splits["test"] += d.lines
        rows.append((d.name, "test", len(d.lines), d.words))
    if not splits["validation"]:
        raise DataError(f"{train_dir}: too few words for a validation split")
    if not test_files:
        del splits["test"]

    with staged_folder(out) as staging:
        folder = staging.path  # ours alone until it is published whole
        log(f"training a byte-level BPE tokenizer (vocabulary {vocab_size:,}) on {len(splits['train']):,} train lines")
        fitted = fit_tokenizer(splits["train"], vocab_size, show_progress=show_progress)
        tok = fitted.tokenizer
        log(f"tokenizer: {fitted.vocab_size:,} entries, no merged one unused in the train stream ({fitted.pruned:,} "
            f"taken out of a BPE of {fitted.trained:,}; the plain BPE of {vocab_size:,} had {fitted.unused_before:,} "
            f"unused)")
        warning = None
        if fitted.vocab_size < vocab_size:
            warning = (f"{train_dir}: the tokenizer has {fitted.vocab_size:,} entries, fewer than the {vocab_size:,} "
                       f"requested (the corpus has too few distinct merges: the BPE stopped at {fitted.trained:,} "
                       f"and {fitted.pruned:,} of those were taken out to leave no entry unused)")
            log(f"warning: {warning}")
        save_tokenizer(tok, folder)
        tok_hash = tokenizer_hash(folder)
        (folder / "text").mkdir()
        meta_splits = {}
        for split, lines in splits.items():
            (folder / "text" / f"{split}.txt").write_text("".join(line + "\n" for line in lines), encoding="utf-8")
            meta_splits[split] = {"lines": len(lines), "words": babylm.count_words(lines),
                                  "text_sha256": sha256_text(lines)}
        meta = {
            "format": FORMAT,
            "key": key,
            "corpus": {"train_dir": str(train_dir.resolve()), "test_dir": str(test_dir.resolve()) if test_dir else None,
                       "files": {str(d.path.name): d.sha256 for d in train_files + test_files},
                       "replaced_non_utf8": sum(d.replaced for d in train_files + test_files)},
            "split": {"valid_fraction": settings["valid_fraction"], "valid_words": valid_words, "seed": seed,
                      "valid_split": valid_split},
            "tokenizer": {"sha256": tok_hash, "vocab_size": tok.get_vocab_size(),
                          "requested_vocab_size": vocab_size, "bos_token": BOS, "eos_token": EOS,
                          "method": METHOD, "trained_vocab_size": fitted.trained,
                          "unused_before_pruning": fitted.unused_before, "pruned": fitted.pruned,
                          "unused_byte_symbols": fitted.unused_bytes,
                          **({"warning": warning} if warning else {})},
            "stream": STREAM,
            "seq_length": seq_length,
            "dtype": "uint16" if tok.get_vocab_size() <= 2**16 else "uint32",
            "splits": meta_splits,
            "domains": [{"domain": r[0], "split": r[1], "lines": r[2], "words": r[3]} for r in rows],
        }
        data = PreparedData(folder, meta)
        for split in splits:
            meta_splits[split]["tokens"] = len(data.tokens(split, show_progress=show_progress, lines=splits[split]))
            meta_splits[split]["file"] = data.token_file(split).relative_to(folder).as_posix()
        check_train_stream(data.tokens("train"), fitted.vocab_size, fitted.first_merged_id, tok.token_to_id(EOS))
        write_json(folder / "meta.json", meta)
    if not staging.published:
        # another process prepared into `out` first: theirs will do if it is the same preparation
        check_out_folder(out, key)
    return meta


VALID_SPLIT_NOTES = {"tail": "the last lines of each domain file", "random": "lines drawn at random, seeded"}


def check_train_stream(tokens, vocab_size, first_merged_id, eos):
    """Every merged token and </s> occur in the train stream (what the tokenizer's pruning promises)."""
    counts = np.bincount(np.asarray(tokens), minlength=vocab_size)
    unused = np.flatnonzero(counts[first_merged_id:] == 0) + first_merged_id
    assert len(unused) == 0 and counts[eos] > 0, \
        f"token ids {unused[:10].tolist()} ({len(unused)} in all) or </s> never occur in the train stream"


def check_out_folder(out: Path, key: str):
    """None when `out` is free to take (absent or empty); the existing meta when it holds the very same
    preparation; DataError for anything else."""
    if folder_is_free(out):
        return None
    if not out.is_dir():
        raise DataError(f"{out}: exists and is not a folder")
    meta_path = out / "meta.json"
    if not meta_path.is_file():
        raise DataError(f"{out}: folder exists and holds other files; give an empty or new --out folder")
    meta = read_meta(out)
    if meta.get("key") != key:
        raise DataError(f"{out}: holds data prepared from other files or settings (see its meta.json); "
                        f"give another --out folder or delete it")
    return meta


def read_meta(folder: Path) -> dict:
    path = Path(folder) / "meta.json"
    try:
        meta = json.loads(path.read_text())
    except FileNotFoundError:
        raise DataError(f"{folder}: not a prepared data folder (no meta.json); run `babysweep data prepare` first") from None
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise DataError(f"{path}: not valid JSON ({e})") from None
    if not isinstance(meta, dict) or meta.get("format") != FORMAT:
        raise DataError(f"{path}: unknown prepared-data format (expected format {FORMAT}); prepare the data again")
    stream = meta.get("stream", LEGACY_STREAM)
    if stream not in STREAMS:
        raise DataError(f"{path}: unknown token stream {stream!r} (this babysweep knows {', '.join(STREAMS)}); "
                        f"prepare the data again")
    return meta


@dataclass
class PreparedData:
    """A prepared folder, checked against its meta.json. Token arrays are memory-mapped, not loaded."""
    folder: Path
    meta: dict

    @property
    def splits(self):
        return [s for s in SPLITS if s in self.meta["splits"]]

    @property
    def vocab_size(self) -> int:
        return self.meta["tokenizer"]["vocab_size"]

    @property
    def tokenizer_sha256(self) -> str:
        return self.meta["tokenizer"]["sha256"]

    @property
    def stream(self) -> str:
        """How each utterance sits in the token caches: "bos_eos" (<s> tokens </s>) or "bos" (<s> tokens, old folders)."""
        return self.meta.get("stream", LEGACY_STREAM)

    @property
    def valid_split(self) -> str:
        """How the validation lines were chosen: "tail" or "random" (old folders, which did not record it)."""
        return self.meta["split"].get("valid_split", LEGACY_VALID_SPLIT)

    def tokenizer(self):
        return load_tokenizer(self.folder)

    def token_file(self, split) -> Path:
        info = self.meta["splits"][split]
        blob = f"{info['text_sha256']}:{self.tokenizer_sha256}"
        if self.stream != LEGACY_STREAM:  # a "bos" cache keeps the name it always had
            blob += f":{self.stream}"
        key = hashlib.sha256(blob.encode()).hexdigest()[:16]
        return self.folder / "tokens" / f"{split}-{key}.npy"

    def tokens(self, split, show_progress=False, lines=None) -> np.ndarray:
        if split not in self.meta["splits"]:
            raise DataError(f"{self.folder}: has no {split} split (it has {', '.join(self.splits)})")
        path = self.token_file(split)
        if not path.exists():
            self.build_cache(split, path, show_progress, lines)
        arr = np.load(path, mmap_mode="r")
        expected = self.meta["splits"][split].get("tokens")
        if expected is not None and len(arr) != expected:
            raise DataError(f"{path}: holds {len(arr)} tokens, meta.json says {expected}; prepare the data again")
        return arr

    def build_cache(self, split, path, show_progress=False, lines=None):
        from tqdm import tqdm

        if lines is None:
            text_path = self.folder / "text" / f"{split}.txt"
            lines = text_path.read_text(encoding="utf-8").splitlines()
            if sha256_text(lines) != self.meta["splits"][split]["text_sha256"]:
                raise DataError(f"{text_path}: changed since it was prepared; prepare the data again")
        tok = self.tokenizer().backend_tokenizer
        bos, eos = tok.token_to_id(BOS), tok.token_to_id(EOS)
        with_eos = self.stream == "bos_eos"
        dtype = np.dtype(self.meta["dtype"])
        pieces = []
        for i in tqdm(range(0, len(lines), ENCODE_CHUNK), desc=f"tokenizing {split}", unit="chunk",
                      disable=not show_progress):
            for enc in tok.encode_batch(lines[i:i + ENCODE_CHUNK], add_special_tokens=False):
                pieces.append(bos)
                pieces.extend(enc.ids)
                if with_eos:
                    pieces.append(eos)
        arr = np.asarray(pieces, dtype=dtype)
        path.parent.mkdir(exist_ok=True)
        # concurrent writers of the same cache each rename a complete copy of identical bytes into place
        with atomic_path(path) as tmp, open(tmp, "wb") as f:
            np.save(f, arr)  # to the open file: np.save would add ".npy" to a name not ending in it


def open_prepared(folder, tokenizer_sha256=None) -> PreparedData:
    """Open a prepared folder for reading; refuse one whose tokenizer is not the one its caches were made with
    (or not `tokenizer_sha256`, the tokenizer a model was trained with)."""
    folder = Path(folder)
    if not folder.is_dir():
        raise DataError(f"{folder}: no such prepared data folder; run `babysweep data prepare` first")
    meta = read_meta(folder)
    actual = tokenizer_hash(folder)
    if actual != meta["tokenizer"]["sha256"]:
        raise DataError(f"{folder / 'tokenizer.json'}: is not the tokenizer the token caches were made with "
                        f"(meta.json); prepare the data again")
    if tokenizer_sha256 is not None and tokenizer_sha256 != actual:
        raise DataError(f"{folder}: was prepared with another tokenizer than the model's; "
                        f"use the data folder the model was trained on")
    return PreparedData(folder, meta)


# ---- chunking into blocks of seq_length tokens ----

def train_block_starts(n_tokens, seq_length, epoch, seed) -> np.ndarray:
    """Start offsets of one epoch's training blocks: a random phase, then a shuffled order.
    A pure function of (seed, epoch), so a resumed run sees exactly the blocks it would have seen."""
    rng = np.random.default_rng([seed, epoch])
    offset = int(rng.integers(seq_length))
    n = (n_tokens - offset) // seq_length
    starts = offset + seq_length * np.arange(n, dtype=np.int64)
    rng.shuffle(starts)
    return starts


def eval_block_starts(n_tokens, seq_length) -> np.ndarray:
    """Contiguous blocks from the start; a last partial block (under seq_length tokens) is left out."""
    return seq_length * np.arange(n_tokens // seq_length, dtype=np.int64)


def gather_blocks(tokens, starts, seq_length) -> np.ndarray:
    return np.stack([np.asarray(tokens[s:s + seq_length], dtype=np.int64) for s in starts])
