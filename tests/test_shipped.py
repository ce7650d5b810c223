"""The shipped models in checkpoints/: they load, are what their cards say, and serve as defaults."""

import json
import re
from pathlib import Path

import pytest
from typer.testing import CliRunner

from nlp_lstm import tasks
from nlp_lstm.catalog import EVALUATION_FILE, list_models, shipped_model_dir
from nlp_lstm.cli import app

runner = CliRunner()
SHIPPED_MODELS = tasks.shipped_models()  # kind -> name, from the table of tasks
MAX_BYTES = 25_000_000


@pytest.mark.parametrize("kind", sorted(SHIPPED_MODELS))
def test_shipped_model_loads_strictly_and_fits_the_size_budget(kind):
    import nlp_lstm

    directory = shipped_model_dir(kind)
    assert directory is not None, f"checkpoints/{SHIPPED_MODELS[kind]} is missing"
    saved = nlp_lstm.load_model(directory, kind=kind)
    assert saved.kind == kind
    assert sum(f.stat().st_size for f in Path(directory).iterdir()) < MAX_BYTES


@pytest.mark.parametrize("kind", sorted(SHIPPED_MODELS))
def test_model_card_agrees_with_training_and_evaluation_json(kind):
    directory = shipped_model_dir(kind)
    card = (directory / "README.md").read_text()
    training = json.loads((directory / "training.json").read_text())
    evaluation = json.loads((directory / EVALUATION_FILE).read_text())
    assert training["command"] in card
    assert f"{training['parameters']:,}" in card
    assert {e["split"] for e in evaluation} >= {"test"}
    for result in evaluation:
        figure = result["bits_per_char"] if kind == "lm" else result["accuracy"]
        assert f"{figure:.4f}" in card, f"{result['dataset']} {result['split']} figure missing from the card"


@pytest.mark.slow
def test_shipped_language_model_is_trained(shakespeare):
    """A slice of a test play (never trained on): far below the ~6.4 bits/char of an untrained model."""
    import nlp_lstm
    from nlp_lstm.metrics import language_model_loss, loss_metrics

    saved = nlp_lstm.load_model(shipped_model_dir("lm"), kind="lm")
    macbeth = next(t for t in shakespeare.test if "MACBETH" in t[:2000])[:20_000]
    import torch

    stream = torch.from_numpy(saved.tokenizer.encode_array(macbeth))
    nats, tokens = language_model_loss(saved.model, stream, 8, 128)
    assert loss_metrics(nats, tokens, len(macbeth))["bits_per_char"] < 2.4


def test_generate_and_classify_use_the_shipped_models_by_default():
    generated = runner.invoke(app, ["generate", "--prompt", "ROMEO:", "--length", "80", "--seed", "0"])
    assert generated.exit_code == 0, generated.output
    assert generated.output.startswith("ROMEO:") and len(generated.output) >= 80
    assert re.search(r"[a-z]{3,} [a-z]{2,}", generated.output)  # words, not noise

    classified = runner.invoke(app, ["classify", "--json", "a gorgeous, heartfelt film", "a tedious, joyless mess"])
    assert classified.exit_code == 0, classified.output
    labels = [json.loads(line)["label"] for line in classified.output.splitlines()]
    assert labels == ["positive", "negative"]


def test_models_lists_shipped_and_local_runs(tmp_path):
    from nlp_lstm.checkpoint import ModelBundle, save
    from nlp_lstm.config import ModelConfig
    from nlp_lstm.model import LanguageModel
    from nlp_lstm.tokenizer import CharTokenizer

    tokenizer = CharTokenizer.build(["some text"])
    model = LanguageModel(ModelConfig(vocab_size=tokenizer.vocab_size, embedding_dim=8, hidden_size=8, num_layers=1))
    save(
        ModelBundle(model, tokenizer, "lm", None, {"dataset": "mine", "validation": {"bits_per_char": 3.5}}),
        tmp_path / "mine" / "best",
    )
    (tmp_path / "not-a-model").mkdir()

    names = [(e.name, e.shipped) for e in list_models(tmp_path)]
    assert names == [("shakespeare-char", True), ("sentiment", True), ("mine", False)]

    listed = runner.invoke(app, ["models", "--runs", str(tmp_path), "--json"])
    assert listed.exit_code == 0, listed.output
    entries = {e["name"]: e for e in json.loads(listed.output)}
    assert entries["mine"]["validation"] == {"bits_per_char": 3.5}
    assert entries["sentiment"]["held_out"][0]["dataset"] == "builtin:imdb"
    table = runner.invoke(app, ["models", "--runs", str(tmp_path)])
    assert table.exit_code == 0 and "mine" in table.output


def test_a_dynamic_evaluation_is_listed_apart_from_the_static_one_of_the_same_split(tmp_path):
    from nlp_lstm.catalog import describe_model, model_info
    from nlp_lstm.checkpoint import ModelBundle, save
    from nlp_lstm.config import ModelConfig
    from nlp_lstm.model import LanguageModel
    from nlp_lstm.tokenizer import CharTokenizer

    tokenizer = CharTokenizer.build(["some text"])
    model = LanguageModel(ModelConfig(vocab_size=tokenizer.vocab_size, embedding_dim=8, hidden_size=8, num_layers=1))
    save(ModelBundle(model, tokenizer, "lm", None, {"dataset": "mine", "validation": {"bits_per_char": 3.5}}), tmp_path / "m")
    static = {"dataset": "mine", "split": "test", "bits_per_char": 2.0}
    dynamic = {**static, "bits_per_char": 1.8, "dynamic": {"segment_length": 50, "rows": 16}}
    (tmp_path / "m" / EVALUATION_FILE).write_text(json.dumps([static, dynamic]))

    info = model_info(tmp_path / "m")
    assert info["mine test"] == "2.000 bits/char"
    assert info["mine test (dynamic evaluation)"] == "1.800 bits/char"
    listed = runner.invoke(app, ["models", "--runs", str(tmp_path)])
    assert "mine test (dynamic evaluation): 1.800 bits/char" in listed.output, listed.output
    assert describe_model(tmp_path / "m", "m").held_out_name(dynamic) == "mine test (dynamic evaluation)"
