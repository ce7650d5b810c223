"""A transformer directory held to what ``checkpoint.py`` asks of an LSTM's, before and after ``transformers`` reads it.

``from_pretrained`` on its own is lenient where a model directory is data from a stranger: it
initialises missing weights at random (a teacher whose file holds none of them classifies with a
random head and exit 0), opens pickles, builds whatever sizes a config claims, and runs a
directory's own code when asked. Here, before it sees the directory (``base.refuse_code`` has
already refused code): the architecture is one ``transformers`` knows, the sizes in config.json are
bounded, the safetensors header is read first and every tensor the config implies is there with its
shape (built on the meta device: no memory), floats only. Then it loads with ``use_safetensors=True``
and ``trust_remote_code=False``, its own report of missing or mismatched keys is checked again, and
every weight must be finite.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch
from torch import nn

from nlp_lstm.errors import ModelLoadError
from nlp_lstm.files import CONFIG_FILE, WEIGHTS_FILE, UnreadableFile, check_regular_file, read_json_file
from nlp_lstm.weights_file import check_shapes, finite, weights_header

# Sizes a config.json may claim. Real encoders stay far inside these (BERT-large: 24 layers, hidden
# 1,024; multilingual vocabularies: 250 k); past them a config is a way to make the meta build hang.
MOST_LAYERS = 256
LARGEST_SIZE = 1 << 24
LAYER_KEYS = ("num_hidden_layers", "num_layers", "n_layer", "n_layers")
SIZE_KEYS = ("vocab_size", "hidden_size", "intermediate_size", "max_position_embeddings", "num_attention_heads", "num_labels")
PICKLE_SUFFIXES = (".bin", ".pt", ".pth", ".pkl", ".pickle", ".ckpt")
KEEP_POLICIES = ("start", "end", "both")  # data.batching.encode_texts


def check_config(directory: Path, library: Any) -> None:
    """A known architecture with bounded sizes, refused in one line before anything is built."""
    path = directory / CONFIG_FILE
    try:
        config = read_json_file(path, "model config")
    except UnreadableFile as error:
        raise ModelLoadError(str(error)) from None
    if not isinstance(config, dict):
        raise ModelLoadError(f"{path}: is not a JSON object; the file is damaged")
    model_type = config.get("model_type")
    if not isinstance(model_type, str) or model_type not in library.CONFIG_MAPPING:
        raise ModelLoadError(
            f"{path}: model_type {model_type!r} is not an architecture transformers knows; "
            "nlp-lstm loads only those (never a directory's own code)"
        )
    for key in (*LAYER_KEYS, *SIZE_KEYS):
        value, most = config.get(key), MOST_LAYERS if key in LAYER_KEYS else LARGEST_SIZE
        if value is not None and (type(value) is not int or not 1 <= value <= most):
            raise ModelLoadError(f"{path}: {key} {value!r} is no size a model can have (a whole number from 1 to {most:,})")


def checked_weights(directory: Path) -> Path:
    """model.safetensors, a regular file of floating-point tensors; a pickle is never opened."""
    weights = directory / WEIGHTS_FILE
    if not weights.exists():
        pickles = sorted(p.name for p in directory.iterdir() if p.suffix in PICKLE_SUFFIXES)
        advice = (
            f"; {', '.join(pickles)} is a pickle, which nlp-lstm never opens: save the model as safetensors" if pickles else ""
        )
        raise ModelLoadError(f"{directory}: {WEIGHTS_FILE} is missing{advice}")
    try:
        check_regular_file(weights, "weights file")
    except UnreadableFile as error:
        raise ModelLoadError(str(error)) from None
    return weights


def implied_network(library: Any, directory: Path, **settings: Any) -> nn.Module:
    """The classifier the config describes, on the meta device: its tensors' names and shapes, no memory."""
    try:
        config = library.AutoConfig.from_pretrained(str(directory), local_files_only=True, trust_remote_code=False, **settings)
        with torch.device("meta"):
            return library.AutoModelForSequenceClassification.from_config(config, trust_remote_code=False)
    except Exception as error:  # transformers raises ValueError, TypeError, KeyError... for configs it cannot build
        reason = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
        raise ModelLoadError(f"{directory / CONFIG_FILE}: describes no model transformers can build ({reason})") from None


