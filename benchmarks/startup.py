"""Cold-process wall time of the first commands a user types, against the cost of importing torch.

    python benchmarks/startup.py [--repeats 7] [--record]

Each command runs in a fresh process with the shipped models (no --model), as a user would run it,
in turn with ``python -c "import torch"``, the floor any command that runs a model pays: A B A B ...,
so both see the same machine when its speed drifts (shared machines are noisy). The figures are the
medians of each command's wall time and of its difference to the floor pair by pair, and the same
for CPU time (user + system), which another process's load disturbs less. The bars of issue 25:
a model command within ``import torch`` + 0.4 s, a usage error that needs no model under 0.5 s.

A model command freezes the objects torch's import made (``gc.freeze``, cli/app.py), so it skips the
garbage collection of them at exit that ``python -c "import torch"`` pays, and can end sooner than
its floor. So each model command is also timed against a second floor that freezes the same way,
in the same rounds: the difference to that one is what the command does beyond importing torch.
Also lists which heavy libraries each inference command imports (torch._dynamo must not be one).
"""

from __future__ import annotations

import argparse
import os
import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import machine  # noqa: E402

CLI = [sys.executable, "-m", "nlp_lstm"]
FLOOR = [sys.executable, "-c", "import torch"]
FROZEN_FLOOR = [sys.executable, "-c", "import torch, gc; gc.freeze()"]
MODEL_COMMANDS = {
    'nlp-lstm classify "a gorgeous film"': [*CLI, "classify", "a gorgeous film"],
    "nlp-lstm generate --length 50": [*CLI, "generate", "--prompt", "ROMEO:", "--length", "50", "--seed", "0"],
}
LIGHT_COMMANDS = {
    "nlp-lstm --help": [*CLI, "--help"],
    "nlp-lstm generate --model /no/such/dir": [*CLI, "generate", "--model", "/no/such/dir"],
    "nlp-lstm classify --no-such-option": [*CLI, "classify", "--no-such-option", "text"],
}
MODEL_BAR_S, USAGE_BAR_S = 0.4, 0.5
HEAVY = ("torch._dynamo", "sympy", "transformers", "datasets", "pandas", "pyarrow", "torch", "tokenizers", "safetensors", "rich")
PROBE = """
import sys, runpy
sys.argv = ["nlp-lstm", *sys.argv[1:]]
try:
    runpy.run_module("nlp_lstm", run_name="__main__")
except SystemExit:
    pass
print(",".join(m for m in %r if m in sys.modules), file=sys.stderr)
"""


def timed(command: list[str], env: dict[str, str]) -> tuple[float, float]:
    """Wall and CPU (user + system) seconds of one fresh process running ``command``."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.perf_counter()
    subprocess.run(command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=False)
    wall = time.perf_counter() - started
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    return wall, (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)


def paired(command: list[str], env: dict[str, str], repeats: int, floors: list[list[str]]) -> dict[str, float]:
    """Medians over ``repeats`` rounds of ``command`` then each of ``floors``, alternated after one warm-up run of each."""
    for each in (command, *floors):
        timed(each, env)  # warm the file cache: "cold" means a new process, not a cold disk
    rounds = [[timed(each, env) for each in (command, *floors)] for _ in range(repeats)]
    row = {"wall": statistics.median(r[0][0] for r in rounds), "floor": statistics.median(r[1][0] for r in rounds)}
    for index, suffix in enumerate(("", "_frozen")[: len(floors)], start=1):
        row[f"over{suffix}"] = statistics.median(r[0][0] - r[index][0] for r in rounds)
        row[f"cpu_over{suffix}"] = statistics.median(r[0][1] - r[index][1] for r in rounds)
    return row


def imported(command: list[str], env: dict[str, str]) -> str:
    probe = subprocess.run([sys.executable, "-c", PROBE % (HEAVY,), *command[3:]], env=env, capture_output=True, text=True)
    return probe.stderr.strip().splitlines()[-1]


def table(rows: dict[str, dict[str, float]], repeats: int, load: str) -> list[str]:
    lines = [
        f"Medians of {repeats} rounds, each command alternated with `python -c 'import torch'` (the floor) after one",
        "warm-up run of each, and each model command also with `python -c 'import torch, gc; gc.freeze()'` (the",
        "frozen floor: the commands skip the collection of torch's objects at exit as it does); fresh processes,",
        f"shipped models, CPU. Load average {load}.",
        "",
        "| command | wall (s) | floor in its rounds (s) | wall over the floor (s) | CPU over the floor (s) "
        "| wall over the frozen floor (s) | CPU over the frozen floor (s) | bar | met |",
        "| --- | ---: | ---: | ---: | ---: | ---: | ---: | --- | --- |",
    ]
    for name, row in rows.items():
        if name in MODEL_COMMANDS:
            bar, met = f"floor + {MODEL_BAR_S} s", row["over"] <= MODEL_BAR_S
        else:
            bar, met = f"under {USAGE_BAR_S} s" if "--help" not in name else "-", row["wall"] < USAGE_BAR_S
        fields = f"{row['wall']:.2f} | {row['floor']:.2f} | {row['over']:+.2f} | {row['cpu_over']:+.2f}"
        fields += f" | {row['over_frozen']:+.2f} | {row['cpu_over_frozen']:+.2f}" if "over_frozen" in row else " | - | -"
        lines.append(f"| `{name}` | {fields} | {bar} | {'yes' if met else 'NO'} |")
    return lines


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument("--record", action="store_true", help="append the table to benchmarks/RESULTS.md")
    args = parser.parse_args()
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "HF_DATASETS_OFFLINE": "1"}
    where = machine.describe()
    load_before = os.getloadavg()[0]
    rows = {}
    for name, command in {**MODEL_COMMANDS, **LIGHT_COMMANDS}.items():
        rows[name] = paired(command, env, args.repeats, [FLOOR, FROZEN_FLOOR] if name in MODEL_COMMANDS else [FLOOR])
        print(f"{name}: median {rows[name]['wall']:.2f} s, {rows[name]['over']:+.2f} s over import torch", flush=True)
    lines = table(rows, args.repeats, f"{load_before:.2f} at start, {os.getloadavg()[0]:.2f} at the end")
    lines.append("")
    lines += [f"Heavy libraries imported by `{name}`: {imported(command, env)}." for name, command in MODEL_COMMANDS.items()]
    print("\n".join(lines))
    if args.record:
        machine.record("Start-up of the CLI", where, "\n".join(lines))


if __name__ == "__main__":
    main()
