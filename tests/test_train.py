"""The training loop on real text: determinism, exact resume, divergence abort, output-directory safety."""

import json
import os
import signal

import pytest
import torch

from nlp_lstm import checkpoint
from nlp_lstm.precision import bf16_lstm_problem
from nlp_lstm.train_config import TrainConfig
from nlp_lstm.training.language_model import train_language_model
from nlp_lstm.training.optim import learning_rate
from nlp_lstm.training.run import Callback, RunOptions, TrainingError

MODEL = dict(embedding_dim=16, hidden_size=32, num_layers=2, dropout=0.1, embedding_dropout=0.1)


def config_for(text_file, **changes):
    base = TrainConfig(
        dataset=str(text_file),
        seq_len=32,
        batch_size=8,
        max_steps=20,
        eval_every=10,
        warmup_steps=5,
        lr=5e-3,
        device="cpu",
        seed=3,
    )
    return base.with_encoder(**MODEL).replace(**changes)


def train_losses(run_dir):
    lines = [json.loads(line) for line in (run_dir / "metrics.jsonl").read_text().splitlines()]
    return [(e["step"], e["train_loss"]) for e in lines if "train_loss" in e], [
        e for e in lines if e.get("split") == "validation"
    ]


def test_training_learns_and_writes_best_and_last(tmp_path, text_file):
    result = train_language_model(config_for(text_file, max_steps=60, eval_every=30), tmp_path / "run")
    train, validation = train_losses(tmp_path / "run")
    assert train[-1][1] < train[0][1] - 0.5  # it learns on real text
    assert [v["step"] for v in validation] == [30, 60]
    assert result.best_validation["bits_per_char"] == min(v["bits_per_char"] for v in validation)
    best = checkpoint.load(result.best_dir)
    assert best.training["validation"]["bits_per_char"] == result.best_validation["bits_per_char"]
    assert best.training["dataset"] == str(text_file) and best.training["train_config"]["max_steps"] == 60
    assert (tmp_path / "run" / "last" / "trainer_state.safetensors").exists()
    assert result.curves == tmp_path / "run" / "curves.png" and result.curves.read_bytes().startswith(b"\x89PNG")


def test_same_seed_same_losses_and_weights(tmp_path, text_file):
    train_language_model(config_for(text_file), tmp_path / "a")
    train_language_model(config_for(text_file), tmp_path / "b")
    assert train_losses(tmp_path / "a") == train_losses(tmp_path / "b")
    a, b = checkpoint.load(tmp_path / "a" / "last").model, checkpoint.load(tmp_path / "b" / "last").model
    assert all(torch.equal(x, y) for x, y in zip(a.state_dict().values(), b.state_dict().values()))
    train_language_model(config_for(text_file, seed=4), tmp_path / "c")
    assert train_losses(tmp_path / "c")[0] != train_losses(tmp_path / "a")[0]


class InterruptAt(Callback):
    """Sends this process SIGINT, as Ctrl-C would, once training reaches ``step``."""

    def __init__(self, step):
        self.step = step

    def on_step(self, metrics):
        if metrics["step"] == self.step:
            os.kill(os.getpid(), signal.SIGINT)


AWD = {**MODEL, "weight_drop": 0.3, "locked_dropout": 0.2}  # random masks too must come back exactly on resume


