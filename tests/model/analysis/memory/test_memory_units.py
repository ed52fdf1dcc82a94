"""Memory units: single-unit transplants equal explicit runs, rankings, counts and overlaps."""

from __future__ import annotations

import dataclasses
import inspect

import pytest
import torch
from test_transplant import CONTRAST, EXACT, TARGET, explicit_transplant, make_model, texts

from model.analysis.memory.transplant import record_pair
from model.analysis.memory.units import (
    RankedUnit,
    cumulative_shares,
    gradient_scores,
    grid_for,
    rank_units,
    ranking,
    scope_mask,
    single_unit_shares,
    top_overlap,
    unit_lines,
    units_needed,
)


@pytest.mark.parametrize("arch", ["rnn", "lstm", "gru"])
def test_single_unit_shares_equal_explicit_single_unit_transplants(arch):
    model = make_model(arch, num_layers=2)
    factual, counterfactual = texts(9, (0, 2))
    p = 7
    pair = record_pair(model, factual, counterfactual, p, TARGET, CONTRAST)
    for k in (2, p):
        shares = single_unit_shares(model, pair, k)
        assert shares.shape == pair.state_shape
        for flat in range(shares.numel()):
            mask = torch.zeros(shares.numel(), dtype=torch.bool)
            mask[flat] = True
            value, _ = explicit_transplant(model, factual, counterfactual, k, mask.view(pair.state_shape), p)
            assert abs(float(shares.flatten()[flat]) - (value - pair.factual) / pair.effect) < 1e-9


def test_rank_units_returns_the_largest_single_unit_effects_after_the_cue():
    model = make_model("lstm")
    factual, counterfactual = texts(9, (0, 2))
    units = rank_units(model, factual, counterfactual, 7, TARGET, CONTRAST, top=4)
    assert len(units) == 4 and all(isinstance(unit, RankedUnit) for unit in units)
    pair = record_pair(model, factual, counterfactual, 7, TARGET, CONTRAST)
    shares = single_unit_shares(model, pair, 2)  # the word right after the cue (0, 2)
    expected = sorted(range(shares.numel()), key=lambda flat: -abs(float(shares.flatten()[flat])))[:4]
    for unit, flat in zip(units, expected):
        assert (unit.layer, ("h", "c").index(unit.part), unit.unit) == tuple(
            torch.unravel_index(torch.tensor(flat), pair.state_shape)
        )
        assert abs(unit.effect - float(shares.flatten()[flat])) < EXACT
    assert [abs(unit.effect) for unit in units] == sorted((abs(unit.effect) for unit in units), reverse=True)
    with pytest.raises(dataclasses.FrozenInstanceError):
        units[0].effect = 0.0
    assert units[0].to_json() == {"unit": units[0].unit, "layer": 0, "part": units[0].part, "effect": units[0].effect}
    assert all(parameter.grad is None for parameter in model.parameters()) and not model.training


def test_rank_units_signature_is_the_one_the_lecture_calls():
    parameters = list(inspect.signature(rank_units).parameters)
    assert parameters == [
        "model",
        "factual_ids",
        "counterfactual_ids",
        "target_position",
        "target_id",
        "contrast_id",
        "top",
    ]
    assert inspect.signature(rank_units).parameters["top"].default == 16
    assert [field.name for field in dataclasses.fields(RankedUnit)] == ["unit", "layer", "part", "effect"]


def test_cumulative_shares_go_from_nothing_to_everything():
    model = make_model("gru", num_layers=2)
    factual, counterfactual = texts(9, (1, 3))
    pair = record_pair(model, factual, counterfactual, 7, TARGET, CONTRAST)
    scores = gradient_scores(pair, 4)
    order = ranking(scores)
    counts = grid_for(len(order))
    assert counts == [1, 2, 3, 4, 6, 8, 10]
    shares = cumulative_shares(model, pair, 4, order, [0, *counts])
    assert abs(shares[0]) < 1e-9 and abs(shares[-1] - 1.0) < 1e-9
    assert units_needed(counts, shares[1:]) == next(n for n, share in zip(counts, shares[1:]) if share >= 0.8)
    assert units_needed([1, 2], [0.1, None]) is None
    top_layer = scope_mask(pair, -1)
    assert top_layer[1].all() and not top_layer[0].any()
    assert set(ranking(scores, top_layer)) == set(range(5, 10))
    with pytest.raises(ValueError, match=r"2 layers, so layer must be in \[-2, 1\]"):
        scope_mask(pair, 2)


def test_gradient_scores_are_difference_times_gradient():
    model = make_model("lstm")
    factual, counterfactual = texts(8, (0, 2))
    pair = record_pair(model, factual, counterfactual, 6, TARGET, CONTRAST)
    scores = gradient_scores(pair, 3)
    expected = (pair.counterfactual_states[3] - pair.factual_states[3]).abs() * pair.gradients[3].abs()
    assert torch.equal(scores, expected)
    no_gradients = record_pair(model, factual, counterfactual, 6, TARGET, CONTRAST, gradients=False)
    with pytest.raises(ValueError, match="without gradients"):
        gradient_scores(no_gradients, 3)


def test_top_overlap_merges_a_units_cell_and_hidden_parts():
    shape = (1, 2, 10)  # one layer, h and c, 10 units: flat index = part * 10 + unit
    assert (
        top_overlap([13, 5, 2], [3, 12, 7], 2, shape) == 0.5
    )  # c3 and h3 are one unit; unit 2 is not in the first top 2
    assert top_overlap([13, 2], [3, 12], 2, shape) == 1.0  # c3/h3 and h2/c2
    assert top_overlap([0, 1], [8, 9], 2, shape) == 0.0


def test_unit_lines_are_the_recorded_states_and_forget_gates():
    model = make_model("lstm")
    factual, counterfactual = texts(8, (0, 2))
    pair = record_pair(model, factual, counterfactual, 6, TARGET, CONTRAST, gradients=False)
    lines = unit_lines(
        pair, [RankedUnit(unit=3, layer=0, part="c", effect=0.5), RankedUnit(unit=1, layer=0, part="h", effect=0.1)]
    )
    assert lines[0]["factual"] == pair.factual_states[:, 0, 1, 3].tolist()
    assert lines[1]["counterfactual"] == pair.counterfactual_states[:, 0, 0, 1].tolist()
    assert lines[0]["forget_factual"] == pair.factual_records[0]["forget_gate"][:, 3].tolist()
    assert lines[0]["factual"][0] != lines[0]["counterfactual"][0]  # the cue's first word differs, its state differs
    gru = record_pair(make_model("gru"), factual, counterfactual, 6, TARGET, CONTRAST, gradients=False)
    assert unit_lines(gru, [RankedUnit(0, 0, "h", 0.0)])[0]["forget_factual"] is None
