"""Classifier ensembles: the mean of the members' probabilities, saved as one model directory, refused when members differ."""

import json

import pytest
import torch
from typer.testing import CliRunner

from nlp_lstm import checkpoint, hub
from nlp_lstm.cli import app
from nlp_lstm.config import ModelConfig
from nlp_lstm.ensemble import combine
from nlp_lstm.errors import UsageError
from nlp_lstm.evaluate import evaluate_classifier
from nlp_lstm.model import Classifier, ClassifierEnsemble
from nlp_lstm.prediction import encode_for, predict_probabilities
from nlp_lstm.tokenizer import CharTokenizer
from nlp_lstm.train_config import ClassifierTrainConfig
from nlp_lstm.training.classifier import train_classifier

runner = CliRunner()
SMALL = dict(embedding_dim=16, hidden_size=24, num_layers=1, dropout=0.0, embedding_dropout=0.0)


@pytest.fixture(scope="module")
def members(tmp_path_factory):
    """Two character-level classifiers trained one epoch on the built-in Rotten Tomatoes data, seeds 0 and 1."""
    directories = []
    for seed in (0, 1):
        config = ClassifierTrainConfig(
            dataset="builtin:rotten_tomatoes", tokenizer="char", max_length=64, epochs=1, device="cpu", seed=seed
        )
        result = train_classifier(config.with_encoder(**SMALL), tmp_path_factory.mktemp(f"seed{seed}") / "run")
        directories.append(result.best_dir)
    return directories


def test_the_ensemble_predicts_its_members_mean_probability_and_records_its_validation(tmp_path, members, reviews):
    output = tmp_path / "ensemble"
    done = runner.invoke(app, ["ensemble", *map(str, members), "--output", str(output), "--json"])
    assert done.exit_code == 0, done.output
    reported = json.loads(done.output)
    saved = checkpoint.load(output, kind="classifier")
    assert isinstance(saved.model, ClassifierEnsemble) and len(saved.model.members) == 2
    assert json.loads((output / "config.json").read_text())["format_version"] == 2  # older readers must refuse it

    texts = reviews.validation.texts[:60]
    singles = [checkpoint.load(d) for d in members]
    ids = encode_for(singles[0], texts)
    each = [predict_probabilities(s.model, ids, 16, s.tokenizer.pad_id) for s in singles]
    together = predict_probabilities(saved.model, encode_for(saved, texts), 16, saved.tokenizer.pad_id)
    assert not torch.allclose(each[0], each[1], atol=1e-3)  # two seeds: two different models
    torch.testing.assert_close(together, (each[0] + each[1]) / 2, rtol=1e-5, atol=1e-6)

    measured = evaluate_classifier(saved, "builtin:rotten_tomatoes", "validation")
    assert saved.training["validation"]["accuracy"] == pytest.approx(measured["accuracy"])
    assert reported["validation"]["accuracy"] == pytest.approx(measured["accuracy"])
    assert [m["train_config"]["seed"] for m in saved.training["members"]] == [0, 1]
    info = runner.invoke(app, ["info", str(output), "--json"])
    assert json.loads(info.stdout)["shape"].startswith("ensemble of 2: 1 x 24 LSTM")


def test_members_may_differ_in_shape_but_not_in_how_they_read_text(members):
    first, second = (checkpoint.load(d) for d in members)
    other_text = CharTokenizer.build(["only a handful of characters"])
    with pytest.raises(UsageError, match="tokenizer differs"):
        combine([first, checkpoint.ModelBundle(second.model, other_text, "classifier", second.labels, inputs=second.inputs)])
    with pytest.raises(UsageError, match="--keep differs"):
        combine([first, checkpoint.ModelBundle(second.model, second.tokenizer, "classifier", second.labels, inputs={})])
    with pytest.raises(UsageError, match="two or more"):
        combine([first])
    torch.manual_seed(0)  # a wider, unidirectional member trained on longer cuts, as a transfer-learned one may be
    wider = Classifier(ModelConfig(**{**second.config.to_dict(), "hidden_size": 32, "num_layers": 2})).eval()
    longer = {**second.inputs, "max_length": 96}
    mixed = combine([first, checkpoint.ModelBundle(wider, second.tokenizer, "classifier", second.labels, inputs=longer)])
    assert [m.config.hidden_size for m in mixed.model.members] == [24, 32] and mixed.inputs["max_length"] == 96


def test_half_precision_storage_halves_the_file_and_records_what_it_measured(tmp_path, members, reviews):
    full, half = tmp_path / "full", tmp_path / "half"
    for output, flags in ((full, []), (half, ["--half"])):
        done = runner.invoke(app, ["ensemble", *map(str, members), "--output", str(output), *flags])
        assert done.exit_code == 0, done.output
    size = {d: (d / "model.safetensors").stat().st_size for d in (full, half)}
    assert size[half] < 0.55 * size[full]
    loaded = checkpoint.load(half)
    assert loaded.weights_dtype == "float16" and all(p.dtype == torch.float32 for p in loaded.model.parameters())
    exact = checkpoint.load(full)
    for rounded, original in zip(loaded.model.parameters(), exact.model.parameters()):
        torch.testing.assert_close(rounded, original.half().float(), rtol=0, atol=0)
    measured = evaluate_classifier(loaded, "builtin:rotten_tomatoes", "validation")
    assert loaded.training["validation"]["accuracy"] == pytest.approx(measured["accuracy"])


def test_the_command_never_replaces_a_directory_unasked(tmp_path, members):
    output = tmp_path / "kept"
    output.mkdir()
    (output / "notes.txt").write_text("mine")
    done = runner.invoke(app, ["ensemble", *map(str, members), "--output", str(output)])
    assert done.exit_code == 2 and "--overwrite" in done.output and len(done.output.strip().splitlines()) == 1
    assert (output / "notes.txt").read_text() == "mine"
    done = runner.invoke(app, ["ensemble", *map(str, members), "--output", str(members[0]), "--overwrite"])
    assert done.exit_code == 2 and "is one of the members" in done.output
    assert checkpoint.load(members[0]).kind == "classifier"


def test_an_ensemble_is_stored_by_its_own_class(tmp_path, members):
    first, second = (checkpoint.load(d) for d in members)
    combined = combine([first, second])
    assert type(combined) is checkpoint.EnsembleBundle and type(first) is checkpoint.ModelBundle
    loaded = checkpoint.load(checkpoint.save(combined, tmp_path / "ensemble"))
    assert type(loaded) is checkpoint.EnsembleBundle and len(loaded.model.members) == 2
    with pytest.raises(TypeError, match="EnsembleBundle"):  # held as one network, it would save weights no loader takes
        checkpoint.ModelBundle(combined.model, combined.tokenizer, "classifier", combined.labels)


def test_a_shipped_model_named_as_a_member_is_caught_as_the_output(members):
    shipped = hub.resolve("sentiment")  # the name resolves to this directory, as --model's does
    # Without --overwrite: should the member check miss the name, the line says "already exists" and nothing is written.
    done = runner.invoke(app, ["ensemble", "sentiment", str(members[0]), "--output", str(shipped)])
    assert done.exit_code == 2 and "is one of the members" in done.output, done.output
