"""Ensembles of classifiers: several trained classifiers saved as one model that predicts their mean probability.

The members must read text the same way (one tokenizer, the same ``max_length`` and ``keep``)
and share a shape and a label set, so the ensemble is one model directory of one weights file
that every command uses like any classifier. Seeds of one configuration are the usual members:
averaging them cancels part of the run-to-run variance (on our review data two seeds gained 0.2
points of validation accuracy on IMDB and 1.8 on Rotten Tomatoes over the better one, see
benchmarks/RESULTS.md), at the members' combined cost per prediction.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from nlp_lstm import checkpoint
from nlp_lstm.checkpoint import SavedModel
from nlp_lstm.config import REGULARISATION_FIELDS
from nlp_lstm.data import REVIEW_SOURCES
from nlp_lstm.errors import UsageError
from nlp_lstm.model import ClassifierEnsemble


def _shape(saved: SavedModel) -> dict[str, Any]:
    """The model config without dropout, which does not act at inference."""
    return {k: v for k, v in saved.config.to_dict().items() if k not in REGULARISATION_FIELDS}


def combine(members: list[SavedModel], command: str | None = None) -> SavedModel:
    """One :class:`ClassifierEnsemble` model of ``members`` (loaded classifiers), with their training records."""
    if len(members) < 2:
        raise UsageError("an ensemble needs two or more classifiers; pass --model once for each")
    first = members[0]
    for saved in members:
        name = saved.path or "a member"
        if saved.kind != "classifier" or isinstance(saved.model, ClassifierEnsemble):
            raise UsageError(f"{name}: is not a single classifier; an ensemble is made of trained classifiers")
        for what, mine, theirs in (
            ("model shape", _shape(saved), _shape(first)),
            ("tokenizer", saved.tokenizer, first.tokenizer),
            ("labels", saved.labels, first.labels),
            ("input policy (max_length, keep)", saved.inputs, first.inputs),
        ):
            if mine != theirs:
                raise UsageError(
                    f"{name}: its {what} differs from {first.path}'s; ensemble classifiers trained with the same "
                    "options on the same data (different --seed)"
                )
    model = ClassifierEnsemble(first.config, len(members))
    for slot, saved in zip(model.members, members):
        slot.load_state_dict(saved.model.state_dict())
    records = [saved.training for saved in members]
    common = {key: records[0].get(key) for key in ("dataset", "splits") if len({str(r.get(key)) for r in records}) == 1}
    training = {
        "kind": "classifier",
        **common,
        "labels": first.labels,
        "parameters": sum(p.numel() for p in model.parameters()),
        "command": command,
        "ensemble_of": [str(saved.path) if saved.path else None for saved in members],
        "members": records,
    }
    return SavedModel(model, first.tokenizer, "classifier", first.labels, training, inputs=first.inputs)


def build_ensemble(
    member_dirs: list[Path], output: Path, overwrite: bool = False, command: str | None = None, device: str = "cpu"
) -> SavedModel:
    """Combine the classifiers in ``member_dirs``, measure it on their validation split, save it to ``output``.

    When the members trained on the same split of the same data, ``training.json`` gets the
    ensemble's accuracy on that validation split, as a trained classifier's does.
    """
    from nlp_lstm.evaluate import evaluate_classifier

    output = Path(output)
    resolved = {Path(d).resolve() for d in member_dirs}
    if output.resolve() in resolved:
        raise UsageError(f"{output}: is one of the members; choose another --output")
    if output.exists() and not overwrite:
        raise UsageError(f"{output}: already exists; pass --overwrite to replace it, or choose another --output")
    saved = combine([checkpoint.load(d, device=device, kind="classifier") for d in member_dirs], command)
    configs = [record.get("train_config") or {} for record in saved.training["members"]]
    train_config = configs[0]
    data_keys = ["dataset", "dataset_config", "text_column", "label_column"]
    if train_config.get("dataset") not in REVIEW_SOURCES:
        data_keys.append("seed")  # splits of other data depend on the seed; the built-in review splits do not
    if train_config and all({k: c.get(k) for k in data_keys} == {k: train_config.get(k) for k in data_keys} for c in configs):
        metrics = evaluate_classifier(
            saved,
            train_config["dataset"],
            "validation",
            train_config.get("text_column", "text"),
            train_config.get("label_column", "label"),
            train_config.get("dataset_config"),
            train_config.get("seed", 0),
        )
        saved.training["validation"] = {key: metrics[key] for key in ("accuracy", "macro_f1")}
    checkpoint.save(saved, output)
    saved.path = output
    return saved
