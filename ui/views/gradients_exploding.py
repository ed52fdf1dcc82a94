"""The exploding-gradient demo: scale the recurrent weights of a copy, watch the flow grow; clipping."""

from __future__ import annotations

import altair as alt
import pandas as pd
import streamlit as st

from ui.page_context import Context
from ui.services import analysis_cache
from ui.widgets.charts import show_chart
from ui.widgets.markup import md


def _flow_rows(curves: dict, which: str, label: str) -> list[dict]:
    part = curves.get(which)
    if not part:
        return []
    flow = part["hidden_flow"]
    return [
        {"words back": distance, "norm": norm / flow["identity_frobenius"], "weights": label}
        for distance, norm in zip(flow["distances"], flow["frobenius"])
        if norm
    ]


def _clipped(rows: list[dict], threshold: float, key: str) -> list[dict]:
    return [dict(row, **{key: min(row[key], threshold), "weights": row["weights"] + ", clipped"}) for row in rows]


def exploding_section(context: Context) -> None:
    """Slider for the recurrent scale, a clipping toggle, and the training run's recorded norms."""
    st.subheader("Exploding gradients")
    st.markdown(
        "Now the opposite: make every step multiply by more than 1. Below, a copy of the model gets its recurrent "
        "weights (the matrix that carries the memory from word to word) multiplied by a factor; the model you picked "
        "is not changed. Clipping is the usual cure: if the gradient's length is above a threshold, shrink it to the threshold."
    )
    names = [entry.name for entry in context.chosen]
    cols = st.columns(3)
    name = cols[0].selectbox("Model", names, key="explode_model")
    factor = cols[1].slider(
        "Recurrent weight scale",
        0.25,
        4.0,
        2.0,
        0.25,
        key="explode_scale",
        help="1 = the trained weights; above 1 the gradient tends to grow with distance.",
    )
    clip_on = cols[2].toggle("Clip gradients", value=False, key="explode_clip")
    threshold = cols[2].number_input("Clip threshold", 0.01, 1000.0, 1.0, key="explode_threshold", disabled=not clip_on)
    entry = next(item for item in context.chosen if item.name == name)
    curves = analysis_cache.exploding(entry.path, entry.signature, context.text, float(factor))
    rows = _flow_rows(curves, "original", "trained weights") + _flow_rows(
        curves, "scaled", f"recurrent weights × {factor:g}"
    )
    if clip_on:
        rows = rows + _clipped([row for row in rows if "×" in row["weights"]], threshold, "norm")
    if rows:
        chart = (
            alt.Chart(pd.DataFrame(rows), title=f"{entry.name}: gradient size against distance")
            .mark_line(point=True)
            .encode(
                x=alt.X("words back:Q", title="words back from the last word"),
                y=alt.Y("norm:Q", scale=alt.Scale(type="log"), title="‖∂h_last / ∂h_t‖ ÷ √H (log)"),
                color=alt.Color("weights:N", title=None),
                tooltip=["weights", "words back", alt.Tooltip("norm:Q", format=".3g")],
            )
        )
        show_chart(
            chart,
            f"Frobenius norm of the Jacobian from the hidden state t words back to the last one, divided by √H "
            f"(1 = passed on unchanged, the baseline), for the trained weights and for a copy with W_hh × {factor:g}; "
            "exact, by automatic differentiation on your sentence."
            + (f" Clipped line: min(norm, {threshold:g}), what clipping lets through." if clip_on else ""),
            key="explode_flow",
        )
    _training_norms(entry, clip_on, threshold)


def _training_norms(entry, clip_on: bool, threshold: float) -> None:
    history = analysis_cache.training_gradient_norms(entry.path, entry.signature)
    if not history or not history["steps"]:
        st.info(f"{md(entry.name)} recorded no gradient norms during training (its metrics.json has no curve).")
        return
    clip = history["clip"]
    rows = [
        {"step": step, "norm": norm, "series": "largest norm per window (raw)"}
        for step, norm in zip(history["steps"], history["grad_norm_max"])
        if norm
    ]
    limit = threshold if clip_on else clip
    if limit:
        rows += [
            {"step": row["step"], "norm": min(row["norm"], limit), "series": f"after clipping at {limit:g}"}
            for row in list(rows)
        ]
    chart = (
        alt.Chart(pd.DataFrame(rows), title=f"{entry.name}: gradient norms recorded during training")
        .mark_line()
        .encode(
            x=alt.X("step:Q", title="training step"),
            y=alt.Y("norm:Q", scale=alt.Scale(type="log"), title="global gradient norm (log)"),
            # Vega's 160 px label limit cut "largest norm per window (raw)" to "largest norm per window…".
            color=alt.Color("series:N", title=None, legend=alt.Legend(labelLimit=400)),
            tooltip=["series", "step", alt.Tooltip("norm:Q", format=".3g")],
        )
    )
    trained_with = f"clipping at {clip:g}" if clip else "no clipping"
    counted = (
        f" {history['clipped_windows']} of {history['windows']} logging windows had a step above it."
        if history["clipped_windows"] is not None
        else ""
    )
    show_chart(
        chart,
        "Largest global L2 norm of the gradient of all weights in each logging window of the real training run "
        f"(from metrics.json, before clipping). The model was trained with {trained_with}.{counted} The clipped line is "
        "min(norm, threshold): the length the optimizer actually used.",
        key="explode_history",
    )
