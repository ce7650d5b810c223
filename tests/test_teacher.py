"""A transformer teacher and the LSTM student it teaches, on real (small, synthetic) data with a tiny BERT.

The BERT is built from a config (two layers, hidden 32) with a WordPiece vocabulary trained here:
no download. The task is one a teacher can know and a student cannot learn from its few examples:
a text's label is the polarity of the one keyword it holds, among 80 keywords. The teacher is
fine-tuned on 1,600 labelled texts; the student has 40 labelled texts (too few to meet most of the
keywords) plus 1,600 unlabelled ones, which only the teacher can label.
"""

import csv
import json
import os
import random
import subprocess
import sys
from pathlib import Path

import pytest
import torch

transformers = pytest.importorskip("transformers")

import nlp_lstm  # noqa: E402
from nlp_lstm.data.batching import encode_texts  # noqa: E402
from nlp_lstm.errors import UsageError  # noqa: E402
from nlp_lstm.tokenizer import CharTokenizer  # noqa: E402
from nlp_lstm.train_config import ClassifierTrainConfig, TeacherTrainConfig  # noqa: E402
from nlp_lstm.training.distillation import UNLABELLED, distillation_loss, sentences_of  # noqa: E402

_WORDS = random.Random(0).sample(
    sorted({"".join(random.Random(i).choices("bcdfgklmnprstvz", k=3)) + "o" for i in range(400)}), 140
)
POSITIVE, NEGATIVE, FILLER = _WORDS[:40], _WORDS[40:80], _WORDS[80:]  # unrelated made-up words: no shared parts
LABELS = ["negative", "positive"]


def make_texts(count: int, seed: int) -> list[tuple[str, str]]:
    rng = random.Random(seed)
    rows = []
    for _ in range(count):
        label = rng.randrange(2)
        words = [rng.choice(FILLER) for _ in range(6)]
        words.insert(rng.randrange(7), rng.choice(POSITIVE if label else NEGATIVE))
        rows.append((" ".join(words), LABELS[label]))
    return rows


def write_csv(path: Path, rows: list[tuple[str, str]], labelled: bool = True) -> Path:
    with open(path, "w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["text", "label"] if labelled else ["text"])
        writer.writerows(rows if labelled else [(text,) for text, _ in rows])
    return path


@pytest.fixture(scope="module")
def tiny_bert(tmp_path_factory) -> Path:
    """A two-layer BERT with its own WordPiece vocabulary, saved as a transformers model directory."""
    from tokenizers import BertWordPieceTokenizer

    directory = tmp_path_factory.mktemp("tiny-bert")
    wordpiece = BertWordPieceTokenizer(lowercase=True)
    wordpiece.train_from_iterator([" ".join(POSITIVE + NEGATIVE + FILLER)] * 3, vocab_size=1000, min_frequency=1)
    # Training numbers the tokens in a different order from run to run, which would give every run another
    # initial model: number them in one order (special tokens first, then sorted), the same every run.
    special = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]
    tokens = special + sorted(set(wordpiece.get_vocab()) - set(special))
    wordpiece = BertWordPieceTokenizer({token: i for i, token in enumerate(tokens)}, lowercase=True)
    assert all(len(wordpiece.encode(word, add_special_tokens=False).ids) == 1 for word in _WORDS)  # one token a word
    wordpiece.save(str(directory / "tokenizer.json"))
    config = transformers.BertConfig(
        vocab_size=wordpiece.get_vocab_size(),
        hidden_size=32,
        num_hidden_layers=2,
        num_attention_heads=2,
        intermediate_size=64,
        max_position_embeddings=64,
        pad_token_id=wordpiece.token_to_id("[PAD]"),
    )
    torch.manual_seed(0)
    transformers.BertModel(config).save_pretrained(directory)
    return directory


