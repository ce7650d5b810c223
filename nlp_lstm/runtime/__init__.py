"""Run an ONNX export (``nlp-lstm export``) with ONNX Runtime: no torch is imported on this path.

``load_exported(DIRECTORY)`` opens an export; ``classify`` and ``generate`` answer as
``nlp_lstm.classify`` and ``nlp_lstm.generate`` do. See ``docs/onnx.md``.
"""

from nlp_lstm.runtime.encoding import ExportedModelError
from nlp_lstm.runtime.model import (
    TORCH_ONLY,
    ExportedModel,
    Prediction,
    classify,
    generate,
    generate_stream,
    load_exported,
    torch_only,
)

__all__ = [
    "TORCH_ONLY",
    "ExportedModel",
    "ExportedModelError",
    "Prediction",
    "classify",
    "generate",
    "generate_stream",
    "load_exported",
    "torch_only",
]
