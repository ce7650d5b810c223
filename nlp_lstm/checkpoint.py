"""Model directories: save and load without pickle, atomically.

A model directory holds ``config.json`` (format version, kind, model config,
labels), ``model.safetensors`` (weights, loaded strictly), ``tokenizer.json`` and
``training.json`` (provenance and metrics). A training run's ``last`` directory
also holds ``trainer_state.safetensors`` + ``trainer_state.json`` (optimiser,
step, RNG, carried LSTM state) so ``--resume`` continues exactly.

Writes go to a hidden sibling directory that is renamed into place, so a crash
mid-save leaves the previous good directory, never a half-written one.
"""

from __future__ import annotations

import copy
import json
import os
import re
import tempfile
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from safetensors.torch import load_file, load_model, save_file, save_model
from torch import nn

from nlp_lstm import hub, tasks
from nlp_lstm.catalog import model_card, shipped_model_named
from nlp_lstm.config import EXTENDED_FORMAT_VERSION, FORMAT_VERSION, ConfigError, ModelConfig
from nlp_lstm.errors import ModelLoadError
from nlp_lstm.files import (
    CARD_FILE,
    CONFIG_FILE,
    STATE_JSON_FILE,
    STATE_TENSORS_FILE,
    TOKENIZER_FILE,
    TRAINING_FILE,
    WEIGHTS_FILE,
    UnreadableFile,
    atomic_directory,
    check_regular_file,
    naming,
    read_json_file,
)
from nlp_lstm.model import ClassifierEnsemble, shapes_only, uninitialised
from nlp_lstm.tokenizer import Tokenizer, TokenizerError, load_tokenizer
from nlp_lstm.weights_file import check_shapes, finite, weights_header

PICKLE_SUFFIXES = (".pt", ".pth", ".pkl", ".pickle", ".bin", ".ckpt")

CONFIG_KEYS = {"format_version", "kind", "model", "labels", "inputs", "ensemble", "weights_dtype"}
# Weights may be stored in half precision (an ensemble saved with --half); they load as float32.
WEIGHT_DTYPES = {"float32": torch.float32, "float16": torch.float16}


def shipped_model(name: str) -> Path:
    """The directory of a shipped model, by its name as ``nlp-lstm models`` lists it (``"sentiment"``,
    ``"shakespeare-char"``) or by its kind (``"classifier"``, ``"lm"``): inside an installed wheel or in a source checkout.
    """
    shipped_models = tasks.shipped_models()
    shipped = shipped_models.get(name, name)
    if shipped not in shipped_models.values():
        choices = ", ".join(f"{value!r} (or {kind!r})" for kind, value in shipped_models.items())
        raise ModelLoadError(f"{name!r} is not a shipped model; the shipped ones are {choices}")
    directory = shipped_model_named(shipped)
    if directory is not None:
        return directory
    raise ModelLoadError(
        f"the shipped model {shipped} (checkpoints/{shipped}) is not installed; pass --model DIR, a model directory"
    )


