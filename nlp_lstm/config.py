"""Settings of models, training and sampling: frozen dataclasses, validated on creation.

Defaults live here and only here; the CLI reads them from these classes. Configs
round-trip through JSON; unknown keys and wrong types are errors, never ignored.
"""

from __future__ import annotations

import dataclasses
import json
import math
import string
import types
import typing
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, ClassVar, Literal

from nlp_lstm.errors import UsageError

# Bump when a saved model directory changes in a way older readers cannot load. A plain float32
# model is still written as format 1, which every version reads; what format 1 readers cannot load
# (an ensemble, config.json "ensemble", or weights stored in float16, "weights_dtype") is format 2.
FORMAT_VERSION = 1
EXTENDED_FORMAT_VERSION = 2


def option(name: str) -> str:
    """A setting as the command line spells it: ``top_p`` is ``--top-p``. Messages use it, from the API too."""
    return "--" + name.replace("_", "-")


class ConfigError(UsageError):
    """A setting is out of range, of the wrong type, or unknown.

    A message given ``fields`` names each as ``$name``, so that every front end can spell it its own way:
    ``str(error)`` as the command line does (``--top-p``), :meth:`naming` as another does (the HTTP API: ``top_p``).
    """

    def __init__(self, message: str, fields: tuple[str, ...] = ()):
        self.template, self.fields = message, fields
        super().__init__(self.naming(option))

    def naming(self, spell: Callable[[str], str]) -> str:
        """The message with each of its settings spelled by ``spell``."""
        if not self.fields:
            return self.template  # a message of no setting's: taken as it is, whatever it holds
        return string.Template(self.template).safe_substitute({name: spell(name) for name in self.fields})


def _require(condition: bool, message: str, *fields: str) -> None:
    if not condition:
        raise ConfigError(message, fields)


def _check_types(obj: Any) -> None:
    hints = typing.get_type_hints(type(obj))
    for field in dataclasses.fields(obj):
        value = getattr(obj, field.name)
        if not _matches(value, hints[field.name]):
            raise ConfigError(f"{option(field.name)} must be {_describe(hints[field.name])}, got {value!r}")


def _matches(value: Any, hint: Any) -> bool:
    origin = typing.get_origin(hint)
    if origin in (typing.Union, types.UnionType):
        return any(_matches(value, arg) for arg in typing.get_args(hint))
    if origin is Literal:
        return value in typing.get_args(hint)
    if origin in (tuple, list):
        (arg, *_) = typing.get_args(hint) or (Any,)
        return isinstance(value, (tuple, list)) and all(_matches(v, arg) for v in value)
    if hint is Any:
        return True
    if hint is type(None):
        return value is None
    if hint is float:
        return isinstance(value, (int, float)) and not isinstance(value, bool)
    if hint is int:
        return isinstance(value, int) and not isinstance(value, bool)
    return isinstance(value, hint)


def _describe(hint: Any) -> str:
    origin = typing.get_origin(hint)
    if origin in (typing.Union, types.UnionType):
        return " or ".join(_describe(a) for a in typing.get_args(hint))
    if origin is Literal:
        return "one of " + ", ".join(repr(a) for a in typing.get_args(hint))
    return getattr(hint, "__name__", str(hint))


class JsonConfig:
    """Mixin: strict construction from a JSON dict, and back."""

    def to_dict(self) -> dict[str, Any]:
        return {f.name: _jsonable(getattr(self, f.name)) for f in dataclasses.fields(self)}  # type: ignore[arg-type]

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Any:
        if not isinstance(data, dict):
            raise ConfigError(f"{cls.__name__} must be a JSON object, got {type(data).__name__}")
        known = {f.name for f in dataclasses.fields(cls)}  # type: ignore[arg-type]
        unknown = sorted(set(data) - known)
        if unknown:
            raise ConfigError(f"unknown {cls.__name__} keys {unknown}; known keys are {sorted(known)}")
        hints = typing.get_type_hints(cls)
        return cls(**{k: _from_json(v, hints[k]) for k, v in data.items()})

    def replace(self, **changes: Any) -> Any:
        return dataclasses.replace(self, **changes)  # type: ignore[type-var]


def _jsonable(value: Any) -> Any:
    if isinstance(value, JsonConfig):
        return value.to_dict()
    return list(value) if isinstance(value, tuple) else value


