"""The student's transfer-set augmentation (issue 28 item 3): seeded, labelled as built, apart from the suite."""

from __future__ import annotations

import random
import re

from nlp_lstm import augmentation
from nlp_lstm.augmentation import LEANS_POSITIVE, NEGATIVE, POSITIVE, TEMPLATES, WORDS
from nlp_lstm.behaviour.suite import load_suite

TEXTS = [
    "It is not a great film, but the 2 leads are charming and I'm glad I saw it.",
    "Tom Hanks is wonderful in a story that does not know where to go.",
    "A dull, plodding thriller that was not worth the 12 dollars.",
    "The cast is superb and the script is sharp.",
    "Paris looks lovely; the plot is another matter.",
]
SENTIMENT_LISTS = ("pos", "neg", "pos_did", "neg_did", "pos_do", "neg_do")
NEGATION = re.compile(r"\b(not|never|nobody|no|isn't|wasn't|don't|doesn't|didn't|can't|won't)\b|not at all", re.IGNORECASE)


def skeleton(text: str) -> str:
    """A template with its slot names dropped: 'The {thing} was {pos}.' -> 'the {} was {}.'"""
    return re.sub(r"\{[a-z_]+\d*\}", "{}", text).lower()


def test_everything_is_the_same_with_the_same_seed_and_changes_with_another():
    assert augmentation.templated(60, 3) == augmentation.templated(60, 3)
    assert augmentation.templated(60, 3) != augmentation.templated(60, 4)
    assert augmentation.invariance_copies(TEXTS, 40, 3) == augmentation.invariance_copies(TEXTS, 40, 3)
    assert augmentation.invariance_copies(TEXTS, 40, 3) != augmentation.invariance_copies(TEXTS, 40, 4)
    assert augmentation.tang_copies(TEXTS, 40, 3, "[MASK]") == augmentation.tang_copies(TEXTS, 40, 3, "[MASK]")


def test_each_templated_sentence_is_its_template_filled_and_carries_its_target():
    sentences = augmentation.templated(3 * len(TEMPLATES), 0)
    for index, (text, target) in enumerate(sentences):
        template, expected = TEMPLATES[index % len(TEMPLATES)]
        parts = re.split(r"(\{[a-z_]+\})", template)
        pattern = "".join(
            "(" + "|".join(map(re.escape, WORDS[p[1:-1]])) + ")" if p.startswith("{") else re.escape(p) for p in parts
        )
        assert re.fullmatch(pattern, text, re.IGNORECASE), (text, template)
        assert target == expected


def test_targets_follow_the_construction_rules():
    """One sentiment word: negated, it flips (a negated negative only leans positive); two: the last one decides."""
    for template, target in TEMPLATES:
        slots = re.findall(r"\{(pos|neg)(?:_did|_do)?\}", template)
        assert slots, template
        last_positive = slots[-1] == "pos"
        if len(slots) == 2:
            assert target == (POSITIVE if last_positive else NEGATIVE), template
        elif NEGATION.search(template.split("?")[-1] if "?" in template else template):
            assert target == (NEGATIVE if last_positive else LEANS_POSITIVE), template
        else:
            assert target == (POSITIVE if last_positive else NEGATIVE), template


def test_templates_and_sentiment_words_are_apart_from_both_halves_of_the_suite():
    suite = load_suite("behaviour")
    suite_texts = {t for template in suite.templates for t in (template.text, template.modified) if t}
    assert suite_texts  # the suite has templates to compare with
    ours = [text for text, _ in TEMPLATES]
    assert not set(ours) & suite_texts
    assert not {skeleton(t) for t in ours} & {skeleton(t) for t in suite_texts}
    suite_words = {word.lower() for values in suite.words.values() for word in values}
    for name in SENTIMENT_LISTS:
        assert not {w.lower() for w in WORDS[name]} & suite_words, name
    for name in ("handles", "urls", "emoji", "tags", "names"):
        assert not {w.lower() for w in augmentation.INVARIANCE_WORDS[name]} & suite_words, name


def test_invariance_copies_change_one_thing_and_keep_the_rest_of_the_text():
    copies = augmentation.invariance_copies(TEXTS, 200, 1)
    assert len({c.how for c in copies}) >= 12  # the perturbations are taken in turn
    for copy in copies:
        original = TEXTS[copy.source]
        assert copy.text != original
        if copy.how.startswith("append"):
            assert copy.text.startswith(original + " ")
        elif copy.how.startswith("prepend"):
            assert copy.text.endswith(" " + original)
        else:
            before, after = original.split(), copy.text.split()
            changed = [i for i, (a, b) in enumerate(zip(before, after)) if a != b]
            assert abs(len(before) - len(after)) <= 1, copy
            if len(before) == len(after):
                assert len(changed) == 1, copy  # one word (a typo, a name, a number, a final mark)


def test_masking_keeps_the_words_in_place_and_ngrams_are_runs_of_the_text():
    rng = random.Random(0)
    for text in TEXTS:
        words = text.split()
        masked = augmentation.masked(text, rng, "[MASK]", probability=0.5).split()
        assert len(masked) == len(words)
        assert all(m in (w, "[MASK]") for m, w in zip(masked, words))
        run = augmentation.ngram_sample(text, rng)
        assert 1 <= len(run.split()) <= 5 and run in text
    for copy in augmentation.tang_copies(TEXTS, 50, 2, "[MASK]"):
        kept = [w for w in copy.text.split() if w != "[MASK]"]
        assert all(w in TEXTS[copy.source].split() for w in kept)
