"""The page: sidebar, sentence box and one tab per view (only the open tab is computed)."""

from __future__ import annotations

from typing import Callable

import streamlit as st

from ui.lecture.page import lecture_requested, lecture_switch, render_lecture
from ui.page_context import Context, sentence_box, sidebar
from ui.services.model_store import ModelEntry
from ui.services.text_checks import CheckedText
from ui.views import export as view_export
from ui.views import gates as view_gates
from ui.views import generate as view_generate
from ui.views import gradients as view_gradients
from ui.views import influence as view_influence
from ui.views import ladder as view_ladder
from ui.views import memory as view_memory
from ui.views import models as view_models
from ui.views import next_word as view_next_word
from ui.views import step as view_step
from ui.views import train as view_train
from ui.views.long_range_lab import render_lab
from ui.widgets.guard import run_view
from ui.widgets.markup import md
from ui.widgets.presenter import apply_presenter_style


def _views() -> list[tuple[str, Callable[[Context], None], bool]]:
    """(tab label, render function, needs a usable sentence) in tab order."""

    return [
        ("Next word", view_next_word.render, True),
        ("Gates and cell state", view_gates.render, True),
        ("Memory and influence", view_influence.render, True),
        ("Where the memory lives", view_memory.render, True),
        ("Vanishing and exploding gradients", view_gradients.render, False),
        ("Distance ladder", view_ladder.render, False),
        ("Long-range lab", _render_lab, False),
        ("Word by word", view_step.render, True),
        ("Generate", view_generate.render, True),
        ("Train", view_train.render, False),
        ("Models", view_models.render, False),
        ("Export", view_export.render, True),
    ]


def _render_lab(context: Context) -> None:
    """The Long-range lab (ui/views/long_range_lab.py), imported only when its tab is open."""

    render_lab(context)


def _not_ready_message(context: Context) -> None:
    """Say why a view that needs models and a sentence is empty (a text problem is shown under the box)."""
    if not context.chosen:
        if not any(entry.ok for entry in context.entries):
            st.info(
                f"No usable model in {md(context.root)}. Train one in the Train tab, or from a shell with "
                "`python -m model.train --corpus-dir FOLDER --out checkpoints/NAME`.",
                icon=":material/info:",
            )
        else:
            st.info("Pick at least one model in the sidebar (Models to compare).", icon=":material/info:")
    elif context.checked is not None and context.checked.problem:
        st.info("Type a sentence above to see this view.", icon=":material/keyboard:")


def _checked_sentence(chosen: list[ModelEntry]) -> CheckedText | None:
    """The sentence box inside the error guard (a broken tokenizer must not take the page down)."""
    result: dict[str, CheckedText | None] = {}

    def draw() -> None:
        result["checked"] = sentence_box(chosen)

    run_view("The sentence box", draw)
    return result.get("checked")


def _page() -> None:
    with st.sidebar:
        lecture_switch()
    root, entries, chosen, presenter = sidebar()
    with st.sidebar:
        view_train.sidebar_status()
    apply_presenter_style(presenter)
    if not presenter:  # on a projector the sidebar names the app, and the first screen is for the figure
        st.title("Memory Lab")
        st.caption(
            "How much does a recurrent language model remember of the words it has read? "
            "Compare a plain RNN, an LSTM and a GRU on one sentence."
        )
    context = Context(root=root, entries=entries, chosen=chosen, checked=_checked_sentence(chosen), presenter=presenter)
    views = _views()
    tabs = st.tabs([label for label, _, _ in views], key="view", on_change="rerun")
    for tab, (label, render, needs_text) in zip(tabs, views):
        if tab.open is False:
            continue  # lazy: only the open tab runs
        with tab:
            st.header(label)
            if needs_text and not context.ready:
                _not_ready_message(context)
                continue
            run_view(f"The {label} view", render, context)


def main() -> None:
    """Draw the whole page once (Streamlit calls this on every rerun); nothing escapes as a traceback."""
    lecture = lecture_requested()  # ?lesson=... opens the lecture (ui/lecture), with the sidebar out of the way
    st.set_page_config(
        page_title="Memory Lab · lecture" if lecture else "Memory Lab",
        page_icon="🧠",
        layout="wide",
        initial_sidebar_state="collapsed" if lecture else "auto",
    )
    run_view("The page", render_lecture if lecture else _page)
