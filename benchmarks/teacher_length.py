"""How many tokens should a teacher read when it labels? Its accuracy on the validation splits, per length.

A teacher is fine-tuned on short cuts of each text (head and tail, ``train teacher --max-length``)
because its training cost grows faster than the length on a CPU; reading a longer cut when it labels
costs only inference. This scores one teacher on our validation splits of IMDB and Rotten Tomatoes
(never test) at each length given, so ``train classifier --teacher-length`` is chosen on validation.

    python benchmarks/teacher_length.py runs/sentiment-teacher --lengths 128 256 512

Prints the table and records it, with the machine, in RESULTS.md.
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
import torch  # noqa: E402

import nlp_lstm  # noqa: E402
from nlp_lstm.teacher.labels import label_texts, read_length  # noqa: E402
from nlp_lstm.training.distillation import teacher_directory  # noqa: E402

VALIDATION = ("builtin:imdb", "builtin:rotten_tomatoes")


def accuracy_at(saved, part, length: int, precision: str) -> tuple[float, float]:
    """Validation accuracy of the teacher reading ``length`` tokens of each text, and the seconds it took."""
    read_length(saved, length)
    started = time.perf_counter()
    probabilities = label_texts(saved, part.texts, precision)  # as the labelling of a transfer set runs
    right = probabilities.argmax(dim=1) == torch.tensor(part.labels)
    return float(right.float().mean()), time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("teacher", help="a teacher directory, or a run directory (its best/)")
    parser.add_argument("--lengths", type=int, nargs="+", default=[128, 256, 512])
    parser.add_argument("--precision", choices=["fp32", "bf16"], default="bf16", help="as the labelling will run")
    args = parser.parse_args()
    where = machine.describe()
    directory = teacher_directory(args.teacher)
    saved = nlp_lstm.load_model(directory, kind="classifier")
    trained = saved.inputs["max_length"] + 2  # its content plus [CLS] and [SEP], as --max-length counts
    parts = {name: nlp_lstm.load_labelled_splits(name).validation for name in VALIDATION}
    lines = [
        f"Teacher `{directory}` (trained on {trained} tokens), validation accuracy by the tokens it reads, {args.precision}:",
        "",
        "| tokens read | " + " | ".join(f"{name} validation ({len(part):,})" for name, part in parts.items()) + " | seconds |",
        "| ---: |" + " ---: |" * (len(parts) + 1),
    ]
    for length in args.lengths:
        figures = [accuracy_at(saved, part, length, args.precision) for part in parts.values()]
        cells = " | ".join(f"{accuracy:.4f}" for accuracy, _ in figures)
        lines.append(f"| {length} | {cells} | {sum(s for _, s in figures):.0f} |")
        print(lines[-1], flush=True)
    text = "\n".join(lines)
    print(text)
    machine.record("Teacher: validation accuracy by the tokens it reads when it labels", where, text)


if __name__ == "__main__":
    main()
