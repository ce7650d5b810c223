"""A teacher directory is data from a stranger: it never runs code, and it is held to an LSTM directory's strictness.

A directory whose config.json has an ``auto_map`` pointing at a ``.py`` beside it is the Hugging Face
"custom code" mechanism: ``transformers`` asks on the terminal whether to run it, and a ``y`` on stdin
(or typed at a terminal) runs it. The code here writes a marker file; through every route that takes a
teacher or a base, with ``y`` on stdin and under a pseudo-terminal, the marker must never appear.

The teacher is a tiny BERT built from a config here (no download, no training: loading is what is tested).
"""

import json
import os
import pty
import select
import shutil
import socket
import struct
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

transformers = pytest.importorskip("transformers")

import nlp_lstm  # noqa: E402
from nlp_lstm.errors import NlpLstmError  # noqa: E402

VOCABULARY = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", "a", "bad", "film", "good"]
LABELS = ["negative", "positive"]
ENVIRONMENT = {**os.environ, "HF_HUB_OFFLINE": "1", "HF_DATASETS_OFFLINE": "1", "OMP_NUM_THREADS": "1"}


def write_teacher(directory: Path) -> Path:
    """A teacher directory as ``TeacherModel._save_pretrained`` lays it out: config.json with our block, weights, tokenizer."""
    from tokenizers import BertWordPieceTokenizer

    directory.mkdir(parents=True)
    BertWordPieceTokenizer({t: i for i, t in enumerate(VOCABULARY)}, lowercase=True).save(str(directory / "tokenizer.json"))
    config = transformers.BertConfig(
        vocab_size=len(VOCABULARY), hidden_size=16, num_hidden_layers=1, num_attention_heads=2, intermediate_size=32,
        max_position_embeddings=32, pad_token_id=0, num_labels=2,
    )  # fmt: skip
    torch.manual_seed(0)
    network = transformers.BertForSequenceClassification(config)
    network.config.nlp_lstm = {
        "kind": "teacher", "format_version": 1, "labels": LABELS, "inputs": {"max_length": 30, "keep": "both"}, "pad_id": 0,
    }  # fmt: skip
    network.save_pretrained(directory)
    (directory / "training.json").write_text("{}\n")
    return directory


@pytest.fixture(scope="module")
def teacher(tmp_path_factory) -> Path:
    return write_teacher(tmp_path_factory.mktemp("teacher") / "t")


def edit_config(directory: Path, **changes) -> None:
    path = directory / "config.json"
    config = json.loads(path.read_text())
    config.update(changes)
    path.write_text(json.dumps(config))


def with_custom_code(teacher: Path, target: Path, marker: Path, model_type: str) -> Path:
    """A copy of ``teacher`` whose config asks transformers to import evil.py, which writes ``marker``."""
    shutil.copytree(teacher, target)
    code = f"""open({str(marker)!r}, "w").write("ran")
from transformers import BertConfig, BertForSequenceClassification
class EvilConfig(BertConfig):
    model_type = {model_type!r}
class EvilModel(BertForSequenceClassification):
    config_class = EvilConfig
"""
    (target / "evil.py").write_text(code)
    auto_map = {"AutoConfig": "evil.EvilConfig", "AutoModelForSequenceClassification": "evil.EvilModel"}
    edit_config(target, model_type=model_type, auto_map=auto_map)
    return target


def labelled_csv(path: Path) -> Path:
    rows = [f"a good film {i},positive\na bad film {i},negative" for i in range(12)]
    path.write_text("text,label\n" + "\n".join(rows) + "\n")
    return path


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def routes(directory: Path, data: Path, output: Path) -> dict[str, list[str]]:
    """Every way a user can hand nlp-lstm a teacher or a base, as the command line to run."""
    cli = [sys.executable, "-m", "nlp_lstm"]
    api = (  # an API call that reports the library's own error in one line, as a program using it would
        "import nlp_lstm, sys\ntry:\n    nlp_lstm.{}(sys.argv[1])\n"
        "except nlp_lstm.NlpLstmError as error:\n    sys.exit(f'error: {{error}}')"
    )
    return {
        "classify": [*cli, "classify", "--model", str(directory), "a good film"],
        "evaluate": [*cli, "evaluate", "classifier", "--model", str(directory), "--dataset", str(data), "--split", "all"],
        "serve": [*cli, "serve", "--classifier", str(directory), "--port", str(free_port())],
        "train teacher": [*cli, "train", "teacher", "--base", str(directory), "--dataset", str(data), "-o", str(output / "t")],
        "train classifier": [*cli, "train", "classifier", "--teacher", str(directory), "--dataset", str(data), "-o", str(output / "s")],
        "load_model": [sys.executable, "-c", api.format("load_model"), str(directory)],
        "from_pretrained": [sys.executable, "-c", api.format("from_pretrained"), str(directory)],
    }  # fmt: skip


