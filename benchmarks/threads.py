"""How many CPU threads inference should use: the commands' work timed at each thread count, in one run.

    python benchmarks/threads.py [--repeats 5] [--length 300] [--texts 256]

Each repeat times, at every thread count, in turn (so a burst of other load hits all counts alike):

* generate: ``generate_samples`` of the shipped character model, ``--length`` characters (batch 1, one step
  per character: many tiny matrix products, where threads mostly wait on each other);
* classify: ``classify`` of the shipped sentiment model over ``--texts`` of our held-out IMDB test split
  (batches of 64 long reviews: larger products).

It prints the median seconds per count and each count's time as a ratio to one thread's, and records them
in RESULTS.md. The commands' ``--threads`` default follows from these ratios (see the README).
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("HF_DATASETS_OFFLINE", "1")
sys.path.insert(0, str(Path(__file__).resolve().parent))

import machine  # noqa: E402
import torch  # noqa: E402

import nlp_lstm  # noqa: E402


def timed(work) -> float:
    started = time.perf_counter()
    work()
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--length", type=int, default=300)
    parser.add_argument("--texts", type=int, default=256)
    args = parser.parse_args()
    counts = sorted({1, 2, os.cpu_count() or 1})
    machine_line = machine.describe()
    lm = nlp_lstm.load_model(nlp_lstm.shipped_model("lm"), kind="lm")
    classifier = nlp_lstm.load_model(nlp_lstm.shipped_model("classifier"), kind="classifier")
    texts = nlp_lstm.load_labelled_splits("builtin:imdb").test.texts[: args.texts]
    config = nlp_lstm.SampleConfig(length=args.length, seed=0)
    work = {
        f"generate {args.length} characters": lambda: nlp_lstm.generate_samples(lm, "ROMEO:", config),
        f"classify {len(texts)} IMDB reviews": lambda: nlp_lstm.classify(classifier, texts),
    }
    times: dict[tuple[str, int], list[float]] = {(name, n): [] for name in work for n in counts}
    for _ in range(args.repeats):
        for name, run in work.items():
            for n in counts:
                torch.set_num_threads(n)
                times[(name, n)].append(timed(run))
    rows = ["| work | " + " | ".join(f"{n} thread{'s' * (n > 1)}: median s (× 1 thread)" for n in counts) + " |"]
    rows.append("| --- |" + " ---: |" * len(counts))
    for name in work:
        one = statistics.median(times[(name, 1)])
        cells = [f"{statistics.median(times[(name, n)]):.3f} (×{statistics.median(times[(name, n)]) / one:.2f})" for n in counts]
        rows.append(f"| {name} | " + " | ".join(cells) + " |")
    body = "\n".join(rows) + f"\n\n{args.repeats} repeats, interleaved; ×: the median time as a ratio to one thread's.\n"
    print(machine_line)
    print(body)
    machine.record("Inference threads: generate and classify at each thread count", machine_line, body)


if __name__ == "__main__":
    main()
