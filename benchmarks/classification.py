"""Classifier inference throughput on IMDB-length reviews: fixed padding vs length buckets vs pack_padded_sequence.

    python benchmarks/classification.py [--threads 2] [--texts 400] [--repeats 3] [--batch-size 64] [--device cuda]
    python benchmarks/classification.py --models OLD_MODEL checkpoints/sentiment  # end to end, ratios to the first

The shipped sentiment classifier (texts cut to its own max_length)
reads ``--texts`` reviews drawn (seed 0) from the test part of our built-in ``imdb`` split, so
the lengths are IMDB's. Tokenisation is done once, outside the timing; three ways to batch:

* fixed padding: batches in input order, every text padded to max_length;
* length buckets: ``nlp_lstm.prediction.predict_probabilities`` (texts sorted by length, each
  batch padded to its longest text), what ``nlp_lstm.classify`` does;
* pack_padded_sequence: batches in input order, padded to their longest text, and both LSTM
  stacks run on packed sequences so no step is spent on padding (an ensemble's members one by
  one, their probabilities averaged as ``ClassifierEnsemble`` does).

All three must give the same labels; the largest probability difference is printed. Single-text
latency is ``nlp_lstm.classify`` on one review of median length, tokenisation included.
Variants are interleaved within each repeat; the median repeat is reported. On a GPU each timing
waits for the device to finish (cuDNN runs packed sequences natively there, so packing may win).
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
import numpy as np  # noqa: E402
import torch  # noqa: E402
from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence  # noqa: E402

import nlp_lstm  # noqa: E402
from nlp_lstm.catalog import shipped_model_dir  # noqa: E402
from nlp_lstm.model import ClassifierEnsemble, reverse_within_lengths  # noqa: E402
from nlp_lstm.prediction import encode_for, predict_probabilities  # noqa: E402


def seconds(run, device: torch.device) -> float:
    """Wall time of ``run()``, including the device work it queued."""
    started = machine.now(device)
    run()
    return machine.now(device) - started


def padded(ids: list[np.ndarray], width: int) -> tuple[torch.Tensor, torch.Tensor]:
    lengths = torch.tensor([len(x) for x in ids])
    batch = torch.zeros(len(ids), width, dtype=torch.long)  # pad id 0
    for row, x in enumerate(ids):
        batch[row, : len(x)] = torch.from_numpy(x)
    return batch, lengths


def shape(config) -> str:
    return f"{'bi' if config.bidirectional else ''}LSTM {config.num_layers}×{config.hidden_size}"


def fixed_padding(model, ids: list[np.ndarray], batch_size: int, width: int) -> torch.Tensor:
    device = next(model.parameters()).device
    out = []
    for start in range(0, len(ids), batch_size):
        batch, lengths = padded(ids[start : start + batch_size], width)
        out.append(model(batch.to(device), lengths.to(device)).softmax(-1).cpu())
    return torch.cat(out)


def packed_forward(model, ids: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
    """The classifier's forward in eval mode with both LSTM stacks on packed sequences."""
    encoder = model.encoder
    lengths, ids = lengths.cpu(), ids.to(next(model.parameters()).device)  # packing wants the lengths on the CPU
    embedded = encoder.embedding(ids)  # (B, T, E)

    def run(lstm, inputs):
        packed = pack_padded_sequence(inputs, lengths, batch_first=True, enforce_sorted=False)
        return pad_packed_sequence(lstm(packed)[0], batch_first=True, total_length=ids.shape[1])[0]

    features = run(encoder.lstm, embedded)
    if encoder.lstm_reverse is not None:  # reverse each text within its length, as Encoder.forward does
        order = reverse_within_lengths(lengths, ids.shape[1]).to(ids.device)[..., None]
        backward = run(encoder.lstm_reverse, embedded.gather(1, order.expand_as(embedded)))
        features = torch.cat([features, backward.gather(1, order.expand_as(backward))], dim=2)
    return model.head(features, lengths.to(ids.device))


