"""Word by word: reveal the sentence one word at a time; predictions, gates and memory update with it."""

from __future__ import annotations

import html

import altair as alt
import pandas as pd
import streamlit as st

from ui.page_context import Context
from ui.services import analysis_cache
from ui.widgets.charts import column_title, heatmap, model_colours, show_chart
from ui.widgets.common import per_model, titled_columns
from ui.widgets.markup import md

TOP = 5
UNITS = 16
GATE_LABELS = {
    "forget_gate": "forget f",
    "input_gate": "input i",
    "output_gate": "output o",
    "reset_gate": "reset r",
    "update_gate": "update z",
    "slope": "slope tanh′",
}


def _move(delta: int, limit: int) -> None:
    st.session_state["step_words"] = min(max(1, int(st.session_state.get("step_words", 1)) + delta), limit)


def _revealed_html(tokens: list[str], shown: int) -> str:
    parts = []
    for index, token in enumerate(tokens):
        if index < shown:
            weight = "font-weight:700;border-bottom:3px solid #1f77b4" if index == shown - 1 else ""
            parts.append(
                f'<span dir="auto" style="unicode-bidi:isolate;margin:0 0.2em;{weight}">{html.escape(token)}</span>'
            )
        else:
            parts.append('<span style="margin:0 0.2em;color:#bbb">▢</span>')
    return '<div class="memory-lab-words" style="font-size:1.5rem;line-height:2">' + "".join(parts) + "</div>"


def _gate_values(means: dict[str, list[float]], shown: int, compact: bool) -> None:
    """Each gate's mean after word ``shown`` and its change: big metrics, or a small table when three
    model columns would squeeze three metrics each into unreadable slivers."""
    rows = []
    for gate, values in means.items():
        delta = values[shown - 1] - values[shown - 2] if shown > 1 else None
        rows.append((GATE_LABELS.get(gate, gate), values[shown - 1], delta))
    if compact:
        st.dataframe(
            pd.DataFrame(rows, columns=["gate", "mean", "change"]),
            hide_index=True,
            width="stretch",
            column_config={
                "mean": st.column_config.NumberColumn(format="%.2f"),
                "change": st.column_config.NumberColumn(format="%+.2f"),
            },
        )
        return
    for column, (label, value, delta) in zip(st.columns(len(rows)), rows):
        column.metric(label, f"{value:.2f}", None if delta is None else f"{delta:+.2f}")


def render(context: Context) -> None:
    """Draw the Word by word view."""
    st.markdown(
        "Press ▶ to let the models read one more word. Each column shows what that model now expects, how its "
        "gates reacted to the word, and what its memory holds."
    )
    predictions = {
        entry.name: analysis_cache.next_word(entry.path, entry.signature, context.text, TOP) for entry in context.chosen
    }
    states = {entry.name: analysis_cache.gates(entry.path, entry.signature, context.text) for entry in context.chosen}
    tokens = predictions[context.chosen[0].name]["tokens"]
    count = len(tokens)
    if "step_words" not in st.session_state or not 1 <= int(st.session_state["step_words"]) <= count:
        st.session_state["step_words"] = 1
    buttons = st.columns([2, 2, 5])
    buttons[0].button("◀ Back", key="step_back", on_click=_move, args=(-1, count), disabled=count == 1, width="stretch")
    buttons[1].button("Next ▶", key="step_next", on_click=_move, args=(1, count), disabled=count == 1, width="stretch")
    if count > 1:
        buttons[2].slider("Words read", 1, count, key="step_words")
    shown = int(st.session_state["step_words"])
    st.markdown(_revealed_html(tokens, shown), unsafe_allow_html=True)
    upcoming = tokens[shown] if shown < count else None
    colours = model_colours([e.name for e in context.chosen], [e.arch for e in context.chosen])
    for column, entry in zip(titled_columns(context.chosen), context.chosen):
        prediction, state = predictions[entry.name], states[entry.name]
        with column:
            top = pd.DataFrame(prediction["top"][shown])
            chart = (
                alt.Chart(top, title=column_title(f"{entry.name}: expected next"))
                .mark_bar(color=colours[entry.name])
                .encode(
                    x=alt.X("prob:Q", title="probability", scale=alt.Scale(domain=[0, 1])),
                    y=alt.Y("word:N", sort="-x", title=None),
                    tooltip=["word", alt.Tooltip("prob:Q", format=".3f")],
                )
                .properties(height=alt.Step(24))
            )
            caption = f"The {TOP} most probable next words after word {shown}, probabilities 0 to 1 (softmax output)."
            if upcoming is not None:
                actual = prediction["actual"][shown]
                caption += f" The real next word “{md(upcoming)}” got {actual['prob']:.3f} (rank {actual['rank']})."
            show_chart(chart, caption + " Baseline: 1 / vocabulary size per word.", key=f"step_top_{entry.name}")
            _gate_values(state["means"], shown, compact=len(context.chosen) > 2)
            st.caption(
                "Mean gate value over all units after this word (0 = closed, 1 = open); the small number is the "
                "change from the word before."
            )
    st.subheader("What the memory holds so far")
    # The heatmaps run over every word of the sentence: the page's width per model, not a third of it.
    for container, entry in zip(per_model(context.chosen), context.chosen):
        state = states[entry.name]
        with container:
            key = "cell" if "cell" in state["traces"] else "hidden"
            units = state["variance_order"][key][: min(UNITS, state["hidden_size"])]
            values = state["traces"][key][:shown]
            chart = heatmap(
                values,
                tokens[:shown],
                units,
                f"{entry.name}: memory so far ({'cell c' if key == 'cell' else 'hidden h'})",
                None,
                scheme="redblue",
                row_pixels=12,
                all_tokens=tokens,
            )
            show_chart(
                chart,
                f"The {len(units)} busiest units of the {'cell state' if key == 'cell' else 'hidden state'} after "
                "each word read so far (red positive, blue negative, white 0 = the empty start). Reading a prefix gives "
                "exactly these numbers: the model never looks ahead.",
                key=f"step_memory_{entry.name}",
            )
