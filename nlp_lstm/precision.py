"""Mixed precision: the autocast of training, and whether a device can run the LSTM under it at all.

bf16 LSTM kernels exist only on some hardware. On a CPU, oneDNN has them where the CPU has AVX-512;
on an AVX2-only CPU (an AMD EPYC of the Zen 3 generation, say) the first forward pass fails with
"could not create a primitive descriptor for the LSTM forward propagation primitive". A CPU's name
or flags do not say for sure what a given torch build can do, so we ask the device itself: a tiny
forward and backward through ``nn.LSTM`` under bf16 autocast, once per device and process.

The environment variable ``NLP_LSTM_BF16`` is the documented seam that overrides the answer:
``unsupported`` refuses bf16 without trying (to exercise the refusal on a machine that has the
kernels), ``supported`` accepts it without trying, and ``probe`` (or unset) tries.
"""

from __future__ import annotations

import functools
import os

import torch

from nlp_lstm.errors import UsageError

BF16_VARIABLE = "NLP_LSTM_BF16"
BF16_ANSWERS = ("probe", "supported", "unsupported")


class PrecisionUnavailable(UsageError):
    """This device cannot train in the precision asked for; fp32 works everywhere."""


def autocast(device: torch.device, precision: str) -> torch.autocast:
    """Mixed precision for the forward pass and loss: bf16 where asked, a no-op for fp32.

    bf16 keeps float32's exponent range, so unlike fp16 it needs no loss scaling.
    """
    return torch.autocast(device_type=device.type, dtype=torch.bfloat16, enabled=precision == "bf16")


def bf16_lstm_problem(device: torch.device) -> str | None:
    """Why ``device`` cannot run the LSTM under bf16 autocast, or None where it can."""
    answer = os.environ.get(BF16_VARIABLE, "probe") or "probe"
    if answer not in BF16_ANSWERS:
        raise UsageError(f"{BF16_VARIABLE}={answer!r} is not one of {', '.join(BF16_ANSWERS)}; unset it to probe the device")
    if answer == "unsupported":
        return f"{BF16_VARIABLE}=unsupported is set"
    if answer == "supported":
        return None
    return _probe_bf16_lstm(str(device))


@functools.cache
def _probe_bf16_lstm(device_name: str) -> str | None:
    """One tiny training step of a two-layer LSTM with a carried state, as training takes it, under bf16 autocast."""
    device = torch.device(device_name)
    # The probe must not move the caller's random stream: training seeds it and expects the draws it seeded.
    with torch.random.fork_rng(devices=[device] if device.type == "cuda" else []):
        try:
            lstm = torch.nn.LSTM(4, 8, num_layers=2, batch_first=True).to(device)
            inputs = torch.linspace(-1, 1, 2 * 3 * 4, device=device).reshape(2, 3, 4)  # (B, T, I)
            state = (torch.zeros(2, 2, 8, device=device), torch.zeros(2, 2, 8, device=device))  # float32, as carried
            with autocast(device, "bf16"):
                features, (h, c) = lstm(inputs, state)
                loss = features.float().sum() + h.float().sum() + c.float().sum()
            loss.backward()
        except (RuntimeError, NotImplementedError) as error:
            return str(error).strip().split(". ")[0].splitlines()[0]  # the first sentence; oneDNN appends advice
    return None


def require_precision(device: torch.device, precision: str) -> None:
    """Refuse, before anything is written, a precision that ``device`` cannot train in."""
    if precision != "bf16":
        return
    problem = bf16_lstm_problem(device)
    if problem is not None:
        raise PrecisionUnavailable(
            f"--precision bf16: this {device.type} cannot run the LSTM in bf16 ({problem}); use --precision fp32"
        )
