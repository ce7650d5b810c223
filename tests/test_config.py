import json

import pytest
from hypothesis import given
from hypothesis import strategies as st

from nlp_lstm.config import ConfigError, ModelConfig, SampleConfig, TrainConfig


def test_json_round_trip():
    for config in (ModelConfig(vocab_size=50, hidden_size=64), TrainConfig(max_steps=3), SampleConfig(seed=4)):
        assert type(config).from_dict(json.loads(json.dumps(config.to_dict()))) == config


def test_unknown_keys_and_wrong_types_are_refused():
    with pytest.raises(ConfigError, match=r"unknown ModelConfig keys \['hiden_size'\]"):
        ModelConfig.from_dict({"vocab_size": 10, "hiden_size": 3})
    with pytest.raises(ConfigError, match="--hidden-size must be int"):
        ModelConfig.from_dict({"vocab_size": 10, "hidden_size": "64"})
    with pytest.raises(ConfigError, match="must be a JSON object"):
        ModelConfig.from_dict([1, 2])


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (lambda: ModelConfig(vocab_size=10, hidden_size=0), "--hidden-size must be a positive integer"),
        (lambda: ModelConfig(vocab_size=10, dropout=1.0), r"--dropout must be in \[0, 1\)"),
        (lambda: ModelConfig(vocab_size=10, embedding_dim=8, hidden_size=16, tie_weights=True), "--tie-weights needs"),
        (lambda: TrainConfig(batch_size=0), "--batch-size must be a positive integer"),
        (lambda: TrainConfig(lr=-1.0), "--lr must be a positive number"),
        (lambda: TrainConfig(device="tpu"), "--device must be auto, cpu"),
        (lambda: SampleConfig(temperature=-0.1), "--temperature must be >= 0"),
        (lambda: SampleConfig(top_p=0.0), r"--top-p must be in \(0, 1\]"),
        (lambda: SampleConfig(top_p=1.5), r"--top-p must be in \(0, 1\]"),
        (lambda: SampleConfig(top_k=-1), "--top-k must be >= 0"),
        (lambda: SampleConfig(length=0), "--length must be a positive integer"),
    ],
)
def test_out_of_range_values_name_the_valid_range(make, message):
    with pytest.raises(ConfigError, match=message):
        make()


@given(
    st.integers(2, 1000),
    st.integers(1, 64),
    st.integers(1, 64),
    st.integers(1, 4),
    st.floats(0, 0.99),
    st.booleans(),
)
def test_model_config_round_trip_property(vocab, emb, hidden, layers, dropout, bidirectional):
    config = ModelConfig(
        vocab_size=vocab, embedding_dim=emb, hidden_size=hidden, num_layers=layers, dropout=dropout, bidirectional=bidirectional
    )
    assert ModelConfig.from_dict(json.loads(json.dumps(config.to_dict()))) == config
