"""Honest checks of the LM: initial loss, overfitting one batch, forget-gate bias, weight tying."""

import math

import pytest
import torch
import torch.nn.functional as F

from nlp_lstm.config import ModelConfig
from nlp_lstm.model import LanguageModel, detach_state


def test_forget_gate_bias_starts_at_one():
    model = LanguageModel(ModelConfig(vocab_size=10, embedding_dim=4, hidden_size=6, num_layers=2))
    lstm = model.encoder.lstm
    for layer in range(2):
        total = getattr(lstm, f"bias_ih_l{layer}") + getattr(lstm, f"bias_hh_l{layer}")
        assert torch.equal(total[6:12], torch.ones(6))  # i, f, g, o: the second block is f
        assert torch.equal(total[:6], torch.zeros(6)) and torch.equal(total[12:], torch.zeros(12))


def test_initial_loss_is_close_to_uniform(sonnets_text):
    from nlp_lstm.tokenizer import CharTokenizer

    torch.manual_seed(0)
    tok = CharTokenizer.build([sonnets_text])
    model = LanguageModel(ModelConfig(vocab_size=tok.vocab_size, embedding_dim=16, hidden_size=32)).eval()
    ids = torch.tensor(tok.encode(sonnets_text[:2001])).view(1, -1)
    logits, _ = model(ids[:, :-1])
    loss = F.cross_entropy(logits.flatten(0, 1), ids[:, 1:].flatten()).item()
    assert abs(loss - math.log(tok.vocab_size)) < 0.1


def test_overfits_one_batch(sonnets_text):
    from nlp_lstm.tokenizer import CharTokenizer

    torch.manual_seed(0)
    tok = CharTokenizer.build([sonnets_text])
    ids = torch.tensor(tok.encode(sonnets_text[: 4 * 65])).view(4, 65)
    model = LanguageModel(
        ModelConfig(vocab_size=tok.vocab_size, embedding_dim=32, hidden_size=64, num_layers=1, dropout=0.0, embedding_dropout=0.0)
    )
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-2)
    for _ in range(300):
        logits, _ = model(ids[:, :-1])
        loss = F.cross_entropy(logits.flatten(0, 1), ids[:, 1:].flatten())
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    assert loss.item() < 0.05


def test_tied_weights_share_one_tensor_and_bidirectional_lm_is_refused():
    model = LanguageModel(ModelConfig(vocab_size=12, embedding_dim=8, hidden_size=8, tie_weights=True))
    assert model.head.decoder.weight is model.encoder.embedding.weight
    try:
        LanguageModel(ModelConfig(vocab_size=12, bidirectional=True))
    except ValueError as error:
        assert "left to right" in str(error)
    else:
        raise AssertionError("a bidirectional LM was accepted")


def test_detach_state_keeps_values_and_cuts_the_graph():
    model = LanguageModel(ModelConfig(vocab_size=12, embedding_dim=4, hidden_size=4, num_layers=1))
    _, state = model(torch.tensor([[1, 2, 3]]))
    detached = detach_state(state)
    assert state[0].requires_grad and not detached[0].requires_grad
    assert torch.equal(detached[0], state[0]) and torch.equal(detached[1], state[1])


def test_subword_and_character_losses_are_reported_per_character(tmp_path, sonnets_text):
    from nlp_lstm.checkpoint import ModelBundle
    from nlp_lstm.evaluate import evaluate_language_model
    from nlp_lstm.tokenizer import SubwordTokenizer

    path = tmp_path / "s.txt"
    path.write_text(sonnets_text)
    tok = SubwordTokenizer.build([sonnets_text], vocab_size=400)
    model = LanguageModel(ModelConfig(vocab_size=tok.vocab_size, embedding_dim=8, hidden_size=8, num_layers=1))
    metrics = evaluate_language_model(ModelBundle(model, tok, "lm"), str(path), "validation")
    held_out = len(sonnets_text) - int(len(sonnets_text) * 0.9) - (len(sonnets_text) - int(len(sonnets_text) * 0.95))
    assert metrics["tokens"] < metrics["characters"] <= held_out  # subwords: fewer tokens than characters
    assert metrics["nats_per_char"] == pytest.approx(metrics["nats_per_token"] * metrics["tokens"] / metrics["characters"])
