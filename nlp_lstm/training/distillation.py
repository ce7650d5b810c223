"""What a student classifier takes from a teacher: a transfer set with soft targets, a vocabulary, an embedding table.

After Tang et al. 2019 ("Distilling Task-Specific Knowledge from BERT into Simple Neural Networks"):
the teacher labels the transfer set once (the labelled training texts, plus unlabelled text from
the training split only), and the student learns ``(1 - soft_weight) * cross-entropy(gold) +
soft_weight * T² * KL(teacher_T || student_T)`` on labelled texts and the KL term alone on the
unlabelled ones. Validation and test texts never reach the transfer set.

The student may read the teacher's own WordPiece vocabulary (``--tokenizer teacher``), which lets
its embedding table start from the teacher's, projected onto its leading principal components to
the student's embedding size (``--embeddings teacher``); or start from GloVe/word2vec vectors
(``--embeddings FILE``). Nothing here imports ``transformers``: a teacher's weights are read with
safetensors, and its outputs come from ``teacher.labels``' cache.
"""

from __future__ import annotations

import math
import re
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from nlp_lstm.data.sources import load_text_splits
from nlp_lstm.data.splits import LabelledSplits
from nlp_lstm.errors import TrainingUsageError
from nlp_lstm.files import BEST_DIR, TOKENIZER_FILE, WEIGHTS_FILE
from nlp_lstm.teacher.base import teacher_settings
from nlp_lstm.teacher.labels import describe, teacher_log_probabilities
from nlp_lstm.tokenizer import PretrainedTokenizer, Tokenizer
from nlp_lstm.train_config import ClassifierTrainConfig

UNLABELLED = -1  # the label of a transfer text without a gold one
SENTENCES = "sentences"
_SENTENCE_END = re.compile(r"(?<=[.!?])\s+(?=[\"'(A-Z0-9])")
_MARKUP = re.compile(r"<br\s*/?>|<[^>]{1,20}>")
MIN_SENTENCE_WORDS = 4


def teacher_directory(path: str | Path) -> Path:
    """A teacher's model directory: ``path`` itself, or the ``best/`` of a teacher run."""
    path = Path(path)
    for candidate in (path, path / BEST_DIR):
        if teacher_settings(candidate) is not None:
            return candidate
    raise TrainingUsageError(f"--teacher {path}: not a teacher (train one with: nlp-lstm train teacher --output {path})")


def check_labels(teacher_dir: Path, label_names: list[str]) -> None:
    labels = teacher_settings(teacher_dir)["labels"]
    if labels != label_names:
        raise TrainingUsageError(
            f"--teacher {teacher_dir} knows the labels {labels} but the dataset has {label_names}; "
            "train the teacher on the same labels (nlp-lstm train teacher --dataset ...)"
        )


def teacher_tokenizer(teacher_dir: Path) -> PretrainedTokenizer:
    pad_id = teacher_settings(teacher_dir).get("pad_id", 0)
    return PretrainedTokenizer.from_file(teacher_dir / TOKENIZER_FILE, pad_id)


def sentences_of(texts: list[str]) -> list[str]:
    """The sentences of multi-sentence texts (markup removed), those of at least MIN_SENTENCE_WORDS words."""
    found = []
    for text in texts:
        parts = _SENTENCE_END.split(_MARKUP.sub(" ", text))
        if len(parts) > 1:
            found += [p.strip() for p in parts if len(p.split()) >= MIN_SENTENCE_WORDS]
    return found


def unlabelled_texts(config: ClassifierTrainConfig, splits: LabelledSplits) -> list[str]:
    """The unlabelled part of the transfer set: from the training split only, sampled to ``transfer_size``."""
    if not config.unlabelled:
        return []
    if config.unlabelled == SENTENCES:
        texts = sentences_of(splits.train.texts)
        if not texts:
            raise TrainingUsageError(
                "--unlabelled sentences: the training texts are single sentences already; give an unlabelled dataset"
            )
    else:
        # Its own training part; and never a validation or test text of the labelled data, should both hold it.
        held_out = set(splits.validation.texts) | set(splits.test.texts)
        train = load_text_splits(config.unlabelled, config.text_column, seed=config.seed).train
        texts = [t for t in train if t and t not in held_out]
    if config.transfer_size and len(texts) > config.transfer_size:
        keep = np.random.default_rng(config.seed).choice(len(texts), config.transfer_size, replace=False)
        texts = [texts[i] for i in np.sort(keep)]
    return texts


@dataclass
class TransferSet:
    """Texts, gold labels (UNLABELLED where none) and the teacher's log-probabilities, row for row."""

    texts: list[str]
    labels: list[int]
    soft: torch.Tensor  # (N, classes)
    from_cache: bool
    labelling_s: float  # wall time of the teacher's outputs (reading them, when cached)
    teacher: dict  # the teacher's provenance, for the student's training record


