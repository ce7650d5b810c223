"""AWD-LSTM's recurrent regularisation (Merity et al. 2018, salesforce/awd-lstm-lm) on the fused LSTM kernel.

* **Weight drop** (DropConnect on the hidden-to-hidden weights): one mask per batch on each layer's
  ``weight_hh``, the same at every time step, so the recurrence itself is regularised. The masked
  weights are handed to the same fused kernel ``nn.LSTM`` calls (oneDNN on a CPU, cuDNN on a GPU),
  instead of AWD's re-registered parameters, which break the flat weight buffer and fall off it.
* **Locked dropout** (variational, Gal & Ghahramani 2016) between layers: one mask per sequence,
  the same at every time step, in place of ``nn.LSTM``'s per-step dropout there. The layers then run
  one at a time, each on the fused kernel.

Both act in training only; in evaluation the LSTM runs exactly as ``nn.LSTM`` does. At character
level AWD's recipe has no embedding dropout of this kind (the encoder keeps its own).
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

State = tuple[Tensor, Tensor]


def locked(features: Tensor, p: float) -> Tensor:
    """``features`` (B, T, H) with one dropout mask per sequence, shared by every time step."""
    keep = features.new_empty(features.shape[0], 1, features.shape[2]).bernoulli_(1.0 - p) / (1.0 - p)  # (B, 1, H)
    return features * keep


def _layer_weights(lstm: nn.LSTM, layer: int, weight_drop: float) -> list[Tensor]:
    """[w_ih, w_hh, b_ih, b_hh] of one layer, ``w_hh`` under one DropConnect mask for this batch."""
    names = [f"weight_ih_l{layer}", f"weight_hh_l{layer}", f"bias_ih_l{layer}", f"bias_hh_l{layer}"]
    weights = [getattr(lstm, name) for name in names]
    if weight_drop > 0:
        weights[1] = nn.functional.dropout(weights[1], weight_drop, training=True)
    return weights


def run_lstm(
    lstm: nn.LSTM, inputs: Tensor, state: State | None, weight_drop: float, locked_dropout: float
) -> tuple[Tensor, State]:
    """``lstm(inputs, state)`` with weight drop and locked dropout when training (batch-first, one direction)."""
    if not lstm.training or (weight_drop == 0 and locked_dropout == 0):
        return lstm(inputs, state)
    if state is None:
        zeros = inputs.new_zeros(lstm.num_layers, inputs.shape[0], lstm.hidden_size)
        state = (zeros, zeros)
    weights = [_layer_weights(lstm, layer, weight_drop) for layer in range(lstm.num_layers)]
    if locked_dropout == 0:  # all layers in one kernel call, with nn.LSTM's own dropout between them
        flat = [w for layer in weights for w in layer]
        output, h, c = torch._VF.lstm(inputs, state, flat, True, lstm.num_layers, lstm.dropout, True, False, True)
        return output, (h, c)
    hs, cs, features = [], [], inputs
    for layer, layer_weights in enumerate(weights):
        if layer > 0:
            features = locked(features, locked_dropout)
        hx = (state[0][layer : layer + 1], state[1][layer : layer + 1])
        features, h, c = torch._VF.lstm(features, hx, layer_weights, True, 1, 0.0, True, False, True)
        hs.append(h)
        cs.append(c)
    return features, (torch.cat(hs), torch.cat(cs))
