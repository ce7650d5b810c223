"""The classifier on real reviews: overfitting, padding invariance, gradient routing, transfer, labels."""

import json

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from nlp_lstm import checkpoint
from nlp_lstm.config import ModelConfig
from nlp_lstm.data.batching import ClassifierBatches, encode_texts
from nlp_lstm.data.sources import load_labelled_splits
from nlp_lstm.errors import DataError
from nlp_lstm.model import Classifier, LanguageModel, layer_groups
from nlp_lstm.prediction import classify
from nlp_lstm.tokenizer import CharTokenizer
from nlp_lstm.train_config import ClassifierTrainConfig, TrainConfig
from nlp_lstm.training.classifier import train_classifier, trainable_groups
from nlp_lstm.training.language_model import train_language_model
from nlp_lstm.training.run import TrainingError

SMALL = dict(embedding_dim=16, hidden_size=24, num_layers=2, dropout=0.0, embedding_dropout=0.0)


def padded(sequences, pad_id=0):
    lengths = torch.tensor([len(s) for s in sequences])
    ids = torch.full((len(sequences), int(lengths.max())), pad_id)
    for row, s in enumerate(sequences):
        ids[row, : len(s)] = torch.as_tensor(s)
    return ids, lengths


@pytest.mark.parametrize("bidirectional", [False, True])
def test_logits_are_the_same_alone_or_in_a_padded_batch(reviews, bidirectional):
    torch.manual_seed(0)
    tok = CharTokenizer.build(reviews.train.texts[:200])
    model = (
        Classifier(ModelConfig(vocab_size=tok.vocab_size, num_classes=3, bidirectional=bidirectional, **SMALL)).double().eval()
    )
    texts = reviews.validation.texts[:5]
    sequences = [tok.encode(t) for t in texts]
    ids, lengths = padded(sequences)
    together = model(ids, lengths)
    for row, sequence in enumerate(sequences):
        alone = model(*padded([sequence]))
        torch.testing.assert_close(alone[0], together[row], rtol=0, atol=1e-12)
    assert (lengths.max() - lengths.min()) > 10  # real padding was involved


def test_overfits_a_small_labelled_batch(reviews):
    torch.manual_seed(0)
    tok = CharTokenizer.build(reviews.train.texts[:200])
    texts, labels = reviews.train.texts[:16], torch.tensor(reviews.train.labels[:16])
    ids, lengths = padded([tok.encode(t)[:80] for t in texts])
    model = Classifier(ModelConfig(vocab_size=tok.vocab_size, num_classes=2, **SMALL))
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-2)
    for _ in range(150):
        loss = F.cross_entropy(model(ids, lengths), labels)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    assert (model(ids, lengths).argmax(1) == labels).all()


def test_a_language_model_step_leaves_the_classifier_head_untouched():
    torch.manual_seed(0)
    config = ModelConfig(vocab_size=20, num_classes=2, **SMALL)
    classifier, lm = Classifier(config), LanguageModel(config.replace(num_classes=0))
    lm.encoder = classifier.encoder  # one encoder, two heads
    head_before = [p.detach().clone() for p in classifier.head.parameters()]
    encoder_before = [p.detach().clone() for p in classifier.encoder.parameters()]
    optimizer = torch.optim.SGD(lm.parameters(), lr=0.5)
    ids = torch.randint(2, 20, (4, 12))
    logits, _ = lm(ids[:, :-1])
    F.cross_entropy(logits.flatten(0, 1), ids[:, 1:].flatten()).backward()
    optimizer.step()
    assert all(p.grad is None for p in classifier.head.parameters())
    assert all(torch.equal(a, b) for a, b in zip(head_before, classifier.head.parameters()))
    assert any(not torch.equal(a, b) for a, b in zip(encoder_before, classifier.encoder.parameters()))


def test_gradual_unfreezing_schedule():
    config = ClassifierTrainConfig(init_from="lm", freeze_epochs=1)
    assert [trainable_groups(e, 4, config) for e in range(5)] == [1, 2, 3, 4, 4]
    assert trainable_groups(0, 4, config.replace(init_from=None)) == 4
    model = Classifier(ModelConfig(vocab_size=20, num_classes=2, **SMALL))
    groups = layer_groups(model)
    assert len(groups) == 4 and sum(len(g) for g in groups) == len(list(model.parameters()))


