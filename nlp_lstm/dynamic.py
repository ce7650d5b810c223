"""Dynamic evaluation (Krause et al. 2018, "Dynamic Evaluation of Neural Sequence Models"): a language model
that adapts to the text it reads, while it reads it.

The text is read as one stream, segment by segment, the LSTM state carried across segments. Each
segment is **scored first**; then the weights take one step on that segment's mean loss:

    θ ← θ − η · ∇ / (RMS + ε) + λ · r ⊙ (θ₀ − θ)

an SGD step scaled per weight by the root mean square of that weight's gradient on the training
data, plus a decay back toward the loaded weights θ₀ at the rate r = RMS / mean(RMS), capped at
1/λ so that no decay overshoots θ₀. This is the rule of the reference code
(benkrause/dynamic-evaluation, ``dynamiceval.py``: ``gradstat`` and ``evaluate``), including its
mean(RMS) as the mean over tensors of each tensor's mean, and its gradient statistics gathered on
the training split in batches of segments of the same length as the evaluation's.

It is inference, not training: dropout is off, the model given is never changed (a copy adapts and
is returned), and η = 0 scores the text exactly as reading it straight through does.
"""

from __future__ import annotations

import contextlib
import copy
import hashlib
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import torch
import torch.nn.functional as F
from safetensors.torch import load_file, save
from torch import Tensor, nn

from nlp_lstm.cache import cache_root, write_atomically
from nlp_lstm.config import DynamicConfig
from nlp_lstm.model import detach_state

Progress = Callable[[int, int], None]  # tokens done, tokens in all


def _segments(length: int, segment_length: int) -> list[tuple[int, int]]:
    """(start, end) of each segment's inputs in a stream of ``length`` tokens; targets are one ahead."""
    return [(start, min(start + segment_length, length - 1)) for start in range(0, length - 1, segment_length)]


def gradient_statistics(
    model: nn.Module, stream: Tensor, config: DynamicConfig, progress: Progress | None = None
) -> list[Tensor]:
    """RMS over training batches of each parameter's gradient of the mean segment loss (``gradstat``).

    The stream is cut into ``statistics_batch_size`` rows read in parallel, segment by segment with the
    state carried, for at most ``statistics_segments`` segments.
    """
    parameters = list(model.parameters())
    was_training = model.training
    model.eval()  # as the reference: the statistics of the model that will be evaluated, dropout off
    rows = len(stream) // config.statistics_batch_size
    if rows < 2:
        raise ValueError("the statistics text is shorter than one token per row")
    data = stream[: rows * config.statistics_batch_size].long().view(config.statistics_batch_size, rows)
    squares = [torch.zeros_like(p) for p in parameters]
    state, batches = None, _segments(rows, config.segment_length)[: config.statistics_segments]
    for done, (start, end) in enumerate(batches, 1):
        logits, state = model(data[:, start:end], state)
        loss = F.cross_entropy(logits.flatten(0, 1).float(), data[:, start + 1 : end + 1].flatten())
        for square, gradient in zip(squares, torch.autograd.grad(loss, parameters)):
            square.addcmul_(gradient, gradient)
        state = detach_state(state)
        if progress is not None:
            progress(done, len(batches))
    model.train(was_training)
    return [torch.sqrt(square / len(batches)) for square in squares]


@dataclass
class DynamicResult:
    nats: float  # summed over the scored tokens
    tokens: int
    model: nn.Module  # the adapted copy
    segment_nats: list[float]  # each segment's summed loss, in reading order: the adaptation as it happens


class _Update:
    """The update rule's constant parts, computed once: 1/(RMS + ε) and λ·min(r, 1/λ) per weight."""

    def __init__(self, parameters: list[nn.Parameter], rms: list[Tensor], config: DynamicConfig):
        if [tuple(r.shape) for r in rms] != [tuple(p.shape) for p in parameters]:
            raise ValueError("gradient statistics of another model: their shapes differ from the parameters'")
        mean_rms = torch.stack([r.mean() for r in rms]).mean()
        self.parameters, self.learning_rate = parameters, config.learning_rate
        self.original = [p.detach().clone() for p in parameters]
        self.inverse = [1.0 / (r + config.epsilon) for r in rms]
        self.pull = [(config.decay * r / mean_rms).clamp(max=1.0) for r in rms]  # λ·r, r capped at 1/λ

    @torch.no_grad()
    def step(self, gradients: tuple[Tensor, ...]) -> None:
        change = torch._foreach_sub(self.original, self.parameters)  # θ₀ − θ, before this step moves θ
        torch._foreach_mul_(change, self.pull)
        torch._foreach_add_(change, torch._foreach_mul(gradients, self.inverse), alpha=-self.learning_rate)
        torch._foreach_add_(self.parameters, change)


