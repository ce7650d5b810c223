"""Cold-process wall time of the first commands a user types, against the cost of importing torch.

    python benchmarks/startup.py [--repeats 5]

Each command runs in a fresh process with the shipped models (no --model), as a user would run
it; the figure is the median wall time over the repeats. `import torch` alone is the floor any
command that runs a model pays. Also lists which heavy libraries the classify path imports.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import machine  # noqa: E402

CLI = [sys.executable, "-m", "nlp_lstm"]
COMMANDS = {
    "python -c 'import torch' (floor)": [sys.executable, "-c", "import torch"],
    "nlp-lstm --help": [*CLI, "--help"],
    'nlp-lstm classify "one sentence"': [*CLI, "classify", "a gorgeous, heartfelt film"],
    "nlp-lstm generate --length 200": [*CLI, "generate", "--prompt", "ROMEO:", "--length", "200", "--seed", "0"],
}
HEAVY = ("datasets", "pandas", "pyarrow", "sklearn", "matplotlib", "torch", "tokenizers", "safetensors", "rich")
PROBE = """
import sys, runpy
sys.argv = ["nlp-lstm", "classify", "a gorgeous, heartfelt film"]
try:
    runpy.run_module("nlp_lstm", run_name="__main__")
except SystemExit:
    pass
print(",".join(m for m in %r if m in sys.modules), file=sys.stderr)
"""


def wall_time(command: list[str], env: dict[str, str]) -> float:
    started = time.perf_counter()
    subprocess.run(command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=True)
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "HF_DATASETS_OFFLINE": "1"}
    where = machine.describe()
    rows = []
    for name, command in COMMANDS.items():
        wall_time(command, env)  # warm the file cache: "cold" means a new process, not a cold disk
        times = [wall_time(command, env) for _ in range(args.repeats)]
        rows.append((name, statistics.median(times), min(times)))
        print(f"{name}: median {rows[-1][1]:.2f} s, best {rows[-1][2]:.2f} s", flush=True)
    probe = subprocess.run([sys.executable, "-c", PROBE % (HEAVY,)], env=env, capture_output=True, text=True, check=True)
    imported = probe.stderr.strip().splitlines()[-1]
    floor = rows[0][1]
    table = [
        f"Median of {args.repeats} fresh processes each (after one warm-up run); shipped models, CPU.",
        "",
        "| command | median wall time (s) | best (s) | over `import torch` (s) |",
        "| --- | ---: | ---: | ---: |",
    ]
    table += [f"| `{name}` | {median:.2f} | {best:.2f} | {median - floor:+.2f} |" for name, median, best in rows]
    table += ["", f"Heavy libraries imported by `classify`: {imported}."]
    print("\n".join(table))
    machine.record("Start-up of the CLI", where, "\n".join(table))


if __name__ == "__main__":
    main()
