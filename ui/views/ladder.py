"""Distance ladder: move the deciding word further away, rung by rung, and measure each model's memory span."""

from __future__ import annotations

import altair as alt
import pandas as pd
import streamlit as st

from model.analysis.lesson import safe_fillers
from model.analysis.memory.ladder import DEFAULT_FILLERS
from ui.page_context import Context
from ui.services import analysis_cache
from ui.services.model_store import get_checkpoint
from ui.services.presets import plan_for_text
from ui.settings import SEED_SENTENCE
from ui.widgets.charts import EXPORT_HINT, model_colours, show_chart
from ui.widgets.common import results_by_model, side_by_side
from ui.widgets.markup import md


def ladder_defaults(entries: list, text: str) -> tuple[str, dict[str, str]]:
    """The ladder's sentence and words for a sentence: a preset's own, the sentence's cue and pronoun,
    or (when it has neither, or there is no model or text) the seed sentence with Robert / his / her."""
    if entries and text:
        tokens = list(get_checkpoint(entries[0]).tokenizer.encode(text).tokens)
        plan = plan_for_text(tokens, text)
        if plan.source_index is not None and plan.contrast and plan.source_index < plan.target_index:
            sentence = text
            if plan.target_index >= len(tokens):
                # The target is what comes after the text (a closing quote): the ladder reads it off the text plus that word.
                sentence = f"{text} {plan.target}"
            return sentence, {"source": tokens[plan.source_index], "target": plan.target, "contrast": plan.contrast}
    return SEED_SENTENCE, {"source": "Robert", "target": "his", "contrast": "her"}


def _controls(context: Context) -> dict:
    sentence, words = ladder_defaults(context.chosen if context.ready else [], context.text)
    previous = st.session_state.get("ladder_for")
    if previous != sentence:
        st.session_state["ladder_for"] = sentence
        for name, value in words.items():
            # The first visit keeps values already in the session (a link, a test); a new sentence brings its own words.
            if previous is None:
                st.session_state.setdefault(f"ladder_{name}", value)
            else:
                st.session_state[f"ladder_{name}"] = value
    # On a projector the five fields take two rows: in fifths of the page their 20 px labels broke over two to five
    # lines ("Replace the source by (occlusion )") and the boxes no longer lined up.
    row = [*st.columns(3), *st.columns(2)] if context.presenter else st.columns(5)
    source = row[0].text_input("Source word", key="ladder_source", help="The word that decides the prediction.").strip()
    target = row[1].text_input("Predicted word", key="ladder_target").strip()
    contrast = row[2].text_input("Against", key="ladder_contrast").strip()
    replacement = (
        row[3]
        .text_input(
            "Occlusion word",
            value="",
            key="ladder_replacement",
            placeholder="<unk>",
            help="The word put in place of the source word to measure occlusion. Empty: the unknown-word token.",
        )
        .strip()
    )
    # Clauses holding one of the ladder's own words would make the distance ambiguous: they are left out.
    fillers = safe_fillers(DEFAULT_FILLERS, [source, target, contrast])
    most = len(fillers) + 1
    if int(st.session_state.get("ladder_rungs", 0)) > most:
        st.session_state["ladder_rungs"] = most
    rungs = row[4].slider("Rungs", 2, most, min(10, most), key="ladder_rungs")
    note = (
        "The ladder starts from the sentence above"
        if sentence != SEED_SENTENCE or context.text == SEED_SENTENCE
        else "The sentence above has no cue and pronoun to move apart, so the ladder starts from the seed sentence"
    )
    st.caption(
        f"{note}: “{md(sentence)}”. Rung n inserts n neutral clauses right after “{md(source)}”"
        + (
            f" ({len(DEFAULT_FILLERS) - len(fillers)} of the {len(DEFAULT_FILLERS)} clauses contain one of the ladder's "
            "words and are left out)."
            if len(fillers) < len(DEFAULT_FILLERS)
            else "."
        )
    )
    return {
        "sentence": sentence,
        "source": source,
        "target": target,
        "contrast": contrast,
        "rungs": rungs,
        "replacement": replacement or None,
        "fillers": fillers,
    }