def _from_json(value: Any, hint: Any) -> Any:
    """A JSON value as the field of type ``hint`` takes it: a list as a tuple, an object as a nested config."""
    if typing.get_origin(hint) is tuple and isinstance(value, list):
        return tuple(value)
    if isinstance(hint, type) and issubclass(hint, JsonConfig) and isinstance(value, dict):
        return hint.from_dict(value)
    return value


def options_toml(options: dict[str, Any], header: str) -> str:
    """Options as a TOML file (names as in Python; the command line reads them with - or _): one key per line, sorted."""
    lines = [f"# {header}"]
    for name, value in sorted(options.items()):
        if value is None:
            continue  # None means "not set", which TOML cannot say; leaving the key out says it
        if isinstance(value, bool):
            text = "true" if value else "false"
        elif isinstance(value, (int, float)):
            text = repr(value)
        else:
            text = json.dumps(str(value))  # a JSON string is a valid TOML basic string
        lines.append(f"{name} = {text}")
    return "\n".join(lines) + "\n"


# The ModelConfig fields a fine-tuned model may change; the others fix the shape of its weights.
REGULARISATION_FIELDS = ("dropout", "embedding_dropout", "weight_drop", "locked_dropout")


@dataclass(frozen=True)
class ModelConfig(JsonConfig):
    """Shape of the embedding + LSTM encoder and of the head on top of it."""

    vocab_size: int
    embedding_dim: int = 128
    hidden_size: int = 512
    num_layers: int = 2
    dropout: float = 0.2  # between LSTM layers and on the encoder output
    embedding_dropout: float = 0.1
    weight_drop: float = 0.0  # AWD-LSTM: DropConnect on the hidden-to-hidden weights, one mask per batch
    locked_dropout: float = 0.0  # AWD-LSTM: one dropout mask per sequence between LSTM layers, instead of dropout
    bidirectional: bool = False
    tie_weights: bool = False  # LM only: share the embedding matrix with the output layer
    num_classes: int = 0  # classifier only; 0 for a language model
    pad_id: int = 0
    # Issue 30: the same head regressing one score (num_classes 1), trained on targets standardised with the
    # training split's mean and std; saved here so predictions come back in the data's units.
    problem: Literal["classification", "regression"] = "classification"
    target_mean: float = 0.0
    target_std: float = 1.0

    def __post_init__(self) -> None:
        _check_types(self)
        _require(self.vocab_size >= 2, f"--vocab-size must be at least 2, got {self.vocab_size}")
        for name in ("embedding_dim", "hidden_size", "num_layers"):
            _require(getattr(self, name) >= 1, f"{option(name)} must be a positive integer, got {getattr(self, name)}")
        for name in REGULARISATION_FIELDS:
            _require(0.0 <= getattr(self, name) < 1.0, f"{option(name)} must be in [0, 1), got {getattr(self, name)}")
        _require(self.num_classes >= 0, f"num_classes must be >= 0, got {self.num_classes}")
        _require(0 <= self.pad_id < self.vocab_size, f"pad_id must be in [0, vocab_size), got {self.pad_id}")
        _require(self.target_std > 0 and math.isfinite(self.target_std), f"target_std must be > 0, got {self.target_std}")
        if self.tie_weights:
            _require(
                self.embedding_dim == self.hidden_size and not self.bidirectional,
                f"--tie-weights needs embedding_dim == hidden_size (got {self.embedding_dim} and {self.hidden_size}); "
                "set both to the same size or drop --tie-weights",
            )

    def to_dict(self) -> dict[str, Any]:
        """As JSON; a classification head leaves out the regression keys, so its config.json is as before issue 30."""
        data = super().to_dict()
        if self.problem == "classification":
            for name in ("problem", "target_mean", "target_std"):
                del data[name]
        return data


@dataclass(frozen=True)
class EncoderConfig(JsonConfig):
    """The encoder a training config asks for: the :class:`ModelConfig` fields the user chooses.

    The vocabulary and the head are the data's to decide. Each training config holds one as ``encoder``, with its
    task's defaults, and names the fields its task takes (``ENCODER_FIELDS``); the others stay at these defaults.
    """

    embedding_dim: int = ModelConfig.embedding_dim
    hidden_size: int = ModelConfig.hidden_size
    num_layers: int = ModelConfig.num_layers
    dropout: float = ModelConfig.dropout
    embedding_dropout: float = ModelConfig.embedding_dropout
    weight_drop: float = ModelConfig.weight_drop
    locked_dropout: float = ModelConfig.locked_dropout
    bidirectional: bool = ModelConfig.bidirectional
    tie_weights: bool = ModelConfig.tie_weights

    def __post_init__(self) -> None:
        _check_types(self)
        ModelConfig(vocab_size=2, num_classes=2, **self.to_dict())  # its ranges; the sizes data decides are stand-ins


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


