"""Export a saved model to ONNX (``nlp_lstm.export_onnx``, ``nlp-lstm export``), for runtimes without torch.

A language model exports as one step with explicit state, ``(ids, h, c) -> (logits, h, c)``, so
sampling is a loop around it in any language (as char-rnn's ``sample.lua`` loops over a step). A
classifier exports its whole forward, ``(ids, lengths) -> logits``, with dynamic batch and time axes.

The exporter is the one torch recommends, the dynamo-based ``torch.onnx.export(..., dynamo=True)``.
Its graph is checked with ONNX Runtime at a length other than the example's before it is kept: for
the classifier it has frozen an inner time axis at the example's length (pytorch/pytorch#191855; the
inputs are dynamic but a Concat inside is not), and then the TorchScript exporter
(``dynamo=False``) is used instead. ``signature.json`` says which exporter wrote the file and why.

``int8=True`` then quantises the graph with ONNX Runtime's dynamic quantisation: int8 weights for the
LSTM (``DynamicQuantizeLSTM``), the output layer and the embedding, activations quantised per call.
torchao is no alternative: its configs replace ``nn.Linear`` layers only (0.18), not an LSTM. Whether
int8 pays is measured in ``benchmarks/onnx_int8.py`` (``docs/onnx.md`` says what it gives).

The output directory follows ``files.py``'s rules: written beside, renamed into place, and a
directory holding anything but export files is refused.
"""

from __future__ import annotations

import contextlib
import copy
import json
import logging
import os
import tempfile
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import Tensor, nn

from nlp_lstm import tasks
from nlp_lstm.checkpoint import ModelBundle
from nlp_lstm.errors import NlpLstmError, UsageError
from nlp_lstm.files import NotOurFiles, atomic_directory
from nlp_lstm.model import Classifier, LanguageModel
from nlp_lstm.tokenizer import CharTokenizer, SubwordTokenizer

ONNX_FILE = "model.onnx"
TOKENIZER_FILE = "tokenizer.json"
LABELS_FILE = "labels.json"
SIGNATURE_FILE = "signature.json"
SPELLING_FILE = "spelling.json"  # a subword tokenizer's speller, when it has one
EXPORT_FILES = frozenset({ONNX_FILE, TOKENIZER_FILE, LABELS_FILE, SIGNATURE_FILE, SPELLING_FILE})
SIGNATURE_VERSION = 1
OPSET = 18  # what both exporters write and ONNX Runtime 1.17+ runs
INSTALL_HINT = "install the export extra: pip install 'nlp-lstm[onnx]'"


class ExportError(NlpLstmError):
    """A model cannot be exported, or its export does not match it."""


class LanguageModelStep(nn.Module):
    """``(ids (B, T), h, c) -> (logits (B, V) of the last step, h, c)``: T is 1 for a step, longer to prime a prompt."""

    def __init__(self, model: LanguageModel):
        super().__init__()
        self.model = model

    def forward(self, ids: Tensor, h: Tensor, c: Tensor) -> tuple[Tensor, Tensor, Tensor]:
        logits, (h, c) = self.model(ids, (h, c))
        return logits[:, -1], h, c


def _lm_example(model: LanguageModel, batch: int, steps: int) -> tuple[Tensor, Tensor, Tensor]:
    config = model.config
    generator = torch.Generator().manual_seed(0)
    ids = torch.randint(2, config.vocab_size, (batch, steps), generator=generator)
    h = torch.randn(config.num_layers, batch, config.hidden_size, generator=generator)
    return ids, h, torch.randn(h.shape, generator=generator)


def _classifier_example(model: Classifier, batch: int, steps: int) -> tuple[Tensor, Tensor]:
    generator = torch.Generator().manual_seed(0)
    lengths = torch.randint(1, steps + 1, (batch,), generator=generator)
    lengths[0] = steps  # the longest text fills the batch, as a collated batch does
    ids = torch.randint(2, model.config.vocab_size, (batch, steps), generator=generator)
    ids[torch.arange(steps)[None, :] >= lengths[:, None]] = model.config.pad_id  # (B, T) right-padded
    return ids, lengths


