"""Texts added to a sentiment student's transfer set (issue 28 item 3): invariance copies of training texts,
Tang et al.'s masking and n-gram sampling, and templated negation, contrast and question sentences.

Everything here is written for training and kept apart from the behavioural suite (``behaviour/suite.json``):
the templates and the sentiment word lists share no template and no sentiment word with either half of the
suite (tests/test_augmentation.py checks it), and the invariance copies draw their handles, URLs, emoji,
hashtags and names from lists of their own. The suite changes Rotten Tomatoes *test* sentences with
``behaviour.perturb``; here the same functions change *training* texts only. Part-of-speech word swaps
(Tang et al.'s third rule) are left out: there is no offline tagger among the dependencies.

Templated sentences carry their label by construction, as a probability of the positive class: a negated
negative ("it was hardly clumsy") leans positive without being a rave, so its target is ``LEANS_POSITIVE``.
Nothing here touches a model: the invariance and Tang copies say which original they come from, and the
caller labels them (the shipped student's own probabilities on the original, or on the copy).
"""

from __future__ import annotations

import random
import re
from collections.abc import Sequence
from dataclasses import dataclass

from nlp_lstm.behaviour.perturb import PERTURBATIONS

# 0.7 for a negated negative left the suite's dev negated negatives at a median of 0.38, at the edge of the
# neutral band (a first run, benchmarks/RESULTS.md): 0.8 leans further without calling it a rave.
POSITIVE, NEGATIVE, LEANS_POSITIVE = 0.95, 0.05, 0.8

WORDS: dict[str, tuple[str, ...]] = {
    # Written by hand up to "irresistible" ("cringeworthy" below); the rest are frequent in the training texts and
    # scored above 0.9 (below 0.1) alone by the shipped student, chosen by hand from those: more words, so the
    # negation templates teach negation rather than a short list of words.
    "pos": tuple(
        (  # noqa: SIM905 - one string: as a list, formatted one word a line, these are 80 lines
            "stunning gripping clever witty memorable entertaining moving heartfelt marvelous splendid "
            "compelling refreshing riveting masterful magnificent smart sweet thrilling powerful remarkable "
            "perfect nice funny inspiring pleasant exciting uplifting gorgeous dazzling exquisite captivating "
            "absorbing poignant joyous rousing sublime stellar elegant inventive satisfying phenomenal "
            "breathtaking astonishing glorious irresistible flawless exceptional incredible delicious "
            "extraordinary tremendous fabulous timeless solid graceful vivid energetic authentic likable "
            "thoughtful impeccable insightful soulful creative distinctive magical atmospheric inspirational "
            "admirable charismatic evocative innovative heartwarming mesmerizing fascinating exhilarating "
            "intelligent intriguing vibrant adorable"
        ).split()
    ),
    "neg": tuple(
        (  # noqa: SIM905
            "clumsy shallow predictable silly stupid painful unwatchable incoherent lifeless sloppy pathetic "
            "laughable ridiculous dumb awkward bloated confusing depressing irritating miserable overrated "
            "pretentious ugly unbearable unfunny worthless trite tepid hollow grating insufferable muddled "
            "amateurish derivative sluggish joyless soulless plodding stale atrocious abysmal woeful inept "
            "uninspired unoriginal overlong nonsensical insipid vapid dire cringeworthy illogical hideous "
            "crappy unremarkable ineffective incomprehensible horrendous trashy clunky useless superficial "
            "lazy ludicrous obnoxious brainless pitiful smarmy disastrous slimy pompous idiotic repetitive "
            "generic monstrous monotonous flimsy choppy meaningless hateful unrealistic repulsive talentless "
            "phony unsympathetic gloomy unnecessary unimpressive abominable dreary horrid moronic vacuous "
            "superfluous listless preposterous tacky shoddy embarrassing appalling unpleasant nauseating "
            "disgusting uninteresting"
        ).split()
    ),
    "pos_did": ("cherished", "treasured", "recommended", "praised", "relished", "savoured"),
    "neg_did": ("regretted", "abhorred", "deplored", "mocked", "scorned", "walked out of"),
    "pos_do": (
        "recommend",
        "cherish",
        "treasure",
        "praise",
        "relish",
        "savour",
        "applaud",
        "rave about",
        "champion",
        "celebrate",
    ),
    "neg_do": ("regret", "abhor", "deplore", "mock", "scorn", "begrudge", "dread", "cannot stand", "object to", "grumble about"),
    "thing": (
        "picture",
        "show",
        "episode",
        "musical",
        "cartoon",
        "pilot",
        "feature",
        "storyline",
        "climax",
        "twist",
        "villain",
        "finale",
        "camera work",
        "editing",
        "music",
    ),
    "person": (
        "my cousin",
        "our neighbour",
        "the reviewer",
        "my roommate",
        "my boss",
        "the newspaper",
        "Grandma",
        "my teacher",
        "the guy next to me",
        "my wife",
    ),
    "aside": (
        "to be honest with everyone here",
        "if I am being fair about it",
        "after seeing it last night",
        "as my friend pointed out on the way home",
        "all things considered",
        "for what it is worth",
        "and I say this having seen plenty of them",
    ),
}

