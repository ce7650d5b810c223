"""The attack and careless-user battery of issue 24, counted: every case a test, run here, passes and failures per file.

    python benchmarks/battery.py [--record]

Runs the battery's test files with pytest (each case is a test or a parametrised case of one), reads
the JUnit report, and prints one row per file: cases, passed, failed, skipped. ``--record`` appends the
table, with the machine, to benchmarks/RESULTS.md. Nothing is timed: this is a count.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import xml.etree.ElementTree as ElementTree
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import machine  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
BATTERY = {
    "tests/test_teacher_safety.py": "1-2. model directories never run code; damaged teachers refused",
    "tests/test_input_files.py": "3. input files: text or refused; no output that looks complete",
    "tests/test_serve_limits.py": "4. the server: bounded, typed, one error shape, own hosts only",
    "tests/test_generate.py": "4. generate's bounds on the command line (with the other generate tests)",
    "tests/test_model_files.py": "5. the user's README, card titles, symlinks, a full disk, --output a file",
}


def count(report: Path) -> dict[str, dict[str, int]]:
    """Per test file: cases, passed, failed (errors included), skipped."""
    rows: dict[str, dict[str, int]] = {}
    for case in ElementTree.parse(report).iter("testcase"):
        module = case.get("classname", "").split(".")  # tests.test_x (or tests.test_x.SomeClass)
        stem = module[1] if len(module) > 1 else module[0]
        name = next((f for f in BATTERY if Path(f).stem == stem), stem)
        row = rows.setdefault(name, {"cases": 0, "passed": 0, "failed": 0, "skipped": 0})
        row["cases"] += 1
        outcome = {child.tag for child in case}
        if outcome & {"failure", "error"}:
            row["failed"] += 1
        elif "skipped" in outcome:
            row["skipped"] += 1
        else:
            row["passed"] += 1
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--record", action="store_true", help="append the table to benchmarks/RESULTS.md")
    args = parser.parse_args()
    described = machine.describe()
    with tempfile.TemporaryDirectory() as scratch:
        report = Path(scratch) / "battery.xml"
        environment = {**os.environ, "OMP_NUM_THREADS": "1", "HF_HUB_OFFLINE": "1", "HF_DATASETS_OFFLINE": "1"}
        command = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", f"--junitxml={report}", *BATTERY]
        subprocess.run(command, cwd=ROOT, env=environment, check=False)
        rows = count(report)
    table = ["| file | what it covers | cases | passed | failed | skipped |", "| --- | --- | ---: | ---: | ---: | ---: |"]
    totals = dict.fromkeys(("cases", "passed", "failed", "skipped"), 0)
    for name, what in BATTERY.items():
        row = rows.get(name, dict.fromkeys(totals, 0))
        table.append(f"| `{name}` | {what} | {row['cases']} | {row['passed']} | {row['failed']} | {row['skipped']} |")
        totals = {key: totals[key] + row[key] for key in totals}
    table.append(f"| all | | {totals['cases']} | {totals['passed']} | {totals['failed']} | {totals['skipped']} |")
    body = "\n".join(table)
    print(body)
    if args.record:
        machine.record("The battery of issue 24 (attacks and careless inputs), counted", described, body)


if __name__ == "__main__":
    main()
