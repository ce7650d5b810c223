"""Machine details recorded next to every benchmark figure (shared machines are noisy: say what ran where), and the clock."""

from __future__ import annotations

import os
import platform
import sys
import time
from datetime import datetime, timezone
from pathlib import Path

RESULTS = Path(__file__).with_name("RESULTS.md")


def cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def cpu_flags() -> set[str]:
    """The CPU's feature flags (Linux); empty where /proc/cpuinfo does not say."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith(("flags", "Features")):
                return set(line.split(":", 1)[1].split())
    except OSError:
        pass
    return set()


def cpu_features() -> str:
    """What decides the CPU kernels: avx512f and amx flags, and whether the LSTM runs in bf16 here (probed)."""
    import torch

    from nlp_lstm.precision import bf16_lstm_problem

    flags = cpu_flags()
    named = ", ".join(f"{flag} {'yes' if flag in flags else 'no'}" for flag in ("avx2", "avx512f", "avx512_bf16", "amx_bf16"))
    bf16 = "works" if bf16_lstm_problem(torch.device("cpu")) is None else "refused"
    return f"{named}; bf16 LSTM on the CPU {bf16}"


def describe() -> str:
    import torch

    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    gpu = torch.cuda.get_device_name(0) if torch.cuda.is_available() else "no GPU"
    return (
        f"{cpu_model()} ({cpu_features()}), {os.cpu_count()} cores, {gpu}; torch {torch.__version__}, "
        f"{torch.get_num_threads()} threads; load average {load:.2f} at start; "
        f"{datetime.now(timezone.utc).strftime('%Y-%m-%d %H:%M UTC')}"
    )


def now(device) -> float:
    """A timestamp taken once ``device`` (a torch.device) has finished the work queued on it: GPU kernels run asynchronously."""
    if device.type == "cuda":
        import torch

        torch.cuda.synchronize(device)
    return time.perf_counter()


def record(title: str, machine: str, body: str) -> None:
    """Append one result section to benchmarks/RESULTS.md, with the command line that produced it."""
    command = f"python benchmarks/{Path(sys.argv[0]).name} " + " ".join(sys.argv[1:])
    if not RESULTS.exists():
        RESULTS.write_text("# Benchmark results\n\nAppended by the scripts in this folder; newest last.\n")
    with RESULTS.open("a", encoding="utf-8") as handle:
        handle.write(f"\n## {title}\n\n- command: `{command}`\n- machine: {machine}\n\n{body.rstrip()}\n")
