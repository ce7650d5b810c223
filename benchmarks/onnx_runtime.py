"""The ONNX export run by ONNX Runtime (``--runtime onnx``) against the torch path, paired on one machine.

    python benchmarks/onnx_runtime.py [--repeats 5] [--texts 400] [--chars 500] [--record]

Both shipped models are exported once into a temporary directory. Then, each pair run A B A B ... so
that a drifting machine hits both alike, one thread each (the CLI's default):

* cold ``classify "one sentence"``: a fresh process per run, wall time and peak RSS (VmHWM);
  the bar of issue 29 is 0.6 s for the ONNX path;
* batch-1 generation: µs per character of the step alone (``LSTMStepper.step`` against one
  ``session.run``) and of whole greedy generations (``nlp_lstm.generate`` against ``runtime.generate``);
* classification throughput: texts/s of ``classify`` on ``--texts`` reviews of our imdb test split
  (seed 0), tokenisation included, both in this process after a warm-up.
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

import machine  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
COLD_BAR_S = 0.6


# Runs the CLI in this process and reports its peak resident memory (VmHWM: per address space, so unlike
# ru_maxrss it does not inherit the parent's peak across fork and exec) on stderr's last line.
PROBE = """
import runpy, sys
sys.argv = ["nlp-lstm", *sys.argv[1:]]
try:
    runpy.run_module("nlp_lstm", run_name="__main__")
except SystemExit as stop:
    code = stop.code
else:
    code = 0
