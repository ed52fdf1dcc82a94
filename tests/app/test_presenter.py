"""Presenter mode and the example sentences."""
from __future__ import annotations

from app_helpers import exception_free, open_app


def test_presenter_mode_enlarges_type(app_models):
    at = exception_free(open_app("Next word"))
    assert not any("font-size: 21px" in element.value for element in at.markdown)
    at.toggle(key="presenter").set_value(True).run()
    exception_free(at)
    assert any("font-size: 21px" in element.value for element in at.markdown)


def test_presets_load_teaching_sentences(app_models):
    at = open_app("Memory and influence")
    at.selectbox(key="preset").set_value("Mrs. Mary ... her (the twin)").run()
    exception_free(at)
    assert at.text_input(key="text").value.startswith("Mrs. Mary is going")
    assert at.selectbox(key="influence_target").value == 9  # "her" is the default target now
    at.selectbox(key="preset").set_value("Agreement across a long gap").run()
    exception_free(at)
    tokens_target = at.selectbox(key="influence_target")
    assert tokens_target.format_func(tokens_target.value).endswith("“were”")
    at.selectbox(key="preset").set_value("A quotation that must close").run()
    exception_free(at)
    assert '"' in at.text_input(key="text").value


def test_presenter_config_sets_chart_text_for_a_projector():
    import altair as alt
    import pandas as pd

    from ui.charts import PRESENTER_FONT_PX, presenter_config, style_chart, style_spec, word_axis

    assert presenter_config(False) == {}
    config = presenter_config(True)
    assert PRESENTER_FONT_PX >= 20
    for part, key in (("axis", "labelFontSize"), ("axis", "titleFontSize"), ("legend", "labelFontSize"), ("text", "fontSize")):
        assert config[part][key] == PRESENTER_FONT_PX
    spec = {"mark": "bar", "height": {"step": 24}, "config": {"axis": {"grid": False}}}
    styled = style_spec(spec, True)
    assert styled["config"]["axis"] == {"grid": False, **config["axis"]} and styled["height"]["step"] > 24
    assert style_spec(spec, False) is spec and spec["height"] == {"step": 24}  # the original is not changed
    chart = alt.Chart(pd.DataFrame({"x": [1], "y": ["a"]})).mark_bar().encode(x="x:Q", y="y:N").properties(height=alt.Step(20))
    layered = style_chart(chart + chart.mark_text(), True).to_dict()
    assert layered["config"]["axis"]["labelFontSize"] == PRESENTER_FONT_PX
    assert layered["config"]["text"]["fontSize"] == PRESENTER_FONT_PX
    assert style_chart(chart, True).to_dict()["height"] == {"step": 30} and style_chart(chart, False) is chart
    assert style_chart(spec, True) == styled
    assert word_axis(30)["labelOverlap"] is False and word_axis(31)["labelOverlap"] != False  # noqa: E712