def _line(
    rows: list[dict], value: str, title: str, y_title: str, names: list[str], colours: dict[str, str], log: bool = False
) -> alt.Chart:
    data = [row for row in rows if row.get(value) is not None and (not log or row[value] > 0)]
    return (
        alt.Chart(pd.DataFrame(data), title=title)
        .mark_line(point=True)
        .encode(
            x=alt.X("distance:Q", title="words between the source word and the predicted word"),
            y=alt.Y(f"{value}:Q", title=y_title, scale=alt.Scale(type="log") if log else alt.Scale()),
            color=alt.Color("model:N", scale=alt.Scale(domain=names, range=[colours[n] for n in names])),
            tooltip=["model", "distance", alt.Tooltip(f"{value}:Q", format=".4g"), "text"],
        )
        .properties(height=320)
    )


def _short(span: dict) -> str:
    """The span for a badge: "11.1 words", "> 94 words", or "none measurable" without a clear effect to halve."""
    return span["display"] if span["value"] is not None or span["beyond"] else "none measurable"


def render(context: Context) -> None:
    """Draw the Distance ladder view."""
    st.markdown(
        "How far back can each model reach? Take a sentence where one word decides a later one (“Robert” → "
        "“his”), then push the two apart by inserting neutral clauses, one more per rung, and watch the "
        "preference fade."
    )
    if not context.chosen:
        st.info("Pick at least one model in the sidebar.")
        return
    spec = _controls(context)
    results = results_by_model(
        context.chosen,
        lambda entry: analysis_cache.ladder(
            entry.path,
            entry.signature,
            spec["sentence"],
            spec["source"],
            spec["target"],
            spec["contrast"],
            spec["rungs"],
            spec["replacement"],
            spec["fillers"],
        ),
    )
    if not results:
        return
    chosen = [entry for entry in context.chosen if entry.name in results]
    st.subheader("Memory span")
    for column, entry in zip(side_by_side(chosen), chosen):
        span, reach = results[entry.name]["memory_span"], results[entry.name]["influence_span"]
        with column:
            st.metric(f"{md(entry.name)} ({(entry.arch or '').upper()}) ≈", _short(span), help=span["definition"])
            if span["value"] is None and not span["beyond"]:
                st.caption(md(span["display"]))
            st.badge(f"influence span ≈ {_short(reach)}", color="gray", help=reach["definition"])
    first_span = next(iter(results.values()))
    st.caption(
        f"{md(first_span['memory_span']['definition'])} Influence span: the same, for {md(first_span['influence_definition'])}. "
        "Hover a number for its definition."
    )
    names = [entry.name for entry in chosen]
    colours = model_colours(names, [entry.arch for entry in chosen])
    rows = [dict(rung, model=name) for name, data in results.items() for rung in data["rungs"]]
    first = next(iter(results.values()))
    show_chart(
        _line(
            rows,
            "contrast",
            f"Preference for “{spec['target']}” over “{spec['contrast']}” against distance",
            "preference, nats",
            names,
            colours,
        ),
        f"Preference = {md(first['contrast_definition'])}. Read at the prediction right before the predicted word, one point per rung. "
        "0 (the baseline) = no preference; above 0 = the model still prefers the right word.",
        key="ladder_contrast_chart",
    )
    show_chart(
        _line(
            rows,
            "influence",
            f"Influence of “{spec['source']}” against distance",
            "gradient norm (log)",
            names,
            colours,
            log=True,
        ),
        f"{md(first['influence_definition'])}: how strongly the source word's vector moves that preference (per unit of "
        "embedding, log scale); 0 would mean no influence. Exact gradient by automatic differentiation.",
        key="ladder_influence_chart",
    )
    if any(row.get("occlusion") is not None for row in rows):
        show_chart(
            _line(
                rows, "occlusion", f"What removing “{spec['source']}” costs", "preference lost, nats", names, colours
            ),
            f"{md(first['occlusion_definition'])}, replacement {md(first['replacement_word'])}: the preference lost when the "
            "source word is swapped out (0 = the word did not matter).",
            key="ladder_occlusion_chart",
        )
    table = pd.DataFrame(rows)[
        ["model", "fillers", "distance", "p_good", "p_bad", "contrast", "influence", "occlusion"]
    ]
    st.dataframe(
        table,
        hide_index=True,
        width="stretch",
        column_config={
            "p_good": st.column_config.NumberColumn(f"P({spec['target']})", format="%.4f"),
            "p_bad": st.column_config.NumberColumn(f"P({spec['contrast']})", format="%.4f"),
        },
    )
    st.caption(
        "Every rung and model: number of inserted clauses, distance in words, the two probabilities (0 to 1) before the "
        "predicted word, the contrast in nats, the source's influence and the occlusion effect."
    )
    st.caption(EXPORT_HINT)
