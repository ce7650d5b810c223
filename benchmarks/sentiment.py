"""Sentiment accuracy on our held-out splits: TF-IDF + logistic regression vs the LSTM, from scratch and with transfer.

All three models see exactly the same train/validation/test texts (the built-in
stratified 80/10/10 split). The baseline's C is chosen on validation; the LSTMs pick
their best epoch on validation; every figure reported is on the test part of our
split ("our held-out split of IMDB"), never the official IMDB test set.

    python benchmarks/sentiment.py --dataset builtin:rotten_tomatoes --lm runs/reviews-lm/best
    python benchmarks/sentiment.py --dataset builtin:imdb --lm runs/reviews-lm/best --epochs 2

Without --lm the transfer row is skipped. Needs the bench extra (scikit-learn).
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("HF_DATASETS_OFFLINE", "1")
sys.path.insert(0, str(Path(__file__).resolve().parent))

import machine  # noqa: E402

import nlp_lstm  # noqa: E402


def fit_tfidf_baseline(splits) -> tuple[object, object, float, float]:
    """Word 1-2-gram TF-IDF + logistic regression, C chosen on validation. Returns vectorizer, model, C, seconds."""
    from sklearn.feature_extraction.text import TfidfVectorizer

    started = time.perf_counter()
    vectorizer = TfidfVectorizer(ngram_range=(1, 2), min_df=2, max_df=0.9, sublinear_tf=True)
    model, c = best_logistic_regression(
        vectorizer.fit_transform(splits.train.texts), vectorizer.transform(splits.validation.texts), splits, (0.5, 1, 2, 4, 8, 16)
    )
    return vectorizer, model, c, time.perf_counter() - started


def best_logistic_regression(train, validation, splits, choices: tuple[float, ...]) -> tuple[object, float]:
    """The logistic regression on these features whose C (of ``choices``) scores best on validation, and that C."""
    from sklearn.linear_model import LogisticRegression

    best = None
    for c in choices:
        model = LogisticRegression(C=c, max_iter=3000).fit(train, splits.train.labels)
        score = model.score(validation, splits.validation.labels)
        if best is None or score > best[0]:
            best = (score, c, model)
    return best[2], best[1]


class NaiveBayesFeatures:
    """Binary word 1-2-gram counts scaled by their naive-Bayes log-count ratio (Wang & Manning 2012, NBSVM).

    Two classes: r = log((p / |p|1) / (q / |q|1)) with p, q the smoothed feature counts of the positive
    and negative training texts; a logistic regression on X ⊙ r is the "NB-weighted LR" baseline.
    """

    def __init__(self, texts: list[str], labels: list[int], alpha: float = 1.0):
        import numpy as np
        from sklearn.feature_extraction.text import CountVectorizer

        self.vectorizer = CountVectorizer(ngram_range=(1, 2), min_df=1, binary=True)
        counts = self.vectorizer.fit_transform(texts)
        labels_array = np.asarray(labels)
        p = alpha + np.asarray(counts[labels_array == 1].sum(axis=0)).ravel()
        q = alpha + np.asarray(counts[labels_array == 0].sum(axis=0)).ravel()
        self.ratio = np.log((p / p.sum()) / (q / q.sum()))

    def transform(self, texts: list[str]):
        return self.vectorizer.transform(texts).multiply(self.ratio).tocsr()


def fit_nb_lr_baseline(splits) -> tuple[object, object, float, float]:
    """NB-weighted logistic regression on binary word 1-2-grams, C chosen on validation; as fit_tfidf_baseline."""
    if set(splits.train.labels) != {0, 1}:
        raise SystemExit("the NB-weighted baseline is for two classes")
    started = time.perf_counter()
    features = NaiveBayesFeatures(splits.train.texts, splits.train.labels)
    train, validation = features.transform(splits.train.texts), features.transform(splits.validation.texts)
    model, c = best_logistic_regression(train, validation, splits, (0.1, 0.25, 0.5, 1, 2, 4))
    return features, model, c, time.perf_counter() - started


def tfidf_baseline(splits) -> tuple[float, float, float]:
    """The TF-IDF baseline's test accuracy, its C and its training time."""
    vectorizer, model, c, seconds = fit_tfidf_baseline(splits)
    return model.score(vectorizer.transform(splits.test.texts), splits.test.labels), c, seconds