@pytest.fixture(scope="module")
def review_lm(tmp_path_factory, reviews):
    """A tiny character LM trained briefly on real review text."""
    path = tmp_path_factory.mktemp("lm") / "reviews.txt"
    path.write_text("\n".join(reviews.train.texts[:400]))
    out = tmp_path_factory.mktemp("lmrun") / "run"
    config = TrainConfig(dataset=str(path), seq_len=32, batch_size=8, max_steps=10, eval_every=10, device="cpu")
    train_language_model(config.with_encoder(**SMALL), out)
    return out / "best"


def test_transfer_copies_the_encoder_and_a_frozen_encoder_stays_frozen(tmp_path, review_lm, reviews_csv):
    config = ClassifierTrainConfig(
        dataset=str(reviews_csv),
        text_column="review",
        label_column="sentiment",
        epochs=1,
        max_length=64,
        init_from=str(review_lm),
        device="cpu",
        warmup_steps=0,
    )
    result = train_classifier(config, tmp_path / "clf")
    lm = checkpoint.load(review_lm)
    classifier = checkpoint.load(result.last_dir, kind="classifier")
    assert classifier.tokenizer == lm.tokenizer
    for name, value in lm.model.encoder.state_dict().items():  # one frozen epoch: exactly the LM's weights
        assert torch.equal(classifier.model.encoder.state_dict()[name], value), name
    assert not torch.equal(classifier.model.head.linear.weight, Classifier(classifier.config).head.linear.weight)

    unfrozen = train_classifier(config.replace(epochs=2), tmp_path / "clf2")
    second = checkpoint.load(unfrozen.last_dir).model.encoder.state_dict()
    assert not torch.equal(second["lstm.weight_hh_l1"], lm.model.encoder.state_dict()["lstm.weight_hh_l1"])  # top layer learned
    assert torch.equal(second["embedding.weight"], lm.model.encoder.state_dict()["embedding.weight"])  # bottom still frozen


def test_transfer_refuses_another_tokenizer_and_shape_options(tmp_path, review_lm, reviews_csv):
    config = ClassifierTrainConfig(
        dataset=str(reviews_csv),
        text_column="review",
        label_column="sentiment",
        init_from=str(review_lm),
        tokenizer="bpe",
        device="cpu",
    )
    with pytest.raises(TrainingError, match="has a char tokenizer but --tokenizer is bpe"):
        train_classifier(config, tmp_path / "a")
    with pytest.raises(TrainingError, match="takes the encoder's shape from the language model"):
        train_classifier(config.replace(tokenizer="char").with_encoder(hidden_size=64), tmp_path / "b")
    with pytest.raises(checkpoint.ModelLoadError, match="nothing: no such model directory"):
        train_classifier(config.replace(tokenizer="char", init_from=str(tmp_path / "nothing")), tmp_path / "c")


def test_string_labels_round_trip_to_names_and_training_learns(tmp_path, reviews_csv, reviews):
    config = ClassifierTrainConfig(
        dataset=str(reviews_csv),
        text_column="review",
        label_column="sentiment",
        epochs=3,
        tokenizer="bpe",
        vocab_size=500,
        max_length=48,
        device="cpu",
        seed=1,
    )
    result = train_classifier(config.with_encoder(embedding_dim=32, hidden_size=32, num_layers=1), tmp_path / "run")
    saved = checkpoint.load(result.best_dir)
    assert saved.labels == ["negative", "positive"] and saved.inputs == {"max_length": 48, "keep": "end"}
    predictions = classify(saved, ["a gorgeous, heartfelt film", "dull", ""])
    assert [p.index for p in predictions] == [0, 1, 2]
    assert predictions[2].label is None and predictions[2].probabilities == {}  # a blank text gets no label
    for p in predictions[:2]:
        assert p.label in ("negative", "positive")
        assert sum(p.probabilities.values()) == pytest.approx(1.0, abs=1e-5)
        assert p.label == max(p.probabilities, key=p.probabilities.get)
    lines = [json.loads(line) for line in (tmp_path / "run" / "metrics.jsonl").read_text().splitlines()]
    validation = [line for line in lines if line.get("split") == "validation"]
    assert len(validation) == 3 and result.best_validation["accuracy"] == max(v["accuracy"] for v in validation)