KINDS: dict[str, dict[str, Any]] = {
    tasks.LM: {
        "inputs": ["ids", "h", "c"],
        "outputs": ["logits", "h_out", "c_out"],
        "axes": {"ids": {0: "batch", 1: "time"}, "h": {1: "batch"}, "c": {1: "batch"}},
        "output_axes": {"logits": {0: "batch"}, "h_out": {1: "batch"}, "c_out": {1: "batch"}},
        "example": _lm_example,
    },
    tasks.CLASSIFIER: {
        "inputs": ["ids", "lengths"],
        "outputs": ["logits"],
        "axes": {"ids": {0: "batch", 1: "time"}, "lengths": {0: "batch"}},
        "output_axes": {"logits": {0: "batch"}},
        "example": _classifier_example,
    },
}


def _dynamo_export(module: nn.Module, example: tuple[Tensor, ...], spec: dict[str, Any], path: Path) -> None:
    dims: dict[str, Any] = {}
    shapes = {
        name: {axis: dims.setdefault(label, torch.export.Dim(label)) for axis, label in axes.items()}
        for name, axes in spec["axes"].items()
    }
    exporter_log = logging.getLogger("torch.onnx")
    level = exporter_log.level
    exporter_log.setLevel(logging.ERROR)  # "torchvision is not installed" and the like are not ours to print
    try:
        with warnings.catch_warnings(), open(os.devnull, "w") as devnull, contextlib.redirect_stdout(devnull):
            warnings.simplefilter("ignore")  # and neither are its progress lines and warnings
            program = torch.onnx.export(
                module, example, dynamo=True, input_names=spec["inputs"], output_names=spec["outputs"],
                dynamic_shapes=shapes, opset_version=OPSET, verbose=False,
            )  # fmt: skip
    finally:
        exporter_log.setLevel(level)
    program.save(str(path), external_data=False)


def _torchscript_export(module: nn.Module, example: tuple[Tensor, ...], spec: dict[str, Any], path: Path) -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # its deprecation notice: it is the fallback, chosen knowingly
        torch.onnx.export(
            module, example, str(path), dynamo=False, input_names=spec["inputs"], output_names=spec["outputs"],
            dynamic_axes={**spec["axes"], **spec["output_axes"]}, opset_version=OPSET,
        )  # fmt: skip


def _largest_difference(module: nn.Module, path: Path, example: tuple[Tensor, ...], spec: dict[str, Any]) -> float:
    """Max |ONNX Runtime − torch| over the outputs for ``example``; inf where the graph cannot run it."""
    import onnxruntime

    options = onnxruntime.SessionOptions()
    options.log_severity_level = 4  # a frozen axis is an expected failure here: no error lines on stderr
    session = onnxruntime.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
    with torch.no_grad():
        expected = module(*example)
    expected = expected if isinstance(expected, tuple) else (expected,)
    try:
        got = session.run(None, {name: tensor.numpy() for name, tensor in zip(spec["inputs"], example)})
    except Exception:  # onnxruntime's own error type: a frozen axis fails here
        return float("inf")
    return max(float(np.abs(g - e.numpy()).max()) for g, e in zip(got, expected))


def write_onnx(module: nn.Module, kind: str, path: Path, tolerance: float = 1e-4) -> dict[str, str]:
    """Export ``module`` to ``path`` and check it at unseen shapes; returns which exporter wrote it and why."""
    spec = KINDS[kind]
    module.eval()
    model = module_model(module)
    # The graph is traced at (2, 5) and checked at shapes it never saw: one row of one token, and three rows of nine.
    example, probes = spec["example"](model, 2, 5), [spec["example"](model, b, t) for b, t in ((1, 1), (3, 9))]
    reason = ""
    try:
        _dynamo_export(module, example, spec, path)
        worst = max(_largest_difference(module, path, probe, spec) for probe in probes)
        if worst <= tolerance:
            return {"exporter": "dynamo", "torch": torch.__version__}
        reason = (
            "the dynamo exporter's graph fails at a batch or length other than the traced one (an axis frozen at "
            "the traced shape, as in pytorch/pytorch#191855)"
            if worst == float("inf")
            else f"the dynamo exporter's graph differs from torch by {worst:.3g} at a batch or length other than the traced one"
        )
    except Exception as error:  # the exporter's own error types, from torch.export, onnxscript or onnx
        reason = f"the dynamo exporter failed: {type(error).__name__}: {str(error).splitlines()[0] if str(error) else ''}"
    _torchscript_export(module, example, spec, path)
    worst = max(_largest_difference(module, path, probe, spec) for probe in probes)
    if worst > tolerance:
        raise ExportError(f"neither ONNX exporter matches this model (largest difference {worst:.3g}); please report it")
    return {"exporter": "torchscript", "torch": torch.__version__, "why": reason}


