"""Peak resident memory (RSS) of training and inference, each in a fresh process.

    python benchmarks/memory.py [--threads 2] [--steps 3]

Each workload runs in its own subprocess, which prints its ``getrusage(RUSAGE_SELF).ru_maxrss``
at the end (the peak over the process's life, so imports and data loading count too). A process
that only imports torch is the floor.

* training: ``nlp_lstm.train_language_model`` on Shakespeare characters, 2×512, BPTT 256,
  batch 64, ``--steps`` steps plus its final evaluation and checkpoint;
* generation: ``nlp_lstm.generate`` of 500 characters with the shipped 2×640 model;
* classification: ``nlp_lstm.classify`` of 256 reviews from our imdb test split with the
  shipped sentiment model.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import machine  # noqa: E402

PEAK = "import resource; print('PEAK_KIB', resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)"
WORKLOADS = {
    "import torch (floor)": "import torch",
    "training 2×512, batch 64 × 256": """
import tempfile, nlp_lstm
config = nlp_lstm.TrainConfig(dataset="builtin:shakespeare", tokenizer="char", seq_len=256, batch_size=64, max_steps={steps},
                              eval_every=10**6, device="cpu", threads={threads})
with tempfile.TemporaryDirectory() as out:
    nlp_lstm.train(config.with_encoder(embedding_dim=128, hidden_size=512, num_layers=2), nlp_lstm.RunOptions(out, overwrite=True))
""",
    "generation, shipped 2×640, 500 chars": """
import torch, nlp_lstm
torch.set_num_threads({threads})
nlp_lstm.generate(nlp_lstm.load_model(nlp_lstm.shipped_model("lm")), "ROMEO:", nlp_lstm.SampleConfig(length=500, seed=0))
""",
    "classification, shipped classifier, 256 reviews": """
import torch, nlp_lstm
torch.set_num_threads({threads})
texts = nlp_lstm.load_labelled_splits("builtin:imdb").test.texts[:256]
nlp_lstm.classify(nlp_lstm.load_model(nlp_lstm.shipped_model("classifier")), texts)
""",
}


def peak_mib(code: str) -> float:
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "HF_DATASETS_OFFLINE": "1"}
    result = subprocess.run([sys.executable, "-c", code + "\n" + PEAK], env=env, capture_output=True, text=True, check=True)
    kib = next(line for line in result.stdout.splitlines() if line.startswith("PEAK_KIB")).split()[1]
    return int(kib) / 1024  # Linux reports ru_maxrss in KiB


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--steps", type=int, default=3)
    args = parser.parse_args()
    where = machine.describe()
    rows = []
    for name, code in WORKLOADS.items():
        rows.append((name, peak_mib(code.format(steps=args.steps, threads=args.threads))))
        print(f"{name}: {rows[-1][1]:.0f} MiB", flush=True)
    floor = rows[0][1]
    table = [
        "Peak RSS (`ru_maxrss`) of a fresh process per workload; CPU.",
        "",
        "| workload | peak RSS (MiB) | over `import torch` (MiB) |",
        "| --- | ---: | ---: |",
    ]
    table += [f"| {name} | {mib:.0f} | {mib - floor:+.0f} |" for name, mib in rows]
    print("\n".join(table))
    machine.record("Peak memory", where, "\n".join(table))


if __name__ == "__main__":
    main()
