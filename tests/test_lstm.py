"""The reference LSTM equals torch.nn.LSTM, and state carrying is exact."""

import pytest
import torch

from nlp_lstm.config import ModelConfig
from nlp_lstm.lstm import ReferenceLSTM, lstm_cell
from nlp_lstm.model import Encoder


@pytest.mark.parametrize(
    ("num_layers", "input_size", "hidden_size", "bidirectional"),
    [(1, 5, 7, False), (2, 8, 16, False), (3, 4, 3, False), (2, 6, 5, True)],
)
@pytest.mark.parametrize("with_state", [False, True])
def test_reference_matches_torch_lstm(num_layers, input_size, hidden_size, bidirectional, with_state):
    torch.manual_seed(num_layers * 10 + hidden_size)
    fast = torch.nn.LSTM(input_size, hidden_size, num_layers, batch_first=True, bidirectional=bidirectional).double()
    ref = ReferenceLSTM(input_size, hidden_size, num_layers, bidirectional).double()
    ref.load_state_dict(fast.state_dict(), strict=True)  # copied by name, no reordering
    x = torch.randn(3, 9, input_size, dtype=torch.float64)
    directions = 2 if bidirectional else 1
    state = None
    if with_state:
        shape = (num_layers * directions, 3, hidden_size)
        state = (torch.randn(shape, dtype=torch.float64), torch.randn(shape, dtype=torch.float64))
    out_fast, (h_fast, c_fast) = fast(x, state)
    out_ref, (h_ref, c_ref) = ref(x, state)
    torch.testing.assert_close(out_ref, out_fast, rtol=0, atol=1e-12)
    torch.testing.assert_close(h_ref, h_fast, rtol=0, atol=1e-12)
    torch.testing.assert_close(c_ref, c_fast, rtol=0, atol=1e-12)


def test_cell_follows_the_gate_equations():
    torch.manual_seed(1)
    hidden, inputs = 4, 3
    w_ih, w_hh = torch.randn(4 * hidden, inputs, dtype=torch.float64), torch.randn(4 * hidden, hidden, dtype=torch.float64)
    b_ih, b_hh = torch.randn(4 * hidden, dtype=torch.float64), torch.randn(4 * hidden, dtype=torch.float64)
    x, h, c = (torch.randn(2, n, dtype=torch.float64) for n in (inputs, hidden, hidden))
    (h_new, c_new), gates = lstm_cell(x, (h, c), w_ih, w_hh, b_ih, b_hh)
    # Written out with the concatenated [h, x] of the equations; PyTorch's row order is i, f, g, o.
    W = torch.cat([w_hh, w_ih], dim=1)
    b = b_ih + b_hh
    hx = torch.cat([h, x], dim=1)
    block = lambda k: hx @ W[k * hidden : (k + 1) * hidden].T + b[k * hidden : (k + 1) * hidden]  # noqa: E731
    i, f, g, o = torch.sigmoid(block(0)), torch.sigmoid(block(1)), torch.tanh(block(2)), torch.sigmoid(block(3))
    torch.testing.assert_close(gates.forget, f)
    torch.testing.assert_close(gates.input, i)
    torch.testing.assert_close(gates.output, o)
    torch.testing.assert_close(gates.candidate, g)
    torch.testing.assert_close(c_new, f * c + i * g)
    torch.testing.assert_close(h_new, o * torch.tanh(f * c + i * g))


def test_reference_returns_gates_per_layer_and_step():
    fast = torch.nn.LSTM(3, 5, 2, batch_first=True).double()
    ref = ReferenceLSTM.from_torch(fast)
    out, (h, _), gates = ref(torch.randn(2, 7, 3, dtype=torch.float64), return_gates=True)
    assert len(gates) == 2 and len(gates[0]) == 1
    assert gates[1][0].forget.shape == (2, 7, 5)
    assert ((gates[0][0].forget > 0) & (gates[0][0].forget < 1)).all()
    torch.testing.assert_close(gates[1][0].hidden, out)
    # The last output step is the final hidden state of the top layer.
    torch.testing.assert_close(out[:, -1], h[-1])


def test_chunked_sequence_equals_whole_with_carried_state():
    torch.manual_seed(2)
    encoder = Encoder(ModelConfig(vocab_size=20, embedding_dim=8, hidden_size=12, num_layers=2)).double().eval()
    ids = torch.randint(0, 20, (3, 30))
    whole, whole_state = encoder(ids)
    state, pieces = None, []
    for chunk in ids.split(7, dim=1):
        features, state = encoder(chunk, state)
        pieces.append(features)
    torch.testing.assert_close(torch.cat(pieces, dim=1), whole, rtol=0, atol=1e-12)
    torch.testing.assert_close(state[0], whole_state[0], rtol=0, atol=1e-12)


def test_encoder_reference_matches_fast_path_in_float32():
    torch.manual_seed(3)
    encoder = Encoder(ModelConfig(vocab_size=30, embedding_dim=16, hidden_size=32, num_layers=2)).eval()
    ids = torch.randint(0, 30, (2, 40))
    features, _ = encoder(ids)
    ref_features, _ = encoder.reference()(encoder.embedding(ids))
    torch.testing.assert_close(ref_features, features, rtol=1e-5, atol=1e-5)
