"""Lecture steps 4 and 7: why an RNN forgets (the chain rule beside the measured flow), exploding gradients."""

from __future__ import annotations

from typing import Any

import streamlit as st

from ui.lecture import frame, numbers, wording
from ui.lecture.figures import line_chart
from ui.lecture.lesson import Lesson
from ui.lecture.steps_cue import _focus, _strip
from ui.widgets.chain_rule import parse_slopes, running_products
from ui.widgets.charts import model_colours
from ui.widgets.markup import md

# The lecture note's example: nine small slopes.
DEFAULT_SLOPES = "0.2, 0.1, 0.3, 0.1, 0.2, 0.1, 0.3, 0.1, 0.1"
CALCULATOR = "your slopes"
DASHES = {"hidden state h": [], "cell state c (the belt)": [10, 6], "chain rule by hand": [2, 4]}


def _calculator_rows() -> tuple[list[float], float | None, list[dict], str | None]:
    """The typed slopes, their product and the running product as chart rows (or the parse error)."""
    if "lecture_slopes" not in st.session_state:
        st.session_state["lecture_slopes"] = DEFAULT_SLOPES
    try:
        slopes = parse_slopes(st.session_state["lecture_slopes"])
    except ValueError as error:
        return [], None, [], str(error)
    products = running_products(slopes)
    rows = [
        {"x": row["step"], "y": row["abs_product"], "series": CALCULATOR, "path": "chain rule by hand"}
        for row in products
    ]
    return slopes, products[-1]["product"], rows, None


def vanishing(lesson: Lesson, toolbar: Any = None) -> None:
    """Step 4: the chain-rule calculator beside ||dh_T/dh_t|| measured on the sentence."""
    pair = lesson.pair
    labels = lesson.labels
    slopes, product, rows, problem = _calculator_rows()
    distance = int(pair["distance"])
    cue_word = pair["tokens"][pair["cue_span"][1] - 1]
    kept_rows = []
    for entry in lesson.models:
        flow = numbers.flow(entry.path, entry.signature, *lesson.args)
        unit = flow["identity_frobenius"]
        kept = None
        for index, back in enumerate(flow["distances"]):
            hidden = flow["frobenius"][index] / unit
            rows.append(
                {"x": back, "y": hidden, "series": wording.capitalised(labels[entry.name]), "path": "hidden state h"}
            )
            cell = flow["cell_frobenius"][index] / unit if flow.get("cell_frobenius") else None
            if cell is not None:
                rows.append(
                    {
                        "x": back,
                        "y": cell,
                        "series": wording.capitalised(labels[entry.name]),
                        "path": "cell state c (the belt)",
                    }
                )
            if back == distance:
                kept = max(hidden, cell or 0.0)
        kept_rows.append({"label": labels[entry.name], "arch": entry.arch, "kept": kept})
    frame.title(4, wording.flow_title(kept_rows, cue_word, pair["context_word"], distance))
    _strip(lesson)
    frame.sentences(
        [
            wording.calculator_sentence(slopes, product) if problem is None else problem,
            f"The lines are measured on this sentence: how much a small change of a state some words back still moves the "
            f"state at {wording.quoted(pair['context_word'])}.",
            wording.per_word_sentence(kept_rows, distance),
        ]
    )
    left, right = st.columns([1, 3])
    with left:
        st.text_input(
            "Slopes, one per word back", key="lecture_slopes", help="Numbers separated by commas; Enter to apply."
        )
        st.caption("Edit to try other slopes: numbers below 1 shrink the product, above 1 grow it.")
    colours = model_colours([entry.name for entry in lesson.models], [entry.arch for entry in lesson.models])
    series = {wording.capitalised(labels[entry.name]): colours[entry.name] for entry in lesson.models}
    series[CALCULATOR] = "#777777"
    rules = [{"x": distance, "label": wording.quoted(cue_word)}] if distance >= 1 else []
    with right, frame.figure(4):
        spec, chart_rows = line_chart(
            rows,
            f"words back from {wording.quoted(pair['context_word'])}",
            "share of a change kept (log)",
            series,
            log_y=True,
            dashes=DASHES,
            rules=rules,
        )
        frame.chart(
            spec,
            chart_rows,
            "Solid: ‖∂h_T/∂h_t‖ (Frobenius norm of the Jacobian of the state after "
            f"{md(wording.quoted(pair['context_word']))} with respect to the state t words back); dashed: the LSTM's "
            "‖∂h_T/∂c_t‖ along its cell; both exact (automatic differentiation, the words held fixed) and divided by √H, "
            "so 1 = a change passed on whole, the baseline. Dotted: the running product of your slopes (no unit).",
            key="lecture_flow",
            height=330,
        )