def run_with_stdin_yes(command: list[str]) -> tuple[int, str]:
    done = subprocess.run(command, input="y\n" * 4, capture_output=True, text=True, env=ENVIRONMENT, timeout=240)
    return done.returncode, done.stderr


def run_under_terminal(command: list[str]) -> tuple[int, str]:
    """Run ``command`` on a pseudo-terminal, typing ``y`` ahead and at every ``[y/N]`` prompt it shows."""
    pid, terminal = pty.fork()
    if pid == 0:  # the child: its stdin, stdout and stderr are the terminal
        os.environ.update(ENVIRONMENT)
        os.execv(command[0], command)
    os.write(terminal, b"y\n")
    seen, deadline = b"", time.monotonic() + 240
    while time.monotonic() < deadline:
        if select.select([terminal], [], [], 1)[0]:
            try:
                chunk = os.read(terminal, 4096)
            except OSError:  # the child closed the terminal: it has ended
                break
            if not chunk:
                break
            seen += chunk
            if chunk.rstrip().endswith(b"[y/N]"):
                os.write(terminal, b"y\n")
    else:
        os.kill(pid, 9)
    _, status = os.waitpid(pid, 0)
    return os.waitstatus_to_exitcode(status), seen.decode(errors="replace")


@pytest.mark.slow
@pytest.mark.parametrize(
    "model_type, runner",
    [("evilbert", run_with_stdin_yes), ("evilbert", run_under_terminal), ("bert", run_with_stdin_yes)],
    ids=["stdin", "terminal", "known type, stdin"],
)  # a model_type only the code defines makes transformers ask; a known one with an auto_map, too where asked to trust
def test_no_route_runs_code_from_a_teacher_directory(teacher, tmp_path, model_type, runner):
    marker = tmp_path / "MARKER"
    evil = with_custom_code(teacher, tmp_path / "evil", marker, model_type)
    data = labelled_csv(tmp_path / "data.csv")
    for name, command in routes(evil, data, tmp_path / "runs").items():
        code, output = runner(command)
        assert not marker.exists(), f"{name}: the directory's code ran"
        assert code == 1, f"{name}: exit {code}: {output}"
        assert "nlp-lstm never runs code from a model directory" in output, f"{name}: {output}"
        assert "Traceback" not in output and "[y/N]" not in output, f"{name}: {output}"
    assert not (tmp_path / "runs").exists()  # refused before any run directory was made


@pytest.mark.parametrize(
    "plant",
    [
        lambda d: (d / "evil.py").write_text("raise SystemExit('ran')\n"),  # code without an auto_map
        lambda d: (d / "sub").mkdir() or (d / "sub" / "x.pyc").write_bytes(b"\0"),
        lambda d: (d / "tokenizer_config.json").write_text(json.dumps({"auto_map": {"AutoTokenizer": ["t.T", None]}})),
        lambda d: edit_config(d, trust_remote_code=True),
        lambda d: edit_config(d, task_specific_params={"x": {"custom_pipelines": {}}}),  # nested anywhere
    ],
    ids=["py", "pyc in a folder", "tokenizer auto_map", "trust_remote_code", "custom_pipelines"],
)
def test_anything_that_asks_for_code_is_refused_before_transformers_sees_it(teacher, tmp_path, plant):
    directory = tmp_path / "t"
    shutil.copytree(teacher, directory)
    plant(directory)
    with pytest.raises(NlpLstmError, match="never runs|may not hold code"):
        nlp_lstm.load_model(directory)
    with pytest.raises(NlpLstmError, match="never runs|may not hold code"):
        nlp_lstm.train_teacher(
            nlp_lstm.TeacherTrainConfig(dataset=str(labelled_csv(tmp_path / "d.csv")), base=str(directory)), tmp_path / "run"
        )


def truncate(directory: Path) -> None:
    weights = directory / "model.safetensors"
    weights.write_bytes(weights.read_bytes()[:-100])


def replace_weights(directory: Path, change) -> None:
    from safetensors.torch import load_file, save_file

    tensors = load_file(directory / "model.safetensors")
    save_file(change(tensors), directory / "model.safetensors")


def as_pickle_only(directory: Path) -> None:
    from safetensors.torch import load_file

    torch.save(load_file(directory / "model.safetensors"), directory / "pytorch_model.bin")
    (directory / "model.safetensors").unlink()


def wider_vocabulary(directory: Path) -> None:
    from tokenizers import BertWordPieceTokenizer

    words = VOCABULARY + [f"w{i}" for i in range(50)]
    BertWordPieceTokenizer({t: i for i, t in enumerate(words)}).save(str(directory / "tokenizer.json"))


