"""Sentiment classifiers against TF-IDF baselines on every held-out set, unseen Rotten Tomatoes sentences included.

Scores classifiers (the shipped one unless --models is given) and the baselines a user would try
first, TF-IDF + logistic regression and NB-weighted logistic regression (NBSVM-style, Wang & Manning
2012; word 1-2-grams, C chosen on validation; each trained on the dataset it is scored on, and on
builtin:movie_reviews, the shipped model's training data) on our held-out IMDB and Rotten Tomatoes
test splits and on ``data/rotten_tomatoes_unseen.csv``: 2,120 rt-polarity sentences that the
movie-reviews package lacks, so that no model trained or chosen on the built-in corpora has seen
them (see ``data/README.md``). Both RT sets are also pooled (2,972 sentences), with 95% paired-bootstrap
intervals of each model's lead over the baselines trained on the same texts, there and on our IMDB
test split.

    python benchmarks/sentiment_held_out.py
    python benchmarks/sentiment_held_out.py --models checkpoints/sentiment runs/other/best

Needs the bench extra (scikit-learn).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("HF_DATASETS_OFFLINE", "1")
sys.path.insert(0, str(Path(__file__).resolve().parent))

import machine  # noqa: E402
import numpy as np  # noqa: E402
from sentiment import fit_nb_lr_baseline, fit_tfidf_baseline  # noqa: E402

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


BASELINES = {"TF-IDF + logistic regression": fit_tfidf_baseline, "NB-weighted logistic regression": fit_nb_lr_baseline}
POOLED = "both RT sets pooled"
BOOTSTRAP_SAMPLES = 2_000


def baseline_rows(splits: dict, parts: dict) -> list[tuple[str, dict]]:
    """Per-text correctness of each baseline, trained on each set's own training split or on builtin:movie_reviews."""
    rows = []
    for kind, fit in BASELINES.items():
        fitted = {name: fit(splits[name]) for name in ("builtin:imdb", "builtin:rotten_tomatoes", "builtin:movie_reviews")}
        for trained_on in ("its own training split", "builtin:movie_reviews"):
            right = {}
            for column, dataset, _ in HELD_OUT:
                features, model, _, _ = fitted[
                    "builtin:movie_reviews" if trained_on == "builtin:movie_reviews" else SOURCE[dataset]
                ]
                right[column] = model.predict(features.transform(parts[column].texts)) == np.asarray(parts[column].labels)
            rows.append((f"{kind}, trained on {trained_on}", right))
            print(rows[-1][0], {c: round(float(r.mean()), 4) for c, r in right.items()}, flush=True)
    return rows


def model_rows(directories: list[str], parts: dict, device: str) -> list[tuple[str, dict]]:
    rows = []
    for directory in directories:
        saved = nlp_lstm.load_model(directory, device=device, kind="classifier")
        right = {}
        for column, part in parts.items():
            predicted = [p.label for p in nlp_lstm.classify(saved, part.texts)]
            right[column] = np.asarray([saved.labels.index(p) for p in predicted]) == np.asarray(part.labels)
        rows.append((f"`{directory}`", right))
        print(rows[-1][0], {c: round(float(r.mean()), 4) for c, r in right.items()}, flush=True)
    return rows


def pooled(right: dict) -> np.ndarray:
    return np.concatenate([right["our RT test split"], right["unseen RT sentences"]])


def paired_interval(a: np.ndarray, b: np.ndarray) -> tuple[float, float, float]:
    """Accuracy of a minus b on the same texts, and its 95% paired-bootstrap interval."""
    rng = np.random.default_rng(0)
    draws = rng.integers(0, len(a), size=(BOOTSTRAP_SAMPLES, len(a)))
    differences = a[draws].mean(axis=1) - b[draws].mean(axis=1)
    low, high = np.percentile(differences, [2.5, 97.5])
    return float(a.mean() - b.mean()), float(low), float(high)


def report(parts: dict, rows: list[tuple[str, dict]], models: list[tuple[str, dict]]) -> str:
    columns = [*parts, POOLED]
    sizes = {**{c: len(p) for c, p in parts.items()}, POOLED: len(parts["our RT test split"]) + len(parts["unseen RT sentences"])}
    table = ["Accuracy; " + ", ".join(f"{c}: {n:,} texts" for c, n in sizes.items()) + ".", ""]
    table += ["| model | " + " | ".join(columns) + " |", "| --- |" + " ---: |" * len(columns)]
    for name, right in [*rows, *models]:
        table.append(f"| {name} | " + " | ".join(f"{right[c].mean():.4f}" for c in parts) + f" | {pooled(right).mean():.4f} |")
    table += [
        "",
        f"Pooled RT, each model minus each baseline trained on the same texts (95% paired bootstrap, {BOOTSTRAP_SAMPLES:,} draws):",
        "",
    ]
    table += lead_lines(models, rows, pooled)
    table += ["", f"Our IMDB test split, the same differences and intervals ({BOOTSTRAP_SAMPLES:,} draws):", ""]
    table += lead_lines(models, rows, lambda right: right["our IMDB test split"])
    return "\n".join(table)


def lead_lines(models: list[tuple[str, dict]], rows: list[tuple[str, dict]], texts) -> list[str]:
    """Each model minus each baseline trained on builtin:movie_reviews, on the texts ``texts(right)`` picks."""
    lines = []
    for name, right in models:
        for baseline, other in rows:
            if baseline.endswith("builtin:movie_reviews"):
                difference, low, high = paired_interval(texts(right), texts(other))
                lines.append(f"- {name} minus {baseline}: {100 * difference:+.2f} points [{100 * low:+.2f}, {100 * high:+.2f}]")
    return lines


def training_costs(directories: list[str]) -> str:
    """What each model's training.json says it cost: the wall time to the checkpoint kept, the teacher's labelling."""
    lines = ["Training cost (from each model's training.json; wall time to the checkpoint kept):", ""]
    for directory in directories:
        record = json.loads((Path(directory) / "training.json").read_text())
        if "members" in record:
            parts = [f"{m.get('wall_time_s')} s on {m.get('device')}" for m in record["members"]]
            lines.append(f"- `{directory}`: members {', '.join(parts)}")
            continue
        line = f"- `{directory}`: {record.get('wall_time_s')} s on {record.get('device')}, {record.get('step')} steps"
        distillation = record.get("distillation")
        if distillation:
            took = f"took {distillation['teacher_s']} s" if "teacher_s" in distillation else "was not timed by this run"
            line += (
                f", of which the teacher's labelling of {distillation['transfer_texts']:,} texts "
                f"({distillation['unlabelled_texts']:,} unlabelled) {took}"
            )
        lines.append(line)
    return "\n".join(lines)


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
    rows = baseline_rows(splits, parts)
    directories = args.models or [str(nlp_lstm.shipped_model("classifier"))]
    models = model_rows(directories, parts, args.device)
    text = report(parts, rows, models) + "\n\n" + training_costs(directories)
    print(text)
    machine.record("Sentiment: every held-out set, against TF-IDF and NB-weighted baselines", where, text)


if __name__ == "__main__":
    main()
