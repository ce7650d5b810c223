"""Exact metrics of a language model over a whole split.

Every target token of the split is scored exactly once (see ``data.eval_batches``),
with the LSTM state carried along each row, so the numbers do not depend on how
the text was batched beyond the row starts. Reported in nats and bits per
character and as perplexity.
"""

from __future__ import annotations

import math
from typing import Any

import torch
import torch.nn.functional as F

from nlp_lstm.checkpoint import SavedModel
from nlp_lstm.data import encode_stream, eval_batches, load_text_splits
from nlp_lstm.model import LanguageModel


@torch.no_grad()
def language_model_loss(
    model: LanguageModel, stream: torch.Tensor, batch_size: int = 64, seq_len: int = 256
) -> tuple[float, int]:
    """Summed cross-entropy (nats) over every target in ``stream``, and the number of targets."""
    was_training = model.training
    model.eval()
    device = next(model.parameters()).device
    total = torch.zeros((), dtype=torch.float64, device=device)
    count = 0
    state = None
    for inputs, targets in eval_batches(stream, batch_size, seq_len):
        inputs, targets = inputs.to(device), targets.to(device)
        logits, state = model(inputs, state)
        total += F.cross_entropy(logits.flatten(0, 1).float(), targets.flatten(), reduction="sum", ignore_index=-100).double()
        count += int((targets != -100).sum())
    model.train(was_training)
    return float(total), count


def lm_metrics(nats: float, count: int) -> dict[str, float]:
    per_char = nats / count
    return {
        "nats_per_char": per_char,
        "bits_per_char": per_char / math.log(2),
        "perplexity": math.exp(per_char) if per_char < 700 else math.inf,  # exp overflows a float past ~709
        "characters": count,
    }


def evaluate_language_model(
    saved: SavedModel,
    dataset: str = "shakespeare",
    split: str = "test",
    text_column: str = "text",
    dataset_config: str | None = None,
    seed: int = 0,
    batch_size: int = 64,
    seq_len: int = 256,
) -> dict[str, Any]:
    """Nats/char, bits/char and perplexity of ``saved`` on ``split`` of ``dataset``.

    ``seed`` must be the training seed when the dataset is split by us (local
    files), so the held-out rows are the same ones training left out.
    """
    texts = load_text_splits(dataset, text_column, dataset_config, seed).get(split)
    stream = encode_stream(texts, saved.tokenizer)
    nats, count = language_model_loss(saved.model, stream, batch_size, seq_len)  # type: ignore[arg-type]
    metrics: dict[str, Any] = {"dataset": dataset, "split": split, **lm_metrics(nats, count)}
    metrics["unknown_characters"] = int((stream[1:] == saved.tokenizer.unk_id).sum())
    return metrics
