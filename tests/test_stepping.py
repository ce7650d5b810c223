"""The fused single-token stepper gives the logits of the nn.LSTM path, so sampling is unchanged by it."""

import pytest
import torch

from nlp_lstm.config import ModelConfig
from nlp_lstm.model import LanguageModel
from nlp_lstm.stepping import KernelStepper, LSTMStepper, stepper_for


@pytest.mark.parametrize(("layers", "tied"), [(1, False), (2, False), (3, True)])
def test_stepper_matches_the_nn_lstm_path(layers, tied):
    torch.manual_seed(layers)
    hidden = 24
    config = ModelConfig(
        vocab_size=40, embedding_dim=hidden if tied else 12, hidden_size=hidden, num_layers=layers, tie_weights=tied
    )
    model = LanguageModel(config).eval()
    with torch.no_grad():  # non-zero biases everywhere, so their packing is exercised too
        for name, param in model.named_parameters():
            if "bias" in name:
                param.normal_(0, 0.3)
    stepper = LSTMStepper(model)
    ids = torch.randint(2, 40, (3, 30))  # batch of 3
    with torch.no_grad():
        expected, _ = model(ids)  # (3, 30, V), all steps in one call
        state = model.encoder.initial_state(3)
        for t in range(ids.shape[1]):
            logits, state = stepper.step(ids[:, t], state)
            torch.testing.assert_close(logits, expected[:, t], rtol=1e-5, atol=1e-5)
        _, reference_state = model(ids)
    torch.testing.assert_close(state[0], reference_state[0], rtol=1e-5, atol=1e-5)
    torch.testing.assert_close(state[1], reference_state[1], rtol=1e-5, atol=1e-5)


def test_both_step_paths_give_the_same_logits_and_ban_the_same_ids():
    """The kernel path (used on GPUs) against the packed one; on a CPU the packed one is chosen."""
    torch.manual_seed(0)
    model = LanguageModel(ModelConfig(vocab_size=30, embedding_dim=8, hidden_size=16, num_layers=2)).eval()
    banned = [0, 1]
    packed, kernel = LSTMStepper(model, banned_ids=banned), KernelStepper(model, banned)
    assert isinstance(stepper_for(model, banned), LSTMStepper)
    ids = torch.randint(2, 30, (2, 12))
    with torch.no_grad():
        packed_state = kernel_state = model.encoder.initial_state(2)
        for t in range(ids.shape[1]):
            packed_logits, packed_state = packed.step(ids[:, t], packed_state)
            kernel_logits, kernel_state = kernel.step(ids[:, t], kernel_state)
            assert torch.isneginf(kernel_logits[:, banned]).all()
            torch.testing.assert_close(kernel_logits, packed_logits, rtol=1e-5, atol=1e-5)
    torch.testing.assert_close(kernel_state[1], packed_state[1], rtol=1e-5, atol=1e-5)


def test_generation_is_the_same_text_as_stepping_nn_lstm(tiny_lm):
    """The sampling loop with the stepper against the same loop calling the model per character."""
    import nlp_lstm
    from nlp_lstm.config import SampleConfig
    from nlp_lstm.sampling import sample_next

    config = SampleConfig(length=60, temperature=0.8, top_k=0, top_p=0.95, seed=3)
    fast = nlp_lstm.generate(tiny_lm, "From fairest", config)

    model, tokenizer = tiny_lm.model, tiny_lm.tokenizer
    generator = torch.Generator()
    generator.manual_seed(3)
    banned = torch.tensor(tokenizer.special_ids)
    with torch.no_grad():
        logits, state = model(torch.as_tensor(tokenizer.encode("From fairest"))[None])
        step_logits, slow = logits[:, -1], ""
        for _ in range(60):
            next_id = sample_next(step_logits.index_fill(-1, banned, float("-inf")), 0.8, 0, 0.95, generator)
            slow += tokenizer.decode(next_id.tolist())
            logits, state = model(next_id[:, None], state)
            step_logits = logits[:, -1]
    assert fast == slow


def test_packed_weights_are_reused_until_the_weights_change(tiny_lm):
    from nlp_lstm.sampling import cached_stepper

    banned = tiny_lm.tokenizer.special_ids
    first = cached_stepper(tiny_lm.model, banned)
    assert cached_stepper(tiny_lm.model, banned) is first  # packed once per model load
    with torch.no_grad():
        tiny_lm.model.head.decoder.bias.add_(1.0)  # an in-place update, as an optimiser step makes
    second = cached_stepper(tiny_lm.model, banned)
    assert second is not first
    torch.testing.assert_close(second.decoder_bias[2:], tiny_lm.model.head.decoder.bias[2:])
