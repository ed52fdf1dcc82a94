"""Which top-layer units one prediction reads from: |h_u * d f / d h_u| (gradient x activation).

f = log P(good) (minus log P(bad) when a contrast is given) for the prediction made from the
hidden state h after a word. Only the decoder lies between h and f, so the score ranks the units
that prediction reads; the gates view orders its units by it.
"""

from __future__ import annotations

import torch

from model.core.language_model import LanguageModel


def unit_influence(model: LanguageModel, hidden: torch.Tensor, good_id: int, bad_id: int | None = None) -> torch.Tensor:
    """|h_u * d f / d h_u| for each unit u of one top-layer hidden state.

    Args:
        model: the language model (eval mode; never switched to train, no ``.grad`` written).
        hidden: [H] the top layer's hidden state after a word.
        good_id, bad_id: vocabulary ids; f = log P(good) - log P(bad) (bad None: log P(good)).

    Returns:
        [H] non-negative scores (same dtype as ``hidden``).
    """
    if hidden.dim() != 1 or hidden.numel() != model.config.hidden_size:
        raise ValueError(f"hidden must be one [H={model.config.hidden_size}] state; got shape {tuple(hidden.shape)}.")
    with torch.enable_grad():
        leaf = hidden.detach().clone().requires_grad_(True)  # [H]
        log_probs = torch.log_softmax(model.logits_from_features(leaf[None]), dim=-1)[0]  # [V]
        target = log_probs[good_id] - (log_probs[bad_id] if bad_id is not None else 0.0)
        (gradient,) = torch.autograd.grad(target, leaf)  # [H]
    return (gradient * leaf).abs().detach()  # [H]
