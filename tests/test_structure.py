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
    "catalog": {"errors", "files"},
    "plots": {"errors", "files"},
    "hub": {"errors"},
    "config": {"errors"},
    "tokenizer": {"errors", "files"},
    "lstm": set(),
    "model": {"config", "lstm"},
    "token_store": {"tokenizer"},
    "data": {"errors", "files", "token_store", "tokenizer"},
    "checkpoint": {"catalog", "config", "errors", "files", "hub", "model", "tokenizer"},
    "evaluate": {"checkpoint", "data", "model", "prediction"},
    "sampling": {"checkpoint", "config", "stepping"},
    "stepping": {"model"},
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
        "token_store",
        "tokenizer",
    },
    "loop": {"checkpoint", "distributed", "train"},
    "lm_training": {
        "checkpoint",
        "config",
        "data",
        "distributed",
        "evaluate",
        "loop",
        "model",
        "precision",
        "tokenizer",
        "train",
    },
    "classifier_training": {
        "checkpoint",
        "config",
        "data",
        "distributed",
        "evaluate",
        "loop",
        "model",
        "precision",
        "prediction",
        "token_store",
        "tokenizer",
        "train",
    },
    "prediction": {"checkpoint", "config", "data", "errors"},
    "ensemble": {"checkpoint", "config", "data", "devices", "errors", "evaluate", "files", "model"},
    "inspection": {"checkpoint", "errors"},
    "__init__": {
        "checkpoint",
        "prediction",
        "config",
        "data",
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
    },
    "cli": {"__init__", "catalog", "devices", "files", "plots"},
    "__main__": {"cli"},
}


def project_imports(path: Path) -> set[str]:
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("nlp_lstm"):
            if "." in node.module:
                found.add(node.module.split(".")[1])
            else:  # "from nlp_lstm import x": a submodule, or a name of the public API in __init__
                found.update(a.name if (PACKAGE / f"{a.name}.py").exists() else "__init__" for a in node.names)
        elif isinstance(node, ast.Import):
            found.update(
                a.name.split(".")[1] if "." in a.name else "__init__" for a in node.names if a.name.startswith("nlp_lstm")
            )
    return found


def test_every_module_is_in_the_table():
    assert {p.stem for p in PACKAGE.glob("*.py")} == set(ALLOWED)


def test_imports_flow_one_way():
    for name, allowed in ALLOWED.items():
        imported = project_imports(PACKAGE / f"{name}.py") - {name}
        assert imported <= allowed, f"{name}.py imports {sorted(imported - allowed)}"


def test_only_data_imports_datasets_and_nothing_unpickles():
    for path in PACKAGE.glob("*.py"):
        tree = ast.parse(path.read_text())
        modules = {a.name.split(".")[0] for n in ast.walk(tree) if isinstance(n, ast.Import) for a in n.names}
        modules |= {n.module.split(".")[0] for n in ast.walk(tree) if isinstance(n, ast.ImportFrom) and n.module}
        if path.stem != "data":
            assert "datasets" not in modules, path.name
        assert not modules & {"pickle", "dill", "cloudpickle", "joblib"}, path.name
        calls = {ast.unparse(n.func) for n in ast.walk(tree) if isinstance(n, ast.Call)}
        assert "torch.load" not in calls, path.name


def test_public_functions_are_not_shadowed_by_submodules():
    code = (
        "import nlp_lstm, nlp_lstm.evaluate, nlp_lstm.classifier_training, nlp_lstm.cli; "
        "print(all(callable(getattr(nlp_lstm, n)) for n in nlp_lstm.__all__ if n != '__version__'))"
    )
    assert subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.strip() == "True"


def test_help_does_not_import_torch_or_datasets():
    code = "import sys; from nlp_lstm.cli import app; print('torch' in sys.modules, 'datasets' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.split() == ["False", "False"]
