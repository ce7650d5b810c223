"""``nlp-lstm evaluate classifier --suite behaviour``: the behavioural suite run over a classifier, and how its
failure rates and failing examples look (a table per test and per capability, then examples)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import typer

import nlp_lstm
from nlp_lstm import tasks
from nlp_lstm.behaviour.suite import check_split, load_suite
from nlp_lstm.cli.inference import load_for


def run_behaviour(model: Path | None, suite: str, split: str, json_output: bool, device: str, threads: int) -> None:
    load_suite(suite)  # a wrong name is refused before the model is loaded
    check_split(split)
    saved = load_for(model, tasks.CLASSIFIER, device, threads)
    result = {**nlp_lstm.evaluate_behaviour(saved, split, suite).to_dict(), "model": str(saved.path)}
    if json_output:
        typer.echo(json.dumps(result))
    else:
        print_behaviour(result)


def print_behaviour(result: dict[str, Any]) -> None:
    from rich.console import Console
    from rich.table import Table

    console = Console(highlight=False, soft_wrap=True, markup=False)  # texts hold brackets
    low, high = result["neutral_band"]
    title = f"{result['model']}: suite {result['suite']}, {result['split']} half"
    tests = Table(title=title)
    for column in ("capability", "test", "kind", "cases", "failed", "failure rate"):
        tests.add_column(column, justify="right" if column in ("cases", "failed", "failure rate") else "left")
    for test in result["tests"]:
        tests.add_row(
            test["capability"],
            test["name"],
            test["kind"],
            f"{test['cases']:,}",
            f"{test['failures']:,}",
            f"{test['failure_rate']:.1%}",
        )
    capabilities = Table(title="per capability (cases pooled)")
    for column in ("capability", "tests", "cases", "failure rate"):
        capabilities.add_column(column, justify="left" if column == "capability" else "right")
    for name, entry in result["capabilities"].items():
        capabilities.add_row(name, str(entry["tests"]), f"{entry['cases']:,}", f"{entry['failure_rate']:.1%}")
    capabilities.add_row("all", str(len(result["tests"])), f"{result['cases']:,}", f"{result['failure_rate']:.1%}")
    console.print(tests)
    console.print(capabilities)
    console.print("examples of failures (p = probability of positive):")
    for test in result["tests"]:
        for case in test["examples"]:
            if "original" in case:
                line = f"{case['original']!r} ({case['p_original']:.2f}) -> {case['text']!r} ({case['p_positive']:.2f})"
            else:
                line = f"{case['text']!r} ({case['p_positive']:.2f})"
            console.print(f"  [{test['name']}] expected {case['expected']}: {line}")
    console.print(
        f"scoring: p(positive) in [{low:.3f}, {high:.3f}] is neutral; inv fails when that three-way label changes, "
        f"dir when p(positive) moves the wrong way by more than {result['tolerance']}; "
        f"changed texts from {result['base_texts']}"
    )