# The bounds of sampling, checked here for every front end (the CLI, the HTTP API, the library).
MAX_TEMPERATURE = 100.0  # logits / 100 are all but uniform; higher only adds noise, and near 3e38 float32 overflows
SEED_LIMIT = 2**64  # torch.Generator.manual_seed takes 0 .. 2**64 - 1
# Tokens one call may draw, num_samples x length: bounds the time and the memory of --json (which keeps a sample
# until it is done): 10 million characters of the shipped model take hours on one CPU core (1.2 ms each here).
MAX_SAMPLED_TOKENS = 10_000_000


@dataclass(frozen=True)
class SampleConfig(JsonConfig):
    """How to sample text from a language model."""

    length: int = 500
    temperature: float = 0.8  # 0 = greedy
    top_k: int = 0  # 0 = no top-k filter
    top_p: float = 1.0  # 1 = no nucleus filter
    seed: int | None = None
    num_samples: int = 1

    def __post_init__(self) -> None:
        _check_types(self)
        _require(self.length >= 1, f"$length must be a positive integer, got {self.length}", "length")
        temperature = self.temperature
        _require(temperature >= 0, f"$temperature must be >= 0 (0 = greedy), got {temperature}", "temperature")
        _require(
            temperature <= MAX_TEMPERATURE,
            f"$temperature must be at most {MAX_TEMPERATURE:g} (0 = greedy), got {temperature}",
            "temperature",
        )
        _require(self.top_k >= 0, f"$top_k must be >= 0 (0 = off), got {self.top_k}", "top_k")
        _require(0 < self.top_p <= 1, f"$top_p must be in (0, 1] (1 = off), got {self.top_p}", "top_p")
        _require(
            self.seed is None or 0 <= self.seed < SEED_LIMIT,
            f"$seed must be an integer from 0 to 2^64 - 1, got {self.seed}",
            "seed",
        )
        _require(self.num_samples >= 1, f"$num_samples must be a positive integer, got {self.num_samples}", "num_samples")
        tokens = self.num_samples * self.length
        _require(
            tokens <= MAX_SAMPLED_TOKENS,
            f"$num_samples times $length must be at most {MAX_SAMPLED_TOKENS:,} tokens, got {tokens:,}; "
            "draw fewer or shorter samples",
            "num_samples",
            "length",
        )


@dataclass(frozen=True)
class DynamicConfig(JsonConfig):
    """How a language model adapts while it reads (``dynamic.py``); the defaults were chosen on validation
    (benchmarks/dynamic_eval.py). Options: --segment-length, --dynamic-lr (η), --dynamic-decay (λ)."""

    segment_length: int = 50  # tokens scored between two updates
    learning_rate: float = 2e-5  # η (with segments of 50 and λ 0.001: the best of a 16-point grid on validation)
    decay: float = 1e-3  # λ, toward the loaded weights
    epsilon: float = 2e-5  # ε, as the reference
    rows: int = 1  # parts of the text read side by side; 1 is the published rule, more are faster on a CPU
    statistics_segments: int = 100  # training batches the gradient RMS is taken over
    statistics_batch_size: int = 64  # rows of each of those batches

    def __post_init__(self) -> None:
        flags = {"segment_length": "--segment-length", "learning_rate": "--dynamic-lr"}  # as evaluate lm spells them
        flags |= {"decay": "--dynamic-decay", "rows": "--dynamic-rows"}
        for name in ("segment_length", "rows", "statistics_segments", "statistics_batch_size"):
            value = getattr(self, name)
            _require(type(value) is int and value >= 1, f"{flags.get(name, name)} must be a positive integer, got {value!r}")
        for name in ("learning_rate", "decay", "epsilon"):
            value = getattr(self, name)
            fits = isinstance(value, (int, float)) and math.isfinite(value) and 0 <= value <= (1 if name == "decay" else 1e3)
            most = "1 (a full return to the saved weights at every step)" if name == "decay" else "1,000"
            _require(fits, f"{flags.get(name, name)} must be a number from 0 to {most}, got {value!r}")