def transfer_set(config: ClassifierTrainConfig, splits: LabelledSplits, device: torch.device, progress=None) -> TransferSet:
    teacher_dir = teacher_directory(config.teacher)
    check_labels(teacher_dir, splits.label_names)
    extra = unlabelled_texts(config, splits)
    texts = list(splits.train.texts) + extra
    started = time.perf_counter()
    labelling = {"precision": config.precision, "length": config.teacher_length}
    soft, cached = teacher_log_probabilities(teacher_dir, texts, device, progress, **labelling)
    labels = list(splits.train.labels) + [UNLABELLED] * len(extra)
    seconds = round(time.perf_counter() - started, 1)
    return TransferSet(texts, labels, torch.from_numpy(soft), cached, seconds, describe(teacher_dir))


def distillation_loss(
    logits: torch.Tensor, labels: torch.Tensor, teacher: torch.Tensor, soft_weight: float, temperature: float
) -> torch.Tensor:
    """Summed over the rows: gold cross-entropy where there is a label, T²-scaled KL to the teacher everywhere."""
    gold = labels != UNLABELLED
    soft = (
        F.kl_div(
            F.log_softmax(logits / temperature, dim=-1),
            F.log_softmax(teacher / temperature, dim=-1),
            log_target=True,
            reduction="none",
        ).sum(dim=-1)
        * temperature**2
    )
    weight = torch.where(gold, soft_weight, 1.0)
    hard = F.cross_entropy(logits[gold], labels[gold], reduction="sum") if gold.any() else logits.sum() * 0
    return (1 - soft_weight) * hard + (weight * soft).sum()


def teacher_embeddings(teacher_dir: Path, dim: int) -> torch.Tensor:
    """The teacher's token embedding table, centred and projected on its ``dim`` leading principal components."""
    from safetensors import safe_open

    with safe_open(str(teacher_dir / WEIGHTS_FILE), "pt") as weights:
        names = weights.keys()  # a safetensors file handle, not a dict
        name = next((k for k in names if k.endswith("word_embeddings.weight")), None)
        if name is None:
            raise TrainingUsageError(f"{teacher_dir}: no word_embeddings table in its weights; drop --embeddings teacher")
        table = weights.get_tensor(name).float()
    if dim > table.shape[1]:
        raise TrainingUsageError(f"--embedding-dim {dim} exceeds the teacher's {table.shape[1]}; choose at most that")
    centred = table - table.mean(dim=0)
    _, _, basis = torch.linalg.svd(centred, full_matrices=False)
    return _unit_scale(centred @ basis[:dim].T)


def glove_embeddings(path: str | Path, tokenizer: Tokenizer, initial: torch.Tensor) -> torch.Tensor:
    """``initial`` with the rows of whole-word tokens found in a GloVe/word2vec text file replaced."""
    rows = _word_rows(tokenizer)
    dim = initial.shape[1]
    found_rows, vectors = [], []
    try:
        with open(path, encoding="utf-8", errors="replace") as lines:
            for number, line in enumerate(lines, start=1):
                word, *values = line.rstrip().split(" ")
                if number == 1 and len(values) == 1:
                    continue  # word2vec's header line: "words dimensions"
                if len(values) != dim:
                    raise TrainingUsageError(
                        f"{path}: line {number} holds {len(values)}-d vectors; pass --embedding-dim {len(values)}"
                    )
                row = rows.pop(word, None)
                if row is not None:
                    found_rows.append(row)
                    vectors.append([float(v) for v in values])
    except OSError as error:
        raise TrainingUsageError(
            f"--embeddings {path}: cannot read it ({error.strerror}); give a GloVe/word2vec text file"
        ) from None
    if not found_rows:
        raise TrainingUsageError(f"--embeddings {path}: no word of the vocabulary in it; give a GloVe/word2vec text file")
    table = initial.clone()
    table[torch.tensor(found_rows)] = _unit_scale(torch.tensor(vectors))
    return table


def _word_rows(tokenizer: Tokenizer) -> dict[str, int]:
    """Lower-cased whole words of a subword vocabulary and their ids (WordPiece ``##`` pieces are not words)."""
    if not tokenizer.subword:
        raise TrainingUsageError("--embeddings FILE needs a subword vocabulary; use --tokenizer bpe or teacher")
    rows: dict[str, int] = {}
    for index in range(tokenizer.vocab_size):
        token = tokenizer.id_to_token(index) or ""
        word = token.removeprefix("Ġ").lower()  # byte-level BPE marks a word after a space with Ġ
        if word and not token.startswith("##") and word not in rows:
            rows[word] = index
    return rows


def _unit_scale(table: torch.Tensor) -> torch.Tensor:
    """Scaled to the standard deviation of nn.Embedding's own N(0, 1) start."""
    spread = float(table.std())
    return table / spread if spread > 0 and math.isfinite(spread) else table
