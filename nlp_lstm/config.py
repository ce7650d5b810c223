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
from typing import Any, Literal

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


# The groups of a training command's --help; a setting names the one it shows in.
DATA, MODEL, OPTIMISATION, RUN, DISTILLATION = "Data", "Model", "Optimisation", "Run", "Distillation"


def setting(default: Any, help: str, panel: str | None = None, /, **cli: Any) -> Any:
    """A config field with its help text and its group of ``--help``, declared here once; the command line reads both.

    ``cli`` holds what only the command line has: ``flags`` (its spellings, when not ``--name``), ``metavar``,
    ``min``, and ``type`` and ``default`` where it parses another type than the field's (a list as text).
    """
    return dataclasses.field(default=default, metadata={"help": help, "panel": panel, "cli": cli})


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
        elif isinstance(value, (list, tuple)):  # as the command line takes a list (--features a,b): one text
            text = json.dumps(",".join(map(str, value)))
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

    embedding_dim: int = setting(ModelConfig.embedding_dim, "Size of token embeddings.", MODEL)
    hidden_size: int = setting(ModelConfig.hidden_size, "LSTM units per layer (per direction).", MODEL)
    num_layers: int = setting(ModelConfig.num_layers, "Stacked LSTM layers.", MODEL)
    dropout: float = setting(ModelConfig.dropout, "Dropout between LSTM layers and on their output.", MODEL)
    embedding_dropout: float = setting(ModelConfig.embedding_dropout, "Dropout on the embeddings.", MODEL)
    weight_drop: float = setting(
        ModelConfig.weight_drop,
        "AWD-LSTM weight drop: DropConnect on the hidden-to-hidden weights, one mask per batch.",
        MODEL,
    )
    locked_dropout: float = setting(
        ModelConfig.locked_dropout,
        "AWD-LSTM locked dropout between LSTM layers: one mask per sequence, in place of --dropout there.",
        MODEL,
    )
    bidirectional: bool = setting(ModelConfig.bidirectional, "Read each text in both directions (from scratch only).", MODEL)
    tie_weights: bool = setting(
        ModelConfig.tie_weights, "Share embedding and output weights (needs --embedding-dim = --hidden-size).", MODEL
    )

    def __post_init__(self) -> None:
        _check_types(self)
        ModelConfig(vocab_size=2, num_classes=2, **self.to_dict())  # its ranges; the sizes data decides are stand-ins


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
