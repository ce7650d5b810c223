"""Tokenizers: any Unicode text in, integer ids out, and back.

Every kind satisfies one declared interface, :class:`Tokenizer` (``encode``, ``encode_array``,
``encode_batch``, ``decode``, ``id_to_token``, ``vocab_size``, ``pad_id``, ``unk_id``,
``special_ids``, ``to_dict``, ``save``, and the capability ``subword``):

* :class:`CharTokenizer` — one id per Unicode code point, in plain Python and
  numpy; what the language model generates with.
* :class:`SubwordTokenizer` — byte-level BPE (Sennrich et al. 2016; the GPT-2
  byte alphabet) trained with Hugging Face ``tokenizers`` on the training split;
  shorter sequences for the classifier.
* :class:`PretrainedTokenizer` — a pretrained model's own vocabulary (a teacher's
  WordPiece), so a student reads what its teacher reads.

Ids 0 and 1 are always padding and unknown for the first two (a pretrained vocabulary has
them where it has them), so unseen input never crashes encoding. All save as JSON inside the
model directory.
"""

from __future__ import annotations

import collections
import json
import re
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import Any, Protocol, Union

import numpy as np

from nlp_lstm.errors import NlpLstmError
from nlp_lstm.files import JSON_LIMIT, UnreadableFile, check_regular_file, read_json_file
from nlp_lstm.spelling import Speller, SpellingError, SpellingMixin

PAD = "<pad>"
UNK = "<unk>"
# Shown by decode() for the unknown id: U+FFFD REPLACEMENT CHARACTER.
UNK_TEXT = "\ufffd"


class TokenizerError(NlpLstmError):
    """A tokenizer file is missing, malformed or of an unknown type."""


class Tokenizer(Protocol):
    """What the model, the data pipeline and storage ask of any tokenizer; the three classes below satisfy it.

    ``subword`` declares a capability: whether tokens are pieces of words, with text that
    ``id_to_token`` gives, so a word's vector (``--embeddings FILE``) can start its token's row.
    """

    kind: str  # the "type" its JSON records: "char", "bpe" or "wordpiece"
    pad_id: int
    unk_id: int
    subword: bool

    @property
    def vocab_size(self) -> int: ...

    @property
    def special_ids(self) -> list[int]: ...

    def id_to_token(self, index: int) -> str | None: ...

    def encode(self, text: str) -> list[int]: ...

    def encode_array(self, text: str) -> np.ndarray: ...

    def encode_batch(self, texts: list[str]) -> list[np.ndarray]: ...

    def decode(self, ids: Iterable[int]) -> str: ...

    def to_dict(self) -> dict[str, Any]: ...

    def save(self, path: str | Path) -> None: ...


class CharTokenizer:
    """Maps characters to ids; ``pad_id`` = 0 and ``unk_id`` = 1 always."""

    pad_id = 0
    unk_id = 1
    kind = "char"
    subword = False  # one token a character: no words to give a word vector

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

    def id_to_token(self, index: int) -> str | None:
        if 0 <= index < 2:
            return (PAD, UNK)[index]
        return self.chars[index - 2] if 2 <= index < self.vocab_size else None

    def encode(self, text: str) -> list[int]:
        return self.encode_array(text).tolist()

    def encode_batch(self, texts: list[str]) -> list[np.ndarray]:
        return [self.encode_array(t) for t in texts]

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