@pytest.fixture(scope="module")
def task(tmp_path_factory) -> dict[str, Path]:
    directory = tmp_path_factory.mktemp("keywords")
    return {
        "big": write_csv(directory / "big.csv", make_texts(2000, seed=1)),
        "few": write_csv(directory / "few.csv", make_texts(50, seed=2)),
        "unlabelled": write_csv(directory / "unlabelled.csv", make_texts(1600, seed=3), labelled=False),
        "held_out": write_csv(directory / "held_out.csv", make_texts(400, seed=4)),
    }


@pytest.fixture(scope="module")
def teacher(tiny_bert, task, tmp_path_factory) -> Path:
    output = tmp_path_factory.mktemp("teacher") / "run"
    config = TeacherTrainConfig(dataset=str(task["big"]), base=str(tiny_bert), max_length=16, epochs=4, lr=2e-3, threads=1)
    result = nlp_lstm.train_teacher(config, output)
    assert result.best_validation["accuracy"] > 0.9  # the teacher knows the keywords
    return output


def student(task: dict[str, Path], output: Path, epochs: int, batch_size: int, **options) -> float:
    """Held-out accuracy of a small LSTM trained on the few labelled texts (about 200 steps either way)."""
    config = ClassifierTrainConfig(
        dataset=str(task["few"]), epochs=epochs, batch_size=batch_size, lr=5e-3, patience=0, threads=1, **options
    )
    nlp_lstm.train_classifier(config.with_encoder(embedding_dim=16, hidden_size=16, dropout=0.0), output)
    saved = nlp_lstm.load_model(output / "best")
    return nlp_lstm.evaluate_classifier(saved, str(task["held_out"]), split="all")["accuracy"]


def test_a_teacher_is_a_transformers_directory_that_classifies(teacher):
    best = teacher / "best"
    assert sorted(p.name for p in best.iterdir()) == ["config.json", "model.safetensors", "tokenizer.json", "training.json"]
    reloaded = transformers.AutoModelForSequenceClassification.from_pretrained(best)  # transformers reads it as is
    assert reloaded.config.num_labels == 2
    predictions = nlp_lstm.classify(
        nlp_lstm.load_model(best), [f"{FILLER[0]} {POSITIVE[0]} {FILLER[1]}", f"{FILLER[2]} {NEGATIVE[0]}"]
    )
    assert [p.label for p in predictions] == ["positive", "negative"]


def test_a_teacher_loads_through_the_one_loader_and_saves_through_its_own_class(teacher, tmp_path):
    from nlp_lstm.teacher.model import TeacherConfig, TeacherModel

    loaded = nlp_lstm.ModelBundle.from_pretrained(teacher / "best")  # the Hub-style name takes a teacher too
    assert type(loaded) is TeacherModel and loaded.config == TeacherConfig(num_classes=2) and not loaded.regression
    again = nlp_lstm.load_model(nlp_lstm.save_model(loaded, tmp_path / "again"))  # its _save_pretrained writes transformers'
    assert type(again) is TeacherModel and again.labels == loaded.labels and again.inputs == loaded.inputs
    with pytest.raises(nlp_lstm.NlpLstmError, match="is a teacher"):
        nlp_lstm.load_model(teacher / "best", kind="lm")


def test_the_student_learns_from_the_teacher_what_its_few_examples_do_not_hold(teacher, task, tmp_path):
    # Both read the teacher's vocabulary; only the taught one learns its outputs (soft_weight 0: the gold labels alone).
    same = {"teacher": str(teacher), "tokenizer": "teacher"}
    alone = student(task, tmp_path / "alone", 40, 8, soft_weight=0.0, **same)
    taught = student(task, tmp_path / "taught", 4, 32, unlabelled=str(task["unlabelled"]), **same)
    assert taught > 0.9 and taught >= alone + 0.3, (alone, taught)  # measured: 0.52 alone, 0.99 taught
    record = json.loads((tmp_path / "taught" / "best" / "training.json").read_text())
    labelled = len(nlp_lstm.load_labelled_splits(str(task["few"])).train.texts)
    unlabelled = len(list(nlp_lstm.load_text_splits(str(task["unlabelled"])).train))  # its training part only
    assert unlabelled == 1440
    expected = {"transfer_texts": labelled + unlabelled, "unlabelled_texts": unlabelled, "teacher_outputs_cached": False}
    assert record["distillation"].pop("teacher_s") > 0
    teacher_record = record["distillation"].pop("teacher")
    assert teacher_record["path"] == str(teacher / "best") and teacher_record["validation_accuracy"] > 0.9
    assert record["distillation"] == expected