def lstm(dataset: str, output: Path, args, init_from: str | None) -> tuple[float, float, dict]:
    config = nlp_lstm.ClassifierTrainConfig(
        dataset=dataset,
        epochs=args.epochs,
        max_length=args.max_length,
        batch_size=args.batch_size,
        lr=args.lr,
        device=args.device,
        seed=args.seed,
        init_from=init_from,
        patience=0,
    )
    if not init_from:
        shape = {"hidden_size": args.hidden_size, "num_layers": 1, "bidirectional": args.bidirectional, "dropout": 0.3}
        config = config.with_encoder(embedding_dim=128, **shape)
    result = nlp_lstm.train(config, nlp_lstm.RunOptions(output, overwrite=True))
    saved = nlp_lstm.load_model(result.best_dir)
    metrics = nlp_lstm.evaluate_classifier(saved, dataset, "test")
    return metrics["accuracy"], result.wall_time_s, result.best_validation


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dataset", default="builtin:rotten_tomatoes", choices=["builtin:imdb", "builtin:rotten_tomatoes"])
    parser.add_argument("--lm", help="language model directory for the transfer row (trained on review texts)")
    parser.add_argument("--epochs", type=int, default=4)
    parser.add_argument("--max-length", type=int, default=400)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--hidden-size", type=int, default=256)
    parser.add_argument("--bidirectional", action="store_true")
    parser.add_argument("--lr", type=float, default=2e-3)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--runs", default="runs/bench-sentiment")
    parser.add_argument("--skip-scratch", action="store_true")
    args = parser.parse_args()
    where = machine.describe()
    splits = nlp_lstm.load_labelled_splits(args.dataset)
    rows = []
    accuracy, c, seconds = tfidf_baseline(splits)
    rows.append(("TF-IDF word 1-2-grams + logistic regression", f"C={c}", accuracy, seconds))
    print(f"tfidf: {accuracy:.4f} ({seconds:.0f} s)", flush=True)
    if not args.skip_scratch:
        accuracy, seconds, val = lstm(args.dataset, Path(args.runs) / f"{args.dataset}-scratch", args, None)
        shape = f"{'bi' if args.bidirectional else ''}LSTM 1x{args.hidden_size}, bpe 8000, {args.epochs} epochs"
        rows.append(("LSTM from scratch", shape, accuracy, seconds))
        print(f"scratch: {accuracy:.4f} ({seconds:.0f} s, best validation {val})", flush=True)
    if args.lm:
        lm = nlp_lstm.load_model(args.lm)
        shape = (
            f"encoder of {args.lm} ({lm.config.num_layers}x{lm.config.hidden_size}, {lm.tokenizer.kind}), {args.epochs} epochs"
        )
        accuracy, seconds, val = lstm(args.dataset, Path(args.runs) / f"{args.dataset}-transfer", args, args.lm)
        rows.append(("LSTM with LM transfer (ULMFiT-style)", shape, accuracy, seconds))
        print(f"transfer: {accuracy:.4f} ({seconds:.0f} s, best validation {val})", flush=True)

    table = [
        f"Our held-out split of {args.dataset}: {len(splits.train)} train / {len(splits.validation)} validation / "
        f"{len(splits.test)} test texts (stratified, seed 0). Accuracy on the test part; max length {args.max_length} tokens.",
        "",
        "| model | settings | held-out accuracy | training time (s) |",
        "| --- | --- | ---: | ---: |",
    ]
    table += [f"| {name} | {settings} | {acc:.4f} | {secs:.0f} |" for name, settings, acc, secs in rows]
    print("\n".join(table))
    machine.record(f"Sentiment: {args.dataset}", where, "\n".join(table))


if __name__ == "__main__":
    main()
