"""Sampling text from a language model (``nlp_lstm.generate`` and friends).

As in char-rnn's ``sample.lua``: the prompt primes the LSTM state in one pass,
then each new character is one step with the state carried, never a re-run of
the prefix. Temperature 0 is greedy decoding; top-k and top-p (nucleus,
Holtzman et al. 2020) filters restrict the candidates before sampling.
"""

from __future__ import annotations

import weakref
from collections.abc import Iterator

import torch
from torch import Tensor

from nlp_lstm import tasks
from nlp_lstm.arguments import check_config, check_model, check_prompt
from nlp_lstm.checkpoint import ModelBundle
from nlp_lstm.config import SampleConfig
from nlp_lstm.stepping import KernelStepper, LSTMStepper, stepper_for

# Empty prompts start from a newline, the most natural "beginning" in a text stream.
DEFAULT_PRIME = "\n"
# A prompt primes the model with its last PROMPT_CONTEXT characters only: an LSTM carries little
# further than that, and priming a long text one step at a time would take minutes.
PROMPT_CONTEXT = 2000
# Temperatures below float32's smallest normal number are greedy decoding, the limit t -> 0 they approach:
# float32 holds the smallest of them as 0 (or flushes them to 0), and (x - max) / 0 is 0 / 0 for the likeliest token.
GREEDY_BELOW = float(torch.finfo(torch.float32).smallest_normal)


def filter_logits(logits: Tensor, top_k: int = 0, top_p: float = 1.0) -> Tensor:
    """``logits`` (B, V) with everything outside the top-k / top-p sets set to -inf."""
    if top_k > 0 and top_k < logits.shape[-1]:
        kth = torch.topk(logits, top_k, dim=-1).values[..., -1:]
        logits = logits.masked_fill(logits < kth, float("-inf"))
    if top_p < 1.0:
        sorted_logits, order = torch.sort(logits, dim=-1, descending=True)
        probs = sorted_logits.softmax(dim=-1)
        # Drop a token when the tokens ranked above it already reach top_p; the first always stays.
        drop_sorted = probs.cumsum(dim=-1) - probs >= top_p
        drop_sorted[..., 0] = False  # said outright: a top_p that float32 holds as 0 would drop it too (0 >= 0)
        drop = drop_sorted.scatter(-1, order, drop_sorted)
        logits = logits.masked_fill(drop, float("-inf"))
    return logits


def sample_next(logits: Tensor, temperature: float, top_k: int, top_p: float, generator: torch.Generator) -> Tensor:
    """Next ids (B,) from ``logits`` (B, V), on the CPU: the caller reads them there, so one copy back
    to a GPU costs less than a second wait for it. The draw itself is on the CPU too, with a CPU
    generator, so that a seed gives the same text on any device."""
    if temperature < GREEDY_BELOW:
        return logits.argmax(dim=-1).cpu()
    scaled = logits.float() if temperature == 1.0 else logits.float() / temperature  # x / 1 is x: skip the op
    probs = filter_logits(scaled, top_k, top_p).softmax(dim=-1).cpu()
    if temperature < 1.0 and torch.isnan(probs).any():
        # A tiny temperature overflows x / t to infinity; (x - max) / t cannot, and puts all the mass
        # on the likeliest tokens, as the limit t -> 0 should. Checked here, where probs are on the CPU anyway.
        shifted = (logits.float() - logits.float().amax(dim=-1, keepdim=True)) / temperature
        probs = filter_logits(shifted, top_k, top_p).softmax(dim=-1).cpu()
    if torch.isnan(probs).any():
        raise RuntimeError("probability tensor contains nan: the model's logits are not finite")
    # What torch.multinomial(probs, 1, generator=generator) does for one draw (argmax of p / q with
    # q ~ Exp(1), the Gumbel-max trick), without its validity checks and their extra syncs: the same
    # generator state gives the same ids, at a third of the cost.
    exponential = torch.empty_like(probs).exponential_(1, generator=generator)
    return probs.div_(exponential).argmax(dim=-1)