def module_model(module: nn.Module) -> nn.Module:
    """The saved model a wrapper holds (the LM's step), whose config the examples read."""
    return module.model if isinstance(module, LanguageModelStep) else module


def tokenizer_description(saved: ModelBundle) -> tuple[dict[str, Any], dict[str, Any]]:
    """The tokenizer file's content and what a reader needs to know of it.

    A subword vocabulary is written as the ``tokenizers`` library's own JSON, which its Rust,
    Python and JavaScript bindings load as it is; a character vocabulary is a list of characters.
    """
    tokenizer = saved.tokenizer
    data = tokenizer.to_dict()
    info = {"type": data["type"], "pad_id": tokenizer.pad_id, "unk_id": tokenizer.unk_id, "vocab_size": tokenizer.vocab_size}
    if isinstance(tokenizer, CharTokenizer):
        info["rule"] = "id of chars[i] is i + 2; ids 0 and 1 are <pad> and <unk>; an unseen character is <unk>"
        return data, info
    special = isinstance(tokenizer, SubwordTokenizer)
    info["rule"] = "tokenizers JSON; encode without special tokens" + ("" if special else " ([CLS], [SEP] are not read)")
    if "spelling" in data:
        info["spelling"] = (
            f"{SPELLING_FILE}: before encoding, a word unknown to its words and to the vocabulary becomes its most "
            "frequent word one edit away (nlp_lstm.spelling)"
        )
    return data["tokenizer"], info


def signature(saved: ModelBundle, exporter: dict[str, str], tokenizer: dict[str, Any]) -> dict[str, Any]:
    """What the inputs and outputs mean, for a program in any language."""
    config = saved.config
    common = {"format_version": SIGNATURE_VERSION, "kind": saved.kind, "file": ONNX_FILE, "opset": OPSET, **exporter}
    if saved.kind == tasks.LM:
        state = f"float32 (num_layers={config.num_layers}, batch, hidden_size={config.hidden_size})"
        return {
            **common,
            "inputs": {"ids": "int64 (batch, time): token ids; time 1 for a step, the prompt's length to prime", "h": state, "c": state},
            "outputs": {"logits": f"float32 (batch, vocab_size={config.vocab_size}): next-token logits after the last id", "h_out": state, "c_out": state},
            "initial_state": "zeros for h and c",
            "sampling": {"banned_ids": sorted(set(saved.tokenizer.special_ids)), "empty_prompt": "\n", "prompt_context": 2000},
            "tokenizer": tokenizer,
        }  # fmt: skip
    from nlp_lstm.prediction import DEFAULT_INPUTS

    return {
        **common,
        "inputs": {"ids": "int64 (batch, time): token ids, right-padded with pad_id", "lengths": "int64 (batch,): real tokens per row, >= 1"},
        "outputs": {"logits": f"float32 (batch, num_classes={config.num_classes}): softmax gives the class probabilities"},
        "input_policy": {**DEFAULT_INPUTS, **(saved.inputs or {}), "blank": "a blank text (empty or whitespace) gets no label"},
        "labels_file": LABELS_FILE,
        "tokenizer": tokenizer,
    }  # fmt: skip


def _remove_export(directory: Path) -> None:
    """Delete only the export's own files, then the directory if nothing else is left in it."""
    for name in EXPORT_FILES:
        with contextlib.suppress(FileNotFoundError):
            (directory / name).unlink()
    with contextlib.suppress(OSError):
        directory.rmdir()


def check_export_replaceable(directory: Path) -> None:
    """Refuse a path that is not absent, empty, or a directory of export files only."""
    if not directory.exists():
        return
    if not directory.is_dir():
        raise NotOurFiles(f"{directory}: is not a directory; choose another --output")
    strays = sorted(p.name for p in directory.iterdir() if p.name not in EXPORT_FILES or not p.is_file() or p.is_symlink())
    if strays:
        raise NotOurFiles(f"{directory}: holds {', '.join(strays[:3])}, not written by nlp-lstm export; choose another --output")


