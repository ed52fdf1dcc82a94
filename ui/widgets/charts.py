"""Altair charts used by several views, and the one way a chart reaches the page (with its caption).

Every chart is drawn by :func:`show_chart`, which refuses a chart without a
caption. Streamlit's chart toolbar (hover the chart, then ⋯) offers "Download
as PNG" and "Copy Vega-Lite spec"; the captions say so once per view.
"""

from __future__ import annotations

import json
from typing import Any, Sequence

import altair as alt
import pandas as pd
import streamlit as st

from ui.settings import ARCH_COLOURS

EXPORT_HINT = "Each chart's toolbar (hover it, then ⋯) has Download as PNG and Copy Vega-Lite spec; the Export tab saves SVG and PNG."

# Text inside a chart in presenter mode, in CSS pixels: about 20 px reads from the back of a room at 1280 x 720.
PRESENTER_FONT_PX = 20
# Rows and bars are drawn this much taller in presenter mode, so 20 px labels do not collide (11 px is Vega's default).
PRESENTER_STEP_SCALE = 1.5
# In presenter mode a longer chart title is broken into lines of this many characters: the page's width at 20 px
# with the sidebar open (at 30, "How much of a change at an earlier word reaches the last word" took three lines,
# and the third pushed the first out of the top of a page-wide chart).
TITLE_LINE_CHARS = 56
# A chart in one model's column (a third of the page) breaks its small title into lines of this many characters.
COLUMN_TITLE_LINE_CHARS = 30
# A chart in a third of the page (one per model, under the model's name in large type) gets a small title: at the
# presenter's 20 px, "novels19m-lstm: expected next" was cut to "novels19m-lstm: exp…".
COLUMN_TITLE_FONT_SIZE = 15
# ... and a longer y-axis title into lines of this many: at 20 px a rotated y title longer than the plot is tall sticks
# out above it, and Vega's fit to a fixed height then leaves too little room, so the chart title's first line is cut.
AXIS_TITLE_LINE_CHARS = 22
# Text marks in a dark theme (Streamlit's own dark-theme text colour).
DARK_THEME_TEXT = "#FAFAFA"
# Up to this many words, every word on a word axis gets its label (beyond it Vega may thin them out).
ALL_LABELS_UP_TO = 30


def presenter_config(enabled: bool) -> dict[str, Any]:
    """The Vega-Lite ``config`` block that sets the text *inside* a chart for a projector.

    CSS cannot reach a chart's own fonts (Vega draws them into the SVG), so presenter mode sets
    them here: axis labels and titles, legend labels and titles, facet headers and text marks at
    :data:`PRESENTER_FONT_PX` pixels, the chart title a little larger, and label limits wide
    enough that a word is not cut. Every chart of the app goes through :func:`style_chart`
    (which calls this); the lecture uses the same function.

    Args:
        enabled: presenter mode on.

    Returns:
        A fresh dict to put under a spec's ``"config"`` ({} when ``enabled`` is False).

    Example:
        >>> presenter_config(True)["axis"]["labelFontSize"]
        20
    """
    if not enabled:
        return {}
    size = PRESENTER_FONT_PX
    return {
        "axis": {"labelFontSize": size, "titleFontSize": size, "labelLimit": 360, "titleLimit": 1000},
        # Legends go under the plot: beside it they take a third of a narrow column's width.
        "legend": {
            "labelFontSize": size,
            "titleFontSize": size,
            "labelLimit": 480,
            "symbolSize": 260,
            "symbolStrokeWidth": 3,
            "orient": "bottom",
            "direction": "horizontal",
        },
        "header": {"labelFontSize": size, "titleFontSize": size},
        "title": {"fontSize": size, "subtitleFontSize": size, "limit": 1200},
        "text": {"fontSize": size},
    }


def _merged(base: dict[str, Any], extra: dict[str, Any]) -> dict[str, Any]:
    merged = dict(base)
    for key, value in extra.items():
        merged[key] = (
            _merged(merged[key], value) if isinstance(value, dict) and isinstance(merged.get(key), dict) else value
        )
    return merged


def _scaled_step(size: Any) -> Any:
    if isinstance(size, dict) and isinstance(size.get("step"), (int, float)):
        return dict(size, step=round(size["step"] * PRESENTER_STEP_SCALE))
    return size


