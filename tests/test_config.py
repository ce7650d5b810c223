import json

import pytest
from hypothesis import given
from hypothesis import strategies as st

from nlp_lstm import tasks
from nlp_lstm.config import MAX_SAMPLED_TOKENS, ConfigError, EncoderConfig, ModelConfig, SampleConfig
from nlp_lstm.forecast_config import ForecastTrainConfig
from nlp_lstm.train_config import ClassifierTrainConfig, TeacherTrainConfig, TrainConfig, changed_settings, flat_settings


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


def test_the_encoder_is_a_nested_setting_that_round_trips_strictly():
    config = ClassifierTrainConfig(epochs=2).with_encoder(hidden_size=64, bidirectional=True)
    data = json.loads(json.dumps(config.to_dict()))
    assert data["encoder"]["hidden_size"] == 64 and data["encoder"]["num_layers"] == 1  # the classifier's default kept
    assert ClassifierTrainConfig.from_dict(data) == config
    with pytest.raises(ConfigError, match=r"unknown EncoderConfig keys \['hidden'\]"):
        ClassifierTrainConfig.from_dict({**data, "encoder": {"hidden": 64}})
    with pytest.raises(ConfigError, match="--num-layers must be int"):
        ClassifierTrainConfig.from_dict({**data, "encoder": {**data["encoder"], "num_layers": "2"}})
    with pytest.raises(ConfigError, match="--encoder must be EncoderConfig"):
        TrainConfig.from_dict({"encoder": 3})
    with pytest.raises(ConfigError, match="--hidden-size must be a positive integer"):
        TrainConfig().with_encoder(hidden_size=0)


def test_a_task_refuses_the_encoder_fields_it_does_not_take():
    with pytest.raises(ConfigError, match="a classifier takes no --tie-weights"):
        ClassifierTrainConfig(encoder=EncoderConfig(embedding_dim=64, hidden_size=64, tie_weights=True))
    with pytest.raises(ConfigError, match="a language model takes no --bidirectional"):
        TrainConfig().with_encoder(bidirectional=True)
    assert TrainConfig().with_encoder(embedding_dim=64, hidden_size=64, tie_weights=True).encoder.tie_weights


def test_the_settings_asked_for_are_those_that_differ_from_the_defaults():
    assert changed_settings(TrainConfig()) == set() == changed_settings(ForecastTrainConfig())
    config = ClassifierTrainConfig(lr=1e-3, tokenizer="bpe").with_encoder(hidden_size=64, dropout=0.3)
    assert changed_settings(config) == {"lr", "tokenizer", "hidden_size"}  # 0.3 is the classifier's own dropout
    flat = flat_settings(config)
    assert flat["hidden_size"] == 64 and "encoder" not in flat and "tie_weights" not in flat and "bidirectional" in flat
    assert "hidden_size" not in flat_settings(TeacherTrainConfig())  # a teacher's shape is its base's


def test_the_table_of_tasks_says_which_recipe_a_config_runs():
    made = [TrainConfig(), ClassifierTrainConfig(), TeacherTrainConfig(), ForecastTrainConfig()]
    assert [tasks.of_config(config).kind for config in made] == ["lm", "classifier", "teacher", "forecaster"]
    with pytest.raises(TypeError, match="no task trains a SampleConfig; give one of TrainConfig, "):
        tasks.of_config(SampleConfig())


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