def test_a_second_student_reuses_the_teachers_outputs(teacher, task, tmp_path):
    options = {"teacher": str(teacher), "unlabelled": str(task["unlabelled"]), "transfer_size": 200}
    config = ClassifierTrainConfig(dataset=str(task["few"]), epochs=1, threads=1, tokenizer="teacher", **options)
    cache = Path(os.environ["NLP_LSTM_CACHE"]) / "teacher_outputs"
    for run in ("first", "second"):
        nlp_lstm.train_classifier(config.with_encoder(embedding_dim=8, hidden_size=8), tmp_path / run)
    records = [json.loads((tmp_path / run / "best" / "training.json").read_text())["distillation"] for run in ("first", "second")]
    assert [r["teacher_outputs_cached"] for r in records] == [False, True]
    stored = [p for p in cache.iterdir() if p.suffix == ".npy"]
    changed = config.replace(transfer_size=150)  # other texts: other outputs, never stale ones
    nlp_lstm.train_classifier(changed.with_encoder(embedding_dim=8, hidden_size=8), tmp_path / "third")
    assert len([p for p in cache.iterdir() if p.suffix == ".npy"]) == len(stored) + 1


def test_the_student_starts_from_the_teachers_embedding_table(teacher, task, tmp_path):
    config = ClassifierTrainConfig(
        dataset=str(task["few"]), epochs=1, lr=1e-9, threads=1, teacher=str(teacher), tokenizer="teacher", embeddings="teacher"
    )
    # As wide as the teacher's (32): the projection is then a rotation, which keeps every distance between rows.
    nlp_lstm.train_classifier(config.with_encoder(embedding_dim=32, hidden_size=8), tmp_path / "run")
    saved = nlp_lstm.load_model(tmp_path / "run" / "best")
    table = saved.model.encoder.embedding.weight.detach()
    teacher_table = transformers.AutoModel.from_pretrained(teacher / "best").embeddings.word_embeddings.weight.detach()
    assert saved.tokenizer.vocab_size == teacher_table.shape[0]
    assert not table[saved.tokenizer.pad_id].any()
    rows = torch.arange(5, 60)
    ours, theirs = torch.pdist(table[rows]), torch.pdist(teacher_table[rows])
    assert torch.allclose(ours / ours.mean(), theirs / theirs.mean(), atol=1e-3)


