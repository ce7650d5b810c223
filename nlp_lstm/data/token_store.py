"""Token ids of a split, encoded once per tokenizer and kept on disk, memory-mapped.

Two costs grow with a corpus: encoding it (byte-level BPE runs at a few MB/s) and holding
its ids (eight bytes a token as int64). Here the ids of a split are encoded chunk by chunk
and written to a flat binary file (little-endian uint16 when the vocabulary fits, else
int32; the type is in the file name), keyed by
a hash of the texts and of the tokenizer, then memory-mapped back. A second run on the same
data with the same tokenizer skips the encoding, and a run reads pages of the file as it
goes instead of holding the stream in its own memory, so memory stays flat as the corpus
grows (``benchmarks/memory.py`` measures it).

A language-model stream is one array: the texts joined by a newline, as ``encode_stream``
always read them. Classifier rows are two arrays, the ids of all rows end to end and the
offsets where each row starts (the layout of an Arrow list column), so a row is a view.

The store lives in the cache folder (``cache.py``: ``$NLP_LSTM_CACHE``, default
``~/.cache/nlp_lstm``; ``NLP_LSTM_CACHE=off`` turns it off). When the directory cannot be
written, the ids stay in memory and training goes on: a cache must never be the reason a run fails.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path

import numpy as np

from nlp_lstm.cache import cache_root, write_atomically
from nlp_lstm.tokenizer import AnyTokenizer, Tokenizer, TokenizerError, tokenizer_from_dict, train_tokenizer

STORE_FORMAT = 1  # part of every key: bump it when the layout or the encoding rules change
CHUNK_CHARS = 4_000_000  # characters encoded at a time: bounds the memory of encoding, not its result
ROWS_PER_CHUNK = 2_000  # classifier texts encoded at a time


def tokenizer_key(tokenizer: Tokenizer) -> str:
    return hashlib.blake2b(json.dumps(tokenizer.to_dict(), sort_keys=True).encode(), digest_size=16).hexdigest()


def store_dtype(tokenizer: Tokenizer) -> np.dtype:
    """Little-endian, so a store file means the same on every machine."""
    return np.dtype("<u2") if tokenizer.vocab_size <= np.iinfo(np.uint16).max + 1 else np.dtype("<i4")


def _text_chunks(texts: Iterable[str]) -> Iterator[str]:
    """The texts joined by newlines, in pieces of at most ``CHUNK_CHARS`` characters.

    A text too long for the current piece is cut after a newline (else a space) near the
    limit, so even one huge document is encoded a piece at a time. A character vocabulary
    gives the same ids either way; byte-level BPE starts afresh after a newline, so the cut
    changes nothing there either, save inside runs of several whitespace characters.
    """
    pending: list[str] = []
    size = 0
    for index, text in enumerate(texts):
        if index:
            if size >= CHUNK_CHARS:
                yield "".join(pending)
                pending, size = [], 0
            pending.append("\n")
            size += 1
        start = 0
        while len(text) - start > CHUNK_CHARS - size:
            if size < CHUNK_CHARS:  # fill the piece with as much of the text as fits
                cut = _cut_point(text, start, start + CHUNK_CHARS - size)
                pending.append(text[start:cut])
                start = cut
            yield "".join(pending)
            pending, size = [], 0
        if start < len(text):
            pending.append(text[start:] if start else text)
            size += len(text) - start
    if pending:
        yield "".join(pending)


def _cut_point(text: str, start: int, limit: int) -> int:
    """Where a piece of ``text[start:limit]`` ends: after its last newline, else its last space, else at ``limit``."""
    for mark in ("\n", " "):
        at = text.rfind(mark, start, limit)
        if at > start:
            return at + 1
    return limit


def _content_key(label: str, texts: Iterable[str]) -> str:
    """A hash of ``texts`` and of ``label``, which names everything else the stored result depends on."""
    digest = hashlib.blake2b(f"{STORE_FORMAT}|{label}|".encode(), digest_size=20)
    for text in texts:
        data = text.encode("utf-8", "surrogatepass")
        digest.update(len(data).to_bytes(8, "little"))  # lengths keep ["ab", "c"] and ["a", "bc"] apart
        digest.update(data)
    return digest.hexdigest()


def _open(path: Path, dtype: np.dtype) -> np.ndarray:
    if path.stat().st_size == 0:  # an empty file cannot be memory-mapped
        return np.zeros(0, dtype=dtype)
    # Copy-on-write: torch.from_numpy wants a writable array, and nothing may reach the file.
    return np.memmap(path, dtype=dtype, mode="c")


def _encoded_chunks(texts: Iterable[str], tokenizer: Tokenizer) -> Iterator[np.ndarray]:
    for chunk in _text_chunks(texts):
        yield tokenizer.encode_array(chunk)


def _as_bytes(parts: Iterable[np.ndarray], dtype: np.dtype) -> Iterator[bytes]:
    for part in parts:
        yield np.ascontiguousarray(part, dtype=dtype).tobytes()


def stream_ids(texts: Iterable[str], tokenizer: Tokenizer) -> np.ndarray:
    """All ``texts`` joined by newlines, as ids: memory-mapped from the store, encoded into it on first use.

    ``texts`` is read twice on a first use (to hash it, then to encode it), once afterwards.
    For a character vocabulary the ids equal those of one whole-string encode; a subword
    vocabulary is applied per piece of at most ``CHUNK_CHARS`` characters (see ``_text_chunks``).
    """
    dtype = store_dtype(tokenizer)
    root = cache_root()
    if root is None:
        return _in_memory(texts, tokenizer, dtype)
    path = root / "streams" / f"{_content_key(f'stream {tokenizer_key(tokenizer)}', texts)}.{dtype.str[1:]}"
    if not path.is_file():
        try:
            write_atomically(path, _as_bytes(_encoded_chunks(texts, tokenizer), dtype))
        except OSError:  # read-only home, full disk: encode in memory instead
            return _in_memory(texts, tokenizer, dtype)
    return _open(path, dtype)


def _in_memory(texts: Iterable[str], tokenizer: Tokenizer, dtype: np.dtype) -> np.ndarray:
    parts = list(_encoded_chunks(texts, tokenizer))
    return np.concatenate(parts).astype(dtype) if parts else np.zeros(0, dtype=dtype)


def row_ids(
    texts: list[str], tokenizer: Tokenizer, encode: Callable[[list[str]], list[np.ndarray]], variant: str = ""
) -> list[np.ndarray]:
    """``encode(texts)``, one id array per text, kept in the store; ``variant`` names what else shapes the result.

    ``encode`` must be a pure function of the texts, the tokenizer and ``variant`` (say, a
    length limit), or a stored result would be reused for a different one.
    """
    dtype = store_dtype(tokenizer)
    root = cache_root()
    if root is None:
        return encode(texts)
    key = _content_key(f"rows {tokenizer_key(tokenizer)} {variant}", texts)
    values_path = root / "rows" / f"{key}.{dtype.str[1:]}"
    offsets_path = root / "rows" / f"{key}.offsets.i8"  # written last: its presence marks a complete entry
    if not offsets_path.is_file():
        lengths: list[int] = []

        def parts() -> Iterator[np.ndarray]:
            for start in range(0, len(texts), ROWS_PER_CHUNK):
                for ids in encode(texts[start : start + ROWS_PER_CHUNK]):
                    lengths.append(len(ids))
                    yield ids

        try:
            write_atomically(values_path, _as_bytes(parts(), dtype))
            offsets = np.concatenate([[0], np.cumsum(lengths, dtype=np.int64)])
            write_atomically(offsets_path, _as_bytes([offsets], np.dtype("<i8")))
        except OSError:
            return encode(texts)
    values, offsets = _open(values_path, dtype), _open(offsets_path, np.dtype("<i8"))
    return [values[offsets[i] : offsets[i + 1]] for i in range(len(offsets) - 1)]


def cached_tokenizer(kind: str, texts: Iterable[str], vocab_size: int) -> AnyTokenizer:
    """``train_tokenizer(kind, texts, vocab_size)``, a BPE vocabulary kept in the store.

    Training BPE takes seconds (8 s for ``builtin:movie_reviews``) and gives the same vocabulary
    for the same texts, so a second run reads it back. Characters are counted afresh: that
    is as quick as reading a stored vocabulary.
    """
    root = cache_root()
    if kind != "bpe" or root is None:
        return train_tokenizer(kind, texts, vocab_size)
    path = root / "tokenizers" / f"{_content_key(f'bpe {vocab_size}', texts)}.json"
    if path.is_file():
        try:
            return tokenizer_from_dict(json.loads(path.read_text(encoding="utf-8")))
        except (OSError, ValueError, TokenizerError):
            pass  # a damaged entry is built again and replaced
    tokenizer = train_tokenizer(kind, texts, vocab_size)
    with contextlib.suppress(OSError):  # unstored, it is built again next time: no reason to fail the run
        write_atomically(path, [json.dumps(tokenizer.to_dict(), ensure_ascii=False).encode("utf-8")])
    return tokenizer
