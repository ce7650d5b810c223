"""A score regressed from a text (issue 30, ``train classifier --problem regression``) against two baselines.

No corpus installed here has a numeric rating, so the data is synthetic and says only that the head
learns a score that needs reading in order: a text of 3 to 10 words scores +1 for each "good", -1 for
each "bad", and a "not" just before either flips its sign. The baselines are the training mean (RMSE
of the spread, no ranking) and least squares on word counts (a bag of words cannot see "not good").
All three are scored on the same random test tenth by ``nlp_lstm.scores.regression_metrics``.

    python benchmarks/text_regression.py --threads 1 --record
"""

from __future__ import annotations

import argparse
import csv
import random
import tempfile
import time
from pathlib import Path

import numpy as np

import nlp_lstm
from nlp_lstm.scores import load_scored_splits, regression_metrics

WORDS = ("good", "bad", "not", "film", "plot", "actor", "scene", "music")
MODEL = {"embedding_dim": 32, "hidden_size": 64, "dropout": 0.0, "embedding_dropout": 0.0}


def score(words: list[str]) -> int:
    total = 0
    for index, word in enumerate(words):
        if word in ("good", "bad"):
            sign = -1 if index and words[index - 1] == "not" else 1
            total += sign if word == "good" else -sign
    return total


def write_data(path: Path, rows: int) -> Path:
    rng = random.Random(0)
    with path.open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["text", "score"])
        for _ in range(rows):
            words = [rng.choice(WORDS) for _ in range(rng.randint(3, 10))]
            writer.writerow([" ".join(words), score(words)])
    return path


def bag_of_words(train, test) -> list[float]:
    counts = lambda texts: np.array([[t.split().count(w) for w in WORDS] + [1.0] for t in texts])  # noqa: E731
    weights, *_ = np.linalg.lstsq(counts(train.texts), np.array(train.labels), rcond=None)
    return (counts(test.texts) @ weights).tolist()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=2000)
    parser.add_argument("--epochs", type=int, default=10)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--record", action="store_true", help="Append the table to benchmarks/RESULTS.md.")
    args = parser.parse_args()
    from machine import describe, record

    machine = describe()
    with tempfile.TemporaryDirectory() as scratch:
        data = str(write_data(Path(scratch) / "scores.csv", args.rows))
        splits = load_scored_splits(data, label_column="score")
        train, test = splits.train, splits.test
        mean = sum(train.labels) / len(train)
        rows = [("training mean", regression_metrics(test.labels, [mean] * len(test)), 0.0)]
        rows.append(("least squares on word counts", regression_metrics(test.labels, bag_of_words(train, test)), 0.0))
        config = nlp_lstm.ClassifierTrainConfig(
            dataset=data, label_column="score", problem="regression", tokenizer="char", epochs=args.epochs,
            lr=5e-3, max_length=80, patience=0, device="cpu", threads=args.threads,
        )  # fmt: skip
        started = time.perf_counter()
        result = nlp_lstm.train(config.with_encoder(**MODEL), Path(scratch) / "run")
        seconds = time.perf_counter() - started
        saved = nlp_lstm.load_model(result.best_dir)
        rows.append(("LSTM 1 × 64, char", nlp_lstm.evaluate_classifier(saved, data, label_column="score"), seconds))
    lines = ["| method | test RMSE | MAE | Spearman | training s |", "|---|---:|---:|---:|---:|"]
    for name, m, s in rows:
        lines.append(f"| {name} | {m['rmse']:.3f} | {m['mae']:.3f} | {m['spearman']:.3f} | {s:.0f} |")
    body = "\n".join(lines) + (
        f"\n\nSynthetic data ({args.rows} texts, seed 0; +1 per good, -1 per bad, a preceding not flips it; "
        f"test: {len(test)} texts), {args.epochs} epochs, {args.threads} thread(s). It shows the head learns a score "
        "that needs word order; it says nothing of real ratings, which no installed corpus has."
    )
    print(machine)
    print(body)
    if args.record:
        record("Text regression (--problem regression): a synthetic score against mean and bag-of-words", machine, body)


if __name__ == "__main__":
    main()
