import json

import pytest
from hypothesis import given
from hypothesis import strategies as st

from nlp_lstm.config import MAX_SAMPLED_TOKENS, ConfigError, ModelConfig, SampleConfig
from nlp_lstm.train_config import TrainConfig


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
        (lambda: SampleConfig(temperature=1e308), "--temperature must be at most 100"),
        (lambda: SampleConfig(temperature=float("nan")), "--temperature must be >= 0"),
        (lambda: SampleConfig(seed=2**64), r"--seed must be an integer from 0 to 2\^64 - 1"),
        (lambda: SampleConfig(seed=-1), r"--seed must be an integer from 0 to 2\^64 - 1"),
        (lambda: SampleConfig(num_samples=2 * 10**8, length=1), "--num-samples times --length must be at most 10,000,000"),
    ],
)
def test_out_of_range_values_name_the_valid_range(make, message):
    with pytest.raises(ConfigError, match=message):
        make()


def test_sampling_bounds_admit_their_edges():
    SampleConfig(temperature=100.0, top_p=5e-324, seed=2**64 - 1)
    SampleConfig(temperature=1e-300, seed=0, num_samples=10, length=MAX_SAMPLED_TOKENS // 10)


def test_an_error_names_its_settings_as_each_front_end_spells_them():
    with pytest.raises(ConfigError) as raised:
        SampleConfig(num_samples=10**7, length=2)
    assert str(raised.value).startswith("--num-samples times --length must be at most")  # the command line
    assert raised.value.naming(lambda name: name).startswith("num_samples times length must be at most")  # JSON
    assert raised.value.fields == ("num_samples", "length")
    plain = ConfigError("unknown keys ['$top_p', '{x}']")  # of no setting: its text as it is, whatever it holds
    assert plain.naming(str.upper) == str(plain) == "unknown keys ['$top_p', '{x}']"


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
