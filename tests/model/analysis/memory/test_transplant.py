"""State transplants, proven in float64 against explicit runs of the model's own fused recurrence."""

from __future__ import annotations

import pytest
import torch
from torch.nn import functional

from model.analysis.memory.transplant import check_pair, part_distances, record_pair, state_distance, transplant
from model.core.config import ModelConfig
from model.core.language_model import LanguageModel

EXACT = 1e-12  # float64: "exactly" up to rounding of a few hundred products
TARGET, CONTRAST = 20, 21


def make_model(arch: str, num_layers: int = 1, decoder: str = "full", seed: int = 0) -> LanguageModel:
    """A random float64 model with weights large enough that a swapped cue moves the target by a sizeable amount."""
    torch.manual_seed(seed)
    extra = {"adaptive_cutoffs": (12, 24), "adaptive_div_value": 2.0} if decoder == "adaptive" else {}
    config = ModelConfig(
        arch=arch,
        vocab_size=40,
        embedding_size=6,
        hidden_size=5,
        num_layers=num_layers,
        dropout=0.0,
        decoder=decoder,
        **extra,
    )
    model = LanguageModel(config).double().eval()
    with torch.no_grad():
        for parameter in model.parameters():
            parameter.normal_(0.0, 0.8)
    return model


def texts(length: int = 10, cue: tuple[int, int] = (0, 2)) -> tuple[torch.Tensor, torch.Tensor]:
    """[<eos>] + words, and the same with the cue's words swapped."""
    factual = torch.tensor([0, *range(3, 3 + length)])
    counterfactual = factual.clone()
    counterfactual[cue[0] + 1 : cue[1] + 1] = torch.arange(30, 30 + cue[1] - cue[0])
    return factual, counterfactual


def state_of(model: LanguageModel, state) -> torch.Tensor:
    """The model's state format -> [L, P, H] for batch row 0."""
    if isinstance(state, tuple):
        return torch.stack([state[0][:, 0], state[1][:, 0]], dim=1)
    return state[:, 0, None]


def as_model_state(model: LanguageModel, stacked: torch.Tensor):
    """[L, P, H] -> the model's state format with batch 1."""
    if model.config.arch == "lstm":
        return stacked[:, 0, None].contiguous(), stacked[:, 1, None].contiguous()
    return stacked[:, 0, None].contiguous()


def explicit_transplant(model, factual, counterfactual, k, mask, p):
    """Fused module: read the factual words up to k, put the masked counterfactual units in, read the rest to p.

    Returns (f after word p, the state after word p as [L, P, H]).
    """
    with torch.no_grad():
        _, state_f = model.recurrent(model.embed(factual[None, : k + 2]))
        _, state_c = model.recurrent(model.embed(counterfactual[None, : k + 2]))
        state = torch.where(mask, state_of(model, state_c), state_of(model, state_f))
        features = state[-1, 0]  # k = p: the edited top hidden state is read directly
        if k < p:
            outputs, after = model.recurrent(model.embed(factual[None, k + 2 : p + 2]), as_model_state(model, state))
            features, state = outputs[0, -1], state_of(model, after)
        log_probs = functional.log_softmax(model.logits_from_features(features), dim=-1)
    return float(log_probs[TARGET] - log_probs[CONTRAST]), state


def f_at(model, ids, p):
    with torch.no_grad():
        log_probs = functional.log_softmax(model(ids[None])[0][0, p + 1], dim=-1)
    return float(log_probs[TARGET] - log_probs[CONTRAST])


