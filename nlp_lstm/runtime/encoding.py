"""The exported tokenizer and the classifier's input policy, in plain Python and ``tokenizers``, without torch.

The same ids as ``nlp_lstm.tokenizer`` and the same cut as ``data.batching.encode_texts`` (both
tested against them): those modules import torch, which the runtime never loads.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np

from nlp_lstm.errors import NlpLstmError
from nlp_lstm.files import UnreadableFile, read_json_file
from nlp_lstm.spelling import Speller, SpellingError, vocabulary_words

SPELLING_FILE = "spelling.json"  # as export.SPELLING_FILE
CHARS_PER_TOKEN_BOUND = 32  # as data.batching: a text is cut to this many characters per kept token before tokenising


class ExportedModelError(NlpLstmError):
    """An export directory is missing, incomplete, or not one this version reads."""


class CharVocabulary:
    """One id per character: ``chars[i]`` is ``i + 2``; 0 and 1 are padding and unknown."""

    def __init__(self, chars: list[str], unk_id: int):
        self.chars, self.unk_id = chars, unk_id
        self.index = {c: i + 2 for i, c in enumerate(chars)}

    def encode(self, text: str) -> list[int]:
        index, unk = self.index, self.unk_id
        return [index.get(c, unk) for c in text]

    def decode_one(self, token: int) -> str:
        return self.chars[token - 2] if 2 <= token < len(self.chars) + 2 else "\ufffd" if token != 0 else ""


class SubwordVocabulary:
    """A ``tokenizers`` JSON (byte-level BPE or a pretrained WordPiece), read without special tokens, and the
    speller either may have (``spelling``: the file's path), applied before encoding as the torch path does."""

    def __init__(self, path: Path, unk_id: int, spelling: Path | None = None):
        from tokenizers import Tokenizer

        self.unk_id = unk_id
        try:
            self.tokenizer = Tokenizer.from_file(str(path))  # read by the Rust side: no second parse in Python
        except Exception as error:  # tokenizers raises its own exception type for malformed JSON
            raise ExportedModelError(f"{path}: malformed tokenizer.json in the export ({error})") from None
        self.tokenizer.no_truncation()
        self.tokenizer.no_padding()
        self.speller = None if spelling is None else _read_speller(spelling, self.tokenizer)

    def encode(self, text: str) -> list[int]:
        return self.encode_many([text])[0]

    def encode_many(self, texts: list[str]) -> list[list[int]]:
        if self.speller is not None:
            texts = [self.speller.correct(text) for text in texts]
        return [e.ids for e in self.tokenizer.encode_batch(texts, add_special_tokens=False)]

    def decode_one(self, token: int) -> str:
        return self.tokenizer.decode([token], skip_special_tokens=True)


def _read_speller(path: Path, tokenizer: Any) -> Speller:
    try:
        return Speller.from_dict(read_json_file(path, "speller file"), vocabulary_words(tokenizer.get_vocab()))
    except (UnreadableFile, SpellingError) as error:
        raise ExportedModelError(f"{path}: {error}; export the model again") from None


def read_vocabulary(path: Path, info: dict[str, Any]) -> CharVocabulary | SubwordVocabulary:
    """The export's vocabulary; its speller's file has a fixed name (``spelling.json`` beside it), never one the signature gives."""
    if info.get("type") == "char":
        return CharVocabulary(list(json.loads(path.read_text(encoding="utf-8"))["chars"]), int(info["unk_id"]))
    return SubwordVocabulary(path, int(info["unk_id"]), path.with_name(SPELLING_FILE) if "spelling" in info else None)


def _cut_characters(text: str, limit: int, keep: str) -> str:
    if len(text) <= limit:
        return text
    if keep == "start":
        return text[:limit]
    if keep == "end":
        return text[-limit:]
    return text[:limit] + "\n" + text[-limit:]


def encode_texts(texts: list[str], vocabulary: CharVocabulary | SubwordVocabulary, policy: dict[str, Any]) -> list[np.ndarray]:
    """Ids of each text cut to ``max_length`` keeping its start, end or ``both`` (a quarter from the start); never empty."""
    max_length, keep = int(policy["max_length"]), str(policy["keep"])
    cut = [_cut_characters(t, max_length * CHARS_PER_TOKEN_BOUND, keep) for t in texts]
    encoded = vocabulary.encode_many(cut) if isinstance(vocabulary, SubwordVocabulary) else [vocabulary.encode(t) for t in cut]
    head = max_length // 4 if keep == "both" else max_length if keep == "start" else 0
    result = []
    for ids in encoded:
        if len(ids) > max_length:
            ids = ids[:head] + ids[len(ids) - (max_length - head) :]
        result.append(np.asarray(ids or [vocabulary.unk_id], dtype=np.int64))
    return result
