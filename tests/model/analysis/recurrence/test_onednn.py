"""Prepared (oneDNN) products equal F.linear, fall back where they must, and the prepared decoder reads like the module."""

from __future__ import annotations

import pytest
import torch
from torch import nn
from torch.nn import functional

from model.analysis.recurrence import onednn
from model.analysis.recurrence.onednn import PreparedDecoder, PreparedLinear
from model.analysis.targets import selected_log_probs
from model.core.config import ModelConfig
from model.core.language_model import LanguageModel


@pytest.fixture
def generator():
    return torch.Generator().manual_seed(0)


@pytest.fixture(autouse=True)
def forced_onednn():
    """These tests prove the oneDNN path itself, so it is forced on wherever it works, whatever the speed probe says."""
    onednn.set_enabled(True)
    yield
    onednn.set_enabled(None)


@pytest.mark.parametrize("with_bias", [False, True])
@pytest.mark.parametrize("shape", [(7, 48), (3, 5, 48), (1, 48)])
def test_prepared_linear_equals_f_linear(generator, with_bias, shape):
    weight = torch.randn(40, 48, generator=generator)
    bias = torch.randn(40, generator=generator) if with_bias else None
    inputs = torch.randn(*shape, generator=generator)
    prepared = PreparedLinear(weight, bias)
    result = prepared(inputs)
    assert result.shape == (*shape[:-1], 40)
    assert torch.allclose(result, functional.linear(inputs, weight, bias), rtol=1e-5, atol=1e-5)


def test_a_transposed_view_is_the_product_with_the_matrix_itself(generator):
    weight_hh = torch.randn(64, 16, generator=generator)  # [G*H, H]
    gradient = torch.randn(9, 64, generator=generator)
    assert torch.allclose(PreparedLinear(weight_hh.t())(gradient), gradient @ weight_hh, rtol=1e-5, atol=1e-5)


def test_oneDNN_is_used_for_float32_on_cpu_and_not_when_switched_off(generator):
    weight = torch.randn(8, 4, generator=generator)
    assert PreparedLinear(weight).uses_onednn == onednn.onednn_linear_works()
    onednn.set_enabled(False)
    try:
        assert not onednn.enabled()
        assert not PreparedLinear(weight).uses_onednn
    finally:
        onednn.set_enabled(True)
    assert not PreparedLinear(weight.double()).uses_onednn  # other dtypes take F.linear


def test_by_default_the_speed_probe_decides(generator, monkeypatch):
    weight = torch.randn(8, 4, generator=generator)
    onednn.set_enabled(None)
    monkeypatch.setattr(onednn, "onednn_speedup", lambda: 0.7)  # slower here, as on an AVX2-only CPU
    assert onednn.enabled() and not onednn.active() and not PreparedLinear(weight).uses_onednn
    monkeypatch.setattr(onednn, "onednn_speedup", lambda: 1.3)
    assert onednn.active() == onednn.onednn_linear_works() == PreparedLinear(weight).uses_onednn


def test_the_probe_measures_a_positive_ratio_once():
    if not onednn.onednn_linear_works():
        assert onednn.onednn_speedup() == 0.0
        return
    first = onednn.onednn_speedup()
    assert first > 0 and onednn.onednn_speedup() == first  # measured once per process


def test_fallbacks_keep_autograd_and_empty_inputs(generator):
    weight = torch.randn(8, 4, generator=generator)
    prepared = PreparedLinear(weight)
    inputs = torch.randn(3, 4, generator=generator, requires_grad=True)
    (gradient,) = torch.autograd.grad(prepared(inputs).sum(), inputs)
    assert torch.allclose(gradient, weight.sum(dim=0).expand(3, -1))
    assert prepared(torch.zeros(0, 4)).shape == (0, 8)


@pytest.mark.parametrize("decoder", ["adaptive", "full"])
def test_prepared_decoder_gives_the_same_selected_log_probs(decoder):
    torch.manual_seed(0)
    config = ModelConfig(
        arch="lstm",
        vocab_size=60,
        embedding_size=6,
        hidden_size=16,
        decoder=decoder,
        adaptive_cutoffs=[10, 30],
        dropout=0.0,
    )
    model = LanguageModel(config).eval()
    features = torch.randn(12, 16)
    word_ids = torch.tensor([[3, 12], [25, 41], [59, 0]]).repeat(4, 1)  # head, both tail clusters
    with torch.no_grad():
        expected = selected_log_probs(model, features, word_ids)
        prepared = selected_log_probs(model, features, word_ids, PreparedDecoder(model.decoder))
        full = functional.log_softmax(model.logits_from_features(features), dim=-1).gather(-1, word_ids)
    assert torch.allclose(prepared, expected, atol=1e-5)
    assert torch.allclose(prepared, full, atol=1e-5)


def test_prepared_decoder_rejects_other_modules():
    with pytest.raises(ValueError, match="nn.Linear or nn.AdaptiveLogSoftmaxWithLoss"):
        PreparedDecoder(nn.Identity())