@pytest.mark.parametrize("model", [MODEL, AWD], ids=["dropout", "weight drop and locked dropout"])
def test_interrupt_saves_and_resume_continues_exactly_like_an_uninterrupted_run(tmp_path, text_file, model):
    # 30 steps cross an epoch boundary too: the tiny text gives about 10 steps per epoch.
    config = config_for(text_file, max_steps=30, eval_every=10)
    train_language_model(config.with_encoder(**model), tmp_path / "full")
    with pytest.raises(TrainingError, match=r"stopped at step 20.*Resume with: nlp-lstm train lm --output .* --resume"):
        train_language_model(config.with_encoder(**model), RunOptions(tmp_path / "split", callback=InterruptAt(20)))
    assert checkpoint.load(tmp_path / "split" / "last").training["step"] == 20
    train_language_model(config, RunOptions(tmp_path / "split", resume=True))
    full_train, full_val = train_losses(tmp_path / "full")
    split_train, split_val = train_losses(tmp_path / "split")
    assert [s for s, _ in split_train] == [s for s, _ in full_train]
    for (_, a), (_, b) in zip(split_train, full_train):
        assert a == pytest.approx(b, rel=1e-5, abs=1e-6)
    assert [v["nats_per_char"] for v in split_val] == pytest.approx([v["nats_per_char"] for v in full_val], rel=1e-5)
    full_weights = checkpoint.load(tmp_path / "full" / "last").model.state_dict()
    split_weights = checkpoint.load(tmp_path / "split" / "last").model.state_dict()
    for name, value in full_weights.items():
        torch.testing.assert_close(split_weights[name], value, rtol=1e-5, atol=1e-6)


def test_resume_refuses_changed_settings_and_missing_runs(tmp_path, text_file):
    with pytest.raises(TrainingError, match="no resumable run here"):
        train_language_model(config_for(text_file), RunOptions(tmp_path / "none", resume=True))
    train_language_model(config_for(text_file, max_steps=10), tmp_path / "run")
    with pytest.raises(TrainingError, match="these differ from it: --lr"):
        train_language_model(config_for(text_file, lr=1.0), RunOptions(tmp_path / "run", resume=True))


def test_existing_output_needs_resume_or_overwrite_and_foreign_dirs_are_kept(tmp_path, text_file):
    train_language_model(config_for(text_file, max_steps=10), tmp_path / "run")
    with pytest.raises(TrainingError, match="already holds a run; pass --resume .* or --overwrite"):
        train_language_model(config_for(text_file, max_steps=10), tmp_path / "run")
    train_language_model(config_for(text_file, max_steps=10, seed=9), RunOptions(tmp_path / "run", overwrite=True))
    assert checkpoint.load(tmp_path / "run" / "last").training["train_config"]["seed"] == 9
    precious = tmp_path / "mine"
    precious.mkdir()
    (precious / "thesis.txt").write_text("do not delete")
    with pytest.raises(TrainingError, match="not an nlp-lstm run directory"):
        train_language_model(config_for(text_file), RunOptions(precious, overwrite=True))
    assert (precious / "thesis.txt").read_text() == "do not delete"


class PoisonAfterFirstEval(Callback):
    """Turns one weight into NaN right after the first checkpoint, as a numerical blow-up would."""

    def on_start(self, info):
        self.model = info["model"]

    def on_eval(self, metrics):
        if metrics["step"] == 10:
            with torch.no_grad():
                next(self.model.parameters()).fill_(float("nan"))


def test_divergence_stops_with_the_step_and_keeps_the_last_good_checkpoint(tmp_path, text_file):
    with pytest.raises(
        TrainingError, match=r"training loss became nan at step 20 \(diverged\); the last good checkpoint is kept"
    ):
        train_language_model(config_for(text_file, max_steps=40), RunOptions(tmp_path / "run", callback=PoisonAfterFirstEval()))
    last = checkpoint.load(tmp_path / "run" / "last")
    assert last.training["step"] == 10
    assert all(torch.isfinite(p).all() for p in last.model.parameters())


def test_a_blow_up_before_any_checkpoint_says_so(tmp_path, text_file):
    with pytest.raises(TrainingError, match=r"at step 1 \(diverged\); nothing was saved yet.*lower --lr"):
        train_language_model(config_for(text_file, eval_every=1, lr=1e4, warmup_steps=0), tmp_path / "run")


