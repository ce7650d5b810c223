"""The optimiser and its schedule: AdamW over scaled parameter groups, warm-up then cosine decay."""

from __future__ import annotations

import math

import torch

from nlp_lstm.train_config import ClassifierTrainConfig, TeacherTrainConfig, TrainConfig

AnyTrainConfig = TrainConfig | ClassifierTrainConfig | TeacherTrainConfig


def learning_rate(step: int, total_steps: int, config: AnyTrainConfig) -> float:
    """Linear warm-up to ``lr`` over ``warmup_steps``, then cosine decay to ``lr * min_lr_ratio`` at ``total_steps``."""
    if step < config.warmup_steps:
        return config.lr * (step + 1) / config.warmup_steps
    progress = (step - config.warmup_steps) / max(1, total_steps - config.warmup_steps)
    cosine = 0.5 * (1 + math.cos(math.pi * min(1.0, progress)))
    return config.lr * (config.min_lr_ratio + (1 - config.min_lr_ratio) * cosine)


def set_learning_rate(optimizer: torch.optim.Optimizer, lr: float) -> None:
    for group in optimizer.param_groups:
        group["lr"] = lr * group.get("lr_scale", 1.0)


def make_optimizer(groups: list[tuple[list[torch.nn.Parameter], float]], weight_decay: float) -> torch.optim.AdamW:
    """AdamW over ``(parameters, lr_scale)`` groups; matrices are decayed, biases and embeddings are not."""
    param_groups = []
    for params, scale in groups:
        decay = [p for p in params if p.dim() >= 2 and not getattr(p, "_no_decay", False)]
        rest = [p for p in params if not (p.dim() >= 2 and not getattr(p, "_no_decay", False))]
        param_groups += [
            {"params": decay, "weight_decay": weight_decay, "lr_scale": scale},
            {"params": rest, "weight_decay": 0.0, "lr_scale": scale},
        ]
    return torch.optim.AdamW([g for g in param_groups if g["params"]], betas=(0.9, 0.99))


def mark_embeddings_undecayed(model: torch.nn.Module) -> None:
    for module in model.modules():
        if isinstance(module, torch.nn.Embedding):
            module.weight._no_decay = True  # type: ignore[attr-defined]
