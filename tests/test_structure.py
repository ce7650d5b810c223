"""Imports flow one way down the module table of the design notes, and --help stays light."""

import ast
import subprocess
import sys
from pathlib import Path

PACKAGE = Path(__file__).resolve().parent.parent / "nlp_lstm"
# Each module may import only the project modules listed for it.
ALLOWED = {
    "errors": set(),
    "files": {"errors"},
    "run_directory": {"errors", "files"},
    "catalog": {"errors", "files", "tasks"},
    "plots": {"errors", "files"},
    "hub": {"catalog", "errors", "tasks"},
    "config": {"errors"},
    "forecast_config": {"config"},
    "tasks": set(),  # the table of tasks names higher layers' code as strings, imported on first use
    "tokenizer": {"errors", "files"},
    "lstm": set(),
    "recurrent_dropout": set(),
    "model": {"config", "lstm", "recurrent_dropout", "tasks"},
    "forecast_model": {"config", "model"},
    "forecast_metrics": set(),
    "forecasting": {"checkpoint", "data.series", "errors", "forecast_metrics", "forecast_model", "models", "plots"},
    "forecast_training": {
        "checkpoint",
        "data.series",
        "distributed",
        "forecast_config",
        "forecast_metrics",
        "forecast_model",
        "forecasting",
        "loop",
        "train",
    },
    "data": set(),
    "data.token_store": {"tokenizer"},
    "data.splits": {"errors"},
    "data.builtin": {"data.splits", "errors"},
    "data.series": {"data.text_check", "errors"},
    "data.sources": {"data.builtin", "data.splits", "data.text_check", "errors", "files"},
    "data.batching": {"data.token_store", "errors", "tokenizer"},
    "data.text_check": {"errors", "files"},
    "data.tables": {"data.text_check", "errors", "files"},
    "checkpoint": {"catalog", "config", "errors", "files", "hub", "model", "tasks", "tokenizer"},
    "dynamic": {"config", "data.token_store", "model"},
    "metrics": {"checkpoint", "data.batching", "dynamic", "errors", "model", "prediction"},
    "adaptation": {"checkpoint", "config", "data.batching", "data.sources", "dynamic", "errors", "metrics", "tasks"},
    "arguments": {"checkpoint", "errors", "tasks"},
    "scores": {"data.sources", "data.splits", "errors"},
    "evaluate": {
        "adaptation",
        "arguments",
        "checkpoint",
        "config",
        "data.sources",
        "data.splits",
        "dynamic",
        "metrics",
        "prediction",
        "scores",
        "tasks",
    },
    "sampling": {"arguments", "checkpoint", "config", "stepping", "tasks"},
    "stepping": {"model"},
    "vocabulary_growth": {"model", "tokenizer"},
    "distributed": {"errors"},
    "devices": {"errors"},
    "precision": {"errors"},
    "train": {
        "checkpoint",
        "config",
        "devices",
        "distributed",
        "errors",
        "files",
        "plots",
        "precision",
        "run_directory",
        "data.token_store",
        "tokenizer",
    },
    "loop": {"checkpoint", "distributed", "train"},
    "lm_training": {
        "checkpoint",
        "config",
        "data.batching",
        "data.sources",
        "distributed",
        "hub",
        "metrics",
        "loop",
        "model",
        "precision",
        "tokenizer",
        "train",
        "vocabulary_growth",
        "tasks",
    },
    "teacher": set(),
    "teacher.base": {"catalog", "data.token_store", "errors", "files"},
    "teacher.model": {"catalog", "checkpoint", "errors", "files", "tasks", "teacher.base", "teacher.strict", "tokenizer"},
    "teacher.strict": {"checkpoint", "files"},
    "teacher.labels": {"data.token_store", "errors", "files", "precision", "prediction", "teacher.model"},
    "distillation": {"config", "data.sources", "data.splits", "errors", "files", "teacher.base", "teacher.labels", "tokenizer"},
    "teacher.fine_tune": {
        "classifier_training",
        "config",
        "data.batching",
        "data.sources",
        "distributed",
        "loop",
        "precision",
        "teacher.model",
        "train",
        "tasks",
    },
    "models": {"checkpoint", "errors", "hub", "tasks", "teacher.base", "teacher.model"},
    "classifier_training": {
        "checkpoint",
        "distillation",
        "config",
        "data.batching",
        "data.sources",
        "data.splits",
        "data.token_store",
        "distributed",
        "hub",
        "metrics",
        "loop",
        "model",
        "precision",
        "prediction",
        "scores",
        "tokenizer",
        "train",
        "tasks",
    },
    "prediction": {"arguments", "checkpoint", "config", "data.batching", "errors", "tasks"},
    "file_classification": {"checkpoint", "data.tables", "errors", "prediction"},
    "ensemble": {"checkpoint", "config", "data.builtin", "devices", "errors", "evaluate", "files", "model", "tasks"},
    "inspection": {"checkpoint", "errors"},
    "behaviour": set(),
    "behaviour.suite": {"errors"},
    "behaviour.perturb": set(),
    "behaviour.scoring": set(),
    "behaviour.runner": {
        "arguments",
        "behaviour.perturb",
        "behaviour.scoring",
        "behaviour.suite",
        "checkpoint",
        "data.sources",
        "errors",
        "prediction",
        "tasks",
    },
    "export": {"checkpoint", "errors", "files", "model", "prediction", "tasks", "tokenizer"},
    "runtime": {"runtime.encoding", "runtime.model"},  # never torch, nor a module that imports it (tests/test_onnx.py)
    "runtime.encoding": {"errors"},
    "runtime.model": {"arguments", "errors", "runtime.encoding", "tasks"},
    "__init__": {
        "adaptation",
        "checkpoint",
        "prediction",
        "config",
        "data.sources",
        "errors",
        "evaluate",
        "sampling",
        "stepping",
        "lstm",
        "model",
        "tokenizer",
        "train",
        "lm_training",
        "classifier_training",
        "inspection",
        "ensemble",
        "models",
        "teacher.fine_tune",
        "behaviour.runner",
        "export",
        "runtime",
        "forecast_model",
        "forecast_config",
        "forecast_training",
        "forecasting",
        "data.series",
    },
    "serve": set(),
    "serve.settings": {"errors"},
    "serve.batcher": set(),
    "serve.guards": {"serve.settings"},
    "serve.connections": set(),
    "serve.generation": {"__init__", "adaptation", "config"},
    "serve.backends": {"__init__", "catalog", "devices", "errors", "runtime", "serve.generation", "serve.settings", "tasks"},
    "serve.app": {
        "__init__",
        "config",
        "serve.backends",
        "serve.batcher",
        "serve.generation",
        "serve.guards",
        "serve.settings",
    },
    "cli": {
        "cli.app",
        "cli.evaluation",
        "cli.export",
        "cli.forecast",
        "cli.inference",
        "cli.model_files",
        "cli.serve",
        "cli.training",
    },
    "cli.forecast": {"__init__", "cli.app", "cli.inference", "cli.options", "cli.render", "errors", "forecast_config"},
    "cli.export": {"__init__", "cli.app", "cli.options", "errors", "export", "tasks"},
    "cli.onnx_runtime": {"errors", "runtime"},
    "cli.serve": {
        "cli.app",
        "cli.inference",
        "cli.onnx_runtime",
        "cli.options",
        "errors",
        "serve.app",
        "serve.connections",
        "serve.guards",
        "serve.settings",
    },
    "cli.adapting": {"__init__", "cli.render", "config", "data.text_check", "errors", "files"},
    "cli.app": {"__init__", "errors"},
    "cli.options": {"config", "errors", "hub"},
    "cli.render": {"__init__", "plots"},
    "cli.training": {"__init__", "cli.app", "cli.options", "cli.render", "config", "tasks"},
    "cli.inference": {
        "__init__",
        "arguments",
        "cli.adapting",
        "cli.app",
        "cli.onnx_runtime",
        "cli.options",
        "cli.render",
        "config",
        "data.tables",
        "data.text_check",
        "devices",
        "errors",
        "file_classification",
        "tasks",
    },
    "cli.evaluation": {
        "__init__",
        "cli.app",
        "cli.behaviour",
        "cli.inference",
        "cli.options",
        "cli.render",
        "config",
        "errors",
        "plots",
        "tasks",
    },
    "cli.behaviour": {"__init__", "behaviour.suite", "cli.inference", "tasks"},
    "cli.model_files": {"__init__", "catalog", "cli.app", "cli.options", "cli.render", "devices", "errors", "hub", "plots"},
    "__main__": {"cli"},
}