@pytest.mark.parametrize("arch", ["rnn", "lstm", "gru"])
@pytest.mark.parametrize("num_layers", [1, 2])
def test_whole_state_after_the_cue_gives_the_counterfactual_and_zero_units_the_factual(arch, num_layers):
    model = make_model(arch, num_layers, decoder="adaptive" if num_layers == 2 else "full")
    factual, counterfactual = texts(10, (1, 3))
    p = 8
    pair = record_pair(model, factual, counterfactual, p, TARGET, CONTRAST)
    assert pair.cue == (1, 3) and pair.word_after_cue == 3
    assert (
        abs(pair.factual - f_at(model, factual, p)) < EXACT
        and abs(pair.counterfactual - f_at(model, counterfactual, p)) < EXACT
    )
    assert abs(pair.effect) > 1e-3  # the proof below would be empty for a swap that moves nothing
    ks = torch.arange(pair.length)
    everything = torch.ones(len(ks), *pair.state_shape, dtype=torch.bool)
    values, _ = transplant(model, pair, ks, everything)
    nothing, _ = transplant(model, pair, ks, torch.zeros_like(everything))
    shares = pair.shares(values)
    # From the cue's last word to the word before the target the whole state carries the whole swap...
    assert torch.allclose(
        values[2 : p + 1], torch.full((p - 1,), pair.counterfactual, dtype=torch.float64), rtol=0, atol=EXACT
    )
    assert torch.allclose(shares[2 : p + 1], torch.ones(p - 1, dtype=torch.float64), rtol=0, atol=1e-9)
    # ... before the cue the two states are the same, and at the target's own position the target was already read.
    assert abs(float(values[0]) - pair.factual) < EXACT and abs(float(shares[0])) < 1e-9
    assert values[p + 1] == pair.factual and shares[p + 1] == 0
    assert torch.allclose(nothing, torch.full_like(nothing, pair.factual), rtol=0, atol=EXACT)


def test_at_the_targets_own_position_an_explicit_run_reads_the_factual_then_the_counterfactual():
    model = make_model("lstm")
    factual, counterfactual = texts(10, (0, 2))
    p = 6
    pair = record_pair(model, factual, counterfactual, p, TARGET, CONTRAST)
    k = p + 1  # the target word itself
    mask = torch.ones(pair.state_shape, dtype=torch.bool)
    with torch.no_grad():
        _, state_f = model.recurrent(model.embed(factual[None, : k + 2]))
        _, state_c = model.recurrent(model.embed(counterfactual[None, : k + 2]))
        edited = torch.where(mask, state_of(model, state_c), state_of(model, state_f))
        before = model(factual[None, : p + 2])[0][0, -1]  # the prediction of the target, read before word k
        after, _ = model.recurrent(model.embed(factual[None, k + 2 :]), as_model_state(model, edited))
    log_probs = functional.log_softmax(before, dim=-1)
    assert abs(float(log_probs[TARGET] - log_probs[CONTRAST]) - pair.factual) < EXACT
    # Later predictions do follow the transplanted state: every one equals the counterfactual's.
    later = functional.log_softmax(model.logits_from_features(after[0]), dim=-1)
    assert torch.allclose(
        later[:, TARGET] - later[:, CONTRAST], pair.counterfactual_values[k + 1 :], rtol=0, atol=EXACT
    )
    values, _ = transplant(model, pair, torch.tensor([k]), mask[None])
    assert float(values[0]) == pair.factual and float(pair.shares(values)[0]) == 0.0


@pytest.mark.parametrize("arch", ["rnn", "lstm", "gru"])
@pytest.mark.parametrize("num_layers", [1, 2])
def test_the_state_after_a_whole_transplant_is_the_counterfactual_prefix_with_the_factual_suffix(arch, num_layers):
    model = make_model(arch, num_layers)
    factual, counterfactual = texts(9, (0, 3))
    p = 8
    pair = record_pair(model, factual, counterfactual, p, TARGET, CONTRAST)
    for k in range(pair.length - 1):
        _, states = transplant(model, pair, torch.tensor([k]), torch.ones(1, *pair.state_shape, dtype=torch.bool))
        mixed = torch.cat(
            [counterfactual[: k + 2], factual[k + 2 : p + 2]]
        )  # counterfactual up to word k, factual after
        with torch.no_grad():
            _, state = model.recurrent(model.embed(mixed[None]))
        assert torch.allclose(states[0], state_of(model, state), rtol=0, atol=EXACT), k