@dataclass
class ModelBundle:
    """A model with everything needed to use it: tokenizer, kind, labels, provenance.

    How a bundle is stored is declared by its class, as huggingface_hub's ``ModelHubMixin`` declares
    it: ``save``, ``save_pretrained`` and a run's checkpoints call :meth:`_save_pretrained`, and the
    one loader (``loading.load_model``) calls the :meth:`_from_pretrained` of the class a directory
    is stored as. This class stores one network of the table of tasks through the strict
    safetensors path; :class:`EnsembleBundle` stores several networks in one weights file, and the
    teacher's ``TeacherModel`` (``teacher/model.py``) stores a ``transformers`` directory.
    """

    model: nn.Module
    tokenizer: Tokenizer | None  # None for a forecaster, which reads numbers
    kind: str
    labels: list[str] | None = None
    training: dict[str, Any] = field(default_factory=dict)
    path: Path | None = None
    inputs: dict[str, Any] = field(default_factory=dict)  # classifier: max_length and keep, applied to every text
    weights_dtype: str = "float32"  # how model.safetensors stores the weights; they are float32 once loaded

    def __post_init__(self) -> None:
        if isinstance(self.model, ClassifierEnsemble) and not isinstance(self, EnsembleBundle):
            # stored as one network, its members' tensors would match no config.json a loader accepts
            raise TypeError("an ensemble is held by an EnsembleBundle; nlp_lstm.ensemble.combine makes one")

    @property
    def config(self) -> ModelConfig:
        return self.model.config  # type: ignore[return-value]

    @property
    def regression(self) -> bool:
        """Whether it predicts a score (``--problem regression``) rather than classes."""
        return self.config.problem == "regression"

    # The Hub conventions people know from transformers: from_pretrained / save_pretrained / push_to_hub.
    @classmethod
    def from_pretrained(
        cls, name_or_path: str | Path, device: str | torch.device = "cpu", kind: str | None = None, revision: str | None = None
    ) -> ModelBundle:
        """Any model the one loader (``loading.load_model``) takes: a directory, a shipped name, a Hub repo id."""
        from nlp_lstm.loading import load_model  # the loader sits above the storage of each kind of model

        return load_model(name_or_path, device=device, kind=kind, revision=revision)

    def save_pretrained(self, directory: str | Path) -> Path:
        """Save as a model directory with a model card (``README.md``) written from its JSON files."""
        return save(self, directory, card=True)

    def push_to_hub(self, repo_id: str, token: str | None = None, private: bool = False) -> str:
        """Upload this model (weights, tokenizer, JSON, card) to the Hub repo ``repo_id``; returns its URL."""
        name = repo_id.rsplit("/", 1)[-1]  # the card is titled with the directory's name: make it the repo's
        with tempfile.TemporaryDirectory() as scratch:
            directory = Path(scratch) / (name if re.fullmatch(r"[\w-][\w.-]*", name) else "model")
            return hub.upload(self.save_pretrained(directory), repo_id, token, private)

    # The storage interface (ModelHubMixin's _save_pretrained / _from_pretrained): what a kind of bundle overrides.
    def _save_pretrained(self, directory: Path) -> None:
        """Write this model's files into ``directory``, an existing (staging) directory."""
        config = {
            "format_version": FORMAT_VERSION,
            "kind": self.kind,
            "model": self.config.to_dict(),
            "labels": self.labels,
            "inputs": self.inputs,
            **self._layout(),
        }
        if self.weights_dtype != "float32":
            config.update(format_version=EXTENDED_FORMAT_VERSION, weights_dtype=self.weights_dtype)
        _write_json(directory / CONFIG_FILE, config)
        _write_weights(directory / WEIGHTS_FILE, self.model, self.weights_dtype)
        if self.tokenizer is not None:  # a forecaster reads numbers and has none
            with naming(directory / TOKENIZER_FILE):
                self.tokenizer.save(directory / TOKENIZER_FILE)
        _write_json(directory / TRAINING_FILE, self.training)

    @classmethod
    def _from_pretrained(cls, directory: Path, device: str | torch.device = "cpu", kind: str | None = None) -> ModelBundle:
        """The model stored in ``directory``, read strictly (:func:`load`); one network or an ensemble, as config.json says."""
        return load(directory, device=device, kind=kind)

    # What an ensemble stores differently: more configs in config.json, and the network they build.
    def _layout(self) -> dict[str, Any]:
        """config.json's entries beyond ``model`` that say how the network is laid out: none for one network."""
        return {}

    @classmethod
    def _network_configs(cls, directory: Path, config: dict[str, Any]) -> list[ModelConfig]:
        """The config of each network the weights file holds, read from config.json."""
        return [_model_config(directory, config.get("model"), "")]

    @classmethod
    def _network(cls, kind: str, configs: list[ModelConfig]) -> nn.Module:
        return tasks.model_class(kind)(configs[0])


