"""Where the memory lives: the view draws the transplant report's own numbers, and the suite runs on demand."""

from __future__ import annotations

import math
import os

import pytest
from app_helpers import SEED, assert_every_chart_captioned, captions, chart_titled, exception_free, open_app

from model.analysis.memory.suite import suite_memory_units
from model.analysis.memory.transplant_report import transplant_report
from model.core.checkpoint import load_checkpoint

VIEW = "Where the memory lives"
SWAPPED = SEED.replace("Mr. Robert", "Mrs. Mary")


@pytest.mark.slow
def test_defaults_come_from_the_cue_swap_and_the_charts_show_the_report(app_models):
    at = exception_free(open_app(VIEW))
    inputs = {element.label.split(":")[0].split(" (")[0]: element.value for element in at.text_input}
    assert inputs["Counterfactual"] == SWAPPED and inputs["Target word"] == "his" and inputs["Contrast word"] == "her"
    assert (
        assert_every_chart_captioned(at) >= 1 + 3 + 3 + 1
    )  # distance, three share charts, three unit lines, one forget gate
    checkpoint = load_checkpoint(os.path.join(app_models, "tiny-lstm"))
    report = transplant_report(
        checkpoint.model,
        checkpoint.tokenizer,
        SEED,
        counterfactual=SWAPPED,
        target_word="his",
        contrast_word="her",
        max_words=80,
    )

    distance = chart_titled(at, "How far apart the two memories are")["data"]
    lstm = distance[distance["model"] == "tiny-lstm"]["distance"].tolist()
    assert len(lstm) == 16 and all(
        math.isclose(a, p["state_distance"], rel_tol=1e-6) for a, p in zip(lstm, report["positions"])
    )
    assert distance["word"].iloc[0] == "1 Mr→Mrs" and distance["word"].iloc[2] == "3 Robert→Mary"

    shares = chart_titled(at, "tiny-lstm: transplanting the counterfactual's state")
    data = shares["data"]
    whole = data[data["series"] == "all units"]["share"].tolist()
    assert all(math.isclose(a, p["share_all"], rel_tol=1e-6, abs_tol=1e-9) for a, p in zip(whole, report["positions"]))
    assert {"top 1 unit", "top 4 units", "top 16 units", "all units", "cell state c only"} <= set(data["series"])
    assert "cell state c only" not in set(chart_titled(at, "tiny-rnn: transplanting")["data"]["series"])
    x = shares["spec"]["layer"][0]["encoding"]["x"]
    assert x["axis"]["labelOverlap"] is False  # every word keeps its label up to 30 words

    top = report["unit_lines"][0]
    unit = chart_titled(
        at, f"tiny-lstm: {'cell state c' if top['part'] == 'c' else 'hidden state h'}, unit {top['unit']} in both runs"
    )["data"]
    assert [round(v, 5) for v in unit[unit["run"] == "counterfactual"]["value"]] == [
        round(v, 5) for v in top["counterfactual"]
    ]
    assert chart_titled(at, f"tiny-lstm: forget gate of unit {top['unit']}")["data"]["value"].between(0, 1).all()
    table = at.dataframe[0].value
    row = table[table["model"] == "tiny-lstm"].iloc[0]
    assert math.isclose(row["swap effect (nats)"], report["effect"], rel_tol=1e-6, abs_tol=1e-9)
    assert row["units for 80%"] == report["units_needed"]["transplant"]
    text = captions(at)
    assert "log P('his') - log P('her')" in text and "exact" in text.lower()


def test_bad_counterfactual_is_an_error_and_the_view_keeps_working(app_models):
    at = exception_free(open_app(VIEW, models=["tiny-gru"]))
    key = next(element.key for element in at.text_input if element.label.startswith("Counterfactual"))
    at.text_input(key=key).set_value("Mrs. Mary Anne is going on a vacation with his wife to Hawaii next month.").run()
    exception_free(at)
    assert any("same number of tokens" in element.value for element in at.error)
    at.text_input(key=key).set_value(SWAPPED.replace("his", "her")).run()
    assert any("differ at token 9" in element.value for element in exception_free(at).error)


@pytest.mark.slow
def test_the_suite_ablation_runs_on_the_button_and_draws_the_bar(app_models):
    at = exception_free(open_app(VIEW, models=["tiny-lstm"]))
    assert not [chart for chart in at.get("vega_lite_chart") if "ablating" in chart.proto.spec]
    at.button(key="memory_suite_run").click().run()
    exception_free(at)
    bars = chart_titled(at, "tiny-lstm: swap effect left after ablating memory units")["data"]
    checkpoint = load_checkpoint(os.path.join(app_models, "tiny-lstm"))
    result = suite_memory_units(checkpoint.model, checkpoint.tokenizer, templates_per_bucket=5, draws=10)
    overall = bars[(bars["bucket"] == "all") & (bars["model"] == "tiny-lstm")]
    top4 = overall[overall["kind"] == "top 4 units"]["left"].iloc[0]
    assert math.isclose(top4, result["overall"]["ablation"]["4"]["top"], rel_tol=1e-6)
    random16 = overall[overall["kind"] == "16 random units"].iloc[0]
    spread = result["overall"]["ablation"]["16"]
    assert math.isclose(random16["left"], spread["random_mean"], rel_tol=1e-6)
    assert math.isclose(random16["high"] - random16["low"], 2 * spread["random_std"], rel_tol=1e-6)
    assert "mean of 10 seeded draws" in captions(at)
