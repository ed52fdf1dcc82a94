"""Presenter mode: large type for a projector (CSS only, no scripts)."""

from __future__ import annotations

import streamlit as st

# Static CSS written here, no user text in it.
_PRESENTER_CSS = """
<style>
html, body, [data-testid="stAppViewContainer"] { font-size: 21px; }
[data-testid="stMarkdownContainer"] p, [data-testid="stMarkdownContainer"] li { font-size: 1.25rem; }
[data-testid="stCaptionContainer"] { font-size: 1.05rem; }
.memory-lab-words { font-size: 1.6rem; }
[data-testid="stMetricValue"] { font-size: 2.6rem; }
button[data-baseweb="tab"] p { font-size: 1.2rem; }
[data-testid="stTextInput"] input, [data-testid="stTextArea"] textarea { font-size: 1.35rem; }
/* The first screen at 1280 x 720 is for the figure: less empty space above the title, smaller headings. */
[data-testid="stMainBlockContainer"] { padding-top: 2.2rem; padding-bottom: 2rem; }
[data-testid="stMainBlockContainer"] h1 { font-size: 2.1rem; padding: 0.2rem 0; }
[data-testid="stMainBlockContainer"] h2 { font-size: 1.7rem; padding: 0.3rem 0; }
[data-testid="stMainBlockContainer"] h3 { font-size: 1.45rem; padding: 0.3rem 0; }
/* The tab already names the view: its heading gives its room to the figure (the page title is not drawn in this mode). */
[role="tabpanel"] h2 { display: none; }
/* The words read so far, inside a model's column, stay one size smaller than the sentence itself. */
[data-testid="stColumn"] .memory-lab-words { font-size: 1.2rem; }
/* The model chips in the narrow sidebar keep their full names: three "novels1…" chips cannot be told apart. */
[data-testid="stSidebar"] [data-testid="stMultiSelectTagsContainer"] [data-tag] { font-size: 0.7rem; max-width: 100%; }
</style>
"""


def apply_presenter_style(enabled: bool) -> None:
    """Inject the large-type style sheet when presenter mode is on."""
    if enabled:
        st.markdown(_PRESENTER_CSS, unsafe_allow_html=True)


def is_presenter() -> bool:
    """Whether presenter mode is on in this session."""
    return bool(st.session_state.get("presenter", False))