class SubwordTokenizer(SpellingMixin):
    """Byte-level BPE from Hugging Face ``tokenizers``; every string encodes, none is unknown."""

    pad_id = 0
    unk_id = 1
    kind = "bpe"
    subword = True

    def __init__(self, tokenizer: Any, speller: Speller | None = None):
        self._tokenizer, self.speller = tokenizer, speller
        if tokenizer.token_to_id(PAD) != self.pad_id or tokenizer.token_to_id(UNK) != self.unk_id:
            raise TokenizerError("a subword tokenizer needs <pad> as id 0 and <unk> as id 1")

    @classmethod
    def build(cls, texts: Iterable[str], vocab_size: int = 8000) -> SubwordTokenizer:
        """Train byte-level BPE with ``vocab_size`` tokens (specials included) on ``texts``."""
        from tokenizers import Tokenizer, decoders, models, normalizers, pre_tokenizers, trainers

        tokenizer = Tokenizer(models.BPE(unk_token=UNK))
        tokenizer.normalizer = normalizers.NFC()
        # No prefix space, so decode(encode(text)) == text for NFC text.
        tokenizer.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
        tokenizer.decoder = decoders.ByteLevel()
        trainer = trainers.BpeTrainer(
            vocab_size=vocab_size,
            special_tokens=[PAD, UNK],
            initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
            show_progress=False,
        )
        seen = 0

        def non_empty() -> Iterator[str]:  # a generator, so a corpus read from disk is never all in memory
            nonlocal seen
            for text in texts:
                if text:
                    seen += 1
                    yield text

        tokenizer.train_from_iterator(non_empty(), trainer)
        if not seen:
            raise TokenizerError("cannot build a vocabulary from empty text; check the dataset and --text-column")
        return cls(tokenizer)

    @property
    def vocab_size(self) -> int:
        return self._tokenizer.get_vocab_size()

    @property
    def special_ids(self) -> list[int]:
        return [self.pad_id, self.unk_id]

    def id_to_token(self, index: int) -> str | None:
        return self._tokenizer.id_to_token(index)

    def with_speller(self, speller: Speller | None) -> SubwordTokenizer:
        """The same vocabulary, correcting misspelt words with ``speller`` (None: not correcting)."""
        return SubwordTokenizer(self._tokenizer, speller)

    def encode(self, text: str) -> list[int]:
        return self._tokenizer.encode(self._spelt(text)).ids

    def encode_array(self, text: str) -> np.ndarray:
        return np.asarray(self.encode(text), dtype=np.int64)

    def encode_batch(self, texts: list[str]) -> list[np.ndarray]:
        return [np.asarray(e.ids, dtype=np.int64) for e in self._tokenizer.encode_batch([self._spelt(t) for t in texts])]

    def decode(self, ids: Iterable[int]) -> str:
        return self._tokenizer.decode([int(i) for i in ids], skip_special_tokens=True)

    def to_dict(self) -> dict[str, Any]:
        return self._with_spelling({"type": "bpe"})

    def save(self, path: str | Path) -> None:
        Path(path).write_text(json.dumps(self.to_dict(), ensure_ascii=False), encoding="utf-8")

    def __eq__(self, other: object) -> bool:
        return isinstance(other, SubwordTokenizer) and other.to_dict() == self.to_dict()


