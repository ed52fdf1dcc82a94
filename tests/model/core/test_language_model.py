"""LanguageModel: shapes, adaptive log-probs, tying, features+loss vs forward, a side-effect-free forward."""

from __future__ import annotations

import itertools

import pytest
import torch
from torch import nn

from model.core.config import ModelConfig
from model.core.language_model import LanguageModel, detach_state

VOCAB, EMBED, HIDDEN, B, T = 40, 6, 8, 3, 5


def _model(arch="lstm", decoder="full", num_layers=1, dropout=0.0, **overrides) -> LanguageModel:
    values = dict(
        arch=arch,
        vocab_size=VOCAB,
        embedding_size=EMBED,
        hidden_size=HIDDEN,
        num_layers=num_layers,
        dropout=dropout,
        decoder=decoder,
        adaptive_cutoffs=[8, 20],
        adaptive_div_value=2.0,
    )
    values.update(overrides)
    torch.manual_seed(0)
    return LanguageModel(ModelConfig(**values))


def _ids(batch=B, steps=T) -> torch.Tensor:
    return torch.randint(0, VOCAB, (batch, steps), generator=torch.Generator().manual_seed(1))


def _state_shapes(state) -> list[tuple[int, ...]]:
    parts = state if isinstance(state, tuple) else (state,)
    return [tuple(part.shape) for part in parts]


CASES = list(itertools.product(["rnn", "lstm", "gru"], ["full", "adaptive"], [1, 2]))


@pytest.mark.parametrize("arch, decoder, num_layers", CASES)
def test_forward_shapes(arch, decoder, num_layers):
    model = _model(arch, decoder, num_layers).eval()
    assert isinstance(model.recurrent, {"rnn": nn.RNN, "lstm": nn.LSTM, "gru": nn.GRU}[arch])
    assert model.recurrent.batch_first
    logits, state = model(_ids())
    assert logits.shape == (B, T, VOCAB)
    expected = [(num_layers, B, HIDDEN)] * (2 if arch == "lstm" else 1)
    assert _state_shapes(state) == expected
    assert _state_shapes(model.init_state(B)) == expected
    features, _ = model.features(_ids())
    assert features.shape == (B, T, HIDDEN)
    assert model.embed(_ids()).shape == (B, T, EMBED)


@pytest.mark.parametrize("arch, decoder, num_layers", CASES)
def test_state_carries_over(arch, decoder, num_layers):
    """Reading T tokens at once equals reading them in two pieces with the state passed on."""
    model = _model(arch, decoder, num_layers).eval()
    ids = _ids()
    with torch.no_grad():
        whole, _ = model(ids)
        first, state = model(ids[:, :2])
        second, _ = model(ids[:, 2:], state)
        zero_state, _ = model(ids, model.init_state(B))
    torch.testing.assert_close(torch.cat([first, second], dim=1), whole)
    torch.testing.assert_close(zero_state, whole)


def test_rnn_is_tanh():
    assert _model("rnn").recurrent.nonlinearity == "tanh"


@pytest.mark.parametrize("arch", ["rnn", "lstm", "gru"])
def test_adaptive_logits_are_log_probabilities(arch):
    model = _model(arch, "adaptive").eval()
    with torch.no_grad():
        logits, _ = model(_ids())
    torch.testing.assert_close(torch.logsumexp(logits, dim=-1), torch.zeros(B, T), atol=1e-5, rtol=0)
    torch.testing.assert_close(torch.log_softmax(logits, dim=-1), logits, atol=1e-5, rtol=0)


def test_full_logits_are_not_normalised():
    model = _model("lstm", "full").eval()
    nn.init.normal_(model.decoder.bias)
    with torch.no_grad():
        logits, _ = model(_ids())
    assert torch.logsumexp(logits, dim=-1).abs().min() > 1e-3


def test_weight_tying_shares_the_tensor():
    model = _model("lstm", "full", tie_weights=True, embedding_size=HIDDEN)
    assert model.decoder.weight is model.embedding.weight
    with torch.no_grad():
        model.embedding.weight[3, 0] = 42.0
    assert model.decoder.weight[3, 0].item() == 42.0
    untied = _model("lstm", "full", embedding_size=HIDDEN)
    assert model.num_parameters() == untied.num_parameters() - VOCAB * HIDDEN