def exploding(lesson: Lesson, toolbar: Any = None) -> None:
    """Step 7: scale a copy's recurrent weights and watch the gradient grow; clipping caps it."""
    pair = lesson.pair
    defaults = {"lecture_scale": 2.0, "lecture_clip": True, "lecture_threshold": 1.0}
    for key, value in defaults.items():
        st.session_state.setdefault(key, value)
    factor = float(st.session_state["lecture_scale"])
    clip = float(st.session_state["lecture_threshold"]) if st.session_state["lecture_clip"] else None
    with toolbar if toolbar is not None else st.container():
        name, entry = _focus(lesson, "lecture_explode_model", "rnn")
    curves = numbers.exploding(entry.path, entry.signature, *lesson.args, factor)
    label = lesson.labels[name]
    rows = []
    for part, series in (("original", "trained weights"), ("scaled", f"recurrent weights × {factor:g}")):
        flow = curves[part]["hidden_flow"]
        for back, norm in zip(flow["distances"], flow["frobenius"]):
            rows.append({"x": back, "y": norm / flow["identity_frobenius"], "series": series, "path": part})
    if clip is not None:
        rows += [
            dict(row, y=min(row["y"], clip), series=f"× {factor:g}, clipped at {clip:g}")
            for row in rows
            if row["path"] == "scaled"
        ]
    flows = {part: curves[part]["hidden_flow"] for part in ("original", "scaled")}
    longest = max(flows["original"]["distances"], default=0)
    back = int(pair["distance"]) if 1 <= int(pair["distance"]) <= longest else longest
    values = {
        part: next(
            (norm / flow["identity_frobenius"] for d, norm in zip(flow["distances"], flow["frobenius"]) if d == back),
            0.0,
        )
        for part, flow in flows.items()
    }
    frame.title(7, wording.exploding_title(label, factor, back, values["original"], values["scaled"], clip))
    _strip(lesson)
    controls = st.columns([3, 1, 1], vertical_alignment="bottom")
    with controls[0]:
        st.slider("Recurrent weight scale", 0.25, 4.0, step=0.25, key="lecture_scale", help="1 = the trained weights.")
    with controls[1]:
        st.toggle("Clip", key="lecture_clip")
    with controls[2]:
        st.number_input(
            "Threshold", 0.01, 1000.0, key="lecture_threshold", disabled=clip is None, label_visibility="visible"
        )
    frame.sentences(
        [
            "A copy of the model gets its recurrent weights W_hh multiplied by the scale; the model itself is unchanged.",
            wording.exploding_sentence(factor, back, values["scaled"]),
            "Clipping shrinks any gradient longer than the threshold back to that length.",
        ]
    )
    colours = {"trained weights": "#4c78a8", f"recurrent weights × {factor:g}": "#d62728"}
    if clip is not None:
        colours[f"× {factor:g}, clipped at {clip:g}"] = "#2ca02c"
    with frame.figure(7):
        spec, chart_rows = line_chart(
            rows, f"words back from {wording.quoted(pair['context_word'])}", "gradient size (log)", colours, log_y=True
        )
        frame.chart(
            spec,
            chart_rows,
            f"{md(entry.name)}: ‖∂h_T/∂h_t‖ ÷ √H (Frobenius norm of the Jacobian from the state t words back "
            "to the state before the target; exact, by automatic differentiation), for the trained weights and for a copy "
            f"with W_hh × {factor:g}. 1 = a change passed on whole, the baseline."
            + (
                f" Clipped line: min(size, {clip:g}), what clipping at {clip:g} lets through."
                if clip is not None
                else ""
            ),
            key="lecture_explode",
            height=265,
        )
