"""Gates and cell state: what every unit did at every word (LSTM gates, GRU gates, RNN slopes)."""

from __future__ import annotations

import pandas as pd
import streamlit as st

from ui.page_context import Context
from ui.services import analysis_cache
from ui.services.influence_choice import target_for_units
from ui.services.model_store import ModelEntry
from ui.widgets.charts import EXPORT_HINT, column_title, heatmap, per_word_lines, show_chart
from ui.widgets.common import model_title, per_model
from ui.widgets.markup import md

NAMES = {
    "forget_gate": "forget gate f",
    "input_gate": "input gate i",
    "output_gate": "output gate o",
    "candidate": "candidate g (new content)",
    "cell": "cell state c",
    "hidden": "hidden state h",
    "reset_gate": "reset gate r",
    "update_gate": "update gate z",
    "preactivation": "pre-activation a",
    "slope": "slope tanh′(a)",
}
MEANING = {
    "forget_gate": "share of each cell unit's old content kept at this word (0 = wipe, 1 = keep all)",
    "input_gate": "share of the new candidate written into the cell (0 = write nothing, 1 = write all)",
    "output_gate": "share of the squashed cell shown as the hidden state (0 = hide, 1 = show)",
    "candidate": "the new content offered to the cell, between −1 and 1",
    "cell": "the LSTM's memory (the conveyor belt), unbounded",
    "hidden": "what the layer passes up and on, between −1 and 1",
    "reset_gate": "how much of the old state the GRU reads when forming new content (0 = ignore, 1 = use)",
    "update_gate": "in PyTorch's GRU: share of the old state kept (1 = keep the old, 0 = take the new)",
    "preactivation": "the weighted sum before tanh; far from 0 means a saturated unit",
    "slope": "tanh′(a) = 1 − tanh(a)²: how much of a gradient this unit passes back (1 = all, near 0 = vanishing)",
}
BOUNDED = {"forget_gate", "input_gate", "output_gate", "reset_gate", "update_gate", "slope"}
WORD_CHART_HEIGHT = 380  # pixels, labels included
DEFAULT_VIEW = {"lstm": "forget_gate", "gru": "update_gate", "rnn": "hidden"}


ORDERS = ["variance over the sentence", "influence on the target word", "unit number"]


def _unit_order(entry: ModelEntry, data: dict, key: str, order_by: str, text: str) -> tuple[list[int], str]:
    """Units in display order and a phrase saying how they were ordered."""
    if order_by == "unit number":
        return list(range(data["hidden_size"])), "unit number"
    if order_by == ORDERS[1]:
        position, good, bad = target_for_units(data["tokens"], text)
        try:
            scores = analysis_cache.unit_influence(entry.path, entry.signature, text, position, good, bad)
        except ValueError as error:
            st.caption(f"Ordered by variance instead: {md(str(error))}")
        else:
            target = f"log P({good!r})" + (f" − log P({bad!r})" if bad else "")
            return sorted(range(len(scores)), key=lambda unit: -scores[unit]), (
                f"influence on {target} at the prediction of word {position + 1} (|h × ∂target/∂h|, gradient × activation "
                "of the top layer's units; set the target in Memory and influence)"
            )
    return data["variance_order"][key], "variance over the sentence"


def _heatmap_column(entry: ModelEntry, data: dict, count: int, order_by: str, text: str) -> None:
    keys = list(data["traces"])
    default = DEFAULT_VIEW.get(data["arch"], "hidden")
    key = st.selectbox(
        "Show",
        keys,
        index=keys.index(default) if default in keys else 0,
        format_func=lambda k: NAMES.get(k, k),
        key=f"gates_show_{entry.name}",
    )
    order, order_words = _unit_order(entry, data, key, order_by, text)
    units = order[:count]
    bounded = key in BOUNDED
    chart = heatmap(
        data["traces"][key],
        data["tokens"],
        units,
        f"{entry.name}: {NAMES.get(key, key)}",
        (0.0, 1.0) if bounded else None,
        scheme="blues" if bounded else "redblue",
    )
    show_chart(
        chart,
        f"Colour = {md(MEANING.get(key, key))}; one column per word (the value just after reading it), one row "
        f"per unit, {len(units)} of {data['hidden_size']} units of layer {data['layer'] + 1}, ordered by {md(order_words)}. "
        "Read from the trained weights by stepping the cell one word at a time (the same numbers the library computes). "
        + ("Scale 0 to 1." if bounded else "White = 0 (the baseline), red positive, blue negative."),
        key=f"gates_heat_{entry.name}",
    )


def _means_chart(entry: ModelEntry, data: dict) -> None:
    series = {NAMES.get(name, name): values for name, values in data["means"].items()}
    title = (
        f"{entry.name}: mean of each gate per word" if data["arch"] != "rnn" else f"{entry.name}: mean slope per word"
    )
    show_chart(
        per_word_lines(series, data["tokens"], title, "mean over units (0 to 1)", domain=(0.0, 1.0)),
        "Average over all units of the layer, after each word; 0 = closed (or no gradient passes), 1 = open. "
        "A gate always at 0.5 would be undecided; the interesting parts are the moves.",
        key=f"gates_means_{entry.name}",
        height=WORD_CHART_HEIGHT,
    )