class PretrainedTokenizer(SpellingMixin):
    """A pretrained model's own subword vocabulary (a teacher's WordPiece), read from its ``tokenizer.json``.

    The ids are the pretrained model's, so a student can start from the teacher's embedding table;
    padding and unknown are wherever that vocabulary has them. Texts encode without the special
    tokens ([CLS], [SEP]) that only a transformer reads. With a ``speller`` (:mod:`nlp_lstm.spelling`),
    misspelt words are put right before they are split into pieces.
    """

    kind = "wordpiece"
    subword = True

    def __init__(self, tokenizer: Any, pad_id: int, speller: Speller | None = None):
        tokenizer.no_truncation()
        tokenizer.no_padding()
        self._tokenizer, self.pad_id, self.speller = tokenizer, pad_id, speller
        unk = getattr(tokenizer.model, "unk_token", None)
        self.unk_id = tokenizer.token_to_id(unk) if unk is not None else pad_id
        if self.unk_id is None or not 0 <= pad_id < tokenizer.get_vocab_size():
            raise TokenizerError("a pretrained tokenizer needs its padding and unknown tokens in its vocabulary")

    @classmethod
    def from_file(cls, path: str | Path, pad_id: int) -> PretrainedTokenizer:
        from tokenizers import Tokenizer

        try:
            return cls(Tokenizer.from_file(str(path)), pad_id)
        except Exception as error:  # tokenizers raises its own exception type for malformed JSON
            raise TokenizerError(f"{path}: not a tokenizer.json ({error})") from None

    @property
    def vocab_size(self) -> int:
        return self._tokenizer.get_vocab_size()

    @property
    def special_ids(self) -> list[int]:
        return sorted({self.pad_id, self.unk_id})

    def with_speller(self, speller: Speller | None) -> PretrainedTokenizer:
        """The same vocabulary, correcting misspelt words with ``speller`` (None: not correcting)."""
        return PretrainedTokenizer(self._tokenizer, self.pad_id, speller)

    def token_to_id(self, token: str) -> int | None:
        return self._tokenizer.token_to_id(token)

    def id_to_token(self, index: int) -> str | None:
        return self._tokenizer.id_to_token(index)

    def encode(self, text: str) -> list[int]:
        return self._tokenizer.encode(self._spelt(text), add_special_tokens=False).ids

    def encode_array(self, text: str) -> np.ndarray:
        return np.asarray(self.encode(text), dtype=np.int64)

    def encode_batch(self, texts: list[str]) -> list[np.ndarray]:
        texts = [self._spelt(text) for text in texts]
        return [np.asarray(e.ids, dtype=np.int64) for e in self._tokenizer.encode_batch(texts, add_special_tokens=False)]

    def encode_with_specials(self, text: str) -> list[int]:
        """Ids as the pretrained model reads them, its special tokens included."""
        return self._tokenizer.encode(self._spelt(text), add_special_tokens=True).ids

    def decode(self, ids: Iterable[int]) -> str:
        return self._tokenizer.decode([int(i) for i in ids], skip_special_tokens=True)

    def save_raw(self, path: str | Path) -> None:
        """The ``tokenizer.json`` of the tokenizers library, as a transformers model directory holds it."""
        self._tokenizer.save(str(path))

    def to_dict(self) -> dict[str, Any]:
        return self._with_spelling({"type": "wordpiece", "pad_id": self.pad_id})

    def save(self, path: str | Path) -> None:
        Path(path).write_text(json.dumps(self.to_dict(), ensure_ascii=False), encoding="utf-8")

    def __eq__(self, other: object) -> bool:
        return isinstance(other, PretrainedTokenizer) and other.to_dict() == self.to_dict()


# One of the classes above: what the functions that make or read a tokenizer return. A function that
# only uses one takes a Tokenizer.
AnyTokenizer = Union[CharTokenizer, SubwordTokenizer, PretrainedTokenizer]
TOKENIZER_KINDS = ("char", "bpe", "wordpiece")


def train_tokenizer(kind: str, texts: list[str], vocab_size: int = 8000) -> AnyTokenizer:
    """A ``char`` or ``bpe`` tokenizer built from ``texts`` (the training split only)."""
    if kind == "char":
        return CharTokenizer.build(texts)
    if kind == "bpe":
        return SubwordTokenizer.build(texts, vocab_size)
    raise TokenizerError(f"unknown tokenizer {kind!r}; choose one of {', '.join(TOKENIZER_KINDS)}")


def tokenizer_from_dict(data: Any) -> AnyTokenizer:
    return _tokenizer_from(data, lambda: json.dumps(data["tokenizer"]))


def _tokenizer_from(data: Any, inner_json: Callable[[], str]) -> AnyTokenizer:
    """The tokenizer ``data`` describes; a subword one is built from the text of its ``"tokenizer"`` object, ``inner_json()``."""
    kind = data.get("type") if isinstance(data, dict) else None
    if kind == "char":
        if data.get("specials") != [PAD, UNK] or not isinstance(data.get("chars"), list):
            raise TokenizerError("malformed character tokenizer: expected 'specials' [<pad>, <unk>] and a 'chars' list")
        return CharTokenizer(data["chars"])
    if kind == "bpe":
        from tokenizers import Tokenizer

        try:
            bpe = SubwordTokenizer(Tokenizer.from_str(inner_json()))
        except Exception as error:  # tokenizers raises its own exception type for malformed JSON
            raise TokenizerError(f"malformed subword tokenizer ({error})") from None
        return _spelling_from(data, bpe)
    if kind == "wordpiece" and isinstance(data.get("pad_id"), int):
        from tokenizers import Tokenizer

        try:
            wordpiece = PretrainedTokenizer(Tokenizer.from_str(inner_json()), data["pad_id"])
        except Exception as error:  # tokenizers raises its own exception type for malformed JSON
            raise TokenizerError(f"malformed pretrained tokenizer ({error})") from None
        return _spelling_from(data, wordpiece)
    found = kind if kind is not None else type(data).__name__
    raise TokenizerError(f"unknown tokenizer type {found!r}; this version reads {', '.join(TOKENIZER_KINDS)}")


