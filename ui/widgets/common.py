"""Small helpers shared by the views: side-by-side columns, unknown-word notices, position pickers."""

from __future__ import annotations

from typing import Callable, Sequence, TypeVar

import streamlit as st

from model.analysis.preference import margin, summarize_preferences
from ui.services import analysis_cache
from ui.services.model_store import ModelEntry
from ui.widgets.markup import md

Result = TypeVar("Result")


def model_title(entry: ModelEntry) -> str:
    """ "novels-lstm (LSTM)" as Markdown-safe text."""
    return f"{md(entry.name)} ({(entry.arch or '?').upper()})"


def results_by_model(
    entries: Sequence[ModelEntry], compute: Callable[[ModelEntry], Result], icon: str | None = ":material/help:"
) -> dict[str, Result]:
    """compute(entry) for each model, by model name.

    A model that refuses the input (a ValueError: a word outside its vocabulary, a sentence too short for the
    method) gets its message on the page, under its name, and is left out, so the other models still show.
    """
    results: dict[str, Result] = {}
    for entry in entries:
        try:
            results[entry.name] = compute(entry)
        except ValueError as error:
            st.error(f"{model_title(entry)}: {md(str(error))}", icon=icon)
    return results


def side_by_side(entries: Sequence[ModelEntry]) -> list:
    """One column per model, in the order given."""
    return list(st.columns(len(entries))) if entries else []


def titled_columns(entries: Sequence[ModelEntry]) -> list:
    """One column per model under a row of the models' names in bold.

    The names get a row of their own so that a name that wraps to two lines in a third of the page
    ("novels19m-lstm (LSTM)" in presenter type) does not push that model's chart below its neighbours'.
    """
    if not entries:
        return []
    for column, entry in zip(st.columns(len(entries)), entries):
        column.markdown(f"**{model_title(entry)}**")
    return side_by_side(entries)


def unknown_notices(rows: Sequence[tuple[ModelEntry, Sequence[str], Sequence[bool]]]) -> None:
    """Warn which words each model does not know (read as <unk>), once for models that share the same gaps.

    Args:
        rows: (model, tokens, unknown flags) per model; models with the same unknown words
            (the shipped ones share a tokenizer) get one notice that names them all.
    """
    groups: dict[tuple[tuple[str, ...], bool], list[ModelEntry]] = {}
    for entry, tokens, unknown in rows:
        missing = tuple(token for token, is_unknown in zip(tokens, unknown) if is_unknown)
        if missing:
            groups.setdefault((missing, len(missing) == len(tokens)), []).append(entry)
    for (missing, everything), entries in groups.items():
        names = ", ".join(model_title(entry) for entry in entries)
        if everything:
            st.warning(
                f"{names} {'knows' if len(entries) == 1 else 'know'} none of these words: every one is read as <unk> "
                "(unknown), so the numbers say nothing about the sentence. Try ordinary English words.",
                icon=":material/help:",
            )
        else:
            distinct = list(dict.fromkeys(missing))
            shown = ", ".join(f"“{md(word)}”" for word in distinct[:12]) + (" …" if len(distinct) > 12 else "")
            st.caption(f"{names}: unknown words, read as <unk> and struck through: {shown}")


def position_labels(tokens: Sequence[str]) -> list[str]:
    """Labels for "after word t" pickers: "start", "after 1 Mr", "after 2 .", ..."""
    return ["start (before the first word)"] + [f"after {index + 1} “{token}”" for index, token in enumerate(tokens)]


def preference_finding(
    entries: Sequence[ModelEntry], text: str, position: int, target: str, contrast: str, why: str = ""
) -> None:
    """Say which models prefer ``target`` over ``contrast`` at one prediction, from the numbers.

    Reads log P(target) - log P(contrast) of every model (model.analysis.preference) and writes the
    finding as one line; when every model prefers the contrast it says so in a warning, with ``why``
    (a preset's explanation of the known failure) after it. Models that lack either word are left out.

    Args:
        entries: the models.
        text: the checked sentence.
        position: index of the predicted word (len(tokens) = after the text).
        target, contrast: the two words.
        why: one sentence on why this is hard (shown only when every model fails).
    """

    margins = {
        entry.name: margin(
            analysis_cache.word_scores(entry.path, entry.signature, text, position, (target, contrast)),
            target,
            contrast,
        )
        for entry in entries
    }
    try:
        summary = summarize_preferences(margins, target, contrast)
    except ValueError as error:
        st.caption(md(str(error)))
        return
    caption = (
        f"Margin = log P(“{md(target)}”) − log P(“{md(contrast)}”) at this prediction, in nats (natural-log units); "
        "0 is the baseline of no preference, above 0 the model prefers the first word."
    )
    if summary.all_wrong:
        st.warning(f"**{md(summary.sentence)}** {md(why)}", icon=":material/report:")
    else:
        st.markdown(f"**{md(summary.sentence)}**")
    st.caption(caption)


def per_model(entries: Sequence[ModelEntry]) -> list:
    """One container per model for a chart too wide for a third of the page (a heatmap over the words).

    Side-by-side columns for one or two models; for three or more (or two in presenter mode,
    where the type is large), one tab per model, each the page's full width.
    """
    if not entries:
        return []
    presenter = bool(st.session_state.get("presenter", False))
    if len(entries) >= 3 or (presenter and len(entries) >= 2):
        return list(st.tabs([model_title(entry) for entry in entries]))
    return list(st.columns(len(entries)))