# (text, target of the positive class): {pos}/{neg} adjectives, {pos_did}/{neg_did} and {pos_do}/{neg_do} verbs, {thing}, {person}, {aside}.
TEMPLATES: tuple[tuple[str, float], ...] = (
    # negation: of a positive word it is negative, of a negative word it is not negative
    ("The {thing} was never {pos}.", NEGATIVE),
    ("Nobody would call the {thing} {pos}.", NEGATIVE),
    ("It is not {pos} at all.", NEGATIVE),
    ("I did not find the {thing} {pos}.", NEGATIVE),
    ("The {thing} wasn't remotely {pos}.", NEGATIVE),
    ("The {thing} was never {neg}.", LEANS_POSITIVE),
    ("Nobody would call the {thing} {neg}.", LEANS_POSITIVE),
    ("It is not {neg} at all.", LEANS_POSITIVE),
    ("I did not find the {thing} {neg}.", LEANS_POSITIVE),
    ("The {thing} wasn't remotely {neg}.", LEANS_POSITIVE),
    ("Honestly, it isn't {pos}.", NEGATIVE),
    ("Honestly, it isn't {neg}.", LEANS_POSITIVE),
    ("I don't find the {thing} {pos} in the least.", NEGATIVE),
    ("I don't find the {thing} {neg} in the least.", LEANS_POSITIVE),
    ("I do not {pos_do} this {thing} at all.", NEGATIVE),
    ("I do not {neg_do} this {thing} at all.", LEANS_POSITIVE),
    ("We didn't {pos_do} a single minute of it.", NEGATIVE),
    ("We didn't {neg_do} a single minute of it.", LEANS_POSITIVE),
    ("That {thing} isn't {pos}, trust me.", NEGATIVE),
    ("That {thing} isn't {neg}, trust me.", LEANS_POSITIVE),
    ("I never {neg_did} the {thing}.", LEANS_POSITIVE),
    ("I never {pos_did} the {thing}.", NEGATIVE),
    # more negators and more frames: the suite's sentiment words are not these, so the student must learn
    # the negation itself rather than the words (a first try left 42 % of the suite's negated negatives
    # negative: benchmarks/RESULTS.md)
    ("Frankly, the {thing} wasn't {neg}.", LEANS_POSITIVE),
    ("Frankly, the {thing} wasn't {pos}.", NEGATIVE),
    ("Her {thing} doesn't seem {neg} to me.", LEANS_POSITIVE),
    ("Her {thing} doesn't seem {pos} to me.", NEGATIVE),
    ("They don't {neg_do} the {thing}, and neither do I.", LEANS_POSITIVE),
    ("They don't {pos_do} the {thing}, and neither do I.", NEGATIVE),
    ("You won't {neg_do} a {thing} like this one.", LEANS_POSITIVE),
    ("You won't {pos_do} a {thing} like this one.", NEGATIVE),
    ("Not once did the {thing} feel {neg}.", LEANS_POSITIVE),
    ("Not once did the {thing} feel {pos}.", NEGATIVE),
    ("Our {thing} is by no means {neg}.", LEANS_POSITIVE),
    ("Our {thing} is by no means {pos}.", NEGATIVE),
    ("We didn't think it {neg}.", LEANS_POSITIVE),
    ("We didn't think it {pos}.", NEGATIVE),
    ("He doesn't {neg_do} it.", LEANS_POSITIVE),
    ("He doesn't {pos_do} it.", NEGATIVE),
    # negation with neutral words in between
    ("The {thing}, {aside}, was not {pos}.", NEGATIVE),
    ("The {thing}, {aside}, was not {neg}.", LEANS_POSITIVE),
    ("I can't say, {aside}, that it was {pos}.", NEGATIVE),
    ("I can't say, {aside}, that it was {neg}.", LEANS_POSITIVE),
    # questions answered
    ("Was the {thing} {pos}? No.", NEGATIVE),
    ("Was the {thing} {neg}? No.", LEANS_POSITIVE),
    ("Was the {thing} {pos}? Yes.", POSITIVE),
    ("Was the {thing} {neg}? Yes.", NEGATIVE),
    ("Q: Would I call it {pos}? A: Not at all.", NEGATIVE),
    ("Q: Would I call it {neg}? A: Not at all.", LEANS_POSITIVE),
    ("Q: Would I call it {pos}? A: Definitely.", POSITIVE),
    ("Q: Would I call it {neg}? A: Definitely.", NEGATIVE),
    # then and now: the present wins
    ("At first the {thing} seemed {pos}, but now it feels {neg}.", NEGATIVE),
    ("At first the {thing} seemed {neg}, but now it feels {pos}.", POSITIVE),
    ("Years ago I found it {pos}; today I find it {neg}.", NEGATIVE),
    ("Years ago I found it {neg}; today I find it {pos}.", POSITIVE),
    ("I once {pos_did} the {thing}, but these days I find it {neg}.", NEGATIVE),
    ("I once {neg_did} the {thing}, but these days I find it {pos}.", POSITIVE),
    # someone else's opinion against mine: mine wins
    ("{person} said the {thing} was {pos}, but to me it was {neg}.", NEGATIVE),
    ("{person} said the {thing} was {neg}, but to me it was {pos}.", POSITIVE),
    ("{person} may find it {pos}; I found it {neg}.", NEGATIVE),
    ("{person} may find it {neg}; I found it {pos}.", POSITIVE),
    ("{person} {pos_did} it. Me? I thought it was {neg}.", NEGATIVE),
    ("{person} {neg_did} it. Me? I thought it was {pos}.", POSITIVE),
    # contrast: the final clause wins
    ("The {thing} had {pos} moments, yet overall it was {neg}.", NEGATIVE),
    ("The {thing} had {neg} moments, yet overall it was {pos}.", POSITIVE),
)

