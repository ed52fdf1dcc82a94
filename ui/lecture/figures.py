"""The lecture's charts as plain Vega-Lite specs (pure: no streamlit), one function per figure.

Each function returns (spec, rows): a spec without data and the rows it draws, so a test can read
both. The page gives every spec projector type with ui.widgets.charts.style_spec and draws it full width.
Colours are fixed here and work on light and dark backgrounds: the target word orange, the contrast
purple, each model its architecture's colour (ui.settings.ARCH_COLOURS).
"""

from __future__ import annotations

from typing import Any, Sequence

TARGET_COLOUR = "#e8710a"  # orange: the word the text calls for ("his")
CONTRAST_COLOUR = "#8e6bd1"  # purple: its rival ("her")
OTHER_COLOUR = "#9e9e9e"
FACTUAL_COLOUR = "#4c78a8"
COUNTERFACTUAL_COLOUR = "#f58518"
METHOD_COLOURS = {"swap": "#2a9d8f", "occlusion": "#e9c46a", "ig": "#7b8fd1", "gradxinput": "#d17b9f"}
METHOD_LABELS = {
    "swap": "swap (exact)",
    "occlusion": "hide with <unk> (exact)",
    "ig": "integrated gradients",
    "gradxinput": "gradient × input",
    "grad": "gradient size",
}

Spec = dict[str, Any]


def _base(title: str | None = None) -> Spec:
    spec: Spec = {"$schema": "https://vega.github.io/schema/vega-lite/v5.json"}
    if title:
        spec["title"] = {"text": title, "anchor": "start"}
    return spec


def expectation_chart(
    rows: Sequence[dict], title: str, domain_max: float, target: str, contrast: str
) -> tuple[Spec, list[dict]]:
    """One model's expected next words as bars, the target and contrast coloured, on a shared scale.

    Args:
        rows: {"word", "probability"} (the top words, plus the target and contrast when not among them).
        domain_max: the x scale's upper end, the same for every model (one shared probability scale).
    """
    data = []
    for row in rows:
        role = "target" if row["word"] == target else "contrast" if row["word"] == contrast else "other"
        data.append(
            {
                "word": row["word"],
                "probability": row["probability"],
                "role": role,
                "shown": f"{row['probability']:.3f}" if row["probability"] >= 0.001 else f"{row['probability']:.0e}",
            }
        )
    colour = {
        "field": "role",
        "type": "nominal",
        "legend": None,
        "scale": {"domain": ["target", "contrast", "other"], "range": [TARGET_COLOUR, CONTRAST_COLOUR, OTHER_COLOUR]},
    }
    y = {
        "field": "word",
        "type": "nominal",
        "sort": {"field": "probability", "order": "descending"},
        "title": None,
        "axis": {"labelFontWeight": "bold", "labelOverlap": False},
    }
    spec = _base(title)
    spec["layer"] = [
        {
            "mark": {"type": "bar", "cornerRadiusEnd": 3},
            "encoding": {
                "y": y,
                "x": {
                    "field": "probability",
                    "type": "quantitative",
                    "title": "probability",
                    "scale": {"domain": [0, domain_max]},
                    "axis": {"tickCount": 3, "format": ".2f"},
                },
                "color": colour,
                "tooltip": [{"field": "word"}, {"field": "probability", "format": ".4f"}],
            },
        },
        {
            "mark": {"type": "text", "align": "left", "dx": 4},
            "encoding": {"y": y, "x": {"field": "probability", "type": "quantitative"}, "text": {"field": "shown"}},
        },
    ]
    return spec, data