@dataclass
class EnsembleBundle(ModelBundle):
    """Classifiers whose probabilities are averaged (:class:`ClassifierEnsemble`), stored in one weights file.

    config.json holds the first member's config as ``model`` (what the members share: vocabulary,
    classes, padding) and every member's under ``ensemble``; the tensors are under ``members.N.``.
    Format version 2, so readers older than ensembles refuse it.
    """

    def _layout(self) -> dict[str, Any]:
        return {"format_version": EXTENDED_FORMAT_VERSION, "ensemble": [m.config.to_dict() for m in self.model.members]}

    @classmethod
    def _network_configs(cls, directory: Path, config: dict[str, Any]) -> list[ModelConfig]:
        (shared,) = super()._network_configs(directory, config)
        members = config.get("ensemble")
        if config["kind"] != tasks.CLASSIFIER or not isinstance(members, list) or len(members) < 2:
            raise ModelLoadError(f"{directory / CONFIG_FILE}: 'ensemble' must list the model configs of 2 or more classifiers")
        configs = [_model_config(directory, member, "ensemble member: ") for member in members]
        if any((c.vocab_size, c.num_classes) != (shared.vocab_size, shared.num_classes) for c in configs):
            raise ModelLoadError(f"{directory / CONFIG_FILE}: ensemble members must share the vocabulary and the classes")
        return configs

    @classmethod
    def _network(cls, kind: str, configs: list[ModelConfig]) -> nn.Module:
        return ClassifierEnsemble(configs)


def _stored_as(config: dict[str, Any]) -> type[ModelBundle]:
    """The class whose hooks read an LSTM directory: config.json's ``ensemble`` marks an ensemble."""
    return EnsembleBundle if config.get("ensemble") is not None else ModelBundle


def _model_config(directory: Path, data: Any, what: str) -> ModelConfig:
    try:
        return ModelConfig.from_dict(data)
    except ConfigError as error:
        raise ModelLoadError(f"{directory / CONFIG_FILE}: {what}{error}") from None


