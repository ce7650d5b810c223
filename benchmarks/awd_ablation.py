"""AWD-LSTM's recurrent regularisation at character level, on a fixed CPU budget: same model, same steps.

    python benchmarks/awd_ablation.py [--steps 400] [--hidden-size 256] [--threads 2] [--record]

1. Step time of the training forward + backward with and without ``--weight-drop``, interleaved in one
   loop (64 x 128 characters, the model below): the ratio is what the fused kernel keeps.
2. The ablation: ``builtin:shakespeare``, a 2-layer LSTM of ``--hidden-size``, ``--steps`` steps of the
   default recipe, each variant from the same seed; best **validation** bits/char (our validation plays)
   and the training's tokens/s. Variants: plain dropout (the default 0.2 between layers), weight drop,
   locked dropout, both. Test is not looked at.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("HF_DATASETS_OFFLINE", "1")
sys.path.insert(0, str(Path(__file__).resolve().parent))

import machine  # noqa: E402
import torch  # noqa: E402
import torch.nn.functional as F  # noqa: E402

import nlp_lstm  # noqa: E402
from nlp_lstm.config import ModelConfig  # noqa: E402
from nlp_lstm.model import LanguageModel  # noqa: E402

VARIANTS = {
    "dropout 0.2 (default)": {},
    "weight drop 0.3": {"weight_drop": 0.3},
    "locked dropout 0.3": {"locked_dropout": 0.3},
    "weight drop 0.3 + locked 0.3": {"weight_drop": 0.3, "locked_dropout": 0.3},
}


def step_times(hidden: int, repeats: int = 30) -> tuple[float, float]:
    """Median seconds of one training forward + backward without and with weight drop, interleaved."""
    ids = torch.randint(2, 80, (64, 129))
    models = [LanguageModel(ModelConfig(vocab_size=80, hidden_size=hidden, weight_drop=p)).train() for p in (0.0, 0.3)]
    times: list[list[float]] = [[], []]
    for repeat in range(repeats + 2):
        for index, model in enumerate(models):
            started = time.perf_counter()
            logits, _ = model(ids[:, :-1])
            F.cross_entropy(logits.flatten(0, 1), ids[:, 1:].flatten()).backward()
            if repeat >= 2:  # the first two warm the kernels and the allocator
                times[index].append(time.perf_counter() - started)
    return statistics.median(times[0]), statistics.median(times[1])


def ablation(steps: int, hidden: int, scratch: Path) -> list[str]:
    rows = []
    for name, options in VARIANTS.items():
        config = nlp_lstm.TrainConfig(
            max_steps=steps, eval_every=steps // 4, batch_size=64, seq_len=128, threads=torch.get_num_threads()
        )
        config = config.with_encoder(hidden_size=hidden, num_layers=2, **options)
        result = nlp_lstm.train(config, scratch / name.replace(" ", "_"))
        lines = (scratch / name.replace(" ", "_") / "metrics.jsonl").read_text().splitlines()
        speeds = [r["tokens_per_s"] for r in map(json.loads, lines) if "tokens_per_s" in r]
        bits = result.best_validation["bits_per_char"]
        rows.append(f"| {name} | {bits:.4f} | {statistics.median(speeds):,.0f} | {result.wall_time_s:.0f} |")
        print(rows[-1], flush=True)
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--steps", type=int, default=400)
    parser.add_argument("--hidden-size", type=int, default=256)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--record", action="store_true", help="append the tables to benchmarks/RESULTS.md")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    described = machine.describe()
    print(described, flush=True)
    plain, dropped = step_times(args.hidden_size)
    speed = f"Training step (forward + backward, 64 x 128 characters, hidden {args.hidden_size}, interleaved, medians): "
    speed += f"{plain * 1e3:.0f} ms plain, {dropped * 1e3:.0f} ms with weight drop: **{plain / dropped:.2f}x** the speed."
    print(speed, flush=True)
    print("| variant | best validation bits/char | tokens/s | wall s |\n| --- | ---: | ---: | ---: |", flush=True)
    with tempfile.TemporaryDirectory() as scratch:
        rows = ablation(args.steps, args.hidden_size, Path(scratch))
    body = (
        f"{speed}\n\nAblation: builtin:shakespeare, 2 x {args.hidden_size} LSTM, {args.steps} steps of 64 x 128 "
        "characters, the default recipe otherwise, seed 0; our validation plays.\n\n"
        "| variant | best validation bits/char | tokens/s | wall s |\n| --- | ---: | ---: | ---: |\n" + "\n".join(rows)
    )
    print("\n" + body)
    if args.record:
        machine.record("AWD-LSTM regularisation at character level (a fixed CPU budget)", described, body)


if __name__ == "__main__":
    main()