def dark_theme() -> bool:
    """The page is in a dark theme (the app follows the computer's setting; st.context reports which)."""
    try:
        return st.context.theme.type == "dark"
    except Exception:  # no script run context (a test calling a chart function directly): Vega's light default
        return False


def chart_config(presenter: bool, dark: bool | None = None) -> dict[str, Any]:
    """Everything the page adds to a chart's Vega-Lite config: :func:`presenter_config`, and in a dark theme a
    light colour for text marks (Vega draws them black, unreadable on a dark page; axes and legends follow the theme)."""
    config = presenter_config(presenter)
    if dark_theme() if dark is None else dark:
        config["text"] = dict(config.get("text", {}), color=DARK_THEME_TEXT)
    return config


def column_title(text: str) -> alt.TitleParams:
    """The title of a chart in one model's column (a third or half of the page): small, and broken into lines of
    :data:`COLUMN_TITLE_LINE_CHARS` in every mode, so Vega never cuts it with "…" ("novels19m-lstm: top 10 next wo…")."""
    return alt.TitleParams(wrapped_title(text, COLUMN_TITLE_LINE_CHARS), fontSize=COLUMN_TITLE_FONT_SIZE)


def wrapped_title(title: str, width: int = TITLE_LINE_CHARS) -> str | list[str]:
    """A long chart title as lines of at most ``width`` characters (Vega cuts a long title with "…" instead)."""
    if not isinstance(title, str) or len(title) <= width:
        return title
    lines, line = [], ""
    for word in title.split(" "):
        if line and len(line) + 1 + len(word) > width:
            lines.append(line)
            line = word
        else:
            line = f"{line} {word}" if line else word
    return lines + [line] if line else lines


def style_spec(spec: dict[str, Any], presenter: bool) -> dict[str, Any]:
    """A copy of a plain Vega-Lite spec styled for the page: :func:`chart_config` merged in and, in presenter
    mode, row/bar steps enlarged; the spec itself when there is nothing to add."""
    config = chart_config(presenter)
    if not config:
        return spec
    styled = dict(spec, config=_merged(spec.get("config") or {}, config))
    if presenter:
        for key in ("height", "width"):
            if key in styled:
                styled[key] = _scaled_step(styled[key])
        if isinstance(styled.get("encoding"), dict):
            styled["encoding"] = _wrapped_y_title(styled["encoding"])
        if isinstance(styled.get("layer"), list):
            styled["layer"] = [
                dict(layer, encoding=_wrapped_y_title(layer["encoding"]))
                if isinstance(layer, dict) and isinstance(layer.get("encoding"), dict)
                else layer
                for layer in styled["layer"]
            ]
        title = styled.get("title")
        if isinstance(title, str):
            styled["title"] = wrapped_title(title)
        elif isinstance(title, dict) and isinstance(title.get("text"), str):
            # A styled title ({"text", "fontSize"}) is cut with "…" just the same; wrap its text.
            styled["title"] = dict(title, text=wrapped_title(title["text"]))
    return styled


def style_chart(chart: Any, presenter: bool) -> Any:
    """The one way to give any chart projector type: an Altair chart or a plain Vega-Lite dict.

    Args:
        chart: an Altair chart (layered and concatenated ones too) or a Vega-Lite spec dict.
        presenter: presenter mode on.

    Returns:
        The same kind of object, with :func:`chart_config` applied (so :func:`presenter_config` when
        ``presenter``) and, in presenter mode, band steps (``alt.Step`` / ``{"step": n}`` heights)
        :data:`PRESENTER_STEP_SCALE` times larger; ``chart`` itself when there is nothing to add.
    """
    if isinstance(chart, dict):
        return style_spec(chart, presenter)
    config = chart_config(presenter)
    if not config:
        return chart
    styled = chart
    for part, options in config.items():
        styled = getattr(styled, f"configure_{part}")(**options)
    if presenter:
        if getattr(styled, "layer", None):  # the caller's layer objects stay as they were
            styled.layer = [layer.copy(deep=False) for layer in styled.layer]
        for part in [styled, *(getattr(styled, "layer", None) or [])]:
            height = getattr(part, "height", None)
            if isinstance(height, alt.Step):
                part.height = alt.Step(round(height.step * PRESENTER_STEP_SCALE))
            elif isinstance(height, (int, float)) and not isinstance(height, bool) and part is styled:
                # A fixed height is the whole chart's (Streamlit fits the plot into it): 20 px text needs more of it.
                part.height = round(height * PRESENTER_STEP_SCALE)
            title = getattr(part, "title", None)
            if isinstance(title, str) and len(title) > TITLE_LINE_CHARS:
                part.title = wrapped_title(title)
            elif isinstance(title, alt.TitleParams) and isinstance(title.text, str):
                part.title = alt.TitleParams(**dict(title.to_dict(), text=wrapped_title(title.text)))
            encoding = getattr(part, "encoding", alt.Undefined)
            channel = getattr(encoding, "y", alt.Undefined) if encoding is not alt.Undefined else alt.Undefined
            axis_title = channel._get("title") if channel is not alt.Undefined else None
            if isinstance(axis_title, str) and len(axis_title) > AXIS_TITLE_LINE_CHARS:
                # Copies: the caller's encoding and channel keep their one-line title.
                encoding, channel = encoding.copy(deep=False), channel.copy(deep=False)
                channel["title"] = wrapped_title(axis_title, AXIS_TITLE_LINE_CHARS)
                encoding["y"] = channel
                part.encoding = encoding
    return styled