def module_name(path: Path) -> str:
    """``data/sources.py`` -> ``data.sources``; a package's ``__init__.py`` is the package (``data``)."""
    parts = path.relative_to(PACKAGE).with_suffix("").parts
    if parts[-1] == "__init__" and len(parts) > 1:
        parts = parts[:-1]
    return ".".join(parts)


def module_path(name: str) -> Path:
    path = PACKAGE.joinpath(*name.split("."))
    return path / "__init__.py" if path.is_dir() else path.with_suffix(".py")


def is_module(name: str) -> bool:
    path = PACKAGE.joinpath(*name.split("."))
    return path.is_dir() or path.with_suffix(".py").is_file()


def project_imports(path: Path) -> set[str]:
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("nlp_lstm"):
            base = node.module.removeprefix("nlp_lstm").lstrip(".")
            if base:  # "from nlp_lstm.data import splits" imports the module data.splits
                found.update(f"{base}.{a.name}" if is_module(f"{base}.{a.name}") else base for a in node.names)
            else:  # "from nlp_lstm import x": a submodule, or a name of the public API in __init__
                found.update(a.name if is_module(a.name) else "__init__" for a in node.names)
        elif isinstance(node, ast.Import):
            found.update(
                a.name.removeprefix("nlp_lstm.") if "." in a.name else "__init__"
                for a in node.names
                if a.name.startswith("nlp_lstm")
            )
    return found


