"""Gradient flow is checked against central finite differences through the fused module, in float64."""

from __future__ import annotations

import json
import math

import pytest
import torch
from torch.nn import functional

from model.analysis.influence.methods import gradient_influence
from model.analysis.inputs import prepare_input
from model.analysis.memory.exploding import exploding_curves
from model.analysis.memory.gradient_flow import (
    embedding_gradient_flow,
    forget_retention,
    hidden_gradient_flow,
    rnn_slope_product,
)
from model.analysis.memory.traces import compute_traces
from model.analysis.targets import TargetSpec, resolve_targets
from model.core.checkpoint import load_checkpoint
from model.core.config import ModelConfig
from model.core.language_model import LanguageModel

VOCAB = 30
EPS = 1e-6


def double_model(arch: str, num_layers: int = 1, hidden_size: int = 4, std: float = 0.8) -> LanguageModel:
    config = ModelConfig(
        arch=arch,
        vocab_size=VOCAB,
        embedding_size=5,
        hidden_size=hidden_size,
        num_layers=num_layers,
        dropout=0.0,
        decoder="full",
    )
    model = LanguageModel(config).double().eval()
    with torch.no_grad():
        for parameter in model.recurrent.parameters():
            parameter.normal_(0.0, std)  # large enough that the distances differ visibly
    return model


def finite_difference_jacobian(model, ids, position: int, part: str) -> torch.Tensor:
    """d h_T / d (h or c)_position of the top layer by central differences through the fused nn module."""
    lstm = model.config.arch == "lstm"
    size = model.config.hidden_size
    jacobian = torch.zeros(size, size, dtype=torch.float64)
    with torch.no_grad():
        _, state = model(ids[:, : position + 1])
        for unit in range(size):
            outputs = []
            for sign in (1.0, -1.0):
                hidden, cell = (state[0].clone(), state[1].clone()) if lstm else (state.clone(), None)
                (hidden if part == "h" else cell)[-1, 0, unit] += sign * EPS
                _, final = model(ids[:, position + 1 :], (hidden, cell) if lstm else hidden)
                outputs.append((final[0] if lstm else final)[-1, 0])
            jacobian[:, unit] = (outputs[0] - outputs[1]) / (2 * EPS)
    return jacobian


@pytest.mark.parametrize("arch", ["rnn", "lstm", "gru"])
@pytest.mark.parametrize("num_layers", [1, 2])
def test_hidden_gradient_flow_matches_finite_differences(arch, num_layers):
    model = double_model(arch, num_layers)
    ids = torch.randint(0, VOCAB, (1, 7))
    flow = hidden_gradient_flow(model, ids, spectral=True)
    assert flow["positions"] == list(range(6)) and flow["distances"] == [6, 5, 4, 3, 2, 1]
    for index, position in enumerate(flow["positions"]):
        jacobian = finite_difference_jacobian(model, ids, position, "h")
        assert flow["frobenius"][index] == pytest.approx(float(jacobian.norm()), rel=1e-6, abs=1e-9)
        assert flow["spectral"][index] == pytest.approx(
            float(torch.linalg.matrix_norm(jacobian, ord=2)), rel=1e-6, abs=1e-9
        )
        if arch == "lstm":
            cell_jacobian = finite_difference_jacobian(model, ids, position, "c")
            assert flow["cell_frobenius"][index] == pytest.approx(float(cell_jacobian.norm()), rel=1e-6, abs=1e-9)
    if arch != "lstm":
        assert flow["cell_frobenius"] is None


def test_hidden_gradient_flow_options():
    model = double_model("lstm", hidden_size=8)
    ids = torch.randint(0, VOCAB, (1, 9))
    exact = hidden_gradient_flow(model, ids)
    tail = hidden_gradient_flow(model, ids, max_distance=3)
    assert tail["distances"] == [3, 2, 1]
    assert tail["frobenius"] == pytest.approx(exact["frobenius"][-3:], rel=1e-9)
    middle = hidden_gradient_flow(model, ids, target_position=4)
    assert middle["positions"] == [0, 1, 2, 3] and middle["target_position"] == 4
    assert hidden_gradient_flow(model, ids, probes=8)["frobenius"] == pytest.approx(exact["frobenius"], rel=1e-9)
    estimate = hidden_gradient_flow(model, ids, probes=2)
    assert estimate["probes"] == 2 and estimate == hidden_gradient_flow(model, ids, probes=2)
    for guess, true in zip(estimate["frobenius"], exact["frobenius"]):
        # K orthonormal rows scaled by sqrt(H / K) can overshoot by at most that factor.
        assert 0.0 <= guess <= math.sqrt(8 / 2) * true * (1 + 1e-9)
    assert hidden_gradient_flow(model, ids, target_position=0)["frobenius"] == []
    with pytest.raises(ValueError, match="probes=None"):
        hidden_gradient_flow(model, ids, probes=2, spectral=True)
    with pytest.raises(ValueError, match="target_position"):
        hidden_gradient_flow(model, ids, target_position=9)
    json.dumps(exact)