def packed(model, ids: list[np.ndarray], batch_size: int) -> torch.Tensor:
    members = model.members if isinstance(model, ClassifierEnsemble) else [model]
    out = []
    for start in range(0, len(ids), batch_size):
        chunk = ids[start : start + batch_size]
        batch, lengths = padded(chunk, max(len(x) for x in chunk))
        out.append(torch.stack([packed_forward(m, batch, lengths).softmax(-1) for m in members]).mean(0).cpu())
    return torch.cat(out)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--texts", type=int, default=400)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--device", default="cpu", help="cpu or cuda")
    parser.add_argument(
        "--models", nargs="*", default=[], help="classifier (or teacher) directories to compare end to end on the same reviews"
    )
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    device = torch.device(args.device)
    where = machine.describe()
    saved = nlp_lstm.load_model(shipped_model_dir("classifier"), device=device)
    model = saved.model.eval()
    test = nlp_lstm.load_labelled_splits("builtin:imdb").test
    pick = np.random.default_rng(0).choice(len(test.texts), size=min(args.texts, len(test.texts)), replace=False)
    texts = [test.texts[i] for i in pick]
    ids = encode_for(saved, texts)
    lengths = np.array([len(x) for x in ids])
    width = saved.inputs["max_length"]
    runs = {
        "fixed padding (max_length)": lambda: fixed_padding(model, ids, args.batch_size, width),
        "length buckets (predict_probabilities)": lambda: predict_probabilities(model, ids, args.batch_size),
        "pack_padded_sequence": lambda: packed(model, ids, args.batch_size),
    }
    times = {name: [] for name in runs}
    outputs = {}
    with torch.inference_mode():
        for run in runs.values():  # warm-up: the first calls of each shape pick and build kernels
            run()
        for _ in range(args.repeats):  # interleaved, so a burst of load hits every variant alike
            for name, run in runs.items():
                started = machine.now(device)
                outputs[name] = run()  # returned on the CPU, so the device has finished
                times[name].append(time.perf_counter() - started)
                print(f"{name}: {len(ids) / times[name][-1]:.1f} texts/s", flush=True)
        median_text = texts[int(np.argsort(lengths)[len(lengths) // 2])]
        nlp_lstm.classify(saved, [median_text])
        single = statistics.median(seconds(lambda: nlp_lstm.classify(saved, [median_text]), device) for _ in range(20))
    table = [
        f"Shipped sentiment classifier ({' + '.join(shape(m.config) for m in getattr(model, 'members', [model]))}, "
        f"{saved.tokenizer.kind} tokens); "
        f"{len(ids)} reviews from "
        f"our imdb test split, {lengths.mean():.0f} tokens on average (median {np.median(lengths):.0f}, max {lengths.max()}, "
        f"cut at {width}); batch {args.batch_size}; device {device}, {args.threads} threads; median of {args.repeats} interleaved repeats after a warm-up pass.",
        "",
        *batching_rows(outputs, times, len(ids)),
    ]
    table += [
        "",
        f"Single-text latency (`nlp_lstm.classify`, one {len(encode_for(saved, [median_text])[0])}-token review): {single * 1e3:.1f} ms.",
    ]
    if args.models:
        table += ["", *compare_models(args.models, texts, args.repeats, device)]
    print("\n".join(table))
    machine.record("Classifier inference throughput", where, "\n".join(table))


def batching_rows(outputs: dict[str, torch.Tensor], times: dict[str, list[float]], count: int) -> list[str]:
    """The table of the three batchings: speed against fixed padding, and whether they agree with it."""
    reference = outputs["fixed padding (max_length)"]
    rate = {name: count / statistics.median(values) for name, values in times.items()}
    base = rate["fixed padding (max_length)"]
    rows = [
        "| batching | texts/s | × fixed padding | same labels | max prob. difference |",
        "| --- | ---: | ---: | :---: | ---: |",
    ]
    for name in outputs:
        same = bool((outputs[name].argmax(-1) == reference.argmax(-1)).all())
        rows.append(
            f"| {name} | {rate[name]:.1f} | {rate[name] / base:.2f}× | {'yes' if same else 'NO'} | "
            f"{(outputs[name] - reference).abs().max():.1e} |"
        )
    return rows


def compare_models(directories: list[str], texts: list[str], repeats: int, device: torch.device) -> list[str]:
    """``nlp_lstm.classify`` end to end (tokenisation included) for each model on the same reviews, interleaved."""
    models = {directory: nlp_lstm.load_model(directory, device=device, kind="classifier") for directory in directories}
    times: dict[str, list[float]] = {directory: [] for directory in directories}
    single: dict[str, float] = {}
    with torch.inference_mode():
        for saved in models.values():  # warm-up
            nlp_lstm.classify(saved, texts[:64])
        for _ in range(repeats):
            for directory, saved in models.items():
                times[directory].append(seconds(lambda saved=saved: nlp_lstm.classify(saved, texts), device))
                print(f"{directory}: {len(texts) / times[directory][-1]:.1f} texts/s", flush=True)
        median_text = sorted(texts, key=len)[len(texts) // 2]
        for directory, saved in models.items():
            single[directory] = statistics.median(
                seconds(lambda s=saved: nlp_lstm.classify(s, [median_text]), device) for _ in range(20)
            )
    first = directories[0]
    rate = {directory: len(texts) / statistics.median(values) for directory, values in times.items()}
    lines = [
        f"Models end to end (`nlp_lstm.classify`, tokenisation included) on the same {len(texts)} reviews, median of "
        f"{repeats} interleaved repeats; single text: the review of median length, median of 20 calls.",
        "",
        f"| model | texts/s | × `{first}` | single text (ms) |",
        "| --- | ---: | ---: | ---: |",
    ]
    for directory in directories:
        lines.append(
            f"| `{directory}` | {rate[directory]:.1f} | {rate[directory] / rate[first]:.2f}× | {single[directory] * 1e3:.1f} |"
        )
    return lines


if __name__ == "__main__":
    main()
