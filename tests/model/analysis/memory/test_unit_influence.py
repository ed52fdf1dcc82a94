"""model/analysis/memory/unit_influence.py against the decoder's gradient written out by hand and finite differences."""

from __future__ import annotations

import pytest
import torch

from model.analysis.memory.unit_influence import unit_influence
from model.core.config import ModelConfig
from model.core.language_model import LanguageModel


def _model(decoder: str) -> LanguageModel:
    torch.manual_seed(0)
    config = ModelConfig(
        arch="lstm",
        vocab_size=40,
        embedding_size=6,
        hidden_size=16,
        decoder=decoder,
        adaptive_cutoffs=[10, 20],
        dropout=0.0,
    )
    return LanguageModel(config).double().eval()


def test_full_softmax_matches_the_written_out_gradient():
    model = _model("full")
    hidden = torch.randn(16, dtype=torch.float64)
    weight = model.decoder.weight  # [V, H]
    probs = torch.softmax(model.decoder(hidden), dim=-1)  # [V]
    # d log P(v) / d h = W[v] - p^T W
    gradient = (weight[3] - probs @ weight) - (weight[7] - probs @ weight)  # [H]
    expected = (gradient * hidden).abs()
    assert torch.allclose(unit_influence(model, hidden, 3, 7), expected.detach(), atol=1e-12)


@pytest.mark.parametrize("decoder", ["full", "adaptive"])
def test_finite_differences_and_no_state_left_on_the_model(decoder):
    model = _model(decoder)
    hidden = torch.randn(16, dtype=torch.float64)

    @torch.no_grad()
    def f(h: torch.Tensor) -> float:
        log_probs = torch.log_softmax(model.logits_from_features(h[None]), dim=-1)[0]
        return float(log_probs[25])  # a word in the adaptive softmax's second tail

    eps = 1e-6
    numeric = torch.tensor(
        [(f(hidden + eps * e) - f(hidden - eps * e)) / (2 * eps) for e in torch.eye(16, dtype=torch.float64)]
    )
    scores = unit_influence(model, hidden, 25)
    assert torch.allclose(scores, (numeric * hidden).abs(), atol=1e-8)
    assert not model.training and all(parameter.grad is None for parameter in model.parameters())
    with pytest.raises(ValueError, match="one \\[H=16\\] state"):
        unit_influence(model, torch.zeros(2, 16, dtype=torch.float64), 1)
