"""The CUDA path (cuDNN LSTM, bf16 autocast, saving from the GPU). Runs where a GPU is present, skipped elsewhere."""

import pytest
import torch

import nlp_lstm
from nlp_lstm import checkpoint
from nlp_lstm.config import SampleConfig
from nlp_lstm.train_config import TrainConfig
from nlp_lstm.training.language_model import train_language_model

pytestmark = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")
MODEL = dict(embedding_dim=32, hidden_size=64, num_layers=2, dropout=0.0, embedding_dropout=0.0)


@pytest.mark.parametrize("precision", ["fp32", "bf16"])
def test_trains_on_cuda_and_the_saved_model_loads_on_cpu(tmp_path, text_file, precision):
    config = TrainConfig(
        dataset=str(text_file), seq_len=64, batch_size=16, max_steps=40, eval_every=20, device="cuda", precision=precision
    )
    result = train_language_model(config.with_encoder(**MODEL), tmp_path / "run")
    assert result.best_validation["bits_per_char"] < 6.0
    on_gpu = checkpoint.load(result.best_dir, device="cuda")  # cuDNN packs LSTM weights into one buffer; saving must cope
    on_cpu = checkpoint.load(result.best_dir, device="cpu")
    ids = torch.as_tensor(on_cpu.tokenizer.encode("Shall I compare thee to a summer's day?"))[None]
    with torch.no_grad():
        cpu_logits, _ = on_cpu.model(ids)
        gpu_logits, _ = on_gpu.model(ids.cuda())
    torch.testing.assert_close(gpu_logits.cpu(), cpu_logits, rtol=1e-3, atol=1e-3)  # TF32 matmuls on the GPU


@pytest.fixture
def exact_float32():
    """TF32 (on by default for cuDNN) rounds products to 10 bits; compare paths in true float32."""
    saved = torch.backends.cudnn.allow_tf32, torch.backends.cuda.matmul.allow_tf32
    torch.backends.cudnn.allow_tf32 = torch.backends.cuda.matmul.allow_tf32 = False
    yield
    torch.backends.cudnn.allow_tf32, torch.backends.cuda.matmul.allow_tf32 = saved


def test_generation_gives_the_same_text_on_cuda_and_cpu(exact_float32):
    cpu = nlp_lstm.load_model(nlp_lstm.shipped_model("lm"), device="cpu")
    gpu = nlp_lstm.load_model(nlp_lstm.shipped_model("lm"), device="cuda")
    config = SampleConfig(length=40, temperature=0, seed=0)  # greedy: no sampling noise, only arithmetic
    assert nlp_lstm.generate(gpu, "ROMEO:", config) == nlp_lstm.generate(cpu, "ROMEO:", config)


def test_classifier_predictions_agree_on_cuda_and_cpu(reviews):
    cpu = nlp_lstm.load_model(nlp_lstm.shipped_model("classifier"), device="cpu")
    gpu = nlp_lstm.load_model(nlp_lstm.shipped_model("classifier"), device="cuda")
    texts = reviews.test.texts[:64]
    cpu_labels = [p.label for p in nlp_lstm.classify(cpu, texts)]
    gpu_labels = [p.label for p in nlp_lstm.classify(gpu, texts)]
    assert sum(a == b for a, b in zip(cpu_labels, gpu_labels)) >= 63  # a near-tie may flip under TF32
