"""Small helpers shared by the views: side-by-side columns, unknown-word notices, position pickers."""
from __future__ import annotations

from typing import Sequence

import streamlit as st

from ui.markup import md
from ui.model_store import ModelEntry


def model_title(entry: ModelEntry) -> str:
    """"novels-lstm (LSTM)" as Markdown-safe text."""
    return f"{md(entry.name)} ({(entry.arch or '?').upper()})"


def side_by_side(entries: Sequence[ModelEntry]) -> list:
    """One column per model (a single column when presenter type would not fit three across)."""
    return list(st.columns(len(entries))) if entries else []


def unknown_notice(entry: ModelEntry, tokens: Sequence[str], unknown: Sequence[bool]) -> None:
    """Warn which words this model does not know (they are read as <unk>)."""
    missing = [token for token, is_unknown in zip(tokens, unknown) if is_unknown]
    if not missing:
        return
    distinct = list(dict.fromkeys(missing))
    if len(missing) == len(tokens):
        st.warning(
            f"{model_title(entry)} knows none of these words: it reads every one as <unk> (unknown), "
            "so its numbers say nothing about the sentence. Try ordinary English words.",
            icon=":material/help:",
        )
    else:
        shown = ", ".join(f"“{md(word)}”" for word in distinct[:12]) + (" …" if len(distinct) > 12 else "")
        st.caption(f"{model_title(entry)}: unknown words, read as <unk> and struck through: {shown}")


def position_labels(tokens: Sequence[str]) -> list[str]:
    """Labels for "after word t" pickers: "start", "after 1 Mr", "after 2 .", ..."""
    return ["start (before the first word)"] + [f"after {index + 1} “{token}”" for index, token in enumerate(tokens)]
