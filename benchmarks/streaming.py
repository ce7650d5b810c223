"""Memory of language-model training as the corpus grows: does it stay flat?

    python benchmarks/streaming.py [--sizes 1 4 16] [--steps 20] [--format jsonl|txt] [--compare-rev REV]

The corpus is the built-in Shakespeare training works written ``k`` times over, as a JSON
Lines file (one work a row) or as one plain text file (``--format txt``); 4.3 M characters
per copy, so ``--sizes 1 4 16`` trains on 4.3 M, 17 M and 69 M characters. Each run is a fresh process that calls
``nlp_lstm.train_language_model`` on the file (a small 1×128 model, BPTT 256, batch 64,
``--steps`` steps, then the evaluation of its validation rows and the checkpoint), with its
own empty ``datasets`` cache and token store, then once more with both filled.

Two peaks per run: anonymous memory (``RssAnon``, sampled every 10 ms: what the process
itself holds) and ``ru_maxrss`` (which adds the pages of memory-mapped files it touched;
the kernel can drop those at any time, so they are cache, not a need). ``--compare-rev``
also runs the same workload on an earlier commit of this repository (a temporary git
worktree), to show what the change bought.
"""

from __future__ import annotations

import argparse
import gzip
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import machine  # noqa: E402

REPO = Path(__file__).resolve().parent.parent
WORKLOAD = """
import resource, threading, time, tempfile
peak = [0]
def sample():
    while True:
        for line in open("/proc/self/status"):
            if line.startswith("RssAnon:"):
                peak[0] = max(peak[0], int(line.split()[1]))
        time.sleep(0.01)
threading.Thread(target=sample, daemon=True).start()
import nlp_lstm
config = nlp_lstm.TrainConfig(dataset={corpus!r}, seq_len=256, batch_size=64, max_steps={steps}, eval_every=10**6,
                              eval_batch_size=256, device="cpu", threads=1)
with tempfile.TemporaryDirectory() as out:
    nlp_lstm.train(config.with_encoder(embedding_dim=64, hidden_size=128, num_layers=1), nlp_lstm.RunOptions(out, overwrite=True))
time.sleep(0.05)
print("PEAKS_KIB", peak[0], resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)
"""


def write_corpus(path: Path, copies: int) -> int:
    """The Shakespeare training works ``copies`` times, as JSON Lines or one text (by the suffix); returns the characters."""
    held_out = {"julius_caesar", "richard_ii", "twelfth_night", "henry_v", "macbeth", "much_ado_about_nothing"}
    with gzip.open(REPO / "data" / "shakespeare.jsonl.gz", "rt", encoding="utf-8") as lines:
        works = [w["text"] for w in map(json.loads, lines) if w["work"] not in held_out]
    with path.open("w", encoding="utf-8") as out:
        for _ in range(copies):
            for text in works:
                out.write(json.dumps({"text": text}) + "\n" if path.suffix == ".jsonl" else text + "\n")
    return copies * sum(map(len, works))


def run(code: str, source: Path, caches: Path) -> tuple[float, float, float]:
    """Peak anonymous memory (MiB), peak RSS (MiB) and wall time (s) of ``code`` in a fresh process."""
    env = {
        **os.environ,
        "PYTHONPATH": str(source),
        "HF_HUB_OFFLINE": "1",
        "HF_DATASETS_OFFLINE": "1",
        "HF_DATASETS_CACHE": str(caches / "datasets"),
        "NLP_LSTM_CACHE": str(caches / "tokens"),
        "OMP_NUM_THREADS": "1",
    }
    started = time.perf_counter()
    result = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, cwd=caches)
    seconds = time.perf_counter() - started
    if result.returncode:
        raise SystemExit(f"workload failed:\n{result.stderr[-3000:]}")
    anon, rss = next(line for line in result.stdout.splitlines() if line.startswith("PEAKS_KIB")).split()[1:]
    return int(anon) / 1024, int(rss) / 1024, seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[1, 4, 16], help="copies of the training works")
    parser.add_argument("--steps", type=int, default=20)
    parser.add_argument("--format", choices=["jsonl", "txt"], default="jsonl", help="one work a row, or one text file")
    parser.add_argument("--compare-rev", help="also run this earlier commit of the repository, for comparison")
    args = parser.parse_args()
    where = machine.describe()
    rows = []
    with tempfile.TemporaryDirectory() as scratch_name:
        scratch = Path(scratch_name)
        sources = [("this tree", REPO)]
        if args.compare_rev:
            before = scratch / "before"
            subprocess.run(["git", "-C", str(REPO), "worktree", "add", "--detach", str(before), args.compare_rev], check=True)
            sources.append((f"commit {args.compare_rev}", before))
        try:
            for copies in args.sizes:
                corpus = scratch / f"shakespeare_x{copies}.{args.format}"
                characters = write_corpus(corpus, copies)
                code = WORKLOAD.format(corpus=str(corpus), steps=args.steps)
                for name, source in sources:
                    caches = scratch / f"caches_{copies}_{len(rows)}"
                    caches.mkdir()
                    for attempt in ("first run", "second run"):
                        anon, rss, seconds = run(code, source, caches)
                        rows.append((name, copies, characters, attempt, anon, rss, seconds))
                        print(
                            f"{name}, ×{copies} ({characters / 1e6:.1f} M chars), {attempt}: anon {anon:.0f} MiB, "
                            f"RSS {rss:.0f} MiB, {seconds:.1f} s",
                            flush=True,
                        )
        finally:
            if args.compare_rev:
                subprocess.run(["git", "-C", str(REPO), "worktree", "remove", "--force", str(scratch / "before")], check=False)
    table = [
        f"`train lm` of a 1×128 model for {args.steps} steps (batch 64 × 256) plus its validation and checkpoint, on the",
        f"Shakespeare training works repeated k times ({'JSON Lines, a work a row' if args.format == 'jsonl' else 'one text file'}); "
        "a fresh process per run, 1 thread. Anonymous memory is",
        "what the process holds; peak RSS adds the memory-mapped file pages it touched (cache the kernel can reclaim).",
        "The first run builds the datasets Arrow cache and the token store; the second reads both.",
        "",
        "| code | corpus | characters | run | peak anonymous (MiB) | peak RSS (MiB) | wall (s) |",
        "| --- | --- | ---: | --- | ---: | ---: | ---: |",
    ]
    table += [
        f"| {name} | ×{copies} | {chars / 1e6:.1f} M | {attempt} | {anon:.0f} | {rss:.0f} | {seconds:.1f} |"
        for name, copies, chars, attempt, anon, rss, seconds in rows
    ]
    print("\n".join(table))
    machine.record("Training memory as the corpus grows", where, "\n".join(table))


if __name__ == "__main__":
    main()
