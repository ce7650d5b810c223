"""Does torch.compile help? Eager against compiled, same run, for a training step and a sampling step.

    python benchmarks/compile.py [--steps 4] [--samples 2000] [--threads 2]

Model: characters, embedding 128, 2 layers x 512 (the reference config of the other benchmarks).
Training: forward + backward + AdamW on a batch of 64 x 256, after one warm-up (compile) step.
Sampling: `LSTMStepper.step` at batch 1, the inner loop of generation. The toolkit turns
compilation on only where this shows it pays; the result is recorded either way.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import torch
import torch.nn.functional as F

sys.path.insert(0, str(Path(__file__).resolve().parent))

import machine  # noqa: E402

from nlp_lstm.config import ModelConfig  # noqa: E402
from nlp_lstm.model import LanguageModel  # noqa: E402
from nlp_lstm.stepping import LSTMStepper  # noqa: E402

CONFIG = ModelConfig(vocab_size=86, embedding_dim=128, hidden_size=512, num_layers=2, dropout=0.0, embedding_dropout=0.0)


def training_seconds(compiled: bool, steps: int) -> tuple[float, float]:
    """(first step incl. compilation, mean of the next ``steps``) in seconds."""
    torch.manual_seed(0)
    model = LanguageModel(CONFIG)
    optimizer = torch.optim.AdamW(model.parameters(), 2e-3)
    forward = torch.compile(model) if compiled else model
    inputs, targets = torch.randint(2, 86, (64, 256)), torch.randint(2, 86, (64, 256))

    def step() -> None:
        logits, _ = forward(inputs)
        loss = F.cross_entropy(logits.flatten(0, 1), targets.flatten())
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()

    started = time.perf_counter()
    step()
    first = time.perf_counter() - started
    started = time.perf_counter()
    for _ in range(steps):
        step()
    return first, (time.perf_counter() - started) / steps


def sampling_microseconds(compiled: bool, samples: int) -> float:
    torch.manual_seed(0)
    model = LanguageModel(CONFIG).eval()
    stepper = LSTMStepper(model)
    step = torch.compile(stepper.step) if compiled else stepper.step
    ids, state = torch.tensor([5]), model.encoder.initial_state(1)
    with torch.inference_mode():
        for _ in range(50):  # warm-up (and compilation)
            _, state = step(ids, state)
        started = time.perf_counter()
        for _ in range(samples):
            _, state = step(ids, state)
    return (time.perf_counter() - started) / samples * 1e6


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=4)
    parser.add_argument("--samples", type=int, default=2000)
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    where = machine.describe()
    rows = []
    for compiled in (False, True):
        first, mean = training_seconds(compiled, args.steps)
        rows.append(("training step", compiled, f"{mean:.2f} s", f"{first:.1f} s", mean))
    for compiled in (False, True):  # interleave two rounds: the machine is shared
        rows.append(("sampling step, batch 1", compiled, None, "-", sampling_microseconds(compiled, args.samples)))
    for compiled in (False, True):
        rows.append(("sampling step, batch 1", compiled, None, "-", sampling_microseconds(compiled, args.samples)))
    table = [
        f"2x512 char LM, {args.threads} threads; training: mean of {args.steps} steps after the first; sampling: "
        f"{args.samples} steps, two interleaved rounds.",
        "",
        "| what | eager | torch.compile | first call (compiled) | compiled ÷ eager time |",
        "| --- | ---: | ---: | ---: | ---: |",
    ]
    train_eager, train_compiled = rows[0][4], rows[1][4]
    table.append(
        f"| training step (64 x 256) | {train_eager:.2f} s | {train_compiled:.2f} s | {rows[1][3]} | {train_compiled / train_eager:.2f} |"
    )
    for round_ in (2, 4):
        eager, compiled = rows[round_][4], rows[round_ + 1][4]
        table.append(f"| sampling step, batch 1 | {eager:.0f} µs | {compiled:.0f} µs | - | {compiled / eager:.2f} |")
    print("\n".join(table))
    machine.record("torch.compile", where, "\n".join(table))


if __name__ == "__main__":
    main()
