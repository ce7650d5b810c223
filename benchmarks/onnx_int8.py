"""Does int8 pay? ``nlp-lstm export --int8`` against the float32 export, both run by ONNX Runtime, paired.

    python benchmarks/onnx_int8.py [--repeats 5] [--chars 500] [--rows 64] [--record]

The bars of issue 29, checked on this CPU:

* checkpoints/shakespeare-char: batch-1 greedy generation at least 1.5x as fast (µs/char, whole
  ``runtime.generate`` calls, A B A B ...), at a cost of at most 0.002 bits/char on the built-in
  shakespeare validation plays. Bits/char are measured as ``nlp-lstm evaluate lm`` does
  (``metrics.language_model_loss``: the split as one stream, ``--rows`` rows in parallel, each
  first reading the 512 characters before it), through the exported step fed one character at a time;
* checkpoints/sentiment: texts/s at least 1.3x on our imdb validation split (2,500 reviews,
  tokenisation included), at a cost of at most 0.3 points of accuracy on the imdb and
  rotten_tomatoes validation splits.

One thread on both sides (the CLI's default). Dynamic quantisation quantises activations per call,
over the whole batch: the bits/char rows read ``--rows`` rows at once, generation reads one.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

import machine  # noqa: E402
from onnx_runtime import paired, timed  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
GENERATION_BAR, BITS_BAR = 1.5, 0.002
CLASSIFY_BAR, ACCURACY_BAR = 1.3, 0.3  # times, points


def bits_per_char(exported, text_ids, rows: int) -> float:
    """Bits/char of the exported step over ``text_ids`` read as ``metrics.language_model_loss`` reads a stream."""
    import torch

    from nlp_lstm.data.batching import eval_batches
    from nlp_lstm.metrics import EVAL_WARMUP

    batches, context = eval_batches(torch.from_numpy(text_ids), rows, 256, EVAL_WARMUP)
    session = exported.session
    layers, hidden = session.get_inputs()[1].shape[0], session.get_inputs()[1].shape[2]
    h = c = np.zeros((layers, min(rows, len(text_ids) - 1), hidden), dtype=np.float32)
    if context is not None:
        _, h, c = session.run(None, {"ids": context.numpy(), "h": h, "c": c})
        h[:, 0], c[:, 0] = 0.0, 0.0  # row 0 begins the text
    nats, count = 0.0, 0
    for inputs, targets in batches:
        for step in range(inputs.shape[1]):
            logits, h, c = session.run(None, {"ids": inputs[:, step : step + 1].numpy(), "h": h, "c": c})
            target = targets[:, step].numpy()
            scored = target != -100
            shifted = logits[scored].astype(np.float64)
            shifted -= shifted.max(axis=1, keepdims=True)
            log_norm = np.log(np.exp(shifted).sum(axis=1))
            nats -= float((shifted[np.arange(len(shifted)), target[scored]] - log_norm).sum())
            count += int(scored.sum())
    return nats / count / np.log(2)


def generation_rows(exports: dict[str, Path], chars: int, rows: int, repeats: int) -> tuple[list[str], bool]:
    import nlp_lstm
    from nlp_lstm import runtime
    from nlp_lstm.data.token_store import stream_ids

    models = {name: runtime.load_exported(path, threads=1) for name, path in exports.items()}
    runs = {name: (lambda m=model: timed(lambda: runtime.generate(m, "ROMEO:", chars), chars)) for name, model in models.items()}
    for run in runs.values():
        run()  # warm-up
    speed = {name: statistics.median(v) for name, v in paired(runs, repeats).items()}
    same = runtime.generate(models["float32"], "ROMEO:", chars) == runtime.generate(models["int8"], "ROMEO:", chars)
    saved = nlp_lstm.load_model(ROOT / "checkpoints/shakespeare-char")
    text_ids = np.asarray(
        stream_ids(nlp_lstm.load_text_splits("builtin:shakespeare").validation, saved.tokenizer), dtype=np.int64
    )
    bits = {}
    for name, model in models.items():
        start = time.perf_counter()
        bits[name] = bits_per_char(model, text_ids, rows)
        print(f"bits/char {name}: {bits[name]:.4f} ({time.perf_counter() - start:.0f} s)", flush=True)
    gain, cost = speed["float32"] / speed["int8"], bits["int8"] - bits["float32"]
    passed = gain >= GENERATION_BAR and cost <= BITS_BAR
    lines = [
        f"| checkpoints/shakespeare-char | greedy generate, {chars} chars, µs/char (median) | bits/char, validation plays ({len(text_ids) - 1:,} chars) |",
        "| --- | --- | --- |",
        *(f"| {name} | {speed[name]:.0f} | {bits[name]:.4f} |" for name in models),
        f"| int8 against float32 | {gain:.2f}x (bar ≥ {GENERATION_BAR}x) | {cost:+.4f} (bar ≤ {BITS_BAR}) |",
        "",
        f"Generation bar met: {'yes' if passed else 'NO'}. Greedy text of int8 equal to float32's for {chars} chars: {'yes' if same else 'no'}.",
    ]  # fmt: skip
    return lines, passed


def accuracy(model, split, names: list[str]) -> float:
    """Percent of ``split`` labelled right (``names``: the split's label names, by label id)."""
    from nlp_lstm import runtime

    predicted = [p.label for p in runtime.classify(model, split.texts)]
    return 100 * float(np.mean([p == names[y] for p, y in zip(predicted, split.labels)]))


def classifier_rows(exports: dict[str, Path], repeats: int) -> tuple[list[str], bool]:
    import nlp_lstm
    from nlp_lstm import runtime

    models = {name: runtime.load_exported(path, threads=1) for name, path in exports.items()}
    imdb, rotten = nlp_lstm.load_labelled_splits("builtin:imdb"), nlp_lstm.load_labelled_splits("builtin:rotten_tomatoes")
    texts = imdb.validation.texts
    runs = {
        name: (lambda m=model: len(texts) / (timed(lambda: runtime.classify(m, texts), 1) / 1e6))
        for name, model in models.items()
    }
    speed = {name: statistics.median(v) for name, v in paired(runs, repeats).items()}
    scores = {
        name: {"imdb": accuracy(m, imdb.validation, imdb.label_names), "rt": accuracy(m, rotten.validation, rotten.label_names)}
        for name, m in models.items()
    }
    gain = speed["int8"] / speed["float32"]
    cost = max(scores["float32"][split] - scores["int8"][split] for split in ("imdb", "rt"))
    passed = gain >= CLASSIFY_BAR and cost <= ACCURACY_BAR
    lines = [
        f"| checkpoints/sentiment | texts/s, imdb validation ({len(texts):,} reviews), median | accuracy % imdb validation | accuracy % rotten_tomatoes validation ({len(rotten.validation):,}) |",
        "| --- | --- | --- | --- |",
        *(f"| {name} | {speed[name]:.0f} | {scores[name]['imdb']:.2f} | {scores[name]['rt']:.2f} |" for name in models),
        f"| int8 against float32 | {gain:.2f}x (bar ≥ {CLASSIFY_BAR}x) | {scores['int8']['imdb'] - scores['float32']['imdb']:+.2f} points | "
        f"{scores['int8']['rt'] - scores['float32']['rt']:+.2f} points (bar: no more than {ACCURACY_BAR} lost) |",
        "",
        f"Classifier bar met: {'yes' if passed else 'NO'}.",
    ]  # fmt: skip
    return lines, passed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--chars", type=int, default=500)
    parser.add_argument("--rows", type=int, default=64, help="rows read in parallel for bits/char")
    parser.add_argument("--record", action="store_true", help="append the figures to benchmarks/RESULTS.md")
    args = parser.parse_args()
    import onnxruntime
    import torch

    import nlp_lstm
    from nlp_lstm.export import export_onnx

    torch.set_num_threads(1)
    where = machine.describe()
    with tempfile.TemporaryDirectory() as scratch:
        exports: dict[str, dict[str, Path]] = {"lm": {}, "classifier": {}}
        for kind, name in (("lm", "shakespeare-char"), ("classifier", "sentiment")):
            saved = nlp_lstm.load_model(ROOT / "checkpoints" / name)
            for weights in ("float32", "int8"):
                exports[kind][weights] = export_onnx(saved, Path(scratch) / f"{kind}-{weights}", int8=weights == "int8")
        sizes = {kind: {w: (p / "model.onnx").stat().st_size / 2**20 for w, p in e.items()} for kind, e in exports.items()}
        lines, lm_passed = generation_rows(exports["lm"], args.chars, args.rows, args.repeats)
        more, classifier_passed = classifier_rows(exports["classifier"], args.repeats)
    lines += ["", *more, ""]
    lines += [f"model.onnx of {kind}: {s['float32']:.1f} MiB float32, {s['int8']:.1f} MiB int8." for kind, s in sizes.items()]
    lines += [f"onnxruntime {onnxruntime.__version__}, one thread; bits/char read {args.rows} rows at once."]
    print(where)
    print("\n".join(lines))
    if args.record:
        machine.record("int8 exports (ONNX Runtime dynamic quantisation) against float32", where, "\n".join(lines))


if __name__ == "__main__":
    main()
