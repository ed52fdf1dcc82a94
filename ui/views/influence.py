"""Memory and influence: how much each earlier word drives a later prediction, per model."""

from __future__ import annotations

import altair as alt
import pandas as pd
import streamlit as st

from data.cue_swap import CuePlan, replace_span
from model.analysis.influence.spans import compare_with_gradient_norm
from ui.page_context import Context
from ui.services import analysis_cache
from ui.services.model_store import ModelEntry, get_checkpoint
from ui.services.presets import plan_for_text, preset_for_text
from ui.views.influence_counterfactual import counterfactual
from ui.widgets.charts import EXPORT_HINT, model_colours, show_chart, word_axis, word_labels
from ui.widgets.common import model_title, per_model, preference_finding, results_by_model, titled_columns
from ui.widgets.markup import legend, md, quote, word_spans

METHOD_NAMES = {
    "grad": "Gradient size (grad)",
    "gradxinput": "Gradient × input",
    "ig": "Integrated gradients",
    "occlusion": "Occlusion (remove the word)",
}
METHOD_WORDS = {
    "grad": "how strongly a small change of the word's vector would move the target (a size, never negative)",
    "gradxinput": "gradient times the word's vector: a signed first-order estimate of the word's contribution",
    "ig": "integrated gradients from a sentence of unknown words: signed, and each row adds up to the target's change",
    "occlusion": "the target on the real text minus the target with that word replaced by <unk>: signed, exact",
}
KINDS = {
    "contrast": "{good} vs {bad} (contrast)",
    "next_word": "the next word (the one actually there)",
    "word": "one chosen word",
}
SIGNED = {"gradxinput", "ig", "occlusion"}
# What each span method measures, for the span chart (model.analysis.lesson.span_attribution).
SPAN_NAMES = {
    "swap": "the exact swap",
    "occlusion": "occlusion",
    "ig": "integrated gradients",
    "gradxinput": "gradient × input",
    "grad": "gradient size",
}
SPAN_WORDS = {
    "swap": "the margin on the text minus the margin with the span taken from the counterfactual (exact re-run, signed)",
    "occlusion": "the margin minus the margin with every word of the span replaced by <unk> (exact re-run, signed)",
    "ig": "integrated gradients from a sentence of unknown words, summed over the span's words (signed)",
    "gradxinput": "gradient × word vector, summed over the span's words (a signed first-order estimate)",
    "grad": "the length of the margin's gradient with respect to the span's word vectors together (a sensitivity, never negative)",
}


def _ensure(key: str, options: list, default) -> None:
    """Reset a picker whose remembered value no longer exists (the sentence changed)."""
    if st.session_state.get(key) not in options:
        st.session_state[key] = default


def _new_sentence(tokens: list[str], text: str, plan: CuePlan) -> None:
    """A new sentence: start again from its own target, contrast and source word (a preset's or the default).

    On the first visit, values already in the session (a link, a test) are kept; later sentence
    changes reset the choices to the new sentence's own.
    """
    previous = st.session_state.get("influence_text")
    if previous == text:
        return
    st.session_state["influence_text"] = text
    defaults = {
        "influence_kind": "contrast" if plan.contrast else "next_word",
        "influence_good": plan.target if plan.contrast else "his",
        "influence_bad": plan.contrast or "her",
    }
    if previous is None:
        for key, value in defaults.items():
            st.session_state.setdefault(key, value)
        return
    for key in ("influence_target", "influence_source", "influence_word", "influence_word_for"):
        st.session_state.pop(key, None)
    st.session_state.update(defaults)


