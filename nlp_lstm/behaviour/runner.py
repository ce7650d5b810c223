"""The behavioural suite run over a classifier (``nlp_lstm.evaluate_behaviour``) or over any scorer of texts.

Templated tests come from the suite's templates; invariance and direction tests change real texts: a
fixed, seeded sample of Rotten Tomatoes sentences, from our validation split for the dev half and our
test split for the test half (``builtin:rotten_tomatoes``, which ships with the package, so the suite
runs offline). Every distinct text is scored once.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from functools import lru_cache
from typing import Any

import numpy as np

from nlp_lstm import tasks
from nlp_lstm.arguments import check_model
from nlp_lstm.behaviour.perturb import PERTURBATIONS
from nlp_lstm.behaviour.scoring import NEUTRAL_BAND, TOLERANCE, mft_failures, pair_failures
from nlp_lstm.behaviour.suite import Suite, Template, check_split, expand, load_suite
from nlp_lstm.checkpoint import ModelBundle
from nlp_lstm.data.sources import load_labelled_splits
from nlp_lstm.errors import UsageError
from nlp_lstm.prediction import classify

BASE_DATASET = "builtin:rotten_tomatoes"
BASE_SPLIT = {"dev": "validation", "test": "test"}
MAX_CHANGED = 200  # real texts changed per template
EXAMPLES = 3  # failures kept per test
Scorer = Callable[[list[str]], np.ndarray]  # texts -> probability of the positive class, one per text


@dataclass
class TestResult:
    name: str
    capability: str
    kind: str
    templates: int
    cases: int
    failures: int
    examples: list[dict[str, Any]] = field(default_factory=list)  # the first failures: text, expected, p_positive, ...

    @property
    def failure_rate(self) -> float:
        return self.failures / self.cases if self.cases else 0.0


@dataclass
class BehaviourResult:
    """Failure rates of one half of a suite: per test, per capability (cases pooled) and overall."""

    suite: str
    split: str
    tests: list[TestResult]
    base_texts: str
    neutral_band: tuple[float, float] = NEUTRAL_BAND
    tolerance: float = TOLERANCE

    def capabilities(self) -> dict[str, dict[str, Any]]:
        pooled: dict[str, dict[str, Any]] = {}
        for test in self.tests:
            entry = pooled.setdefault(test.capability, {"tests": 0, "cases": 0, "failures": 0})
            entry["tests"] += 1
            entry["cases"] += test.cases
            entry["failures"] += test.failures
        for entry in pooled.values():
            entry["failure_rate"] = entry["failures"] / entry["cases"] if entry["cases"] else 0.0
        return pooled

    def to_dict(self) -> dict[str, Any]:
        cases, failures = sum(t.cases for t in self.tests), sum(t.failures for t in self.tests)
        return {
            "suite": self.suite,
            "split": self.split,
            "base_texts": self.base_texts,
            "neutral_band": list(self.neutral_band),
            "tolerance": self.tolerance,
            "cases": cases,
            "failures": failures,
            "failure_rate": failures / cases if cases else 0.0,
            "capabilities": self.capabilities(),
            "tests": [{**asdict(t), "failure_rate": t.failure_rate} for t in self.tests],
        }


def evaluate_behaviour(
    saved: ModelBundle, split: str = "test", suite: str = "behaviour", batch_size: int = 64
) -> BehaviourResult:
    """Failure rates of ``saved`` (a two-class classifier with labels negative and positive) on one half of
    the behavioural suite: ``test`` to report, ``dev`` to tune on."""
    check_model(saved, tasks.CLASSIFIER, "evaluate_behaviour")
    if sorted(saved.labels or []) != ["negative", "positive"]:
        raise UsageError(
            f"the behaviour suite tests sentiment models with the labels negative and positive; this model's are {saved.labels}"
        )

    def score(texts: list[str]) -> np.ndarray:
        return np.array([p.probabilities["positive"] for p in classify(saved, texts, batch_size)])

    return run_suite(score, split, suite)


def run_suite(score: Scorer, split: str = "test", suite: str = "behaviour") -> BehaviourResult:
    """One half of a suite over any scorer: ``score(texts)`` gives each text's positive-class probability."""
    check_split(split)
    loaded = load_suite(suite)
    cases = {template: template_cases(loaded, template) for template in loaded.half(split)}
    texts = list(dict.fromkeys(text for pairs in cases.values() for pair in pairs for text in pair if text is not None))
    p = dict(zip(texts, np.asarray(score(texts), dtype=float)))
    tests: dict[str, TestResult] = {}
    for template, pairs in cases.items():
        result = tests.setdefault(template.test, TestResult(template.test, template.capability, template.kind, 0, 0, 0))
        failed = template_failures(template, pairs, p)
        result.templates += 1
        result.cases += len(pairs)
        result.failures += int(failed.sum())
        for index in np.flatnonzero(failed)[: EXAMPLES - len(result.examples)]:
            result.examples.append(example(template, pairs[index], p))
    return BehaviourResult(loaded.name, split, list(tests.values()), f"{BASE_DATASET}, our {BASE_SPLIT[split]} split")


def template_cases(suite: Suite, template: Template) -> list[tuple[str, str | None]]:
    """The (text, changed text) pairs of a template; the changed text is None for an mft case."""
    if template.perturbation is None:
        return expand(template, suite.words)
    words = suite.words.get(template.words or "", ())
    rng = random.Random(f"{template.test}|{template.description}|{template.split}")
    pairs = []
    for text in rng.sample(base_texts(template.split), len(base_texts(template.split))):
        changed = PERTURBATIONS[template.perturbation](text, rng, words)
        if changed is not None and changed != text:
            pairs.append((text, changed))
            if len(pairs) == MAX_CHANGED:
                break
    return pairs


@lru_cache(maxsize=2)
def base_texts(split: str) -> list[str]:
    return list(load_labelled_splits(BASE_DATASET).get(BASE_SPLIT[split]).texts)


def template_failures(template: Template, pairs: list[tuple[str, str | None]], p: dict[str, float]) -> np.ndarray:
    if not pairs:
        return np.zeros(0, dtype=bool)
    original = np.array([p[text] for text, _ in pairs])
    if template.kind == "mft":
        return mft_failures(original, template.expect)
    return pair_failures(original, np.array([p[changed] for _, changed in pairs]), template.expect)


def example(template: Template, pair: tuple[str, str | None], p: dict[str, float]) -> dict[str, Any]:
    text, changed = pair
    if changed is None:
        return {"text": text, "expected": template.expect, "p_positive": round(float(p[text]), 4)}
    return {
        "text": changed,
        "original": text,
        "expected": template.expect,
        "p_positive": round(float(p[changed]), 4),
        "p_original": round(float(p[text]), 4),
    }