def _wrapped_y_title(encoding: dict[str, Any]) -> dict[str, Any]:
    """A Vega-Lite encoding whose y title, when longer than AXIS_TITLE_LINE_CHARS, is broken into lines (a copy).

    Only y: a rotated title taller than the plot is what pushes the chart title off the top; x titles run along the
    plot's width."""
    channel = encoding.get("y")
    if isinstance(channel, dict) and isinstance(channel.get("title"), str):
        return dict(encoding, y=dict(channel, title=wrapped_title(channel["title"], AXIS_TITLE_LINE_CHARS)))
    return encoding


def word_axis(count: int, **options: Any) -> dict[str, Any]:
    """Vega-Lite axis properties for an axis of ``count`` words.

    Up to :data:`ALL_LABELS_UP_TO` words every word keeps its label (``labelOverlap`` off, so
    "Robert" and "his" are never the ones dropped), slanted so neighbours do not run together;
    longer texts let Vega thin the labels. Extra ``options`` override (e.g. ``title``).

    Example:
        >>> word_axis(14)["labelOverlap"]
        False
    """
    axis: dict[str, Any] = {"labelAngle": -45, "labelLimit": 200}
    if count <= ALL_LABELS_UP_TO:
        axis["labelOverlap"] = False
    else:
        axis["labelOverlap"] = "greedy"
    return {**axis, **options}


# The charts drawn in this session, newest last, for the Export tab's SVG and PNG (a few dozen at most).
DRAWN_KEY = "_memory_lab_drawn_charts"
MAX_REMEMBERED = 24


def _remember(key: str | None, title: str, chart: Any) -> None:
    """Keep a reference to a drawn chart (no copy, no serialisation) under its key for the Export tab."""
    drawn = st.session_state.setdefault(DRAWN_KEY, {})
    name = key or title or f"chart {len(drawn) + 1}"
    drawn.pop(name, None)
    drawn[name] = {"title": title, "chart": chart}
    while len(drawn) > MAX_REMEMBERED:
        drawn.pop(next(iter(drawn)))


def drawn_charts() -> dict[str, dict[str, Any]]:
    """The charts drawn in this session: key -> {"title", "chart"} (an Altair chart or a spec with its "data")."""
    return dict(st.session_state.get(DRAWN_KEY, {}))


def _title_of(spec: dict[str, Any]) -> str:
    title = spec.get("title")
    if isinstance(title, dict):
        title = title.get("text")
    if isinstance(title, list):  # a title broken into lines (presenter mode)
        title = " ".join(str(line) for line in title)
    return str(title or "")


def _altair_title(chart: Any) -> str:
    """An Altair chart's title text (a layered or faceted chart's first titled part), without serialising it."""
    for part in [chart, *(getattr(chart, "layer", None) or []), getattr(chart, "spec", None)]:
        title = getattr(part, "title", None) if part is not None else None
        if isinstance(title, list) and title:
            return " ".join(str(line) for line in title)
        if isinstance(title, str) and title:
            return title
        text = getattr(title, "text", None)
        if isinstance(text, list) and text:  # a title broken into lines (column_title)
            return " ".join(str(line) for line in text)
        if isinstance(text, str) and text:
            return text
    return ""


