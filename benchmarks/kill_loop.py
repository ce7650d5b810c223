"""Crash safety of training: SIGKILL a run at random moments while it evaluates and saves every step, resume, repeat.

    python benchmarks/kill_loop.py [--kills 50] [--seed 0]

Each round starts ``nlp-lstm train lm`` on a small text (``--resume`` once the run has a
checkpoint), waits until it is training, lets it run a random 0-0.4 s more and kills it with
SIGKILL: mid-step, mid-evaluation, or mid-save of ``best/`` or ``last/``. After the last kill the
script checks what the reliability issue asks for:

* every resume succeeded (a process that ended on its own with an error is a failure), and a last
  resume, stopped with Ctrl-C after a few more evaluations, saves and exits with 130;
* no temporaries (``.best.*``, ``.last.*``, ``.NAME.run-*``) are left once the run completes;
* ``best/`` holds the best validation score the run ever logged, and ``last/`` records that same best.

``tests/test_safety.py`` runs ten kills of it; this script runs more and records the result.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

TRAIN = ["--max-steps", "100000", "--eval-every", "1", "--embedding-dim", "8", "--hidden-size", "16", "--num-layers", "1"]
TRAIN += ["--seq-len", "16", "--batch-size", "4", "--warmup-steps", "2", "--device", "cpu"]


def _environment() -> dict[str, str]:
    return {**os.environ, "OMP_NUM_THREADS": "1", "HF_HUB_OFFLINE": "1", "HF_DATASETS_OFFLINE": "1"}


def _logged_lines(run: Path) -> int:
    try:
        return len((run / "metrics.jsonl").read_text().splitlines())
    except OSError:
        return 0


def _one_round(run: Path, data: Path, rng: random.Random) -> tuple[bool, str]:
    """Start, wait until it trains, kill; ``(killed, stderr)``: False if it ended by itself first."""
    resume = ["--resume"] if (run / "last").exists() or any(run.glob(".last.old-*")) else ["--dataset", str(data)]
    before = _logged_lines(run)
    process = subprocess.Popen(
        [sys.executable, "-m", "nlp_lstm", "train", "lm", "--output", str(run), *resume, *TRAIN],
        env=_environment(),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    deadline = time.monotonic() + 120
    while process.poll() is None and _logged_lines(run) <= before and time.monotonic() < deadline:
        time.sleep(0.02)
    time.sleep(rng.uniform(0.0, 0.4))
    if process.poll() is not None:
        return False, process.communicate()[1]
    process.send_signal(signal.SIGKILL)
    process.communicate()
    return True, ""


def _best_figures(run: Path) -> dict[str, object]:
    """best/'s own score and step, the best the log holds, and the best that last/ records."""
    logged = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines() if '"split"' in line]
    best = json.loads((run / "best" / "training.json").read_text())
    recorded = json.loads((run / "last" / "trainer_state.json").read_text())["info"]["best"]
    top = max(logged, key=lambda e: -e["nats_per_char"])
    return {
        "best_dir": (best["best_score"], best["validation"]["step"]),
        "best_logged": (-top["nats_per_char"], top["step"]),
        "best_recorded": (recorded["score"], recorded["step"]),
    }


def _finish(run: Path, errors: list) -> tuple[bool, int]:
    """Resume once more with the same settings (the schedule depends on --max-steps), let it evaluate a few
    more times and stop it with Ctrl-C, which saves: every step up to there is then in the log."""
    process = subprocess.Popen(
        [sys.executable, "-m", "nlp_lstm", "train", "lm", "--output", str(run), "--resume"],
        env=_environment(),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    before = _logged_lines(run)
    deadline = time.monotonic() + 120
    while process.poll() is None and _logged_lines(run) < before + 6 and time.monotonic() < deadline:
        time.sleep(0.02)
    process.send_signal(signal.SIGINT)
    stderr = process.communicate()[1]
    if process.returncode != 130:
        errors.append(stderr.strip().splitlines()[-1:])
    step = json.loads((run / "last" / "trainer_state.json").read_text())["info"]["step"]
    return process.returncode == 130, step


def kill_loop(run: Path, data: Path, kills: int, seed: int) -> dict[str, object]:
    """Kill a training run ``kills`` times, resume it to the end, and report what survived."""
    rng = random.Random(seed)
    report: dict[str, object] = {"kills": 0, "resumes_failed": 0, "errors": []}
    while report["kills"] < kills:
        killed, stderr = _one_round(run, data, rng)
        if killed:
            report["kills"] += 1
        else:
            report["resumes_failed"] += 1
            report["errors"].append(stderr.strip().splitlines()[-1:])
            break
    report["finished"], report["steps"] = _finish(run, report["errors"])
    leftovers = [p.name for p in [*run.iterdir(), *run.parent.iterdir()] if p.name.startswith(".") and p.name != ".nlp-lstm-run"]
    report["stale_temporaries"] = len(leftovers)
    if report["finished"]:
        report.update(_best_figures(run))
    report["best_is_true_best"] = report["finished"] and report["best_dir"] == report["best_logged"] == report["best_recorded"]
    return report


def main() -> None:
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    import machine

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--kills", type=int, default=50)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    where = machine.describe()
    from nlp_lstm.data.builtin import load_shakespeare

    with tempfile.TemporaryDirectory() as scratch:
        data = Path(scratch) / "sonnets.txt"
        data.write_text(next(t for t in load_shakespeare().train if t.startswith("THE SONNETS"))[:30_000], encoding="utf-8")
        started = time.perf_counter()
        report = kill_loop(Path(scratch) / "runs" / "killed", data, args.kills, args.seed)
        seconds = time.perf_counter() - started
    body = (
        f"{report['kills']} SIGKILLs at random moments of a run that evaluates and saves every step "
        f"({seconds:.0f} s in all, {report['steps']} steps at the end): resumes failed {report['resumes_failed']}, "
        f"finished {report['finished']}, stale temporaries {report['stale_temporaries']}, "
        f"best/ is the true best and last/ records it: {report['best_is_true_best']}."
    )
    if report["errors"]:
        body += f" Errors: {report['errors']}"
    print(body)
    machine.record("Crash safety: training killed at random", where, body)


if __name__ == "__main__":
    main()
