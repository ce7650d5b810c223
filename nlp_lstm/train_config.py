"""How to train each kind of model: data, optimisation, schedule, evaluation cadence, and the encoder to build.

Frozen dataclasses validated on creation, as every config (``config.py`` holds the machinery, the model's
and the sampling configs); the defaults live here and the command line reads them, help texts included.
A training config holds its encoder as ``encoder`` (``EncoderConfig``) with its task's defaults.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass
from typing import Any, ClassVar, Literal

from nlp_lstm.config import EncoderConfig, JsonConfig, _check_types, _require, option

# The encoder fields a training command takes for any kind of model (each kind may add its own).
ENCODER_FIELDS = ("embedding_dim", "hidden_size", "num_layers", "dropout", "embedding_dropout")


def check_encoder(config: Any, called: str) -> None:
    """Refuse encoder fields that ``config``'s task does not take, rather than build a model it never trains."""
    default = EncoderConfig()
    untaken = [f.name for f in dataclasses.fields(EncoderConfig) if f.name not in config.ENCODER_FIELDS]
    refused = [name for name in untaken if getattr(config.encoder, name) != getattr(default, name)]
    _require(not refused, f"{called} takes no {', '.join(map(option, refused))}")


class EncodedTraining(JsonConfig):
    """Mixin of the training configs that hold an ``encoder``."""

    encoder: EncoderConfig
    ENCODER_FIELDS: ClassVar[tuple[str, ...]]

    def with_encoder(self, **changes: Any) -> Any:
        """This config with its encoder's fields ``changes`` changed, the others at the task's defaults or as set."""
        return self.replace(encoder=self.encoder.replace(**changes))


def flat_settings(config: JsonConfig) -> dict[str, Any]:
    """Every setting of a training config by its own name, as the command line and ``run.toml`` spell them.

    The encoder's fields that the config's task takes sit beside the others (``hidden_size``, not ``encoder``).
    """
    data = config.to_dict()
    encoder = data.pop("encoder", None)
    return data if encoder is None else {**data, **{name: encoder[name] for name in config.ENCODER_FIELDS}}  # type: ignore[attr-defined]


def changed_settings(config: JsonConfig) -> set[str]:
    """The settings of ``config`` that differ from its class's defaults: what its user asked for.

    ``--resume`` compares only these with the run's own, and ``--init-from`` takes only these from them.
    """
    defaults = flat_settings(type(config)())
    return {name for name, value in flat_settings(config).items() if value != defaults[name]}


@dataclass(frozen=True)
class TrainConfig(EncodedTraining):
    """How to train a language model: data, optimisation, schedule, evaluation cadence."""

    ENCODER_FIELDS: ClassVar[tuple[str, ...]] = (*ENCODER_FIELDS, "tie_weights", "weight_drop", "locked_dropout")

    dataset: str = "builtin:shakespeare"
    dataset_config: str | None = None
    text_column: str = "text"
    tokenizer: Literal["char", "bpe"] = "char"
    vocab_size: int = 8000  # bpe only: tokens in the subword vocabulary
    init_from: str | None = None  # start from this language model's weights and tokenizer (fine-tuning)
    grow_vocabulary: bool = True  # with init_from: characters the model lacks get new rows instead of the unknown id
    seq_len: int = 128  # truncated-BPTT window
    # Chance that a row's carried state is zeroed at a window boundary. Without it the model only ever sees a
    # zero state at the start of an epoch and can diverge from one, which is where generation and evaluation start.
    state_reset: float = 0.02
    batch_size: int = 32
    max_steps: int = 2000
    lr: float = 2e-3
    min_lr_ratio: float = 0.1  # cosine decay ends at lr * min_lr_ratio
    warmup_steps: int = 100
    weight_decay: float = 0.01
    grad_clip: float = 1.0
    eval_every: int = 250
    eval_batch_size: int = 64
    patience: int = 0  # stop after this many evaluations without improvement; 0 = never
    seed: int = 0
    device: str = "auto"
    threads: int = 0  # torch intra-op threads; 0 = torch's default
    # bf16 runs the forward pass and loss under autocast (weights, optimiser and state stay float32): about twice
    # as fast on GPUs with bf16 tensor cores; on CPUs without AMX, such as the reference machine, it is slower.
    precision: Literal["fp32", "bf16"] = "fp32"
    encoder: EncoderConfig = EncoderConfig()

    def __post_init__(self) -> None:
        _check_types(self)
        check_encoder(self, "a language model")
        _require(bool(self.dataset), "--dataset must not be empty; try --dataset builtin:shakespeare or a path to a .txt file")
        for name in ("seq_len", "batch_size", "max_steps", "eval_every", "eval_batch_size"):
            _require(getattr(self, name) >= 1, f"{option(name)} must be a positive integer, got {getattr(self, name)}")
        _require(self.lr > 0 and math.isfinite(self.lr), f"--lr must be a positive number, got {self.lr}")
        _require(0.0 <= self.min_lr_ratio <= 1.0, f"min_lr_ratio must be in [0, 1], got {self.min_lr_ratio}")
        _require(0.0 <= self.state_reset <= 1.0, f"--state-reset must be in [0, 1], got {self.state_reset}")
        for name in ("warmup_steps", "patience", "threads"):
            _require(getattr(self, name) >= 0, f"{option(name)} must be >= 0, got {getattr(self, name)}")
        _require(self.weight_decay >= 0, f"--weight-decay must be >= 0, got {self.weight_decay}")
        _check_common_training(self)


