"""Presenter mode and the example sentences."""

from __future__ import annotations

import pytest
from app_helpers import exception_free, open_app


def test_presenter_mode_enlarges_type(app_models):
    at = exception_free(open_app("Next word"))
    assert not any("font-size: 21px" in element.value for element in at.markdown)
    at.toggle(key="presenter").set_value(True).run()
    exception_free(at)
    assert any("font-size: 21px" in element.value for element in at.markdown)


@pytest.mark.slow
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


def test_presenter_mode_wraps_long_chart_titles_plain_or_styled():
    """Vega cuts a long title with "…" ("novels19m-rnn: top 10 next …"); presenter mode breaks it into lines."""
    from ui.widgets.charts import TITLE_LINE_CHARS, style_spec

    long = "How much of a change at an earlier word reaches the last word, for every model"
    assert len(long) > TITLE_LINE_CHARS
    for title, text_of in ((long, lambda t: t), ({"text": long, "fontSize": 15}, lambda t: t["text"])):
        spec = {"mark": "bar", "title": title}
        lines = text_of(style_spec(spec, True)["title"])
        assert isinstance(lines, list) and " ".join(lines) == long
        assert all(len(line) <= TITLE_LINE_CHARS for line in lines)
        assert spec["title"] == title  # the original spec is not changed
        assert style_spec(spec, False)["title"] == title  # off the projector the title stays whole on one line
    styled = style_spec({"mark": "bar", "title": {"text": long, "fontSize": 15}}, True)["title"]
    assert styled["fontSize"] == 15


def test_presenter_mode_wraps_a_long_y_axis_title_so_it_does_not_push_the_chart_title_off():
    """At 20 px a rotated y title longer than the plot pushed the chart title's first line out of the chart."""
    import altair as alt
    import pandas as pd

    from ui.widgets.charts import AXIS_TITLE_LINE_CHARS, style_chart, style_spec

    long_y = "‖∂h_last / ∂state_t‖ ÷ √H (log scale)"
    assert len(long_y) > AXIS_TITLE_LINE_CHARS
    base = alt.Chart(pd.DataFrame({"x": [1], "y": [2]})).mark_line()
    chart = base.encode(
        x=alt.X("x:Q", title="a long x-axis title that runs along the plot"), y=alt.Y("y:Q", title=long_y)
    )
    for drawn in (chart, chart + base.mark_point().encode(x="x:Q", y=alt.Y("y:Q", title=long_y))):
        spec = style_chart(drawn, True).to_dict()
        for part in [spec, *spec.get("layer", [])]:
            if "encoding" in part:
                y_title = part["encoding"]["y"]["title"]
                assert isinstance(y_title, list) and " ".join(y_title) == long_y
                assert all(len(line) <= AXIS_TITLE_LINE_CHARS for line in y_title)
                if "title" in part["encoding"]["x"]:
                    assert isinstance(part["encoding"]["x"]["title"], str)  # x titles run along the plot: kept
        assert drawn.to_dict() == style_chart(drawn, False).to_dict()  # the caller's chart is unchanged
        for part in [drawn.to_dict(), *drawn.to_dict().get("layer", [])]:
            if "encoding" in part:
                assert part["encoding"]["y"]["title"] == long_y
    plain = {"mark": "line", "encoding": {"y": {"field": "y", "type": "quantitative", "title": long_y}}}
    assert " ".join(style_spec(plain, True)["encoding"]["y"]["title"]) == long_y
    assert plain["encoding"]["y"]["title"] == long_y
    layered = {"layer": [dict(plain, mark="point"), plain]}
    assert all(isinstance(p["encoding"]["y"]["title"], list) for p in style_spec(layered, True)["layer"])


