"""Vanishing and exploding gradients: the chain-rule calculator, measured flow, and the exploding demo."""

from __future__ import annotations

import math

import altair as alt
import pandas as pd
import streamlit as st

from ui.page_context import Context
from ui.services import analysis_cache
from ui.views.gradients_exploding import exploding_section
from ui.widgets.chain_rule import parse_slopes, running_products
from ui.widgets.charts import EXPORT_HINT, model_colours, show_chart
from ui.widgets.common import model_title
from ui.widgets.markup import md

HIDDEN_PATH, CELL_PATH = "hidden state h", "cell state c (LSTM)"
# The line style of each path, fixed here so the caption can say which is which (Vega would pick by name order).
PATH_DASHES = {CELL_PATH: [1, 0], HIDDEN_PATH: [8, 5]}
PATH_WORDS = {CELL_PATH: "solid", HIDDEN_PATH: "dashed"}

EXAMPLES = {
    "mixed small slopes": "0.2, 0.1, 0.3, 0.1, 0.2, 0.1, 0.3, 0.1, 0.1",
    "nine times 0.1": "0.1, 0.1, 0.1, 0.1, 0.1, 0.1, 0.1, 0.1, 0.1",
    "forget gates near 1": "0.98, 0.97, 0.99, 0.98, 0.96, 0.99, 0.98, 0.97, 0.99",
    "slopes above 1 (exploding)": "1.5, 1.3, 1.6, 1.4, 1.5, 1.2, 1.6, 1.5, 1.4",
}


def _use_example() -> None:
    st.session_state["chain_slopes"] = EXAMPLES[st.session_state["chain_example"]]


def calculator() -> None:
    """Per-step slopes in, running product out (log scale)."""
    st.subheader("The chain rule, by hand")
    st.markdown(
        "To learn that “Robert” should lead to “his” nine words later, the error at “his” has to travel back nine "
        "steps. At every step it is multiplied by that step's slope (how strongly the step's output reacts to its "
        "input). Multiply many numbers below 1 and the result shrinks towards zero: the gradient **vanishes** and the "
        "early word learns almost nothing. Numbers above 1 make it **explode**."
    )
    if "chain_slopes" not in st.session_state:
        st.session_state["chain_slopes"] = EXAMPLES["mixed small slopes"]
    st.selectbox(
        "Example",
        list(EXAMPLES),
        key="chain_example",
        on_change=_use_example,
        index=None,
        placeholder="Load an example…",
    )
    text = st.text_input("Slope at each step (separate with commas)", key="chain_slopes")
    try:
        slopes = parse_slopes(text)
    except ValueError as error:
        st.error(md(str(error)), icon=":material/calculate:")
        return
    rows = running_products(slopes)
    final = rows[-1]
    shown = (
        "0"
        if final["product"] == 0
        else ("too small or large to print" if final["product"] is None else f"{final['product']:.3g}")
    )
    st.metric(f"Product of the {len(slopes)} slopes", shown)
    st.caption(
        " × ".join(f"{value:g}" for value in slopes[:12]) + (" × …" if len(slopes) > 12 else "") + f" = {shown}. "
        "No unit: it is the share of the gradient that survives the trip back (1 = all of it, the baseline)."
    )
    frame = pd.DataFrame([row for row in rows if row["abs_product"] is not None])
    if frame.empty:
        st.info("A slope of exactly 0 stops the gradient dead: nothing to draw on a log scale.")
        return
    line = (
        alt.Chart(frame, title="Running product of the slopes")
        .mark_line(point=True)
        .encode(
            x=alt.X("step:Q", title="steps back", axis=alt.Axis(tickMinStep=1)),
            # Decimals down to 0.01, then 1e-3, 1e-4, ...: Vega's default wrote "0.000001" next to "1e-7".
            y=alt.Y(
                "abs_product:Q",
                scale=alt.Scale(type="log"),
                title="product so far (log scale)",
                axis=alt.Axis(
                    values=_powers_of_ten(float(frame["abs_product"].min()), float(frame["abs_product"].max())),
                    labelExpr="datum.value >= 0.01 ? format(datum.value, '~g') : format(datum.value, '.0e')",
                ),
            ),
            tooltip=["step", "slope", alt.Tooltip("product:Q", format=".3g")],
        )
    )
    one = alt.Chart(pd.DataFrame({"y": [1.0]})).mark_rule(strokeDash=[4, 4], color="gray").encode(y="y:Q")
    show_chart(
        line + one,
        "After k steps: the product of the first k slopes (absolute value, log scale, so each tenfold "
        "shrink is one equal step down). Dashed line: 1, a gradient that arrives whole.",
        key="chain_product",
    )