def _check_common_training(config: TrainConfig | ClassifierTrainConfig) -> None:
    _require(config.grad_clip > 0, f"--grad-clip must be > 0, got {config.grad_clip}")
    _require(config.vocab_size >= 260, f"--vocab-size must be >= 260 (the 256 bytes and specials), got {config.vocab_size}")
    _require(
        config.device in ("auto", "cpu", "mps") or config.device.startswith("cuda"),
        f"--device must be auto, cpu, cuda, cuda:N or mps, got {config.device!r}",
    )


@dataclass(frozen=True)
class ClassifierTrainConfig(EncodedTraining):
    """How to train a text classifier, from scratch or from a language model (``init_from``)."""

    ENCODER_FIELDS: ClassVar[tuple[str, ...]] = (*ENCODER_FIELDS, "bidirectional")

    dataset: str = "builtin:rotten_tomatoes"
    dataset_config: str | None = None
    text_column: str = "text"
    label_column: str = "label"
    problem: Literal["classification", "regression"] = "classification"  # regression: label_column is a number
    # teacher: the --teacher's own WordPiece vocabulary. None: bpe, or with init_from the language model's; set, it must
    # be the language model's, so that one set to bpe (the default's value) is refused beside a char model.
    tokenizer: Literal["char", "bpe", "teacher"] | None = None
    vocab_size: int = 8000
    max_length: int = 400  # tokens per text; longer texts are cut
    keep: Literal["start", "end", "both"] = "end"  # which part of a long text to keep; reviews conclude at the end
    batch_size: int = 32
    epochs: int = 5
    lr: float = 2e-3
    min_lr_ratio: float = 0.05
    warmup_steps: int = 50
    weight_decay: float = 0.01
    grad_clip: float = 1.0
    patience: int = 2  # epochs without a better validation accuracy before stopping; 0 = never
    seed: int = 0
    device: str = "auto"
    threads: int = 0
    precision: Literal["fp32", "bf16"] = "fp32"  # bf16: forward pass and loss under autocast, as for TrainConfig
    init_from: str | None = None  # language model directory whose encoder and tokenizer to start from
    freeze_epochs: int = 1  # with init_from: epochs with only the head trained, then one more layer per epoch
    layer_lr_decay: float = 2.6  # with init_from: each lower layer learns this much more slowly (ULMFiT)
    # Distillation (Tang et al. 2019): learn the soft targets of a teacher (``nlp-lstm train teacher``) as well.
    teacher: str | None = None  # teacher directory; its outputs on the transfer set are computed once and cached
    unlabelled: str | None = None  # more transfer text: "sentences" (of the training split) or a dataset
    transfer_size: int = 0  # at most this many unlabelled texts, a seeded sample; 0 = all
    soft_weight: float = 0.5  # the teacher's share of the loss on labelled texts (unlabelled ones have only it)
    temperature: float = 2.0  # of the softmax whose KL divergence to the teacher's the student learns
    teacher_length: int = 0  # tokens of each transfer text the teacher reads when it labels it; 0 = its own max_length
    embeddings: str | None = None  # start the embedding table from "teacher" (its WordPiece table, projected) or a GloVe file
    # A classifier reads whole texts, not long streams: a smaller, more regularised encoder by default.
    encoder: EncoderConfig = EncoderConfig(hidden_size=256, num_layers=1, dropout=0.3)

    def __post_init__(self) -> None:
        _check_types(self)
        check_encoder(self, "a classifier")
        _require(
            bool(self.dataset), "--dataset must not be empty; try --dataset builtin:rotten_tomatoes or a path to a .csv file"
        )
        for name in ("max_length", "batch_size", "epochs"):
            _require(getattr(self, name) >= 1, f"{option(name)} must be a positive integer, got {getattr(self, name)}")
        _require(self.lr > 0 and math.isfinite(self.lr), f"--lr must be a positive number, got {self.lr}")
        _require(0.0 <= self.min_lr_ratio <= 1.0, f"min_lr_ratio must be in [0, 1], got {self.min_lr_ratio}")
        for name in ("warmup_steps", "patience", "threads", "freeze_epochs"):
            _require(getattr(self, name) >= 0, f"{option(name)} must be >= 0, got {getattr(self, name)}")
        _require(self.weight_decay >= 0, f"--weight-decay must be >= 0, got {self.weight_decay}")
        _require(self.layer_lr_decay >= 1.0, f"--layer-lr-decay must be >= 1, got {self.layer_lr_decay}")
        _check_distillation(self)
        _check_common_training(self)


