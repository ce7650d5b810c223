"""nlp-lstm: LSTM language models, text generation and text classification, from one command line or one import.

The public API is re-exported here. Names resolve on first use (PEP 562), so
``import nlp_lstm`` and ``nlp-lstm --help`` stay fast and do not import torch.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

_EXPORTS = {
    "NlpLstmError": "nlp_lstm.errors",
    "UsageError": "nlp_lstm.errors",
    "Interrupted": "nlp_lstm.errors",
    "ModelConfig": "nlp_lstm.config",
    "EncoderConfig": "nlp_lstm.config",
    "ClassifierTrainConfig": "nlp_lstm.train_config",
    "TrainConfig": "nlp_lstm.train_config",
    "SampleConfig": "nlp_lstm.config",
    "DynamicConfig": "nlp_lstm.config",
    "CharTokenizer": "nlp_lstm.tokenizer",
    "SubwordTokenizer": "nlp_lstm.tokenizer",
    "ReferenceLSTM": "nlp_lstm.lstm",
    "Encoder": "nlp_lstm.model",
    "LanguageModel": "nlp_lstm.model",
    "Classifier": "nlp_lstm.model",
    "ClassifierEnsemble": "nlp_lstm.model",
    "build_ensemble": "nlp_lstm.ensemble",
    "load_text_splits": "nlp_lstm.data.sources",
    "load_labelled_splits": "nlp_lstm.data.sources",
    "read_texts": "nlp_lstm.data.sources",
    "ModelBundle": "nlp_lstm.checkpoint",
    "load_model": "nlp_lstm.loading",
    "shipped_model": "nlp_lstm.checkpoint",
    "from_pretrained": "nlp_lstm.loading",
    "save_model": "nlp_lstm.checkpoint:save",
    "evaluate_language_model": "nlp_lstm.evaluate",
    "adapt": "nlp_lstm.adaptation",
    "evaluate_classifier": "nlp_lstm.evaluate",
    "evaluate_behaviour": "nlp_lstm.behaviour.runner",
    "classify": "nlp_lstm.prediction",
    "Prediction": "nlp_lstm.prediction",
    "generate": "nlp_lstm.sampling",
    "generate_samples": "nlp_lstm.sampling",
    "generate_stream": "nlp_lstm.sampling",
    "train": "nlp_lstm.training",
    "RunOptions": "nlp_lstm.training.run",
    "train_language_model": "nlp_lstm.training.language_model",
    "train_classifier": "nlp_lstm.training.classifier",
    "train_teacher": "nlp_lstm.training.teacher",
    "TeacherTrainConfig": "nlp_lstm.train_config",
    "Callback": "nlp_lstm.training.run",
    "TrainResult": "nlp_lstm.training.run",
    "inspect_gates": "nlp_lstm.inspection",
    "Inspection": "nlp_lstm.inspection",
    "render_gates_html": "nlp_lstm.inspection:render_html",
    "render_gates_png": "nlp_lstm.inspection:render_png",
    "render_gates_terminal": "nlp_lstm.inspection:render_terminal",
    "export_onnx": "nlp_lstm.export",
    "load_exported": "nlp_lstm.runtime",
    "Forecaster": "nlp_lstm.forecast_model",
    "ForecastTrainConfig": "nlp_lstm.forecast_config",
    "train_forecaster": "nlp_lstm.training.forecaster",
    "forecast": "nlp_lstm.forecasting",
    "Forecast": "nlp_lstm.forecasting",
    "evaluate_forecaster": "nlp_lstm.forecasting",
    "plot_forecast": "nlp_lstm.forecasting",
    "read_series": "nlp_lstm.data.series",
}

__all__ = ["__version__", *_EXPORTS]


def __getattr__(name: str) -> Any:
    if name not in _EXPORTS:
        raise AttributeError(f"module 'nlp_lstm' has no attribute {name!r}")
    module_name, _, attribute = _EXPORTS[name].partition(":")
    value = getattr(importlib.import_module(module_name), attribute or name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(__all__)


if TYPE_CHECKING:
    from nlp_lstm.adaptation import adapt
    from nlp_lstm.behaviour.runner import evaluate_behaviour
    from nlp_lstm.checkpoint import ModelBundle, shipped_model
    from nlp_lstm.checkpoint import save as save_model
    from nlp_lstm.config import DynamicConfig, EncoderConfig, ModelConfig, SampleConfig
    from nlp_lstm.data.series import read_series
    from nlp_lstm.data.sources import load_labelled_splits, load_text_splits, read_texts
    from nlp_lstm.ensemble import build_ensemble
    from nlp_lstm.errors import Interrupted, NlpLstmError, UsageError
    from nlp_lstm.evaluate import evaluate_classifier, evaluate_language_model
    from nlp_lstm.export import export_onnx
    from nlp_lstm.forecast_config import ForecastTrainConfig
    from nlp_lstm.forecast_model import Forecaster
    from nlp_lstm.forecasting import Forecast, evaluate_forecaster, forecast, plot_forecast
    from nlp_lstm.inspection import Inspection, inspect_gates
    from nlp_lstm.inspection import render_html as render_gates_html
    from nlp_lstm.inspection import render_png as render_gates_png
    from nlp_lstm.inspection import render_terminal as render_gates_terminal
    from nlp_lstm.loading import from_pretrained, load_model
    from nlp_lstm.lstm import ReferenceLSTM
    from nlp_lstm.model import Classifier, ClassifierEnsemble, Encoder, LanguageModel
    from nlp_lstm.prediction import Prediction, classify
    from nlp_lstm.runtime import load_exported
    from nlp_lstm.sampling import generate, generate_samples, generate_stream
    from nlp_lstm.tokenizer import CharTokenizer, SubwordTokenizer
    from nlp_lstm.train_config import ClassifierTrainConfig, TeacherTrainConfig, TrainConfig
    from nlp_lstm.training import train
    from nlp_lstm.training.classifier import train_classifier
    from nlp_lstm.training.forecaster import train_forecaster
    from nlp_lstm.training.language_model import train_language_model
    from nlp_lstm.training.run import Callback, RunOptions, TrainResult
    from nlp_lstm.training.teacher import train_teacher