DAMAGES = {
    "none of the weights": (lambda d: replace_weights(d, lambda t: {"unrelated": torch.zeros(2)}), "missing"),
    "one weight missing": (
        lambda d: replace_weights(d, lambda t: {k: v for k, v in t.items() if k != "classifier.weight"}),
        "missing",
    ),
    "an extra weight": (lambda d: replace_weights(d, lambda t: {**t, "extra": torch.zeros(2)}), "unexpected"),
    "truncated": (truncate, "truncated or corrupted"),
    "NaN": (lambda d: replace_weights(d, lambda t: {k: v.fill_(float("nan")) for k, v in t.items()}), "NaN"),
    "int32": (lambda d: replace_weights(d, lambda t: {k: v.to(torch.int32) for k, v in t.items()}), "floating point"),
    "pickle only": (as_pickle_only, "pytorch_model.bin is a pickle, which nlp-lstm never opens"),
    "sizes unlike the weights": (lambda d: edit_config(d, hidden_size=32), "shape"),
    "a million layers": (lambda d: edit_config(d, num_hidden_layers=10**6), "num_hidden_layers 1000000 is no size"),
    "a 5,000-digit size": (lambda d: (d / "config.json").write_text('{"vocab_size": ' + "9" * 5000 + "}"), "not valid JSON"),
    "heads not dividing": (lambda d: edit_config(d, num_attention_heads=3), "describes no model transformers can build"),
    "unknown model_type": (lambda d: edit_config(d, model_type="evilbert"), "not an architecture transformers knows"),
    "labels not a list": (lambda d: edit_config(d, nlp_lstm={"kind": "teacher", "labels": "ab", "inputs": {}}), "needs labels"),
    "no input policy": (lambda d: edit_config(d, nlp_lstm={"kind": "teacher", "labels": LABELS}), "needs inputs"),
    "tokenizer larger than the embeddings": (wider_vocabulary, "they are not one teacher's"),
}


@pytest.mark.parametrize("damage", list(DAMAGES))
def test_a_damaged_teacher_is_refused_in_one_line_through_the_cli(teacher, tmp_path, damage):
    from typer.testing import CliRunner

    from nlp_lstm.cli import app

    directory = tmp_path / "t"
    shutil.copytree(teacher, directory)
    change, expected = DAMAGES[damage]
    change(directory)
    result = CliRunner().invoke(app, ["classify", "--model", str(directory), "a good film", "--json"])
    assert result.exit_code == 1, result.output
    assert result.stdout == ""
    assert result.stderr.count("\n") == 1 and result.stderr.startswith("error: "), result.stderr
    assert expected in result.stderr and "unexpected" not in result.stderr.replace("unexpected [", ""), result.stderr
    assert "set_int_max_str_digits" not in result.stderr  # Python's advice on its own settings is no fix for a user


def test_a_sound_teacher_still_loads_and_its_copy_classifies_alike(teacher, tmp_path):
    saved = nlp_lstm.load_model(teacher)
    first = nlp_lstm.classify(saved, ["a good film", "a bad film"])
    saved.save_pretrained(tmp_path / "copy")
    again = nlp_lstm.classify(nlp_lstm.load_model(tmp_path / "copy"), ["a good film", "a bad film"])
    assert [p.probabilities["positive"] for p in again] == pytest.approx([p.probabilities["positive"] for p in first], abs=1e-6)


def test_a_base_missing_encoder_weights_is_refused_but_a_new_head_is_expected(teacher, tmp_path):
    data = labelled_csv(tmp_path / "d.csv")
    encoder_only = tmp_path / "encoder"
    shutil.copytree(teacher, encoder_only)
    replace_weights(encoder_only, lambda t: {k: v for k, v in t.items() if not k.startswith("classifier.")})
    base = nlp_lstm.TeacherTrainConfig(dataset=str(data), base=str(encoder_only), max_length=16, max_steps=1, threads=1)
    assert nlp_lstm.train_teacher(base, tmp_path / "fine").step == 1  # the head is new, as fine-tuning expects
    replace_weights(encoder_only, lambda t: {k: v for k, v in t.items() if "layer.0.output" not in k})
    with pytest.raises(NlpLstmError, match="has no bert.encoder.layer.0.output"):
        nlp_lstm.train_teacher(base, tmp_path / "broken")
    assert not (tmp_path / "broken").exists()


def test_safetensors_headers_are_read_before_any_tensor(teacher, tmp_path):
    """A header that claims 2^40 elements is refused from the header alone, not by allocating them."""
    directory = tmp_path / "t"
    shutil.copytree(teacher, directory)
    header = json.dumps({"classifier.bias": {"dtype": "F32", "shape": [2**40], "data_offsets": [0, 8]}}).encode()
    (directory / "model.safetensors").write_bytes(struct.pack("<Q", len(header)) + header + b"\0" * 8)
    with pytest.raises(NlpLstmError, match="truncated or corrupted|do not match"):
        nlp_lstm.load_model(directory)
