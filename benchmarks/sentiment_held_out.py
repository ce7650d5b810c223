"""Sentiment classifiers against TF-IDF baselines on every held-out set, unseen Rotten Tomatoes sentences included.

Scores classifiers (the shipped one unless --models is given) and the baselines a user would try
first, TF-IDF + logistic regression and NB-weighted logistic regression (NBSVM-style, Wang & Manning
2012; word 1-2-grams, C chosen on validation; each trained on the dataset it is scored on, and on
builtin:movie_reviews, the shipped model's training data) on our held-out IMDB and Rotten Tomatoes
test splits and on ``data/rotten_tomatoes_unseen.csv``: 2,120 rt-polarity sentences that the
movie-reviews package lacks, so that no model trained or chosen on the built-in corpora has seen
them (see ``data/README.md``). Both RT sets are also pooled (2,972 sentences), with 95% paired-bootstrap
intervals of each model's lead over the baselines trained on the same texts, there and on our IMDB
test split. Beside them, the lexicon baselines a user picks without training anything: VADER
(``vadersentiment``, Hutto & Gilbert 2014) and TextBlob's default pattern analyser (``textblob``), each
read as a probability of positive, (score + 1) / 2 of VADER's compound score or TextBlob's polarity,
positive at 0.5 and above (a text with no lexicon word scores 0.5). Every row also gives texts/s:
all the held-out texts through its prediction, after any training, in this one process.

    python benchmarks/sentiment_held_out.py
    python benchmarks/sentiment_held_out.py --models checkpoints/sentiment runs/other/best

Needs the bench extra (scikit-learn, vadersentiment, textblob).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
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


def vader_scorer():
    """VADER (vaderSentiment, MIT; its lexicon is in the wheel): p(positive) = (compound + 1) / 2."""
    from vaderSentiment.vaderSentiment import SentimentIntensityAnalyzer

    analyser = SentimentIntensityAnalyzer()
    return lambda texts: np.array([(analyser.polarity_scores(text)["compound"] + 1) / 2 for text in texts])


def textblob_scorer():
    """TextBlob's default PatternAnalyzer (textblob, MIT; pattern's en-sentiment.xml is in the wheel, so no NLTK
    download): p(positive) = (polarity + 1) / 2. Its NaiveBayesAnalyzer needs NLTK's movie_reviews corpus
    downloaded, and is not used."""
    from textblob.en.sentiments import PatternAnalyzer

    analyser = PatternAnalyzer()
    return lambda texts: np.array([(analyser.analyze(text).polarity + 1) / 2 for text in texts])


LEXICONS = {"VADER (lexicon, no training)": vader_scorer, "TextBlob (pattern lexicon, no training)": textblob_scorer}
POOLED = "both RT sets pooled"
BOOTSTRAP_SAMPLES = 2_000


def baseline_rows(splits: dict, parts: dict, speeds: dict) -> list[tuple[str, dict]]:
    """Per-text correctness of each baseline, trained on each set's own training split or on builtin:movie_reviews."""
    rows = []
    for kind, fit in BASELINES.items():
        fitted = {name: fit(splits[name]) for name in ("builtin:imdb", "builtin:rotten_tomatoes", "builtin:movie_reviews")}
        for trained_on in ("its own training split", "builtin:movie_reviews"):
            right, started = {}, time.perf_counter()
            for column, dataset, _ in HELD_OUT:
                features, model, _, _ = fitted[
                    "builtin:movie_reviews" if trained_on == "builtin:movie_reviews" else SOURCE[dataset]
                ]
                right[column] = model.predict(features.transform(parts[column].texts)) == np.asarray(parts[column].labels)
            rows.append((f"{kind}, trained on {trained_on}", right))
            speeds[rows[-1][0]] = texts_per_second(parts, started)
            print(rows[-1][0], {c: round(float(r.mean()), 4) for c, r in right.items()}, flush=True)
    return rows


def lexicon_rows(parts: dict, speeds: dict) -> list[tuple[str, dict]]:
    """Per-text correctness of VADER and TextBlob: positive where p(positive) >= 0.5."""
    rows = []
    for name, make in LEXICONS.items():
        score, right, started = make(), {}, time.perf_counter()
        for column, part in parts.items():
            right[column] = (score(part.texts) >= 0.5) == (np.asarray(part.labels) == 1)
        rows.append((name, right))
        speeds[name] = texts_per_second(parts, started)
        print(name, {c: round(float(r.mean()), 4) for c, r in right.items()}, flush=True)
    return rows


def texts_per_second(parts: dict, started: float) -> float:
    return sum(len(part) for part in parts.values()) / (time.perf_counter() - started)


def model_rows(directories: list[str], parts: dict, device: str, speeds: dict) -> list[tuple[str, dict]]:
    rows = []
    for directory in directories:
        saved = nlp_lstm.load_model(directory, device=device, kind="classifier")
        right, started = {}, time.perf_counter()
        for column, part in parts.items():
            predicted = [p.label for p in nlp_lstm.classify(saved, part.texts)]
            right[column] = np.asarray([saved.labels.index(p) for p in predicted]) == np.asarray(part.labels)
        rows.append((f"`{directory}`", right))
        speeds[rows[-1][0]] = texts_per_second(parts, started)
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


def report(parts: dict, rows: list[tuple[str, dict]], models: list[tuple[str, dict]], speeds: dict) -> str:
    columns = [*parts, POOLED, "texts/s"]
    sizes = {**{c: len(p) for c, p in parts.items()}, POOLED: len(parts["our RT test split"]) + len(parts["unseen RT sentences"])}
    table = ["Accuracy; " + ", ".join(f"{c}: {n:,} texts" for c, n in sizes.items()) + "."]
    table += ["texts/s: every held-out text through the row's prediction (after any training), this process.", ""]
    table += ["| model | " + " | ".join(columns) + " |", "| --- |" + " ---: |" * len(columns)]
    for name, right in [*rows, *models]:
        accuracies = " | ".join(f"{right[c].mean():.4f}" for c in parts)
        table.append(f"| {name} | {accuracies} | {pooled(right).mean():.4f} | {speeds[name]:,.0f} |")
    table += [
        "",
        f"Pooled RT, each model minus each baseline trained on the same texts and each lexicon (95% paired bootstrap, {BOOTSTRAP_SAMPLES:,} draws):",
        "",
    ]
    table += lead_lines(models, rows, pooled)
    table += ["", f"Our IMDB test split, the same differences and intervals ({BOOTSTRAP_SAMPLES:,} draws):", ""]
    table += lead_lines(models, rows, lambda right: right["our IMDB test split"])
    return "\n".join(table)


def lead_lines(models: list[tuple[str, dict]], rows: list[tuple[str, dict]], texts) -> list[str]:
    """Each model minus each baseline trained on builtin:movie_reviews and each lexicon, on the texts ``texts(right)`` picks."""
    lines = []
    for name, right in models:
        for baseline, other in rows:
            if baseline.endswith("builtin:movie_reviews") or baseline in LEXICONS:
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
    speeds: dict[str, float] = {}
    rows = baseline_rows(splits, parts, speeds) + lexicon_rows(parts, speeds)
    directories = args.models or [str(nlp_lstm.shipped_model("classifier"))]
    models = model_rows(directories, parts, args.device, speeds)
    text = report(parts, rows, models, speeds) + "\n\n" + training_costs(directories)
    print(text)
    machine.record("Sentiment: every held-out set, against TF-IDF and NB-weighted baselines", where, text)


if __name__ == "__main__":
    main()
