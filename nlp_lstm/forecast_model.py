"""The forecaster: the project's LSTM encoder reading numbers, and a head that regresses the next steps.

The seed document's Keras model (two stacked ``LSTM(50)`` layers, ``Dense(1)``, mean squared error)
in this project's terms: the shared :class:`~nlp_lstm.model.Encoder` with a linear input projection
in the embedding's place (an embedding is a linear map of a one-hot vector; here the vector is a
step's scaled values), and ``Linear(hidden, horizon)`` on the last step's features, several steps
ahead at once.

Scaling follows DeepAR (Salinas et al. 2020) as GluonTS implements it: each window's columns are
divided by their mean absolute value over the window (the lookback), the target's scale returns
the forecast to the data's units, and its logarithm is one more input, so that the model knows the
level it no longer sees. Where a window's column is all zeros, the column's mean absolute value on
the training split is used instead: that statistic is a buffer, saved in ``model.safetensors``.

How a forecaster fits a :class:`ModelConfig` (the one loader builds every model from one):
``vocab_size`` is the width of a step's input (the columns, target first, plus the log-scale),
``embedding_dim`` the projection's size, ``num_classes`` the horizon. Numbers in, numbers out; no I/O.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from nlp_lstm import tasks
from nlp_lstm.config import ModelConfig
from nlp_lstm.model import Encoder


def columns_of(config: ModelConfig) -> int:
    """The series' columns (the target and its features) a forecaster of ``config`` reads."""
    return config.vocab_size - 1  # the last input is the target's log-scale


def forecaster_config(columns: int, horizon: int, **options: object) -> ModelConfig:
    """The ModelConfig of a forecaster of ``columns`` series columns and ``horizon`` steps."""
    return ModelConfig(vocab_size=columns + 1, num_classes=horizon, **options)  # type: ignore[arg-type]


def window_scale(values: Tensor, fallback: Tensor) -> Tensor:
    """Each window's mean absolute value per column (B, 1, C); ``fallback`` (C,) where a column is all zeros."""
    scale = values.abs().mean(dim=1, keepdim=True)  # (B, 1, C)
    return torch.where(scale > 0, scale, fallback.to(scale.dtype))


def scaled_inputs(values: Tensor, scale: Tensor) -> Tensor:
    """The encoder's input (B, T, C + 1): the scaled columns and the target's log-scale at every step."""
    log_scale = scale[..., :1].log().expand(-1, values.shape[1], 1)  # (B, T, 1)
    return torch.cat([values / scale, log_scale], dim=2)


class Forecaster(nn.Module):
    """Encoder on scaled numbers + ``Linear(hidden, horizon)``. ``forward(values) -> forecast`` (B, horizon).

    ``values`` (B, T, C) are in the data's units, the target in column 0; the forecast is too.
    ``forward_scaled`` gives the forecast divided by the target's scale and that scale, for a loss
    that weighs every series alike.
    """

    kind = tasks.FORECASTER

    def __init__(self, config: ModelConfig):
        super().__init__()
        if config.bidirectional:
            raise ValueError("a forecaster reads the past left to right; bidirectional must be False")
        if config.num_classes < 1 or config.vocab_size < 2:
            raise ValueError(f"a forecaster needs a horizon >= 1 and a column, got {config.num_classes} and {config.vocab_size}")
        self.config = config
        self.encoder = Encoder(config)
        # The input projection takes the embedding's place, so the encoder's own forward (dropout, LSTM stack) runs unchanged.
        self.encoder.embedding = nn.Linear(config.vocab_size, config.embedding_dim)
        self.head = nn.Linear(self.encoder.output_size, config.num_classes)
        self.register_buffer("default_scale", torch.ones(columns_of(config)))

    def set_default_scale(self, train_values: Tensor) -> None:
        """The training split's mean absolute value per column, for windows whose column is all zeros."""
        scale = train_values.abs().mean(dim=0).to(self.default_scale)
        self.default_scale.copy_(torch.where(scale > 0, scale, torch.ones_like(scale)))

    def forward_scaled(self, values: Tensor) -> tuple[Tensor, Tensor]:
        """The forecast in units of the target's scale (B, H), and that scale (B, 1)."""
        scale = window_scale(values, self.default_scale)  # (B, 1, C)
        features, _ = self.encoder(scaled_inputs(values, scale))  # (B, T, H)
        return self.head(features[:, -1]), scale[:, :, 0]

    def forward(self, values: Tensor) -> Tensor:
        forecast, scale = self.forward_scaled(values)
        return forecast * scale  # (B, horizon), in the data's units
