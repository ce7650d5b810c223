"""The shared embedding + LSTM encoder and the heads that sit on it.

Layout after pytorch/examples' word_language_model and fastai's ULMFiT: one
encoder that knows nothing about tasks, and small heads that turn its features
into logits. Recurrent state is always an argument and a return value, never an
attribute, so truncated BPTT and generation own it explicitly. Ids in, logits
out; no I/O here.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from nlp_lstm.config import ModelConfig
from nlp_lstm.lstm import ReferenceLSTM, State


class Encoder(nn.Module):
    """Embedding → dropout → multi-layer LSTM → dropout. ``features`` (B, T, H·directions)."""

    def __init__(self, config: ModelConfig):
        super().__init__()
        self.config = config
        self.embedding = nn.Embedding(config.vocab_size, config.embedding_dim, padding_idx=config.pad_id)
        self.embedding_dropout = nn.Dropout(config.embedding_dropout)
        self.lstm = nn.LSTM(
            config.embedding_dim,
            config.hidden_size,
            num_layers=config.num_layers,
            dropout=config.dropout if config.num_layers > 1 else 0.0,
            bidirectional=config.bidirectional,
            batch_first=True,
        )
        self.output_dropout = nn.Dropout(config.dropout)
        self.reset_parameters()

    @property
    def output_size(self) -> int:
        return self.config.hidden_size * (2 if self.config.bidirectional else 1)

    def reset_parameters(self) -> None:
        nn.init.normal_(self.embedding.weight, std=0.1)
        with torch.no_grad():
            self.embedding.weight[self.config.pad_id].zero_()
        hidden = self.config.hidden_size
        for name, param in self.lstm.named_parameters():
            if name.startswith("bias_ih"):
                # Forget-gate bias 1 (Gers et al. 2000; Jozefowicz et al. 2015): remember by default.
                # PyTorch packs gates as i, f, g, o and adds bias_ih + bias_hh, so set one of them.
                nn.init.zeros_(param)
                param.data[hidden : 2 * hidden] = 1.0
            elif name.startswith("bias_hh"):
                nn.init.zeros_(param)

    def initial_state(self, batch_size: int, device: torch.device | None = None, dtype: torch.dtype | None = None) -> State:
        weight = self.lstm.weight_hh_l0
        directions = 2 if self.config.bidirectional else 1
        shape = (self.config.num_layers * directions, batch_size, self.config.hidden_size)
        zeros = torch.zeros(shape, device=device or weight.device, dtype=dtype or weight.dtype)
        return zeros, zeros.clone()

    def forward(self, ids: Tensor, state: State | None = None) -> tuple[Tensor, State]:
        embedded = self.embedding_dropout(self.embedding(ids))  # (B, T, E)
        features, state = self.lstm(embedded, state)  # (B, T, H·directions)
        return self.output_dropout(features), state

    def reference(self) -> ReferenceLSTM:
        """The equations-level LSTM with this encoder's current weights, for gate inspection."""
        return ReferenceLSTM.from_torch(self.lstm)


def detach_state(state: State) -> State:
    """Cut the graph between truncated-BPTT windows while keeping the values."""
    return state[0].detach(), state[1].detach()


class LMHead(nn.Module):
    """Next-token logits from encoder features."""

    def __init__(self, config: ModelConfig, input_size: int):
        super().__init__()
        self.decoder = nn.Linear(input_size, config.vocab_size)
        nn.init.zeros_(self.decoder.bias)

    def forward(self, features: Tensor) -> Tensor:
        return self.decoder(features)  # (B, T, V)


class LanguageModel(nn.Module):
    """Encoder + LM head. ``forward(ids, state) -> (logits, state)``."""

    kind = "lm"

    def __init__(self, config: ModelConfig):
        super().__init__()
        if config.bidirectional:
            raise ValueError("a language model reads left to right; bidirectional must be False")
        self.config = config
        self.encoder = Encoder(config)
        self.head = LMHead(config, self.encoder.output_size)
        if config.tie_weights:
            # Press & Wolf (2017): sharing input and output embeddings helps small models.
            self.head.decoder.weight = self.encoder.embedding.weight

    def forward(self, ids: Tensor, state: State | None = None) -> tuple[Tensor, State]:
        features, state = self.encoder(ids, state)
        return self.head(features), state