def swap_chart(
    rows: Sequence[dict], factual_label: str, counterfactual_label: str, y_title: str
) -> tuple[Spec, list[dict]]:
    """f before and after the swap, two bars per model around a zero line.

    Args:
        rows: {"label", "before", "after"} per model, in nats.
    """
    data = []
    for row in rows:
        for sentence, value in ((factual_label, row["before"]), (counterfactual_label, row["after"])):
            data.append(
                {
                    "model": row["label"],
                    "sentence": sentence,
                    "value": value,
                    "shown": f"{value:+.2f}".replace("-", "−"),
                }
            )
    order = [factual_label, counterfactual_label]
    models = list(dict.fromkeys(row["label"] for row in rows))
    x = {"field": "model", "type": "nominal", "sort": models, "title": None, "axis": {"labelAngle": 0}}
    offset = {"field": "sentence", "type": "nominal", "sort": order}
    spec = _base()
    spec["layer"] = [
        {
            "mark": {"type": "bar", "cornerRadiusEnd": 3},
            "encoding": {
                "x": x,
                "xOffset": offset,
                "y": {"field": "value", "type": "quantitative", "title": y_title},
                "color": {
                    "field": "sentence",
                    "type": "nominal",
                    "sort": order,
                    "title": None,
                    "scale": {"domain": order, "range": [FACTUAL_COLOUR, COUNTERFACTUAL_COLOUR]},
                    "legend": {"orient": "top", "direction": "horizontal"},
                },
                "tooltip": [{"field": "model"}, {"field": "sentence"}, {"field": "value", "format": "+.3f"}],
            },
        },
        {
            "transform": [{"filter": "datum.value >= 0"}],
            "mark": {"type": "text", "baseline": "bottom", "dy": -4},
            "encoding": {
                "x": x,
                "xOffset": offset,
                "y": {"field": "value", "type": "quantitative"},
                "text": {"field": "shown"},
            },
        },
        {
            "transform": [{"filter": "datum.value < 0"}],
            "mark": {"type": "text", "baseline": "top", "dy": 4},
            "encoding": {
                "x": x,
                "xOffset": offset,
                "y": {"field": "value", "type": "quantitative"},
                "text": {"field": "shown"},
            },
        },
        {
            "data": {"values": [{"zero": 0}]},
            "mark": {"type": "rule", "color": "#888", "strokeWidth": 2},
            "encoding": {"y": {"field": "zero", "type": "quantitative"}},
        },
    ]
    return spec, data


def span_chart(rows: Sequence[dict], spans: Sequence[str]) -> tuple[Spec, list[dict]]:
    """The four signed methods per span as grouped horizontal bars (nats), zero in the middle.

    Args:
        rows: {"span", "method", "value"} for the signed methods (swap, occlusion, ig, gradxinput).
        spans: span labels in display order.
    """
    methods = [method for method in METHOD_COLOURS if any(row["method"] == method for row in rows)]
    data = [
        {
            "span": row["span"],
            "method": METHOD_LABELS[row["method"]],
            "value": row["value"],
            "shown": f"{row['value']:+.2f}".replace("-", "−"),
        }
        for row in rows
        if row["method"] in METHOD_COLOURS
    ]
    labels = [METHOD_LABELS[method] for method in methods]
    y = {
        "field": "span",
        "type": "nominal",
        "sort": list(spans),
        "title": None,
        "axis": {"labelFontWeight": "bold", "labelOverlap": False},
    }
    offset = {"field": "method", "type": "nominal", "sort": labels}
    spec = _base()
    spec["layer"] = [
        {
            "mark": {"type": "bar", "cornerRadiusEnd": 2},
            "encoding": {
                "y": y,
                "yOffset": offset,
                "x": {"field": "value", "type": "quantitative", "title": "nats of the contrast"},
                "color": {
                    "field": "method",
                    "type": "nominal",
                    "sort": labels,
                    "title": None,
                    "scale": {"domain": labels, "range": [METHOD_COLOURS[m] for m in methods]},
                    "legend": {"orient": "top", "columns": 2},
                },
                "tooltip": [{"field": "span"}, {"field": "method"}, {"field": "value", "format": "+.3f"}],
            },
        },
        {
            "data": {"values": [{"zero": 0}]},
            "mark": {"type": "rule", "color": "#888", "strokeWidth": 2},
            "encoding": {"x": {"field": "zero", "type": "quantitative"}},
        },
    ]
    return spec, data


def size_chart(rows: Sequence[dict], spans: Sequence[str]) -> tuple[Spec, list[dict]]:
    """The gradient size per span (never negative), beside the signed methods."""
    data = [{"span": row["span"], "value": row["value"], "shown": f"{row['value']:.2f}"} for row in rows]
    y = {"field": "span", "type": "nominal", "sort": list(spans), "title": None, "axis": {"labelFontWeight": "bold"}}
    spec = _base(title="gradient size")
    # Room to the right of the longest bar for its value label, which would otherwise be cut at the chart's edge.
    room = {"domainMax": max((row["value"] for row in rows), default=0.0) * 1.3 or 1.0}
    spec["layer"] = [
        {
            "mark": {"type": "bar", "color": "#6c757d", "cornerRadiusEnd": 2},
            "encoding": {
                "y": y,
                "x": {
                    "field": "value",
                    "type": "quantitative",
                    "title": "‖∂f/∂e‖",
                    "axis": {"tickCount": 3},
                    "scale": room,
                },
                "tooltip": [{"field": "span"}, {"field": "value", "format": ".3f"}],
            },
        },
        {
            "mark": {"type": "text", "align": "left", "dx": 4},
            "encoding": {"y": y, "x": {"field": "value", "type": "quantitative"}, "text": {"field": "shown"}},
        },
    ]
    return spec, data


