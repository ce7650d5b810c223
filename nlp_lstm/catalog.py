"""Which models are here: the shipped ones and those under a runs folder, with their recorded metrics.

Reads the JSON files of each model directory only (no weights, no torch), so listing is instant.
Held-out results come from ``evaluation.json``: the ``nlp-lstm evaluate --json`` outputs saved next
to a model (the shipped models carry one, written by ``scripts/write_model_cards.py``).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

CONFIG_FILE = "config.json"
TRAINING_FILE = "training.json"
EVALUATION_FILE = "evaluation.json"

# Shipped models, by kind, and where they live: inside an installed wheel, or in a source checkout.
SHIPPED_MODELS = {"lm": "shakespeare-char", "classifier": "sentiment"}
SHIPPED_ROOTS = (Path(__file__).resolve().parent / "_checkpoints", Path(__file__).resolve().parent.parent / "checkpoints")


def shipped_model_dir(kind: str) -> Path | None:
    """The shipped model directory of ``kind``, or None when it is not installed."""
    for root in SHIPPED_ROOTS:
        candidate = root / SHIPPED_MODELS[kind]
        if (candidate / CONFIG_FILE).is_file():
            return candidate
    return None


@dataclass
class ModelEntry:
    name: str
    path: Path
    kind: str
    shipped: bool
    dataset: str | None = None
    parameters: int | None = None
    validation: dict[str, Any] = field(default_factory=dict)
    held_out: list[dict[str, Any]] = field(default_factory=list)

    def headline(self, metrics: dict[str, Any]) -> str:
        """One metric that says how good the model is: bits/char for a language model, accuracy for a classifier."""
        if self.kind == "lm" and "bits_per_char" in metrics:
            return f"{metrics['bits_per_char']:.3f} bits/char"
        if "accuracy" in metrics:
            return f"{metrics['accuracy']:.4f} accuracy"
        return "-"

    def as_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "path": str(self.path),
            "kind": self.kind,
            "shipped": self.shipped,
            "dataset": self.dataset,
            "parameters": self.parameters,
            "validation": self.validation,
            "held_out": self.held_out,
        }


def _read_json(path: Path) -> Any:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None


def describe_model(path: Path, name: str, shipped: bool = False) -> ModelEntry | None:
    """What the JSON files of a model directory say about it; None if it is not a model directory."""
    config = _read_json(path / CONFIG_FILE)
    if not isinstance(config, dict) or "kind" not in config:
        return None
    training = _read_json(path / TRAINING_FILE) or {}
    evaluation = _read_json(path / EVALUATION_FILE) or []
    return ModelEntry(
        name=name,
        path=path,
        kind=str(config["kind"]),
        shipped=shipped,
        dataset=training.get("dataset"),
        parameters=training.get("parameters"),
        validation=training.get("validation") or {},
        held_out=[e for e in evaluation if isinstance(e, dict)],
    )


def list_models(runs: Path) -> list[ModelEntry]:
    """The shipped models, then every ``RUNS/NAME/best`` (and any model directory directly in ``runs``)."""
    entries = []
    for kind, name in SHIPPED_MODELS.items():
        directory = shipped_model_dir(kind)
        entry = describe_model(directory, name, shipped=True) if directory else None
        if entry:
            entries.append(entry)
    if runs.is_dir():
        for child in sorted(runs.iterdir()):
            for directory, name in ((child / "best", child.name), (child, child.name)):
                entry = describe_model(directory, name)
                if entry:
                    entries.append(entry)
                    break
    return entries
