"""Scoring a model on text: loss and perplexity over a token stream."""

from __future__ import annotations

import math

import torch

from data.batching import batchify, windows
from model.core.language_model import LanguageModel, detach_state, model_device


@torch.no_grad()
def stream_loss(model: LanguageModel, stream: torch.Tensor, batch_size: int = 16, bptt: int = 128) -> float:
    """Mean next-token cross-entropy (nats) over a 1-D token stream.

    The stream is cut into ``batch_size`` rows (see data/batching.py) and read
    in windows of ``bptt`` with the state carried across windows, so every
    prediction but the first of each row sees its full left context in that row.
    The model is used as is; call it in eval mode so dropout is off.
    """
    if stream.numel() < 2:
        raise ValueError(f"Need at least 2 tokens to score; got {stream.numel()}.")
    batch_size = max(1, min(batch_size, stream.numel() // 2))
    device = model_device(model)
    rows = batchify(stream, batch_size).to(device)  # [B, S]
    state = None
    total, count = 0.0, 0
    for _, inputs, targets in windows(rows, bptt):
        # A memory-mapped stream (data/streaming.py) holds int32 ids; the loss wants int64.
        inputs, targets = inputs.long(), targets.long()  # [B, T]
        features, state = model.features(inputs, state)  # [B, T, H]
        state = detach_state(state)
        total += float(model.loss(features, targets)) * targets.numel()
        count += targets.numel()
    return total / count


def perplexity(loss: float) -> float:
    """exp(mean cross-entropy in nats), capped to stay JSON-safe."""
    return math.exp(min(loss, 700.0))
