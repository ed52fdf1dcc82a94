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