@pytest.mark.parametrize("arch", ["rnn", "lstm", "gru"])
def test_embedding_gradient_flow_matches_finite_differences(arch):
    model = double_model(arch, num_layers=2)
    ids = torch.randint(0, VOCAB, (1, 6))
    flow = embedding_gradient_flow(model, ids, target_position=4)
    assert flow["target_source"] == "next_word" and flow["target_id"] == int(ids[0, 5])
    with torch.no_grad():
        embeddings = model.embed(ids[:, :5])  # [1, 5, E]

        def objective(values: torch.Tensor) -> float:
            features, _ = model.features_from_embeddings(values)
            return float(torch.log_softmax(model.logits_from_features(features[0, -1]), dim=-1)[flow["target_id"]])

        assert flow["log_prob"] == pytest.approx(objective(embeddings), rel=1e-9)
        for position in range(5):
            gradient = torch.zeros(5, dtype=torch.float64)
            for coordinate in range(5):
                plus, minus = embeddings.clone(), embeddings.clone()
                plus[0, position, coordinate] += EPS
                minus[0, position, coordinate] -= EPS
                gradient[coordinate] = (objective(plus) - objective(minus)) / (2 * EPS)
            assert flow["norms"][position] == pytest.approx(float(gradient.norm()), rel=1e-6, abs=1e-9)
    assert flow["distances"] == [4, 3, 2, 1, 0]


def test_embedding_gradient_flow_targets():
    model = double_model("gru")
    ids = torch.randint(0, VOCAB, (1, 6))
    last = embedding_gradient_flow(model, ids)
    with torch.no_grad():
        assert last["target_id"] == int(model(ids)[0][0, -1].argmax()) and last["target_source"] == "argmax"
    given = embedding_gradient_flow(model, ids, target_position=2, target_id=7)
    assert given["target_id"] == 7 and given["target_source"] == "given" and len(given["norms"]) == 3
    with pytest.raises(ValueError, match="target_id"):
        embedding_gradient_flow(model, ids, target_id=VOCAB)


@pytest.mark.parametrize("arch", ["lstm", "gru"])
def test_forget_retention_is_the_explicit_product(arch):
    model = double_model(arch, num_layers=2)
    traces = compute_traces(model, torch.randint(0, VOCAB, (1, 7)))
    gate = traces.layers[-1]["forget_gate" if arch == "lstm" else "update_gate"]  # [L, H]
    retention = forget_retention(traces)
    for t in range(7):
        product = torch.ones(4, dtype=torch.float64)
        for k in range(t + 1, 7):
            product = product * gate[k]
        assert retention["per_unit"][t] == pytest.approx(product.tolist(), rel=1e-12)
        assert retention["mean"][t] == pytest.approx(float(product.mean()), rel=1e-12)
        for later in range(7):
            expected = float(torch.prod(gate[t + 1 : later + 1], dim=0).mean()) if later >= t else 0.0
            assert retention["all_pairs"][t][later] == pytest.approx(expected, rel=1e-12)
    assert retention["mean"][-1] == 1.0 and retention["distances"][0] == 6
    assert forget_retention(traces, layer=0, target_position=3, all_pairs=False)["all_pairs"] is None
    with pytest.raises(ValueError, match="rnn_slope_product"):
        forget_retention(compute_traces(double_model("rnn"), torch.randint(0, VOCAB, (1, 3))))


def test_rnn_slope_product_is_the_explicit_product_and_bounds_the_gradient():
    model = double_model("rnn", num_layers=2, hidden_size=5, std=0.6)
    ids = torch.randint(0, VOCAB, (1, 8))
    traces = compute_traces(model, ids)
    curves = rnn_slope_product(model, traces)
    slopes = traces.layers[-1]["slope"]  # [L, H]
    weight_hh = model.recurrent.weight_hh_l1.detach()
    for index, t in enumerate(curves["positions"]):
        mean_product, bound = 1.0, 1.0
        for k in range(t + 1, 8):
            mean_product *= float(slopes[k].mean())
            bound *= float(torch.linalg.matrix_norm(torch.diag(slopes[k]) @ weight_hh, ord=2))
        assert curves["mean_slope_product"][index] == pytest.approx(mean_product, rel=1e-9)
        assert curves["bound"][index] == pytest.approx(bound, rel=1e-9)
        assert curves["measured_spectral"][index] <= bound * (1 + 1e-9)
        assert curves["closed_form"][index] == pytest.approx(curves["typical_slope"] ** (7 - t), rel=1e-12)
    assert curves["typical_slope"] == pytest.approx(float(slopes[1:].mean(dim=1).mean()), rel=1e-12)
    flow = hidden_gradient_flow(model, ids, spectral=True)
    assert curves["measured_frobenius"] == pytest.approx(flow["frobenius"], rel=1e-9)
    assert curves["measured_spectral"] == pytest.approx(flow["spectral"], rel=1e-9)
    words = rnn_slope_product(model, traces.words(), spectral=False)
    assert words["bound"] is None and words["measured_frobenius"] == pytest.approx(
        curves["measured_frobenius"][1:], rel=1e-9
    )
    with pytest.raises(ValueError, match="forget_retention"):
        rnn_slope_product(model, compute_traces(double_model("lstm"), ids))


