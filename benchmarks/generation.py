"""Generation latency in µs per character: our fused stepper against stepping nn.LSTM and re-running the prefix.

    python benchmarks/generation.py [--threads 2] [--steps 300] [--repeats 5] [--naive-length 100] [--device cuda]

Two models: the shipped character model (2×640) and a 2×512 one with random weights (speed does
not depend on the values). For each, at batch 1 and batch 32:

* stepper: ``nlp_lstm.stepping.LSTMStepper.step``, the pure step (no sampling);
* nn.LSTM step: the model's own ``forward`` called with one character and the carried state;
* naive: re-run the whole prefix for every new character (``--naive-length`` characters, so its
  cost per character grows with the length: it is quadratic);
* sampling loop (batch 1): ``nlp_lstm.sampling.generate_stream`` end to end, temperature 0.8,
  i.e. step + sampling + decoding; the difference to the step it uses (the stepper on a CPU,
  nn.LSTM's cuDNN kernel on a GPU: ``nlp_lstm.stepping.stepper_for``) is the sampling overhead.

µs/char is the time of one step divided by the batch size (a step of batch 32 makes 32
characters). Variants are interleaved within each repeat. On a shared machine a burst of other
load can stall a run many times over (two threads waiting on each other), so the table gives the
best repeat, the least disturbed one (as ``timeit`` does), and the median next to it. On a GPU
each timing waits for the device to finish its queued work.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("HF_DATASETS_OFFLINE", "1")
sys.path.insert(0, str(Path(__file__).resolve().parent))

import machine  # noqa: E402
import torch  # noqa: E402

import nlp_lstm  # noqa: E402
from nlp_lstm.catalog import shipped_model_dir  # noqa: E402
from nlp_lstm.checkpoint import ModelBundle  # noqa: E402
from nlp_lstm.config import ModelConfig, SampleConfig  # noqa: E402
from nlp_lstm.model import LanguageModel  # noqa: E402
from nlp_lstm.sampling import generate_stream  # noqa: E402
from nlp_lstm.stepping import KernelStepper, LSTMStepper, stepper_for  # noqa: E402


def per_char(run, steps: int, batch: int, device: torch.device) -> float:
    """µs per character of ``run(steps)``, including the device work it queued."""
    started = machine.now(device)
    run(steps)
    return (machine.now(device) - started) / steps / batch * 1e6


def variants(saved: ModelBundle, batch: int, args) -> dict:
    """name -> callable(steps) for one model and batch size; each starts from a primed state."""
    model = saved.model
    stepper = LSTMStepper(model)
    device = next(model.parameters()).device
    ids = torch.randint(2, model.config.vocab_size, (batch,), device=device)
    state0 = model.encoder.initial_state(batch)  # on the model's device

    def stepper_loop(steps):
        state = state0
        for _ in range(steps):
            _, state = stepper.step(ids, state)

    def nn_lstm_loop(steps):
        state, step_ids = state0, ids[:, None]
        for _ in range(steps):
            _, state = model(step_ids, state)

    def naive_loop(steps):
        prefix = ids[:, None]
        for _ in range(steps):  # the whole prefix again for every character, then append the argmax
            logits, _ = model(prefix)
            prefix = torch.cat([prefix, logits[:, -1:].argmax(-1)], dim=1)

    runs = {"stepper": (stepper_loop, args.steps), "nn.LSTM step": (nn_lstm_loop, args.steps)}
    runs["naive (re-run prefix)"] = (naive_loop, args.naive_length)
    if batch == 1:
        config = SampleConfig(length=args.steps, temperature=0.8, seed=0)
        runs["sampling loop"] = (
            lambda steps: sum(1 for _ in generate_stream(saved, "ROMEO:", config.replace(length=steps))),
            args.steps,
        )
    return runs


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--steps", type=int, default=300, help="characters per timed run")
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--naive-length", type=int, default=100)
    parser.add_argument("--device", default="cpu", help="cpu or cuda")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    device = torch.device(args.device)
    where = machine.describe()
    shipped = nlp_lstm.load_model(shipped_model_dir("lm"), device=device)
    config = ModelConfig(vocab_size=shipped.config.vocab_size, embedding_dim=128, hidden_size=512, num_layers=2)
    models = {
        "shipped 2×640": shipped,
        "2×512 (random weights)": ModelBundle(LanguageModel(config).to(device).eval(), shipped.tokenizer, "lm", None, {}),
    }
    rows = []
    with torch.inference_mode():
        for model_name, saved in models.items():
            saved.model.eval()
            for batch in (1, 32):
                runs = variants(saved, batch, args)
                for run, steps in runs.values():  # warm-up: first calls allocate and pick kernels
                    run(min(steps, 20))
                times = {name: [] for name in runs}
                for _ in range(args.repeats):  # interleaved, so a burst of load hits every variant alike
                    for name, (run, steps) in runs.items():
                        times[name].append(per_char(run, steps, batch, device))
                best = {name: min(values) for name, values in times.items()}
                used = best["nn.LSTM step" if isinstance(stepper_for(saved.model), KernelStepper) else "stepper"]
                for name, value in best.items():
                    median = statistics.median(times[name])
                    rows.append((model_name, batch, name, value, median, best["nn.LSTM step"] / value, used))
                    print(f"{model_name} batch {batch} {name}: best {value:.1f}, median {median:.1f} µs/char", flush=True)

    table = [
        f"Device {device}, {args.threads} threads; best and median of {args.repeats} interleaved repeats of {args.steps} steps "
        f"(naive: {args.naive_length} characters from a 1-character prompt, so its per-character cost is the mean over prefix lengths 1–{args.naive_length}).",
        "",
        "| model | batch | path | µs/char (best) | median | speed-up over nn.LSTM step (best) | over the step it uses |",
        "| --- | ---: | --- | ---: | ---: | ---: | ---: |",
    ]
    for model_name, batch, name, value, median, speedup, step in rows:
        overhead = f"{value - step:+.0f} µs" if name == "sampling loop" else "-"
        table.append(f"| {model_name} | {batch} | {name} | {value:.1f} | {median:.1f} | {speedup:.2f}× | {overhead} |")
    print("\n".join(table))
    machine.record("Generation latency", where, "\n".join(table))


if __name__ == "__main__":
    main()
