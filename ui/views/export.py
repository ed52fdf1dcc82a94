"""Export: the analysis of the sentence as JSON and CSV, and how to save each chart as a picture."""

from __future__ import annotations

import io
import json
from typing import Any

import pandas as pd
import streamlit as st

from model.analysis.lesson import safe_fillers
from model.analysis.memory.ladder import DEFAULT_FILLERS
from ui.page_context import Context
from ui.services import analysis_cache
from ui.services.influence_choice import export_choice
from ui.services.model_store import ModelEntry
from ui.views.ladder import ladder_defaults
from ui.widgets.charts import drawn_charts, picture
from ui.widgets.markup import md


def per_word_table(context: Context) -> pd.DataFrame:
    """One row per (model, word): probability and surprise of the word, gate means and state norms after it."""
    rows = []
    for entry in context.chosen:
        prediction = analysis_cache.next_word(entry.path, entry.signature, context.text, 5)
        state = analysis_cache.gates(entry.path, entry.signature, context.text)
        for index, token in enumerate(prediction["tokens"]):
            actual = prediction["actual"][index]
            row: dict[str, Any] = {
                "model": entry.name,
                "arch": entry.arch,
                "position": index + 1,
                "word": token,
                "unknown": prediction["unknown"][index],
                "probability": actual["prob"],
                "surprise_bits": actual["bits"],
                "rank": actual["rank"],
                "top_next_word": prediction["top"][index + 1][0]["word"],
                "top_next_probability": prediction["top"][index + 1][0]["prob"],
                "hidden_norm": state["hidden_norm"][index],
            }
            if "cell_norm" in state:
                row["cell_norm"] = state["cell_norm"][index]
            for gate, values in state["means"].items():
                row[f"mean_{gate}"] = values[index]
            rows.append(row)
    return pd.DataFrame(rows)


def bundle(
    entries: list[ModelEntry], text: str, target: str | None, contrast: str | None, method: str
) -> dict[str, Any]:
    """model.analysis.report.analyze_text for every model, plus its distance ladder, as one JSON-able dict.

    Args:
        entries: the models.
        text: the checked sentence.
        target, contrast, method: the influence target words and method (see ui.services.influence_choice.export_choice).
    """

    ladder_sentence, ladder_words = ladder_defaults(entries, text)
    fillers = safe_fillers(DEFAULT_FILLERS, list(ladder_words.values()))
    models = {}
    for entry in entries:
        try:
            result = analysis_cache.report(entry.path, entry.signature, text, target, contrast, method)
        except ValueError as error:
            # The chosen words are not in this model's vocabulary: explain the actual next word instead.
            result = analysis_cache.report(entry.path, entry.signature, text, None, None, method)
            result["note"] = f"Target fell back to the next word: {error}"
        try:
            result["ladder"] = analysis_cache.ladder(
                entry.path,
                entry.signature,
                ladder_sentence,
                ladder_words["source"],
                ladder_words["target"],
                ladder_words["contrast"],
                10,
                None,
                fillers,
            )
            result["memory_span"] = result["ladder"]["memory_span"]
        except ValueError as error:
            result["ladder"] = {"error": str(error)}
        models[entry.name] = result
    return {"app": "Memory Lab", "text": text, "models": models}


def bundle_json(entries: list[ModelEntry], text: str, target: str | None, contrast: str | None, method: str) -> bytes:
    """:func:`bundle` as UTF-8 JSON bytes (strict JSON: no NaN)."""
    return json.dumps(
        bundle(entries, text, target, contrast, method), ensure_ascii=False, indent=1, allow_nan=False
    ).encode("utf-8")


def _pictures() -> None:
    """Every chart drawn in this session, as an SVG or PNG file made offline (vl-convert)."""
    st.subheader("Charts as pictures")
    drawn = drawn_charts()
    if not drawn:
        st.info(
            "Open any other tab first: each chart it draws can then be saved here as SVG or PNG.",
            icon=":material/image:",
        )
        return
    keys = list(drawn)[::-1]  # the newest first
    key = st.selectbox(
        "Chart",
        keys,
        key="export_chart",
        format_func=lambda k: drawn[k]["title"] or k,
        help="The charts of the tabs you opened in this session, the latest first.",
    )
    chart = drawn[key]["chart"]
    safe = "".join(character if character.isalnum() else "-" for character in key).strip("-") or "chart"
    row = st.columns(2)
    # Built on click (deferred) and no rerun on click, so one download never invalidates the other's file.
    row[0].download_button(
        "Download as SVG",
        lambda: picture(chart, "svg"),
        file_name=f"memory-lab-{safe}.svg",
        mime="image/svg+xml",
        key="export_svg",
        icon=":material/draw:",
        on_click="ignore",
        width="stretch",
    )
    row[1].download_button(
        "Download as PNG",
        lambda: picture(chart, "png"),
        file_name=f"memory-lab-{safe}.png",
        mime="image/png",
        key="export_png",
        icon=":material/image:",
        on_click="ignore",
        width="stretch",
    )
    st.caption(
        "Drawn on this computer by vl-convert, Vega's own renderer: no browser and no network needed. SVG scales to any "
        "size; PNG is drawn at twice the chart's size. Presenter mode's large type is kept when it is on."
    )


def render(context: Context) -> None:
    """Draw the Export view."""
    st.markdown("Take the numbers with you. Everything here is recomputed from the models for the sentence above.")
    table = per_word_table(context)
    st.dataframe(table, width="stretch", hide_index=True)
    st.caption(
        "Per model and word: probability (0 to 1) the model gave the word from the words before it, surprise in "
        "bits (−log2 probability), the rank of the word among all predictions, the top next-word guess after it, "
        "the mean of each gate over units, and the L2 norms of the hidden and cell state after it."
    )
    buffer = io.StringIO()
    table.to_csv(buffer, index=False)
    safe = (
        "".join(character if character.isalnum() else "-" for character in context.text[:30]).strip("-") or "sentence"
    )
    st.download_button(
        "Download the per-word table (CSV)",
        buffer.getvalue().encode("utf-8"),
        file_name=f"memory-lab-{safe}.csv",
        mime="text/csv",
        key="export_csv",
        icon=":material/table:",
        on_click="ignore",
    )
    target, contrast, method = export_choice()
    entries, text = list(context.chosen), context.text
    # Built only when the button is pressed: the full analysis takes seconds and megabytes.
    st.download_button(
        "Download the whole analysis (JSON)",
        lambda: bundle_json(entries, text, target, contrast, method),
        file_name=f"memory-lab-{safe}.json",
        mime="application/json",
        key="export_json",
        icon=":material/data_object:",
        on_click="ignore",
    )
    st.caption(
        f"The JSON holds, for each of {len(context.chosen)} model(s), the full analysis of the text "
        f"{md(repr(context.text[:60]))}: next-word predictions (top 10 at every position), every gate and state "
        "trace, saturation, the word-influence matrix (the method and target chosen in Memory and influence, his vs "
        "her by default) with occlusion beside it, the gradient flow, and the distance ladder (the one the Distance "
        "ladder tab starts from) with its memory span."
    )
    _pictures()