@pytest.mark.parametrize("arch", ["rnn", "lstm", "gru"])
@pytest.mark.parametrize("num_layers", [1, 2])
def test_partial_transplants_of_a_staircase_batch_equal_explicit_runs(arch, num_layers):
    model = make_model(arch, num_layers, decoder="adaptive")
    factual, counterfactual = texts(11, (1, 3))
    p = 9
    pair = record_pair(model, factual, counterfactual, p, TARGET, CONTRAST)
    generator = torch.Generator().manual_seed(3)
    ks = torch.tensor([5, 1, 9, 3, 3, 2, 7, 9])  # unsorted, repeated, and at p itself
    masks = torch.rand(len(ks), *pair.state_shape, generator=generator) < 0.4
    values, states = transplant(model, pair, ks, masks)
    for row, k in enumerate(ks.tolist()):
        expected, state = explicit_transplant(model, factual, counterfactual, k, masks[row], p)
        assert abs(float(values[row]) - expected) < EXACT, (row, k)
        assert torch.allclose(states[row], state, rtol=0, atol=EXACT)


@pytest.mark.parametrize("arch", ["rnn", "lstm", "gru"])
def test_state_gradients_equal_autograd_through_the_fused_module(arch):
    model = make_model(arch)
    factual, counterfactual = texts(8, (0, 2))
    p = 6
    pair = record_pair(model, factual, counterfactual, p, TARGET, CONTRAST)
    for k in range(pair.length):
        with torch.no_grad():
            _, state = model.recurrent(model.embed(factual[None, : k + 2]))
        leaf = state_of(model, state).clone().requires_grad_(True)
        if k < p:
            outputs, _ = model.recurrent(model.embed(factual[None, k + 2 : p + 2]), as_model_state(model, leaf))
            features = outputs[0, -1]
        else:
            features = leaf[-1, 0]
        log_probs = functional.log_softmax(model.logits_from_features(features), dim=-1)
        if k <= p:
            (expected,) = torch.autograd.grad(log_probs[TARGET] - log_probs[CONTRAST], leaf)
        else:
            expected = torch.zeros_like(leaf)
        assert torch.allclose(pair.gradients[k], expected, rtol=0, atol=1e-10), k
    assert all(parameter.grad is None for parameter in model.parameters()) and not model.training


def test_state_distance_is_relative_and_zero_before_the_cue():
    model = make_model("lstm")
    factual, counterfactual = texts(8, (2, 4))
    pair = record_pair(model, factual, counterfactual, 6, TARGET, CONTRAST, gradients=False)
    distance = state_distance(pair)
    assert pair.gradients is None
    assert distance[:2].abs().max() == 0 and (distance[2:] > 0).all()
    states, counter = pair.factual_states[5].flatten(), pair.counterfactual_states[5].flatten()
    assert abs(float(distance[5]) - float((states - counter).norm() / states.norm())) < EXACT
    parts = part_distances(pair)
    assert set(parts) == {"h", "c"} and len(parts["c"]) == 8 and len(parts["c"][0]) == 1
    cell = pair.factual_states[5, 0, 1]
    assert abs(parts["c"][5][0] - float((cell - pair.counterfactual_states[5, 0, 1]).norm() / cell.norm())) < EXACT


def test_bad_pairs_are_refused_with_the_rule_and_the_way_out():
    factual, counterfactual = texts(8, (0, 2))
    with pytest.raises(ValueError, match="same number of words; got 8 and 7"):
        check_pair(factual, counterfactual[:-1], 5, 40)
    with pytest.raises(ValueError, match="same text"):
        check_pair(factual, factual.clone(), 5, 40)
    with pytest.raises(ValueError, match=r"at or before the cue \(words 0 to 1"):
        check_pair(factual, counterfactual, 0, 40)
    assert check_pair(factual, counterfactual, 1, 40) == (0, 2)  # the target word right after the cue is fine
    with pytest.raises(ValueError, match=r"target_position must be an output position in \[0, 7\]"):
        check_pair(factual, counterfactual, 8, 40)
    with pytest.raises(ValueError, match="long tensor"):
        check_pair(factual.float(), counterfactual, 5, 40)
    with pytest.raises(ValueError, match="target_id must be a vocabulary id"):
        record_pair(make_model("rnn"), factual, counterfactual, 5, 99, CONTRAST)
