"""The changes the invariance and direction tests make to real texts: typos, contractions, punctuation, added
words, changed names, places and numbers (the perturbations of Ribeiro et al. 2020, section 2).

Each function takes a text, a seeded ``random.Random`` and a word list, and returns the changed text, or
None where the change does not apply to that text (no name to change, no contraction to expand).
"""

from __future__ import annotations

import random
import re
from collections.abc import Callable, Sequence

Perturbation = Callable[[str, random.Random, Sequence[str]], "str | None"]
LONG_WORD = re.compile(r"\b[a-z]{4,}\b", re.IGNORECASE)
FINAL_PUNCTUATION = re.compile(r"\s*[.!?]+\s*$")
# A count, never part of a rating ("7/10") or a word ("21st"), whose change could change the sentiment.
NUMBER = re.compile(r"(?<![/\d.])\b\d+\b(?![/.]\d)(?!\s*/)")


def delete_character(text: str, rng: random.Random, words: Sequence[str] = ()) -> str | None:
    """One inner letter of one word of four letters or more left out."""
    matches = list(LONG_WORD.finditer(text))
    if not matches:
        return None
    match = rng.choice(matches)
    at = match.start() + rng.randrange(1, len(match.group()) - 1)
    return text[:at] + text[at + 1 :]


def swap_characters(text: str, rng: random.Random, words: Sequence[str] = ()) -> str | None:
    """Two neighbouring inner letters of one word swapped (CheckList's typo)."""
    candidates = [
        match.start() + i
        for match in LONG_WORD.finditer(text)
        for i in range(1, len(match.group()) - 2)
        if match.group()[i] != match.group()[i + 1]
    ]
    if not candidates:
        return None
    at = rng.choice(candidates)
    return text[:at] + text[at + 1] + text[at] + text[at + 2 :]


def _replace_pair(text: str, rng: random.Random, pairs: Sequence[str], forward: bool) -> str | None:
    """One of the ``long|short`` pairs found in the text, replaced by its other form."""
    options = []
    for pair in pairs:
        long, short = pair.split("|")
        old, new = (long, short) if forward else (short, long)
        options += [(match, new) for match in re.finditer(rf"\b{re.escape(old)}\b", text, re.IGNORECASE)]
    if not options:
        return None
    match, new = rng.choice(options)
    new = new[:1].upper() + new[1:] if match.group()[:1].isupper() else new
    return text[: match.start()] + new + text[match.end() :]


def contract(text: str, rng: random.Random, words: Sequence[str]) -> str | None:
    """'do not' -> "don't", for one pair of the list found in the text."""
    return _replace_pair(text, rng, words, forward=True)


def expand(text: str, rng: random.Random, words: Sequence[str]) -> str | None:
    """The reverse: "don't" -> 'do not', for one pair of the list found in the text."""
    return _replace_pair(text, rng, words, forward=False)


def exclaim(text: str, rng: random.Random, words: Sequence[str] = ()) -> str | None:
    """The text ending in '!' instead of its final punctuation."""
    if text.rstrip().endswith("!"):
        return None
    return FINAL_PUNCTUATION.sub("", text) + " !"


def strip_final_punctuation(text: str, rng: random.Random, words: Sequence[str] = ()) -> str | None:
    stripped = FINAL_PUNCTUATION.sub("", text)
    return stripped if stripped != text and stripped else None


def append(text: str, rng: random.Random, words: Sequence[str]) -> str | None:
    return f"{text} {rng.choice(words)}"


def prepend(text: str, rng: random.Random, words: Sequence[str]) -> str | None:
    return f"{rng.choice(words)} {text}"


def replace_word(text: str, rng: random.Random, words: Sequence[str]) -> str | None:
    """One word of the list found in the text (a name, a place) replaced by another word of the list."""
    pattern = r"\b(" + "|".join(re.escape(w) for w in sorted(words, key=len, reverse=True)) + r")\b"
    matches = list(re.finditer(pattern, text, re.IGNORECASE))
    if not matches:
        return None
    match = rng.choice(matches)
    new = rng.choice([w for w in words if w.lower() != match.group().lower()])
    new = new.capitalize() if match.group()[:1].isupper() else new.lower()
    return text[: match.start()] + new + text[match.end() :]


def _change_number(text: str, rng: random.Random, change: Callable[[int], int]) -> str | None:
    matches = list(NUMBER.finditer(text))
    if not matches:
        return None
    match = rng.choice(matches)
    return text[: match.start()] + str(change(int(match.group()))) + text[match.end() :]


def nudge_number(text: str, rng: random.Random, words: Sequence[str] = ()) -> str | None:
    """A number moved by 1 to 5 (never below zero)."""
    return _change_number(text, rng, lambda n: n + rng.randint(1, 5) if n < 5 or rng.random() < 0.5 else n - rng.randint(1, 5))


def replace_number(text: str, rng: random.Random, words: Sequence[str] = ()) -> str | None:
    """A number replaced by another with as many digits."""

    def other(n: int) -> int:
        digits = len(str(n))
        low, high = (0, 9) if digits == 1 else (10 ** (digits - 1), 10**digits - 1)
        return rng.choice([v for v in (rng.randint(low, high) for _ in range(4)) if v != n] or [n + 1])

    return _change_number(text, rng, other)


PERTURBATIONS: dict[str, Perturbation] = {
    function.__name__: function
    for function in (
        delete_character,
        swap_characters,
        contract,
        expand,
        exclaim,
        strip_final_punctuation,
        append,
        prepend,
        replace_word,
        nudge_number,
        replace_number,
    )
}