def controls(tokens: list[str], text: str, plan: CuePlan | None = None) -> dict:
    """The target, target function and method pickers; returns the choice."""
    plan = plan or plan_for_text(tokens, text)
    positions = list(range(1, len(tokens) + 1))
    _new_sentence(tokens, text, plan)
    default = plan.target_index
    _ensure("influence_target", positions, default if default >= 1 else len(tokens))
    # Widget values are dropped while their widget is hidden; they come back as the sentence's own words.
    for key, value in (
        ("influence_kind", "contrast"),
        ("influence_good", plan.target if plan.contrast else "his"),
        ("influence_bad", plan.contrast or "her"),
    ):
        st.session_state.setdefault(key, value)
    # On a projector the pickers fold away under a one-line summary: the shaded sentences are the point.
    if bool(st.session_state.get("presenter", False)):
        where = st.session_state["influence_target"]
        summary = (
            f"{KINDS[st.session_state['influence_kind']].format(good=st.session_state['influence_good'], bad=st.session_state['influence_bad'])}"
            f" at word {where + 1}, {METHOD_NAMES.get(st.session_state.get('influence_method', 'grad'), '')}"
        )
        box = st.expander(f"Target and method: {md(summary)}", expanded=False)
    else:
        box = st.container()
    row = box.columns(3)
    position = row[0].selectbox(
        "Target word (the prediction to explain)",
        positions,
        key="influence_target",
        format_func=lambda k: f"{k + 1} “{tokens[k]}”" if k < len(tokens) else "after the text (the model's own guess)",
    )
    # The chosen word follows the target: the word at the target position itself (word k is predicted after word k - 1).
    moved = st.session_state.get("influence_word_for", position) != position
    if moved or not st.session_state.get("influence_word"):
        st.session_state["influence_word"] = tokens[position] if position < len(tokens) else plan.target
    st.session_state["influence_word_for"] = position
    good, bad = st.session_state["influence_good"], st.session_state["influence_bad"]
    kind = row[1].radio(
        "Target function",
        list(KINDS),
        key="influence_kind",
        format_func=lambda k: KINDS[k].format(good=good or "?", bad=bad or "?"),
    )
    method = row[2].selectbox("Method", list(METHOD_NAMES), format_func=METHOD_NAMES.get, key="influence_method")
    word, contrast = None, None
    if kind == "word":
        word = row[1].text_input("Chosen word", key="influence_word").strip()
    elif kind == "contrast":
        pair = row[1].columns(2)
        word = pair[0].text_input("Preferred word", key="influence_good").strip()
        contrast = pair[1].text_input("Against", key="influence_bad").strip()
    return {"position": position, "kind": kind, "method": method, "word": word or None, "contrast": contrast or None}


def _compute(entry: ModelEntry, context: Context, choice: dict) -> dict | None:
    try:
        return analysis_cache.influence(
            entry.path,
            entry.signature,
            context.text,
            choice["method"],
            choice["kind"],
            choice["word"],
            choice["contrast"],
        )
    except ValueError as error:
        st.error(f"{model_title(entry)}: {md(str(error))}", icon=":material/help:")
        return None


def _coloured_text(entry: ModelEntry, data: dict, choice: dict) -> None:
    row = choice["position"] - 1  # the prediction of word k is made after reading word k - 1
    values = [value if index <= row else None for index, value in enumerate(data["matrix"][row])]
    target_index = choice["position"] if choice["position"] < len(data["tokens"]) else None
    largest = max((abs(v) for v in values if v is not None), default=0.0)
    st.markdown(
        word_spans(data["tokens"], values, target_index=target_index, unknown=data["unknown"], marked=None),
        unsafe_allow_html=True,
    )
    value = data["values"][row]
    guess = (
        " (the model's own top guess: there is no next word in the text)"
        if data["last_is_guess"] and row == len(data["tokens"]) - 1
        else ""
    )
    st.caption(f"Target {md(data['description'])} = {value:+.3f} nats{guess}; darkest shade = {largest:.3g}.")


