"""``nlp-lstm serve --runtime onnx`` beside the torch server: start-up and peak memory, paired.

    python benchmarks/onnx_serve.py [--repeats 5] [--record]

The shipped models are exported (float32, and int8 with ``--int8``) into a temporary directory. Then
each server (torch over the shipped directories, onnx over each export) is started ``--repeats``
times, the three interleaved: the seconds from the process's start to its first ``/health`` 200, then
to its first answer of ``/v1/classify`` (one sentence) and ``/v1/generate`` (200 characters), and its
peak resident memory (VmHWM) after those answers. One thread each (``--threads 1``).
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent))

import machine  # noqa: E402
from onnx_runtime import paired  # noqa: E402
from serve import peak_mib, start_server  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent


def one_start(options: list[str]) -> tuple[float, float, float, float]:
    """Seconds to the first /health, to the first classify and to the first generate answer; peak MiB."""
    started = time.perf_counter()
    process, url = start_server(*options)
    try:
        healthy = time.perf_counter() - started
        classified = httpx.post(url + "/v1/classify", json={"texts": ["a gorgeous, heartfelt film"]}, timeout=120)
        first_answer = time.perf_counter() - started
        generated = httpx.post(url + "/v1/generate", json={"prompt": "ROMEO:", "length": 200, "temperature": 0}, timeout=120)
        generate_answer = time.perf_counter() - started
        if classified.status_code != 200 or generated.status_code != 200:
            raise SystemExit(f"the server answered {classified.status_code} and {generated.status_code}: {options}")
        return healthy, first_answer, generate_answer, peak_mib(process)
    finally:
        process.terminate()
        process.wait()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--record", action="store_true", help="append the figures to benchmarks/RESULTS.md")
    args = parser.parse_args()
    import nlp_lstm

    where = machine.describe()
    with tempfile.TemporaryDirectory() as scratch:
        servers = {"torch (shipped model directories)": []}
        for weights in ("float32", "int8"):
            for kind, name in (("classifier", "sentiment"), ("lm", "shakespeare-char")):
                saved = nlp_lstm.load_model(ROOT / "checkpoints" / name, device="cpu")
                nlp_lstm.export_onnx(saved, Path(scratch) / f"{kind}-{weights}", int8=weights == "int8")
            exports = ["--classifier", f"{scratch}/classifier-{weights}", "--generator", f"{scratch}/lm-{weights}"]
            servers[f"onnx ({weights} exports)"] = ["--runtime", "onnx", *exports]
        for options in servers.values():
            one_start(options)  # warm the page cache for each
        results = paired({name: (lambda o=options: one_start(o)) for name, options in servers.items()}, args.repeats)
    rows = [
        "| server | first /health s | first classify answer s | first generate (200 chars) answer s | peak RSS MiB |",
        "| --- | --- | --- | --- | --- |",
    ]
    for name, runs in results.items():
        medians = [statistics.median(run[i] for run in runs) for i in range(3)]
        rows.append(f"| {name} | {medians[0]:.2f} | {medians[1]:.2f} | {medians[2]:.2f} | {max(run[3] for run in runs):.0f} |")
    body = "\n".join(rows) + f"\n\nMedians of {args.repeats} starts each, interleaved; peak RSS is the largest of them (VmHWM)."
    print(where)
    print(body)
    if args.record:
        machine.record("nlp-lstm serve --runtime onnx beside the torch server: start-up and memory", where, body)


if __name__ == "__main__":
    main()