def line_chart(
    rows: Sequence[dict],
    x_title: str,
    y_title: str,
    colours: dict[str, str],
    log_y: bool = False,
    dashes: dict[str, list[int]] | None = None,
    rules: Sequence[dict] = (),
    zero: bool = False,
) -> tuple[Spec, list[dict]]:
    """Lines over a quantitative x: one colour per series, one dash pattern per path (both in the legend).

    Args:
        rows: {"x", "y", "series", "path"} points.
        colours: series -> colour, in legend order.
        dashes: path -> dash pattern ([] = solid), in legend order; None: every line solid, no path legend.
        rules: vertical marks {"x", "label"} (where the cue is: dotted, labelled) or {"x", "series"} (a value
            of one series, e.g. its memory span: dotted in the series' colour, named in the caption).
        zero: a linear y axis that always shows 0 (the baseline).
    """
    data = [dict(row) for row in rows if row["y"] is not None and (not log_y or row["y"] > 0)]
    encoding: dict[str, Any] = {
        "x": {"field": "x", "type": "quantitative", "title": x_title, "axis": {"tickMinStep": 1, "format": "d"}},
        "y": {
            "field": "y",
            "type": "quantitative",
            "title": y_title,
            "scale": {"type": "log"} if log_y else {"zero": zero},
            "axis": {"tickCount": 4, "format": "~g"} if log_y else {"tickCount": 5},
        },
        "color": {
            "field": "series",
            "type": "nominal",
            "title": None,
            "sort": list(colours),
            "scale": {"domain": list(colours), "range": list(colours.values())},
            "legend": {"orient": "top", "direction": "horizontal", "symbolType": "stroke"},
        },
        "tooltip": [{"field": "series"}, {"field": "path"}, {"field": "x"}, {"field": "y", "format": ".3g"}],
    }
    if dashes:
        # Line symbols in the legend show each dash pattern (points on the line would turn them into dots).
        encoding["strokeDash"] = {
            "field": "path",
            "type": "nominal",
            "title": None,
            "sort": list(dashes),
            "scale": {"domain": list(dashes), "range": list(dashes.values())},
            "legend": {
                "orient": "bottom",
                "direction": "horizontal",
                "symbolStrokeColor": "#777",
                "symbolStrokeWidth": 3,
                "symbolSize": 600,
            },
        }
        encoding["detail"] = {"field": "path", "type": "nominal"}
    spec = _base()
    points = {
        "mark": {"type": "point", "filled": True, "size": 45},
        "encoding": {
            "x": encoding["x"],
            "y": encoding["y"],
            "color": dict(encoding["color"], legend=None),
            "tooltip": encoding["tooltip"],
        },
    }
    layers: list[Spec] = [{"mark": {"type": "line", "strokeWidth": 3}, "encoding": encoding}, points]
    labelled = [rule for rule in rules if "label" in rule]
    coloured = [rule for rule in rules if "series" in rule]
    if labelled:
        layers.append(
            {
                "data": {"values": labelled},
                "mark": {"type": "rule", "strokeDash": [2, 4], "color": "#888", "strokeWidth": 2},
                "encoding": {"x": {"field": "x", "type": "quantitative"}},
            }
        )
        layers.append(
            {
                "data": {"values": labelled},
                "mark": {"type": "text", "align": "left", "dx": 5, "dy": -6, "baseline": "bottom"},
                "encoding": {
                    "x": {"field": "x", "type": "quantitative"},
                    "y": {"value": {"expr": "height"}},
                    "text": {"field": "label"},
                },
            }
        )
    if coloured:
        layers.append(
            {
                "data": {"values": coloured},
                "mark": {"type": "rule", "strokeDash": [3, 4], "strokeWidth": 3},
                "encoding": {
                    "x": {"field": "x", "type": "quantitative"},
                    "color": dict(encoding["color"], legend=None),
                },
            }
        )
    spec["layer"] = layers
    return spec, data
