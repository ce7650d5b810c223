"""Ensembles of classifiers: several trained classifiers saved as one model that predicts their mean probability.

The members must share a tokenizer, a label set and the end of the text they keep (``keep``), so
the ensemble is one model directory of one weights file that every command uses like any
classifier. They may differ in shape and in ``max_length``: the ensemble cuts texts at the
longest member's, and an LSTM reads the longer texts as well. Averaging cancels part of the
run-to-run variance, and members trained differently (from scratch and by transfer, say) err on
different texts (see benchmarks/RESULTS.md for what it gained on our review data), at the
members' combined cost per prediction. ``half`` stores the weights in float16, half the size;
the validation figure recorded is measured with those rounded weights.
"""

from __future__ import annotations

from pathlib import Path

from nlp_lstm import checkpoint, hub, tasks
from nlp_lstm.checkpoint import EnsembleBundle, ModelBundle
from nlp_lstm.data.builtin import REVIEW_SOURCES
from nlp_lstm.devices import select_device
from nlp_lstm.errors import UsageError
from nlp_lstm.files import check_model_replaceable
from nlp_lstm.loading import load_model
from nlp_lstm.model import Classifier, ClassifierEnsemble


def combine(members: list[ModelBundle], command: str | None = None) -> EnsembleBundle:
    """One :class:`ClassifierEnsemble` model of ``members`` (loaded classifiers), with their training records."""
    if len(members) < 2:
        raise UsageError("an ensemble needs two or more classifiers; pass their directories")
    first = members[0]
    for saved in members:
        name = saved.path or "a member"
        if saved.kind != tasks.CLASSIFIER or not isinstance(saved.model, Classifier):  # not an ensemble, nor a teacher
            raise UsageError(f"{name}: is not a single classifier; an ensemble is made of trained classifiers")
        if saved.regression:  # the ensemble averages class probabilities, which a score is not
            raise UsageError(f"{name}: predicts a score (--problem regression); an ensemble is made of classifiers")
        for what, mine, theirs in (
            ("tokenizer", saved.tokenizer, first.tokenizer),
            ("labels", saved.labels, first.labels),
            ("--keep", saved.inputs.get("keep"), first.inputs.get("keep")),
        ):
            if mine != theirs:
                raise UsageError(
                    f"{name}: its {what} differs from {first.path}'s; ensemble classifiers trained on the same data "
                    "with the same tokenizer options"
                )
    model = ClassifierEnsemble([saved.config for saved in members])
    for slot, saved in zip(model.members, members):
        slot.load_state_dict(saved.model.state_dict())
    records = [saved.training for saved in members]
    common = {key: records[0].get(key) for key in ("dataset", "splits") if len({str(r.get(key)) for r in records}) == 1}
    training = {
        "kind": tasks.CLASSIFIER,
        **common,
        "labels": first.labels,
        "parameters": sum(p.numel() for p in model.parameters()),
        "command": command,
        "ensemble_of": [str(saved.path) if saved.path else None for saved in members],
        "members": records,
    }
    inputs = {**first.inputs, "max_length": max(saved.inputs.get("max_length", 0) for saved in members)}
    return EnsembleBundle(model, first.tokenizer, tasks.CLASSIFIER, first.labels, training, inputs=inputs)


def build_ensemble(
    member_dirs: list[Path],
    output: Path,
    overwrite: bool = False,
    command: str | None = None,
    device: str = "cpu",
    half: bool = False,
) -> ModelBundle:
    """Combine the classifiers in ``member_dirs``, measure it on their validation split, save it to ``output``.

    When the members trained on the same split of the same data, ``training.json`` gets the
    ensemble's accuracy on that validation split, as a trained classifier's does.
    """
    from nlp_lstm.evaluate import evaluate_classifier

    output = Path(output)
    directories = [hub.resolve(d) for d in member_dirs]  # named as load_model names them: a shipped name too
    if output.resolve() in {d.resolve() for d in directories}:
        raise UsageError(f"{output}: is one of the members; choose another --output")
    if output.exists() and not overwrite:
        raise UsageError(f"{output}: already exists; pass --overwrite to replace it, or choose another --output")
    check_model_replaceable(output)  # before the work: only a directory of model files is ever replaced
    where = select_device(device)  # "auto" too
    saved = combine([load_model(d, device=where, kind=tasks.CLASSIFIER) for d in directories], command)
    if half:  # measure what will be stored: the weights rounded to float16
        saved.weights_dtype = "float16"
        for parameter in saved.model.parameters():
            parameter.data = parameter.data.half().float()
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
