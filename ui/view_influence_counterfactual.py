"""The counterfactual of the influence view: swap one word ("Robert" -> "Mary") and re-ask each model."""
from __future__ import annotations

import altair as alt
import pandas as pd
import streamlit as st

from ui import analysis_cache
from ui.charts import show_chart
from ui.context import Context
from ui.markup import md

SWAPS = {"Robert": "Mary", "Mary": "Robert", "Mr": "Mrs", "Mrs": "Mr", "he": "she", "she": "he"}


def replaced_text(text: str, offsets: list[list[int]], index: int, replacement: str) -> str:
    """``text`` with the word at ``index`` (by its character offsets) replaced."""
    start, end = offsets[index]
    return text[:start] + replacement + text[end:]


def counterfactual(context: Context, choice: dict, tokens: list[str]) -> None:
    """Replace the source word, show P(word) and P(contrast) before and after for every model."""
    st.subheader("What if the word were different?")
    source = int(st.session_state.get("influence_source", 0))
    position = choice["position"]
    if source >= position:
        st.info("Pick a source word before the target word to see what changing it does.")
        return
    original = tokens[source]
    replacement = st.text_input(f"Replace “{original}” with", value=SWAPS.get(original, "Mary"), key=f"influence_replacement_{original}").strip()
    words = (choice["word"], choice["contrast"]) if choice["kind"] == "contrast" else ("his", "her")
    words = tuple(word for word in words if word)
    if not replacement or not words:
        st.info("Type a replacement word.")
        return
    first = context.chosen[0]
    offsets = analysis_cache.influence(first.path, first.signature, context.text, "grad", "next_word")["offsets"]
    new_text = replaced_text(context.text, offsets, source, replacement)
    new_tokens = analysis_cache.next_word(first.path, first.signature, new_text, 1)["tokens"]
    if len(new_tokens) != len(tokens):
        st.error(f"“{md(replacement)}” is not one word for the models (it splits into {len(new_tokens) - len(tokens) + 1} tokens); type a single word.")
        return
    rows = []
    for entry in context.chosen:
        before = analysis_cache.word_probabilities(entry.path, entry.signature, context.text, position, words)
        after = analysis_cache.word_probabilities(entry.path, entry.signature, new_text, position, words)
        for word in words:
            for label, probs in ((f"with “{original}”", before), (f"with “{replacement}”", after)):
                if probs[word] is not None:
                    rows.append({"model": entry.name, "word": f"P({word})", "sentence": label, "probability": probs[word]})
    if not rows:
        st.warning(f"No model knows {', '.join(md(w) for w in words)}.")
        return
    frame = pd.DataFrame(rows)
    names = [entry.name for entry in context.chosen]
    order = [f"with “{original}”", f"with “{replacement}”"]
    chart = alt.Chart(frame, title=f"Predicting word {position + 1}: “{original}” vs “{replacement}”").mark_bar().encode(
        x=alt.X("model:N", title=None, sort=names, axis=alt.Axis(labelAngle=0)),
        xOffset=alt.XOffset("sentence:N", sort=order),
        y=alt.Y("probability:Q", title="probability"),
        color=alt.Color("sentence:N", title=None, sort=order, scale=alt.Scale(range=["#9e9e9e", "#ff7f0e"]),
                        legend=alt.Legend(orient="bottom")),
        column=alt.Column("word:N", title=None), tooltip=["model", "word", "sentence", alt.Tooltip("probability:Q", format=".4f")],
    ).properties(width=300, height=220)
    show_chart(chart, f"Probability (0 to 1) each model gives {md(' and '.join(words))} as word {position + 1}, on your sentence "
               f"and on the same sentence with “{md(original)}” replaced by “{md(replacement)}”. Exact: both sentences are run "
               "through the model. A model that remembers the name should move probability from one pronoun to the other.",
               key="influence_counterfactual")
    table = frame.pivot_table(index=["model", "word"], columns="sentence", values="probability").reset_index()
    table = table[["model", "word", *[column for column in order if column in table.columns]]]
    st.dataframe(table, hide_index=True, width="stretch")
    st.caption("The same probabilities as a table.")
