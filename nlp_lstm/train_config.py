"""How to train each kind of model: data, optimisation, schedule, evaluation cadence, and the encoder to build.

Frozen dataclasses validated on creation, as every config (``config.py`` holds the machinery, the model's
and the sampling configs); the defaults live here and the command line reads them, help texts included.
A training config holds its encoder as ``encoder`` (``EncoderConfig``) with its task's defaults.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar, Literal

from nlp_lstm.config import (
    DATA,
    DISTILLATION,
    MODEL,
    OPTIMISATION,
    RUN,
    EncoderConfig,
    JsonConfig,
    _check_types,
    _require,
    option,
    setting,
)
from nlp_lstm.files import RUN_CONFIG_FILE, read_json_file

# The encoder fields a training command takes for any kind of model (each kind may add its own).
ENCODER_FIELDS = ("embedding_dim", "hidden_size", "num_layers", "dropout", "embedding_dropout")


def check_encoder(config: Any, called: str) -> None:
    """Refuse encoder fields that ``config``'s task does not take, rather than build a model it never trains."""
    default = type(config).__dataclass_fields__["encoder"].default  # the task's own: its untaken fields stay at it
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


def run_settings(kind: type, output: str | Path) -> Any:
    """The settings the run in ``output`` was started with (its ``train_config.json``), as a ``kind`` config."""
    return kind.from_dict(read_json_file(Path(output) / RUN_CONFIG_FILE, "run settings"))  # type: ignore[attr-defined]


def changed_settings(config: JsonConfig) -> set[str]:
    """The settings of ``config`` that differ from its class's defaults: what its user asked for.

    ``--resume`` checks only these of the encoder against the run's model (every other setting it compares with the
    run's own), and ``--init-from`` takes only these from them.
    """
    defaults = flat_settings(type(config)())
    return {name for name, value in flat_settings(config).items() if value != defaults[name]}


DATASET_HELP = (
    "A built-in corpus ({builtins}), a local file or glob (.txt .csv .tsv .json .jsonl .parquet), "
    "or a Hugging Face Hub name (from the local cache when offline)."
)
TEXT_BUILTINS = "builtin:shakespeare, builtin:imdb, builtin:rotten_tomatoes, builtin:movie_reviews"
LABELLED_BUILTINS = "builtin:imdb, builtin:rotten_tomatoes, builtin:movie_reviews"
DEVICES = "[auto|cpu|cuda|cuda:N|mps]"

# Settings several training configs take, each with the help text they share: name -> (help, group, cli).
SHARED: dict[str, tuple[str, str, dict[str, Any]]] = {
    "dataset_config": (
        "Hub dataset configuration name, if it has several; for the built-in review corpora 'balanced' "
        "repeats the smaller source's training rows.",
        DATA,
        {},
    ),
    "text_column": ("Column that holds the text (csv, tsv, json, parquet and Hub datasets).", DATA, {}),
    "label_column": ("Column that holds the label (integers, strings or a ClassLabel).", DATA, {}),
    "vocab_size": ("Subword vocabulary size (bpe only).", DATA, {}),
    "batch_size": ("Sequences per batch.", OPTIMISATION, {}),
    "epochs": ("Passes over the training split.", OPTIMISATION, {}),
    "lr": ("Peak learning rate (AdamW).", OPTIMISATION, {}),
    "min_lr_ratio": ("The cosine decay ends at lr times this.", OPTIMISATION, {}),
    "warmup_steps": ("Linear warm-up steps before cosine decay.", OPTIMISATION, {}),
    "weight_decay": ("AdamW weight decay on weight matrices.", OPTIMISATION, {}),
    "grad_clip": ("Clip the gradient norm to this.", OPTIMISATION, {}),
    "patience": ("Stop after N evaluations without improvement (0 = never).", OPTIMISATION, {}),
    "seed": ("Seed for weights, dropout, data order and our own splits.", OPTIMISATION, {}),
    "device": ("auto picks CUDA, then MPS, then the CPU.", RUN, {"metavar": DEVICES}),
    "threads": ("CPU threads for torch (0 = one per core); see the README on choosing.", RUN, {"min": 0}),
    # bf16 runs the forward pass and loss under autocast (weights, optimiser and state stay float32): about twice
    # as fast on GPUs with bf16 tensor cores; on CPUs without AMX, such as the reference machine, it is slower.
    "precision": (
        "bf16 autocast: about 2x faster on recent GPUs, slower on CPUs without AMX, refused where unsupported.",
        RUN,
        {},
    ),
}