def check_teacher_weights(directory: Path, library: Any) -> None:
    """Every tensor of the teacher the config implies, with its shape, and nothing else: as for an LSTM."""
    check_config(directory, library)
    weights = checked_weights(directory)
    check_shapes(weights, implied_network(library, directory), weights_header(weights))


def check_base_weights(directory: Path, library: Any, **settings: Any) -> None:
    """A pretrained encoder: all of the encoder's tensors with their shapes; only the new head is missing."""
    check_config(directory, library)
    weights = checked_weights(directory)
    header = weights_header(weights)
    implied = implied_network(library, directory, **settings)
    prefix = implied.base_model_prefix + "."
    for name, tensor in implied.state_dict().items():
        if not name.startswith(prefix):
            continue  # the classification head: new, as fine-tuning expects
        stored = header.get(name) or header.get(name[len(prefix) :])
        if stored is None:
            raise ModelLoadError(f"{weights}: has no {name}; a pretrained encoder must hold every weight of the encoder")
        if stored[1] != tuple(tensor.shape):
            raise ModelLoadError(
                f"{weights}: {name} has shape {list(stored[1])} in the file, {list(tensor.shape)} by config.json"
            )


def check_loaded(network: nn.Module, report: dict[str, Any], where: str, head_is_new: bool) -> None:
    """transformers' own account of the load, then the values: no weight left random, none NaN or infinite."""
    prefix = network.base_model_prefix + "."
    missing = sorted(k for k in report.get("missing_keys", ()) if not head_is_new or k.startswith(prefix))
    mismatched = sorted(str(k) for k in report.get("mismatched_keys", ()))
    unexpected = [] if head_is_new else sorted(report.get("unexpected_keys", ()))
    if missing or mismatched or unexpected:
        raise ModelLoadError(
            f"{where}: weights do not match config.json (missing {missing[:3]}, mismatched {mismatched[:3]}, "
            f"unexpected {unexpected[:3]})"
        )
    if not all(finite(p) for p in network.parameters()):
        raise ModelLoadError(f"{where}: holds NaN or infinite weights; the model is damaged (or was saved after it diverged)")


def check_settings(directory: Path, settings: dict[str, Any]) -> None:
    """The ``nlp_lstm`` block of a teacher's config.json: its labels and input policy, as ``train teacher`` writes them."""
    labels, inputs = settings.get("labels"), settings.get("inputs")
    where = f"{directory / CONFIG_FILE}: the nlp_lstm block"
    if (
        not isinstance(labels, list)
        or len(labels) < 2
        or not all(isinstance(n, str) for n in labels)
        or len(set(labels)) < len(labels)
    ):
        raise ModelLoadError(f"{where} needs labels, a list of two or more different names; the file is damaged")
    length = inputs.get("max_length") if isinstance(inputs, dict) else None
    if type(length) is not int or length < 1 or inputs.get("keep") not in KEEP_POLICIES:
        raise ModelLoadError(f"{where} needs inputs {{max_length: a positive whole number, keep: one of {list(KEEP_POLICIES)}}}")


def check_vocabulary(directory: Path, tokenizer_size: int, network: nn.Module) -> None:
    """Every id the tokenizer can give has a row in the embedding table: else classifying fails half-way."""
    rows = network.get_input_embeddings().num_embeddings
    if tokenizer_size > rows:
        raise ModelLoadError(
            f"{directory}: tokenizer.json has {tokenizer_size:,} tokens but the model embeds {rows:,}; they are not one teacher's"
        )
