"""One token at a time through a language model, fast: the sampling loop's inner step.

Calling ``nn.LSTM`` once per generated character pays the kernel's per-call set-up every time
(on CPU that costs more than the arithmetic). The stepper packs the weights once instead:

* layer 0's input projection of every vocabulary entry is precomputed as a lookup table
  (``embedding @ W_ih0ᵀ + biases``, V × 4H), so a step starts from a row lookup;
* each higher layer concatenates its input and its state and does one matrix product with
  ``[W_ih; W_hh]ᵀ``;
* the gates follow the equations of ``nlp_lstm.lstm`` (PyTorch's i, f, g, o order).

At batch 1 a step is a few matrix-vector products that stream every weight from memory once, so
their speed is the memory bandwidth one core gets. A single ``addmm`` with one row runs on one
thread, however many torch has; the stepper therefore cuts each weight matrix into ``chunks``
blocks of gate columns (one per thread by default) and runs them as one batched ``baddbmm``,
which torch spreads over its threads. The column blocks are contiguous, so at batch 1 the result
is already in gate order (a view, no copy).

The logits equal ``LanguageModel.forward``'s within float rounding (tested), so a seed gives
the same text on either path.

On a GPU the balance turns: each of the stepper's small ops is a kernel launch, and cuDNN's
one-step LSTM kernel is faster (137 against 181 µs per character at batch 1 on an H200, see
``benchmarks/RESULTS.md``). :func:`stepper_for` picks the faster path for the model's device.
"""

from __future__ import annotations

import torch
from torch import Tensor

from nlp_lstm.model import LanguageModel, State


def _split_columns(weight: Tensor, chunks: int) -> Tensor:
    """(K, N) → (chunks, K, N / chunks): contiguous blocks of columns, each a matrix of its own."""
    rows, columns = weight.shape
    return weight.reshape(rows, chunks, columns // chunks).permute(1, 0, 2).contiguous()


class LSTMStepper:
    """Pre-packed weights of an eval-mode :class:`LanguageModel` for single-token steps.

    ``banned_ids`` get a decoder bias of -inf, so their logits are -inf on every step without a
    masking op per step. Call :meth:`step` under ``torch.inference_mode()`` or ``torch.no_grad()``.
    """

    def __init__(self, model: LanguageModel, chunks: int | None = None, banned_ids: list[int] | None = None):
        lstm, embedding = model.encoder.lstm, model.encoder.embedding
        self.num_layers, self.hidden_size = lstm.num_layers, lstm.hidden_size
        gates = 4 * self.hidden_size
        chunks = chunks or torch.get_num_threads()
        self.chunks = chunks if chunks >= 1 and gates % chunks == 0 else 1
        with torch.no_grad():
            bias0 = lstm.bias_ih_l0 + lstm.bias_hh_l0
            self.input_table = torch.addmm(bias0, embedding.weight, lstm.weight_ih_l0.t()).contiguous()  # (V, 4H)
            self.recurrent0 = _split_columns(lstm.weight_hh_l0.t(), self.chunks)  # (P, H, 4H/P)
            self.stacked = [
                _split_columns(
                    torch.cat([getattr(lstm, f"weight_ih_l{layer}"), getattr(lstm, f"weight_hh_l{layer}")], 1).t(), self.chunks
                )
                for layer in range(1, self.num_layers)
            ]  # (P, 2H, 4H/P) each
            self.biases = [
                (getattr(lstm, f"bias_ih_l{layer}") + getattr(lstm, f"bias_hh_l{layer}")).reshape(self.chunks, 1, -1)
                for layer in range(1, self.num_layers)
            ]  # (P, 1, 4H/P) each
            self.decoder = model.head.decoder.weight.t().contiguous()  # (H, V)
            self.decoder_bias = model.head.decoder.bias.detach().clone()
            if banned_ids:
                self.decoder_bias[banned_ids] = float("-inf")

    def _gates(self, bias: Tensor, inputs: Tensor, weight: Tensor) -> Tensor:
        """``bias`` (P, B or 1, 4H/P) + ``inputs`` (B, K) @ the split ``weight`` (P, K, 4H/P) → gates (B, 4H)."""
        batch = inputs.shape[0]
        out = torch.baddbmm(bias, inputs.expand(self.chunks, batch, inputs.shape[1]), weight)  # (P, B, 4H/P)
        # Block p holds gate columns [p·4H/P, (p+1)·4H/P): at batch 1 (or P = 1) the memory is already (B, 4H).
        return out.view(batch, -1) if batch == 1 or self.chunks == 1 else out.transpose(0, 1).reshape(batch, -1)

    def _cell(self, gates: Tensor, c: Tensor, h_out: Tensor, c_out: Tensor) -> None:
        """The LSTM cell update, written straight into this step's state tensors (no stacking afterwards)."""
        hidden = self.hidden_size
        squashed = gates.sigmoid()  # i, f and o use it; g's slice is replaced by tanh below
        g = gates[:, 2 * hidden : 3 * hidden].tanh()
        torch.mul(squashed[:, hidden : 2 * hidden], c, out=c_out)
        c_out.add_(squashed[:, :hidden] * g)
        torch.tanh(c_out, out=h_out)
        h_out.mul_(squashed[:, 3 * hidden :])

    def step(self, ids: Tensor, state: State) -> tuple[Tensor, State]:
        """``ids`` (B,) and the state (h, c), each (layers, B, H) → logits (B, V) and the new state."""
        h, c = state
        h_new, c_new = torch.empty_like(h), torch.empty_like(c)
        batch = ids.shape[0]
        table_rows = self.input_table[ids].view(batch, self.chunks, -1).transpose(0, 1)  # (P, B, 4H/P)
        self._cell(self._gates(table_rows, h[0], self.recurrent0), c[0], h_new[0], c_new[0])
        for layer in range(1, self.num_layers):
            inputs = torch.cat([h_new[layer - 1], h[layer]], dim=1)  # (B, 2H)
            self._cell(self._gates(self.biases[layer - 1], inputs, self.stacked[layer - 1]), c[layer], h_new[layer], c_new[layer])
        logits = torch.addmm(self.decoder_bias, h_new[-1], self.decoder)
        return logits, (h_new, c_new)


class KernelStepper:
    """Single-token steps through the model's own ``nn.LSTM`` (cuDNN on a GPU), with ``banned_ids`` at -inf."""

    def __init__(self, model: LanguageModel, banned_ids: list[int] | None = None):
        self.model = model
        device = next(model.parameters()).device
        self.banned = torch.tensor(banned_ids or [], dtype=torch.long, device=device)

    def step(self, ids: Tensor, state: State) -> tuple[Tensor, State]:
        """Same contract as :meth:`LSTMStepper.step`."""
        logits, state = self.model(ids[:, None], state)
        logits = logits[:, -1]
        return (logits.index_fill(-1, self.banned, float("-inf")) if len(self.banned) else logits), state


def stepper_for(model: LanguageModel, banned_ids: list[int] | None = None) -> LSTMStepper | KernelStepper:
    """The faster single-token path on the model's device: cuDNN's kernel on a GPU, packed weights elsewhere."""
    if next(model.parameters()).device.type == "cuda":
        return KernelStepper(model, banned_ids)
    return LSTMStepper(model, banned_ids=banned_ids)