def shared(name: str, default: Any) -> Any:
    """The field of a setting that several training configs take, with its shared help text and group."""
    help, panel, cli = SHARED[name]
    return setting(default, help, panel, **cli)


def dataset_setting(default: str, builtins: str) -> Any:
    return setting(default, DATASET_HELP.format(builtins=builtins), DATA, flags=("--dataset", "-d"))


def check_optimisation(config: Any) -> None:
    """The checks of what every training config has: the optimiser, its schedule and the device."""
    _require(config.lr > 0 and math.isfinite(config.lr), f"--lr must be a positive number, got {config.lr}")
    _require(0.0 <= config.min_lr_ratio <= 1.0, f"--min-lr-ratio must be in [0, 1], got {config.min_lr_ratio}")
    _require(config.weight_decay >= 0, f"--weight-decay must be >= 0, got {config.weight_decay}")
    _require(config.grad_clip > 0, f"--grad-clip must be > 0, got {config.grad_clip}")
    _require(
        config.device in ("auto", "cpu", "mps") or config.device.startswith("cuda"),
        f"--device must be auto, cpu, cuda, cuda:N or mps, got {config.device!r}",
    )


def check_counts(config: Any, positive: tuple[str, ...], not_negative: tuple[str, ...]) -> None:
    """Settings that count something: ``positive`` ones at least 1, ``not_negative`` ones at least 0 (0 = off)."""
    for name in positive:
        _require(getattr(config, name) >= 1, f"{option(name)} must be a positive integer, got {getattr(config, name)}")
    for name in not_negative:
        _require(getattr(config, name) >= 0, f"{option(name)} must be >= 0, got {getattr(config, name)}")


@dataclass(frozen=True)
class TrainConfig(EncodedTraining):
    """How to train a language model: data, optimisation, schedule, evaluation cadence."""

    ENCODER_FIELDS: ClassVar[tuple[str, ...]] = (*ENCODER_FIELDS, "tie_weights", "weight_drop", "locked_dropout")

    dataset: str = dataset_setting("builtin:shakespeare", TEXT_BUILTINS)
    dataset_config: str | None = shared("dataset_config", None)
    text_column: str = shared("text_column", "text")
    tokenizer: Literal["char", "bpe"] = setting(
        "char", "char: one id per character; bpe: subwords trained on the training split.", DATA
    )
    vocab_size: int = shared("vocab_size", 8000)
    init_from: str | None = setting(
        None,
        "Fine-tune this language model directory on the new text: its shape and tokenizer are kept; "
        "--dropout and --embedding-dropout, when given, replace its own.",
        MODEL,
        type=Path,
    )
    grow_vocabulary: bool = setting(
        True,
        "With --init-from and a character tokenizer: characters of the new text the model lacks get new rows "
        "(started at the mean of the known ones) instead of the unknown id, so the model can learn to write them.",
        MODEL,
        flags=("--grow-vocabulary/--no-grow-vocabulary",),
    )
    seq_len: int = setting(128, "Truncated-BPTT window in tokens.", DATA)
    # Without resets the model only ever sees a zero state at the start of an epoch and can diverge from one,
    # which is where generation and evaluation start.
    state_reset: float = setting(
        0.02, "Chance per window that a row's carried state restarts from zero (teaches zero starts).", OPTIMISATION
    )
    batch_size: int = shared("batch_size", 32)
    max_steps: int = setting(2000, "Optimiser steps in all.", OPTIMISATION)
    lr: float = shared("lr", 2e-3)
    min_lr_ratio: float = shared("min_lr_ratio", 0.1)
    warmup_steps: int = shared("warmup_steps", 100)
    weight_decay: float = shared("weight_decay", 0.01)
    grad_clip: float = shared("grad_clip", 1.0)
    eval_every: int = setting(250, "Evaluate on the whole validation split every N steps.", OPTIMISATION)
    eval_batch_size: int = setting(64, "Rows read in parallel when evaluating.", OPTIMISATION)
    patience: int = shared("patience", 0)
    seed: int = shared("seed", 0)
    device: str = shared("device", "auto")
    threads: int = shared("threads", 0)
    precision: Literal["fp32", "bf16"] = shared("precision", "fp32")
    encoder: EncoderConfig = EncoderConfig()

    def __post_init__(self) -> None:
        _check_types(self)
        check_encoder(self, "a language model")
        _require(bool(self.dataset), "--dataset must not be empty; try --dataset builtin:shakespeare or a path to a .txt file")
        check_counts(
            self, ("seq_len", "batch_size", "max_steps", "eval_every", "eval_batch_size"), ("warmup_steps", "patience", "threads")
        )
        _require(0.0 <= self.state_reset <= 1.0, f"--state-reset must be in [0, 1], got {self.state_reset}")
        _check_vocabulary(self)
        check_optimisation(self)


