"""One token at a time through a language model, fast: the sampling loop's inner step.

Calling ``nn.LSTM`` once per generated character pays the kernel's per-call set-up every time
(on CPU that costs more than the arithmetic). The stepper packs the weights once instead:

* layer 0's input projection of every vocabulary entry is precomputed as a lookup table
  (``embedding @ W_ih0ᵀ + biases``, V × 4H), so a step starts from a row lookup;
* each higher layer concatenates its input and its state and does one ``addmm`` with
  ``[W_ih; W_hh]ᵀ``;
* the gates follow the equations of ``nlp_lstm.lstm`` (PyTorch's i, f, g, o order).

The logits equal ``LanguageModel.forward``'s within float rounding (tested), so a seed gives
the same text on either path.
"""

from __future__ import annotations

import torch
from torch import Tensor

from nlp_lstm.model import LanguageModel, State


class LSTMStepper:
    """Pre-packed weights of an eval-mode :class:`LanguageModel` for single-token steps."""

    def __init__(self, model: LanguageModel):
        lstm, embedding = model.encoder.lstm, model.encoder.embedding
        self.num_layers, self.hidden_size = lstm.num_layers, lstm.hidden_size
        with torch.no_grad():
            bias0 = lstm.bias_ih_l0 + lstm.bias_hh_l0
            self.input_table = torch.addmm(bias0, embedding.weight, lstm.weight_ih_l0.t()).contiguous()  # (V, 4H)
            self.recurrent0 = lstm.weight_hh_l0.t().contiguous()  # (H, 4H)
            self.stacked = [
                torch.cat([getattr(lstm, f"weight_ih_l{layer}"), getattr(lstm, f"weight_hh_l{layer}")], dim=1).t().contiguous()
                for layer in range(1, self.num_layers)
            ]  # (2H, 4H) each
            self.biases = [
                getattr(lstm, f"bias_ih_l{layer}") + getattr(lstm, f"bias_hh_l{layer}") for layer in range(1, self.num_layers)
            ]
            self.decoder = model.head.decoder.weight.t().contiguous()  # (H, V)
            self.decoder_bias = model.head.decoder.bias.detach().clone()

    def _cell(self, gates: Tensor, c: Tensor) -> tuple[Tensor, Tensor]:
        hidden = self.hidden_size
        squashed = gates.sigmoid()  # i, f and o use it; g's slice is replaced by tanh below
        g = gates[:, 2 * hidden : 3 * hidden].tanh()
        c = squashed[:, hidden : 2 * hidden] * c + squashed[:, :hidden] * g
        h = squashed[:, 3 * hidden :] * c.tanh()
        return h, c

    def step(self, ids: Tensor, state: State) -> tuple[Tensor, State]:
        """``ids`` (B,) and the state (h, c), each (layers, B, H) → logits (B, V) and the new state."""
        h, c = state
        gates = torch.addmm(self.input_table[ids], h[0], self.recurrent0)
        x, cell = self._cell(gates, c[0])
        hs, cs = [x], [cell]
        for layer in range(1, self.num_layers):
            gates = torch.addmm(self.biases[layer - 1], torch.cat([x, h[layer]], dim=1), self.stacked[layer - 1])
            x, cell = self._cell(gates, c[layer])
            hs.append(x)
            cs.append(cell)
        logits = torch.addmm(self.decoder_bias, x, self.decoder)
        return logits, (torch.stack(hs), torch.stack(cs))