def test_lstm_forget_bias_starts_at_one():
    model = _model("lstm", num_layers=2)
    for layer in range(2):
        bias = getattr(model.recurrent, f"bias_ih_l{layer}")
        assert torch.all(bias[HIDDEN : 2 * HIDDEN] == 1.0)  # gates ordered i, f, g, o
        assert not torch.all(bias[:HIDDEN] == 1.0)


@pytest.mark.parametrize("arch, decoder", itertools.product(["rnn", "lstm", "gru"], ["full", "adaptive"]))
def test_features_and_loss_equal_cross_entropy_of_forward(arch, decoder):
    model = _model(arch, decoder, num_layers=2).eval()
    ids = _ids()
    targets = torch.roll(ids, shifts=-1, dims=1)
    with torch.no_grad():
        logits, _ = model(ids)
        features, _ = model.features(ids)
        loss = model.loss(features, targets)
    expected = nn.functional.cross_entropy(logits.reshape(-1, VOCAB), targets.reshape(-1))
    torch.testing.assert_close(loss, expected, atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(model.logits_from_features(features), logits)


def test_features_from_embeddings_matches_features():
    model = _model("gru").eval()
    ids = _ids()
    with torch.no_grad():
        direct, direct_state = model.features(ids)
        via, via_state = model.features_from_embeddings(model.embed(ids))
    torch.testing.assert_close(via, direct)
    torch.testing.assert_close(via_state, direct_state)


@pytest.mark.parametrize("decoder", ["full", "adaptive"])
def test_forward_changes_nothing_in_the_module(decoder):
    model = _model("lstm", decoder, num_layers=2, dropout=0.3).eval()
    for parameter in model.parameters():
        parameter.requires_grad_(False)
    before = {name: tensor.clone() for name, tensor in model.state_dict().items()}
    modes = [module.training for module in model.modules()]
    logits, state = model(_ids())
    assert not logits.requires_grad  # no parameter asked for a gradient, and forward did not turn any on
    assert all(not parameter.requires_grad for parameter in model.parameters())
    assert [module.training for module in model.modules()] == modes
    for name, tensor in model.state_dict().items():
        assert torch.equal(tensor, before[name]), name
    assert all(
        not module._forward_hooks and not module._forward_pre_hooks and not module._backward_hooks
        for module in model.modules()
    )


def test_forward_keeps_train_mode_and_builds_a_graph():
    model = _model("gru", dropout=0.3).train()
    logits, _ = model(_ids())
    assert model.training and logits.requires_grad
    (gradient,) = torch.autograd.grad(logits.sum(), model.embedding.weight)
    assert gradient.abs().sum() > 0


@pytest.mark.parametrize("arch, decoder", itertools.product(["rnn", "lstm", "gru"], ["full", "adaptive"]))
def test_eval_mode_is_deterministic_and_dropout_only_acts_in_training(arch, decoder):
    model = _model(arch, decoder, num_layers=2, dropout=0.5).eval()
    ids = _ids()
    torch.manual_seed(1)
    first, _ = model(ids)
    torch.manual_seed(2)
    second, _ = model(ids)
    assert torch.equal(first, second)
    model.train()
    torch.manual_seed(1)
    noisy, _ = model(ids)
    assert not torch.allclose(noisy, first)


def test_detach_state_keeps_values_and_cuts_the_graph():
    model = _model("lstm")
    _, state = model(_ids())
    assert all(part.requires_grad for part in state)
    detached = detach_state(state)
    assert isinstance(detached, tuple) and all(not part.requires_grad for part in detached)
    assert all(torch.equal(a, b) for a, b in zip(detached, state))
    _, gru_state = _model("gru")(_ids())
    assert not detach_state(gru_state).requires_grad


def test_bad_config_is_refused_at_construction():
    config = ModelConfig(arch="lstm", vocab_size=VOCAB, embedding_size=EMBED, hidden_size=HIDDEN, decoder="full")
    config.num_layers = 0
    with pytest.raises(ValueError, match="num_layers"):
        LanguageModel(config)
