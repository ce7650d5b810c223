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

from nlp_lstm import tasks
from nlp_lstm.errors import NlpLstmError
from nlp_lstm.files import (
    CONFIG_FILE,
    EVALUATION_FILE,
    TOKENIZER_FILE,
    TRAINING_FILE,
    UnreadableFile,
    read_json_file,
    signed_card,
)
from nlp_lstm.teacher.base import teacher_block

# Where the shipped models (tasks.shipped_models()) live: inside an installed wheel, or in a source checkout.
SHIPPED_ROOTS = (Path(__file__).resolve().parent / "_checkpoints", Path(__file__).resolve().parent.parent / "checkpoints")


def shipped_model_dir(kind: str) -> Path | None:
    """The shipped model directory of ``kind``, or None when it is not installed."""
    return shipped_model_named(tasks.shipped_models()[kind])


def shipped_model_named(name: str) -> Path | None:
    """The directory of the shipped model called ``name`` (as ``nlp-lstm models`` lists it), or None.

    None too when no shipped model is so called: a name is one of the shipped models' names, never a
    kind or a path, so that resolving a name can never pick a folder the user did not name.
    """
    if name not in tasks.shipped_models().values():
        return None
    for root in SHIPPED_ROOTS:
        candidate = root / name
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
        """One metric that says how good the model is: its task's headline (bits/char for a language model,
        accuracy for a classifier); accuracy for a model of no known task."""
        task = tasks.find(self.kind)
        if task is not None and task.metrics[0] in metrics:
            return task.headline.format(metrics[task.metrics[0]])
        if "accuracy" in metrics:
            return f"{metrics['accuracy']:.4f} accuracy"
        return "-"

    @staticmethod
    def held_out_name(result: dict[str, Any]) -> str:
        """What a held-out figure was measured on; a dynamic evaluation of the same split is named apart."""
        name = f"{result.get('dataset')} {result.get('split')}"
        return name + (" (dynamic evaluation)" if result.get("dynamic") else "")

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
    """The file's JSON, or None where it is missing or damaged: a listing skips what it cannot read."""
    try:
        return read_json_file(path)
    except UnreadableFile:
        return None


def _config(path: Path) -> Any:
    """A model directory's config.json; a teacher's (a transformers config) in the same terms as ours."""
    config = _read_json(path / CONFIG_FILE)
    ours = teacher_block(config)
    if ours is None:
        return config
    shape = {key: config.get(key) for key in ("model_type", "num_hidden_layers", "hidden_size", "vocab_size")}
    return {"kind": tasks.TEACHER, "labels": ours.get("labels"), "inputs": ours.get("inputs"), "transformer": shape}


def describe_model(path: Path, name: str, shipped: bool = False) -> ModelEntry | None:
    """What the JSON files of a model directory say about it; None if it is not a model directory."""
    config = _config(path)
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
    for kind, name in tasks.shipped_models().items():
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


def _transformer_shape(network: dict[str, Any]) -> str:
    return (
        f"{network.get('num_hidden_layers')}-layer {network.get('model_type')} transformer, hidden {network.get('hidden_size')}"
    )


def _shape(model: dict[str, Any]) -> str:
    """ "2 x 512 LSTM (bidirectional), embedding 128" from a model config."""
    direction = " (bidirectional)" if model.get("bidirectional") else ""
    return f"{model.get('num_layers')} x {model.get('hidden_size')} LSTM{direction}, embedding {model.get('embedding_dim')}"


def model_info(path: Path) -> dict[str, Any]:
    """A summary of one model directory for ``nlp-lstm info``: shape, vocabulary, data, command, metrics."""
    config = _config(path)
    if not isinstance(config, dict) or "kind" not in config:
        raise NlpLstmError(f"{path}: no readable {CONFIG_FILE}; is this a model directory (e.g. runs/NAME/best)?")
    entry = describe_model(path, path.name)
    model = config.get("model") or {}
    tokenizer = _read_json(path / TOKENIZER_FILE) or {}
    shapes = [_shape(member) for member in config.get("ensemble") or [model]]
    shape = shapes[0] if len(shapes) == 1 else f"ensemble of {len(shapes)}: " + " + ".join(shapes)
    if "transformer" in config:  # a teacher: its tokenizer.json is the tokenizers library's own
        shape, network = _transformer_shape(config["transformer"]), config["transformer"]
        tokenizer, model = {"type": str((tokenizer.get("model") or {}).get("type", "?")).lower()}, network
    info: dict[str, Any] = {
        "kind": tasks.title(config["kind"]),
        "shape": shape,
        "parameters": entry.parameters,
    }
    if tokenizer:  # a model that reads numbers (a forecaster) has no tokenizer and no vocabulary to show
        info.update(tokenizer=tokenizer.get("type", "?"), vocabulary=model.get("vocab_size"))
    if isinstance(tokenizer.get("spelling"), dict):
        info["speller"] = f"corrects typos against {len(tokenizer['spelling'].get('words') or []):,} words (one edit)"
    if config.get("labels"):
        info["labels"] = config["labels"]
    if config.get("inputs"):
        info["inputs"] = config["inputs"]
    if config.get("weights_dtype"):
        info["weights stored as"] = config["weights_dtype"]
    training = _read_json(path / TRAINING_FILE) or {}
    for key in ("dataset", "splits", "command", "device", "wall_time_s", "step"):
        if key in training:
            info[key] = training[key]
    if entry.validation:
        info["validation"] = entry.headline(entry.validation)
    for result in entry.held_out:
        info[entry.held_out_name(result)] = entry.headline(result)
    return info


def model_card(path: Path, title: str | None = None) -> str:
    """A model card (``README.md``) for a model directory, written from its JSON files and signed as ours.

    ``title`` is the name the directory will have (default: its name now); a card written in a
    temporary directory before it is renamed into place must not be titled with the temporary's name.
    """
    info, title = model_info(path), title or path.name
    task = tasks.find(_config(path)["kind"])  # model_info has read it, so it is a dict with a kind
    lines = [f"# {title}", "", f"An nlp-lstm {info['kind']}: {info['shape']}.", "", "| field | value |", "| --- | --- |"]
    for key, value in info.items():
        text = value if isinstance(value, str) else json.dumps(value)
        lines.append(f"| {key} | {text.replace('|', '/')} |")
    lines += [
        "",
        "Load it with `nlp_lstm.from_pretrained(PATH_OR_REPO_ID)`, or use it from the command line:",
        f"`nlp-lstm {task.command if task is not None else 'classify'} --model PATH ...`.",
        "",
    ]
    return signed_card("\n".join(lines))  # the signature lets a later save replace this card, and only this card