def _saturation_table(context: Context, results: dict[str, dict]) -> None:
    rows = []
    for entry in context.chosen:
        for name, shares in results[entry.name]["saturation"].items():
            rows.append(
                {
                    "model": entry.name,
                    "gate": NAMES.get(name, name),
                    "share < 0.1 (closed)": shares["below"],
                    "share between": shares["between"],
                    "share > 0.9 (open)": shares["above"],
                }
            )
    st.dataframe(
        pd.DataFrame(rows),
        hide_index=True,
        width="stretch",
        column_config={
            c: st.column_config.ProgressColumn(c, min_value=0.0, max_value=1.0, format="percent")
            for c in ("share < 0.1 (closed)", "share between", "share > 0.9 (open)")
        },
    )
    st.caption(
        "Saturation: the share of all (word, unit) values of each gate that sit below 0.1 or above 0.9, over this sentence. "
        "Saturated gates act as switches. For the RNN the row is its slope: below 0.1 means that unit passes back "
        "less than a tenth of any gradient."
    )


def _unit_picker(context: Context, results: dict[str, dict]) -> None:
    st.subheader("One unit, word by word")
    largest = max(results[entry.name]["hidden_size"] for entry in context.chosen)
    unit = st.number_input(
        "Unit number",
        min_value=0,
        max_value=largest - 1,
        value=0,
        step=1,
        key="gates_unit",
        help="Every quantity of this one unit across the sentence.",
    )
    for column, entry in zip(per_model(context.chosen), context.chosen):
        data = results[entry.name]
        with column:
            if unit >= data["hidden_size"]:
                st.info(f"{model_title(entry)} has only {data['hidden_size']} units.")
                continue
            series = {
                NAMES.get(name, name): [row[unit] for row in values]
                for name, values in data["traces"].items()
                if name != "preactivation"
            }
            show_chart(
                per_word_lines(series, data["tokens"], f"{entry.name}: unit {unit}", "value"),
                f"Every recorded quantity of unit {unit} after each word (gates 0 to 1, candidate and hidden −1 to 1, "
                "cell unbounded). Baseline 0.",
                key=f"gates_unit_{entry.name}",
                height=WORD_CHART_HEIGHT,
            )


def _conveyor(context: Context, results: dict[str, dict]) -> None:
    gated = [entry for entry in context.chosen if results[entry.name]["arch"] in ("lstm", "gru")]
    if not gated:
        return
    st.subheader("The conveyor belt: how much the memory carries")
    for column, entry in zip(per_model(gated), gated):
        data = results[entry.name]
        with column:
            if "cell_norm" not in data:
                _retention_chart(entry, data)
                continue
            series = {"cell-state norm ‖c‖": data["cell_norm"], "hidden-state norm ‖h‖": data["hidden_norm"]}
            show_chart(
                per_word_lines(series, data["tokens"], column_title(f"{entry.name}: size of the memory"), "L2 norm"),
                "Euclidean length of the cell state c and the hidden state h after each word (no unit; 0 = empty "
                "memory, the start value). The cell is the conveyor belt: forget gates near 1 let it carry things far.",
                key=f"gates_norm_{entry.name}",
                height=WORD_CHART_HEIGHT,
            )
            _retention_chart(entry, data)


def _retention_chart(entry: ModelEntry, data: dict) -> None:
    retention = data.get("retention")
    if not retention:
        return
    gate = "forget gates f" if retention["gate"] == "forget_gate" else "update gates z"
    show_chart(
        per_word_lines(
            {"share still carried": retention["from_first"]},
            data["tokens"],
            column_title(f"{entry.name}: what the belt still carries from word 1"),
            f"product of {gate} (log)",
            log_scale=True,
        ),
        f"Mean over units of the product of the {gate} from word 2 to word t: the share of the memory held after "
        "word 1 that is still carried after word t, if nothing new were written (log scale; 1 = all kept, the start "
        "value). Computed from the gates recorded on this sentence.",
        key=f"gates_retention_{entry.name}",
        height=WORD_CHART_HEIGHT,
    )


def render(context: Context) -> None:
    """Draw the Gates and cell state view."""
    st.markdown(
        "A gate is a row of numbers between 0 and 1 that multiplies a signal: 0 lets nothing through, 1 lets "
        "everything through. The LSTM's cell state is a conveyor belt: at each word the forget gate decides how much "
        "of it to keep and the input gate how much new content to put on it."
    )
    results = {entry.name: analysis_cache.gates(entry.path, entry.signature, context.text) for entry in context.chosen}
    controls = st.columns(2)
    order_by = controls[0].radio(
        "Order units by",
        ORDERS,
        horizontal=True,
        key="gates_order",
        help="Variance: the units that change most on this sentence come first. Influence: the units "
        "the chosen prediction (Memory and influence tab, his vs her by default) reads most.",
    )
    largest = max(results[entry.name]["hidden_size"] for entry in context.chosen)
    count = controls[1].slider("Units shown", 1, min(64, largest), min(24, largest), key="gates_count")
    # Charts over the words need the page's width: side by side for two models, one tab per model for three.
    for column, entry in zip(per_model(context.chosen), context.chosen):
        with column:
            st.markdown(f"**{model_title(entry)}**")
            _heatmap_column(entry, results[entry.name], count, order_by, context.text)
            _means_chart(entry, results[entry.name])
    st.subheader("Saturation")
    _saturation_table(context, results)
    _conveyor(context, results)
    _unit_picker(context, results)
    st.caption(EXPORT_HINT)
