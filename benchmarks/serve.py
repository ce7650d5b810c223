"""nlp-lstm serve under load: requests/s, texts/s and latency at 1, 8 and 32 clients, micro-batching on and off.

    python benchmarks/serve.py [--seconds 10] [--clients 1 8 32]

Starts ``nlp-lstm serve`` (the shipped models, one thread) on a free loopback port and drives it
from N concurrent clients (asyncio + httpx), each sending one-sentence classify requests back to
back for ``--seconds``, with micro-batching as by default (the requests already waiting share
a batch), with a 5 ms wait for more, and off. Then: time to first token and characters/s of streamed generation; the
server's peak memory (VmHWM); and a burst above a small ``--queue-limit``, which must be answered
with clean 503s and no other error. Records everything in RESULTS.md.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import socket
import statistics
import subprocess
import sys
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("HF_DATASETS_OFFLINE", "1")
sys.path.insert(0, str(Path(__file__).resolve().parent))

import httpx  # noqa: E402
import machine  # noqa: E402

SENTENCES = [
    "a gorgeous, heartfelt film",
    "a tedious, joyless mess",
    "the acting is wooden and the plot goes nowhere",
    "funny, warm and wise",
    "it looks great but says nothing",
    "one of the best films of the year",
]


def start_server(*options: str) -> tuple[subprocess.Popen, str]:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    command = [sys.executable, "-m", "nlp_lstm", "serve", "--port", str(port), "--threads", "1", *options]
    process = subprocess.Popen(command, stderr=subprocess.DEVNULL, env={**os.environ, "OMP_NUM_THREADS": "1"})
    url = f"http://127.0.0.1:{port}"
    for _ in range(600):
        try:
            if httpx.get(url + "/health", timeout=1).status_code == 200:
                return process, url
        except httpx.TransportError:
            time.sleep(0.1)
    raise SystemExit("the server did not start")


def peak_mib(process: subprocess.Popen) -> float:
    for line in Path(f"/proc/{process.pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return float("nan")


async def client(http: httpx.AsyncClient, url: str, until: float, latencies: list[float], codes: list[int], n: int) -> None:
    i = n
    while time.perf_counter() < until:
        started = time.perf_counter()
        answer = await http.post(url + "/v1/classify", json={"texts": [SENTENCES[i % len(SENTENCES)]]})
        latencies.append(time.perf_counter() - started)
        codes.append(answer.status_code)
        i += 1


async def load(url: str, clients: int, seconds: float) -> dict[str, float]:
    latencies: list[float] = []
    codes: list[int] = []
    limits = httpx.Limits(max_connections=clients + 4)
    async with httpx.AsyncClient(timeout=120, limits=limits) as http:
        started = time.perf_counter()
        until = started + seconds
        await asyncio.gather(*(client(http, url, until, latencies, codes, n) for n in range(clients)))
        elapsed = time.perf_counter() - started
    ok = codes.count(200)
    ordered = sorted(latencies)
    return {
        "requests_s": ok / elapsed,
        "p50_ms": 1000 * statistics.median(ordered),
        "p99_ms": 1000 * ordered[min(len(ordered) - 1, int(0.99 * len(ordered)))],
        "errors": len(codes) - ok,
    }


def streaming(url: str, length: int, repeats: int) -> dict[str, float]:
    first, rates = [], []
    for seed in range(repeats):
        started = time.perf_counter()
        characters, ttft = 0, None
        body = {"prompt": "ROMEO:", "length": length, "seed": seed, "stream": True}
        with httpx.stream("POST", url + "/v1/generate", json=body, timeout=120) as response:
            for line in response.iter_lines():
                if line.startswith("data: ") and line != "data: {}":
                    ttft = ttft or time.perf_counter() - started
                    characters += len(json.loads(line[6:])["text"])
        total = time.perf_counter() - started
        first.append(ttft)
        rates.append(characters / (total - ttft))
    return {"ttft_ms": 1000 * statistics.median(first), "chars_s": statistics.median(rates)}


async def burst(url: str, clients: int) -> dict[str, int]:
    async with httpx.AsyncClient(timeout=120, limits=httpx.Limits(max_connections=clients + 4)) as http:
        answers = await asyncio.gather(
            *(http.post(url + "/v1/generate", json={"length": 400, "seed": n}) for n in range(clients))
        )
    clean = sum(1 for a in answers if a.status_code == 503 and "busy" in a.json().get("error", ""))
    return {
        "ok": sum(a.status_code == 200 for a in answers),
        "clean_503": clean,
        "other": len(answers) - clean - sum(a.status_code == 200 for a in answers),
    }


def classify_table(args: argparse.Namespace) -> tuple[list[str], float]:
    rows = [
        "| clients | micro-batching | requests/s (= texts/s) | p50 ms | p99 ms | errors |",
        "| ---: | --- | ---: | ---: | ---: | ---: |",
    ]
    peak = 0.0
    variants = {
        "on, no wait (the default)": ["--batch-wait-ms", "0"],
        "on, 5 ms wait": ["--batch-wait-ms", "5"],
        "off (--max-batch 1)": ["--max-batch", "1"],
    }
    for batching, options in variants.items():
        process, url = start_server(*options, "--queue-limit", "256")
        try:
            for clients in args.clients:
                figures = asyncio.run(load(url, clients, args.seconds))
                rows.append(
                    f"| {clients} | {batching} | {figures['requests_s']:.1f} | {figures['p50_ms']:.1f} | "
                    f"{figures['p99_ms']:.1f} | {figures['errors']} |"
                )
                print(rows[-1], flush=True)
            peak = max(peak, peak_mib(process))
        finally:
            process.terminate()
            process.wait()
    return rows, peak


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--clients", type=int, nargs="+", default=[1, 8, 32])
    args = parser.parse_args()
    machine_line = machine.describe()
    rows, peak = classify_table(args)
    process, url = start_server("--queue-limit", "8")
    try:
        stream = streaming(url, 500, 3)
        over = asyncio.run(burst(url, 32))
        peak = max(peak, peak_mib(process))
    finally:
        process.terminate()
        process.wait()
    body = "\n".join(rows) + (
        f"\n\nStreamed generation (500 characters, 1 client, median of 3): first token after {stream['ttft_ms']:.0f} ms, "
        f"then {stream['chars_s']:,.0f} characters/s. Server peak memory (VmHWM): {peak:.0f} MiB. "
        f"A burst of 32 generate requests at --queue-limit 8: {over['ok']} answered, {over['clean_503']} clean 503s, "
        f"{over['other']} other errors.\n"
    )
    print(machine_line)
    print(body)
    machine.record("nlp-lstm serve on loopback: classify under load, streaming, memory, the queue limit", machine_line, body)


if __name__ == "__main__":
    main()
