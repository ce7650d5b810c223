"""fp32 against bf16 autocast for the sentiment recipe's two models: a teacher step, a labelling batch, a student step.

    python benchmarks/sentiment_precision.py [--threads 2] [--steps 4] [--rounds 2]

The shapes are those of ``scripts/train_sentiment.sh``: the MiniLM teacher (builtin:minilm, needs
the teacher extra and its wheel) trained on 32 texts of 128 tokens and labelling 64 texts of 256;
the biLSTM student (embeddings 128, 1×256 per direction) trained on 64 texts of 400 tokens. Random
token ids: the cost does not depend on which tokens they are. Each variant runs one warm-up step,
then ``--steps`` timed ones, interleaved with the other precision for ``--rounds`` rounds; the
median round is reported, and the bf16/fp32 ratio of the same run. bf16 is where oneDNN has
AVX-512-BF16 or AMX kernels; elsewhere it may be slower, and the LSTM probe may refuse it.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("HF_DATASETS_OFFLINE", "1")
sys.path.insert(0, str(Path(__file__).resolve().parent))

import machine  # noqa: E402
import torch  # noqa: E402
import torch.nn.functional as F  # noqa: E402

from nlp_lstm.config import ModelConfig  # noqa: E402
from nlp_lstm.model import Classifier  # noqa: E402
from nlp_lstm.precision import autocast, bf16_lstm_problem  # noqa: E402
from nlp_lstm.teacher.model import load_base  # noqa: E402

CPU = torch.device("cpu")


def batch(rows: int, length: int, vocab: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    generator = torch.Generator().manual_seed(0)
    ids = torch.randint(1000, vocab, (rows, length), generator=generator)
    return ids, torch.full((rows,), length), torch.randint(0, 2, (rows,), generator=generator)


def training_step(model: torch.nn.Module, optimizer: torch.optim.Optimizer, inputs, precision: str) -> None:
    ids, lengths, labels = inputs
    optimizer.zero_grad(set_to_none=True)
    with autocast(CPU, precision):
        logits = model(ids, lengths)
    F.cross_entropy(logits.float(), labels).backward()
    optimizer.step()


def labelling_step(model: torch.nn.Module, inputs, precision: str) -> None:
    with torch.inference_mode(), autocast(CPU, precision):
        model(inputs[0], inputs[1])


def workloads() -> dict:
    teacher = load_base("builtin:minilm", ["negative", "positive"], 256, CPU).model
    shape = {"embedding_dim": 128, "hidden_size": 256, "num_layers": 1, "dropout": 0.3, "bidirectional": True}
    student = Classifier(ModelConfig(vocab_size=30522, num_classes=2, **shape))
    optimizers = {name: torch.optim.AdamW(m.parameters(), lr=1e-5) for name, m in (("t", teacher), ("s", student))}
    teacher_batch, label_batch, student_batch = batch(32, 126, 30522), batch(64, 254, 30522), batch(64, 400, 30522)
    return {
        "teacher training step, 32 x 128 tokens": lambda p: training_step(teacher.train(), optimizers["t"], teacher_batch, p),
        "teacher labelling, 64 x 256 tokens": lambda p: labelling_step(teacher.eval(), label_batch, p),
        "student training step, 64 x 400 tokens": lambda p: training_step(student.train(), optimizers["s"], student_batch, p),
    }


def timed(work, precision: str, steps: int) -> float:
    work(precision)  # warm-up: oneDNN picks and caches its kernels on the first call
    started = time.perf_counter()
    for _ in range(steps):
        work(precision)
    return (time.perf_counter() - started) / steps


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--steps", type=int, default=4)
    parser.add_argument("--rounds", type=int, default=2)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    where = machine.describe()
    problem = bf16_lstm_problem(CPU)
    if problem:
        sys.exit(f"bf16 is refused on this CPU ({problem}): nothing to compare")
    lines = ["| workload | fp32 s | bf16 s | bf16 / fp32 |", "| --- | ---: | ---: | ---: |"]
    for name, work in workloads().items():
        rounds = {p: [] for p in ("fp32", "bf16")}
        for _ in range(args.rounds):
            for precision in rounds:
                rounds[precision].append(timed(work, precision, args.steps))
        fp32, bf16 = (statistics.median(rounds[p]) for p in ("fp32", "bf16"))
        lines.append(f"| {name} | {fp32:.3f} | {bf16:.3f} | {bf16 / fp32:.2f} |")
        print(lines[-1], flush=True)
    text = "\n".join(lines)
    print(text)
    machine.record("Sentiment recipe: fp32 against bf16 autocast on the CPU", where, text)


if __name__ == "__main__":
    main()
