"""What the server computes with: the torch runtime (model directories) or the ONNX one (``nlp-lstm export`` directories).

The routes, limits, guards, batching and generation threads are the same for both (``app``); only
this interface differs: load the two models, classify texts, stream a generation's pieces, say
why a generate request cannot be served (``problem``), describe the models, draw the gate page.
``serve --runtime onnx`` imports neither torch nor transformers: nothing here imports them at the
top, and the ONNX side never calls what does.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import nlp_lstm
from nlp_lstm import tasks
from nlp_lstm.errors import UsageError
from nlp_lstm.serve.generation import AdaptationStatistics
from nlp_lstm.serve.settings import ServeSettings

Progress = Callable[[int, int], None]


class TorchBackend:
    """nlp_lstm's models by name (the shipped ones by default), on the settings' device."""

    def __init__(self, settings: ServeSettings):
        from nlp_lstm.devices import select_device, use_threads

        use_threads(settings.threads)
        device = select_device(settings.device)
        given = {tasks.CLASSIFIER: settings.classifier, tasks.LM: settings.generator}  # a name as --model takes it, or None
        self.shipped = {kind: name is None for kind, name in given.items()}
        self.models = {
            kind: nlp_lstm.load_model(name or nlp_lstm.shipped_model(kind), device=device, kind=kind)
            for kind, name in given.items()
        }
        self.paths = {kind: Path(saved.path) for kind, saved in self.models.items()}  # where a name (sentiment) led
        if self.models[tasks.CLASSIFIER].regression:  # /v1/classify answers labels and probabilities, not a score
            raise UsageError(f"{self.paths[tasks.CLASSIFIER]}: predicts a score (--problem regression); serve a classifier")
        self.adaptation = AdaptationStatistics(self.models[tasks.LM])  # gathered at the first request that adapts

    def classify(self, texts: list[str]) -> list[Any]:
        return nlp_lstm.classify(self.models[tasks.CLASSIFIER], texts, batch_size=64)

    def problem(self, config: Any, adapt: str) -> tuple[int, str] | None:
        return self.adaptation.problem() if adapt else None

    def pieces(self, prompt: str, config: Any, adapt: str, progress: Progress) -> Iterator[str]:
        """With ``adapt`` text, a copy of the model reads it first: no request sees another's."""
        saved = nlp_lstm.adapt(self.models[tasks.LM], adapt, progress=progress) if adapt else self.models[tasks.LM]
        for _, piece in nlp_lstm.generate_stream(saved, prompt, config):
            yield piece

    def describe(self) -> list[dict[str, Any]]:
        from nlp_lstm.catalog import describe_model

        entries = [describe_model(path, path.name, self.shipped[kind]) for kind, path in self.paths.items()]
        return [{**entry.as_dict(), "labels": self.models[entry.kind].labels} for entry in entries if entry is not None]

    def gate_page(self, text: str) -> str:
        inspection = nlp_lstm.inspect_gates(self.models[tasks.LM], text or None)
        return nlp_lstm.render_gates_html(inspection, title=f"LSTM gates of {self.paths[tasks.LM].name}")


class OnnxBackend:
    """Two export directories run by ONNX Runtime (``nlp_lstm.runtime``), on the CPU."""

    def __init__(self, settings: ServeSettings):
        from nlp_lstm import runtime

        if settings.classifier is None or settings.generator is None:
            raise UsageError(
                "--runtime onnx serves exports: give --classifier DIR and --generator DIR, written by nlp-lstm export"
            )
        if settings.device not in ("auto", "cpu"):
            raise UsageError(f"--runtime onnx runs on the CPU; drop --device {settings.device} or use --runtime torch")
        self.models = {
            kind: runtime.load_exported(path, settings.threads)
            for kind, path in ((tasks.CLASSIFIER, settings.classifier), (tasks.LM, settings.generator))
        }
        for kind, option in ((tasks.CLASSIFIER, "--classifier"), (tasks.LM, "--generator")):
            if self.models[kind].kind != kind:
                raise UsageError(f"{option} {self.models[kind].path}: is an exported {self.models[kind].kind}, not a {kind}")

    def classify(self, texts: list[str]) -> list[Any]:
        from nlp_lstm import runtime

        return runtime.classify(self.models[tasks.CLASSIFIER], texts, batch_size=64)

    def problem(self, config: Any, adapt: str) -> tuple[int, str] | None:
        from nlp_lstm import runtime

        refusal = runtime.torch_only(str, top_k=config.top_k, top_p=config.top_p, adapt=adapt)  # named as the JSON fields
        return None if refusal is None else (400, refusal)

    def pieces(self, prompt: str, config: Any, adapt: str, progress: Progress) -> Iterator[str]:
        from nlp_lstm import runtime

        return runtime.generate_stream(self.models[tasks.LM], prompt, config.length, config.temperature, config.seed)

    def describe(self) -> list[dict[str, Any]]:
        return [
            {"name": m.path.name, "path": str(m.path), "kind": m.kind, "runtime": "onnx", "weights": m.signature.get("weights", "float32"), "labels": m.labels}
            for m in self.models.values()
        ]  # fmt: skip

    def gate_page(self, text: str) -> str:
        raise UsageError("/v1/inspect reads the LSTM's gates with torch; this server runs --runtime onnx")


def load_backend(settings: ServeSettings) -> TorchBackend | OnnxBackend:
    return OnnxBackend(settings) if settings.runtime == "onnx" else TorchBackend(settings)
