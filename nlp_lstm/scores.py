"""A score regressed from a text (issue 30): its data, the targets' statistics, and its figures.

Regression is a setting of the classifier's head (``problem="regression"``, one output), as
transformers' ``problem_type`` is, not a kind of its own; this module holds what differs: a numeric
label column instead of class names, and RMSE, MAE and Spearman's rank correlation instead of
accuracy. Spearman is computed here in plain Python (average ranks for ties), so no SciPy is needed.
"""

from __future__ import annotations

import math
import random
from typing import Any

from nlp_lstm.data.sources import load_local, local_files
from nlp_lstm.data.splits import Labelled, LabelledSplits, labelled_rows
from nlp_lstm.errors import DataError, UsageError

REGRESSION = "regression"
MIN_ROWS = 10  # fewer leave the validation and test tenths without a row
HELD_OUT = 0.1


def load_scored_splits(spec: str, text_column: str = "text", label_column: str = "label", seed: int = 0) -> LabelledSplits:
    """Train, validation and test texts of a local CSV/JSON file, each with its number from ``label_column``.

    The rows are split 80/10/10 at random with ``seed`` (a stratified split needs classes). The one
    "label name" is the column's name, so a saved model says what it predicts.
    """
    files = local_files(spec)
    if files is None:
        raise UsageError(f"--problem regression reads a local CSV or JSON file with a numeric column; {spec} is not one")
    texts, raw, skipped = labelled_rows(load_local(files), text_column, label_column)
    scores = [_number(value, label_column) for value in raw]
    if len(texts) < MIN_ROWS:
        raise DataError(f"{spec}: {len(texts)} rows with a text and a score; a regression needs at least {MIN_ROWS}")
    order = list(range(len(texts)))
    random.Random(seed).shuffle(order)
    held = max(1, round(len(order) * HELD_OUT))
    part = lambda rows: Labelled([texts[i] for i in sorted(rows)], [scores[i] for i in sorted(rows)])  # noqa: E731
    source = f"{spec}, our random 80/10/10 split with seed {seed}"
    return LabelledSplits(
        part(order[2 * held :]), part(order[:held]), part(order[held : 2 * held]), [label_column], source, skipped
    )


def _number(value: Any, column: str) -> float:
    """A score as a float; a label that is no finite number is a usage error (the column or the problem is wrong)."""
    try:
        number = float(value) if not isinstance(value, bool) else math.nan
    except (TypeError, ValueError):
        number = math.nan
    if not math.isfinite(number):
        raise UsageError(
            f"--label-column {column} holds {value!r}, not a number; --problem regression needs a numeric column "
            "(or drop --problem regression to classify)"
        )
    return number


def target_statistics(scores: list[float]) -> tuple[float, float]:
    """Mean and standard deviation of the training scores, with which the head's targets are standardised."""
    mean = sum(scores) / len(scores)
    std = math.sqrt(sum((s - mean) ** 2 for s in scores) / len(scores))
    if std == 0:
        raise DataError(f"every training score is {mean:g}; a regression needs scores that vary")
    return mean, std


def average_ranks(values: list[float]) -> list[float]:
    """Ranks from 1, tied values sharing the mean of the ranks they span (as scipy.stats.rankdata's 'average')."""
    order = sorted(range(len(values)), key=values.__getitem__)
    ranks = [0.0] * len(values)
    start = 0
    while start < len(order):
        end = start
        while end + 1 < len(order) and values[order[end + 1]] == values[order[start]]:
            end += 1
        for index in order[start : end + 1]:
            ranks[index] = (start + end) / 2 + 1
        start = end + 1
    return ranks


def spearman(a: list[float], b: list[float]) -> float:
    """Spearman's rank correlation: Pearson's of the average ranks; NaN when either side is constant."""
    ra, rb = average_ranks(a), average_ranks(b)
    mean_a, mean_b = sum(ra) / len(ra), sum(rb) / len(rb)
    covariance = sum((x - mean_a) * (y - mean_b) for x, y in zip(ra, rb))
    spread = math.sqrt(sum((x - mean_a) ** 2 for x in ra) * sum((y - mean_b) ** 2 for y in rb))
    return covariance / spread if spread > 0 else math.nan


def regression_metrics(targets: list[float], predictions: list[float]) -> dict[str, Any]:
    """RMSE and MAE in the data's units, and Spearman's rank correlation, of ``predictions`` against ``targets``."""
    if not targets:
        raise DataError("no rows to measure; give a split with rows")
    errors = [p - t for p, t in zip(predictions, targets)]
    return {
        "rmse": math.sqrt(sum(e * e for e in errors) / len(errors)),
        "mae": sum(abs(e) for e in errors) / len(errors),
        "spearman": spearman(targets, predictions),
        "texts": len(targets),
    }