def package_modules() -> set[str]:
    return {module_name(p) for p in PACKAGE.rglob("*.py")}


def test_every_module_is_in_the_table():
    assert package_modules() == set(ALLOWED)


def test_imports_flow_one_way():
    for name, allowed in ALLOWED.items():
        imported = project_imports(module_path(name)) - {name}
        assert imported <= allowed, f"{name}.py imports {sorted(imported - allowed)}"


def test_only_data_sources_imports_datasets_and_nothing_unpickles():
    for path in PACKAGE.rglob("*.py"):
        tree = ast.parse(path.read_text())
        modules = {a.name.split(".")[0] for n in ast.walk(tree) if isinstance(n, ast.Import) for a in n.names}
        modules |= {n.module.split(".")[0] for n in ast.walk(tree) if isinstance(n, ast.ImportFrom) and n.module}
        if module_name(path) != "data.sources":
            assert "datasets" not in modules, path.name
        assert not modules & {"pickle", "dill", "cloudpickle", "joblib"}, path.name
        calls = {ast.unparse(n.func) for n in ast.walk(tree) if isinstance(n, ast.Call)}
        assert "torch.load" not in calls, path.name


def test_only_serve_imports_the_web_stack():
    web = {"fastapi", "uvicorn", "starlette", "pydantic"}
    for path in PACKAGE.rglob("*.py"):
        tree = ast.parse(path.read_text())
        modules = {a.name.split(".")[0] for n in ast.walk(tree) if isinstance(n, ast.Import) for a in n.names}
        modules |= {n.module.split(".")[0] for n in ast.walk(tree) if isinstance(n, ast.ImportFrom) and n.module}
        if not module_name(path).startswith("serve") and module_name(path) != "cli.serve":
            assert not modules & web, path.name


def test_public_functions_are_not_shadowed_by_submodules():
    code = (
        "import nlp_lstm, nlp_lstm.evaluate, nlp_lstm.classifier_training, nlp_lstm.cli; "
        "print(all(callable(getattr(nlp_lstm, n)) for n in nlp_lstm.__all__ if n != '__version__'))"
    )
    assert subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.strip() == "True"


def test_help_does_not_import_torch_or_datasets():
    code = "import sys; from nlp_lstm.cli import app; print(*(m in sys.modules for m in ('torch', 'datasets', 'fastapi', 'pyarrow')))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.split() == ["False", "False", "False", "False"]
