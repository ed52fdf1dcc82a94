"""Memory and influence: how much each earlier word drives a later prediction, per model."""
from __future__ import annotations

import altair as alt
import pandas as pd
import streamlit as st

from ui import analysis_cache
from ui.charts import EXPORT_HINT, band_step, model_colours, show_chart, word_labels
from ui.common import model_title, side_by_side
from ui.context import Context
from ui.markup import legend, md, word_spans
from ui.model_store import ModelEntry
from ui.presets import default_target_word
from ui.view_influence_counterfactual import counterfactual

METHOD_NAMES = {"grad": "Gradient size (grad)", "gradxinput": "Gradient × input", "ig": "Integrated gradients", "occlusion": "Occlusion (remove the word)"}
METHOD_WORDS = {
    "grad": "how strongly a small change of the word's vector would move the target (a size, never negative)",
    "gradxinput": "gradient times the word's vector: a signed first-order estimate of the word's contribution",
    "ig": "integrated gradients from a sentence of unknown words: signed, and each row adds up to the target's change",
    "occlusion": "the target on the real text minus the target with that word replaced by <unk>: signed, exact",
}
KINDS = {"contrast": "his vs her (contrast)", "next_word": "the next word (the one actually there)", "word": "one chosen word"}
SIGNED = {"gradxinput", "ig", "occlusion"}


def _ensure(key: str, options: list, default) -> None:
    """Reset a picker whose remembered value no longer exists (the sentence changed)."""
    if st.session_state.get(key) not in options:
        st.session_state[key] = default


def controls(tokens: list[str], text: str) -> dict:
    """The target, target function and method pickers; returns the choice."""
    positions = list(range(1, len(tokens) + 1))
    default = default_target_word(tokens, text)
    if st.session_state.get("influence_text") != text:
        # A new sentence: start again from its default target and source word.
        st.session_state["influence_text"] = text
        st.session_state.pop("influence_target", None)
        st.session_state.pop("influence_source", None)
    _ensure("influence_target", positions, default if default >= 1 else len(tokens))
    target_token = tokens[st.session_state["influence_target"] - 1] if st.session_state["influence_target"] <= len(tokens) else ""
    row = st.columns(3)
    position = row[0].selectbox(
        "Target word (the prediction to explain)", positions, key="influence_target",
        format_func=lambda k: f"{k + 1} “{tokens[k]}”" if k < len(tokens) else "after the text (the model's own guess)",
    )
    kind = row[1].radio("Target function", list(KINDS), format_func=KINDS.get, key="influence_kind")
    method = row[2].selectbox("Method", list(METHOD_NAMES), format_func=METHOD_NAMES.get, key="influence_method")
    word, contrast = None, None
    if kind == "word":
        word = row[1].text_input("Chosen word", value=target_token if target_token.isalpha() else "his", key="influence_word").strip()
    elif kind == "contrast":
        pair = row[1].columns(2)
        word = pair[0].text_input("Preferred word", value="his", key="influence_good").strip()
        contrast = pair[1].text_input("Against", value="her", key="influence_bad").strip()
    return {"position": position, "kind": kind, "method": method, "word": word or None, "contrast": contrast or None}


def _compute(entry: ModelEntry, context: Context, choice: dict) -> dict | None:
    try:
        return analysis_cache.influence(entry.path, entry.signature, context.text, choice["method"], choice["kind"], choice["word"], choice["contrast"])
    except ValueError as error:
        st.error(f"{model_title(entry)}: {md(str(error))}", icon=":material/help:")
        return None


def _coloured_text(entry: ModelEntry, data: dict, choice: dict) -> None:
    row = choice["position"] - 1  # the prediction of word k is made after reading word k - 1
    values = [value if index <= row else None for index, value in enumerate(data["matrix"][row])]
    target_index = choice["position"] if choice["position"] < len(data["tokens"]) else None
    largest = max((abs(v) for v in values if v is not None), default=0.0)
    st.markdown(word_spans(data["tokens"], values, target_index=target_index, unknown=data["unknown"],
                           marked=None), unsafe_allow_html=True)
    value = data["values"][row]
    guess = " (the model's own top guess: there is no next word in the text)" if data["last_is_guess"] and row == len(data["tokens"]) - 1 else ""
    st.caption(f"{model_title(entry)}: target {md(data['description'])} = {value:.3f} nats{guess}. Shade = "
               f"{METHOD_WORDS[choice['method']]}; darkest = {largest:.3g} (this model's largest in this row), white = 0, "
               "the baseline of no influence. Underlined: the word being predicted; struck through: unknown words.")


