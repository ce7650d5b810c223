"""Classifier ensembles: the mean of the members' probabilities, saved as one model directory, refused when members differ."""

import json

import pytest
import torch
from typer.testing import CliRunner

from nlp_lstm import checkpoint
from nlp_lstm.classifier_training import train_classifier
from nlp_lstm.cli import app
from nlp_lstm.config import ClassifierTrainConfig, ModelConfig
from nlp_lstm.ensemble import combine
from nlp_lstm.errors import UsageError
from nlp_lstm.evaluate import evaluate_classifier
from nlp_lstm.model import Classifier, ClassifierEnsemble
from nlp_lstm.prediction import encode_for, predict_probabilities
from nlp_lstm.tokenizer import CharTokenizer

runner = CliRunner()
SMALL = dict(embedding_dim=16, hidden_size=24, num_layers=1, dropout=0.0, embedding_dropout=0.0)


@pytest.fixture(scope="module")
def members(tmp_path_factory):
    """Two character-level classifiers trained one epoch on the built-in Rotten Tomatoes data, seeds 0 and 1."""
    directories = []
    for seed in (0, 1):
        config = ClassifierTrainConfig(
            dataset="rotten_tomatoes", tokenizer="char", max_length=64, epochs=1, device="cpu", seed=seed
        )
        result = train_classifier(config, tmp_path_factory.mktemp(f"seed{seed}") / "run", SMALL)
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

    measured = evaluate_classifier(saved, "rotten_tomatoes", "validation")
    assert saved.training["validation"]["accuracy"] == pytest.approx(measured["accuracy"])
    assert reported["validation"]["accuracy"] == pytest.approx(measured["accuracy"])
    assert [m["train_config"]["seed"] for m in saved.training["members"]] == [0, 1]
    info = runner.invoke(app, ["info", str(output), "--json"])
    assert json.loads(info.stdout)["shape"].startswith("ensemble of 2: 1 x 24 LSTM")


def test_members_that_read_text_differently_or_are_not_classifiers_are_refused(tmp_path, members):
    first, second = (checkpoint.load(d) for d in members)
    other_text = CharTokenizer.build(["only a handful of characters"])
    with pytest.raises(UsageError, match="tokenizer differs"):
        combine([first, checkpoint.SavedModel(second.model, other_text, "classifier", second.labels, inputs=second.inputs)])
    wider = Classifier(ModelConfig(**{**second.config.to_dict(), "hidden_size": 32}))
    with pytest.raises(UsageError, match="model shape differs"):
        combine([first, checkpoint.SavedModel(wider, second.tokenizer, "classifier", second.labels, inputs=second.inputs)])
    with pytest.raises(UsageError, match="input policy"):
        combine([first, checkpoint.SavedModel(second.model, second.tokenizer, "classifier", second.labels, inputs={})])
    with pytest.raises(UsageError, match="two or more"):
        combine([first])


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
