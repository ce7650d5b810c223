"""A safetensors weights file read strictly, before and after any tensor is made.

What a model directory's ``model.safetensors`` must be, for an LSTM (``checkpoint.py``) and a
transformer teacher (``teacher/strict.py``) alike: its header is read first, alone, so a damaged or
hostile file fails in a moment; it holds floating-point tensors only; every tensor the config implies
is there with its shape, and nothing else; and once loaded, every value is finite.
"""

from __future__ import annotations

from pathlib import Path

import torch
from safetensors import safe_open
from torch import nn

from nlp_lstm.errors import ModelLoadError

# Tensor types a weights file may hold (safetensors' names); they load as float32. Integers are refused.
FLOAT_HEADER_DTYPES = ("F16", "BF16", "F32", "F64")


def finite(tensor: torch.Tensor) -> bool:
    """No NaN or infinity in ``tensor``, read in one pass.

    Any NaN or infinity makes the sum NaN or infinite, so a finite sum proves every element finite
    (a tenth of the time of ``isfinite(tensor).all()``); only a sum that overflowed is checked element by element.
    """
    with torch.no_grad():
        return bool(torch.isfinite(tensor.sum())) or bool(torch.isfinite(tensor).all())


def weights_header(weights: Path) -> dict[str, tuple[str, tuple[int, ...]]]:
    """``name -> (dtype, shape)`` of every tensor in a safetensors file, read from its header alone."""
    try:
        with safe_open(str(weights), framework="pt") as handle:
            header = {}
            for name in handle.keys():  # noqa: SIM118 - a safetensors handle is not iterable
                piece = handle.get_slice(name)
                header[name] = (piece.get_dtype(), tuple(piece.get_shape()))
    except Exception as error:  # safetensors raises its own error type for damaged headers
        raise ModelLoadError(f"{weights}: cannot be read ({error}); the file is truncated or corrupted") from None
    refused = sorted({dtype for dtype, _ in header.values()} - set(FLOAT_HEADER_DTYPES))
    if refused:
        raise ModelLoadError(
            f"{weights}: holds {', '.join(refused)} tensors; weights must be floating point ({', '.join(FLOAT_HEADER_DTYPES)})"
        )
    return header


def check_shapes(weights: Path, model: nn.Module, header: dict[str, tuple[str, tuple[int, ...]]]) -> None:
    """Every tensor the config implies is in the header with its shape, and the header holds nothing else."""
    tensors = model.state_dict(keep_vars=True)
    names_of: dict[int, list[str]] = {}
    for name, tensor in tensors.items():  # tied weights are one tensor under two names, stored once
        names_of.setdefault(id(tensor), []).append(name)
    missing = [names[0] for names in names_of.values() if not any(n in header for n in names)]
    unexpected = sorted(set(header) - set(tensors))
    if missing or unexpected:
        raise ModelLoadError(
            f"{weights}: weights do not match config.json (missing {sorted(missing)[:3]}, unexpected {unexpected[:3]})"
        )
    for name, (_, shape) in header.items():
        if tuple(tensors[name].shape) != shape:
            raise ModelLoadError(
                f"{weights}: weights do not match config.json ({name} has shape {list(shape)} in the file, "
                f"{list(tensors[name].shape)} by the config)"
            )