def test_schedule_warms_up_then_decays():
    config = TrainConfig(lr=1.0, warmup_steps=10, max_steps=110, min_lr_ratio=0.1)
    rates = [learning_rate(s, config.max_steps, config) for s in range(110)]
    assert rates[0] == pytest.approx(0.1) and rates[9] == pytest.approx(1.0)
    assert all(a >= b for a, b in zip(rates[10:], rates[11:]))
    assert rates[-1] == pytest.approx(0.1, abs=1e-3)


@pytest.mark.skipif(
    bf16_lstm_problem(torch.device("cpu")) is not None,
    reason=f"this CPU cannot run the LSTM in bf16 ({bf16_lstm_problem(torch.device('cpu'))}); test_precision.py checks the refusal",
)
def test_bf16_autocast_trains_like_float32(tmp_path, text_file):
    """Mixed precision changes rounding, not the learning: same data and seed, losses within a few percent."""
    fp32 = train_language_model(config_for(text_file, max_steps=60, eval_every=30), tmp_path / "fp32")
    bf16 = train_language_model(config_for(text_file, max_steps=60, eval_every=30, precision="bf16"), tmp_path / "bf16")
    losses = [loss for _, loss in train_losses(tmp_path / "bf16")[0]]
    assert losses[-1] < losses[0] - 0.5
    assert bf16.best_validation["nats_per_char"] == pytest.approx(fp32.best_validation["nats_per_char"], rel=0.05)
    saved = checkpoint.load(bf16.last_dir)
    assert all(p.dtype == torch.float32 for p in saved.model.parameters())  # weights stay float32


def test_fine_tuning_starts_from_the_saved_weights_and_takes_only_the_dropout_given(tmp_path, text_file):
    base = train_language_model(config_for(text_file), tmp_path / "base")
    start = checkpoint.load(base.best_dir).model.state_dict()
    tune = config_for(text_file, init_from=str(base.best_dir), max_steps=2, eval_every=2, warmup_steps=1, lr=1e-4)
    # Another shape is ignored; dropout left at the defaults keeps the model's own, dropout set replaces it.
    kept = TrainConfig.encoder.replace(hidden_size=64)
    changed = kept.replace(dropout=0.4, embedding_dropout=0.3)
    for name, encoder, dropout in [("kept", kept, (0.1, 0.1)), ("changed", changed, (0.4, 0.3))]:
        result = train_language_model(tune.replace(encoder=encoder), tmp_path / name)
        tuned = checkpoint.load(result.last_dir)
        assert (tuned.config.hidden_size, tuned.config.dropout, tuned.config.embedding_dropout) == (32, *dropout)
        parent = checkpoint.load(base.best_dir).training
        assert tuned.training["started_from"] == parent and tuned.training["train_config"]["init_from"] == str(base.best_dir)
        for key, value in tuned.model.state_dict().items():  # two small steps away from the saved weights
            assert (value - start[key]).norm() <= 0.05 * start[key].norm() + 1e-3, key


def test_validation_reports_its_progress_while_it_runs(tmp_path, text_file):
    """An evaluation can take minutes: the callback hears how far it is, up to every target of the split."""

    class Recorder(Callback):
        def __init__(self):
            self.calls, self.evaluations = [], 0

        def on_validation_progress(self, done, total):
            self.calls.append((self.evaluations, done, total))

        def on_eval(self, metrics):
            self.evaluations += 1

    recorder = Recorder()
    config = TrainConfig(
        dataset=str(text_file), max_steps=4, eval_every=2, seq_len=16, batch_size=4, eval_batch_size=2, device="cpu"
    )
    train_language_model(config.with_encoder(**MODEL), RunOptions(tmp_path / "run", callback=recorder))
    assert recorder.evaluations == 2 and {e for e, _, _ in recorder.calls} == {0, 1}
    for evaluation in (0, 1):
        done = [d for e, d, _ in recorder.calls if e == evaluation]
        total = {t for e, _, t in recorder.calls if e == evaluation}.pop()
        assert len(done) > 1 and done == sorted(done) and done[-1] == total  # every target scored once
