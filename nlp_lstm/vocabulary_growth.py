"""A character language model's vocabulary grown for a user's text: new rows, not "unknown".

Fine-tuning (``train lm --init-from``) on text with characters the model never saw (accents, emoji,
``{}``) would map each of them to the unknown id, and the model could never write them. Here the
tokenizer is extended with the new characters (most frequent first, after the old ones, so every old
id keeps its meaning), and the embedding table and the output layer get one new row each, started at
the mean of the rows of the characters the model knows: a neutral start that the fine-tuning moves.
"""

from __future__ import annotations

import collections
from collections.abc import Iterable

import torch

from nlp_lstm.model import LanguageModel
from nlp_lstm.tokenizer import CharTokenizer


def new_characters(tokenizer: CharTokenizer, texts: Iterable[str]) -> list[str]:
    """Characters of ``texts`` the tokenizer lacks, most frequent first (ties in code-point order)."""
    counts: collections.Counter[str] = collections.Counter()
    for text in texts:
        counts.update(text)
    known = set(tokenizer.chars)
    return sorted((c for c in counts if c not in known), key=lambda c: (-counts[c], c))


@torch.no_grad()
def grown(model: LanguageModel, tokenizer: CharTokenizer, added: list[str]) -> tuple[LanguageModel, CharTokenizer]:
    """``model`` and ``tokenizer`` with a row for each of ``added``; the old rows and every other weight unchanged."""
    bigger = CharTokenizer(tokenizer.chars + added)
    config = model.config.replace(vocab_size=bigger.vocab_size)
    device = next(model.parameters()).device
    result = LanguageModel(config).to(device)
    old, new = model.state_dict(), result.state_dict()
    first_char = max(tokenizer.special_ids) + 1  # rows of real characters: not padding, not unknown
    for name, tensor in old.items():
        if tuple(tensor.shape) == tuple(new[name].shape):
            new[name].copy_(tensor)
            continue
        # The embedding table, the output weights and bias: the vocabulary is their first axis.
        rows = tensor.shape[0]
        new[name][:rows].copy_(tensor)
        new[name][rows:].copy_(tensor[first_char:].mean(dim=0, keepdim=True).expand(len(added), *tensor.shape[1:]))
    result.load_state_dict(new, strict=True)
    return result.train(model.training), bigger
