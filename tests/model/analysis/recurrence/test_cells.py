"""The unrolled cells are the fused nn.RNN / nn.LSTM / nn.GRU: same outputs, same state, same gradients, same tensors."""

from __future__ import annotations

import pytest
import torch

from model.analysis.recurrence.cells import layer_weights, model_arch
from model.analysis.recurrence.unrolled import unrolled_forward
from model.core.config import ModelConfig
from model.core.language_model import LanguageModel

VOCAB = 60


def tiny_model(arch: str, num_layers: int = 1, decoder: str = "full", hidden_size: int = 6) -> LanguageModel:
    config = ModelConfig(
        arch=arch,
        vocab_size=VOCAB,
        embedding_size=7,
        hidden_size=hidden_size,
        num_layers=num_layers,
        dropout=0.0,
        decoder=decoder,
        adaptive_cutoffs=[20, 40],
    )
    return LanguageModel(config).eval()


def random_state(model: LanguageModel, batch_size: int):
    state = model.init_state(batch_size)
    if isinstance(state, tuple):
        return tuple(torch.randn_like(part) for part in state)
    return torch.randn_like(state)


def assert_states_close(ours, theirs) -> None:
    if isinstance(theirs, tuple):
        for mine, reference in zip(ours, theirs):
            torch.testing.assert_close(mine, reference, atol=1e-5, rtol=1e-5)
    else:
        torch.testing.assert_close(ours, theirs, atol=1e-5, rtol=1e-5)


@pytest.mark.parametrize("arch", ["rnn", "lstm", "gru"])
@pytest.mark.parametrize("num_layers", [1, 2])
@pytest.mark.parametrize("with_state", [False, True])
def test_unrolled_matches_fused_module(arch, num_layers, with_state):
    model = tiny_model(arch, num_layers)
    ids = torch.randint(0, VOCAB, (3, 9))
    state = random_state(model, 3) if with_state else None
    with torch.no_grad():
        logits, fused_state = model(ids, state)  # [3, 9, V]
        run = unrolled_forward(model, model.embed(ids), state)
        unrolled_logits = model.logits_from_features(run.outputs)
    torch.testing.assert_close(unrolled_logits, logits, atol=1e-5, rtol=1e-5)
    assert_states_close(run.state, fused_state)
    assert len(run.layers) == num_layers


@pytest.mark.parametrize("arch", ["rnn", "lstm", "gru"])
def test_unrolled_matches_fused_module_with_adaptive_decoder(arch):
    model = tiny_model(arch, num_layers=2, decoder="adaptive", hidden_size=16)
    ids = torch.randint(0, VOCAB, (1, 12))
    state = random_state(model, 1)
    with torch.no_grad():
        logits, fused_state = model(ids, state)
        run = unrolled_forward(model, model.embed(ids), state)
        unrolled_logits = model.logits_from_features(run.outputs)
    torch.testing.assert_close(unrolled_logits, logits, atol=1e-5, rtol=1e-5)
    assert_states_close(run.state, fused_state)


@pytest.mark.parametrize("arch", ["rnn", "lstm", "gru"])
def test_gradients_through_the_cells_match_the_fused_module(arch):
    model = tiny_model(arch, num_layers=2)
    embeddings = torch.randn(2, 5, 7, requires_grad=True)
    weights = torch.randn(2, 5, 6)
    (fused,) = torch.autograd.grad((model.recurrent(embeddings)[0] * weights).sum(), embeddings)
    (unrolled,) = torch.autograd.grad((unrolled_forward(model, embeddings).outputs * weights).sum(), embeddings)
    torch.testing.assert_close(unrolled, fused, atol=1e-5, rtol=1e-5)
    assert all(parameter.grad is None for parameter in model.parameters())


@pytest.mark.parametrize("arch", ["rnn", "lstm", "gru"])
def test_cells_read_the_modules_own_parameters(arch):
    model = tiny_model(arch, num_layers=2)
    for index in (0, 1):
        weights = layer_weights(model.recurrent, index)
        assert weights.weight_ih is getattr(model.recurrent, f"weight_ih_l{index}")
        assert weights.weight_hh is getattr(model.recurrent, f"weight_hh_l{index}")
        assert weights.bias_ih is getattr(model.recurrent, f"bias_ih_l{index}")
        assert weights.bias_hh is getattr(model.recurrent, f"bias_hh_l{index}")
    assert layer_weights(model.recurrent, -1).weight_hh is model.recurrent.weight_hh_l1
    # A change to the module's weights shows up in the unrolled run: nothing was copied.
    ids = torch.randint(0, VOCAB, (1, 4))
    with torch.no_grad():
        before = unrolled_forward(model, model.embed(ids)).outputs.clone()
        model.recurrent.weight_hh_l1.mul_(2.0)
        after = unrolled_forward(model, model.embed(ids)).outputs
        reference = model.recurrent(model.embed(ids))[0]
    assert not torch.allclose(before, after)
    torch.testing.assert_close(after, reference, atol=1e-5, rtol=1e-5)


def test_bad_inputs_raise_value_errors():
    model = tiny_model("lstm", num_layers=2)
    embeddings = torch.randn(1, 4, 7)
    with pytest.raises(ValueError, match="pair"):
        unrolled_forward(model, embeddings, torch.zeros(2, 1, 6))
    with pytest.raises(ValueError, match="shape"):
        unrolled_forward(model, embeddings, (torch.zeros(1, 1, 6), torch.zeros(1, 1, 6)))
    with pytest.raises(ValueError, match="L >= 1"):
        unrolled_forward(model, torch.randn(1, 0, 7))
    with pytest.raises(ValueError, match="layer must be in"):
        layer_weights(model.recurrent, 2)
    with pytest.raises(ValueError, match="tanh"):
        model_arch(torch.nn.RNN(3, 4, nonlinearity="relu", batch_first=True))
    with pytest.raises(ValueError, match="batch_first"):
        model_arch(torch.nn.GRU(3, 4))
