"""Model directories: exact round trip, strict and clear loading, atomic writes."""

import json

import pytest
import torch

from nlp_lstm import checkpoint
from nlp_lstm.checkpoint import ModelLoadError


def logits_of(saved, ids):
    with torch.no_grad():
        return saved.model(ids)[0]


def test_save_then_load_gives_identical_tensors_and_logits(tmp_path, tiny_lm):
    checkpoint.save(tiny_lm, tmp_path / "m")
    loaded = checkpoint.load(tmp_path / "m")
    for (name, a), (_, b) in zip(tiny_lm.model.state_dict().items(), loaded.model.state_dict().items()):
        assert torch.equal(a, b), name
    ids = torch.tensor([tiny_lm.tokenizer.encode("From fairest")])
    assert torch.equal(logits_of(tiny_lm, ids), logits_of(loaded, ids))
    assert loaded.tokenizer == tiny_lm.tokenizer and loaded.kind == "lm" and loaded.training == {"note": "untrained"}
    assert sorted(p.name for p in (tmp_path / "m").iterdir()) == [
        "config.json",
        "model.safetensors",
        "tokenizer.json",
        "training.json",
    ]


def test_tied_weights_survive_the_round_trip(tmp_path, tiny_lm):
    from nlp_lstm.config import ModelConfig
    from nlp_lstm.model import LanguageModel

    model = LanguageModel(ModelConfig(vocab_size=tiny_lm.tokenizer.vocab_size, embedding_dim=8, hidden_size=8, tie_weights=True))
    checkpoint.save(checkpoint.ModelBundle(model, tiny_lm.tokenizer, "lm"), tmp_path / "tied")
    loaded = checkpoint.load(tmp_path / "tied").model
    assert loaded.head.decoder.weight is loaded.encoder.embedding.weight
    assert torch.equal(loaded.head.decoder.weight, model.head.decoder.weight)


@pytest.fixture
def saved_dir(tmp_path, tiny_lm):
    return checkpoint.save(tiny_lm, tmp_path / "model")


def test_truncated_weights_are_a_clear_error(saved_dir):
    weights = saved_dir / "model.safetensors"
    weights.write_bytes(weights.read_bytes()[:-100])
    with pytest.raises(ModelLoadError, match="truncated or corrupted"):
        checkpoint.load(saved_dir)


def test_corrupted_weights_header_is_a_clear_error(saved_dir):
    weights = saved_dir / "model.safetensors"
    data = bytearray(weights.read_bytes())
    data[8:20] = b"garbage!!!!!"
    weights.write_bytes(bytes(data))
    with pytest.raises(ModelLoadError, match="truncated or corrupted"):
        checkpoint.load(saved_dir)


def edit_config(directory, change):
    path = directory / "config.json"
    config = json.loads(path.read_text())
    change(config)
    path.write_text(json.dumps(config))


def test_unknown_config_keys_are_refused(saved_dir):
    edit_config(saved_dir, lambda c: c["model"].update(hiden_size=3))
    with pytest.raises(ModelLoadError, match=r"unknown ModelConfig keys \['hiden_size'\]"):
        checkpoint.load(saved_dir)
    edit_config(saved_dir, lambda c: (c["model"].pop("hiden_size"), c.update(extra=1)))
    with pytest.raises(ModelLoadError, match=r"unknown keys \['extra'\]"):
        checkpoint.load(saved_dir)


def test_newer_format_is_refused_with_upgrade_hint(saved_dir):
    edit_config(saved_dir, lambda c: c.update(format_version=99))
    with pytest.raises(ModelLoadError, match="newer nlp-lstm.*upgrade"):
        checkpoint.load(saved_dir)


def test_mismatched_vocabulary_is_refused(saved_dir):
    tokenizer = json.loads((saved_dir / "tokenizer.json").read_text())
    tokenizer["chars"].append("\u2603")
    (saved_dir / "tokenizer.json").write_text(json.dumps(tokenizer))
    with pytest.raises(ModelLoadError, match="tokenizer has .* tokens but the model's vocab_size is"):
        checkpoint.load(saved_dir)


def test_shape_mismatch_between_config_and_weights_is_refused(saved_dir):
    edit_config(saved_dir, lambda c: c["model"].update(hidden_size=64))
    with pytest.raises(ModelLoadError, match="cannot be read|do not match"):
        checkpoint.load(saved_dir)


def test_missing_files_and_wrong_paths(tmp_path, saved_dir):
    with pytest.raises(ModelLoadError, match="no such model directory"):
        checkpoint.load(tmp_path / "absent")
    pickled = tmp_path / "model.pt"
    pickled.write_bytes(b"\x80\x04not really")
    with pytest.raises(ModelLoadError, match="pickled checkpoints are refused"):
        checkpoint.load(pickled)
    (saved_dir / "model.safetensors").unlink()
    with pytest.raises(ModelLoadError, match="model.safetensors is missing"):
        checkpoint.load(saved_dir)


def test_wrong_kind_is_refused(saved_dir):
    with pytest.raises(ModelLoadError, match="is a language model, but this command needs a classifier"):
        checkpoint.load(saved_dir, kind="classifier")


def test_failed_save_leaves_the_previous_model_intact(saved_dir, tiny_lm, monkeypatch):
    before = {p.name: p.read_bytes() for p in saved_dir.iterdir()}
    other = checkpoint.ModelBundle(tiny_lm.model, tiny_lm.tokenizer, "lm", None, {"note": "second"})

    def fail_after_weights(directory, data):
        raise OSError(28, "No space left on device")  # as a full disk would, after the weights are written

    monkeypatch.setattr(other.tokenizer, "save", lambda path: fail_after_weights(path, None))
    with pytest.raises(OSError, match="No space left"):
        checkpoint.save(other, saved_dir)
    assert {p.name: p.read_bytes() for p in saved_dir.iterdir()} == before
    assert [p.name for p in saved_dir.parent.iterdir()] == ["model"]  # no staging directory left behind
    assert checkpoint.load(saved_dir).training == {"note": "untrained"}