def side_by_side(stream: Tensor, rows: int) -> tuple[Tensor, Tensor]:
    """Inputs and targets of ``stream`` as ``rows`` consecutive parts read side by side, (rows, columns) each.

    The last part is padded to the others' length; its padding's targets are -100, which no loss counts.
    """
    inputs, targets = stream[:-1].long(), stream[1:].long()
    columns = -(-len(targets) // rows)
    pad = rows * columns - len(targets)
    return F.pad(inputs, (0, pad)).view(rows, columns), F.pad(targets, (0, pad), value=-100).view(rows, columns)


def dynamic_loss(
    model: nn.Module, stream: Tensor, rms: list[Tensor], config: DynamicConfig, progress: Progress | None = None
) -> DynamicResult:
    """Summed cross-entropy of every target of ``stream`` under dynamic evaluation, and the adapted copy.

    Each segment's loss is added to the total before the update that has seen the segment, so no
    token is ever scored by weights that learnt from it. ``model`` itself is left as it was. With
    ``config.rows`` > 1 the stream is read as that many parts side by side, each update learning from
    a segment of every part: many times faster on a CPU, but no longer the published single-stream rule.
    """
    adapted = copy.deepcopy(model).eval()
    parameters = list(adapted.parameters())
    update = _Update(parameters, rms, config)
    learns = config.learning_rate > 0  # with η = 0 the weights never leave θ₀: no gradient is needed
    device = parameters[0].device
    inputs, targets = side_by_side(stream, config.rows)
    state, scored, segment_nats = None, 0, []
    for start, end in _segments(inputs.shape[1] + 1, config.segment_length):
        wanted = targets[:, start:end].to(device)
        with torch.set_grad_enabled(learns):
            logits, state = adapted(inputs[:, start:end].to(device), state)  # (rows, T, V)
            loss = F.cross_entropy(logits.flatten(0, 1).float(), wanted.flatten(), reduction="sum", ignore_index=-100)
        segment_nats.append(loss.detach().double())  # scored first
        count = int((wanted != -100).sum())
        scored += count
        if learns and count:
            update.step(torch.autograd.grad(loss / count, parameters))
        state = detach_state(state)
        if progress is not None:
            progress(scored, len(stream) - 1)
    nats = torch.stack(segment_nats).tolist() if segment_nats else []  # one device sync, at the end
    return DynamicResult(float(sum(nats)), scored, adapted, nats)


def statistics_key(model: nn.Module, source: str, config: DynamicConfig) -> str:
    """What the gradient statistics depend on: the weights, the training text and how it was batched."""
    digest = hashlib.blake2b(f"dynamic-statistics-1-{source}".encode(), digest_size=16)
    digest.update(repr((config.segment_length, config.statistics_batch_size, config.statistics_segments)).encode())
    for name, tensor in model.state_dict().items():
        digest.update(name.encode())
        digest.update(tensor.detach().float().cpu().contiguous().numpy().tobytes())
    return digest.hexdigest()


def cached_statistics(key: str) -> list[Tensor] | None:
    """Gradient statistics stored under ``key``, or None where there are none (or the cache is off or damaged)."""
    path = _statistics_path(key)
    if path is None or not path.is_file():
        return None
    try:
        stored = load_file(str(path))
        return [stored[str(i)] for i in range(len(stored))]
    except Exception:  # a damaged cache file is recomputed, never trusted: safetensors raises its own types
        return None


def store_statistics(key: str, rms: list[Tensor]) -> None:
    """Keep the statistics for the next evaluation of the same model; a cache that cannot be written is skipped."""
    path = _statistics_path(key)
    if path is None:
        return
    with contextlib.suppress(OSError):  # readers see the whole file or none
        write_atomically(path, [save({str(i): r.detach().cpu().contiguous() for i, r in enumerate(rms)})])


def _statistics_path(key: str) -> Path | None:
    root = cache_root()
    return root / "dynamic_statistics" / f"{key}.safetensors" if root else None