def _matrix_chart(entry: ModelEntry, data: dict, signed: bool) -> alt.Chart:
    tokens = data["tokens"]
    labels = word_labels(tokens)
    targets = [f"→ {index + 2} {tokens[index + 1]}" if index + 1 < len(tokens) else "→ next" for index in range(len(tokens))]
    rows = [
        {"word": labels[s], "prediction": targets[t], "influence": value}
        for t, matrix_row in enumerate(data["matrix"]) for s, value in enumerate(matrix_row) if value is not None and s <= t
    ]
    scale = alt.Scale(scheme="redblue", domainMid=0, reverse=True) if signed else alt.Scale(scheme="reds")
    return alt.Chart(pd.DataFrame(rows), title=f"{entry.name}: all pairs").mark_rect().encode(
        x=alt.X("word:N", sort=labels, title="earlier word"),
        y=alt.Y("prediction:N", sort=targets, title="prediction of"),
        color=alt.Color("influence:Q", scale=scale, title="influence"),
        tooltip=["word", "prediction", alt.Tooltip("influence:Q", format=".4g")],
    ).properties(height=alt.Step(band_step(len(tokens), total=420)))


def _source_curve(context: Context, results: dict[str, dict], tokens: list[str]) -> None:
    st.subheader("One word's reach")
    capitalised = [index for index, token in enumerate(tokens) if index > 0 and token[:1].isupper() and token.isalpha()]
    default = tokens.index("Robert") if "Robert" in tokens else (capitalised[0] if capitalised else 0)
    _ensure("influence_source", list(range(len(tokens))), default)
    source = st.selectbox("Source word", list(range(len(tokens))), key="influence_source", format_func=lambda s: f"{s + 1} “{tokens[s]}”")
    names = [name for name in results]
    colours = model_colours(names, [next(e.arch for e in context.chosen if e.name == name) for name in names])
    rows = []
    for name, data in results.items():
        for t in range(source, len(data["tokens"])):
            value = data["matrix"][t][source]
            if value is not None:
                predicted = data["tokens"][t + 1] if t + 1 < len(data["tokens"]) else "(next)"
                rows.append({"model": name, "words later": t - source, "prediction of": f"{t + 2} {predicted}", "influence": value})
    if not rows:
        st.info("No influence values for this word.")
        return
    chart = alt.Chart(pd.DataFrame(rows), title=f"Influence of “{tokens[source]}” on every later prediction").mark_line(point=True).encode(
        x=alt.X("words later:Q", title="words after the source word (0 = predicting the very next word)", axis=alt.Axis(tickMinStep=1, format="d")),
        y=alt.Y("influence:Q", title="influence"),
        color=alt.Color("model:N", scale=alt.Scale(domain=names, range=[colours[n] for n in names])),
        tooltip=["model", "prediction of", alt.Tooltip("influence:Q", format=".4g")],
    )
    first = next(iter(results.values()))
    show_chart(chart, f"One column of each all-pairs matrix: the influence of the source word on the prediction of every later word, "
               f"by {METHOD_NAMES[first['method']].lower()} ({md(METHOD_WORDS[first['method']])}), target {md(first['description'])}. "
               "0 = no influence (the baseline). Units: nats of the target per unit of embedding for the gradient "
               "methods, nats for occlusion and integrated gradients.", key="influence_source_curve")


def render(context: Context) -> None:
    """Draw the Memory and influence view."""
    st.markdown("Pick a word in the sentence. Each model's text is shaded by how much every earlier word pushed the "
                "prediction of that word: this is what the model remembers and uses.")
    first = analysis_cache.next_word(context.chosen[0].path, context.chosen[0].signature, context.text, 1)
    tokens = first["tokens"]
    choice = controls(tokens, context.text)
    signed = choice["method"] in SIGNED
    st.markdown(legend("raises the target", "lowers the target") if signed else legend("strong influence", None), unsafe_allow_html=True)
    results: dict[str, dict] = {}
    for column, entry in zip(side_by_side(context.chosen), context.chosen):
        with column:
            st.markdown(f"**{model_title(entry)}**")
            data = _compute(entry, context, choice)
            if data is not None:
                results[entry.name] = data
                _coloured_text(entry, data, choice)
    if not results:
        return
    st.subheader("All pairs")
    for column, entry in zip(side_by_side([e for e in context.chosen if e.name in results]), [e for e in context.chosen if e.name in results]):
        with column:
            show_chart(_matrix_chart(entry, results[entry.name], signed),
                       f"Row: the prediction of a word; column: an earlier word; colour: {md(METHOD_WORDS[choice['method']])}. "
                       f"Target {md(results[entry.name]['description'])}. Blank above the diagonal: a prediction cannot see "
                       "later words. White/0 = no influence.", key=f"influence_matrix_{entry.name}")
    _source_curve(context, results, tokens)
    counterfactual(context, choice, tokens)
    st.caption(EXPORT_HINT)

