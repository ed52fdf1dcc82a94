"""Lecture steps 1-3: what the models expect, what swapping the cue does, and which words carry it."""

from __future__ import annotations

from typing import Any

import streamlit as st

from model.analysis.lesson import SIGNED_METHODS
from ui.lecture import frame, numbers, wording
from ui.lecture.figures import expectation_chart, size_chart, span_chart, swap_chart
from ui.lecture.lesson import Lesson
from ui.widgets.markup import md

TOP_WORDS = 6


def _strip(lesson: Lesson) -> None:
    pair = lesson.pair
    st.markdown(
        frame.sentence_html(pair["tokens"], tuple(pair["cue_span"]), pair["target_position"], pair["target"]),
        unsafe_allow_html=True,
    )


def _predicted(lesson: Lesson) -> str:
    """ "word 10 (“his”)" or "the word after the text"."""
    position = lesson.pair["target_position"]
    if position >= len(lesson.tokens):
        return "the word after the text"
    return f"word {position + 1} ({wording.quoted(lesson.tokens[position])})"


def expectations(lesson: Lesson, toolbar: Any = None) -> None:
    """Step 1: each model's most probable next words after the context word, his and her highlighted."""
    target, contrast = lesson.target_word, lesson.contrast_word
    results = {
        entry.name: numbers.expectations(entry.path, entry.signature, *lesson.args, top_k=TOP_WORDS)
        for entry in lesson.models
    }
    labels = lesson.labels
    rows = [
        {"label": labels[name], "target": data["target"]["probability"], "contrast": data["contrast"]["probability"]}
        for name, data in results.items()
    ]
    frame.title(1, wording.expectation_title(rows, target, contrast, lesson.pair["context_word"]))
    _strip(lesson)
    frame.sentences(
        [
            f"Each bar is the probability a model gives that word as {_predicted(lesson)}, having read the words before it; "
            "all panels share one scale.",
            f"{wording.quoted(target)} is orange, {wording.quoted(contrast)} purple; grey bars are the model's other top guesses.",
        ]
    )
    largest = max(max(row["probability"] for row in data["top"]) for data in results.values())
    largest = max(largest, *(data[role]["probability"] for data in results.values() for role in ("target", "contrast")))
    vocab = lesson.pair["vocab_size"]
    with frame.figure(1):
        for column, entry in zip(st.columns(len(lesson.models)), lesson.models):
            data = results[entry.name]
            bars = list(data["top"])
            for role in ("target", "contrast"):
                if all(row["word"] != data[role]["word"] for row in bars):
                    bars.append({"word": data[role]["word"], "probability": data[role]["probability"]})
            ranks = f"{wording.quoted(target)} ranks {data['target']['rank']}, {wording.quoted(contrast)} {data['contrast']['rank']}"
            with column:
                spec, chart_rows = expectation_chart(
                    bars, wording.capitalised(labels[entry.name]), largest * 1.3, target, contrast
                )
                frame.chart(
                    spec,
                    chart_rows,
                    f"{md(entry.name)}: softmax probability (0 to 1) of each word as {md(_predicted(lesson))}; "
                    f"its top {TOP_WORDS} words plus the two compared ({md(ranks)} of {vocab:,}). "
                    f"Baseline: 1/{vocab:,} per word if the model knew nothing.",
                    key=f"lecture_expect_{entry.name}",
                    height=90 + 30 * len(chart_rows),
                )


def swap(lesson: Lesson, toolbar: Any = None) -> None:
    """Step 2: log P(target) - log P(contrast) on the sentence and with the cue swapped, one chart."""
    pair = lesson.pair
    results = {entry.name: numbers.swap(entry.path, entry.signature, *lesson.args) for entry in lesson.models}
    labels = lesson.labels
    rows = [{"label": labels[name], "before": data["before"], "after": data["after"]} for name, data in results.items()]
    target, contrast = lesson.target_word, lesson.contrast_word
    frame.title(2, wording.swap_title(rows, target, contrast))
    _strip(lesson)
    frame.sentences(wording.swap_sentences(rows, target, contrast, pair["cue_text"], pair["replacement_text"]))
    factual, counterfactual = f"with “{pair['cue_text']}”", f"with “{pair['replacement_text']}”"
    with frame.figure(2):
        spec, chart_rows = swap_chart(
            [dict(row, label=wording.capitalised(row["label"])) for row in rows],
            factual,
            counterfactual,
            f"{lesson.contrast_formula} (nats)",
        )
        frame.chart(
            spec,
            chart_rows,
            f"{md(lesson.contrast_formula)} in nats at the prediction of {md(_predicted(lesson))}, on the "
            f"sentence and on the same sentence with “{md(pair['cue_text'])}” replaced by “{md(pair['replacement_text'])}”: "
            f"exact, both sentences run through each model. 0 = no preference (the baseline); above 0 the model "
            f"prefers “{md(target)}”.",
            key="lecture_swap",
            height=340,
        )


def _focus(lesson: Lesson, key: str, preferred: str) -> tuple[str, object]:
    """A model picker for the steps about one model; the first model of ``preferred`` arch by default."""
    labels = lesson.labels
    names = [entry.name for entry in lesson.models]
    default = (lesson.first(preferred) or lesson.models[0]).name
    if st.session_state.get(key) not in names:
        st.session_state[key] = default
    if len(names) > 1:
        st.segmented_control(
            "Model",
            names,
            key=key,
            format_func=lambda name: wording.capitalised(labels[name]),
            label_visibility="collapsed",
            required=True,
            width="stretch",
        )
    name = st.session_state.get(key) or default
    return name, next(entry for entry in lesson.models if entry.name == name)


def spans(lesson: Lesson, toolbar: Any = None) -> None:
    """Step 3: which span of the cue carries the swap, by five methods, for one model."""
    pair = lesson.pair
    with toolbar if toolbar is not None else st.container():
        name, entry = _focus(lesson, "lecture_span_model", "lstm")
    rows = numbers.spans(entry.path, entry.signature, *lesson.args)
    labels = [label for label, _ in pair["parts"]]
    order = list(dict.fromkeys(row["span"] for row in rows))
    parts = {label: {row["method"]: row["value"] for row in rows if row["span"] == label} for label in labels}
    frame.title(3, wording.span_title(lesson.labels[name], parts))
    _strip(lesson)
    frame.sentences(wording.span_sentences(parts))
    with frame.figure(3):
        left, right = st.columns([3, 1])
        with left:
            spec, chart_rows = span_chart([row for row in rows if row["method"] in SIGNED_METHODS], order)
            frame.chart(
                spec,
                chart_rows,
                f"{md(entry.name)}: how much each span pushes f = {md(lesson.contrast_formula)} (nats) at the "
                f"prediction of {md(_predicted(lesson))}. Swap: f(sentence) − f(span taken from the counterfactual); hide: "
                "f(sentence) − f(span replaced by <unk>); integrated gradients (32 steps from an all-<unk> sentence) and "
                "gradient × input, summed over the span's words. 0 = no push, the baseline. A title's full stop is the "
                "same in both sentences and is left alone.",
                key="lecture_spans",
                height=300,
            )
        with right:
            spec, chart_rows = size_chart([row for row in rows if row["method"] == "grad"], order)
            frame.chart(
                spec,
                chart_rows,
                "‖∂f/∂e‖₂ over the span's word vectors together (nats per unit of embedding, "
                "by automatic differentiation); 0 = f does not react to the span. Never negative: no direction.",
                key="lecture_sizes",
                height=300,
            )