def _check_vocabulary(config: TrainConfig | ClassifierTrainConfig) -> None:
    _require(config.vocab_size >= 260, f"--vocab-size must be >= 260 (the 256 bytes and specials), got {config.vocab_size}")


@dataclass(frozen=True)
class ClassifierTrainConfig(EncodedTraining):
    """How to train a text classifier, from scratch or from a language model (``init_from``)."""

    ENCODER_FIELDS: ClassVar[tuple[str, ...]] = (*ENCODER_FIELDS, "bidirectional")

    dataset: str = dataset_setting("builtin:rotten_tomatoes", LABELLED_BUILTINS)
    dataset_config: str | None = shared("dataset_config", None)
    text_column: str = shared("text_column", "text")
    label_column: str = shared("label_column", "label")
    problem: Literal["classification", "regression"] = setting(
        "classification",
        "regression: predict the number in --label-column (a local CSV/JSON file); reports RMSE, MAE, Spearman.",
        DATA,
    )
    # None: bpe, or with init_from the language model's; set, it must be the language model's, so that one set to
    # bpe (the value of the default) is refused beside a char model. --help shows the default in its help text.
    tokenizer: Literal["char", "bpe", "teacher"] | None = setting(
        None,
        "char: one id per character; bpe: subwords trained on the training split; teacher: the --teacher's vocabulary. "
        "\\[default: bpe]",
        DATA,
    )
    vocab_size: int = shared("vocab_size", 8000)
    speller: bool = setting(
        False,
        "Put misspelt words right before tokenising (a subword tokenizer): a word unknown to the training texts and "
        "the vocabulary becomes their most frequent word one edit away. Saved with the model.",
        DATA,
    )
    max_length: int = setting(400, "Tokens kept per text; longer texts are cut.", DATA)
    keep: Literal["start", "end", "both"] = setting(
        "end", "Which part of a long text to keep.", DATA
    )  # reviews conclude at the end
    batch_size: int = shared("batch_size", 32)
    epochs: int = shared("epochs", 5)
    lr: float = shared("lr", 2e-3)
    min_lr_ratio: float = shared("min_lr_ratio", 0.05)
    warmup_steps: int = shared("warmup_steps", 50)
    weight_decay: float = shared("weight_decay", 0.01)
    grad_clip: float = shared("grad_clip", 1.0)
    patience: int = setting(2, "Stop after N epochs without a better validation accuracy (0 = never).", OPTIMISATION)
    seed: int = shared("seed", 0)
    device: str = shared("device", "auto")
    threads: int = shared("threads", 0)
    precision: Literal["fp32", "bf16"] = shared("precision", "fp32")
    init_from: str | None = setting(
        None, "Start from this language model's encoder and tokenizer (ULMFiT-style transfer).", MODEL, type=Path
    )
    # With init_from: epochs with only the head trained, then one more layer per epoch, each lower one learning
    # layer_lr_decay times more slowly (ULMFiT).
    freeze_epochs: int = setting(1, "With --init-from: epochs training only the head before unfreezing.", MODEL)
    layer_lr_decay: float = setting(2.6, "With --init-from: learning-rate divisor per lower layer.", MODEL)
    # Distillation (Tang et al. 2019): learn the soft targets of a teacher (``nlp-lstm train teacher``) as well;
    # its outputs on the transfer set are computed once and cached.
    teacher: str | None = setting(
        None,
        "Also learn this teacher's soft targets (a run or model directory of nlp-lstm train teacher).",
        DISTILLATION,
        type=Path,
    )
    unlabelled: str | None = setting(
        None, "More text for the teacher to label: 'sentences' (those of the training texts) or a dataset.", DISTILLATION
    )
    transfer_size: int = setting(0, "At most this many unlabelled texts, a seeded sample (0 = all).", DISTILLATION)
    soft_weight: float = setting(0.5, "The teacher's share of the loss on labelled texts (0-1).", DISTILLATION)
    temperature: float = setting(2.0, "Softmax temperature of the KL divergence to the teacher.", DISTILLATION)
    teacher_length: int = setting(
        0, "Tokens of each text the teacher reads when it labels it (0 = those it was trained on).", DISTILLATION
    )
    embeddings: str | None = setting(
        None, "Start the embeddings from 'teacher' (with --tokenizer teacher) or a GloVe/word2vec text file.", MODEL
    )
    # A classifier reads whole texts, not long streams: a smaller, more regularised encoder by default.
    encoder: EncoderConfig = EncoderConfig(hidden_size=256, num_layers=1, dropout=0.3)

    def __post_init__(self) -> None:
        _check_types(self)
        check_encoder(self, "a classifier")
        _require(
            bool(self.dataset), "--dataset must not be empty; try --dataset builtin:rotten_tomatoes or a path to a .csv file"
        )
        check_counts(self, ("max_length", "batch_size", "epochs"), ("warmup_steps", "patience", "threads", "freeze_epochs"))
        _require(self.layer_lr_decay >= 1.0, f"--layer-lr-decay must be >= 1, got {self.layer_lr_decay}")
        _check_distillation(self)
        _check_vocabulary(self)
        check_optimisation(self)
        _require(
            not (self.speller and self.tokenizer == "char"),
            "--speller needs a subword tokenizer (bpe or teacher): a character model reads a misspelt word letter by letter",
        )


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

    dataset: str = dataset_setting("builtin:movie_reviews", LABELLED_BUILTINS)
    dataset_config: str | None = shared("dataset_config", None)
    text_column: str = shared("text_column", "text")
    label_column: str = shared("label_column", "label")
    base: str = setting(
        "builtin:minilm", "Pretrained encoder: builtin:minilm (all-MiniLM-L6-v2), a directory or a Hub id.", MODEL
    )
    # A text keeps its head and its tail, as Sun et al. 2019.
    max_length: int = setting(128, "Tokens read per text, [CLS] and [SEP] included: its head and its tail.", DATA)
    batch_size: int = shared("batch_size", 32)
    epochs: int = shared("epochs", 1)
    max_steps: int = setting(0, "Stop after this many steps (0 = the epochs decide); bounds a CPU's cost.", OPTIMISATION)
    eval_every: int = setting(0, "Validate every N steps (0 = after every epoch).", OPTIMISATION)
    lr: float = shared("lr", 5e-5)
    min_lr_ratio: float = shared("min_lr_ratio", 0.0)
    warmup_steps: int = shared("warmup_steps", 50)
    weight_decay: float = shared("weight_decay", 0.01)
    grad_clip: float = shared("grad_clip", 1.0)
    patience: int = shared("patience", 2)
    seed: int = shared("seed", 0)
    device: str = shared("device", "auto")
    threads: int = shared("threads", 0)
    precision: Literal["fp32", "bf16"] = shared("precision", "fp32")

    def __post_init__(self) -> None:
        _check_types(self)
        _require(bool(self.dataset), "--dataset must not be empty; try --dataset builtin:movie_reviews")
        _require(self.max_length >= 8, f"--max-length must be at least 8, got {self.max_length}")
        check_counts(self, ("batch_size", "epochs"), ("max_steps", "eval_every", "warmup_steps", "patience", "threads"))
        check_optimisation(self)