def full_spec(chart: Any) -> dict[str, Any]:
    """A complete Vega-Lite spec with its data inlined, from an Altair chart or a plain spec holding a DataFrame in "data"."""
    if isinstance(chart, dict):
        spec = dict(chart)
        data = spec.pop("data", None)
        if isinstance(data, pd.DataFrame):
            # Through JSON: numpy numbers become plain ones and NaN becomes null.
            spec["data"] = {"values": json.loads(data.to_json(orient="records"))}
        elif data is not None:
            spec["data"] = data
        return spec
    return chart.to_dict()


def picture(chart: Any, fmt: str, scale: float = 2.0) -> bytes:
    """The chart as an SVG or PNG file, drawn offline by vl-convert (Vega's own renderer, no browser, no network).

    Args:
        chart: an Altair chart or a plain spec with its rows in "data" (see :func:`full_spec`).
        fmt: "svg" or "png".
        scale: PNG pixels per chart pixel (2 = sharp on a projector or a slide).

    Raises:
        ValueError: another format.
    """
    import vl_convert  # imported late: a bundled JavaScript engine, needed only when a chart is saved as SVG or PNG

    spec = full_spec(chart)
    if fmt == "svg":
        return vl_convert.vegalite_to_svg(spec).encode("utf-8")
    if fmt == "png":
        return bytes(vl_convert.vegalite_to_png(spec, scale=scale))
    raise ValueError(f"A chart picture is 'svg' or 'png'; got {fmt!r}.")


def _require_caption(caption: str) -> None:
    if not caption or not caption.strip():
        raise ValueError("Every chart needs a caption saying what is plotted, its unit, the method and the baseline.")


def show_chart(
    chart: alt.TopLevelMixin,
    caption: str,
    key: str | None = None,
    height: int | None = None,
    width: str | int = "stretch",
) -> None:
    """Draw an Altair chart full width with its caption underneath.

    Args:
        chart: any Altair chart.
        caption: what is plotted, its unit, the method and the baseline (required).
        key: a stable element key (needed when the same chart appears twice on a page).
        height: total pixels, axis labels included (None: the chart's own size). Line charts over
            words need it: their upright word labels take height from the plot.
        width: "stretch" (the container's width), "content" (the chart's own, e.g. square cells of a
            stepped heatmap) or pixels.
    """
    _require_caption(caption)
    presenter = bool(st.session_state.get("presenter", False))
    chart = style_chart(chart, presenter)
    _remember(key, _altair_title(chart), chart)
    if height is not None and presenter:
        height = round(height * PRESENTER_STEP_SCALE)  # 20 px labels take that much more of a fixed height
    st.altair_chart(chart, width=width, key=key, height=height if height is not None else "content")
    st.caption(caption)


def show_spec(spec: dict[str, Any], data: pd.DataFrame, caption: str, key: str | None = None) -> None:
    """Draw a Vega-Lite spec written as a plain dict, full width, with its caption underneath.

    The views drawn on every keystroke use this instead of Altair: building and
    validating Altair objects costs about as much server time as the analysis
    itself, and many sessions share one Python process.

    Args:
        spec: a Vega-Lite spec without data (the rows come from ``data``).
        data: the chart's rows.
        caption: what is plotted, its unit, the method and the baseline (required).
        key: a stable element key.
    """
    _require_caption(caption)
    spec = style_spec(spec, bool(st.session_state.get("presenter", False)))
    _remember(key, _title_of(spec), dict(spec, data=data))
    st.vega_lite_chart(data, spec, width="stretch", key=key)
    st.caption(caption)


def field(name: str, kind: str, **options: Any) -> dict[str, Any]:
    """One Vega-Lite field definition: field("prob", "quantitative", format=".3f")."""
    return {"field": name, "type": kind, **options}


def word_labels(tokens: Sequence[str]) -> list[str]:
    """Unique axis labels in sentence order: "1 Mr", "2 .", "3 Robert", ..."""
    return [f"{index + 1} {token}" for index, token in enumerate(tokens)]


