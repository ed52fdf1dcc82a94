"""The counterfactual of the influence view: swap the whole cue span ("Mr. Robert" -> "Mrs. Mary") and re-ask each model."""

from __future__ import annotations

import altair as alt
import pandas as pd
import streamlit as st

from data.cue_swap import CuePlan, find_span, join_words, replace_span, tokenize
from model.analysis.preference import signed, swap_finding
from ui.page_context import Context
from ui.services import analysis_cache
from ui.services.model_store import get_checkpoint
from ui.widgets.charts import show_chart
from ui.widgets.common import results_by_model
from ui.widgets.markup import md, quote

VARIANT_COLOURS = ["#8c8c8c", "#ff7f0e", "#c5b0d5", "#9edae5"]


def _inputs(tokens: list[str], text: str, plan: CuePlan) -> tuple[str, str]:
    """The cue and its replacement, reset to the sentence's own (a preset's, or the default swap) for a new sentence."""
    if st.session_state.get("swap_text") != text:
        st.session_state["swap_text"] = text
        start, end = plan.cue_span if plan.cue_span else (0, 0)
        st.session_state["swap_cue"] = join_words(tokens[start:end])
        st.session_state["swap_replacement"] = plan.replacement or ""
    row = st.columns(2)
    cue = (
        row[0]
        .text_input("Replace the words", key="swap_cue", help="One word or several in a row, as in the sentence.")
        .strip()
    )
    replacement = (
        row[1]
        .text_input(
            "with",
            key="swap_replacement",
            help="The same number of words (and punctuation marks): “Mr. Robert” → “Mrs. Mary”.",
        )
        .strip()
    )
    return cue, replacement


def _variant(tokens: list[str], counterfactual_tokens: list[str], span: tuple[int, int], part: tuple[int, int]) -> str:
    """The cue with one part swapped ("Mrs. Robert"), as text."""
    start, end = span
    words = [counterfactual_tokens[i] if part[0] <= i < part[1] else tokens[i] for i in range(start, end)]
    return join_words(words)


def counterfactual(
    context: Context, target: str | None, contrast: str | None, tokens: list[str], plan: CuePlan
) -> None:
    """Swap a span for every model: log P(target) - log P(contrast) before, after, and with each part swapped alone."""
    st.subheader("Swap the cue: what if it were someone else?")
    cue, replacement = _inputs(tokens, context.text, plan)
    if not target or not contrast:
        st.info("Choose a contrast above (a word against another) to see what the swap does to it.")
        return
    if not cue or not replacement:
        st.info("Type the words to replace and what to put in their place.")
        return
    span = find_span(tokens, tokenize(cue))
    if span is None:
        st.error(
            f"{quote(cue)} is not in the sentence as written; copy the words exactly (case and punctuation count)."
        )
        return
    offsets = get_checkpoint(context.chosen[0]).tokenizer.encode(context.text).offsets
    new_text = replace_span(context.text, offsets, span, replacement)
    results = results_by_model(
        context.chosen,
        lambda entry: analysis_cache.cue_swap(entry.path, entry.signature, context.text, new_text, target, contrast),
    )
    if not results:
        return
    pair = next(iter(results.values()))["pair"]
    cue_span = tuple(pair["cue_span"])
    labels = [f"{pair['cue_text']} (as typed)", pair["replacement_text"]]
    # Each part swapped alone, when the swap changes more than one part ("Mr." and "Robert", not "Robert" alone).
    changed = [
        index
        for index, (_, (start, end)) in enumerate(pair["parts"])
        if pair["tokens"][start:end] != pair["counterfactual_tokens"][start:end]
    ]
    changed = changed if len(changed) > 1 else []
    labels += [
        _variant(pair["tokens"], pair["counterfactual_tokens"], cue_span, tuple(pair["parts"][index][1]))
        + " (one part swapped)"
        for index in changed
    ]
    parts = changed
    rows = []
    for name, data in results.items():
        swap = data["swap"]
        values = [swap["before"], swap["after"]] + [swap["parts"][index]["value"] for index in changed]
        rows += [
            {"model": name, "sentence": label, "margin": value, "label": signed(value)}
            for label, value in zip(labels, values)
        ]
    st.markdown(
        f"**{md(swap_finding({n: d['swap']['before'] for n, d in results.items()}, {n: d['swap']['after'] for n, d in results.items()}, target, contrast))}**"
    )
    names = [entry.name for entry in context.chosen if entry.name in results]
    frame = pd.DataFrame(rows)
    base = alt.Chart(frame, title=f"log P({target}) − log P({contrast}) with each version of the cue")
    bars = base.mark_bar().encode(
        y=alt.Y("model:N", sort=names, title=None),
        yOffset=alt.YOffset("sentence:N", sort=labels),
        x=alt.X("margin:Q", title=f"log P({target}) − log P({contrast}), nats (> 0: prefers “{target}”)"),
        color=alt.Color(
            "sentence:N",
            sort=labels,
            title=None,
            scale=alt.Scale(domain=labels, range=VARIANT_COLOURS[: len(labels)]),
            legend=alt.Legend(orient="bottom", columns=2, labelLimit=420),
        ),
        tooltip=["model", "sentence", alt.Tooltip("margin:Q", format="+.3f")],
    )
    zero = alt.Chart(pd.DataFrame({"x": [0.0]})).mark_rule(color="gray").encode(x="x:Q")
    show_chart(
        (bars + zero).properties(height=alt.Step(22 if len(labels) > 2 else 30)),
        f"Each bar: log P({md(target)}) − log P({md(contrast)}) in nats at the prediction of word "
        f"{pair['target_position'] + 1}, exact (both sentences run through the model). 0 (the grey line) is the "
        f"baseline of no preference. Grey: the sentence as typed; orange: {quote(pair['cue_text'])} replaced by "
        f"{quote(pair['replacement_text'])}"
        + ("; the lighter bars swap one part of the cue and keep the other." if parts else "."),
        key="influence_counterfactual",
    )
    table = frame.pivot_table(index="model", columns="sentence", values="margin").reindex(names)[labels].reset_index()
    st.dataframe(
        table,
        hide_index=True,
        width="stretch",
        column_config={label: st.column_config.NumberColumn(format="%+.2f") for label in labels},
    )
    st.caption(
        f"The same numbers: log P({md(target)}) − log P({md(contrast)}) in nats, per model and version of the cue."
    )
