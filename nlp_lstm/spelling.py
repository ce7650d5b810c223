"""Misspelt words put right before a text is tokenised: a dictionary lookup after Pruthi et al. 2019
("Combating Adversarial Misspellings with Robust Word Recognition").

A subword vocabulary reads a misspelt word as unrelated pieces ("terrbile" is "terr ##bil ##e"), so one
swapped or dropped letter can take a review's only sentiment word away. A :class:`Speller` replaces a word
it does not know by the most frequent word of its dictionary one edit away (a letter dropped, added,
changed, or two neighbours swapped: Damerau-Levenshtein distance 1), and leaves every other word as it is.

- **Its dictionary** is the words of the model's own training texts that occur at least ``min_count``
  times, with their counts (which pick among candidates), saved with the tokenizer as plain JSON.
- **Known words** are never changed: the dictionary's, the whole words of the tokenizer's vocabulary,
  and a dictionary word of four letters or more with a common ending ("detested" is "detest" + "ed"),
  so a rare but real word is not "corrected" into a frequent one. The stem must be the dictionary's:
  the vocabulary's odd short tokens ("bae") would make "baely" known.
- Words shorter than ``min_length`` letters (3: a dropped letter makes "only" "ony"), and words with a
  letter outside a-z, are left alone: one edit from a two-letter word reaches too many words.

Pure Python and no torch: the exported runtime corrects texts the same way.
"""

from __future__ import annotations

import json
import re
import string
from collections import Counter
from collections.abc import Iterable
from typing import Any

MIN_LENGTH = 3  # 4 in the first spellers (their files say so): 3 put right "ony" and "wll" on the suite's dev typos
MIN_COUNT = 3
MEMO_LIMIT = 100_000  # unknown words remembered; a server reading strangers' texts must not grow without end
WORD = re.compile(r"[^\W\d_]+")  # a run of letters, any script
LETTERS = string.ascii_lowercase
# Endings that make a known word another known word; "ing" and "ed" also after a dropped "e" ("amusing").
ENDINGS = ("s", "es", "ed", "d", "ing", "er", "ers", "est", "ly", "ness")
DROPPED_E = ("ing", "ed", "er", "est")


class SpellingError(ValueError):
    """A speller's JSON is not what :meth:`Speller.to_dict` writes."""


def one_edit(word: str) -> set[str]:
    """Every string one edit from ``word``: a letter dropped, added or changed, or two neighbours swapped."""
    edits = set()
    for i in range(len(word) + 1):
        head, tail = word[:i], word[i:]
        if tail:
            edits.add(head + tail[1:])
            edits.update(head + c + tail[1:] for c in LETTERS)
        if len(tail) > 1:
            edits.add(head + tail[1] + tail[0] + tail[2:])
        edits.update(head + c + tail for c in LETTERS)
    edits.discard(word)
    return edits


def vocabulary_words(tokens: Iterable[str]) -> list[str]:
    """The words a subword vocabulary holds whole: WordPiece tokens that are not ``##`` pieces, byte-level BPE
    tokens with or without their space mark (``Ġ``), lower-cased, letters a-z only."""
    words = (token[1:] if token.startswith("\u0120") else token for token in tokens if not token.startswith("##"))
    return sorted({word.lower() for word in words if word.isascii() and word.isalpha()})


def words_of(text: str) -> list[str]:
    """The lower-case words of ``text`` as the speller sees them (runs of letters)."""
    return WORD.findall(text.lower())


