"""Sampling: determinism, greedy decoding, top-k/top-p sets, state carrying, and the bounds of `nlp-lstm generate`."""

import json

import pytest
import torch
from typer.testing import CliRunner

import nlp_lstm
from nlp_lstm.cli import app
from nlp_lstm.config import SampleConfig
from nlp_lstm.sampling import filter_logits, generate, generate_samples, generate_stream, sample_next


def test_same_seed_same_sample_and_different_seed_differs(tiny_lm):
    config = SampleConfig(length=60, temperature=1.0, seed=7)
    first = generate(tiny_lm, "From", config)
    assert generate(tiny_lm, "From", config) == first
    assert generate(tiny_lm, "From", config.replace(seed=8)) != first
    assert len(first) == 60


def test_greedy_ignores_the_seed(tiny_lm):
    greedy = SampleConfig(length=40, temperature=0.0)
    assert generate(tiny_lm, "the", greedy.replace(seed=1)) == generate(tiny_lm, "the", greedy.replace(seed=2))


def test_stepping_with_carried_state_equals_rerunning_the_prefix(tiny_lm):
    prompt = "From fairest"
    text = generate(tiny_lm, prompt, SampleConfig(length=25, temperature=0.0))
    tok, model = tiny_lm.tokenizer, tiny_lm.model
    ids = tok.encode(prompt)
    with torch.no_grad():
        for _ in range(25):  # the naive way: re-run the whole prefix for every new character
            logits, _ = model(torch.tensor([ids]))
            last = logits[0, -1].index_fill(0, torch.tensor(tok.special_ids), float("-inf"))
            ids.append(int(last.argmax()))
    assert tok.decode(ids[len(tok.encode(prompt)) :]) == text


def test_top_k_never_samples_outside_the_k_likeliest():
    torch.manual_seed(0)
    logits = torch.randn(4, 50)
    allowed = torch.topk(logits, 5, dim=-1).indices
    generator = torch.Generator().manual_seed(0)
    for _ in range(200):
        ids = sample_next(logits, temperature=2.0, top_k=5, top_p=1.0, generator=generator)
        assert all(ids[b] in allowed[b] for b in range(4))


def test_top_p_keeps_the_smallest_set_reaching_p():
    probs = torch.tensor([[0.5, 0.3, 0.15, 0.05]])
    filtered = filter_logits(probs.log(), top_p=0.8)
    assert torch.isfinite(filtered).tolist() == [[True, True, False, False]]
    filtered = filter_logits(probs.log(), top_p=0.81)
    assert torch.isfinite(filtered).tolist() == [[True, True, True, False]]
    # the likeliest token always stays, however small p is
    assert torch.isfinite(filter_logits(probs.log(), top_p=0.01)).tolist() == [[True, False, False, False]]
    generator = torch.Generator().manual_seed(0)
    drawn = {int(sample_next(probs.log(), 1.0, 0, 0.8, generator)) for _ in range(300)}
    assert drawn == {0, 1}


def test_special_tokens_are_never_emitted_and_unknown_prompt_characters_do_not_crash(tiny_lm):
    text = generate(tiny_lm, "日本語 😀 \x00", SampleConfig(length=200, temperature=3.0, seed=0))
    assert "\ufffd" not in text and len(text) == 200


def test_samples_stream_in_order_and_match_the_batch_function(tiny_lm):
    config = SampleConfig(length=15, temperature=0.9, seed=3, num_samples=3)
    pieces = list(generate_stream(tiny_lm, "", config))
    assert [index for index, _ in pieces] == [i for i in range(3) for _ in range(15)]
    assert generate_samples(tiny_lm, "", config) == ["".join(p for i, p in pieces if i == k) for k in range(3)]


def test_the_smallest_temperatures_and_top_p_are_their_limits_greedy_decoding(tiny_lm):
    greedy = generate(tiny_lm, "From", SampleConfig(length=40, temperature=0.0))
    for edge in ({"temperature": 1e-300}, {"temperature": 5e-324}, {"top_p": 1e-300}, {"top_p": 5e-324}):
        assert generate(tiny_lm, "From", SampleConfig(length=40, seed=5, **edge)) == greedy, edge


@pytest.mark.parametrize(
    ("options", "message"),
    [
        (["--seed", str(2**70)], f"--seed must be an integer from 0 to 2^64 - 1, got {2**70}"),
        (["--seed", "-1"], "--seed must be an integer from 0 to 2^64 - 1, got -1"),
        (["--temperature", "1e308"], "--temperature must be at most 100 (0 = greedy), got 1e+308"),
        (
            ["--num-samples", "200000000", "--length", "1"],
            "--num-samples times --length must be at most 10,000,000 tokens, got 200,000,000; draw fewer or shorter samples",
        ),
    ],
)
def test_generate_refuses_values_out_of_range_in_one_line_before_loading_a_model(options, message):
    result = CliRunner().invoke(app, ["generate", "--model", "/nonexistent/model", *options])
    assert result.exit_code == 2 and result.stderr == f"error: {message}\n", result.stderr


def test_generate_json_prints_each_sample_when_it_is_done(tiny_lm, tmp_path):
    directory = nlp_lstm.save_model(tiny_lm, tmp_path / "lm")
    options = ["--num-samples", "3", "--length", "12", "--seed", "2", "--json"]
    result = CliRunner().invoke(app, ["generate", "--model", str(directory), "--prompt", "From", *options])
    assert result.exit_code == 0, result.stderr
    rows = [json.loads(line) for line in result.stdout.splitlines()]
    expected = generate_samples(tiny_lm, "From", SampleConfig(length=12, seed=2, num_samples=3))
    assert rows == [{"index": i, "prompt": "From", "continuation": text} for i, text in enumerate(expected)]


def test_generate_parts_plain_samples_with_a_line_each(tiny_lm, tmp_path):
    directory = nlp_lstm.save_model(tiny_lm, tmp_path / "lm")
    options = ["--num-samples", "3", "--length", "30", "--seed", "2", "--temperature", "3"]  # hot: blank lines too
    result = CliRunner().invoke(app, ["generate", "--model", str(directory), "--prompt", "From", *options])
    assert result.exit_code == 0, result.stderr
    expected = generate_samples(tiny_lm, "From", SampleConfig(length=30, seed=2, temperature=3.0, num_samples=3))
    assert result.stdout == "".join(f"--- sample {i + 1} of 3 ---\nFrom{text}\n" for i, text in enumerate(expected))
    one = CliRunner().invoke(app, ["generate", "--model", str(directory), "--prompt", "From", "--length", "30", "--seed", "2"])
    assert one.stdout == "From" + generate(tiny_lm, "From", SampleConfig(length=30, seed=2)) + "\n"  # one sample: no line
