"""Character vocabulary: any Unicode text in, integer ids out, and back.

Ids 0 and 1 are reserved for padding and for characters the vocabulary has never
seen, so unseen input never crashes encoding. A character is one Unicode code
point (Python's ``str`` unit), which keeps every round trip UTF-8 safe.
"""

from __future__ import annotations

import collections
import json
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import numpy as np

from nlp_lstm.errors import NlpLstmError

PAD = "<pad>"
UNK = "<unk>"
# Shown by decode() for the unknown id: U+FFFD REPLACEMENT CHARACTER.
UNK_TEXT = "\ufffd"


class TokenizerError(NlpLstmError):
    """A tokenizer file is missing, malformed or of an unknown type."""


class CharTokenizer:
    """Maps characters to ids; ``pad_id`` = 0 and ``unk_id`` = 1 always."""

    pad_id = 0
    unk_id = 1
    kind = "char"

    def __init__(self, chars: Iterable[str]):
        self.chars: list[str] = list(chars)
        if any(len(c) != 1 for c in self.chars) or len(set(self.chars)) != len(self.chars):
            raise TokenizerError("a character vocabulary needs distinct single characters")
        self._index = {c: i + 2 for i, c in enumerate(self.chars)}
        # Sorted code points with their ids, for vectorised encoding of long texts.
        order = sorted(self._index.items(), key=lambda kv: ord(kv[0]))
        self._codepoints = np.array([ord(c) for c, _ in order], dtype=np.int64)
        self._ids = np.array([i for _, i in order], dtype=np.int64)

    @classmethod
    def build(cls, texts: Iterable[str], min_count: int = 1, max_size: int | None = None) -> CharTokenizer:
        """The characters of ``texts`` seen at least ``min_count`` times, most frequent first."""
        counts: collections.Counter[str] = collections.Counter()
        for text in texts:
            counts.update(text)
        ranked = sorted((c for c, n in counts.items() if n >= min_count), key=lambda c: (-counts[c], c))
        if max_size is not None:
            ranked = ranked[: max(0, max_size - 2)]
        if not ranked:
            raise TokenizerError("cannot build a vocabulary from empty text; check the dataset and --text-column")
        return cls(ranked)

    @property
    def vocab_size(self) -> int:
        return len(self.chars) + 2

    @property
    def special_ids(self) -> list[int]:
        return [self.pad_id, self.unk_id]

    def encode(self, text: str) -> list[int]:
        return self.encode_array(text).tolist()

    def encode_array(self, text: str) -> np.ndarray:
        """Ids of ``text`` as int64; unseen characters become ``unk_id``."""
        if not text:
            return np.zeros(0, dtype=np.int64)
        points = np.frombuffer(text.encode("utf-32-le", "surrogatepass"), dtype=np.uint32).astype(np.int64)
        slot = np.searchsorted(self._codepoints, points).clip(max=len(self._codepoints) - 1)
        found = self._codepoints[slot] == points
        return np.where(found, self._ids[slot], self.unk_id)

    def decode(self, ids: Iterable[int]) -> str:
        pieces = []
        for i in ids:
            i = int(i)
            if i == self.pad_id:
                continue
            pieces.append(self.chars[i - 2] if 2 <= i < self.vocab_size else UNK_TEXT)
        return "".join(pieces)

    def to_dict(self) -> dict[str, Any]:
        return {"type": "char", "specials": [PAD, UNK], "chars": self.chars}

    def save(self, path: str | Path) -> None:
        Path(path).write_text(json.dumps(self.to_dict(), ensure_ascii=False, indent=1), encoding="utf-8")

    def __eq__(self, other: object) -> bool:
        return isinstance(other, CharTokenizer) and other.chars == self.chars


def tokenizer_from_dict(data: Any) -> CharTokenizer:
    if not isinstance(data, dict) or data.get("type") != "char":
        found = data.get("type") if isinstance(data, dict) else type(data).__name__
        raise TokenizerError(f"unknown tokenizer type {found!r}; this version reads 'char'")
    if data.get("specials") != [PAD, UNK] or not isinstance(data.get("chars"), list):
        raise TokenizerError("malformed character tokenizer: expected 'specials' [<pad>, <unk>] and a 'chars' list")
    return CharTokenizer(data["chars"])


def load_tokenizer(path: str | Path) -> CharTokenizer:
    try:
        data = json.loads(Path(path).read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise TokenizerError(f"{path}: tokenizer file is missing") from None
    except (json.JSONDecodeError, UnicodeDecodeError) as error:
        raise TokenizerError(f"{path}: tokenizer is not valid JSON ({error})") from None
    return tokenizer_from_dict(data)
