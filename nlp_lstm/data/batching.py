"""Token ids and batches: what training and inference feed the model.

* a language model reads one id stream per split, in truncated-BPTT batches whose rows continue
  from batch to batch (pytorch/examples' batchify), and is evaluated on batches that score every
  target exactly once;
* a classifier reads texts cut to a length and padded in length buckets (torchtext's bucket
  iterator, fastai's SortishSampler).
"""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np
import torch

from nlp_lstm.data.token_store import stream_ids
from nlp_lstm.errors import DataError
from nlp_lstm.tokenizer import Tokenizer


def encode_stream(texts: Iterable[str], tokenizer: Tokenizer) -> torch.Tensor:
    """All texts of a split as one id stream, texts separated by a newline.

    Memory-mapped from the token store (uint16 or int32; see ``token_store``): convert
    the batches cut from it, not the stream.
    """
    return torch.from_numpy(stream_ids(texts, tokenizer))


class LMBatches:
    """Truncated-BPTT batches over one contiguous stream (pytorch/examples' batchify).

    The stream is cut into ``batch_size`` rows read in parallel; batch k holds
    columns [k·T, (k+1)·T) of every row, so row r of batch k+1 continues row r of
    batch k and the recurrent state can be carried across batches.
    """

    def __init__(self, stream: torch.Tensor, batch_size: int, seq_len: int):
        if len(stream) < batch_size * (seq_len + 1):
            raise DataError(
                f"the training text has {len(stream):,} tokens, fewer than one batch needs "
                f"(batch_size {batch_size} × (seq_len {seq_len} + 1)); lower --batch-size or --seq-len, or use more text"
            )
        self.stream = stream
        self.batch_size = batch_size
        self.seq_len = seq_len

    def __len__(self) -> int:
        return (len(self.stream) // self.batch_size - 1) // self.seq_len

    def epoch(self, epoch: int, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
        """Inputs and targets of one epoch, (num_batches, B, T) each, shifted by a seeded offset.

        Views of the stream, in its storage type: a batch becomes int64 when it is used.
        """
        offset = int(np.random.default_rng([seed, epoch]).integers(self.seq_len)) if epoch else 0
        row_len = (len(self.stream) - offset) // self.batch_size
        rows = self.stream[offset : offset + row_len * self.batch_size].view(self.batch_size, row_len)  # (B, N)
        steps = len(self)
        usable = steps * self.seq_len
        inputs = rows[:, :usable].reshape(self.batch_size, steps, self.seq_len).transpose(0, 1)  # (S, B, T)
        targets = rows[:, 1 : usable + 1].reshape(self.batch_size, steps, self.seq_len).transpose(0, 1)
        return inputs, targets


def eval_batches(
    stream: torch.Tensor, batch_size: int, seq_len: int, warmup: int = 0
) -> tuple[list[tuple[torch.Tensor, torch.Tensor]], torch.Tensor | None]:
    """Batches that cover every target of ``stream`` exactly once (padding targets are -100), and a warm-up context.

    Every token but the first is predicted once, so the summed loss divided by
    ``len(stream) - 1`` is the exact per-token loss of the whole split. The stream is
    read as ``batch_size`` rows in parallel; the warm-up context (rows × ``warmup``) holds
    the tokens just before each row, so a row can start in the state the text before it
    leaves instead of from zeros (row 0 starts the text and has none: its context is
    padding, to be ignored). Without it, every row would be charged for a cold start that
    is not in the text, and the loss would depend on the batch size.
    """
    stream = stream.long()  # a held-out split is small next to training: int64 makes room for the -100 padding
    inputs_all, targets_all = stream[:-1], stream[1:]
    count = len(targets_all)
    if count < 1:
        raise DataError("the evaluation text needs at least two tokens")
    rows = min(batch_size, count)
    row_len = -(-count // rows)
    pad = rows * row_len - count
    inputs = torch.cat([inputs_all, inputs_all.new_zeros(pad)]).view(rows, row_len)
    targets = torch.cat([targets_all, targets_all.new_full((pad,), -100)]).view(rows, row_len)
    batches = [(inputs[:, s : s + seq_len], targets[:, s : s + seq_len]) for s in range(0, row_len, seq_len)]
    context = None
    if warmup > 0 and rows > 1:
        before = torch.cat([inputs_all.new_zeros(warmup), inputs_all])  # row r's context ends where row r starts
        starts = torch.arange(rows) * row_len  # (rows,)
        # A short text can leave its last rows all padding; their context is irrelevant, kept in range.
        index = (starts[:, None] + torch.arange(warmup)[None, :]).clamp(max=len(before) - 1)
        context = before[index]  # (rows, warmup)
    return batches, context


# Tokenizing a 5 MB text to keep 400 of its tokens would take seconds, so a text is first cut to
# CHARS_PER_TOKEN_BOUND characters per kept token on the kept side. Character tokens span one
# character and subwords rarely more than a dozen, so the kept tokens are those of the whole text
# (tested); a vocabulary full of longer tokens would only keep fewer of them.
CHARS_PER_TOKEN_BOUND = 32


def encode_texts(texts: list[str], tokenizer: Tokenizer, max_length: int, keep: str = "start") -> list[np.ndarray]:
    """Token ids of each text, cut to ``max_length`` keeping its ``start``, its ``end`` or ``both``; never empty.

    ``both`` keeps the first quarter of the tokens and the rest from the end: a review's opening and
    its verdict (head + tail, Sun et al. 2019, "How to Fine-Tune BERT for Text Classification").
    """
    limit = max_length * CHARS_PER_TOKEN_BOUND
    texts = [t if len(t) <= limit else _cut_characters(t, limit, keep) for t in texts]
    encoded = tokenizer.encode_batch(texts)
    head = max_length // 4 if keep == "both" else max_length if keep == "start" else 0
    result = []
    for ids in encoded:
        if len(ids) > max_length:
            ids = np.concatenate([ids[:head], ids[len(ids) - (max_length - head) :]])
        result.append(ids if len(ids) else np.array([tokenizer.unk_id], dtype=np.int64))
    return result


def _cut_characters(text: str, limit: int, keep: str) -> str:
    if keep == "start":
        return text[:limit]
    if keep == "end":
        return text[-limit:]
    return text[:limit] + "\n" + text[-limit:]


class ClassifierBatches:
    """Length-bucketed, padded batches: texts of similar length share a batch, so padding costs little.

    Each epoch shuffles the texts with the seed, sorts pools of 50 batches by length,
    cuts them into batches and shuffles the batch order (the "bucket iterator" of
    torchtext and fastai's SortishSampler).
    """

    POOL_BATCHES = 50

    def __init__(self, ids: list[np.ndarray], labels: list[int] | None, batch_size: int, pad_id: int = 0):
        if not ids:
            raise DataError("no texts to batch")
        self.ids = ids
        self.labels = labels
        self.batch_size = batch_size
        self.pad_id = pad_id
        self.lengths = np.array([len(x) for x in ids])

    def __len__(self) -> int:
        return -(-len(self.ids) // self.batch_size)

    def epoch(self, epoch: int, seed: int) -> list[np.ndarray]:
        rng = np.random.default_rng([seed, epoch])
        order = rng.permutation(len(self.ids))
        pool = self.batch_size * self.POOL_BATCHES
        batches = []
        for start in range(0, len(order), pool):
            chunk = order[start : start + pool]
            chunk = chunk[np.argsort(self.lengths[chunk], kind="stable")]
            batches += [chunk[i : i + self.batch_size] for i in range(0, len(chunk), self.batch_size)]
        return [batches[i] for i in rng.permutation(len(batches))]

    def ordered(self) -> list[np.ndarray]:
        """All texts once, sorted by length, for evaluation and inference."""
        order = np.argsort(self.lengths, kind="stable")
        return [order[i : i + self.batch_size] for i in range(0, len(order), self.batch_size)]

    def collate(self, rows: np.ndarray) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor | None]:
        """Right-padded ids (B, T), lengths (B,), and labels (B,) when known."""
        lengths = self.lengths[rows]
        ids = np.full((len(rows), int(lengths.max())), self.pad_id, dtype=np.int64)
        for row, index in enumerate(rows):
            ids[row, : lengths[row]] = self.ids[index]
        labels = torch.tensor([self.labels[i] for i in rows]) if self.labels is not None else None
        return torch.from_numpy(ids), torch.from_numpy(lengths), labels
