"""Which device a command computes on: ``auto`` picks CUDA, then Apple MPS, then the CPU.

Used by training and inference alike, so it lives below both.
"""

from __future__ import annotations

import torch

from nlp_lstm.errors import UsageError


class DeviceUnavailable(UsageError):
    """The device asked for is not on this machine."""


def select_device(name: str = "auto") -> torch.device:
    """``auto`` picks CUDA, then Apple MPS, then CPU; a named device must exist."""
    mps = getattr(torch.backends, "mps", None)
    if name == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda")
        if mps is not None and mps.is_available():
            return torch.device("mps")
        return torch.device("cpu")
    if name.startswith("cuda") and not torch.cuda.is_available():
        raise DeviceUnavailable(f"--device {name}: CUDA is not available on this machine; use --device cpu or auto")
    if name == "mps" and not (mps is not None and mps.is_available()):
        raise DeviceUnavailable("--device mps: Apple MPS is not available on this machine; use --device cpu or auto")
    return torch.device(name)


def use_threads(threads: int) -> None:
    """Compute on ``threads`` CPU threads; 0 keeps torch's default (one per core)."""
    if threads < 0:
        raise UsageError(f"--threads must be >= 0 (0 = one per core), got {threads}")
    if threads:
        torch.set_num_threads(threads)
