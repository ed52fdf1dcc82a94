"""What the Memory and influence view is explaining: the shared choice other views follow.

The influence view owns this choice and writes it under the session keys below; the gates
view (ordering units by their influence on the same target) and the export (saving the same
analysis) read it only through :func:`target_for_units` and :func:`export_choice`, never by
the keys themselves, so the choice has one owner and one format.
"""

from __future__ import annotations

import streamlit as st

from ui.services.presets import default_target_word

# The influence view's session keys (ui/views/influence.py writes them).
TEXT, TARGET, KIND, WORD, GOOD, BAD, METHOD = (
    "influence_text",
    "influence_target",
    "influence_kind",
    "influence_word",
    "influence_good",
    "influence_bad",
    "influence_method",
)


def target_for_units(tokens: list[str], text: str) -> tuple[int, str, str | None]:
    """(predicted word index, good word, contrast word): the influence view's choice, else his vs her."""
    state = st.session_state
    position = state.get(TARGET) if state.get(TEXT) == text else None
    position = (
        position if isinstance(position, int) and 1 <= position <= len(tokens) else default_target_word(tokens, text)
    )
    kind = state.get(KIND, "contrast")
    if kind == "word" and state.get(WORD):
        return position, state[WORD].strip(), None
    if kind == "next_word" and position < len(tokens):
        return position, tokens[position], None
    return position, (state.get(GOOD) or "his").strip(), (state.get(BAD) or "her").strip()


def export_choice() -> tuple[str | None, str | None, str]:
    """(target word, contrast word, method) of the influence view (his vs her with gradients by default)."""
    state = st.session_state
    kind, method = state.get(KIND, "contrast"), state.get(METHOD, "grad")
    if kind == "contrast":
        return state.get(GOOD, "his") or None, state.get(BAD, "her") or None, method
    if kind == "word":
        return state.get(WORD) or None, None, method
    return None, None, method
