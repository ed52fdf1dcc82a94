"""Gates view: heatmaps, gate means and saturation come from the model's own gates."""

from __future__ import annotations

import math
import os

import pytest
from app_helpers import SEED, assert_every_chart_captioned, chart_titled, exception_free, open_app

from model.analysis.inputs import prepare_input
from model.analysis.memory.traces import compute_traces
from model.core.checkpoint import load_checkpoint


def test_lstm_gates_match_the_unrolled_model(app_models):
    at = exception_free(open_app("Gates and cell state"))
    assert assert_every_chart_captioned(at) >= 9
    checkpoint = load_checkpoint(os.path.join(app_models, "tiny-lstm"))
    traces = compute_traces(checkpoint.model, prepare_input(checkpoint.tokenizer, SEED)).words()
    forget = traces.layers[-1]["forget_gate"]  # [T, H]

    heat = chart_titled(at, "tiny-lstm: forget gate f")["data"]
    assert heat["unit"].nunique() == 24 and heat["word"].nunique() == 16
    assert heat["value"].between(0, 1).all()
    row = heat[(heat["word"] == "3 Robert") & (heat["unit"] == "unit 5")]
    assert math.isclose(float(row["value"].iloc[0]), float(forget[2, 5]), rel_tol=1e-5)

    means = chart_titled(at, "tiny-lstm: mean of each gate per word")["data"]
    forget_means = means[means["series"] == "forget gate f"]["value"].tolist()
    assert all(math.isclose(a, float(b), rel_tol=1e-5) for a, b in zip(forget_means, forget.mean(dim=1)))

    table = at.dataframe[0].value
    lstm_forget = table[(table["model"] == "tiny-lstm") & (table["gate"] == "forget gate f")].iloc[0]
    assert math.isclose(lstm_forget["share < 0.1 (closed)"], float((forget < 0.1).double().mean()), abs_tol=1e-9)
    assert math.isclose(lstm_forget["share > 0.9 (open)"], float((forget > 0.9).double().mean()), abs_tol=1e-9)
    shares = table[["share < 0.1 (closed)", "share between", "share > 0.9 (open)"]].sum(axis=1)
    assert all(math.isclose(value, 1.0, abs_tol=1e-9) for value in shares)


def test_conveyor_belt_rnn_slope_and_gru_gates(app_models):
    at = exception_free(open_app("Gates and cell state"))
    belt = chart_titled(at, "tiny-lstm: what the belt still carries")["data"]
    carried = belt["value"].tolist()
    assert carried[0] == 1.0 and all(later <= earlier + 1e-12 for earlier, later in zip(carried, carried[1:]))
    assert chart_titled(at, "tiny-lstm: size of the memory")["data"]["value"].gt(0).all()
    slope = chart_titled(at, "tiny-rnn: mean slope per word")["data"]
    assert slope["value"].between(0, 1).all() and len(slope) == 16
    assert chart_titled(at, "tiny-rnn: hidden state h")["data"]["value"].between(-1, 1).all()
    assert chart_titled(at, "tiny-gru: update gate z")["data"]["value"].between(0, 1).all()


@pytest.mark.slow
def test_units_are_sortable_and_pickable(app_models):
    at = open_app("Gates and cell state")
    at.radio(key="gates_order").set_value("unit number")
    at.slider(key="gates_count").set_value(5)
    at.number_input(key="gates_unit").set_value(7)
    at.run()
    exception_free(at)
    heat = chart_titled(at, "tiny-lstm: forget gate f")["data"]
    assert sorted(heat["unit"].unique()) == [f"unit {u}" for u in range(5)]
    unit = chart_titled(at, "tiny-lstm: unit 7")["data"]
    assert {"forget gate f", "cell state c", "hidden state h"} <= set(unit["series"])


def test_units_ordered_by_influence_on_his_vs_her(app_models):
    import torch

    at = open_app("Gates and cell state", gates_order="influence on the target word")
    exception_free(at)
    checkpoint = load_checkpoint(os.path.join(app_models, "tiny-lstm"))
    prepared = prepare_input(checkpoint.tokenizer, SEED)
    with torch.no_grad():
        features, _ = checkpoint.model.features(prepared.ids)  # [1, T + 1, H]
    hidden = features[0, 9].clone().requires_grad_(True)  # after "with": the prediction of word 10, "his"
    log_probs = torch.log_softmax(checkpoint.model.logits_from_features(hidden[None]), dim=-1)[0]
    his, her = checkpoint.tokenizer.token_to_id("his"), checkpoint.tokenizer.token_to_id("her")
    (gradient,) = torch.autograd.grad(log_probs[his] - log_probs[her], hidden)
    expected = [f"unit {u}" for u in (gradient * hidden).abs().argsort(descending=True)[:24].tolist()]
    heat = chart_titled(at, "tiny-lstm: forget gate f")["data"]
    shown = list(dict.fromkeys(heat["unit"]))
    assert set(shown) == set(expected)
    assert "influence on log P('his') − log P('her') at the prediction of word 10" in " ".join(
        c.value for c in at.caption
    ).replace("\\", "")