def test_stratified_split_and_label_handling(tmp_path, reviews):
    import datasets

    assert (len(reviews.train), len(reviews.validation), len(reviews.test)) == (6826, 852, 852)
    assert sum(reviews.test.labels) == 426 and not set(reviews.train.texts) & set(reviews.test.texts)
    data = datasets.Dataset.from_dict(
        {"sentence": ["good", "bad", None, "fine", "awful", "great", "", "poor"] * 5, "mood": [1, 0, 1, 1, 0, 1, 0, None] * 5},
        features=datasets.Features({"sentence": datasets.Value("string"), "mood": datasets.ClassLabel(names=["sad", "happy"])}),
    )
    path = tmp_path / "moods.parquet"
    data.to_parquet(path)
    splits = load_labelled_splits(str(path), "sentence", "mood")
    assert splits.label_names == ["sad", "happy"]  # ClassLabel names survive
    assert splits.skipped == 15  # None text, empty text, None label: five times each
    assert len(splits.train) + len(splits.validation) + len(splits.test) == 25


def test_single_class_and_missing_columns_are_refused(tmp_path):
    path = tmp_path / "one.csv"
    path.write_text("text,label\n" + "".join(f"text {i},yes\n" for i in range(30)))
    with pytest.raises(DataError, match="single class .*'yes'.*at least two"):
        load_labelled_splits(str(path))
    with pytest.raises(DataError, match="column 'stars' not found; choose --label-column from: text, label"):
        load_labelled_splits(str(path), label_column="stars")


def test_bucketing_covers_every_text_once_and_pads_little(reviews):
    tok = CharTokenizer.build(reviews.train.texts[:500])
    ids = encode_texts(reviews.train.texts[:2000], tok, max_length=300, keep="start")
    batches = ClassifierBatches(ids, reviews.train.labels[:2000], batch_size=32)
    epoch = batches.epoch(0, seed=0)
    assert sorted(np.concatenate(epoch).tolist()) == list(range(2000))
    assert [len(b) for b in batches.epoch(1, seed=0)] != [len(b) for b in epoch] or not all(
        (a == b).all() for a, b in zip(batches.epoch(1, seed=0), epoch)
    )
    bucketed = sum(int(batches.lengths[b].max()) * len(b) for b in epoch)
    rng = np.random.default_rng(0).permutation(2000)
    random = sum(int(batches.lengths[rng[i : i + 32]].max()) * len(rng[i : i + 32]) for i in range(0, 2000, 32))
    real = int(batches.lengths.sum())
    assert bucketed - real < 0.25 * (random - real)  # bucketing removes most of the padding


def test_truncation_keeps_start_or_end():
    tok = CharTokenizer.build(["abcdefghij"])
    assert tok.decode(encode_texts(["abcdefghij"], tok, 4, "start")[0]) == "abcd"
    assert tok.decode(encode_texts(["abcdefghij"], tok, 4, "end")[0]) == "ghij"
    assert encode_texts([""], tok, 4)[0].tolist() == [tok.unk_id]  # an empty text still has one step


def test_evaluation_refuses_labels_the_model_never_learned(tmp_path, reviews_csv):
    import pandas as pd

    from nlp_lstm.evaluate import evaluate_classifier

    frame = pd.read_csv(reviews_csv)
    frame.loc[frame.index[::4], "sentiment"] = "neutral"  # a third label, unknown to a negative/positive model
    path = tmp_path / "three.csv"
    frame.to_csv(path, index=False)
    tok = CharTokenizer.build(frame["review"].tolist())
    model = Classifier(ModelConfig(vocab_size=tok.vocab_size, num_classes=2, **SMALL)).eval()
    saved = checkpoint.ModelBundle(model, tok, "classifier", ["negative", "positive"])
    with pytest.raises(DataError, match=r"labels \['neutral'\] of .* are unknown to this model \(it knows negative, positive\)"):
        evaluate_classifier(saved, str(path), "test", text_column="review", label_column="sentiment")
