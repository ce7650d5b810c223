"""Dynamic evaluation of the shipped character model: settings chosen on validation, then test read once.

    python benchmarks/dynamic_eval.py [--threads 1] [--grid-chars 40000] [--record]
    python benchmarks/dynamic_eval.py --rows 16 --rates 5e-5 1e-4 2e-4 --segments 50 --record  # the fast variant

1. The gradient statistics of the model on its training split (``builtin:shakespeare``), gathered once
   and cached (as ``evaluate lm --dynamic`` does); their time is printed apart.
2. A grid of (segment length, η, λ) on the first ``--grid-chars`` characters of the **validation** plays
   (the reference code's ``--gridfast`` does the same on 30 k tokens); the best is kept.
3. With that setting, static and dynamic bits/char and seconds on the whole validation plays, the test
   plays, and a text unlike the training data: the 2,120 unseen Rotten Tomatoes sentences of
   ``data/rotten_tomatoes_unseen.csv`` read as one text. Static is ``nlp-lstm evaluate lm`` (64 rows in
   parallel); dynamic reads one stream, as the published rule does (``--rows`` > 1: that many parts side by
   side, each update learning from all of them). Both in this process, one after the other.
"""

from __future__ import annotations

import argparse
import itertools
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
from nlp_lstm.data.batching import encode_stream  # noqa: E402
from nlp_lstm.dynamic import DynamicConfig, dynamic_loss  # noqa: E402
from nlp_lstm.evaluate import dynamic_statistics, statistics_source  # noqa: E402
from nlp_lstm.metrics import measure_language_model  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
UNSEEN = ROOT / "data" / "rotten_tomatoes_unseen.csv"
DECAYS = (1e-3, 1e-2)


def bits(nats: float, characters: int) -> float:
    return nats / characters / 0.6931471805599453


def grid_search(saved, rms, texts: list[str], args: argparse.Namespace) -> tuple[DynamicConfig, list[str]]:
    stream = encode_stream(texts, saved.tokenizer)[: args.grid_chars + 1]
    rows, best = [], None
    for segment, rate, decay in itertools.product(args.segments, args.rates, DECAYS):
        config = DynamicConfig(segment_length=segment, learning_rate=rate, decay=decay, rows=args.rows)
        started = time.perf_counter()
        result = dynamic_loss(saved.model, stream, rms, config)
        score = bits(result.nats, result.tokens)
        rows.append(f"| {segment} | {rate:g} | {decay:g} | {score:.4f} | {time.perf_counter() - started:.0f} |")
        print(rows[-1], flush=True)
        if best is None or score < best[0]:
            best = (score, config)
    return best[1], rows


def measure(saved, rms, texts: list[str], config: DynamicConfig) -> dict[str, float]:
    started = time.perf_counter()
    static = measure_language_model(saved, texts)
    middle = time.perf_counter()
    dynamic = measure_language_model(saved, texts, dynamic=(config, rms))
    ended = time.perf_counter()
    return {
        "static": static["bits_per_char"],
        "dynamic": dynamic["bits_per_char"],
        "static_s": middle - started,
        "dynamic_s": ended - middle,
        "characters": static["characters"],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--grid-chars", type=int, default=40_000)
    parser.add_argument("--rows", type=int, default=1, help="parts read side by side (1: the published rule)")
    parser.add_argument("--segments", type=int, nargs="+", default=[50, 100])
    parser.add_argument("--rates", type=float, nargs="+", default=[1e-5, 2e-5, 3e-5, 5e-5])
    parser.add_argument("--record", action="store_true", help="append the tables to benchmarks/RESULTS.md")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    described = machine.describe()
    print(described, flush=True)
    saved = nlp_lstm.load_model(ROOT / "checkpoints" / "shakespeare-char")
    splits = nlp_lstm.load_text_splits("builtin:shakespeare")
    started = time.perf_counter()
    rms = dynamic_statistics(saved, DynamicConfig(), statistics_source(saved, None, "text"))
    print(f"gradient statistics: {time.perf_counter() - started:.0f} s (0 when cached)", flush=True)
    print("| segment | eta | lambda | validation bits/char | s |\n| ---: | ---: | ---: | ---: | ---: |", flush=True)
    chosen, grid_rows = grid_search(saved, rms, splits.get("validation"), args)
    print(f"chosen on validation: {chosen}", flush=True)
    unseen = nlp_lstm.load_text_splits(str(UNSEEN)).get("all")
    sets = {"our validation plays": splits.get("validation"), "our test plays": splits.get("test"), "unseen RT sentences": unseen}
    table = ["| text | characters | static bits/char | dynamic bits/char | gain | static s | dynamic s | time ratio |"]
    table.append("| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
    for name, texts in sets.items():
        m = measure(saved, rms, texts, chosen)
        table.append(
            f"| {name} | {m['characters']:,} | {m['static']:.4f} | {m['dynamic']:.4f} | {m['static'] - m['dynamic']:.4f} "
            f"| {m['static_s']:.0f} | {m['dynamic_s']:.0f} | {m['dynamic_s'] / m['static_s']:.1f}x |"
        )
        print(table[-1], flush=True)
    setting = f"segments of {chosen.segment_length}, eta {chosen.learning_rate:g}, lambda {chosen.decay:g}, rows {chosen.rows}"
    body = (
        f"Grid on the first {args.grid_chars:,} characters of our validation plays:\n\n"
        "| segment | eta | lambda | validation bits/char | s |\n| ---: | ---: | ---: | ---: | ---: |\n"
        + "\n".join(grid_rows)
        + f"\n\nChosen on validation: {setting}. Then, once:\n\n"
        + "\n".join(table)
    )
    print("\n" + body)
    if args.record:
        variant = "the published rule, one stream" if args.rows == 1 else f"{args.rows} rows side by side"
        machine.record(f"Dynamic evaluation of checkpoints/shakespeare-char ({variant})", described, body)


if __name__ == "__main__":
    main()
