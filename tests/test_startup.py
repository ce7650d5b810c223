"""What a cold command imports: no inference path pulls in torch._dynamo or the training stack, and
usage errors are reported before torch is imported; and the work it avoids: no second walk of torch's
objects by the garbage collector, no random initialisation of weights a load replaces.

Imports and work are asserted here, never times: benchmarks/startup.py measures the seconds. Each check runs
the real command line in a fresh interpreter, as a user's command would, on the shipped models.
"""

import json
import os
import subprocess
import sys

# Not on any inference path: torch._dynamo (and sympy) cost 1.4 s of a cold command, pydantic (which
# typer 0.29 imports for every command's options; pyproject.toml pins below it) 0.05-0.1 s, the rest is
# the training and teacher stack.
NEVER_FOR_INFERENCE = ("torch._dynamo", "sympy", "pydantic", "transformers", "datasets")

PROBE = """
import json, runpy, sys
codes = []
for argv in json.loads(sys.argv[1]):
    sys.argv = ["nlp-lstm", *argv]
    try:
        runpy.run_module("nlp_lstm", run_name="__main__")
        codes.append(0)
    except SystemExit as stop:
        codes.append(stop.code or 0)
print(json.dumps({"codes": codes, "modules": sorted(sys.modules)}))
"""


def run_commands(*commands: list[str]) -> tuple[list[int], set[str]]:
    """Run the commands one after another in one fresh interpreter: their exit codes, and every module then imported."""
    done = subprocess.run(
        [sys.executable, "-c", PROBE, json.dumps(commands)], capture_output=True, text=True, check=True, timeout=600
    )
    result = json.loads(done.stdout.strip().splitlines()[-1])
    return result["codes"], set(result["modules"])


def test_no_inference_command_imports_dynamo_or_the_training_stack(tmp_path):
    rows = tmp_path / "rows.csv"
    rows.write_text("text\na gorgeous film\na tedious mess\n", encoding="utf-8")
    codes, modules = run_commands(
        ["classify", "a gorgeous, heartfelt film"],
        ["classify", "--input", str(rows), "--json"],
        ["generate", "--length", "20", "--seed", "0"],
        ["inspect", "But, soft! what light", "--json"],
    )
    assert codes == [0, 0, 0, 0]
    assert "torch" in modules  # the probe did run the models
    assert sorted(set(NEVER_FOR_INFERENCE) & modules) == []


def test_the_api_loads_and_runs_without_dynamo():
    code = (
        "import sys, nlp_lstm; "
        "nlp_lstm.classify(nlp_lstm.load_model(nlp_lstm.shipped_model('classifier')), ['a fine film']); "
        "nlp_lstm.generate(nlp_lstm.load_model(nlp_lstm.shipped_model('lm')), 'ROMEO:', nlp_lstm.SampleConfig(length=10, seed=0)); "
        f"print([m for m in {NEVER_FOR_INFERENCE!r} if m in sys.modules])"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=600)
    assert done.stdout.strip().splitlines()[-1] == "[]"


def test_usage_errors_come_before_torch(tmp_path):
    missing = str(tmp_path / "no-such-model")
    for command, code in [
        (["generate", "--model", missing], 1),
        (["classify", "--model", missing, "a gorgeous film"], 1),
        (["inspect", "--model", missing, "text"], 1),
        (["classify", "--no-such-option", "a gorgeous film"], 2),
        (["generate", "--length", "many"], 2),
    ]:
        codes, modules = run_commands(command)  # one interpreter each: the assertion names the command
        assert (codes, "torch" in modules) == ([code], False), command


def test_help_lists_every_command_though_a_run_builds_only_its_own():
    from nlp_lstm.cli import app
    from nlp_lstm.cli.app import registered_name

    def help_of(*args: str) -> str:
        command = [sys.executable, "-m", "nlp_lstm", *args, "--help"]
        return subprocess.run(command, capture_output=True, text=True, check=True, env={**os.environ, "COLUMNS": "200"}).stdout

    assert all(f" {registered_name(info)} " in help_of() for info in app.registered_commands)
    assert all(f" {name} " in help_of("train") for name in ("lm", "classifier", "teacher"))
    assert "--temperature" in help_of("generate") and "--batch-size" not in help_of("generate")


def test_a_one_command_process_freezes_what_torch_made_but_a_cli_runner_does_not():
    code = (
        "import gc, runpy, sys\n"
        "from typer.testing import CliRunner\n"
        "from nlp_lstm.cli import app\n"
        "assert CliRunner().invoke(app, ['classify', 'a fine film']).exit_code == 0\n"
        "print(gc.get_freeze_count(), file=sys.stderr)\n"
        "sys.argv = ['nlp-lstm', 'classify', 'a fine film']\n"
        "try:\n"
        "    runpy.run_module('nlp_lstm', run_name='__main__')\n"
        "except SystemExit:\n"
        "    pass\n"
        "print(gc.get_freeze_count(), file=sys.stderr)\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=600)
    in_runner, in_main = map(int, done.stderr.split()[-2:])  # stdout has the table
    assert in_runner == 0  # many commands in one process: frozen garbage would never be freed
    assert in_main > 50_000  # torch's own objects, left out of every later collection


def test_loading_leaves_the_random_generator_alone_and_both_tokenizer_paths_agree(tmp_path):
    import torch

    import nlp_lstm
    from nlp_lstm.tokenizer import load_tokenizer

    before = torch.random.get_rng_state()
    saved = nlp_lstm.load_model("sentiment")  # built without the random initialisation the weights replace
    assert torch.equal(torch.random.get_rng_state(), before)
    data = json.loads((nlp_lstm.shipped_model("sentiment") / "tokenizer.json").read_text(encoding="utf-8"))
    reordered = tmp_path / "tokenizer.json"  # "tokenizer" first: not the layout save() writes, so the strict path reads it
    reordered.write_text(json.dumps({"tokenizer": data["tokenizer"], **data}), encoding="utf-8")
    assert load_tokenizer(reordered) == saved.tokenizer
    assert saved.tokenizer.encode("a gorgeous film") == load_tokenizer(reordered).encode("a gorgeous film")