def matrix_step(count: int, presenter: bool = False) -> int:
    """Pixels per cell of the all-pairs matrix: square cells, about 560 pixels across, 7 to 40 each.

    In presenter mode every step is drawn 1.5 times larger (ui.widgets.charts.style_chart) beside 20 px labels,
    so the matrix aims at 320 pixels before that (480 after): at 560 it ran past the page at 1280 x 720.
    """
    if presenter:
        return int(min(40, max(4, 320 // max(count, 1))))
    return int(min(40, max(7, 560 // max(count, 1))))


def _matrix_chart(entry: ModelEntry, data: dict, signed: bool) -> alt.Chart:
    tokens = data["tokens"]
    labels = word_labels(tokens)
    targets = [
        f"→ {index + 2} {tokens[index + 1]}" if index + 1 < len(tokens) else "→ next" for index in range(len(tokens))
    ]
    rows = [
        {"word": labels[s], "prediction": targets[t], "influence": value}
        for t, matrix_row in enumerate(data["matrix"])
        for s, value in enumerate(matrix_row)
        if value is not None and s <= t
    ]
    scale = alt.Scale(scheme="redblue", domainMid=0, reverse=True) if signed else alt.Scale(scheme="reds")
    step = matrix_step(len(tokens), bool(st.session_state.get("presenter", False)))
    # Square stepped cells drawn at their own size: stretched to a column, the matrix shrank to a sliver.
    return (
        alt.Chart(pd.DataFrame(rows), title=f"{entry.name}: all pairs")
        .mark_rect()
        .encode(
            x=alt.X("word:N", sort=labels, title="earlier word", axis=alt.Axis(**word_axis(len(labels)))),
            y=alt.Y(
                "prediction:N",
                sort=targets,
                title="prediction of",
                axis=alt.Axis(labelOverlap=len(targets) > 30, labelLimit=220),
            ),
            color=alt.Color(
                "influence:Q", scale=scale, title="influence", legend=alt.Legend(orient="right", gradientLength=220)
            ),
            tooltip=["word", "prediction", alt.Tooltip("influence:Q", format=".4g")],
        )
        .properties(width=alt.Step(step), height=alt.Step(step))
    )


def _source_curve(context: Context, results: dict[str, dict], tokens: list[str]) -> None:
    st.subheader("One word's reach")
    plan = plan_for_text(tokens, context.text)
    capitalised = [index for index, token in enumerate(tokens) if index > 0 and token[:1].isupper() and token.isalpha()]
    default = plan.source_index if plan.source_index is not None else (capitalised[0] if capitalised else 0)
    _ensure("influence_source", list(range(len(tokens))), default)
    source = st.selectbox(
        "Source word", list(range(len(tokens))), key="influence_source", format_func=lambda s: f"{s + 1} “{tokens[s]}”"
    )
    names = [name for name in results]
    colours = model_colours(names, [next(e.arch for e in context.chosen if e.name == name) for name in names])
    rows = []
    for name, data in results.items():
        for t in range(source, len(data["tokens"])):
            value = data["matrix"][t][source]
            if value is not None:
                predicted = data["tokens"][t + 1] if t + 1 < len(data["tokens"]) else "(next)"
                rows.append(
                    {
                        "model": name,
                        "words later": t - source,
                        "prediction of": f"{t + 2} {predicted}",
                        "influence": value,
                    }
                )
    if not rows:
        st.info("No influence values for this word.")
        return
    chart = (
        alt.Chart(pd.DataFrame(rows), title=f"Influence of “{tokens[source]}” on every later prediction")
        .mark_line(point=True)
        .encode(
            x=alt.X(
                "words later:Q",
                title="words after the source word (0 = predicting the very next word)",
                axis=alt.Axis(tickMinStep=1, format="d"),
            ),
            y=alt.Y("influence:Q", title="influence"),
            color=alt.Color("model:N", scale=alt.Scale(domain=names, range=[colours[n] for n in names])),
            tooltip=["model", "prediction of", alt.Tooltip("influence:Q", format=".4g")],
        )
    )
    first = next(iter(results.values()))
    show_chart(
        chart,
        f"One column of each all-pairs matrix: the influence of the source word on the prediction of every later word, "
        f"by {METHOD_NAMES[first['method']].lower()} ({md(METHOD_WORDS[first['method']])}), target {md(first['description'])}. "
        "0 = no influence (the baseline). Units: nats of the target per unit of embedding for the gradient "
        "methods, nats for occlusion and integrated gradients.",
        key="influence_source_curve",
    )


def _span_section(context: Context, choice: dict, plan: CuePlan, tokens: list[str]) -> None:
    """Attribution summed over the cue's parts and the whole cue, by five methods, and whether they agree."""
    st.subheader("Which words carry it: the cue's parts and the whole cue")
    if plan.cue_span is None or not plan.replacement:
        st.info(
            "This sentence has no cue to swap (such as “Mr. Robert” before “his”); pick an example sentence or type one."
        )
        return
    target, contrast = (
        (choice["word"], choice["contrast"]) if choice["kind"] == "contrast" else (plan.target, plan.contrast)
    )
    if not target or not contrast:
        st.info("Choose a contrast (a word against another) to attribute it to the cue.")
        return
    offsets = get_checkpoint(context.chosen[0]).tokenizer.encode(context.text).offsets
    counterfactual_text = replace_span(context.text, offsets, plan.cue_span, plan.replacement)
    results = results_by_model(
        context.chosen,
        lambda entry: analysis_cache.span_attribution(
            entry.path, entry.signature, context.text, counterfactual_text, target, contrast
        ),
    )
    if not results:
        return
    pair = next(iter(results.values()))["pair"]
    parts = [label for label, _ in pair["parts"]]
    methods = list(SPAN_NAMES)
    with st.expander(
        f"What each method measures (for the margin log P({md(target)}) − log P({md(contrast)}))", expanded=True
    ):
        st.markdown("\n".join(f"- **{SPAN_NAMES[m]}**: {md(SPAN_WORDS[m])}" for m in methods))
    findings = []
    for entry in context.chosen:
        if entry.name in results:
            comparison = compare_with_gradient_norm(results[entry.name]["rows"], parts)
            findings.append(
                (
                    comparison.agree,
                    f"- **{model_title(entry)}**: {md(comparison.sentence(SPAN_NAMES, target, contrast))}",
                )
            )
    # One box for all models: a warning when any model's signed methods disagree with the gradient norm.
    (st.markdown if all(agree for agree, _ in findings) else st.warning)("\n".join(line for _, line in findings))
    rows = [
        dict(row, model=name, method_name=SPAN_NAMES[row["method"]])
        for name, data in results.items()
        for row in data["rows"]
    ]
    names = [entry.name for entry in context.chosen if entry.name in results]
    colours = model_colours(names, [entry.arch for entry in context.chosen if entry.name in results])
    spans = list(dict.fromkeys(row["span"] for row in rows))
    chart = (
        alt.Chart(pd.DataFrame(rows), title=f"What each cue span does to {target} over {contrast}, by method")
        .mark_bar()
        .encode(
            y=alt.Y("span:N", sort=spans, title=None),
            yOffset=alt.YOffset("model:N", sort=names),
            x=alt.X("value:Q", title=None),
            color=alt.Color(
                "model:N",
                scale=alt.Scale(domain=names, range=[colours[n] for n in names]),
                legend=alt.Legend(orient="bottom"),
            ),
            # Three panels to a row: five side by side (5 x 170 px and the labels) ran past the page at 1280 px.
            facet=alt.Facet("method_name:N", sort=[SPAN_NAMES[m] for m in methods], title=None, columns=3),
            tooltip=["model", "span", "method_name", alt.Tooltip("value:Q", format="+.3f")],
        )
        .properties(width=170, height=alt.Step(12))
    )
    show_chart(
        chart,
        "Each bar: the span's part of the margin, in nats (gradient size: nats per unit of embedding). "
        f"One panel per method: each cue part ({', '.join(quote(p) for p in parts)}) and the whole cue "
        f"{quote(pair['cue_text'])}, for every model, at the prediction of word {pair['target_position'] + 1}. Signed "
        f"methods: above 0 the span raises {md(target)} over {md(contrast)}, below 0 it lowers it; 0 = no effect (the "
        f"baseline). The swap puts in {quote(pair['replacement_text'])}; occlusion puts in <unk>. Gradient size is "
        "never negative: it says how sensitive the prediction is, not which way the span pushes.",
        key="influence_spans",
        width="content",
    )


def render(context: Context) -> None:
    """Draw the Memory and influence view."""
    if not context.presenter:  # on a projector the shaded sentences need the first screen
        st.markdown(
            "Pick a word in the sentence. Each model's text is shaded by how much every earlier word pushed the "
            "prediction of that word: this is what the model remembers and uses."
        )
    first = analysis_cache.next_word(context.chosen[0].path, context.chosen[0].signature, context.text, 1)
    tokens = first["tokens"]
    plan = plan_for_text(tokens, context.text)
    choice = controls(tokens, context.text, plan)
    signed = choice["method"] in SIGNED
    st.markdown(f"**{METHOD_NAMES[choice['method']]}** measures {md(METHOD_WORDS[choice['method']])}.")
    if choice["kind"] == "contrast" and choice["word"] and choice["contrast"]:
        preset = preset_for_text(context.text)
        preference_finding(
            context.chosen,
            context.text,
            choice["position"],
            choice["word"],
            choice["contrast"],
            preset.if_all_fail if preset else "",
        )
    st.markdown(
        legend("raises the target", "lowers the target") if signed else legend("strong influence", None),
        unsafe_allow_html=True,
    )
    results: dict[str, dict] = {}
    for column, entry in zip(titled_columns(context.chosen), context.chosen):
        with column:
            data = _compute(entry, context, choice)
            if data is not None:
                results[entry.name] = data
                _coloured_text(entry, data, choice)
    if not results:
        return
    st.caption(
        f"Shade = {md(METHOD_WORDS[choice['method']])}; each model's darkest word is its largest value in this row, "
        "white = 0, the baseline of no influence. Underlined: the word being predicted; struck through: unknown words. "
        "Nats: natural-log units of probability."
    )
    _span_section(context, choice, plan, tokens)
    st.subheader("All pairs")
    shown = [e for e in context.chosen if e.name in results]
    for container, entry in zip(per_model(shown), shown):
        with container:
            show_chart(
                _matrix_chart(entry, results[entry.name], signed),
                f"Row: the prediction of a word; column: an earlier word; colour: {md(METHOD_WORDS[choice['method']])}. "
                f"Target {md(results[entry.name]['description'])}. Blank above the diagonal: a prediction cannot see "
                "later words. White/0 = no influence.",
                key=f"influence_matrix_{entry.name}",
                width="content",
            )
    _source_curve(context, results, tokens)
    target, contrast = (
        (choice["word"], choice["contrast"]) if choice["kind"] == "contrast" else (plan.target, plan.contrast)
    )
    counterfactual(context, target, contrast, tokens, plan)
    st.caption(EXPORT_HINT)
