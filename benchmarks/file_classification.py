"""classify --input/--output on big CSVs: peak memory against the row count, and how soon the first rows are on disk.

    python benchmarks/file_classification.py [--rows 10000 1000000] [--threads 1]

For each row count it writes a CSV of short texts (3 to 12 words, seeded), runs
``nlp-lstm classify --input X.csv --output Y.csv`` with the shipped sentiment model in a fresh
process, and measures that process's peak resident memory (``wait4``'s ru_maxrss), the seconds
until the output holds its first classified row, the total time and rows/s. Memory should not grow
with the file: it is bounded by a chunk of 10,000 rows.
"""

from __future__ import annotations

import argparse
import os
import random
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import machine  # noqa: E402

WORDS = [
    "good",
    "bad",
    "film",
    "movie",
    "great",
    "awful",
    "plot",
    "acting",
    "boring",
    "lovely",
    "dull",
    "funny",
    "sad",
    "brilliant",
    "mess",
    "tender",
]


def write_csv(path: Path, rows: int) -> None:
    rng = random.Random(0)
    with path.open("w", encoding="utf-8") as handle:
        handle.write("id,text\n")
        for i in range(rows):
            handle.write(f"{i},{' '.join(rng.choice(WORDS) for _ in range(rng.randint(3, 12)))}\n")


def run_one(rows: int, threads: int, folder: Path) -> dict[str, float]:
    source, output = folder / f"in-{rows}.csv", folder / f"out-{rows}.csv"
    write_csv(source, rows)
    command = [sys.executable, "-m", "nlp_lstm", "classify", "--input", str(source), "--output", str(output)]
    command += ["--threads", str(threads), "--device", "cpu"]
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "HF_DATASETS_OFFLINE": "1"}
    started = time.perf_counter()
    process = subprocess.Popen(command, env=env, stderr=subprocess.DEVNULL)
    first_row = None
    while True:
        pid, status, usage = os.wait4(process.pid, os.WNOHANG)
        if pid:
            break
        if first_row is None and output.exists():
            with output.open("rb") as handle:
                if len(handle.read(1 << 16).splitlines()) >= 2:  # the header and a classified row
                    first_row = time.perf_counter() - started
        time.sleep(0.05)
    total = time.perf_counter() - started
    assert os.waitstatus_to_exitcode(status) == 0, f"classify failed on {rows} rows"
    written = sum(1 for _ in output.open(encoding="utf-8")) - 1
    assert written == rows, (written, rows)
    return {"rows": rows, "peak_mib": usage.ru_maxrss / 1024, "first_row_s": first_row or total, "total_s": total}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, nargs="+", default=[10_000, 1_000_000])
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args()
    machine_line = machine.describe()
    with tempfile.TemporaryDirectory() as folder:
        results = [run_one(rows, args.threads, Path(folder)) for rows in args.rows]
    smallest = results[0]["peak_mib"]
    lines = [
        "| rows | peak memory MiB (× smallest) | first row on disk s | total s | rows/s |",
        "| ---: | ---: | ---: | ---: | ---: |",
    ]
    for r in results:
        lines.append(
            f"| {r['rows']:,} | {r['peak_mib']:.0f} (×{r['peak_mib'] / smallest:.3f}) | {r['first_row_s']:.1f} | "
            f"{r['total_s']:.0f} | {r['rows'] / r['total_s']:,.0f} |"
        )
    body = "\n".join(lines) + f"\n\nThe shipped sentiment model, {args.threads} thread(s), short texts of 3 to 12 words.\n"
    print(machine_line)
    print(body)
    machine.record("classify --input/--output: peak memory and first rows against the file's size", machine_line, body)


if __name__ == "__main__":
    main()