# A stepper per model, so repeated calls (a server, a notebook) pack weights once per model load. The key
# holds every parameter's version counter, which in-place updates (an optimiser step) advance.
_STEPPERS: weakref.WeakKeyDictionary[torch.nn.Module, tuple[tuple, LSTMStepper | KernelStepper]] = weakref.WeakKeyDictionary()


def cached_stepper(model: torch.nn.Module, banned: list[int]) -> LSTMStepper | KernelStepper:
    """The model's stepper (:func:`stepper_for`), reused while its device, weights, the thread count and the banned ids are unchanged."""
    device = next(model.parameters()).device
    key = (str(device), torch.get_num_threads(), *banned, -1, *(p._version for p in model.parameters()))
    cached = _STEPPERS.get(model)
    if cached is None or cached[0] != key:
        cached = _STEPPERS[model] = (key, stepper_for(model, banned))
    return cached[1]


def generate_stream(saved: ModelBundle, prompt: str = "", config: SampleConfig | None = None) -> Iterator[tuple[int, str]]:
    """Yield ``(sample_index, text_piece)`` as characters are produced, sample after sample.

    ``prompt`` is one string, the text to continue (empty: start from a newline); its last
    ``PROMPT_CONTEXT`` characters prime the model. Bad arguments are refused here, at the call,
    not at the first ``next``.
    """
    check_model(saved, tasks.LM, "generate")
    check_prompt(prompt)
    check_config(config, SampleConfig)
    return _stream(saved, prompt, config or SampleConfig())


@torch.inference_mode()
def _stream(saved: ModelBundle, prompt: str, config: SampleConfig) -> Iterator[tuple[int, str]]:
    model, tokenizer = saved.model, saved.tokenizer
    model.eval()
    device = next(model.parameters()).device
    generator = torch.Generator()
    generator.manual_seed(config.seed if config.seed is not None else torch.seed())
    prime = torch.as_tensor(tokenizer.encode(prompt[-PROMPT_CONTEXT:] or DEFAULT_PRIME), device=device)[None]  # (1, P)
    banned = tokenizer.special_ids  # never emit <pad>/<unk>
    logits, primed_state = model(prime)  # the prompt in one pass of the fast sequence kernel
    primed_logits = logits[:, -1].index_fill(-1, torch.tensor(banned, device=device), float("-inf"))  # (1, V)
    # Then one character at a time through the device's faster step (pre-packed weights on a CPU); it bans the same ids.
    stepper = cached_stepper(model, banned)
    pieces: dict[int, str] = {}  # id -> its text: decoding one id at a time is a pure function of the id
    for sample in range(config.num_samples):
        step_logits, state = primed_logits, primed_state
        for _ in range(config.length):
            next_id = sample_next(step_logits, config.temperature, config.top_k, config.top_p, generator)
            token = int(next_id)
            piece = pieces.get(token)
            if piece is None:
                piece = pieces[token] = tokenizer.decode([token])
            yield sample, piece
            step_logits, state = stepper.step(next_id.to(device), state)


def generate_samples(saved: ModelBundle, prompt: str = "", config: SampleConfig | None = None) -> list[str]:
    """The continuations of the one string ``prompt`` (without the prompt), a list of ``config.num_samples`` strings."""
    pieces = generate_stream(saved, prompt, config)  # checks the arguments first
    config = config or SampleConfig()
    samples: list[list[str]] = [[] for _ in range(config.num_samples)]
    for index, piece in pieces:
        samples[index].append(piece)  # joined once at the end: += on a list item copies the string every time
    return ["".join(pieces) for pieces in samples]


def generate(saved: ModelBundle, prompt: str = "", config: SampleConfig | None = None) -> str:
    """One continuation of the one string ``prompt`` (without the prompt), as a string; ``config.num_samples`` is ignored."""
    check_config(config, SampleConfig)
    config = (config or SampleConfig()).replace(num_samples=1)
    return generate_samples(saved, prompt, config)[0]