def measured(context: Context) -> None:
    """The real gradient flow of each chosen model on the sentence."""
    st.subheader("Measured on your sentence")
    results = {
        entry.name: analysis_cache.gradient_flow(entry.path, entry.signature, context.text) for entry in context.chosen
    }
    names = [entry.name for entry in context.chosen]
    colours = model_colours(names, [entry.arch for entry in context.chosen])
    scale = alt.Scale(domain=names, range=[colours[name] for name in names])
    rows, embedding_rows, retention_rows = [], [], []
    for entry in context.chosen:
        data = results[entry.name]
        flow = data["hidden"]
        for distance, norm in zip(flow["distances"], flow["frobenius"]):
            if norm:
                rows.append(
                    {
                        "model": entry.name,
                        "words back": distance,
                        "relative size": norm / flow["identity_frobenius"],
                        "path": HIDDEN_PATH,
                    }
                )
        for distance, norm in zip(flow["distances"], flow.get("cell_frobenius") or []):
            if norm:
                rows.append(
                    {
                        "model": entry.name,
                        "words back": distance,
                        "relative size": norm / flow["identity_frobenius"],
                        "path": CELL_PATH,
                    }
                )
        embedding = data["embedding"]
        for distance, norm in zip(embedding["distances"], embedding["norms"]):
            if norm and distance < len(data["tokens"]):
                embedding_rows.append(
                    {
                        "model": entry.name,
                        "words back": distance,
                        "gradient norm": norm,
                        "word": data["tokens"][len(data["tokens"]) - 1 - distance],
                    }
                )
        retention = data.get("retention")
        if retention:
            for distance, value in zip(retention["distances"], retention["mean"]):
                if value:
                    retention_rows.append({"model": entry.name, "words back": distance, "share kept": value})
    if rows:
        paths = [path for path in (HIDDEN_PATH, CELL_PATH) if any(row["path"] == path for row in rows)]
        # Lines only (no point marks), so the legend draws each path's line style instead of a dot.
        chart = (
            alt.Chart(pd.DataFrame(rows), title="How much of a change at an earlier word reaches the last word")
            .mark_line(strokeWidth=3)
            .encode(
                x=alt.X("words back:Q", title="words back from the last word"),
                y=alt.Y(
                    "relative size:Q", scale=alt.Scale(type="log"), title="gradient size (log)"
                ),  # the caption gives the formula
                color=alt.Color("model:N", scale=scale, legend=alt.Legend(symbolType="stroke", symbolStrokeWidth=4)),
                # Above the plot: beside the models' row under it, at presenter type, it ran past the chart's edge.
                strokeDash=alt.StrokeDash(
                    "path:N",
                    title="path",
                    scale=alt.Scale(domain=paths, range=[PATH_DASHES[p] for p in paths]),
                    legend=alt.Legend(
                        symbolType="stroke", symbolStrokeWidth=3, symbolSize=900, labelLimit=400, orient="top"
                    ),
                ),
                tooltip=["model", "path", "words back", alt.Tooltip("relative size:Q", format=".3g")],
            )
        )
        cell_note = (
            f" Line style = path: {PATH_WORDS[HIDDEN_PATH]} for the hidden state h of every model, "
            f"{PATH_WORDS[CELL_PATH]} for the LSTM's cell state c (the conveyor belt)."
            if CELL_PATH in paths
            else f" One {PATH_WORDS[HIDDEN_PATH]} line per model: its hidden state h."
        )
        show_chart(
            chart,
            "Gradient size = ‖∂h_last / ∂state_t‖ ÷ √H: the Frobenius norm of the Jacobian of the last word's hidden state with respect to the state t words "
            "earlier (the layer's inputs held fixed), computed exactly with automatic differentiation, divided by √H "
            "= the norm at 0 words back, so 1 is the baseline of a signal passed on unchanged." + cell_note,
            key="flow_hidden",
            height=380,  # two legends and a two-line title: room left for the plot
        )
    if embedding_rows:
        chart = (
            alt.Chart(pd.DataFrame(embedding_rows), title="Credit each earlier word gets for the next-word prediction")
            .mark_line(point=True)
            .encode(
                x=alt.X("words back:Q", title="words back from the last word"),
                y=alt.Y("gradient norm:Q", scale=alt.Scale(type="log"), title="‖∂ log p / ∂ word vector‖ (log)"),
                color=alt.Color("model:N", scale=scale),
                tooltip=["model", "word", "words back", alt.Tooltip("gradient norm:Q", format=".3g")],
            )
        )
        show_chart(
            chart,
            "L2 norm of the gradient of log p(the model's next word after the text) with respect to each "
            "earlier word's embedding vector; nats per unit of embedding. Baseline: 0 means the word has no "
            "influence at all. A steep fall = the model cannot assign credit far back.",
            key="flow_embedding",
        )
    if retention_rows:
        gated = [name for name in names if any(row["model"] == name for row in retention_rows)]
        chart = (
            alt.Chart(pd.DataFrame(retention_rows), title="LSTM/GRU: share of the memory kept to the last word")
            .mark_line(point=True)
            .encode(
                x=alt.X("words back:Q", title="words back from the last word"),
                y=alt.Y("share kept:Q", scale=alt.Scale(type="log"), title="∏ gates (mean over units, log)"),
                color=alt.Color("model:N", scale=alt.Scale(domain=gated, range=[colours[name] for name in gated])),
                tooltip=["model", "words back", alt.Tooltip("share kept:Q", format=".3g")],
            )
        )
        show_chart(
            chart,
            "Mean over units of the product of the forget gates (LSTM; the update gate z for the GRU) "
            "between that word and the last word: the calculator above with real gates. 1 = nothing forgotten.",
            key="flow_retention",
        )
    for entry in context.chosen:
        product = results[entry.name].get("slope_product")
        if product and product.get("typical_slope") is not None and product["distances"]:
            steps, closed = product["distances"][0], product["closed_form"][0]
            st.caption(
                f"{model_title(entry)}: its average slope per step on this sentence is {product['typical_slope']:.3f}; "
                f"to the power {steps} (first word to last) that is {closed:.2g}: the calculator's story with the "
                "RNN's own numbers (the measured curve above also includes the recurrent weights)."
            )


def _powers_of_ten(low: float, high: float) -> list[float] | alt.UndefinedType:
    """Every power of ten from below ``low`` to above 1 and ``high`` (the ticks of a log-scale product); Vega's own
    ticks when a value is not a positive finite number or the range spans more than 60 powers."""
    if not (0 < low <= high and math.isfinite(high)):
        return alt.Undefined
    first, last = math.floor(math.log10(low)), max(0, math.ceil(math.log10(high)))
    if last - first > 60:
        return alt.Undefined
    return [10.0**exponent for exponent in range(first, last + 1)]


def render(context: Context) -> None:
    """Draw the gradients view: calculator beside the measured curves, then the exploding demo."""
    # On a projector each part gets the page's width: in 3/5 of it at presenter type, the charts' legends ran past
    # their right edge (the third model and the line-style legend were cut off).
    left, right = (st.container(), st.container()) if context.presenter else st.columns([2, 3])
    with left:
        calculator()
    with right:
        if context.ready:
            measured(context)
        else:
            st.info("Pick a model and type a sentence to see the measured curves.")
    if context.ready:
        exploding_section(context)
    st.caption(EXPORT_HINT)
