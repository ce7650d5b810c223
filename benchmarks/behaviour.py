"""The behavioural suite (``nlp-lstm evaluate classifier --suite behaviour``) over the student and the baselines.

Runs one half of the suite (the test half unless --split dev) over the shipped student (or --models), the
baselines trained on the student's own training texts (TF-IDF + logistic regression and NB-weighted
logistic regression on builtin:movie_reviews, C chosen on its validation split, as in
sentiment_held_out.py) and the lexicon baselines VADER and TextBlob, and prints each one's failure rate
per test and per capability. A teacher directory, where one is here, is given with --models like any
classifier. Every model is scored by the same rules (``nlp_lstm.behaviour.scoring``): p(positive) in
[1/3, 2/3] is neutral; VADER's compound score and TextBlob's polarity are read as (score + 1) / 2.

    python benchmarks/behaviour.py
    python benchmarks/behaviour.py --models checkpoints/sentiment runs/teacher2/best --split dev

Needs the bench extra (scikit-learn, vadersentiment, textblob).
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
from sentiment import fit_nb_lr_baseline, fit_tfidf_baseline  # noqa: E402
from sentiment_held_out import LEXICONS  # noqa: E402

import nlp_lstm  # noqa: E402
from nlp_lstm.behaviour.runner import BehaviourResult, run_suite  # noqa: E402

TRAINED = {"TF-IDF + LR": fit_tfidf_baseline, "NB-weighted LR": fit_nb_lr_baseline}


def scorers(directories: list[str], device: str) -> dict:
    """Name -> a function from texts to p(positive), for every model the table compares."""
    found = {}
    for directory in directories:
        saved = nlp_lstm.load_model(directory, device=device, kind="classifier")
        found[f"`{directory}`"] = lambda texts, saved=saved: [
            p.probabilities["positive"] for p in nlp_lstm.classify(saved, texts)
        ]
    splits = nlp_lstm.load_labelled_splits("builtin:movie_reviews")
    assert splits.label_names == ["negative", "positive"]
    for name, fit in TRAINED.items():
        features, model, c, _ = fit(splits)
        found[f"{name} (movie_reviews, C={c:g})"] = lambda texts, f=features, m=model: m.predict_proba(f.transform(texts))[:, 1]
    for name, make in LEXICONS.items():
        found[name.split(" (")[0]] = make()
    return found


def tables(results: dict[str, BehaviourResult]) -> str:
    names = list(results)
    first = next(iter(results.values()))
    lines = ["Failure rate per capability (cases pooled; fewer is better):", ""]
    lines += ["| capability | cases | " + " | ".join(names) + " |", "| --- | ---: |" + " ---: |" * len(names)]
    capabilities = {name: result.capabilities() for name, result in results.items()}
    for capability, entry in first.capabilities().items():
        rates = " | ".join(f"{100 * capabilities[n][capability]['failure_rate']:.1f} %" for n in names)
        lines.append(f"| {capability} | {entry['cases']:,} | {rates} |")
    overall = " | ".join(f"{100 * results[n].to_dict()['failure_rate']:.1f} %" for n in names)
    lines += [f"| all | {first.to_dict()['cases']:,} | {overall} |", "", "Failure rate per test:", ""]
    lines += ["| test | kind | cases | " + " | ".join(names) + " |", "| --- | --- | ---: |" + " ---: |" * len(names)]
    for index, test in enumerate(first.tests):
        rates = " | ".join(f"{100 * results[n].tests[index].failure_rate:.1f} %" for n in names)
        lines.append(f"| {test.capability}: {test.name} | {test.kind} | {test.cases:,} | {rates} |")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", nargs="*", default=[], help="classifier directories (default: the shipped one)")
    parser.add_argument("--split", default="test", choices=("dev", "test"))
    parser.add_argument("--device", default="cpu")
    args = parser.parse_args()
    where = machine.describe()
    results, seconds = {}, {}
    for name, score in scorers(args.models or [str(nlp_lstm.shipped_model("classifier"))], args.device).items():
        started = time.perf_counter()
        results[name] = run_suite(score, args.split)
        seconds[name] = time.perf_counter() - started
        print(name, f"{100 * results[name].to_dict()['failure_rate']:.1f} % failed in {seconds[name]:.1f} s", flush=True)
    first = next(iter(results.values()))
    text = (
        f"The {args.split} half of the suite `behaviour` ({first.to_dict()['cases']:,} cases; changed texts from "
        f"{first.base_texts}). p(positive) in [1/3, 2/3] is neutral; dir tolerance {first.tolerance}.\n\n" + tables(results)
    )
    print(text)
    machine.record(f"Behavioural suite ({args.split} half): the student against trained and lexicon baselines", where, text)


if __name__ == "__main__":
    main()