def _write_json(path: Path, data: Any) -> None:
    with naming(path):
        path.write_text(json.dumps(data, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")


def _write_weights(path: Path, model: nn.Module, weights_dtype: str) -> None:
    # save_model (not save_file) handles tied weights by storing shared tensors once.
    # On CUDA, cuDNN packs all LSTM weights into one buffer, which safetensors refuses to save as
    # separate tensors: save a CPU copy (the copy keeps tied weights tied).
    if any(p.device.type != "cpu" for p in model.parameters()) or weights_dtype != "float32":
        model = copy.deepcopy(model).to("cpu", WEIGHT_DTYPES[weights_dtype])
    with naming(path):
        save_model(model, str(path), metadata={"format": "pt"})


def write_model_files(directory: Path, saved: ModelBundle) -> None:
    """Write the files of a model directory into an existing (staging) directory, as the bundle's class stores them."""
    with naming(directory):
        saved._save_pretrained(directory)


def save(saved: ModelBundle, directory: str | Path, card: bool = False) -> Path:
    """Save atomically to ``directory``, replacing a model there; with ``card``, a ``README.md`` too.

    A directory that holds anything but a model's own files is never replaced: that raises
    ``files.NotOurFiles`` (exit code 2) naming what is in the way.
    """
    directory = Path(directory)
    with atomic_directory(directory) as staging:
        write_model_files(staging, saved)
        if card:  # titled with the name the directory will have, not the temporary's
            with naming(staging / CARD_FILE):
                (staging / CARD_FILE).write_text(model_card(staging, Path(os.path.abspath(directory)).name), encoding="utf-8")
    return directory


def read_model_config(directory: Path) -> ModelConfig:
    """The model config of a model directory, without its weights."""
    config = _read_json(directory / CONFIG_FILE, "config")
    return _model_config(directory, config.get("model") if isinstance(config, dict) else None, "")


def read_training_record(directory: Path) -> dict[str, Any]:
    """The training record of a model directory; empty where there is none."""
    path = directory / TRAINING_FILE
    return _read_json(path, "training record") if path.is_file() else {}


def _read_json(path: Path, what: str) -> Any:
    try:
        return read_json_file(path, what)
    except UnreadableFile as error:
        if not path.exists() and not path.is_symlink():
            raise ModelLoadError(f"{path.parent}: {what} {path.name} is missing; is this a model directory?") from None
        raise ModelLoadError(str(error)) from None


def check_model_directory(directory: Path) -> None:
    if directory.is_file():
        if directory.suffix.lower() in PICKLE_SUFFIXES:
            raise ModelLoadError(
                f"{directory}: pickled checkpoints are refused because loading them can run arbitrary code; "
                "nlp-lstm loads model directories of safetensors + JSON (see `nlp-lstm train`)"
            )
        raise ModelLoadError(f"{directory}: is a file; pass a model directory (with config.json and model.safetensors)")
    if not directory.is_dir():
        raise ModelLoadError(f"{directory}: no such model directory")


def load(directory: str | Path, device: str | torch.device = "cpu", kind: str | None = None) -> ModelBundle:
    """Load a model directory strictly onto ``device``; ``kind`` (one of ``tasks.model_kinds()``) if required.

    Every check that needs no weights comes first, and the sizes in ``config.json`` are checked
    against the safetensors header before any tensor is made, so a damaged or hostile directory
    fails in a moment with one line instead of allocating what its config claims.
    """
    directory = Path(directory)
    check_model_directory(directory)
    config = _read_config(directory, kind)
    stored = _stored_as(config)
    configs = stored._network_configs(directory, config)
    model_config = configs[0]  # an ensemble's members share its vocabulary and classes
    tokenizer = _load_tokenizer(directory, config["kind"])
    if tokenizer is not None and tokenizer.vocab_size != model_config.vocab_size:
        raise ModelLoadError(
            f"{directory}: tokenizer has {tokenizer.vocab_size} tokens but the model's vocab_size is "
            f"{model_config.vocab_size}; the tokenizer.json does not belong to these weights"
        )
    labels = config.get("labels")
    if tasks.get(config["kind"]).labelled and (not isinstance(labels, list) or len(labels) != model_config.num_classes):
        raise ModelLoadError(
            f"{directory / CONFIG_FILE}: a classifier needs 'labels', one name for each of its {model_config.num_classes} classes"
        )
    weights_dtype = config.get("weights_dtype", "float32")
    if weights_dtype not in WEIGHT_DTYPES:
        raise ModelLoadError(f"{directory / CONFIG_FILE}: weights_dtype must be one of {', '.join(WEIGHT_DTYPES)}")
    model = _load_weights(directory, lambda: stored._network(config["kind"], configs), configs, device)
    training = _read_json(directory / TRAINING_FILE, "training record") if (directory / TRAINING_FILE).exists() else {}
    return stored(model, tokenizer, config["kind"], labels, training, directory, config.get("inputs") or {}, weights_dtype)


def _load_tokenizer(directory: Path, kind: str) -> Tokenizer | None:
    """The directory's tokenizer; None for a model that reads numbers (a forecaster), which has none."""
    if not tasks.get(kind).tokenized:
        return None
    try:
        return load_tokenizer(directory / TOKENIZER_FILE)
    except TokenizerError as error:
        raise ModelLoadError(f"{directory}: {error}") from None


def _read_config(directory: Path, kind: str | None) -> dict[str, Any]:
    """config.json, checked for its keys, format version and model kind."""
    config = _read_json(directory / CONFIG_FILE, "config")
    if not isinstance(config, dict):
        raise ModelLoadError(f"{directory / CONFIG_FILE}: must be a JSON object")
    unknown = sorted(set(config) - CONFIG_KEYS)
    if unknown:
        raise ModelLoadError(f"{directory / CONFIG_FILE}: unknown keys {unknown}; was it written by another tool?")
    version = config.get("format_version")
    if not isinstance(version, int) or isinstance(version, bool):
        raise ModelLoadError(f"{directory / CONFIG_FILE}: format_version must be an integer")
    if version > EXTENDED_FORMAT_VERSION:
        raise ModelLoadError(
            f"{directory}: written by a newer nlp-lstm (format {version}, this one reads up to {EXTENDED_FORMAT_VERSION}); "
            "upgrade nlp-lstm"
        )
    model_kind = config.get("kind")
    if model_kind not in tasks.model_kinds():
        raise ModelLoadError(f"{directory / CONFIG_FILE}: unknown model kind {model_kind!r}")
    if kind is not None and model_kind != kind:
        raise ModelLoadError(f"{directory}: is {tasks.called(model_kind)}, but this command needs {tasks.called(kind)}")
    return config


def _load_weights(directory: Path, build: Callable[[], nn.Module], configs: list[ModelConfig], device: Any) -> nn.Module:
    """The network ``build`` makes of ``configs`` with the weights of model.safetensors, checked before and after loading."""
    weights = directory / WEIGHTS_FILE
    if not weights.exists():
        raise ModelLoadError(f"{directory}: {WEIGHTS_FILE} is missing")
    try:
        check_regular_file(weights, "weights file")
    except UnreadableFile as error:
        raise ModelLoadError(str(error)) from None
    header = weights_header(weights)
    _check_layers(weights, header, configs)
    try:
        with shapes_only():  # shapes without memory: the config is checked against the header first
            implied = build()
    except (RuntimeError, ValueError, OverflowError) as error:  # sizes no tensor can have
        raise ModelLoadError(f"{directory / CONFIG_FILE}: sizes no model can have ({str(error).splitlines()[0]})") from None
    check_shapes(weights, implied, header)
    with uninitialised():  # every tensor is read from the file below: random values would only be overwritten
        model = build()
    try:
        missing, unexpected = load_model(model, str(weights), strict=False, device=str(device))
    except Exception as error:  # safetensors raises its own error type for damaged headers and data
        raise ModelLoadError(f"{weights}: cannot be read ({error}); the file is truncated or corrupted") from None
    if missing or unexpected:
        raise ModelLoadError(
            f"{weights}: weights do not match config.json (missing {sorted(missing)[:3]}, unexpected {sorted(unexpected)[:3]})"
        )
    if not all(finite(p) for p in [*model.parameters(), *model.buffers()]):  # buffers: a forecaster's saved scales
        raise ModelLoadError(f"{weights}: holds NaN or infinite weights; the model is damaged (or was saved after it diverged)")
    return model.to(device).eval()


def _check_layers(weights: Path, header: dict[str, Any], configs: list[ModelConfig]) -> None:
    """A config may not claim more LSTM layers than the file holds: building a million layers would hang."""
    layers = 1 + max((int(match) for name in header for match in re.findall(r"_l(\d+)$", name)), default=-1)
    claimed = max(config.num_layers for config in configs)
    if claimed > layers:
        raise ModelLoadError(f"{weights}: holds {layers} LSTM layers, but config.json says num_layers {claimed}")


def save_trainer_state(
    directory: Path, optimizer: torch.optim.Optimizer, tensors: dict[str, torch.Tensor], info: dict[str, Any]
) -> None:
    """Write optimiser state, extra tensors (RNG, carried state) and JSON ``info`` into ``directory``."""
    state = optimizer.state_dict()
    flat: dict[str, torch.Tensor] = {f"extra.{k}": v.detach().cpu().contiguous() for k, v in tensors.items()}
    scalars: dict[str, dict[str, Any]] = {}
    for index, param_state in state["state"].items():
        for key, value in param_state.items():
            if isinstance(value, torch.Tensor):
                flat[f"optimizer.{index}.{key}"] = value.detach().cpu().contiguous()
            else:
                scalars.setdefault(str(index), {})[key] = value
    with naming(directory / STATE_TENSORS_FILE):
        save_file(flat, str(directory / STATE_TENSORS_FILE))
    _write_json(directory / STATE_JSON_FILE, {"info": info, "param_groups": state["param_groups"], "scalars": scalars})


def load_trainer_state(directory: Path, optimizer: torch.optim.Optimizer) -> tuple[dict[str, torch.Tensor], dict[str, Any]]:
    """Restore the optimiser from ``directory``; return the extra tensors and the JSON info."""
    meta = _read_json(directory / STATE_JSON_FILE, "trainer state")
    try:
        flat = load_file(str(directory / STATE_TENSORS_FILE))
    except FileNotFoundError:
        raise ModelLoadError(f"{directory}: {STATE_TENSORS_FILE} is missing; cannot resume from here") from None
    except Exception as error:
        raise ModelLoadError(f"{directory / STATE_TENSORS_FILE}: cannot be read ({error})") from None
    per_param: dict[int, dict[str, Any]] = {}
    extra = {}
    for key, value in flat.items():
        scope, rest = key.split(".", 1)
        if scope == "extra":
            extra[rest] = value
        else:
            index, name = rest.split(".", 1)
            per_param.setdefault(int(index), {})[name] = value
    for index, values in meta.get("scalars", {}).items():
        per_param.setdefault(int(index), {}).update(values)
    try:
        optimizer.load_state_dict({"state": per_param, "param_groups": meta["param_groups"]})
    except (ValueError, KeyError) as error:
        raise ModelLoadError(f"{directory}: optimiser state does not fit this model ({error})") from None
    return extra, meta["info"]
