"""Lecture step 6: the swap ladder. Push the cue further away; how long does each model still feel it?"""

from __future__ import annotations

from typing import Any

import streamlit as st

from model.analysis.lesson import swap_span
from ui.lecture import frame, numbers, wording
from ui.lecture.figures import line_chart
from ui.lecture.lesson import Lesson
from ui.lecture.steps_cue import _strip
from ui.widgets.charts import model_colours
from ui.widgets.markup import md


def distance(lesson: Lesson, toolbar: Any = None) -> None:
    """Step 6: the cue's swap effect and the gradient with respect to it, against distance; each memory span."""
    pair = lesson.pair
    labels = lesson.labels
    ladders, problems = {}, []
    for entry in lesson.models:
        try:
            ladders[entry.name] = numbers.ladder(entry.path, entry.signature, *lesson.args)
        except ValueError as error:
            problems.append((labels[entry.name], str(error)))
    # One notice per distinct reason, naming the models it applies to (the shipped models share a tokenizer).
    reasons = {reason: [label for label, same in problems if same == reason] for _, reason in problems}
    notes = [f"{wording.capitalised(wording.listed(names))}: {reason}" for reason, names in reasons.items()]
    if not ladders:
        frame.title(6, "The distance ladder cannot be built for this sentence")
        _strip(lesson)
        with frame.figure(6):
            for note in notes:
                st.info(md(note), icon=":material/straighten:")
        return
    effect_rows, gradient_rows, span_rows, vanishing_rows, rules = [], [], [], [], []
    for entry in lesson.models:
        data = ladders.get(entry.name)
        if data is None:
            continue
        series = wording.capitalised(labels[entry.name])
        span = swap_span(data["distances"], data["effect"], pair["cue_text"], pair["target"])
        span_rows.append(
            {
                "label": labels[entry.name],
                "value": span["value"],
                "beyond": span["beyond"],
                "measurable": span["measurable"],
                "display": span["display"],
                "reference": span["reference"],
            }
        )
        if span["value"] is not None:
            rules.append({"x": span["value"], "series": series})
        for back, effect, gradient in zip(data["distances"], data["effect"], data["influence"]):
            effect_rows.append({"x": back, "y": effect, "series": series, "path": "swap effect"})
            gradient_rows.append({"x": back, "y": gradient, "series": series, "path": "gradient"})
        vanishing_rows.append(
            {
                "label": labels[entry.name],
                "gradient_first": data["influence"][0],
                "gradient_last": data["influence"][-1],
                "effect_last": data["effect"][-1],
            }
        )
    first = next(iter(ladders.values()))
    longest = first["distances"][-1]
    frame.title(6, wording.distance_title(span_rows, longest))
    _strip(lesson)
    lines = [
        f"Each rung puts more neutral clauses between {wording.quoted(first['source'])} and "
        f"{wording.quoted(pair['target'])}, in both sentences; the effect is how much the swap still moves the prediction."
    ]
    gradient = wording.vanishing_sentence(vanishing_rows, first["source"])
    lines.append(
        gradient or "Memory span: the distance at which the effect falls to half its value at the shortest rung."
    )
    lines += notes[:1]
    frame.sentences(lines)
    colours = model_colours([entry.name for entry in lesson.models], [entry.arch for entry in lesson.models])
    series_colours = {
        wording.capitalised(labels[entry.name]): colours[entry.name] for entry in lesson.models if entry.name in ladders
    }
    spans_text = "; ".join(f"{row['label']} {row['display']}" for row in span_rows)
    with frame.figure(6):
        left, right = st.columns([3, 2])
        with left:
            spec, rows = line_chart(
                effect_rows,
                "words between cue and target",
                "swap effect (nats)",
                series_colours,
                rules=rules,
                zero=True,
            )
            frame.chart(
                spec,
                rows,
                f"Swap effect = f(sentence) − f(counterfactual), f = {md(lesson.contrast_formula)} in nats at the "
                f"prediction of “{md(pair['target'])}”, on each rung of the ladder (exact re-runs); 0 = the cue no longer "
                f"matters, the baseline. Dotted lines, in each model's colour: memory spans, where the effect falls to half its value "
                f"at the shortest rung ({md(spans_text)}).",
                key="lecture_ladder_effect",
                height=300,
            )
        with right:
            spec, rows = line_chart(
                gradient_rows, "words between cue and target", "gradient size", series_colours, zero=True
            )
            frame.chart(
                spec,
                rows,
                f"‖∂f/∂e‖₂ with respect to the word vector of “{md(first['source'])}” on the same rungs (nats per unit "
                "of embedding, automatic differentiation): how strongly a small change of the cue word still reaches the "
                "prediction. 0 = not at all.",
                key="lecture_ladder_gradient",
                height=300,
            )
