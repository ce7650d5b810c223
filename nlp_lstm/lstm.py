"""The LSTM written out from its equations, in plain PyTorch.

This is the reference the fast path (``torch.nn.LSTM``: oneDNN on CPU, cuDNN on
GPU) is tested against, and what gate inspection runs on, because it can return
every gate activation. Equations (Hochreiter & Schmidhuber 1997, with the forget
gate of Gers et al. 2000), for each time step t::

    f_t = σ(W_f·[h_{t-1}, x_t] + b_f)      i_t = σ(W_i·[h_{t-1}, x_t] + b_i)
    o_t = σ(W_o·[h_{t-1}, x_t] + b_o)      c̃_t = tanh(W_c·[h_{t-1}, x_t] + b_c)
    c_t = f_t * c_{t-1} + i_t * c̃_t        h_t = o_t * tanh(c_t)

Parameters are named and shaped exactly as in ``torch.nn.LSTM``
(``weight_ih_l{k}``, ``weight_hh_l{k}``, ``bias_ih_l{k}``, ``bias_hh_l{k}``, with
a ``_reverse`` suffix for the backward direction) so weights copy by name. Note
PyTorch's packing order of the four row blocks: i, f, g (= c̃), o.
"""

from __future__ import annotations

from typing import NamedTuple

import torch
from torch import Tensor, nn

State = tuple[Tensor, Tensor]


class Gates(NamedTuple):
    """Per-step activations of one layer and direction, each (B, T, H)."""

    forget: Tensor
    input: Tensor
    output: Tensor
    candidate: Tensor
    cell: Tensor
    hidden: Tensor


def lstm_cell(x: Tensor, state: State, w_ih: Tensor, w_hh: Tensor, b_ih: Tensor, b_hh: Tensor) -> tuple[State, Gates]:
    """One step of the equations above for a batch: x (B, I), state ((B, H), (B, H))."""
    h_prev, c_prev = state
    # W·[h_{t-1}, x_t] + b, computed as two products because PyTorch stores W in two halves.
    pre = x @ w_ih.T + b_ih + h_prev @ w_hh.T + b_hh  # (B, 4H)
    pre_i, pre_f, pre_g, pre_o = pre.chunk(4, dim=1)  # PyTorch order: i, f, g, o
    f = torch.sigmoid(pre_f)
    i = torch.sigmoid(pre_i)
    o = torch.sigmoid(pre_o)
    c_tilde = torch.tanh(pre_g)
    c = f * c_prev + i * c_tilde
    h = o * torch.tanh(c)
    return (h, c), Gates(f, i, o, c_tilde, c, h)


class ReferenceLSTM(nn.Module):
    """A multi-layer, optionally bidirectional, batch-first LSTM built from :func:`lstm_cell`.

    ``forward`` matches ``torch.nn.LSTM(batch_first=True)`` in inputs and outputs
    (dropout between layers aside: the reference is for inference and tests).
    ``forward(..., return_gates=True)`` also returns a list, per layer, of
    :class:`Gates` for each direction.
    """

    def __init__(self, input_size: int, hidden_size: int, num_layers: int = 1, bidirectional: bool = False):
        super().__init__()
        self.input_size = input_size
        self.hidden_size = hidden_size
        self.num_layers = num_layers
        self.bidirectional = bidirectional
        directions = 2 if bidirectional else 1
        for layer in range(num_layers):
            layer_input = input_size if layer == 0 else hidden_size * directions
            for suffix in self._suffixes():
                name = f"l{layer}{suffix}"
                self.register_parameter(f"weight_ih_{name}", nn.Parameter(torch.empty(4 * hidden_size, layer_input)))
                self.register_parameter(f"weight_hh_{name}", nn.Parameter(torch.empty(4 * hidden_size, hidden_size)))
                self.register_parameter(f"bias_ih_{name}", nn.Parameter(torch.empty(4 * hidden_size)))
                self.register_parameter(f"bias_hh_{name}", nn.Parameter(torch.empty(4 * hidden_size)))
        bound = hidden_size**-0.5
        for p in self.parameters():
            nn.init.uniform_(p, -bound, bound)

    def _suffixes(self) -> list[str]:
        return ["", "_reverse"] if self.bidirectional else [""]

    @classmethod
    def from_torch(cls, lstm: nn.LSTM) -> ReferenceLSTM:
        """A reference LSTM holding a copy of ``lstm``'s weights (same dtype and device)."""
        if not lstm.batch_first or lstm.proj_size or not lstm.bias:
            raise ValueError("only batch_first LSTMs with biases and no projection are supported")
        ref = cls(lstm.input_size, lstm.hidden_size, lstm.num_layers, lstm.bidirectional)
        ref = ref.to(device=lstm.weight_hh_l0.device, dtype=lstm.weight_hh_l0.dtype)
        ref.load_state_dict(lstm.state_dict(), strict=True)
        return ref

    def forward(
        self, x: Tensor, state: State | None = None, return_gates: bool = False
    ) -> tuple[Tensor, State] | tuple[Tensor, State, list[list[Gates]]]:
        batch = x.shape[0]
        directions = len(self._suffixes())
        if state is None:
            zeros = x.new_zeros(self.num_layers * directions, batch, self.hidden_size)
            state = (zeros, zeros)
        h0, c0 = state  # each (layers * directions, B, H), as in nn.LSTM
        layer_input = x
        final_h, final_c, all_gates = [], [], []
        for layer in range(self.num_layers):
            outputs, layer_gates = [], []
            for direction, suffix in enumerate(self._suffixes()):
                name = f"l{layer}{suffix}"
                weights = [getattr(self, f"{kind}_{name}") for kind in ("weight_ih", "weight_hh", "bias_ih", "bias_hh")]
                index = layer * directions + direction
                step_state = (h0[index], c0[index])
                steps = range(x.shape[1]) if direction == 0 else reversed(range(x.shape[1]))
                per_step: list[Gates] = []
                for t in steps:
                    step_state, gates = lstm_cell(layer_input[:, t], step_state, *weights)
                    per_step.append(gates)
                if direction == 1:
                    per_step.reverse()  # back into text order
                stacked = Gates(*(torch.stack(g, dim=1) for g in zip(*per_step)))  # each (B, T, H)
                outputs.append(stacked.hidden)
                layer_gates.append(stacked)
                final_h.append(step_state[0])
                final_c.append(step_state[1])
            layer_input = torch.cat(outputs, dim=2)  # (B, T, H * directions)
            all_gates.append(layer_gates)
        final = (torch.stack(final_h), torch.stack(final_c))
        if return_gates:
            return layer_input, final, all_gates
        return layer_input, final
