"""Next word: what each model expects next, and how surprised it was by each actual word."""

from __future__ import annotations

import json

import pandas as pd
import streamlit as st

from ui.page_context import Context
from ui.services import analysis_cache
from ui.services.presets import next_word_row, plan_for_text, preset_for_text
from ui.widgets.charts import (
    EXPORT_HINT,
    column_title,
    field,
    model_colours,
    show_spec,
    word_axis,
    word_labels,
)
from ui.widgets.common import position_labels, preference_finding, titled_columns, unknown_notices
from ui.widgets.markup import md, quote, word_spans

TOP_K = 10


def cell_label(probability: float | None) -> str:
    """Two decimals, or one significant digit below 0.005 (so a small probability never reads "0.00")."""
    if probability is None:
        return "?"
    return f"{probability:.2f}" if probability >= 0.005 else f"{probability:.0e}"


def strip_font_px(words: int, presenter: bool) -> int:
    """The size of the numbers in the strip's cells: projector size while a cell is wide enough for "2e-03"."""
    if not presenter:
        return 11
    return 20 if words <= 12 else 16 if words <= 17 else 12


def _strip_chart(labels: list[str], model_names: list[str], presenter: bool = False) -> dict:
    """Vega-Lite spec: one row per model, one cell per actual word, coloured and labelled by its probability."""
    tooltip = [
        field("model", "nominal"),
        field("word", "nominal"),
        field("probability", "quantitative", format=".3f"),
        field("surprise_bits", "quantitative", format=".2f"),
        field("rank", "quantitative"),
        field("unknown", "nominal"),
    ]
    return {
        "title": "Probability each model gave the word that actually came",
        "height": {"step": 36},
        "encoding": {
            "x": field("word", "nominal", sort=labels, title="actual word (position)", axis=word_axis(len(labels))),
            "y": field("model", "nominal", sort=model_names, title=None),
        },
        "layer": [
            {
                "mark": {"type": "rect"},
                "encoding": {
                    "color": field(
                        "probability",
                        "quantitative",
                        scale={"scheme": "greens", "domain": [0, 1]},
                        title="P(actual word)",
                    ),
                    "tooltip": tooltip,
                },
            },
            {
                "mark": {"type": "text", "fontSize": strip_font_px(len(labels), presenter)},
                "encoding": {
                    "text": field("label", "nominal"),
                    "color": {"condition": {"test": "datum.probability > 0.5", "value": "white"}, "value": "black"},
                },
            },
        ],
    }


def _top_chart(
    top: list[dict], colour: str, title: str, x_max: float, highlight: tuple[str, ...]
) -> tuple[dict, pd.DataFrame]:
    """Vega-Lite spec and rows: the top words as bars, best first, each labelled with its probability.

    Args:
        top: {"word", "prob", "rank"} rows, best first (the highlighted words may follow with larger ranks).
        colour: the model's colour.
        title: chart title.
        x_max: the right end of the probability axis, shared by every model's chart so bars compare.
        highlight: the words the lesson is about (drawn solid and bold; the others faded).
    """
    frame = pd.DataFrame(top)
    frame["highlight"] = frame["word"].isin(highlight)
    # Three decimals, or one significant digit below 0.0005 (so "were" never reads 0.000).
    frame["label"] = [
        (f"{prob:.3f}" if prob >= 0.0005 else f"{prob:.0e}") + (f" (rank {rank})" if rank > TOP_K else "")
        for prob, rank in zip(frame["prob"], frame["rank"])
    ]
    # json.dumps makes each word a quoted Vega string literal (a quote or backslash in a word stays inert).
    bold = {
        "condition": {"test": f"indexof({json.dumps(list(highlight))}, datum.value) >= 0", "value": "bold"},
        "value": "normal",
    }
    spec = {
        # Small on purpose: the model's name stands above in large type, and in a third of the page a 20 px title
        # was cut to the plot's width ("top 10 ne…").
        "title": column_title(title).to_dict(),
        "height": {"step": 24},
        # The order as a list, best first: one order for every layer (the label layers hold different rows).
        # The same x domain, with room for the largest bar's label, and a fixed-width word axis: every model's plot
        # has the same width, so equal probabilities are equal bars across the columns.
        "encoding": {
            "x": field(
                "prob",
                "quantitative",
                title="probability",
                scale={"domain": [0, x_max * 1.35], "nice": False},
                axis={"tickCount": 4},
            ),
            "y": field(
                "word",
                "nominal",
                sort=list(frame["word"]),
                title=None,
                axis={"labelFontWeight": bold, "minExtent": 70, "maxExtent": 70},
            ),
        },
        "layer": [
            {
                "mark": {"type": "bar", "color": colour},
                "encoding": {
                    "tooltip": [
                        field("rank", "quantitative"),
                        field("word", "nominal"),
                        field("prob", "quantitative", format=".4f"),
                    ],
                    "opacity": {"condition": {"test": "datum.highlight", "value": 1.0}, "value": 0.45},
                },
            },
            {
                "mark": {"type": "text", "align": "left", "dx": 3},
                "transform": [{"filter": "!datum.highlight"}],
                "encoding": {"text": field("label", "nominal")},
            },
            {
                "mark": {"type": "text", "align": "left", "dx": 3, "fontWeight": "bold"},
                "transform": [{"filter": "datum.highlight"}],
                "encoding": {"text": field("label", "nominal")},
            },
        ],
    }
    return spec, frame