def test_presenter_config_sets_chart_text_for_a_projector():
    import altair as alt
    import pandas as pd

    from ui.widgets.charts import PRESENTER_FONT_PX, presenter_config, style_chart, style_spec, word_axis

    assert presenter_config(False) == {}
    config = presenter_config(True)
    assert PRESENTER_FONT_PX >= 20
    for part, key in (
        ("axis", "labelFontSize"),
        ("axis", "titleFontSize"),
        ("legend", "labelFontSize"),
        ("text", "fontSize"),
    ):
        assert config[part][key] == PRESENTER_FONT_PX
    spec = {"mark": "bar", "height": {"step": 24}, "config": {"axis": {"grid": False}}}
    styled = style_spec(spec, True)
    assert styled["config"]["axis"] == {"grid": False, **config["axis"]} and styled["height"]["step"] > 24
    assert style_spec(spec, False) is spec and spec["height"] == {"step": 24}  # the original is not changed
    chart = (
        alt.Chart(pd.DataFrame({"x": [1], "y": ["a"]}))
        .mark_bar()
        .encode(x="x:Q", y="y:N")
        .properties(height=alt.Step(20))
    )
    layered = style_chart(chart + chart.mark_text(), True).to_dict()
    assert layered["config"]["axis"]["labelFontSize"] == PRESENTER_FONT_PX
    assert layered["config"]["text"]["fontSize"] == PRESENTER_FONT_PX
    assert style_chart(chart, True).to_dict()["height"] == {"step": 30} and style_chart(chart, False) is chart
    assert style_chart(spec, True) == styled
    assert word_axis(30)["labelOverlap"] is False and word_axis(31)["labelOverlap"] != False  # noqa: E712
    # A dark page: text marks get a light colour (Vega's black would vanish); the light theme keeps Vega's default.
    from ui.widgets.charts import DARK_THEME_TEXT, chart_config

    assert (
        chart_config(False, dark=True) == {"text": {"color": DARK_THEME_TEXT}} and chart_config(False, dark=False) == {}
    )
    assert chart_config(True, dark=True)["text"] == {"fontSize": PRESENTER_FONT_PX, "color": DARK_THEME_TEXT}


def test_shaded_words_contrast_in_light_and_dark_themes():
    import re

    from ui.widgets.markup import NEGATIVE, POSITIVE, _blend, contrast_ratio, legend, text_colour_on, word_spans

    assert round(contrast_ratio((0, 0, 0), (255, 255, 255)), 1) == 21.0
    for colour in (POSITIVE, NEGATIVE):
        for step in range(0, 101):
            background = _blend(colour, step / 100)
            assert contrast_ratio(background, text_colour_on(background)) >= 4.5, (colour, step)
    html = word_spans(["Mr", "Robert", "his"], [0.1, 1.0, None], target_index=2)
    spans = re.findall(r'<span[^>]*style="([^"]*)"', html)
    # Unshaded words (the target "his" here) set no colour of their own: they take the theme's text colour.
    assert "color:" not in spans[2] and "background" not in spans[2] and "currentColor" in spans[2]
    assert (
        "color:rgb(0,0,0)" in spans[0] and "color:rgb(255,255,255)" in spans[1]
    )  # light shade: black; deep shade: white
    assert "color:#" not in html and 'style="line-height:2.1"' in html
    assert "color:rgb(" in legend("raises", "lowers")


def test_presenter_mode_wraps_a_small_altair_title_too():
    """The per-model charts of a third of the page carry a small title (alt.TitleParams); a long one still wraps."""
    import altair as alt
    import pandas as pd

    from ui.widgets.charts import COLUMN_TITLE_FONT_SIZE, TITLE_LINE_CHARS, style_chart

    long = "How much of a change at an earlier word reaches the last word, for every model"
    chart = alt.Chart(pd.DataFrame({"x": [1]}), title=alt.TitleParams(long, fontSize=COLUMN_TITLE_FONT_SIZE)).mark_bar()
    title = style_chart(chart, True).title
    assert isinstance(title.text, list) and " ".join(title.text) == long
    assert all(len(line) <= TITLE_LINE_CHARS for line in title.text)
    assert title.fontSize == COLUMN_TITLE_FONT_SIZE
    assert chart.title.text == long  # the caller's chart keeps its one-line title
    assert style_chart(chart, False).title.text == long


@pytest.mark.parametrize("view", ["Next word", "Word by word", "Memory and influence", "Generate"])
def test_model_names_stand_in_a_row_of_their_own(app_models, view):
    # A name that wraps to two lines in a third of the page ("novels19m-lstm (LSTM)" in presenter type) pushed
    # that model's chart below its neighbours' when the name sat in the same column as the chart.
    at = exception_free(open_app(view, presenter=True))
    names = [f"**tiny-{arch} ({arch.upper()})**" for arch in ("rnn", "lstm", "gru")]
    holding = [column for column in at.columns if any(m.value in names for m in column.markdown)]
    assert [column.markdown[0].value for column in holding] == names
    assert all(len(column.children) == 1 for column in holding), "a model's name shares its column with content"


def test_a_column_title_is_small_and_broken_into_lines_in_every_mode():
    # Off the projector too, Vega cut a third of the page's titles: "novels19m-lstm: top 10 next wo…".
    from ui.widgets.charts import COLUMN_TITLE_FONT_SIZE, COLUMN_TITLE_LINE_CHARS, column_title

    text = "novels19m-lstm: perplexity during training"
    title = column_title(text)
    assert title.fontSize == COLUMN_TITLE_FONT_SIZE and " ".join(title.text) == text
    assert len(title.text) == 2 and all(len(line) <= COLUMN_TITLE_LINE_CHARS for line in title.text)