def test_an_lstm_student_loads_and_classifies_without_transformers(teacher, task, tmp_path):
    config = ClassifierTrainConfig(dataset=str(task["few"]), epochs=1, threads=1, teacher=str(teacher), tokenizer="teacher")
    nlp_lstm.train_classifier(config.with_encoder(embedding_dim=8, hidden_size=8), tmp_path / "run")
    code = (
        "import sys, nlp_lstm\n"
        f"saved = nlp_lstm.load_model({str(tmp_path / 'run' / 'best')!r})\n"
        f"print(nlp_lstm.classify(saved, [{FILLER[0]!r}])[0].label)\n"
        "assert 'transformers' not in sys.modules, 'transformers was imported'\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() in LABELS


class PreparationRecorder(nlp_lstm.Callback):
    def __init__(self):
        self.calls = []

    def on_preparation(self, stage, done, total):
        self.calls.append((stage, done, total))


def test_the_teacher_labelling_is_reported_as_a_stage_of_preparation(teacher, task, tmp_path):
    # A teacher length of its own: a transfer set no other test labelled, so it is labelled here, not read from the cache.
    config = ClassifierTrainConfig(dataset=str(task["few"]), epochs=1, threads=1, teacher=str(teacher), teacher_length=11)
    recorder = PreparationRecorder()
    nlp_lstm.train(config.with_encoder(embedding_dim=8, hidden_size=8), nlp_lstm.RunOptions(tmp_path / "run", callback=recorder))
    assert {stage for stage, _, _ in recorder.calls} == {"teacher labelling the transfer set (once, then cached)"}
    assert recorder.calls[-1][1] == recorder.calls[-1][2] > 0  # every text of the transfer set labelled


def test_a_teacher_with_other_labels_is_a_usage_error(teacher, tmp_path):
    other = write_csv(
        tmp_path / "other.csv", [(text, "spam" if label == "positive" else "ham") for text, label in make_texts(60, 5)]
    )
    config = ClassifierTrainConfig(dataset=str(other), epochs=1, teacher=str(teacher))
    with pytest.raises(UsageError, match="knows the labels"):
        nlp_lstm.train_classifier(config, tmp_path / "run")
    assert not (tmp_path / "run").exists()


def test_distillation_options_need_a_teacher():
    alone = ({"unlabelled": "sentences"}, {"tokenizer": "teacher"}, {"teacher_length": 256})
    for options in (*alone, {"embeddings": "teacher", "tokenizer": "teacher"}):
        with pytest.raises(UsageError, match="need --teacher"):
            ClassifierTrainConfig(**options)


def test_the_distillation_loss_is_cross_entropy_plus_the_scaled_divergence():
    logits = torch.tensor([[2.0, -1.0], [0.5, 0.5], [-1.0, 3.0]])
    labels = torch.tensor([0, UNLABELLED, 1])
    same = distillation_loss(logits, labels, logits.log_softmax(-1), soft_weight=0.5, temperature=2.0)
    gold = torch.nn.functional.cross_entropy(logits[[0, 2]], labels[[0, 2]], reduction="sum")
    assert torch.allclose(same, 0.5 * gold)  # a student that agrees with its teacher pays only for the gold labels
    teacher = torch.tensor([[-3.0, 3.0], [3.0, -3.0], [0.0, 0.0]]).log_softmax(-1)
    assert distillation_loss(logits, labels, teacher, 0.5, 2.0) > same


def test_keep_both_keeps_the_head_and_the_tail():
    tokenizer = CharTokenizer("abcdefghijklmnopqrstuvwxyz")
    (ids,) = encode_texts(["abcdefghijklmnopqrstuvwxyz"], tokenizer, max_length=8, keep="both")
    assert tokenizer.decode(ids) == "ab" + "uvwxyz"


def test_sentences_come_from_multi_sentence_texts_only():
    texts = ["One short line.", "It was long. <br /><br />The acting was fine and the plot moved! Did it end well at all?"]
    assert sentences_of(texts) == ["The acting was fine and the plot moved!", "Did it end well at all?"]


def test_the_command_line_trains_a_teacher_evaluates_it_and_refuses_a_mismatched_student(tiny_bert, task, tmp_path):
    from typer.testing import CliRunner

    from nlp_lstm.cli import app

    runner = CliRunner()
    trained = runner.invoke(
        app,
        ["train", "teacher", "--dataset", str(task["big"]), "--base", str(tiny_bert), "--output", str(tmp_path / "t"),
         "--max-length", "16", "--max-steps", "30", "--eval-every", "15", "--lr", "2e-3", "--threads", "1", "--json"],
    )  # fmt: skip
    assert trained.exit_code == 0, trained.output
    summary = json.loads(trained.stdout.strip().splitlines()[-1])
    assert summary["steps"] == 30 and summary["best"] == str(tmp_path / "t" / "best")
    scored = runner.invoke(
        app,
        [
            "evaluate",
            "classifier",
            "--model",
            str(tmp_path / "t" / "best"),
            "--dataset",
            str(task["held_out"]),
            "--split",
            "all",
            "--json",
        ],
    )
    assert scored.exit_code == 0, scored.output
    assert json.loads(scored.stdout)["accuracy"] == pytest.approx(summary["best_validation"]["accuracy"], abs=0.15)
    described = runner.invoke(app, ["info", "--model", str(tmp_path / "t" / "best"), "--json"])
    assert described.exit_code == 0, described.output
    assert json.loads(described.stdout)["shape"] == "2-layer bert transformer, hidden 32"
    other = write_csv(
        tmp_path / "other.csv", [(text, "spam" if label == "positive" else "ham") for text, label in make_texts(60, 5)]
    )
    refused = runner.invoke(
        app, ["train", "classifier", "--dataset", str(other), "--teacher", str(tmp_path / "t"), "-o", str(tmp_path / "s")]
    )
    assert refused.exit_code == 2
    assert refused.stderr.count("\n") == 1 and "knows the labels ['negative', 'positive']" in refused.stderr
    assert not (tmp_path / "s").exists()


def test_glove_vectors_start_the_rows_of_the_words_they_hold(teacher, task, tmp_path):
    vectors = {word: [float(i + 1), -float(i), 0.5, 2.0] for i, word in enumerate(POSITIVE[:6])}
    glove = tmp_path / "vectors.txt"
    glove.write_text("".join(f"{word} {' '.join(map(str, v))}\n" for word, v in vectors.items()) + "notaword 1 2 3 4\n")
    options = {
        "dataset": str(task["few"]),
        "epochs": 1,
        "lr": 1e-9,
        "threads": 1,
        "teacher": str(teacher),
        "tokenizer": "teacher",
    }
    nlp_lstm.train_classifier(
        ClassifierTrainConfig(**options, embeddings=str(glove)).with_encoder(embedding_dim=4, hidden_size=8), tmp_path / "run"
    )
    saved = nlp_lstm.load_model(tmp_path / "run" / "best")
    rows = torch.stack([saved.model.encoder.embedding.weight[saved.tokenizer.encode(word)[0]] for word in vectors]).detach()
    given = torch.tensor(list(vectors.values()))
    assert torch.allclose(rows, given / given.std(), atol=1e-4)  # the file's vectors, scaled to unit spread
    wrong = ClassifierTrainConfig(**options, embeddings=str(glove))
    with pytest.raises(UsageError, match="holds 4-d vectors; pass --embedding-dim 4"):
        nlp_lstm.train_classifier(wrong.with_encoder(embedding_dim=8, hidden_size=8), tmp_path / "wrong")


def test_labelling_in_bf16_or_at_another_length_gets_outputs_of_its_own(teacher):
    from nlp_lstm.teacher.labels import teacher_log_probabilities

    best = teacher / "best"
    short = [text for text, _ in make_texts(200, seed=6)]  # 7 tokens: inside every cut
    rng = random.Random(7)
    long = [" ".join(rng.choice(FILLER) for _ in range(40)) for _ in range(50)]  # 40 tokens: cut at 16, whole at 48
    cache = Path(os.environ["NLP_LSTM_CACHE"]) / "teacher_outputs"
    before = set(cache.iterdir()) if cache.is_dir() else set()
    fp32, cached = teacher_log_probabilities(best, short + long)
    bf16, _ = teacher_log_probabilities(best, short + long, precision="bf16")
    whole, _ = teacher_log_probabilities(best, short + long, length=48)
    assert not cached and len(set(cache.iterdir()) - before) == 3  # three keys, none serving another's outputs
    n = len(short)
    assert (fp32[:n].argmax(1) == bf16[:n].argmax(1)).mean() > 0.95  # bf16 agrees with fp32
    assert abs(fp32[:n] - bf16[:n]).max() < 0.5 and abs(fp32 - bf16).max() > 0  # close, yet not the same numbers
    assert abs(fp32[:n] - whole[:n]).max() < 1e-4  # short texts: the same ids whatever the cut
    assert abs(fp32[n:] - whole[n:]).max() > 1e-3  # long ones: the teacher read more of them
    with pytest.raises(UsageError, match=r"--teacher-length 100 is longer than the teacher reads \(64 positions\)"):
        teacher_log_probabilities(best, long, length=100)


def test_a_teacher_fine_tunes_in_bf16_where_the_cpu_runs_it(tiny_bert, task, tmp_path):
    from nlp_lstm.precision import bf16_lstm_problem

    problem = bf16_lstm_problem(torch.device("cpu"))
    if problem:
        pytest.skip(f"bf16 is refused on this CPU: {problem}")
    config = TeacherTrainConfig(
        dataset=str(task["big"]), base=str(tiny_bert), max_length=16, epochs=4, lr=2e-3, threads=1, precision="bf16"
    )
    result = nlp_lstm.train_teacher(config, tmp_path / "run")
    assert result.best_validation["accuracy"] > 0.9  # as in fp32: the keywords are learned under autocast too
    weights = nlp_lstm.load_model(tmp_path / "run" / "best").model.network.dtype
    assert weights == torch.float32  # autocast computes in bf16; the weights and the optimiser stay float32


def test_three_classes_pass_from_teacher_to_student(tiny_bert, tmp_path):
    # A third polarity, "neutral": its keywords are 20 of the filler words, and the rest stay filler.
    groups = {"negative": NEGATIVE, "neutral": FILLER[:20], "positive": POSITIVE}
    filler = FILLER[20:]

    def texts(count: int, seed: int) -> list[tuple[str, str]]:
        rng = random.Random(seed)
        rows = []
        for _ in range(count):
            label = rng.choice(sorted(groups))
            words = [rng.choice(filler) for _ in range(6)]
            words.insert(rng.randrange(7), rng.choice(groups[label]))
            rows.append((" ".join(words), label))
        return rows

    big, few = write_csv(tmp_path / "big.csv", texts(2000, 11)), write_csv(tmp_path / "few.csv", texts(150, 12))
    unlabelled = write_csv(tmp_path / "unlabelled.csv", texts(1600, 13), labelled=False)
    held_out = write_csv(tmp_path / "held_out.csv", texts(300, 14))
    teacher_config = TeacherTrainConfig(dataset=str(big), base=str(tiny_bert), max_length=16, epochs=8, lr=5e-3, threads=1)
    assert nlp_lstm.train_teacher(teacher_config, tmp_path / "teacher").best_validation["accuracy"] > 0.9
    config = ClassifierTrainConfig(
        dataset=str(few), epochs=6, batch_size=32, lr=5e-3, patience=0, threads=1,
        teacher=str(tmp_path / "teacher"), tokenizer="teacher", unlabelled=str(unlabelled),
    )  # fmt: skip
    nlp_lstm.train_classifier(config.with_encoder(embedding_dim=16, hidden_size=16, dropout=0.0), tmp_path / "student")
    saved = nlp_lstm.load_model(tmp_path / "student" / "best")
    assert saved.labels == ["negative", "neutral", "positive"]
    scored = nlp_lstm.evaluate_classifier(saved, str(held_out), split="all")
    # Chance is 1/3. Measured 1.0. While the vocabulary's numbering still varied, 15 of 16 runs gave 0.97-1.0
    # and in one the teacher stalled at 0.67 (two classes of three): hence the fixed numbering in tiny_bert.
    assert scored["accuracy"] > 0.75 and all(scored["per_class"][name]["recall"] > 0.5 for name in groups), scored