def heatmap(
    values: Sequence[Sequence[float]],
    tokens: Sequence[str],
    units: Sequence[int],
    title: str,
    domain: tuple[float, float] | None,
    scheme: str = "blues",
    row_pixels: int | None = None,
    all_tokens: Sequence[str] | None = None,
) -> alt.Chart:
    """Words (x) by units (y) coloured by value.

    Args:
        values: [T][H] values for every word and unit.
        tokens: the T words.
        units: which unit columns to show, in display order (top first).
        title: chart title.
        domain: colour scale range, e.g. (0, 1) for gates; None to fit the data.
        scheme: a Vega colour scheme ("blues" for gates, "redblue" for signed values).
        row_pixels: height of one unit row (default: about 320 pixels in all).
        all_tokens: the whole sentence when ``values`` covers only its first words, so the
            x axis keeps a column for every word (the unread ones stay empty).
    """
    labels = word_labels(tokens)
    axis_labels = word_labels(all_tokens) if all_tokens is not None else labels
    rows = [
        {"word": labels[t], "unit": f"unit {unit}", "value": float(values[t][unit])}
        for t in range(len(tokens))
        for unit in units
    ]
    fixed = {"domain": list(domain)} if domain else {}
    if scheme == "redblue":
        # Signed values: white at 0, red above, blue below.
        scale = alt.Scale(scheme=scheme, domainMid=0, reverse=True, **fixed)
    else:
        scale = alt.Scale(scheme=scheme, **fixed)
    return (
        alt.Chart(pd.DataFrame(rows), title=title)
        .mark_rect()
        .encode(
            x=alt.X(
                "word:N",
                sort=axis_labels,
                title="word (position)",
                scale=alt.Scale(domain=axis_labels),
                axis=alt.Axis(**word_axis(len(axis_labels))),
            ),
            y=alt.Y("unit:N", sort=[f"unit {unit}" for unit in units], title="unit"),
            color=alt.Color(
                "value:Q", scale=scale, title="value", legend=alt.Legend(orient="bottom", gradientLength=160)
            ),
            tooltip=["word", "unit", alt.Tooltip("value:Q", format=".3f")],
        )
        # A band step, not a fixed height: Streamlit's theme collapses fixed-height band scales.
        .properties(height=alt.Step(row_pixels or band_step(len(units))))
    )


def band_step(rows: int, total: int = 320, smallest: int = 6, largest: int = 22) -> int:
    """Pixels per row of a heatmap so that ``rows`` rows take about ``total`` pixels."""
    return int(min(largest, max(smallest, total // max(rows, 1))))


def per_word_lines(
    series: dict[str, Sequence[float | None]],
    tokens: Sequence[str],
    title: str | alt.TitleParams,
    y_title: str,
    log_scale: bool = False,
    domain: tuple[float, float] | None = None,
    colours: dict[str, str] | None = None,
) -> alt.Chart:
    """One line per named series over the words of the sentence."""
    labels = word_labels(tokens)
    rows = [
        {"word": labels[t], "position": t + 1, "series": name, "value": value}
        for name, values in series.items()
        for t, value in enumerate(values)
        if value is not None and t < len(labels)
    ]
    y_scale = alt.Scale(type="log") if log_scale else (alt.Scale(domain=list(domain)) if domain else alt.Scale())
    legend = alt.Legend(orient="top", columns=2, labelLimit=260)
    colour = alt.Color("series:N", title=None, legend=legend)
    if colours:
        names = list(series)
        colour = alt.Color(
            "series:N",
            title=None,
            legend=legend,
            scale=alt.Scale(domain=names, range=[colours.get(n, "#555") for n in names]),
        )
    return (
        alt.Chart(pd.DataFrame(rows), title=title)
        .mark_line(point=True)
        .encode(
            x=alt.X("word:N", sort=labels, title="word (position)", axis=alt.Axis(**word_axis(len(labels)))),
            y=alt.Y("value:Q", scale=y_scale, title=y_title),
            color=colour,
            tooltip=["series", "word", alt.Tooltip("value:Q", format=".4g")],
        )
    )


def model_colours(names: Sequence[str], archs: Sequence[str | None]) -> dict[str, str]:
    """Colour per model name from its architecture (extra models of one arch get greys)."""
    colours: dict[str, str] = {}
    used: set[str] = set()
    spare = iter(["#9467bd", "#8c564b", "#e377c2", "#7f7f7f", "#bcbd22", "#17becf"])
    for name, arch in zip(names, archs):
        colour = ARCH_COLOURS.get(arch or "", "")
        if not colour or colour in used:
            colour = next(spare, "#555555")
        used.add(colour)
        colours[name] = colour
    return colours


def records_frame(records: list[dict[str, Any]]) -> pd.DataFrame:
    """A DataFrame from row dicts (empty frame with no columns when there are none)."""
    return pd.DataFrame.from_records(records)