# Invariance copies: which perturbation, with which list of our own (None: the perturbation needs no list).
INVARIANCE_WORDS: dict[str, tuple[str, ...]] = {
    "handles": ("@filmfan_22", "@nightowl", "@mia.reviews", "@bigscreenbob", "@couchcritic", "@the_projector", "@lu_watches"),
    "urls": ("https://movies.example.net/r/5521", "http://goo.gl/Ab3dE", "www.reviewhub.com/p/88", "https://youtu.be/x9Q2kLm"),
    "emoji": ("😂", "🔥", "👍", "😴", "🤔", "✨", "😎", "🙄"),
    "tags": ("#moviemonday", "#mustwatch", "#filmclub", "#bingewatch", "#cinephile", "lol", "tbh", "imo", "ngl"),
    "names": (
        "alice",
        "bruno",
        "chloe",
        "dmitri",
        "fatima",
        "gustav",
        "ingrid",
        "kenji",
        "leon",
        "nadia",
        "pablo",
        "yusuf",
        "keanu",
        "scarlett",
        "bruce",
        "angelina",
        "brad",
        "cate",
    ),
    "contractions": (
        "it is|it's",
        "that is|that's",
        "I am|I'm",
        "they are|they're",
        "there is|there's",
        "he is|he's",
        "she is|she's",
        "I have|I've",
        "you are|you're",
        "we are|we're",
        "do not|don't",
        "is not|isn't",
        "does not|doesn't",
        "was not|wasn't",
    ),
}
# Typos come up twice as often as the rest: one changed letter moves the student most (the suite's dev half).
INVARIANCE: tuple[tuple[str, str | None], ...] = (
    ("delete_character", None),
    ("swap_characters", None),
    ("delete_character", None),
    ("swap_characters", None),
    ("contract", "contractions"),
    ("expand", "contractions"),
    ("exclaim", None),
    ("strip_final_punctuation", None),
    ("append", "handles"),
    ("prepend", "handles"),
    ("append", "urls"),
    ("prepend", "urls"),
    ("append", "emoji"),
    ("append", "tags"),
    ("prepend", "tags"),
    ("replace_word", "names"),
    ("nudge_number", None),
    ("replace_number", None),
)
SLOT = re.compile(r"\{([a-z_]+)\}")
MASK_PROBABILITY, NGRAM_PROBABILITY = 0.1, 0.25  # Tang et al. 2019's p_mask and p_ng


