"""The shared embedding + LSTM encoder and the heads that sit on it.

Layout after pytorch/examples' word_language_model and fastai's ULMFiT: one
encoder that knows nothing about tasks, and small heads that turn its features
into logits. Recurrent state is always an argument and a return value, never an
attribute, so truncated BPTT and generation own it explicitly. Ids in, logits
out; no I/O here.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import torch
from torch import Tensor, nn
from torch.overrides import TorchFunctionMode

from nlp_lstm import tasks
from nlp_lstm.config import ModelConfig
from nlp_lstm.lstm import ReferenceLSTM, State
from nlp_lstm.recurrent_dropout import run_lstm


class Encoder(nn.Module):
    """Embedding → dropout → multi-layer LSTM → dropout. ``features`` (B, T, H·directions).

    A bidirectional encoder runs a second, independent LSTM stack over each
    sequence reversed within its own length (as ELMo and ULMFiT pair a forward
    and a backward model). Padding then always comes after the real tokens in
    both directions, so a text's features do not depend on the padding around it,
    and the forward stack keeps exactly the shape of a language model's.
    """

    def __init__(self, config: ModelConfig):
        super().__init__()
        self.config = config
        self.embedding = nn.Embedding(config.vocab_size, config.embedding_dim, padding_idx=config.pad_id)
        self.embedding_dropout = nn.Dropout(config.embedding_dropout)
        self.lstm = self._make_lstm()
        self.lstm_reverse = self._make_lstm() if config.bidirectional else None
        self.output_dropout = nn.Dropout(config.dropout)
        self.reset_parameters()

    def _make_lstm(self) -> nn.LSTM:
        config = self.config
        return nn.LSTM(
            config.embedding_dim,
            config.hidden_size,
            num_layers=config.num_layers,
            dropout=config.dropout if config.num_layers > 1 else 0.0,
            batch_first=True,
        )

    @property
    def _recurrent_dropout(self) -> tuple[float, float]:
        """AWD-LSTM's weight drop and locked dropout (``recurrent_dropout.py``); both 0 leaves ``nn.LSTM`` as it is."""
        return self.config.weight_drop, self.config.locked_dropout

    @property
    def directions(self) -> int:
        return 2 if self.config.bidirectional else 1

    @property
    def output_size(self) -> int:
        return self.config.hidden_size * self.directions

    def lstms(self) -> list[nn.LSTM]:
        return [self.lstm] if self.lstm_reverse is None else [self.lstm, self.lstm_reverse]

    def reset_parameters(self) -> None:
        nn.init.normal_(self.embedding.weight, std=0.1)
        with torch.no_grad():
            self.embedding.weight[self.config.pad_id].zero_()
        hidden = self.config.hidden_size
        for lstm in self.lstms():
            for name, param in lstm.named_parameters():
                if name.startswith("bias_ih"):
                    # Forget-gate bias 1 (Gers et al. 2000; Jozefowicz et al. 2015): remember by default.
                    # PyTorch packs gates as i, f, g, o and adds bias_ih + bias_hh, so set one of them.
                    nn.init.zeros_(param)
                    param.data[hidden : 2 * hidden] = 1.0
                elif name.startswith("bias_hh"):
                    nn.init.zeros_(param)

    def initial_state(self, batch_size: int, device: torch.device | None = None, dtype: torch.dtype | None = None) -> State:
        weight = self.lstm.weight_hh_l0
        shape = (self.config.num_layers, batch_size, self.config.hidden_size)
        zeros = torch.zeros(shape, device=device or weight.device, dtype=dtype or weight.dtype)
        return zeros, zeros.clone()

    def forward(self, ids: Tensor, state: State | None = None, lengths: Tensor | None = None) -> tuple[Tensor, State]:
        """``ids`` (B, T) right-padded; ``lengths`` (B,) is needed only by a bidirectional encoder.

        The returned state is the forward stack's; a bidirectional encoder takes no state in.
        """
        embedded = self.embedding_dropout(self.embedding(ids))  # (B, T, E)
        features, state = run_lstm(self.lstm, embedded, state, *self._recurrent_dropout)  # (B, T, H)
        if self.lstm_reverse is not None:
            if lengths is None:
                lengths = ids.new_full((ids.shape[0],), ids.shape[1])
            order = reverse_within_lengths(lengths, ids.shape[1])  # (B, T)
            reversed_text = embedded.gather(1, order[..., None].expand_as(embedded))
            backward, _ = run_lstm(self.lstm_reverse, reversed_text, None, *self._recurrent_dropout)
            backward = backward.gather(1, order[..., None].expand_as(backward))  # back into text order
            features = torch.cat([features, backward], dim=2)  # (B, T, 2H)
        return self.output_dropout(features), state

    def reference(self) -> ReferenceLSTM:
        """The equations-level LSTM with the forward stack's current weights, for gate inspection."""
        return ReferenceLSTM.from_torch(self.lstm)


def reverse_within_lengths(lengths: Tensor, max_len: int) -> Tensor:
    """Indices (B, T) that reverse each row's first ``length`` positions and keep the padding in place."""
    positions = torch.arange(max_len, device=lengths.device)[None, :]  # (1, T)
    lengths = lengths[:, None]
    return torch.where(positions < lengths, lengths - 1 - positions, positions)


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

    kind = tasks.LM

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


