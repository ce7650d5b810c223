"""The behavioural suite as data: ``suite.json`` read, checked, and its templates expanded into texts.

Nothing here touches a model. Expansion is deterministic: a template's fillings are drawn from the
product of its word lists in an order seeded by the template itself (Python seeds ``random`` from a
string through SHA-512, the same on every machine and run), so a suite gives the same texts everywhere.
Each template belongs to the ``dev`` or the ``test`` half: different templates, not different fillings.
"""

from __future__ import annotations

import json
import math
import random
import re
from dataclasses import dataclass
from pathlib import Path

from nlp_lstm.errors import UsageError

SUITES = {"behaviour": Path(__file__).with_name("suite.json")}
SPLITS = ("dev", "test")
EXPECTATIONS = {
    "mft": ("positive", "negative", "not negative", "not positive", "neutral"),
    "inv": ("same",),
    "dir": ("up", "down"),
}
MAX_FILLINGS = 40  # texts drawn from one template's fillings, so every template weighs about the same
SLOT = re.compile(r"\{([a-z_]+?)(\d*)\}")  # {pos_adj}; {pos_adj2} is a second, different word of the same list
ARTICLE = re.compile(r"\b([Aa]) (?=[aeiouAEIOU])")  # "a excellent" -> "an excellent"


@dataclass(frozen=True)
class Template:
    """One template of one test: a labelled text (mft), a pair of texts (dir) or a change made to real texts."""

    test: str
    capability: str
    kind: str  # mft (minimum functionality), inv (invariance) or dir (direction)
    split: str
    expect: str
    text: str | None = None
    modified: str | None = None  # a dir pair: the text changed, with the same fillings
    perturbation: str | None = None  # a change made to real texts (see perturb.PERTURBATIONS)
    words: str | None = None  # the word list the perturbation draws from

    @property
    def description(self) -> str:
        if self.perturbation is not None:
            return self.perturbation + (f" ({self.words})" if self.words else "")
        return self.text if self.modified is None else f"{self.text} -> {self.modified}"


@dataclass(frozen=True)
class Suite:
    name: str
    words: dict[str, tuple[str, ...]]
    templates: tuple[Template, ...]

    def half(self, split: str) -> list[Template]:
        return [t for t in self.templates if t.split == split]


def check_split(split: str) -> str:
    if split not in SPLITS:
        raise UsageError(f"unknown suite split {split!r}: use dev (to tune on) or test (to report)")
    return split


def load_suite(name: str = "behaviour") -> Suite:
    """The suite called ``name``, read and checked; an unknown name is a UsageError that lists the suites."""
    if name not in SUITES:
        raise UsageError(f"unknown suite {name!r}: the suites are {', '.join(sorted(SUITES))}")
    data = json.loads(SUITES[name].read_text(encoding="utf-8"))
    words = {key: tuple(values) for key, values in data["words"].items()}
    templates = []
    for test in data["tests"]:
        for entry in test["templates"]:
            fields = {key: entry.get(key) for key in ("text", "modified", "perturbation", "words")}
            expect = entry.get("expect", "same" if test["kind"] == "inv" else None)
            template = Template(test["name"], test["capability"], test["kind"], entry["split"], expect, **fields)
            check_template(template, words)
            templates.append(template)
    return Suite(data["name"], words, tuple(templates))


def check_template(template: Template, words: dict[str, tuple[str, ...]]) -> None:
    """A malformed template is a bug in the suite's data: say which one and why."""
    problem = None
    if template.split not in SPLITS or template.kind not in EXPECTATIONS:
        problem = f"split {template.split!r} or kind {template.kind!r} unknown"
    elif template.expect not in EXPECTATIONS[template.kind]:
        problem = f"expectation {template.expect!r} is not one of {EXPECTATIONS[template.kind]}"
    elif (template.text is None) == (template.perturbation is None):
        problem = "needs either a text or a perturbation"
    elif template.words is not None and template.words not in words:
        problem = f"word list {template.words!r} is not in the suite"
    else:
        missing = {s for s in slot_lists(template) if s not in words}
        problem = f"slots {sorted(missing)} name no word list" if missing else None
    if problem:
        raise ValueError(f"suite template {template.description!r} of test {template.test!r}: {problem}")


def slot_lists(template: Template) -> list[str]:
    return [match.group(1) for text in (template.text, template.modified) if text for match in SLOT.finditer(text)]


def expand(template: Template, words: dict[str, tuple[str, ...]], limit: int = MAX_FILLINGS) -> list[tuple[str, str | None]]:
    """Up to ``limit`` (text, modified) pairs of a templated test; ``modified`` is None for an mft template."""
    sources = [s for s in (template.text, template.modified) if s]
    slots = list(dict.fromkeys(m.group(0) for source in sources for m in SLOT.finditer(source)))
    lists = [words[SLOT.fullmatch(slot).group(1)] for slot in slots]
    total = math.prod(len(values) for values in lists)
    order = random.Random(f"{template.test}|{template.description}").sample(range(total), total)
    pairs = []
    for index in order:
        chosen = []
        for values in lists:  # the index in mixed radix: one word of each list
            index, digit = divmod(index, len(values))
            chosen.append(values[digit])
        if not distinct_within_lists(slots, chosen):
            continue
        filling = dict(zip(slots, chosen))
        pairs.append((render(template.text, filling), render(template.modified, filling) if template.modified else None))
        if len(pairs) == limit:
            break
    return pairs


def distinct_within_lists(slots: list[str], chosen: list[str]) -> bool:
    """Two slots of one list ({noun}, {noun2}) must get different words."""
    seen: dict[tuple[str, str], str] = {}
    for slot, word in zip(slots, chosen):
        key = (SLOT.fullmatch(slot).group(1), word)
        if seen.setdefault(key, slot) != slot:
            return False
    return True


def render(text: str, filling: dict[str, str]) -> str:
    text = SLOT.sub(lambda match: filling[match.group(0)], text)
    text = ARTICLE.sub(lambda match: match.group(1) + "n ", text)
    return text[:1].upper() + text[1:]