def quantize_int8(source: Path, target: Path) -> dict[str, Any]:
    """``source``'s graph with int8 weights at ``target``; what was done, for ``signature.json``.

    ONNX Runtime's pre-processing folds the exporter's gate reordering (Slice/Concat of the weights) into
    constants first: without it the LSTM's weights are not initializers and the LSTM stays float32.
    Its symbolic shape inference fails on the classifier's graph and is skipped; ONNX's own still runs.
    """
    import onnxruntime
    from onnxruntime.quantization import QuantType, quantize_dynamic
    from onnxruntime.quantization.shape_inference import quant_pre_process

    folded = source.with_name("folded.onnx")
    quantizer_log = logging.getLogger()  # the quantiser warns through the root logger about what it leaves float
    level = quantizer_log.level
    quantizer_log.setLevel(logging.ERROR)
    try:
        quant_pre_process(str(source), str(folded), skip_symbolic_shape=True)
        quantize_dynamic(str(folded), str(target), weight_type=QuantType.QInt8)
    finally:
        quantizer_log.setLevel(level)
        folded.unlink(missing_ok=True)
    return {
        "weights": "int8",
        "quantization": f"onnxruntime {onnxruntime.__version__} quantize_dynamic, QInt8 weights per tensor, after quant_pre_process",
    }


def export_onnx(saved: ModelBundle, output: str | os.PathLike[str], int8: bool = False) -> Path:
    """Write ``saved`` as an ONNX export directory at ``output`` (see ``docs/onnx.md``); returns its path.

    ``int8``: int8 weights by ONNX Runtime's dynamic quantisation, smaller; faster or not as
    ``docs/onnx.md`` records (outputs differ from float32 by the quantisation's error).
    """
    if not isinstance(saved, ModelBundle):
        raise UsageError(f"export_onnx takes a model loaded by nlp_lstm.load_model(NAME_OR_PATH), got {type(saved).__name__}")
    model = saved.model
    if type(model) not in (LanguageModel, Classifier):
        raise UsageError(
            f"{saved.path or 'this model'}: only a single language model or classifier exports; an ensemble does not"
        )
    if saved.regression:  # the runtime reads the output as class probabilities; a score would come out as one
        raise UsageError(f"{saved.path or 'this model'}: a regression model (--problem regression) does not export yet")
    try:
        import onnx  # noqa: F401 - the dynamo exporter needs onnx and onnxscript, the check onnxruntime
        import onnxruntime  # noqa: F401
        import onnxscript  # noqa: F401
    except ImportError as error:
        raise UsageError(f"export needs {error.name}; {INSTALL_HINT}") from None
    model = copy.deepcopy(model).float().cpu().eval()  # the caller's model keeps its device, dtype and mode
    module = LanguageModelStep(model) if saved.kind == tasks.LM else model
    tokenizer, info = tokenizer_description(saved)
    with atomic_directory(Path(output), check_export_replaceable, _remove_export) as staging:
        if int8:
            with tempfile.TemporaryDirectory() as scratch:
                exporter = write_onnx(module, saved.kind, Path(scratch) / ONNX_FILE)
                exporter.update(quantize_int8(Path(scratch) / ONNX_FILE, staging / ONNX_FILE))
        else:
            exporter = {**write_onnx(module, saved.kind, staging / ONNX_FILE), "weights": "float32"}
        (staging / TOKENIZER_FILE).write_text(json.dumps(tokenizer, ensure_ascii=False), encoding="utf-8")
        if "spelling" in info:  # the speller's own dictionary, not a second serialisation of the whole tokenizer
            spelling = saved.tokenizer.speller.to_dict()
            (staging / SPELLING_FILE).write_text(json.dumps(spelling, ensure_ascii=False), encoding="utf-8")
        if saved.kind == tasks.CLASSIFIER:
            labels = saved.labels or [str(i) for i in range(saved.config.num_classes)]
            (staging / LABELS_FILE).write_text(json.dumps(labels, ensure_ascii=False), encoding="utf-8")
        (staging / SIGNATURE_FILE).write_text(
            json.dumps(signature(saved, exporter, info), indent=1, ensure_ascii=False), encoding="utf-8"
        )
    return Path(output)