class Speller:
    """Corrects words one edit from a word of ``counts``; ``vocabulary`` adds words it knows but never suggests."""

    def __init__(
        self, counts: dict[str, int], vocabulary: Iterable[str] = (), min_length: int = MIN_LENGTH, memo_limit: int = MEMO_LIMIT
    ):
        self.counts, self.min_length, self.memo_limit = dict(counts), min_length, memo_limit
        self.known = set(self.counts).union(word for word in vocabulary if word.isascii() and word.isalpha())
        self._memo: dict[str, str] = {}

    @classmethod
    def build(cls, texts: Iterable[str], vocabulary: Iterable[str] = (), min_count: int = MIN_COUNT) -> Speller:
        """A speller whose dictionary is the words of ``texts`` seen at least ``min_count`` times."""
        counts = Counter(word for text in texts for word in words_of(text) if word.isascii())
        return cls({word: n for word, n in counts.items() if n >= min_count}, vocabulary)

    def is_known(self, word: str) -> bool:
        if word in self.known:
            return True
        for ending in ENDINGS:
            stem = word[: -len(ending)]
            stems = (stem, stem + "e") if ending in DROPPED_E else (stem,)
            if word.endswith(ending) and len(stem) >= 4 and any(s in self.counts for s in stems):
                return True
        return False

    def correct_word(self, word: str) -> str:
        """``word`` itself, or the most frequent dictionary word one edit away when ``word`` is unknown."""
        lower = word.lower()
        if len(lower) < self.min_length or not lower.isascii() or lower in self.known:
            return word
        if lower not in self._memo:
            if len(self._memo) >= self.memo_limit:
                self._memo.clear()
            best = lower
            if not self.is_known(lower):
                candidates = [c for c in one_edit(lower) if c in self.counts]
                if candidates:
                    best = max(candidates, key=lambda c: (self.counts[c], c))  # the tie broken by the word, so runs agree
            self._memo[lower] = best
        best = self._memo[lower]
        if best == lower:
            return word
        return best.upper() if word.isupper() else best.capitalize() if word[:1].isupper() else best

    def correct(self, text: str) -> str:
        return WORD.sub(lambda match: self.correct_word(match.group()), text)

    def to_dict(self) -> dict[str, Any]:
        """The dictionary, most frequent first: what a model directory stores (the vocabulary is the tokenizer's)."""
        ordered = sorted(self.counts.items(), key=lambda item: (-item[1], item[0]))
        return {"min_length": self.min_length, "words": [word for word, _ in ordered], "counts": [n for _, n in ordered]}

    @classmethod
    def from_dict(cls, data: Any, vocabulary: Iterable[str] = ()) -> Speller:
        words = data.get("words") if isinstance(data, dict) else None
        counts = data.get("counts") if isinstance(data, dict) else None
        min_length = data.get("min_length") if isinstance(data, dict) else None
        if (
            not isinstance(words, list)
            or not isinstance(counts, list)
            or len(words) != len(counts)
            or not isinstance(min_length, int)
            or isinstance(min_length, bool)
            or not 1 <= min_length <= 64
            or not all(isinstance(w, str) for w in words)
            or not all(isinstance(n, int) and not isinstance(n, bool) and n > 0 for n in counts)
        ):
            raise SpellingError("malformed speller: expected a min_length from 1 to 64 and equal 'words' and 'counts' lists")
        return cls(dict(zip(words, counts)), vocabulary, min_length)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Speller) and (other.counts, other.known, other.min_length) == (
            self.counts,
            self.known,
            self.min_length,
        )


class SpellingMixin:
    """What a subword tokenizer with an optional speller (:mod:`nlp_lstm.spelling`) shares: misspelt words are put
    right before a text is split into pieces. A classifier's option (``--speller``): a language model never has one,
    since decoding must give back the text it read."""

    _tokenizer: Any
    speller: Speller | None = None

    def whole_words(self) -> list[str]:
        """The words the vocabulary holds whole: those a speller knows without counting them."""
        return vocabulary_words(self._tokenizer.get_vocab())

    def _spelt(self, text: str) -> str:
        return text if self.speller is None else self.speller.correct(text)

    def _with_spelling(self, data: dict[str, Any]) -> dict[str, Any]:
        """``data`` (a to_dict without its ``"tokenizer"``) with the speller's dictionary and then the tokenizer, kept
        last: ``tokenizer._parsed_once`` hands that key's text to tokenizers without a second parse."""
        spelling = {} if self.speller is None else {"spelling": self.speller.to_dict()}
        return {**data, **spelling, "tokenizer": json.loads(self._tokenizer.to_str())}
