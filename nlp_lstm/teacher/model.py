"""A teacher: a ``transformers`` sequence classifier behind the LSTM classifier's interface.

:class:`TeacherClassifier` takes what :class:`nlp_lstm.model.Classifier` takes (padded ids without
special tokens, and their lengths) and returns class logits, so prediction, evaluation and
``classify`` treat both alike. A teacher directory is what ``save_pretrained`` writes
(``config.json``, whose ``nlp_lstm`` block marks it and holds its labels and input policy, and
``model.safetensors``) plus the raw ``tokenizer.json`` and our ``training.json``: safetensors and
JSON, never a pickle, and loadable by ``transformers`` itself.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import torch
from torch import nn

from nlp_lstm import tasks
from nlp_lstm.checkpoint import ModelBundle, ModelLoadError
from nlp_lstm.errors import UsageError
from nlp_lstm.files import TOKENIZER_FILE, TRAINING_FILE, WEIGHTS_FILE, read_json_file
from nlp_lstm.teacher.base import TEACHER_KEY, TeacherUnavailable, resolve_base, teacher_settings
from nlp_lstm.teacher.strict import (
    check_base_weights,
    check_loaded,
    check_settings,
    check_teacher_weights,
    check_vocabulary,
)
from nlp_lstm.tokenizer import PretrainedTokenizer

try:
    import transformers
except ImportError:  # the teacher extra is optional
    transformers = None

TEACHER_FORMAT_VERSION = 1


def _require_transformers() -> Any:
    if transformers is None:
        raise TeacherUnavailable("a teacher needs the teacher extra: pip install 'nlp-lstm[teacher]' (it adds transformers)")
    transformers.logging.set_verbosity_error()  # the new head's "newly initialized" report is expected, not news
    transformers.logging.disable_progress_bar()
    return transformers


@dataclass(frozen=True)
class TeacherConfig:
    """What the code that uses a classifier reads of a teacher's network (``ModelBundle.config``): its classes.

    A teacher classifies; ``problem`` says so in the words of an LSTM's ``ModelConfig``, so
    ``ModelBundle.regression`` asks every model the same question.
    """

    num_classes: int
    problem: Literal["classification"] = "classification"


class TeacherClassifier(nn.Module):
    """``forward(ids, lengths) -> logits`` of a transformer that reads ``prefix + ids + suffix`` ([CLS] … [SEP])."""

    def __init__(self, network: nn.Module, prefix: list[int], suffix: list[int], pad_id: int):
        super().__init__()
        self.network = network
        self.config = TeacherConfig(num_classes=network.config.num_labels)
        self.register_buffer("prefix", torch.tensor(prefix, dtype=torch.long), persistent=False)
        self.register_buffer("suffix", torch.tensor(suffix, dtype=torch.long), persistent=False)
        self.pad_id = pad_id

    def forward(self, ids: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
        batch, width = ids.shape
        before, after = len(self.prefix), len(self.suffix)
        full = ids.new_full((batch, before + width + after), self.pad_id)
        full[:, :before] = self.prefix
        full[:, before : before + width] = ids
        ends = lengths[:, None].to(ids.device) + before + torch.arange(after, device=ids.device)[None]  # (B, after)
        full.scatter_(1, ends, self.suffix.expand(batch, after))
        mask = torch.arange(full.shape[1], device=ids.device)[None] < (lengths.to(ids.device) + before + after)[:, None]
        return self.network(input_ids=full, attention_mask=mask.long()).logits


@dataclass
class TeacherModel(ModelBundle):
    """A teacher with its tokenizer, labels, input policy and provenance, stored as a ``transformers`` directory."""

    @property
    def config(self) -> TeacherConfig:  # type: ignore[override] - a transformer has no LSTM's ModelConfig
        return self.model.config

    def _save_pretrained(self, directory: Path) -> None:
        network = self.model.network
        setattr(
            network.config,
            TEACHER_KEY,
            {
                "kind": tasks.TEACHER,  # the JSON value existing teachers hold
                "format_version": TEACHER_FORMAT_VERSION,
                "labels": self.labels,
                "inputs": self.inputs,
                "pad_id": self.tokenizer.pad_id,
            },
        )
        network.save_pretrained(directory)  # config.json and model.safetensors, from any device
        self.tokenizer.save_raw(directory / TOKENIZER_FILE)
        (directory / TRAINING_FILE).write_text(json.dumps(self.training, indent=2, ensure_ascii=False) + "\n")

    @classmethod
    def _from_pretrained(cls, directory: Path, device: Any = "cpu", kind: str | None = None) -> TeacherModel:
        """A teacher directory, refused first when ``kind`` is not the kind a teacher loads as (a classifier)."""
        if kind is not None and kind != tasks.get(tasks.TEACHER).loads_as:
            # the words checkpoint.load uses for a model of the wrong kind
            needs = tasks.called(kind)
            raise ModelLoadError(f"{directory}: is {tasks.called(tasks.TEACHER)}, but this command needs {needs}")
        return load_teacher(directory, device)


def _special_ends(tokenizer: PretrainedTokenizer) -> tuple[list[int], list[int]]:
    """The ids a transformer expects before and after a text ([CLS] and [SEP] for BERT), from its template."""
    ids = tokenizer.encode_with_specials("")
    return ids[:1], ids[1:]


def _assemble(network: nn.Module, tokenizer: PretrainedTokenizer, device: Any) -> TeacherClassifier:
    prefix, suffix = _special_ends(tokenizer)
    return TeacherClassifier(network, prefix, suffix, tokenizer.pad_id).to(device)


def load_base(spec: str, labels: list[str], max_length: int, device: Any = "cpu") -> TeacherModel:
    """A pretrained encoder with a new classification head for ``labels``, reading ``max_length`` tokens."""
    library = _require_transformers()
    path = resolve_base(spec)  # a local directory has been checked for code already
    heads = {"num_labels": len(labels), "id2label": dict(enumerate(labels)), "label2id": {n: i for i, n in enumerate(labels)}}
    if Path(path).is_dir():
        check_base_weights(Path(path), library, **heads)
    try:
        network, report = library.AutoModelForSequenceClassification.from_pretrained(
            path, trust_remote_code=False, use_safetensors=True, output_loading_info=True, **heads
        )
        tokenizer = _base_tokenizer(library, path, network.config.pad_token_id or 0)
    except (OSError, ValueError) as error:
        reason = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
        raise TeacherUnavailable(
            f"{spec}: cannot load a pretrained encoder ({reason}); give builtin:minilm, a model directory, "
            "or a Hub id on a machine with a network"
        ) from None
    check_loaded(network, report, spec, head_is_new=True)
    positions = getattr(network.config, "max_position_embeddings", max_length)
    if max_length > positions:
        raise UsageError(f"--max-length {max_length} is longer than {spec} reads ({positions} positions); lower it")
    inputs = {"max_length": max_length - 2, "keep": "both"}  # [CLS] and [SEP] take two of the positions
    return TeacherModel(_assemble(network, tokenizer, device), tokenizer, tasks.CLASSIFIER, list(labels), {}, None, inputs)


def _base_tokenizer(library: Any, path: str, pad_id: int) -> PretrainedTokenizer:
    local = Path(path) / TOKENIZER_FILE
    if local.is_file():
        return PretrainedTokenizer.from_file(local, pad_id)
    return PretrainedTokenizer(library.AutoTokenizer.from_pretrained(path, trust_remote_code=False).backend_tokenizer, pad_id)


def load_teacher(directory: str | Path, device: Any = "cpu") -> TeacherModel:
    """A teacher directory written by ``nlp-lstm train teacher``, ready to predict; checked as strictly as an LSTM's."""
    directory = Path(directory)
    settings = teacher_settings(directory)  # refuses a directory that asks to run code
    if settings is None:
        raise UsageError(f"{directory}: is not a teacher directory (a model from nlp-lstm train teacher)")
    if settings.get("format_version", 0) > TEACHER_FORMAT_VERSION:
        raise UsageError(f"{directory}: a teacher of a newer nlp-lstm (format {settings['format_version']}); upgrade nlp-lstm")
    check_settings(directory, settings)
    library = _require_transformers()
    check_teacher_weights(directory, library)
    try:
        network, report = library.AutoModelForSequenceClassification.from_pretrained(
            str(directory), trust_remote_code=False, use_safetensors=True, local_files_only=True, output_loading_info=True
        )
    except Exception as error:  # safetensors and transformers raise their own types for damaged files
        reason = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
        raise ModelLoadError(f"{directory}: cannot be loaded ({reason}); the teacher is damaged") from None
    check_loaded(network, report, str(directory / WEIGHTS_FILE), head_is_new=False)
    network.eval()
    tokenizer = PretrainedTokenizer.from_file(directory / TOKENIZER_FILE, network.config.pad_token_id or 0)
    check_vocabulary(directory, tokenizer.vocab_size, network)
    training_file = directory / TRAINING_FILE
    training = read_json_file(training_file, "training record") if training_file.is_file() else {}
    model = _assemble(network, tokenizer, device)
    return TeacherModel(model, tokenizer, tasks.CLASSIFIER, settings["labels"], training, directory, settings["inputs"])
