"""The table of tasks: its rows name real code, and the saved spellings of the kinds never change."""

import json

import pytest
import torch
from torch import nn

import nlp_lstm
from nlp_lstm import catalog, checkpoint, tasks
from nlp_lstm.checkpoint import ModelBundle
from nlp_lstm.config import ModelConfig
from nlp_lstm.errors import ModelLoadError, UsageError
from nlp_lstm.model import Encoder
from nlp_lstm.tokenizer import CharTokenizer


def test_saved_kinds_keep_their_spelling():
    # Model directories on disk record these words; renaming one would orphan every saved model.
    assert (tasks.LM, tasks.CLASSIFIER, tasks.TEACHER) == ("lm", "classifier", "teacher")
    assert tasks.model_kinds()[:2] == ("lm", "classifier") and tasks.TEACHER not in tasks.model_kinds()
    assert tasks.shipped_models() == {"lm": "shakespeare-char", "classifier": "sentiment"}


@pytest.mark.parametrize("kind", tasks.kinds())
def test_every_row_names_code_that_exists(kind):
    task = tasks.get(kind)
    assert isinstance(tasks.model_class(kind), type)
    for name in (task.recipe, task.evaluation):
        assert callable(tasks.resolve(name)), name
    assert task.headline.format(0.5)
    assert task.loads_as is None or task.loads_as in tasks.model_kinds()


def test_a_kind_is_registered_once():
    with pytest.raises(ValueError, match="registered already"):
        tasks.register(tasks.get(tasks.LM))
    assert tasks.called("regression") == "'regression'" and tasks.find(None) is None


class Tagger(nn.Module):
    """A task that exists only here: a label for every token, one linear layer over the shared encoder's features."""

    def __init__(self, config: ModelConfig):
        super().__init__()
        self.config = config
        self.encoder = Encoder(config)
        self.head = nn.Linear(self.encoder.output_size, config.num_classes)

    def forward(self, ids: torch.Tensor) -> torch.Tensor:
        features, _ = self.encoder(ids)
        return self.head(features)  # (B, T, C)


TAGGER = tasks.Task(
    kind="tagger",
    called="a tagger",
    title="token tagger",
    model=f"{__name__}:Tagger",
    recipe=None,
    evaluation=None,
    metrics=("token_accuracy",),
    headline="{:.1%} of tokens",
    shipped=None,
    labelled=True,
    command="classify",
)


@pytest.fixture
def tagger(monkeypatch, tmp_path):
    """A saved tagger under ``tmp_path/runs``; its row is registered through the table and gone after the test."""
    monkeypatch.setattr(tasks, "_TASKS", dict(tasks._TASKS))
    tasks.register(TAGGER)
    torch.manual_seed(0)
    tokenizer = CharTokenizer.build(["From fairest creatures we desire increase"])
    model = Tagger(ModelConfig(vocab_size=tokenizer.vocab_size, embedding_dim=8, hidden_size=16, num_classes=3)).eval()
    saved = ModelBundle(model, tokenizer, "tagger", ["noun", "verb", "other"], {"validation": {"token_accuracy": 0.875}})
    return nlp_lstm.save_model(saved, tmp_path / "runs" / "tagger" / "best", card=True)


def test_a_new_task_is_its_row_and_its_module(tagger):
    # Nothing outside this file and the table knows the tagger, yet the one loader, the kind checks,
    # the catalog and the model card all handle it: what differs between kinds is read from the row.
    assert json.loads((tagger / "config.json").read_text())["kind"] == "tagger"
    loaded = nlp_lstm.load_model(tagger, kind="tagger")
    assert isinstance(loaded.model, Tagger) and loaded.labels == ["noun", "verb", "other"]
    ids = torch.tensor([loaded.tokenizer.encode("we desire")])
    original = checkpoint.load(tagger).model
    assert torch.equal(loaded.model(ids), original(ids)) and loaded.model(ids).shape == (1, 9, 3)
    with pytest.raises(ModelLoadError, match="is a tagger, but this command needs a language model"):
        nlp_lstm.load_model(tagger, kind=tasks.LM)
    with pytest.raises(ModelLoadError, match="is a tagger, but generate needs a language model"):
        nlp_lstm.generate(loaded, "we")
    (entry,) = [e for e in catalog.list_models(tagger.parent.parent) if not e.shipped]
    assert (entry.kind, entry.headline(entry.validation)) == ("tagger", "87.5% of tokens")
    assert catalog.model_info(tagger)["kind"] == "token tagger"
    assert "An nlp-lstm token tagger" in (tagger / "README.md").read_text()


def test_a_kind_without_a_row_is_refused(tagger, monkeypatch):
    monkeypatch.setattr(tasks, "_TASKS", {k: v for k, v in tasks._TASKS.items() if k != "tagger"})
    with pytest.raises(ModelLoadError, match="unknown model kind 'tagger'"):
        nlp_lstm.load_model(tagger)
    with pytest.raises(UsageError, match="kind must be one of"):
        nlp_lstm.load_model(tagger, kind="tagger")