@dataclass(frozen=True)
class Copy:
    """A changed training text and the index of the text it was made from."""

    source: int
    text: str
    how: str


def templated(count: int, seed: int) -> list[tuple[str, float]]:
    """``count`` templated sentences (templates taken in turn, words drawn at random) and their positive targets."""
    rng = random.Random(seed)
    sentences = []
    for index in range(count):
        text, target = TEMPLATES[index % len(TEMPLATES)]
        filled = SLOT.sub(lambda match: rng.choice(WORDS[match.group(1)]), text)
        sentences.append((filled[:1].upper() + filled[1:], target))
    return sentences


def invariance_copies(texts: Sequence[str], count: int, seed: int) -> list[Copy]:
    """Up to ``count`` copies of texts drawn at random, each changed by one perturbation taken in turn."""
    rng = random.Random(seed)
    copies: list[Copy] = []
    attempts = 0
    while len(copies) < count and attempts < 4 * count and texts:
        name, words = INVARIANCE[attempts % len(INVARIANCE)]
        attempts += 1
        source = rng.randrange(len(texts))
        changed = PERTURBATIONS[name](texts[source], rng, INVARIANCE_WORDS.get(words or "", ()))
        if changed is not None and changed != texts[source]:
            copies.append(Copy(source, changed, f"{name}:{words}" if words else name))
    return copies


def masked(text: str, rng: random.Random, mask: str, probability: float = MASK_PROBABILITY) -> str:
    """Each word replaced by the mask token with ``probability`` (Tang et al.'s masking)."""
    return " ".join(mask if rng.random() < probability else word for word in text.split())


def ngram_sample(text: str, rng: random.Random) -> str:
    """A random run of 1 to 5 words of the text (Tang et al.'s n-gram sampling)."""
    words = text.split()
    length = min(len(words), rng.randint(1, 5))
    start = rng.randrange(len(words) - length + 1)
    return " ".join(words[start : start + length])


def tang_copies(texts: Sequence[str], count: int, seed: int, mask: str) -> list[Copy]:
    """``count`` copies of texts drawn at random: masked, then with NGRAM_PROBABILITY cut to an n-gram."""
    rng = random.Random(seed)
    copies = []
    for _ in range(count if texts else 0):
        source = rng.randrange(len(texts))
        text = masked(texts[source], rng, mask)
        how = "mask"
        if rng.random() < NGRAM_PROBABILITY and text.split():
            text, how = ngram_sample(text, rng), "mask+ngram"
        copies.append(Copy(source, text, how))
    return copies
