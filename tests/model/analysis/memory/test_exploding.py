"""Exploding gradients: a scaled copy that never touches the shared model; the training curve's grad norms."""

from __future__ import annotations

import json

import pytest
import torch

from model.analysis.memory.exploding import exploding_curves, gradient_norm_history, scaled_recurrent_copy
from model.analysis.memory.gradient_flow import hidden_gradient_flow
from model.core.checkpoint import load_checkpoint
from model.core.config import ModelConfig
from model.core.language_model import LanguageModel

VOCAB = 30


def tiny_model(arch: str, num_layers: int = 2) -> LanguageModel:
    config = ModelConfig(
        arch=arch, vocab_size=VOCAB, embedding_size=5, hidden_size=6, num_layers=num_layers, dropout=0.0, decoder="full"
    )
    return LanguageModel(config).eval()


@pytest.mark.parametrize("arch", ["rnn", "lstm", "gru"])
def test_scaled_copy_scales_only_the_recurrent_matrices(arch):
    model = tiny_model(arch)
    before = {name: value.clone() for name, value in model.state_dict().items()}
    scaled = scaled_recurrent_copy(model, 2.5)
    copied = scaled.state_dict()
    for name, value in model.state_dict().items():
        assert torch.equal(value, before[name]), f"the original's {name} changed"
        assert copied[name].data_ptr() != value.data_ptr(), f"{name} shares memory with the original"
        expected = value * 2.5 if "weight_hh" in name else value
        torch.testing.assert_close(copied[name], expected, rtol=0, atol=0)
    assert not scaled.training
    with torch.no_grad():
        scaled.recurrent.weight_ih_l0.add_(1.0)
    assert torch.equal(model.recurrent.weight_ih_l0, before["recurrent.weight_ih_l0"])


@pytest.mark.parametrize("factor", [0, -1.0, float("nan"), float("inf"), True, "2"])
def test_scaled_copy_rejects_bad_factors(factor):
    with pytest.raises(ValueError, match="factor"):
        scaled_recurrent_copy(tiny_model("rnn"), factor)


def test_exploding_curves_grow_with_the_factor():
    model = tiny_model("rnn", num_layers=1)
    with torch.no_grad():
        model.embedding.weight.mul_(0.1)  # keep the tanh units out of saturation
        model.recurrent.weight_hh_l0.copy_(0.5 * torch.linalg.qr(torch.randn(6, 6)).Q)  # one-step gain 0.5
    ids = torch.randint(0, VOCAB, (1, 12))
    recurrent_before = model.recurrent.weight_hh_l0.detach().clone()
    same = exploding_curves(model, ids, factor=1.0)
    assert same["scaled"]["hidden_flow"]["frobenius"] == pytest.approx(
        same["original"]["hidden_flow"]["frobenius"], rel=1e-6
    )
    curves = exploding_curves(model, ids, factor=4.0, spectral=True)
    original, scaled = curves["original"], curves["scaled"]
    assert curves["factor"] == 4.0 and curves["arch"] == "rnn"
    # Gain 0.5 per step vanishes; gain 2 per step (barely saturated) explodes over 11 steps.
    assert original["hidden_flow"]["frobenius"][0] < 1e-2
    assert scaled["hidden_flow"]["frobenius"][0] > 10.0
    assert scaled["slope_product"]["bound"][0] > original["slope_product"]["bound"][0] * 100
    assert scaled["slope_product"]["measured_frobenius"] == pytest.approx(scaled["hidden_flow"]["frobenius"], rel=1e-4)
    json.dumps(curves)
    assert torch.equal(model.recurrent.weight_hh_l0, recurrent_before)
    assert hidden_gradient_flow(model, ids)["frobenius"] == pytest.approx(
        original["hidden_flow"]["frobenius"], rel=1e-9
    )


def test_exploding_curves_for_the_lstm_have_no_slope_product():
    model = tiny_model("lstm")
    curves = exploding_curves(model, torch.randint(0, VOCAB, (1, 5)), factor=2.0, include_original=False, probes=3)
    assert curves["original"] is None and curves["scaled"]["slope_product"] is None
    assert (
        len(curves["scaled"]["hidden_flow"]["cell_frobenius"]) == 4 and curves["scaled"]["hidden_flow"]["probes"] == 3
    )


def test_gradient_norm_history_reads_the_curve():
    metrics = {
        "train_config": {"clip": 0.5},
        "curve": [
            {"step": 10, "grad_norm_mean": 0.3, "grad_norm_max": 0.45, "train_loss": 6.0, "lr": 1.0},
            {"step": 20, "grad_norm_mean": 0.7, "grad_norm_max": 2.0, "train_loss": 5.0},
        ],
    }
    history = gradient_norm_history(metrics)
    assert history == {
        "steps": [10, 20],
        "grad_norm_mean": [0.3, 0.7],
        "grad_norm_max": [0.45, 2.0],
        "train_loss": [6.0, 5.0],
        "clip": 0.5,
        "clipped_windows": 1,
        "windows": 2,
    }
    unclipped = gradient_norm_history({"train_config": {"clip": None}, "curve": metrics["curve"]})
    assert unclipped["clip"] is None and unclipped["clipped_windows"] is None
    with pytest.raises(ValueError, match="curve"):
        gradient_norm_history({"train_config": {}})
    with pytest.raises(ValueError, match=r"curve'\]\[0\] lacks \['grad_norm_max'\]"):
        gradient_norm_history({"curve": [{"step": 1, "grad_norm_mean": 1.0, "train_loss": 2.0}]})


def test_gradient_norm_history_of_a_real_checkpoint(tiny_checkpoints):
    checkpoint = load_checkpoint(tiny_checkpoints["lstm"])
    history = gradient_norm_history(checkpoint.metrics)
    assert history["windows"] == len(checkpoint.metrics["curve"]) > 0
    assert history["clip"] == checkpoint.metrics["train_config"]["clip"]
    assert all(value > 0 for value in history["grad_norm_max"])
    assert history["steps"] == sorted(history["steps"])
