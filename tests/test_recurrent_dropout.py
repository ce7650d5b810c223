"""AWD-LSTM's weight drop and locked dropout: exact where they are off, one mask per batch or sequence where on."""

import pytest
import torch
from torch import nn

from nlp_lstm.config import ModelConfig
from nlp_lstm.model import LanguageModel
from nlp_lstm.recurrent_dropout import locked, run_lstm


@pytest.fixture
def lstm():
    torch.manual_seed(0)
    return nn.LSTM(8, 16, num_layers=3, batch_first=True)


def test_in_evaluation_the_lstm_runs_exactly_as_nn_lstm(lstm):
    inputs = torch.randn(4, 12, 8)
    lstm.eval()
    expected, (h, c) = lstm(inputs)
    output, (h2, c2) = run_lstm(lstm, inputs, None, 0.5, 0.5)
    assert torch.equal(output, expected) and torch.equal(h, h2) and torch.equal(c, c2)


@pytest.mark.parametrize("weight_drop, locked_dropout", [(1e-12, 0.0), (0.0, 1e-12), (1e-12, 1e-12)])
def test_the_fused_and_layer_by_layer_paths_compute_what_nn_lstm_does(lstm, weight_drop, locked_dropout):
    """With masks that keep every weight and unit, both training paths equal nn.LSTM itself, state carried in."""
    lstm.train()  # nn.LSTM's own dropout is 0 here, so its training forward is deterministic
    inputs, state = torch.randn(4, 12, 8), (torch.randn(3, 4, 16), torch.randn(3, 4, 16))
    expected, (h, c) = lstm(inputs, state)
    output, (h2, c2) = run_lstm(lstm, inputs, state, weight_drop, locked_dropout)
    torch.testing.assert_close(output, expected)
    torch.testing.assert_close(h2, h)
    torch.testing.assert_close(c2, c)


def test_a_locked_mask_is_the_same_at_every_time_step_and_differs_between_sequences():
    torch.manual_seed(0)
    dropped = locked(torch.ones(8, 20, 32), 0.5)
    zeros = dropped == 0  # (B, T, H)
    assert torch.equal(zeros, zeros[:, :1].expand_as(zeros))  # one mask per sequence, for all its steps
    assert not torch.equal(zeros[0], zeros[1])  # sequences get masks of their own
    assert set(dropped.unique().tolist()) == {0.0, 2.0}  # kept units scaled by 1 / (1 - p)


def test_weight_drop_draws_one_mask_per_batch_and_its_gradient_reaches_the_raw_weights(lstm):
    lstm.train()
    inputs = torch.randn(4, 12, 8)
    torch.manual_seed(1)
    first, _ = run_lstm(lstm, inputs, None, 0.5, 0.0)
    torch.manual_seed(1)
    again, _ = run_lstm(lstm, inputs, None, 0.5, 0.0)
    other, _ = run_lstm(lstm, inputs, None, 0.5, 0.0)
    assert torch.equal(first, again) and not torch.equal(first, other)
    first.sum().backward()
    assert lstm.weight_hh_l0.grad is not None and bool(lstm.weight_hh_l0.grad.abs().sum() > 0)


def test_a_language_model_with_awd_options_trains_and_evaluates_deterministically():
    config = ModelConfig(vocab_size=20, embedding_dim=8, hidden_size=16, num_layers=2, weight_drop=0.5, locked_dropout=0.3)
    model = LanguageModel(config)
    ids = torch.randint(2, 20, (3, 10))
    model.eval()
    assert torch.equal(model(ids)[0], model(ids)[0])  # off in evaluation: no randomness
    model.train()
    assert not torch.equal(model(ids)[0], model(ids)[0])  # on in training
