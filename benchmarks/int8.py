"""Would int8 weights make sampling faster, and at what cost in agreement? A measurement, not a shipped path.

    python benchmarks/int8.py [--threads 2] [--steps 300] [--repeats 5] [--chars 3000]

At batch 1 a sampling step streams every LSTM weight from memory once, so int8 weights (a
quarter of float32's bytes) could step faster. This builds an int8 version of
``nlp_lstm.stepping.LSTMStepper`` for the shipped 2×640 model and a random 2×512 one with
PyTorch's dynamic quantization kernels (fbgemm: per-output-channel int8 weights, activations
quantized on the fly; the embedding lookup table stays float32) and measures:

* speed: µs per step at batch 1, float32 stepper against int8 stepper, interleaved repeats,
  best and median;
* agreement (shipped model only): both steppers read the same ``--chars`` characters of the
  Shakespeare test plays, teacher-forced; reported are the bits/char of each, the largest
  logit difference, and how often their most likely next character is the same.
"""

from __future__ import annotations

import argparse
import math
import os
import statistics
import sys
import time
import warnings
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("HF_DATASETS_OFFLINE", "1")
sys.path.insert(0, str(Path(__file__).resolve().parent))

import machine  # noqa: E402
import torch  # noqa: E402
import torch.nn.functional as F  # noqa: E402

import nlp_lstm  # noqa: E402
from nlp_lstm.catalog import shipped_model_dir  # noqa: E402
from nlp_lstm.config import ModelConfig  # noqa: E402
from nlp_lstm.model import LanguageModel  # noqa: E402
from nlp_lstm.stepping import LSTMStepper  # noqa: E402


def quantized(weight: torch.Tensor, bias: torch.Tensor):
    """fbgemm's packed int8 form of ``weight`` (out, in), per-output-channel symmetric scales."""
    scales = weight.abs().amax(dim=1).clamp_min(1e-12) / 127
    with warnings.catch_warnings():  # the quantized-tensor API is deprecated in favour of torchao
        warnings.simplefilter("ignore")
        qweight = torch.quantize_per_channel(weight, scales, torch.zeros_like(scales, dtype=torch.long), 0, torch.qint8)
    return torch.ops.quantized.linear_prepack(qweight, bias)


class Int8Stepper(LSTMStepper):
    """``LSTMStepper`` with the recurrent, stacked and decoder products in int8."""

    def __init__(self, model: LanguageModel):
        super().__init__(model, chunks=1)
        lstm = model.encoder.lstm
        zeros = torch.zeros(4 * self.hidden_size)
        self.q_recurrent0 = quantized(lstm.weight_hh_l0.detach(), zeros)
        self.q_stacked = [
            quantized(
                torch.cat([getattr(lstm, f"weight_ih_l{layer}"), getattr(lstm, f"weight_hh_l{layer}")], 1).detach(),
                (getattr(lstm, f"bias_ih_l{layer}") + getattr(lstm, f"bias_hh_l{layer}")).detach(),
            )
            for layer in range(1, self.num_layers)
        ]
        self.q_decoder = quantized(model.head.decoder.weight.detach(), self.decoder_bias)

    def step(self, ids, state):
        h, c = state
        h_new, c_new = torch.empty_like(h), torch.empty_like(c)
        linear = torch.ops.quantized.linear_dynamic
        self._cell(self.input_table[ids] + linear(h[0], self.q_recurrent0), c[0], h_new[0], c_new[0])
        for layer in range(1, self.num_layers):
            inputs = torch.cat([h_new[layer - 1], h[layer]], dim=1)
            self._cell(linear(inputs, self.q_stacked[layer - 1]), c[layer], h_new[layer], c_new[layer])
        return linear(h_new[-1], self.q_decoder), (h_new, c_new)


def time_steps(stepper, model, steps: int) -> float:
    """µs per step at batch 1."""
    ids = torch.tensor([5])
    state = model.encoder.initial_state(1)
    started = time.perf_counter()
    for _ in range(steps):
        _, state = stepper.step(ids, state)
    return (time.perf_counter() - started) / steps * 1e6


def agreement(model, tokenizer, text: str) -> dict[str, float]:
    ids = torch.as_tensor(tokenizer.encode(text))
    steppers = {"fp32": LSTMStepper(model), "int8": Int8Stepper(model)}
    states = {name: model.encoder.initial_state(1) for name in steppers}
    nats = {name: 0.0 for name in steppers}
    same, largest = 0, 0.0
    for position in range(len(ids) - 1):
        logits = {}
        for name, stepper in steppers.items():
            logits[name], states[name] = stepper.step(ids[position : position + 1], states[name])
            nats[name] += float(F.cross_entropy(logits[name], ids[position + 1 : position + 2]))
        same += int(logits["fp32"].argmax() == logits["int8"].argmax())
        largest = max(largest, float((logits["fp32"] - logits["int8"]).abs().max()))
    count = len(ids) - 1
    return {
        "fp32 bits/char": nats["fp32"] / count / math.log(2),
        "int8 bits/char": nats["int8"] / count / math.log(2),
        "largest logit difference": largest,
        "same most likely next char": same / count,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--steps", type=int, default=300)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--chars", type=int, default=3000)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    where = machine.describe()
    shipped = nlp_lstm.load_model(shipped_model_dir("lm"))
    config = ModelConfig(vocab_size=shipped.config.vocab_size, embedding_dim=128, hidden_size=512, num_layers=2)
    models = {"shipped 2×640": shipped.model.eval(), "2×512 (random weights)": LanguageModel(config).eval()}
    rows = []
    with torch.inference_mode():
        for name, model in models.items():
            steppers = {"float32 stepper": LSTMStepper(model), "int8 stepper": Int8Stepper(model)}
            times = {variant: [] for variant in steppers}
            for stepper in steppers.values():
                time_steps(stepper, model, 20)  # warm-up
            for _ in range(args.repeats):
                for variant, stepper in steppers.items():
                    times[variant].append(time_steps(stepper, model, args.steps))
            for variant, values in times.items():
                rows.append((name, variant, min(values), statistics.median(values)))
                print(f"{name} {variant}: best {min(values):.1f}, median {statistics.median(values):.1f} µs/step", flush=True)
        test_text = "\n".join(nlp_lstm.load_text_splits("builtin:shakespeare").test)[: args.chars]
        agree = agreement(shipped.model, shipped.tokenizer, test_text)
    table = [
        f"Batch 1, {args.threads} threads; best and median of {args.repeats} interleaved repeats of {args.steps} steps.",
        "",
        "| model | stepper | µs/step (best) | median | float32 ÷ int8 (best) |",
        "| --- | --- | ---: | ---: | ---: |",
    ]
    for name, variant, best, median in rows:
        fp32 = next(b for n, v, b, _ in rows if n == name and v == "float32 stepper")
        table.append(f"| {name} | {variant} | {best:.1f} | {median:.1f} | {fp32 / best:.2f}× |")
    table += ["", f"Agreement on the first {args.chars} characters of the shipped model's test plays (teacher-forced):", ""]
    table += [f"- {key}: {value:.4f}" for key, value in agree.items()]
    print("\n".join(table))
    machine.record(
        "int8 sampling step (measured, not shipped)",
        where,
        "\n".join(table),
    )


if __name__ == "__main__":
    main()