def _spelling_from(data: dict[str, Any], tokenizer: SubwordTokenizer | PretrainedTokenizer) -> Any:
    """``tokenizer`` with the speller ``data`` holds, if it holds one."""
    if "spelling" not in data:
        return tokenizer
    try:
        return tokenizer.with_speller(Speller.from_dict(data["spelling"], tokenizer.whole_words()))
    except SpellingError as error:
        raise TokenizerError(str(error)) from None


def with_newline(tokenizer: Tokenizer) -> Tokenizer:
    """``tokenizer`` able to encode a newline.

    A language model reads its texts as one stream with a newline between each two
    (``batching.encode_stream``), which is how the lines of a text file come back to what is on disk:
    its vocabulary needs the newline even where no single text holds one. Byte-level BPE has it.
    """
    if isinstance(tokenizer, CharTokenizer) and "\n" not in tokenizer.chars:
        return CharTokenizer([*tokenizer.chars, "\n"])
    return tokenizer


def load_tokenizer(path: str | Path) -> AnyTokenizer:
    """The tokenizer saved at ``path``: parsed once where it can be (:func:`_parsed_once`), else strictly, naming any fault."""
    parsed = _parsed_once(Path(path))
    if parsed is not None:
        return parsed
    try:
        data = read_json_file(Path(path), "tokenizer file")
    except UnreadableFile as error:
        raise TokenizerError(str(error)) from None
    return tokenizer_from_dict(data)


def _parsed_once(path: Path) -> AnyTokenizer | None:
    """The tokenizer at ``path`` with its ``"tokenizer"`` object handed to ``tokenizers`` as the file's own text.

    Parsing that object in Python, writing it out and parsing it again cost 0.05 s of every load of a
    30,000-token vocabulary. Here Python parses the small keys before it and ``tokenizers`` the rest,
    which it accepts only as exactly one JSON value, so this works where the object is the last key (as
    :meth:`save` writes it). Any other file, or any fault, gives None: the strict path then reads the
    file as before and names the fault in its own words.
    """
    try:
        check_regular_file(path, "tokenizer file", JSON_LIMIT)
        with open(path, "rb") as handle:
            text = handle.read(JSON_LIMIT + 1).decode("utf-8")
        head, inner = _split_last_value(text, "tokenizer")
        return tokenizer_from_dict(head) if inner is None else _tokenizer_from(head, lambda: inner)
    except (OSError, UnreadableFile, ValueError, RecursionError, TokenizerError):
        return None


_WHITESPACE = re.compile(r"[ \t\n\r]*")  # JSON's four
_DECODER = json.JSONDecoder()


def _split_last_value(text: str, last: str) -> tuple[dict[str, Any], str | None]:
    """The JSON object ``text`` as its keys before ``last`` and the text of ``last``'s value (up to the final
    brace), or, with no key ``last``, all its keys and None. ValueError where ``text`` is not a JSON object."""
    index = _WHITESPACE.match(text).end()
    if not text.startswith("{", index):
        raise ValueError("not an object")
    head: dict[str, Any] = {}
    index = _WHITESPACE.match(text, index + 1).end()
    done = text.startswith("}", index)  # an empty object
    while not done:
        if not text.startswith('"', index):
            raise ValueError("expected a key")
        key, index = json.decoder.scanstring(text, index + 1)
        index = _WHITESPACE.match(text, index).end()
        if not text.startswith(":", index):
            raise ValueError("expected ':'")
        index = _WHITESPACE.match(text, index + 1).end()
        if key == last:
            end = len(text.rstrip(" \t\n\r"))
            if not text.endswith("}", index, end):
                raise ValueError("expected '}'")
            return head, text[index : end - 1]
        head[key], index = _DECODER.raw_decode(text, index)
        index = _WHITESPACE.match(text, index).end()
        done = text.startswith("}", index)
        if not done:
            if not text.startswith(",", index):
                raise ValueError("expected ',' or '}'")
            index = _WHITESPACE.match(text, index + 1).end()
    if text[index + 1 :].strip(" \t\n\r"):
        raise ValueError("extra data")
    return head, None