def _with_lesson_words(result: dict, scores: dict[str, dict | None], row: int) -> list[dict]:
    """The top words after ``row`` words, plus the lesson's words (with their ranks) when they are not among them."""
    top = [dict(item, rank=rank) for rank, item in enumerate(result["top"][row], start=1)]
    shown = {item["word"] for item in top}
    extra = [
        {"word": word, "prob": score["prob"], "rank": score["rank"]}
        for word, score in scores.items()
        if score is not None and word not in shown
    ]
    return top + sorted(extra, key=lambda item: item["rank"])


def _ensure_position(options: list[str], default: str, text: str) -> None:
    """Open at the lesson's target for a new sentence; keep the reader's choice while the sentence stays."""
    if st.session_state.get("next_word_text") != text or st.session_state.get("next_word_position") not in options:
        st.session_state["next_word_text"] = text
        st.session_state["next_word_position"] = default


def render(context: Context) -> None:
    """Draw the Next word view for every chosen model: what each expects at the lesson's word, then every word."""
    if not context.presenter:  # the bars say it on a projector
        st.markdown("After each word, a language model gives every word it knows a probability of coming next.")
    results = {
        entry.name: analysis_cache.next_word(entry.path, entry.signature, context.text, TOP_K)
        for entry in context.chosen
    }
    first = results[context.chosen[0].name]
    tokens = first["tokens"]
    names = [entry.name for entry in context.chosen]
    colours = model_colours(names, [entry.arch for entry in context.chosen])
    plan = plan_for_text(tokens, context.text)
    lesson = tuple(word for word in (plan.target, plan.contrast) if word) if plan.contrast else ()

    options = position_labels(tokens)
    # A sentence with a lesson (a pronoun after a name, a preset) opens where the lesson's word is predicted.
    _ensure_position(options, options[next_word_row(tokens, context.text)], context.text)
    picked = st.select_slider(
        "Position",
        options=options,
        key="next_word_position",
        help="Slide to see what each model expected after that word.",
    )
    row = options.index(picked)
    scores = {
        entry.name: analysis_cache.word_scores(entry.path, entry.signature, context.text, row, lesson)
        for entry in context.chosen
    }
    if lesson and row == plan.target_index:
        preset = preset_for_text(context.text)
        preference_finding(
            context.chosen, context.text, row, plan.target, plan.contrast, preset.if_all_fail if preset else ""
        )
    bars = {entry.name: _with_lesson_words(results[entry.name], scores[entry.name], row) for entry in context.chosen}
    x_max = max(0.05, max(item["prob"] for rows in bars.values() for item in rows))
    for column, entry in zip(titled_columns(context.chosen), context.chosen):
        result = results[entry.name]
        with column:
            if not context.presenter:  # on a projector the position slider says it; the chart needs the room
                marked = [index == row - 1 for index in range(len(result["tokens"]))]
                st.markdown(
                    word_spans(
                        result["tokens"][:row] or ["(nothing yet)"],
                        [None] * max(row, 1),
                        marked=marked,
                        unknown=result["unknown"][:row],
                    ),
                    unsafe_allow_html=True,
                )
            show_spec(
                *_top_chart(
                    bars[entry.name], colours[entry.name], f"{entry.name}: top {TOP_K} next words", x_max, lesson
                ),
                f"The {TOP_K} most probable next words of {md(entry.name)} {md(picked)}, as probabilities (0 to 1) from "
                "the softmax over its whole vocabulary; one probability axis for every model"
                + (
                    f", {' and '.join(quote(word) for word in lesson)} in bold (with their rank when outside the top {TOP_K})"
                    if lesson
                    else ""
                )
                + f". Baseline: uniform guessing gives {1 / result['vocab_size']:.1e} per word. <unk> stands for any word "
                "outside the vocabulary.",
                key=f"next_word_top_{entry.name}",
            )

    st.subheader("Every word of the sentence")
    unknown_anywhere = [any(results[e.name]["unknown"][i] for e in context.chosen) for i in range(len(tokens))]
    # "(?)" marks a word some chosen model does not know (it reads <unk> there).
    labels = [label + (" (?)" if unknown_anywhere[i] else "") for i, label in enumerate(word_labels(tokens))]
    rows = []
    for entry in context.chosen:
        result = results[entry.name]
        for index, actual in enumerate(result["actual"]):
            rows.append(
                {
                    "model": entry.name,
                    "word": labels[index],
                    "probability": actual["prob"],
                    "label": cell_label(actual["prob"]),
                    "surprise_bits": actual["bits"],
                    "rank": actual["rank"],
                    "unknown": result["unknown"][index],
                }
            )
    show_spec(
        _strip_chart(labels, names, context.presenter),
        pd.DataFrame(rows),
        "Each cell: the probability (0 to 1) the model gave the word in that column, having read only the words to its "
        "left (the first word is predicted from the start of a paragraph). Method: softmax of the model's output, "
        "exact, no sampling. Baseline: a model that knows nothing would give each word 1 / vocabulary size "
        f"(≈ {1 / first['vocab_size']:.1e} here). Surprise in bits = −log2(probability). (?) after a word: "
        f"unknown to a model, which then gives the probability of <unk>. {EXPORT_HINT}",
        key="next_word_strip",
    )
    unknown_notices(
        [(entry, results[entry.name]["tokens"], results[entry.name]["unknown"]) for entry in context.chosen]
    )
    table = pd.DataFrame(rows).pivot(index="word", columns="model", values="probability").reindex(labels)[names]
    st.dataframe(
        table, width="stretch", column_config={name: st.column_config.NumberColumn(format="%.4f") for name in names}
    )
    st.caption(
        "The numbers of the strip above: probability (0 to 1) each model gave each actual word given the words before it."
    )
