"""Imports flow one way down the layers of docs/architecture.md, the public API's two lists agree, --help stays light."""

import ast
import re
import subprocess
import sys
from pathlib import Path

PACKAGE = Path(__file__).resolve().parent.parent / "nlp_lstm"
ARCHITECTURE = PACKAGE.parent / "docs" / "architecture.md"
LAYER_ROW = re.compile(r"^\| (\d)\. ([a-z ]+) \| (.*?) \|", re.M)  # | 4. storage | `catalog`, `teacher/`, ... | ...
LAYER_NAMES = ["base", "core model", "data", "storage", "inference", "training", "applications"]


def read_layers(text: str) -> list[tuple[str, tuple[int, str]]]:
    """The layer table of docs/architecture.md: (module or package, (layer number, layer name)) for each name a row holds.

    A row names modules in backticks; a package (``data/``) stands for itself and every module in it,
    except one that a row names itself (``teacher/labels``).
    """
    return [
        (name.strip("/").replace("/", "."), (int(number), layer))
        for number, layer, modules in LAYER_ROW.findall(text)
        for name in re.findall(r"`([\w/]+)`", modules)
    ]


ROWS = read_layers(ARCHITECTURE.read_text(encoding="utf-8"))
LAYERS = dict(ROWS)


def layer_of(name: str, layers: dict[str, tuple[int, str]] = LAYERS) -> tuple[int, str] | None:
    """The layer of module ``name``: its own row's, else that of its nearest package; None where no row names it."""
    parts = name.split(".")
    for end in range(len(parts), 0, -1):
        found = layers.get(".".join(parts[:end]))
        if found is not None:
            return found
    return None


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


def project_imports(source: str) -> set[str]:
    """The project modules ``source`` imports, at the top or inside functions (``__init__``: the public API)."""
    found = set()
    for node in ast.walk(ast.parse(source)):
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


def upward_imports(name: str, source: str, layers: dict[str, tuple[int, str]] = LAYERS) -> list[str]:
    """What module ``name``, whose code is ``source``, imports from a later layer (or from none), as messages."""
    own = layer_of(name, layers)
    found = []
    for imported in sorted(project_imports(source) - {name}):
        theirs = layer_of(imported, layers)
        if own is None or theirs is None or theirs[0] > own[0]:
            found.append(f"{name} ({own and own[1]}) imports {imported} ({theirs and theirs[1]})")
    return found


def test_every_module_has_a_layer_and_every_row_names_modules():
    unplaced = sorted(name for name in package_modules() if layer_of(name) is None)
    assert not unplaced, f"name {unplaced} in a row of the layer table of docs/architecture.md"
    assert sorted(name for name in LAYERS if not is_module(name)) == []  # the table names no module that is gone
    assert len(ROWS) == len(LAYERS), "a module is named in two rows of the layer table"
    assert [layer for _, layer in sorted(set(LAYERS.values()))] == LAYER_NAMES


def test_imports_flow_one_way():
    found = [line for name in sorted(package_modules()) for line in upward_imports(name, module_path(name).read_text())]
    assert found == [], "a module imports only from its own layer and earlier ones (docs/architecture.md)"


def test_an_upward_import_is_reported():
    # The check itself, fed modules that do not exist: one reaching up (inside a function too), one within bounds.
    upward = "import torch\n\ndef f():\n    from nlp_lstm.training.run import TrainingRun\n    from nlp_lstm import checkpoint\n"
    assert upward_imports("model", upward) == [
        "model (core model) imports checkpoint (storage)",
        "model (core model) imports training.run (training)",
    ]
    assert upward_imports("data.batching", "import nlp_lstm.cli.app\n") == ["data.batching (data) imports cli.app (applications)"]
    assert upward_imports("evaluate", "from nlp_lstm.data import splits\nfrom nlp_lstm.model import Encoder\n") == []
    assert upward_imports("brand_new", "from nlp_lstm import errors\n") == ["brand_new (None) imports errors (base)"]


def test_the_public_api_lists_agree():
    # _EXPORTS resolves names at run time, the TYPE_CHECKING block tells type checkers and editors: one list, twice.
    tree = ast.parse((PACKAGE / "__init__.py").read_text())
    (exports,) = (
        ast.literal_eval(n.value) for n in tree.body if isinstance(n, ast.Assign) and ast.unparse(n.targets[0]) == "_EXPORTS"
    )
    (block,) = (n for n in tree.body if isinstance(n, ast.If) and ast.unparse(n.test) == "TYPE_CHECKING")
    typed = {
        alias.asname or alias.name: f"{node.module}:{alias.name}"
        for node in block.body
        if isinstance(node, ast.ImportFrom)
        for alias in node.names
    }
    assert typed == {name: target if ":" in target else f"{target}:{name}" for name, target in exports.items()}


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
        "import nlp_lstm, nlp_lstm.evaluate, nlp_lstm.training.classifier, nlp_lstm.cli; "
        "print(all(callable(getattr(nlp_lstm, n)) for n in nlp_lstm.__all__ if n != '__version__'))"
    )
    assert subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.strip() == "True"


def test_help_does_not_import_torch_or_datasets():
    code = "import sys; from nlp_lstm.cli import app; print(*(m in sys.modules for m in ('torch', 'datasets', 'fastapi', 'pyarrow')))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.split() == ["False", "False", "False", "False"]
