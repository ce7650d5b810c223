"""Language-model training throughput: our training loop against a raw PyTorch loop and Keras 3, plus GFLOP/s.

    python benchmarks/training.py [--threads 2] [--steps 4] [--rounds 2] [--skip-keras]
    python benchmarks/training.py --device cuda [--precision bf16] --steps 50 --skip-keras   # on a GPU

One model everywhere: character vocabulary of the built-in Shakespeare text, embedding 128,
2 LSTM layers × 512, BPTT window 256, batch 64, AdamW, gradient clipping at 1.0, dropout as our
defaults (0.1 on embeddings, 0.2 between layers and on the output).

* ours: the real ``nlp_lstm.train_language_model`` (data pipeline, state carrying and resets,
  learning-rate schedule, metrics logging). Evaluation and checkpointing run only every
  ``eval_every`` steps; the interval is set beyond the run, so neither is timed (they are not
  training throughput). A forward pre-hook timestamps every step and stops the run after the
  timed steps, so its final evaluation does not run either.
* raw PyTorch: the same model and optimiser in a ten-line loop over pre-made batches.
* Keras 3 (JAX backend, or TensorFlow if that is what is installed): ``train_on_batch`` on the
  same shapes; the first call (tracing and compilation) is warm-up. Keras resets the LSTM state
  every batch instead of carrying it, which costs the same arithmetic.

Each variant runs one warm-up step and then ``--steps`` timed steps, and the variants are
interleaved for ``--rounds`` rounds; the median round is reported.

FLOPs per token (forward): Σ_layers 8·H·(I + H) for the LSTM matrix products (I = layer input
size), 2·H·V for the output projection and 5·V for the softmax cross-entropy; training counts
3× forward (the backward pass is two products per forward product). Gate nonlinearities and the
optimiser are left out (under 1%). The peak is a large float32 ``torch.mm`` on the same threads
(on a GPU: on the same device, in the benchmark's precision; TF32 stays off, as in training).
On a GPU every timestamp waits for the device to finish its queued work.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("HF_DATASETS_OFFLINE", "1")
os.environ.setdefault("KERAS_BACKEND", "jax")
sys.path.insert(0, str(Path(__file__).resolve().parent))

import machine  # noqa: E402
import torch  # noqa: E402
import torch.nn.functional as F  # noqa: E402
from torch import nn  # noqa: E402

import nlp_lstm  # noqa: E402
from nlp_lstm.precision import PrecisionUnavailable, autocast, require_precision  # noqa: E402
from nlp_lstm.tokenizer import train_tokenizer  # noqa: E402
from nlp_lstm.training.run import Callback  # noqa: E402

EMBEDDING, HIDDEN, LAYERS, SEQ_LEN, BATCH = 128, 512, 2, 256, 64


def flops_per_token(vocab: int) -> float:
    forward = sum(8 * HIDDEN * ((EMBEDDING if layer == 0 else HIDDEN) + HIDDEN) for layer in range(LAYERS))
    return 3 * (forward + 2 * HIDDEN * vocab + 5 * vocab)


def matmul_peak(device: torch.device, dtype: torch.dtype, size: int = 4096) -> float:
    """GFLOP/s of a large matrix product: the most this device does in this precision."""
    a, b = torch.randn(size, size, device=device, dtype=dtype), torch.randn(size, size, device=device, dtype=dtype)
    torch.mm(a, b)
    times = []
    for _ in range(3 if device.type == "cpu" else 20):
        started = machine.now(device)
        torch.mm(a, b)
        times.append(machine.now(device) - started)
    return 2 * size**3 / min(times) / 1e9


class StepTimer(Callback):
    """Timestamps every training step (a forward pre-hook) and stops the run after ``last`` steps."""

    class Done(Exception):
        pass

    def __init__(self, last: int, device: torch.device):
        self.last, self.stamps, self.device = last, [], device

    def on_start(self, info):
        info["model"].register_forward_pre_hook(self.hook)

    def hook(self, module, inputs):
        self.stamps.append(machine.now(self.device))
        if len(self.stamps) > self.last:  # the (last + 1)-th forward starts: `last` steps are complete
            raise self.Done


def ours(steps: int, threads: int, output: Path, device: torch.device, precision: str) -> float:
    """Tokens/s of the real training loop over ``steps`` steps after one warm-up step."""
    config = nlp_lstm.TrainConfig(
        dataset="builtin:shakespeare",
        tokenizer="char",
        seq_len=SEQ_LEN,
        batch_size=BATCH,
        max_steps=1_000_000,  # the schedule's length only; the timer stops the run
        eval_every=1_000_000,  # beyond the run: no evaluation or checkpoint inside the timed steps
        device=str(device),
        threads=threads,
        precision=precision,
    )
    timer = StepTimer(steps + 1, device)
    config = config.with_encoder(embedding_dim=EMBEDDING, hidden_size=HIDDEN, num_layers=LAYERS)
    with contextlib.suppress(StepTimer.Done):  # the timer's way of ending the run
        nlp_lstm.train(config, nlp_lstm.RunOptions(output, overwrite=True, callback=timer))
    return steps * BATCH * SEQ_LEN / (timer.stamps[-1] - timer.stamps[1])


class RawModel(nn.Module):
    def __init__(self, vocab: int):
        super().__init__()
        self.embedding = nn.Embedding(vocab, EMBEDDING)
        self.lstm = nn.LSTM(EMBEDDING, HIDDEN, LAYERS, dropout=0.2, batch_first=True)
        self.decoder = nn.Linear(HIDDEN, vocab)
        self.drop_in, self.drop_out = nn.Dropout(0.1), nn.Dropout(0.2)

    def forward(self, ids, state):
        features, state = self.lstm(self.drop_in(self.embedding(ids)), state)
        return self.decoder(self.drop_out(features)), state


def raw(steps: int, vocab: int, device: torch.device, precision: str) -> float:
    """Tokens/s of a minimal PyTorch loop of the same model: the ceiling for our loop."""
    model = RawModel(vocab).to(device)
    optimizer = torch.optim.AdamW(model.parameters(), lr=2e-3, weight_decay=0.01)
    data = torch.randint(2, vocab, (steps + 1, BATCH, SEQ_LEN + 1), device=device)
    state = None
    started = 0.0
    for step in range(steps + 1):
        if step == 1:
            started = machine.now(device)  # after the warm-up step
        inputs, targets = data[step, :, :-1], data[step, :, 1:]
        state = None if state is None else (state[0].detach().float(), state[1].detach().float())
        with autocast(device, precision):
            logits, state = model(inputs, state)
            loss = F.cross_entropy(logits.flatten(0, 1).float(), targets.flatten())
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        optimizer.step()
    return steps * BATCH * SEQ_LEN / (machine.now(device) - started)


def keras_model(vocab: int):
    import keras

    model = keras.Sequential(
        [
            keras.Input((SEQ_LEN,), batch_size=BATCH, dtype="int32"),
            keras.layers.Embedding(vocab, EMBEDDING),
            keras.layers.Dropout(0.1),
            keras.layers.LSTM(HIDDEN, return_sequences=True),
            keras.layers.Dropout(0.2),
            keras.layers.LSTM(HIDDEN, return_sequences=True),
            keras.layers.Dropout(0.2),
            keras.layers.Dense(vocab),
        ]
    )
    optimizer = keras.optimizers.AdamW(learning_rate=2e-3, weight_decay=0.01, global_clipnorm=1.0)
    model.compile(optimizer=optimizer, loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    return model


def keras_throughput(model, steps: int, vocab: int) -> float:
    import numpy as np

    data = np.random.default_rng(0).integers(2, vocab, (steps + 1, BATCH, SEQ_LEN + 1)).astype("int32")
    model.train_on_batch(data[0, :, :-1], data[0, :, 1:])  # warm-up (compiled on the first model's first call)
    started = time.perf_counter()
    for step in range(1, steps + 1):
        model.train_on_batch(data[step, :, :-1], data[step, :, 1:])
    return steps * BATCH * SEQ_LEN / (time.perf_counter() - started)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--steps", type=int, default=4, help="timed steps per variant and round")
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--skip-keras", action="store_true")
    parser.add_argument("--device", default="cpu", help="cpu or cuda")
    parser.add_argument("--precision", default="fp32", choices=["fp32", "bf16"], help="bf16: autocast, as --precision bf16")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    device = torch.device(args.device)
    try:
        require_precision(device, args.precision)
    except PrecisionUnavailable as error:
        parser.exit(2, f"error: {error}\n")
    where = machine.describe()
    vocab = train_tokenizer("char", nlp_lstm.load_text_splits("builtin:shakespeare").train).vocab_size
    dtype = torch.bfloat16 if args.precision == "bf16" else torch.float32
    peak = matmul_peak(device, dtype)
    print(f"{args.precision} matmul peak on {device}: {peak:.1f} GFLOP/s", flush=True)
    keras_backend, model = None, None
    if not args.skip_keras and device.type == "cpu":  # the Keras of the bench extra runs JAX on the CPU
        try:
            import keras

            keras_backend, model = keras.backend.backend(), keras_model(vocab)
        except ImportError as error:
            print(f"Keras skipped: {error}", flush=True)
    results: dict[str, list[float]] = {"nlp_lstm training loop": [], "raw PyTorch loop": []}
    if model is not None:
        results[f"Keras {keras.__version__} ({keras_backend}) train_on_batch"] = []
    with tempfile.TemporaryDirectory() as scratch:
        for round_ in range(args.rounds):  # interleaved, so a burst of load hits every variant alike
            results["nlp_lstm training loop"].append(
                ours(args.steps, args.threads, Path(scratch) / "run", device, args.precision)
            )
            torch.set_num_threads(args.threads)
            results["raw PyTorch loop"].append(raw(args.steps, vocab, device, args.precision))
            if model is not None:
                results[list(results)[-1]].append(keras_throughput(model, args.steps, vocab))
            print(f"round {round_ + 1}: " + ", ".join(f"{k} {v[-1]:,.0f} tok/s" for k, v in results.items()), flush=True)
    medians = {name: statistics.median(values) for name, values in results.items()}
    per_token = flops_per_token(vocab)
    table = [
        f"Character LM, vocabulary {vocab}, embedding {EMBEDDING}, {LAYERS}×{HIDDEN} LSTM, BPTT {SEQ_LEN}, batch {BATCH}, "
        f"AdamW + clipping; device {device}, {args.precision}, {args.threads} threads; median of {args.rounds} interleaved "
        f"rounds of {args.steps} steps after a warm-up step. Ours excludes evaluation and checkpointing (they run every "
        "eval_every steps only).",
        f"FLOPs/token (training, 3× forward) = {per_token / 1e6:.2f} M; {args.precision} `torch.mm` 4096² peak "
        f"{peak:.1f} GFLOP/s.",
        "",
        "| loop | tokens/s | GFLOP/s | % of matmul peak | ours ÷ this |",
        "| --- | ---: | ---: | ---: | ---: |",
    ]
    ours_rate = medians["nlp_lstm training loop"]
    for name, rate in medians.items():
        gflops = rate * per_token / 1e9
        table.append(f"| {name} | {rate:,.0f} | {gflops:.1f} | {100 * gflops / peak:.0f}% | {ours_rate / rate:.2f} |")
    print("\n".join(table))
    machine.record("Training throughput", where, "\n".join(table))


if __name__ == "__main__":
    main()