class ClassifierHead(nn.Module):
    """Concat pooling over real (unpadded) steps, as in ULMFiT: last step, masked mean, masked max → logits.

    For a bidirectional encoder the "last step" of the backward half is its
    final state, which sits at position 0 in text order.
    """

    def __init__(self, config: ModelConfig, input_size: int, directions: int):
        super().__init__()
        self.directions = directions
        self.dropout = nn.Dropout(config.dropout)
        self.linear = nn.Linear(3 * input_size, config.num_classes)

    def forward(self, features: Tensor, lengths: Tensor) -> Tensor:
        batch, steps, _ = features.shape
        mask = torch.arange(steps, device=features.device)[None, :] < lengths[:, None]  # (B, T)
        rows = torch.arange(batch, device=features.device)
        last = features[rows, lengths - 1]  # (B, D)
        if self.directions == 2:
            half = features.shape[2] // 2
            last = torch.cat([last[:, :half], features[:, 0, half:]], dim=1)
        mean = (features * mask[..., None]).sum(1) / lengths[:, None].to(features.dtype)  # (B, D)
        maximum = features.masked_fill(~mask[..., None], float("-inf")).amax(1)  # (B, D)
        return self.linear(self.dropout(torch.cat([last, mean, maximum], dim=1)))  # (B, C)


class Classifier(nn.Module):
    """Encoder + classifier head. ``forward(ids, lengths) -> logits`` (B, num_classes); a regression head's one column is a standardised score."""

    kind = tasks.CLASSIFIER

    def __init__(self, config: ModelConfig):
        super().__init__()
        regression = config.problem == "regression"  # one output: a standardised score (issue 30)
        if config.num_classes < 2 and not (regression and config.num_classes == 1):
            raise ValueError(f"a classifier needs num_classes >= 2 (1 for regression), got {config.num_classes}")
        self.config = config
        self.encoder = Encoder(config)
        self.head = ClassifierHead(config, self.encoder.output_size, self.encoder.directions)

    def forward(self, ids: Tensor, lengths: Tensor) -> Tensor:
        features, _ = self.encoder(ids, lengths=lengths)
        return self.head(features, lengths)


class ClassifierEnsemble(nn.Module):
    """Classifiers sharing one tokenizer and one label set whose class probabilities are averaged.

    Members may differ in shape (a transfer-learned member beside bidirectional ones, say).
    ``forward(ids, lengths)`` returns the log of the members' mean probability, so its softmax is
    that mean and code written for a :class:`Classifier` (prediction, evaluation) works unchanged.
    """

    kind = tasks.CLASSIFIER

    def __init__(self, configs: list[ModelConfig]):
        super().__init__()
        if len(configs) < 2:
            raise ValueError(f"an ensemble needs at least 2 members, got {len(configs)}")
        self.config = configs[0]  # vocabulary, classes and padding are the same for every member
        self.members = nn.ModuleList(Classifier(config) for config in configs)

    @property
    def encoder(self) -> Encoder:
        """The first member's encoder: gate inspection shows that one."""
        return self.members[0].encoder

    def forward(self, ids: Tensor, lengths: Tensor) -> Tensor:
        probabilities = torch.stack([member(ids, lengths).float().softmax(dim=-1) for member in self.members])
        return probabilities.mean(dim=0).log()  # (B, C)


class _SkipInitialisers(TorchFunctionMode):
    """Turns the initialisers of ``torch.nn.init`` and the random fills into no-ops.

    A meta tensor has no values to set, and torch's meta kernels of the random fills import
    ``torch._dynamo`` (with sympy: 1.4 s of a cold ``classify``) on their first call.
    """

    RANDOM_FILLS = frozenset({Tensor.uniform_, Tensor.normal_})

    def __torch_function__(self, func, types, args=(), kwargs=None):  # noqa: ANN001, ANN204 - torch's protocol
        initialiser = getattr(func, "__module__", None) == "torch.nn.init" and func.__name__.endswith("_")
        if initialiser or func in self.RANDOM_FILLS:
            return args[0] if args else kwargs["tensor"]  # in place: every one returns the tensor it was given
        return func(*args, **(kwargs or {}))


@contextmanager
def shapes_only() -> Iterator[None]:
    """Modules built inside are on the meta device and left uninitialised: shapes to check, no memory, no values."""
    with torch.device("meta"), uninitialised():
        yield


@contextmanager
def uninitialised() -> Iterator[None]:
    """Modules built inside have memory but no chosen values, for a loader that overwrites every tensor.

    The random initialisation a load overwrites costs more than the load (0.03 s for the shipped
    language model, 0.06 s for the classifier) and would move the global random generator.
    """
    with _SkipInitialisers():
        yield


def layer_groups(model: Classifier) -> list[list[torch.nn.Parameter]]:
    """Parameters from the bottom up: embedding, each LSTM layer (both directions), head."""
    groups: list[list[torch.nn.Parameter]] = [list(model.encoder.embedding.parameters())]
    for layer in range(model.config.num_layers):
        groups.append([p for lstm in model.encoder.lstms() for n, p in lstm.named_parameters() if n.endswith(f"_l{layer}")])
    groups.append(list(model.head.parameters()))
    return groups
