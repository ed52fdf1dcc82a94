"""Next word: what each model expects next, and how surprised it was by each actual word."""
from __future__ import annotations

import pandas as pd
import streamlit as st

from ui import analysis_cache
from ui.charts import EXPORT_HINT, field, model_colours, show_spec, word_labels
from ui.common import model_title, position_labels, side_by_side, unknown_notices
from ui.context import Context
from ui.markup import md, word_spans

TOP_K = 10


def cell_label(probability: float | None) -> str:
    """Two decimals, or one significant digit below 0.005 (so a small probability never reads "0.00")."""
    if probability is None:
        return "?"
    return f"{probability:.2f}" if probability >= 0.005 else f"{probability:.0e}"


def _strip_chart(labels: list[str], model_names: list[str]) -> dict:
    """Vega-Lite spec: one row per model, one cell per actual word, coloured and labelled by its probability."""
    tooltip = [field("model", "nominal"), field("word", "nominal"), field("probability", "quantitative", format=".3f"),
               field("surprise_bits", "quantitative", format=".2f"), field("rank", "quantitative"), field("unknown", "nominal")]
    return {
        "title": "Probability each model gave the word that actually came",
        "height": {"step": 36},
        "encoding": {"x": field("word", "nominal", sort=labels, title="actual word (position)"),
                     "y": field("model", "nominal", sort=model_names, title=None)},
        "layer": [
            {"mark": {"type": "rect"},
             "encoding": {"color": field("probability", "quantitative", scale={"scheme": "greens", "domain": [0, 1]}, title="P(actual word)"),
                          "tooltip": tooltip}},
            {"mark": {"type": "text", "fontSize": 11},
             "encoding": {"text": field("label", "nominal"),
                          "color": {"condition": {"test": "datum.probability > 0.5", "value": "white"}, "value": "black"}}},
        ],
    }


def _top_chart(top: list[dict], colour: str, title: str) -> tuple[dict, pd.DataFrame]:
    """Vega-Lite spec and rows: the top words as bars, best first, each labelled with its probability."""
    frame = pd.DataFrame(top)
    frame["rank"] = range(1, len(frame) + 1)
    spec = {
        "title": title,
        "height": {"step": 24},
        "encoding": {"x": field("prob", "quantitative", title="probability", scale={"domain": [0, max(0.05, float(frame["prob"].max()))]}),
                     "y": field("word", "nominal", sort={"field": "rank", "order": "ascending"}, title=None)},
        "layer": [
            {"mark": {"type": "bar", "color": colour},
             "encoding": {"tooltip": [field("rank", "quantitative"), field("word", "nominal"), field("prob", "quantitative", format=".4f")]}},
            {"mark": {"type": "text", "align": "left", "dx": 3}, "encoding": {"text": field("prob", "quantitative", format=".3f")}},
        ],
    }
    return spec, frame


def render(context: Context) -> None:
    """Draw the Next word view for every chosen model."""
    st.markdown(
        "A language model reads the sentence one word at a time and, after each word, gives every word in its "
        "vocabulary a probability of coming next. Low probability for the word that really came = surprise."
    )
    results = {entry.name: analysis_cache.next_word(entry.path, entry.signature, context.text, TOP_K) for entry in context.chosen}
    first = results[context.chosen[0].name]
    tokens = first["tokens"]
    unknown_anywhere = [any(results[e.name]["unknown"][i] for e in context.chosen) for i in range(len(tokens))]
    # "(?)" marks a word some chosen model does not know (it reads <unk> there).
    labels = [label + (" (?)" if unknown_anywhere[i] else "") for i, label in enumerate(word_labels(tokens))]
    names = [entry.name for entry in context.chosen]
    colours = model_colours(names, [entry.arch for entry in context.chosen])

    rows = []
    for entry in context.chosen:
        result = results[entry.name]
        for index, actual in enumerate(result["actual"]):
            rows.append({
                "model": entry.name, "word": labels[index], "probability": actual["prob"], "label": cell_label(actual["prob"]),
                "surprise_bits": actual["bits"], "rank": actual["rank"], "unknown": result["unknown"][index],
            })
    show_spec(
        _strip_chart(labels, names), pd.DataFrame(rows),
        "Each cell: the probability (0 to 1) the model gave the word in that column, having read only the words to its "
        "left (the first word is predicted from the start of a paragraph). Method: softmax of the model's output, "
        "exact, no sampling. Baseline: a model that knows nothing would give each word 1 / vocabulary size "
        f"(≈ {1 / first['vocab_size']:.1e} here). Surprise in bits = −log2(probability). (?) after a word: "
        f"unknown to a model, which then gives the probability of <unk>. {EXPORT_HINT}",
        key="next_word_strip",
    )
    unknown_notices([(entry, results[entry.name]["tokens"], results[entry.name]["unknown"]) for entry in context.chosen])

    st.subheader("Top predictions at one position")
    options = position_labels(tokens)
    picked = st.select_slider("Position", options=options, value=options[-1], key="next_word_position",
                              help="Slide to see what each model expected after that word.")
    row = options.index(picked)
    for column, entry in zip(side_by_side(context.chosen), context.chosen):
        result = results[entry.name]
        with column:
            st.markdown(f"**{model_title(entry)}**")
            marked = [index == row - 1 for index in range(len(result["tokens"]))]
            st.markdown(word_spans(result["tokens"][:row] or ["(nothing yet)"], [None] * max(row, 1), marked=marked,
                                   unknown=result["unknown"][:row]), unsafe_allow_html=True)
            show_spec(
                *_top_chart(result["top"][row], colours[entry.name], f"{entry.name}: top {TOP_K} next words"),
                f"The {TOP_K} most probable next words of {md(entry.name)} {md(picked)}, as probabilities (0 to 1) from "
                "the softmax over its whole vocabulary. Baseline: uniform guessing gives "
                f"{1 / result['vocab_size']:.1e} per word. <unk> stands for any word outside the vocabulary.",
                key=f"next_word_top_{entry.name}",
            )
    table = pd.DataFrame(rows).pivot(index="word", columns="model", values="probability").reindex(labels)[names]
    st.dataframe(table, width="stretch", column_config={name: st.column_config.NumberColumn(format="%.4f") for name in names})
    st.caption("The numbers of the strip above: probability (0 to 1) each model gave each actual word given the words before it.")