peak = [line for line in open("/proc/self/status") if line.startswith("VmHWM")][0].split()[1]
print(peak, file=sys.stderr)
sys.exit(code)
"""


def cold_run(arguments: list[str]) -> tuple[float, float]:
    """Wall seconds and peak resident MiB of one fresh process running ``nlp-lstm ARGUMENTS``."""
    start = time.perf_counter()
    result = subprocess.run([sys.executable, "-c", PROBE, *arguments], capture_output=True, text=True, cwd=ROOT)
    wall = time.perf_counter() - start
    if result.returncode != 0:
        raise SystemExit(f"nlp-lstm {' '.join(arguments)} failed: {result.stderr[-500:]}")
    return wall, int(result.stderr.split()[-1]) / 1024


def paired(runs: dict[str, object], repeats: int) -> dict[str, list]:
    """Each run ``repeats`` times, interleaved."""
    results: dict[str, list] = {name: [] for name in runs}
    for _ in range(repeats):
        for name, run in runs.items():
            results[name].append(run())  # type: ignore[operator]
    return results


def cold_rows(classifier_export: Path, repeats: int) -> list[str]:
    commands = {
        "torch": ["classify", "one sentence"],
        "onnx": ["classify", "one sentence", "--runtime", "onnx", "--model", str(classifier_export)],
    }
    cold_run(commands["torch"]), cold_run(commands["onnx"])  # warm the page cache for both
    results = paired({name: (lambda c=command: cold_run(c)) for name, command in commands.items()}, repeats)
    rows = ['| cold `classify "one sentence"` | wall s (median) | peak RSS MiB | bar |', "| --- | --- | --- | --- |"]
    for name, runs in results.items():
        wall, peak = statistics.median(r[0] for r in runs), max(r[1] for r in runs)
        bar = f"≤ {COLD_BAR_S} s: {'yes' if wall <= COLD_BAR_S else 'NO'}" if name == "onnx" else "-"
        rows.append(f"| {name} | {wall:.2f} | {peak:.0f} | {bar} |")
    return rows


def timed(run, count: int) -> float:
    """Microseconds per item of ``run()``, which does ``count`` items."""
    start = time.perf_counter()
    run()
    return (time.perf_counter() - start) / count * 1e6


def generation_rows(lm, lm_export: Path, chars: int, repeats: int) -> list[str]:
    import torch

    import nlp_lstm
    from nlp_lstm import runtime
    from nlp_lstm.stepping import LSTMStepper

    exported = runtime.load_exported(lm_export, threads=1)
    stepper = LSTMStepper(lm.model.eval(), banned_ids=lm.tokenizer.special_ids)
    layers, hidden = lm.config.num_layers, lm.config.hidden_size

    def torch_steps():
        state = lm.model.encoder.initial_state(1)
        ids = torch.tensor([5])
        with torch.inference_mode():
            for _ in range(chars):
                _, state = stepper.step(ids, state)

    def onnx_steps():
        zeros = np.zeros((layers, 1, hidden), dtype=np.float32)
        feed = {"ids": np.array([[5]], dtype=np.int64), "h": zeros, "c": zeros}
        for _ in range(chars):
            _, feed["h"], feed["c"] = exported.session.run(None, feed)

    config = nlp_lstm.SampleConfig(length=chars, temperature=0.0)
    runs = {
        "step: fused stepper (torch)": lambda: timed(torch_steps, chars),
        "step: session.run (onnx)": lambda: timed(onnx_steps, chars),
        "greedy generate (torch)": lambda: timed(lambda: nlp_lstm.generate(lm, "ROMEO:", config), chars),
        "greedy generate (onnx)": lambda: timed(lambda: runtime.generate(exported, "ROMEO:", chars), chars),
    }
    for run in runs.values():
        run()  # warm-up
    results = paired(runs, repeats)
    rows = [f"| batch-1 generation, {chars} chars | µs/char (median) | min |", "| --- | --- | --- |"]
    rows += [f"| {name} | {statistics.median(v):.0f} | {min(v):.0f} |" for name, v in results.items()]
    return rows


def classification_rows(classifier, classifier_export: Path, count: int, repeats: int) -> list[str]:
    import nlp_lstm
    from nlp_lstm import runtime

    exported = runtime.load_exported(classifier_export, threads=1)
    test = nlp_lstm.load_labelled_splits("builtin:imdb").test
    pick = np.random.default_rng(0).choice(len(test.texts), size=min(count, len(test.texts)), replace=False)
    texts = [test.texts[i] for i in pick]
    torch_labels = [p.label for p in nlp_lstm.classify(classifier, texts)]
    onnx_labels = [p.label for p in runtime.classify(exported, texts)]
    runs = {
        "torch (nlp_lstm.classify)": lambda: len(texts) / (timed(lambda: nlp_lstm.classify(classifier, texts), 1) / 1e6),
        "onnx (runtime.classify)": lambda: len(texts) / (timed(lambda: runtime.classify(exported, texts), 1) / 1e6),
    }
    results = paired(runs, repeats)
    agree = sum(a == b for a, b in zip(torch_labels, onnx_labels))
    rows = [f"| {len(texts)} imdb reviews, batch 64 | texts/s (median) | max |", "| --- | --- | --- |"]
    rows += [f"| {name} | {statistics.median(v):.0f} | {max(v):.0f} |" for name, v in results.items()]
    return [*rows, "", f"Labels agree on {agree} of {len(texts)} reviews."]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--texts", type=int, default=400)
    parser.add_argument("--chars", type=int, default=500)
    parser.add_argument("--record", action="store_true", help="append the figures to benchmarks/RESULTS.md")
    args = parser.parse_args()
    import torch

    import nlp_lstm
    from nlp_lstm.export import export_onnx

    torch.set_num_threads(1)
    where = machine.describe()
    lm, classifier = (
        nlp_lstm.load_model(ROOT / "checkpoints/shakespeare-char"),
        nlp_lstm.load_model(ROOT / "checkpoints/sentiment"),
    )
    with tempfile.TemporaryDirectory() as scratch:
        lm_export, classifier_export = export_onnx(lm, Path(scratch) / "lm"), export_onnx(classifier, Path(scratch) / "sentiment")
        lines = cold_rows(classifier_export, args.repeats)
        lines += ["", *generation_rows(lm, lm_export, args.chars, args.repeats)]
        lines += ["", *classification_rows(classifier, classifier_export, args.texts, args.repeats)]
    import onnxruntime

    lines += ["", f"onnxruntime {onnxruntime.__version__}, one thread on both paths."]
    print(where)
    print("\n".join(lines))
    if args.record:
        machine.record("ONNX export with ONNX Runtime against the torch path", where, "\n".join(lines))


if __name__ == "__main__":
    main()
