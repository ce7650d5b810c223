"""Fine-tuning a character model on text with characters it never saw grows its vocabulary (real training, tiny models)."""

import json

import pytest
import torch

import nlp_lstm
from nlp_lstm.tokenizer import CharTokenizer
from nlp_lstm.vocabulary_growth import grown, new_characters

NEW = "é{}😀"  # an accent, braces and an emoji: none is in the base text


@pytest.fixture(scope="module")
def base(trained_lm_dir):
    return trained_lm_dir  # conftest's small model, trained for 60 steps on the sonnets


@pytest.fixture
def new_text(tmp_path):
    lines = [f"café {{x}} 😀 été {{y}} 😀 {word}" for word in ("so", "and", "then", "thus") * 100]
    path = tmp_path / "new.txt"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def fine_tune(base, new_text, output, **options):
    config = nlp_lstm.TrainConfig(
        dataset=str(new_text),
        init_from=str(base),
        seq_len=32,
        batch_size=8,
        max_steps=60,
        eval_every=60,
        lr=1e-2,
        threads=1,
        **options,
    )
    nlp_lstm.train_language_model(config, output)
    return nlp_lstm.load_model(output / "best")


def test_new_rows_start_at_the_mean_and_every_old_weight_is_kept(base):
    saved = nlp_lstm.load_model(base)
    added = new_characters(saved.tokenizer, ["zz{é}"])
    assert added == ["{", "}", "é"] or set(added) == {"{", "}", "é"}  # z is known to the sonnets
    model, tokenizer = grown(saved.model, saved.tokenizer, added)
    assert tokenizer.vocab_size == saved.tokenizer.vocab_size + 3
    assert tokenizer.encode("love") == saved.tokenizer.encode("love")  # every old id keeps its meaning
    old, new = saved.model.state_dict(), model.state_dict()
    for name, tensor in old.items():
        rows = tensor.shape[0]
        assert torch.equal(new[name][:rows], tensor), name
        if new[name].shape != tensor.shape:  # a vocabulary-sized tensor: its new rows are the mean of the characters'
            assert torch.allclose(new[name][rows:], tensor[2:].mean(dim=0).expand_as(new[name][rows:])), name


def test_fine_tuning_learns_to_write_characters_the_model_lacked(base, new_text, tmp_path):
    tuned = fine_tune(base, new_text, tmp_path / "grown")
    record = json.loads((tmp_path / "grown" / "best" / "training.json").read_text())
    assert set(record["added_characters"]) == set(NEW)
    assert tuned.tokenizer.vocab_size == nlp_lstm.load_model(base).tokenizer.vocab_size + len(NEW)
    metrics = nlp_lstm.evaluate_language_model(tuned, str(new_text), "validation")
    assert metrics["unknown_characters"] == 0
    written = nlp_lstm.generate(tuned, "café ", nlp_lstm.SampleConfig(length=300, temperature=0.5, seed=0))
    assert set(written) & set(NEW), written  # it can write them now


def test_no_grow_vocabulary_keeps_the_unknown_id(base, new_text, tmp_path):
    tuned = fine_tune(base, new_text, tmp_path / "kept", grow_vocabulary=False)
    assert tuned.tokenizer.vocab_size == nlp_lstm.load_model(base).tokenizer.vocab_size
    assert nlp_lstm.evaluate_language_model(tuned, str(new_text), "validation")["unknown_characters"] > 0
    assert isinstance(tuned.tokenizer, CharTokenizer)


def test_the_command_line_reports_the_characters_it_added(base, new_text, tmp_path):
    from typer.testing import CliRunner

    from nlp_lstm.cli import app

    result = CliRunner().invoke(
        app,
        ["train", "lm", "--dataset", str(new_text), "--init-from", str(base), "--output", str(tmp_path / "cli"),
         "--max-steps", "2", "--eval-every", "2", "--seq-len", "16", "--batch-size", "4", "--threads", "1"],
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    assert f"({len(NEW)} new characters)" in result.stderr


def test_init_from_takes_a_shipped_models_name(tmp_path, new_text):
    config = nlp_lstm.TrainConfig(
        dataset=str(new_text), init_from="shakespeare-char", seq_len=16, batch_size=4, max_steps=1, eval_every=1, threads=1
    )
    nlp_lstm.train_language_model(config, tmp_path / "named")
    record = json.loads((tmp_path / "named" / "best" / "training.json").read_text())
    assert record["started_from"]["dataset"] == "builtin:shakespeare" and set(record["added_characters"]) == {
        "é",
        "😀",
    }  # the plays have braces
