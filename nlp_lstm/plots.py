"""Training curves and confusion matrices as PNG files, with matplotlib (the ``plot`` extra); titles that fit.

Reads a run's ``metrics.jsonl``: training rows (``train_loss``, ``train_accuracy`` for
classifiers) logged every few steps, and validation rows (``"split": "validation"``) logged at
each evaluation. A language model's training loss is in nats per token, as is its validation
``nats_per_token``, so the two curves share one axis.
"""

from __future__ import annotations

import json
import textwrap
from pathlib import Path
from typing import Any

from nlp_lstm.errors import NlpLstmError, UsageError
from nlp_lstm.files import METRICS_FILE

ELLIPSIS = "…"
# Characters of a title per inch of figure: a title is 12 pt, a character at most about 0.65 of that wide,
# and a tenth of the width is left as margin.
TITLE_CHARS_PER_INCH = 0.9 * 72 / (12 * 0.65)


def short_path(path: str | Path) -> str:
    """A path relative to the working directory when it lies under it: what a user would type."""
    try:
        return str(Path(path).resolve().relative_to(Path.cwd()))
    except (ValueError, OSError):
        return str(path)


def shortened(word: str, width: int) -> str:
    """A path no longer than ``width``: relative to here if under it, then its middle folders as one ellipsis."""
    if "/" not in word:
        return word
    word = short_path(word)
    if len(word) <= width:
        return word
    parts = word.split("/")
    head, tail = parts[0] + "/" + ELLIPSIS, []
    for part in reversed(parts[1:]):
        if len("/".join([head, part, *tail])) > width:
            break
        tail.insert(0, part)
    return "/".join([head, *tail]) if tail else ELLIPSIS + word[-(width - 1) :]


def fit_title(title: str, width: int) -> str:
    """``title`` in lines of at most ``width`` characters, broken between words, never inside one: paths are shortened."""
    words = [shortened(word, width) for word in title.split(" ")]
    return textwrap.fill(" ".join(words), width, break_long_words=False, break_on_hyphens=False)


class PlotsUnavailable(NlpLstmError):
    """matplotlib, an optional extra, is not installed."""


def _pyplot() -> Any:
    try:
        import matplotlib
    except ImportError:
        raise PlotsUnavailable("plots need matplotlib: pip install 'nlp-lstm[plot]'") from None
    matplotlib.use("Agg")  # files only: never needs a display
    import matplotlib.pyplot as plt

    return plt


def read_metrics(run_dir: str | Path) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """The training rows and the validation rows of a run directory's metrics.jsonl."""
    path = Path(run_dir) / METRICS_FILE
    if not path.is_file():
        raise UsageError(f"{run_dir}: no {METRICS_FILE} here; pass a run directory (the --output of a training)")
    train, validation = [], []
    for line in path.read_text(encoding="utf-8").splitlines():
        try:
            row = json.loads(line)
        except ValueError:
            continue  # a line cut short by a kill mid-write: skip it, keep the rest
        if row.get("split") == "validation":
            validation.append(row)
        elif "train_loss" in row:
            train.append(row)
    return train, validation


def _validation_loss(row: dict[str, Any]) -> float | None:
    return row.get("nats_per_token", row.get("loss"))


def _curve(
    axis: Any, train: list[tuple[int, float]], validation: list[tuple[int, float]], colour: str, labels: tuple[str, str]
) -> None:
    """One run on one panel: the frequent training points as a thin line, the evaluations as a bold marked line."""
    if train:
        axis.plot(*zip(*train), color=colour, alpha=0.6, lw=1, label=labels[0])
    if validation:
        axis.plot(*zip(*validation), "o-", color=colour, lw=2, ms=4, label=labels[1])


def plot_runs(run_dirs: list[str | Path], output: str | Path) -> Path:
    """Overlay the loss curves (and accuracy, for classifiers) of one or more runs in one PNG."""
    plt = _pyplot()
    runs = [(Path(d), *read_metrics(d)) for d in run_dirs]
    with_accuracy = any("train_accuracy" in r for _, train, _ in runs for r in train)
    figure, axes = plt.subplots(1, 2 if with_accuracy else 1, figsize=(11 if with_accuracy else 6.5, 4), squeeze=False)
    loss_axis = axes[0][0]
    for index, (run_dir, train, validation) in enumerate(runs):
        labels = (run_dir.name, f"{run_dir.name} validation") if len(runs) > 1 else ("train", "validation")
        losses = [(r["step"], _validation_loss(r)) for r in validation if _validation_loss(r) is not None]
        _curve(loss_axis, [(r["step"], r["train_loss"]) for r in train], losses, f"C{index}", labels)
        if with_accuracy:
            accuracies = [(r["step"], r["accuracy"]) for r in validation if "accuracy" in r]
            trained = [(r["step"], r["train_accuracy"]) for r in train if "train_accuracy" in r]
            _curve(axes[0][1], trained, accuracies, f"C{index}", labels)
    loss_axis.set(xlabel="step", ylabel="loss (nats per token)", title="loss")
    loss_axis.legend(fontsize=8)
    loss_axis.grid(alpha=0.3)
    if with_accuracy:
        axes[0][1].set(xlabel="step", ylabel="accuracy", title="accuracy")
        axes[0][1].legend(fontsize=8)
        axes[0][1].grid(alpha=0.3)
    figure.tight_layout()
    output = Path(output)
    figure.savefig(output, dpi=110)
    plt.close(figure)
    return output


def plot_confusion(matrix: list[list[int]], labels: list[str], output: str | Path, title: str = "confusion matrix") -> Path:
    """A confusion matrix (rows: true label, columns: predicted) as a PNG with the counts written in."""
    plt = _pyplot()
    size = max(3.5, 0.9 * len(labels) + 2)
    figure, axis = plt.subplots(figsize=(size, size))
    axis.imshow(matrix, cmap="Blues")
    axis.set_xticks(range(len(labels)), labels, rotation=45, ha="right")
    axis.set_yticks(range(len(labels)), labels)
    axis.set(xlabel="predicted", ylabel="true")
    # Over the figure, not the axes: the axes sit right of centre (the labels take the left), and a title
    # centred on them ran off the figure's right edge.
    figure.suptitle(fit_title(title, int(size * TITLE_CHARS_PER_INCH)))
    peak = max((max(row) for row in matrix), default=0)
    for i, row in enumerate(matrix):
        for j, count in enumerate(row):
            axis.text(j, i, str(count), ha="center", va="center", color="white" if count > peak / 2 else "black")
    figure.tight_layout()
    output = Path(output)
    figure.savefig(output, dpi=110)
    plt.close(figure)
    return output
