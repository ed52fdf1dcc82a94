"""Gradients view: the chain-rule calculator, the measured flow and the exploding demo."""

from __future__ import annotations

import pytest
from app_helpers import assert_charts_drawn, captions, chart_titled, exception_free, open_app


def test_calculator_multiplies_the_slopes(app_models):
    at = exception_free(open_app("Vanishing and exploding gradients", chain_slopes=", ".join(["0.1"] * 9)))
    assert at.metric[0].value == "1e-09"
    product = chart_titled(at, "Running product")["data"].dropna(subset=["step"])  # the other layer is the line at 1
    assert list(product["step"]) == list(range(1, 10))
    assert abs(product["abs_product"].iloc[-1] - 1e-9) < 1e-20
    at.text_input(key="chain_slopes").set_value("0.5, banana").run()
    assert not at.exception
    assert any("“banana”, which is not a number" in e.value for e in at.error)


@pytest.mark.slow
def test_measured_flow_and_exploding_demo(app_models):
    at = exception_free(open_app("Vanishing and exploding gradients"))
    assert_charts_drawn(
        at,
        [
            "Running product of the slopes",
            "reaches the last word",
            "Credit each earlier word",
            "share of the memory kept",
            "tiny-rnn: gradient size against distance",
            "tiny-rnn: gradient norms recorded during training",
        ],
    )
    flow = chart_titled(at, "How much of a change at an earlier word")["data"]
    assert set(flow["model"]) == {"tiny-rnn", "tiny-lstm", "tiny-gru"}
    assert "cell state c (LSTM)" in set(flow["path"])
    # The caption names the line styles the chart really draws, and the legend shows line styles, not dots.
    spec = chart_titled(at, "How much of a change at an earlier word")["spec"]
    dash = spec["encoding"]["strokeDash"]
    styles = dict(zip(dash["scale"]["domain"], dash["scale"]["range"]))
    assert styles["cell state c (LSTM)"] == [1, 0] and styles["hidden state h"] != [1, 0]
    assert dash["legend"]["symbolType"] == "stroke" and spec["mark"].get("point") in (None, False)
    assert "dashed for the hidden state h of every model, solid for the LSTM's cell state c" in captions(at)
    retention = chart_titled(at, "share of the memory kept")["data"]
    assert retention["share kept"].between(0, 1).all()

    at.slider(key="explode_scale").set_value(4.0)
    at.toggle(key="explode_clip").set_value(True)
    at.run()
    at.number_input(key="explode_threshold").set_value(2.0)
    at.run()
    exception_free(at)
    demo = chart_titled(at, "tiny-rnn: gradient size against distance")["data"]
    far = demo["words back"].max()
    scaled = demo[(demo["weights"] == "recurrent weights × 4") & (demo["words back"] == far)]["norm"].iloc[0]
    original = demo[(demo["weights"] == "trained weights") & (demo["words back"] == far)]["norm"].iloc[0]
    assert scaled > original
    clipped = demo[demo["weights"].str.endswith("clipped")]["norm"]
    assert len(clipped) and (clipped <= 2.0).all()
    history = chart_titled(at, "gradient norms recorded during training")["data"]
    assert (history[history["series"].str.startswith("after clipping")]["norm"] <= 2.0).all()


def test_the_running_product_is_labelled_at_every_power_of_ten(app_models):
    # Vega's own log ticks wrote "0.000001" beside "1e-7"; the axis now names each power of ten, down past the product.
    at = exception_free(open_app("Vanishing and exploding gradients", chain_slopes=", ".join(["0.1"] * 9)))
    chart = chart_titled(at, "Running product")
    line = next(layer for layer in chart["spec"]["layer"] if layer["encoding"]["y"]["field"] == "abs_product")
    assert line["encoding"]["y"]["axis"]["values"] == pytest.approx([10.0**k for k in range(-9, 1)])


def test_presenter_mode_gives_the_calculator_and_the_measured_curves_the_full_width(app_models):
    # In 3/5 of the page at presenter type the measured charts' legends ran past their right edge.
    headers = ("The chain rule, by hand", "Measured on your sentence")
    at = exception_free(open_app("Vanishing and exploding gradients"))
    assert {h.value for column in at.columns for h in column.subheader} >= set(headers)
    at = exception_free(open_app("Vanishing and exploding gradients", presenter=True))
    assert not {h.value for column in at.columns for h in column.subheader} & set(headers)
    assert {h.value for h in at.subheader} >= set(headers)
