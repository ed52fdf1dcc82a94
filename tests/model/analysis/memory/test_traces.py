"""Traces: the right values under the right names, per-word views, gate summaries, unit ordering."""

from __future__ import annotations

import json
import math

import pytest
import torch

from model.analysis.inputs import prepare_input
from model.analysis.memory.traces import TRACE_KEYS, compute_traces, gate_means, saturation, unit_order
from model.core.checkpoint import load_checkpoint
from model.core.config import ModelConfig
from model.core.language_model import LanguageModel

VOCAB = 40


def tiny_model(arch: str, num_layers: int = 1) -> LanguageModel:
    config = ModelConfig(
        arch=arch, vocab_size=VOCAB, embedding_size=5, hidden_size=6, num_layers=num_layers, dropout=0.0, decoder="full"
    )
    return LanguageModel(config).eval()


@pytest.mark.parametrize("arch", ["rnn", "lstm", "gru"])
def test_traces_have_every_key_and_match_the_fused_model(arch):
    model = tiny_model(arch, num_layers=2)
    ids = torch.randint(0, VOCAB, (1, 8))
    traces = compute_traces(model, ids)
    with torch.no_grad():
        logits, state = model(ids)
        layer_outputs = model.recurrent(model.embed(ids))[0][0]  # [L, H] top layer
    assert traces.arch == arch and traces.length == 8
    assert len(traces.layers) == 2
    for layer in traces.layers:
        assert set(layer) == set(TRACE_KEYS[arch])
        assert all(value.shape == (8, 6) for value in layer.values())
    torch.testing.assert_close(traces.logits, logits[0], atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(traces.log_probs.exp().sum(dim=-1), torch.ones(8), atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(traces.layers[-1]["hidden"], layer_outputs, atol=1e-5, rtol=1e-5)
    assert not traces.logits.requires_grad and not traces.layers[0]["hidden"].requires_grad


def test_lstm_traces_obey_the_cell_equations():
    model = tiny_model("lstm")
    traces = compute_traces(model, torch.randint(0, VOCAB, (1, 7)))
    layer = traces.layers[0]
    previous_cell = torch.cat([torch.zeros(1, 6), layer["cell"][:-1]])  # [L, H] c_{t-1}
    expected_cell = layer["forget_gate"] * previous_cell + layer["input_gate"] * layer["candidate"]
    torch.testing.assert_close(layer["cell"], expected_cell)
    torch.testing.assert_close(layer["hidden"], layer["output_gate"] * torch.tanh(layer["cell"]))
    for name in ("input_gate", "forget_gate", "output_gate"):
        assert bool(((layer[name] > 0) & (layer[name] < 1)).all())


def test_gru_and_rnn_traces_obey_their_equations():
    gru = compute_traces(tiny_model("gru"), torch.randint(0, VOCAB, (1, 7))).layers[0]
    previous = torch.cat([torch.zeros(1, 6), gru["hidden"][:-1]])  # [L, H]
    torch.testing.assert_close(
        gru["hidden"], (1 - gru["update_gate"]) * gru["candidate"] + gru["update_gate"] * previous
    )
    rnn = compute_traces(tiny_model("rnn"), torch.randint(0, VOCAB, (1, 7))).layers[0]
    torch.testing.assert_close(rnn["hidden"], torch.tanh(rnn["preactivation"]))
    torch.testing.assert_close(rnn["slope"], 1 - torch.tanh(rnn["preactivation"]) ** 2)


def test_initial_state_is_used():
    model = tiny_model("lstm")
    ids = torch.randint(0, VOCAB, (1, 5))
    state = (torch.randn(1, 1, 6), torch.randn(1, 1, 6))
    traces = compute_traces(model, ids, state)
    with torch.no_grad():
        logits, (hidden, cell) = model(ids, state)
    torch.testing.assert_close(traces.logits, logits[0], atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(traces.state[1], cell, atol=1e-5, rtol=1e-5)


def test_keep_graph_allows_gradients_without_touching_parameters():
    model = tiny_model("gru")
    embedding_weight = model.embedding.weight
    traces = compute_traces(model, torch.randint(0, VOCAB, (1, 5)), keep_graph=True)
    (gradient,) = torch.autograd.grad(traces.layers[0]["update_gate"].sum(), embedding_weight)
    assert gradient.abs().sum() > 0
    assert all(parameter.grad is None for parameter in model.parameters())


def test_words_drops_the_eos_position():
    model = tiny_model("lstm", num_layers=2)
    ids = torch.randint(0, VOCAB, (1, 6))
    traces = compute_traces(model, ids)
    words = traces.words()
    assert words.length == 5 and torch.equal(words.ids, ids[0, 1:])
    assert words.layers[1]["cell"].shape == (5, 6)
    torch.testing.assert_close(words.layers[1]["cell"], traces.layers[1]["cell"][1:])
    torch.testing.assert_close(words.log_probs, traces.log_probs[1:])
    with pytest.raises(ValueError, match="no words"):
        compute_traces(model, ids[:, :1]).words()


def test_gate_means_saturation_and_unit_order():
    model = tiny_model("lstm")
    traces = compute_traces(model, torch.randint(0, VOCAB, (1, 9))).words()
    means = gate_means(traces)
    assert set(means) == {"input_gate", "forget_gate", "output_gate"}
    forget = traces.layers[0]["forget_gate"]
    assert means["forget_gate"] == pytest.approx(forget.mean(dim=1).tolist())
    summary = saturation(traces, low=0.4, high=0.6)
    assert summary["forget_gate"]["below"] == pytest.approx(float((forget < 0.4).float().mean()))
    assert summary["forget_gate"]["above"] == pytest.approx(float((forget > 0.6).float().mean()))
    for shares in summary.values():
        assert sum(shares.values()) == pytest.approx(1.0)
    cell = traces.layers[0]["cell"]
    order = unit_order(cell)
    variances = cell.var(dim=0, unbiased=False)[order]
    assert sorted(order) == list(range(6))
    assert bool((variances[:-1] >= variances[1:]).all())
    ascending = cell.var(dim=0, unbiased=False)[unit_order(cell, descending=False)]
    assert bool((ascending[:-1] <= ascending[1:]).all())
    assert set(gate_means(compute_traces(tiny_model("rnn"), torch.randint(0, VOCAB, (1, 4))))) == {"slope"}
    with pytest.raises(ValueError, match="low < high"):
        saturation(traces, low=0.9, high=0.1)


def test_to_json_is_plain_json():
    traces = compute_traces(tiny_model("gru"), torch.randint(0, VOCAB, (1, 4)))
    payload = json.loads(json.dumps(traces.to_json(include_log_probs=True)))
    assert payload["arch"] == "gru" and len(payload["layers"][0]["update_gate"]) == 4
    assert len(payload["log_probs"][0]) == VOCAB


@pytest.mark.parametrize(
    "bad",
    [
        torch.tensor([[0, VOCAB]]),
        torch.zeros(2, 3, dtype=torch.long),
        torch.zeros(1, 0, dtype=torch.long),
        torch.zeros(1, 3),
    ],
)
def test_bad_ids_raise_value_error(bad):
    with pytest.raises(ValueError):
        compute_traces(tiny_model("rnn"), bad)


@pytest.mark.parametrize("arch", ["rnn", "lstm", "gru"])
def test_real_checkpoint_traces(tiny_checkpoints, arch):
    checkpoint = load_checkpoint(tiny_checkpoints[arch])
    analysis_input = prepare_input(checkpoint.tokenizer, "Mr. Robert said that the tea was cold , so")
    traces = compute_traces(checkpoint.model, analysis_input)
    words = traces.words()
    hidden_size = checkpoint.config.hidden_size
    assert words.length == analysis_input.num_words
    for name, value in words.layers[-1].items():
        assert value.shape == (analysis_input.num_words, hidden_size), name
        assert bool(torch.isfinite(value).all()), name
    assert all(math.isfinite(v) for values in gate_means(words).values() for v in values)
    assert not checkpoint.model.training
