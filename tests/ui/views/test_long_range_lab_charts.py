"""The lab's charts keep a readable plot at every size the app draws them (Vega's layout, rendered by vl-convert)."""

from __future__ import annotations

import json
import re

import pandas as pd
import pytest
import vl_convert

from ui.views.long_range_lab import band_chart, learned_chart
from ui.widgets.charts import style_chart

LAGS = (1, 2, 5, 20, 60)


def _frame() -> pd.DataFrame:
    return pd.DataFrame(
        [
            {
                "model": model,
                "arch": model.lower(),
                "lag": lag,
                "mean": 0.5,
                "low": 0.3,
                "high": 0.8,
                "learned_share": 1.0 if model == "LSTM" else 0.0,
                "learned": 8 if model == "LSTM" else 0,
                "seeds": 8,
                "step": 400,
            }
            for model in ("LSTM", "RNN")
            for lag in LAGS
        ]
    )


def _plot_height(chart, presenter: bool) -> float:
    """The y axis's length in pixels when the chart is fitted into its own height, as Streamlit draws it."""
    spec = style_chart(chart, presenter).to_dict()
    spec.update(autosize={"type": "fit", "contains": "padding"}, width=760)  # a page-wide column at 1280 px
    svg = vl_convert.vegalite_to_svg(json.dumps(spec))
    lengths = [
        abs(float(value)) for value in re.findall(r'role-axis-domain[^>]*><line [^>]*x2="0" y2="(-?[\d.]+)"', svg)
    ]
    assert lengths, "no y axis drawn"
    return max(lengths)


@pytest.mark.parametrize("presenter", [False, True])
@pytest.mark.parametrize("name", ["learned", "band"])
def test_the_plot_keeps_most_of_its_height(presenter, name):
    # At presenter type the learned chart (220 px, a two-line rotated y title) was fitted into a plot 24 px tall in
    # Chromium. vl-convert's fonts are narrower, so the same spec gives it 148 px (156 px off the projector); the
    # charts as they are now get 236-328 px.
    chart = learned_chart(_frame()) if name == "learned" else band_chart(_frame(), {lag: 0.4 for lag in LAGS})
    assert _plot_height(chart, presenter) >= 200