def _check_distillation(config: ClassifierTrainConfig) -> None:
    _require(0.0 <= config.soft_weight <= 1.0, f"--soft-weight must be in [0, 1], got {config.soft_weight}")
    _require(config.temperature > 0, f"--temperature must be > 0, got {config.temperature}")
    _require(config.transfer_size >= 0, f"--transfer-size must be >= 0 (0 = all), got {config.transfer_size}")
    _require(config.teacher_length >= 0, f"--teacher-length must be >= 0 (0 = the teacher's own), got {config.teacher_length}")
    if not config.teacher:
        needs = [name for name in ("unlabelled", "teacher_length") if getattr(config, name)]
        needs += [name for name in ("tokenizer", "embeddings") if getattr(config, name) == "teacher"]
        _require(not needs, f"{', '.join(map(option, needs))} need --teacher DIR (a model from nlp-lstm train teacher)")
    _require(
        config.embeddings != "teacher" or config.tokenizer == "teacher",
        "--embeddings teacher needs --tokenizer teacher: the teacher's table is indexed by its own vocabulary",
    )
    _require(not (config.teacher and config.init_from), "--teacher and --init-from are two ways to start; pass one of them")
    _require(
        not (config.teacher and config.problem == "regression"),
        "--teacher distils class probabilities; drop it with --problem regression",
    )


@dataclass(frozen=True)
class TeacherTrainConfig(JsonConfig):
    """How to fine-tune a pretrained transformer encoder as a teacher (``nlp-lstm train teacher``)."""

    ENCODER_FIELDS: ClassVar[tuple[str, ...]] = ()  # a teacher's shape is its base encoder's: it has no encoder field

    dataset: str = "builtin:movie_reviews"
    dataset_config: str | None = None
    text_column: str = "text"
    label_column: str = "label"
    base: str = "builtin:minilm"  # a pretrained encoder: builtin:minilm (all-MiniLM-L6-v2), a directory or a Hub id
    max_length: int = 128  # tokens a text keeps, [CLS] and [SEP] included: its head and its tail, as Sun et al. 2019
    batch_size: int = 32
    epochs: int = 1
    max_steps: int = 0  # stop after this many optimiser steps; 0 = the epochs decide (bounds the teacher's cost)
    eval_every: int = 0  # optimiser steps between validations; 0 = after every epoch
    lr: float = 5e-5
    min_lr_ratio: float = 0.0
    warmup_steps: int = 50
    weight_decay: float = 0.01
    grad_clip: float = 1.0
    patience: int = 2
    seed: int = 0
    device: str = "auto"
    threads: int = 0
    precision: Literal["fp32", "bf16"] = "fp32"

    def __post_init__(self) -> None:
        _check_types(self)
        _require(bool(self.dataset), "--dataset must not be empty; try --dataset builtin:movie_reviews")
        _require(self.max_length >= 8, f"--max-length must be at least 8, got {self.max_length}")
        for name in ("batch_size", "epochs"):
            _require(getattr(self, name) >= 1, f"{option(name)} must be a positive integer, got {getattr(self, name)}")
        for name in ("max_steps", "eval_every", "warmup_steps", "patience", "threads"):
            _require(getattr(self, name) >= 0, f"{option(name)} must be >= 0, got {getattr(self, name)}")
        _require(self.lr > 0 and math.isfinite(self.lr), f"--lr must be a positive number, got {self.lr}")
        _require(0.0 <= self.min_lr_ratio <= 1.0, f"min_lr_ratio must be in [0, 1], got {self.min_lr_ratio}")
        _require(self.weight_decay >= 0, f"--weight-decay must be >= 0, got {self.weight_decay}")
        _require(self.grad_clip > 0, f"--grad-clip must be > 0, got {self.grad_clip}")
