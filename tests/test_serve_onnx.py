"""``nlp-lstm serve --runtime onnx``: a real server process over two exports, which never imports torch or transformers."""

import json
import signal
from pathlib import Path

import pytest

httpx = pytest.importorskip("httpx", reason="the test extra has httpx")
pytest.importorskip("fastapi", reason="the test extra has the serve extra's fastapi and uvicorn")
pytest.importorskip("onnxruntime")
pytest.importorskip("onnxscript")

from test_serve import Served, post  # noqa: E402
from typer.testing import CliRunner  # noqa: E402

import nlp_lstm  # noqa: E402
from nlp_lstm.cli import app  # noqa: E402

pytestmark = pytest.mark.slow
ROOT_MODELS = Path(__file__).resolve().parent.parent / "checkpoints"

# Loaded in every Python process the server starts (PYTHONPATH): at exit it writes which heavy modules were imported.
WATCH = """
import atexit, json, os, sys
def _write():
    with open(os.environ["NLP_LSTM_TEST_IMPORTED"], "w") as handle:
        json.dump(sorted(m for m in ("torch", "transformers") if m in sys.modules), handle)
atexit.register(_write)
"""


@pytest.fixture(scope="module")
def exports(tmp_path_factory):
    root = tmp_path_factory.mktemp("exports")
    for kind, name in (("lm", "shakespeare-char"), ("classifier", "sentiment")):
        nlp_lstm.export_onnx(nlp_lstm.load_model(ROOT_MODELS / name, device="cpu"), root / kind)
    return root


@pytest.fixture(scope="module")
def onnx_server(exports, tmp_path_factory):
    watch = tmp_path_factory.mktemp("watch")
    (watch / "sitecustomize.py").write_text(WATCH)
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("PYTHONPATH", str(watch))
        patch.setenv("NLP_LSTM_TEST_IMPORTED", str(watch / "imported.json"))
        served = Served(
            "--runtime", "onnx", "--classifier", exports / "classifier", "--generator", exports / "lm", "--max-texts", 4
        )  # fmt: skip
    yield served, watch / "imported.json"
    served.stop()


def test_serves_classify_and_generate_without_torch(onnx_server, exports):
    served, imported = onnx_server
    classified = post(served, "/v1/classify", {"texts": ["a gorgeous, heartfelt film", "  ", "a tedious, joyless mess"]})
    assert classified.status_code == 200
    assert [p["label"] for p in classified.json()["predictions"]] == ["positive", None, "negative"]
    generated = post(served, "/v1/generate", {"prompt": "ROMEO:", "length": 40, "temperature": 0})
    assert generated.status_code == 200 and len(generated.json()["continuation"]) == 40
    streamed = httpx.post(served.url + "/v1/generate", json={"length": 10, "stream": True, "seed": 1}, timeout=60)
    assert streamed.status_code == 200 and streamed.text.endswith("event: done\ndata: {}\n\n")
    listed = {m["kind"]: m for m in httpx.get(served.url + "/v1/models").json()}
    assert listed["classifier"]["labels"] == ["negative", "positive"] and listed["lm"]["runtime"] == "onnx"
    served.process.send_signal(signal.SIGINT)  # uvicorn stops, then the interpreter exits and runs atexit
    served.process.communicate(timeout=60)
    assert json.loads(imported.read_text()) == []


@pytest.fixture(scope="module")
def limits_server(exports):
    served = Served("--runtime", "onnx", "--classifier", exports / "classifier", "--generator", exports / "lm", "--max-texts", 2)
    yield served
    served.stop()


@pytest.mark.parametrize(
    ("body", "field"),
    [({"top_k": 5}, "top_k"), ({"top_p": 0.9}, "top_p"), ({"adapt": "Some text to read first."}, "adapt")],
)
def test_what_only_torch_does_is_refused_naming_the_field(limits_server, body, field):
    answer = post(limits_server, "/v1/generate", {"prompt": "ROMEO:", "length": 5, **body})
    assert answer.status_code == 400
    assert answer.json()["error"].startswith(f"{field}: the onnx runtime draws one sample by temperature")


def test_the_limits_and_errors_are_the_torch_servers(limits_server):
    assert post(limits_server, "/v1/classify", {"texts": ["a", "b", "c"]}).status_code == 413
    assert post(limits_server, "/v1/generate", {"temperature": -1}).json()["error"].startswith("temperature")
    assert post(limits_server, "/v1/classify", {"text": "a"}).status_code == 422
    inspect = httpx.get(limits_server.url + "/v1/inspect", params={"text": "hi"}, timeout=60)
    assert inspect.status_code == 400 and "--runtime onnx" in inspect.json()["error"]


def test_the_command_line_refuses_a_wrong_setup_in_one_line(exports):
    runner = CliRunner()
    missing = runner.invoke(app, ["serve", "--runtime", "onnx", "--classifier", str(exports / "classifier")])
    assert missing.exit_code == 2 and "--generator DIR" in missing.output and "Traceback" not in missing.output
    swapped = ["serve", "--runtime", "onnx", "--classifier", str(exports / "lm"), "--generator", str(exports / "classifier")]
    wrong = runner.invoke(app, swapped)
    assert wrong.exit_code == 2 and "is an exported lm" in wrong.output