def _hooks(model) -> int:
    count = 0
    for module in model.modules():
        for name in ("_forward_hooks", "_forward_pre_hooks", "_backward_hooks", "_backward_pre_hooks"):
            count += len(getattr(module, name))
    for parameter in model.parameters():
        count += len(parameter._backward_hooks or {})
    return count


@pytest.mark.parametrize("arch", ["rnn", "lstm", "gru"])
def test_analyses_leave_the_shared_model_alone(arch, monkeypatch):
    model = double_model(arch, num_layers=2)
    for parameter in model.parameters():
        parameter.requires_grad_(True)
    before = {name: value.clone() for name, value in model.state_dict().items()}
    hooks_before = _hooks(model)
    original_train = torch.nn.Module.train

    def no_train_mode(self, mode: bool = True):
        if mode:
            raise AssertionError("an analysis switched a model to train mode")
        return original_train(self, mode)

    def no_backward(*args, **kwargs):
        raise AssertionError("an analysis called .backward()")

    monkeypatch.setattr(torch.nn.Module, "train", no_train_mode)
    monkeypatch.setattr(torch.Tensor, "backward", no_backward)
    ids = torch.randint(0, VOCAB, (1, 6))
    traces = compute_traces(model, ids)
    hidden_gradient_flow(model, ids, spectral=True)
    hidden_gradient_flow(model, ids, probes=2)
    embedding_gradient_flow(model, ids)
    if arch == "rnn":
        rnn_slope_product(model, traces)
    else:
        forget_retention(traces)
    exploding_curves(model, ids, factor=1.5)
    assert all(parameter.grad is None for parameter in model.parameters())
    assert not model.training
    assert _hooks(model) == hooks_before == 0
    for name, value in model.state_dict().items():
        assert torch.equal(value, before[name]), name


def test_frozen_parameters_still_give_a_gradient_flow():
    model = double_model("lstm")
    for parameter in model.parameters():
        parameter.requires_grad_(False)
    ids = torch.randint(0, VOCAB, (1, 5))
    assert all(value > 0 for value in hidden_gradient_flow(model, ids)["frobenius"])
    assert all(value > 0 for value in embedding_gradient_flow(model, ids)["norms"])


@pytest.mark.parametrize("arch", ["rnn", "lstm", "gru"])
def test_real_checkpoint_gradient_flow(tiny_checkpoints, arch):
    checkpoint = load_checkpoint(tiny_checkpoints[arch])
    analysis_input = prepare_input(checkpoint.tokenizer, "Mrs. Mary said that the road was long , so")
    length = analysis_input.num_words + 1
    flow = hidden_gradient_flow(checkpoint.model, analysis_input)
    embedding = embedding_gradient_flow(checkpoint.model, analysis_input)
    assert len(flow["frobenius"]) == length - 1 and len(embedding["norms"]) == length
    assert all(math.isfinite(value) and value >= 0 for value in flow["frobenius"] + embedding["norms"])
    traces = compute_traces(checkpoint.model, analysis_input).words()
    products = rnn_slope_product(checkpoint.model, traces) if arch == "rnn" else forget_retention(traces)
    json.dumps(products)
    assert all(parameter.grad is None for parameter in checkpoint.model.parameters())


@pytest.mark.parametrize("arch", ["rnn", "lstm", "gru"])
def test_embedding_gradient_flow_is_the_last_row_of_the_all_pairs_sweep(tiny_checkpoints, arch):
    # Two paths compute ||d f_T / d e_t||: this single-target autograd call and the hand-written all-pairs sweep
    # (one row per target). They must agree where they overlap: the sweep's row for the same target.
    checkpoint = load_checkpoint(tiny_checkpoints[arch])
    inputs = prepare_input(checkpoint.tokenizer, "Mr. Robert said so his friend came to tea and then")
    with torch.no_grad():
        log_probs = functional.log_softmax(checkpoint.model(inputs.ids)[0][0, 1:], dim=-1)  # [T, V]
    targets = resolve_targets(TargetSpec(), checkpoint.tokenizer, inputs.word_ids, log_probs)
    matrix = gradient_influence(checkpoint.model, inputs.ids, targets, "grad").matrix  # [T, T]: rows targets
    last = inputs.ids.size(1) - 2  # the last input that has a next word
    flow = embedding_gradient_flow(checkpoint.model, inputs.ids, target_position=last)
    assert flow["target_id"] == int(targets.good[last - 1])
    # flow covers inputs 0..last (<eos> first); the sweep's columns start at the first word.
    expected = matrix[last - 1, :last].double()
    assert torch.allclose(torch.tensor(flow["norms"][1:], dtype=torch.float64), expected, rtol=1e-4, atol=1e-7)
