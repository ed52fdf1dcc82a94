"""What every lecture step is drawn in: large type, the title, the sentence strip, the figure.

The layout is sized for one 1280 x 720 screen with the sidebar collapsed: a navigation row, a title
that states the finding, the sentence with its cue and target marked, at most three sentences, and
one figure in ``st.container(key="lecture-figure-N")``. The CSS is static (no user text); every word
of the sentence goes through html.escape.
"""

from __future__ import annotations

import html
from contextlib import contextmanager
from typing import Any, Iterator, Sequence

import pandas as pd
import streamlit as st

from ui.widgets.charts import style_spec
from ui.widgets.markup import md

# Static CSS, written here, applied only in lecture mode. Sizes in px so a 1280 x 720 screen is predictable.
LECTURE_CSS = """
<style>
[data-testid="stMainBlockContainer"] { padding-top: 3.2rem; padding-bottom: 0.5rem; max-width: 100%; }
[class*="st-key-lecture-step-"] { gap: 0.45rem; }
[class*="st-key-lecture-step-"] p, [class*="st-key-lecture-step-"] li { font-size: 19px; line-height: 1.35; }
[class*="st-key-lecture-step-"] [data-testid="stCaptionContainer"] p { font-size: 14px; line-height: 1.3; }
.lecture-title { font-size: 29px; line-height: 1.22; font-weight: 700; margin: 0.1rem 0 0.2rem 0; }
[class*="st-key-lecture-nav"] p { font-size: 17px; }
[class*="st-key-lecture-nav"] button p { font-size: 19px; font-weight: 600; }
.lecture-sentence { font-size: 20px; line-height: 1.7; margin-bottom: 0.25rem; }
.lecture-sentence span { padding: 0 0.04em; unicode-bidi: isolate; }
.lecture-sentence .lecture-cue { border-bottom: 3px solid #4c78a8; font-weight: 700; }
.lecture-sentence .lecture-target { background: #ffd166; color: #111111; border-radius: 0.25em; padding: 0 0.3em;
  font-weight: 700; }
.lecture-sentence .lecture-later { opacity: 0.55; }
.lecture-sentence .lecture-current { outline: 3px solid #e8710a; border-radius: 0.2em; }
.lecture-sentence .lecture-slot { border: 2px dashed #e8710a; border-radius: 0.25em; padding: 0 0.6em; }
</style>
"""


def apply_style() -> None:
    """Inject the lecture's large-type style sheet (static text, no user input in it)."""
    st.markdown(LECTURE_CSS, unsafe_allow_html=True)


def _space_before(tokens: Sequence[str], index: int) -> bool:
    """Words are spaced as typed: none before a full stop or comma ("Mr." not "Mr ."), none after "("."""
    if index == 0 or tokens[index - 1] in ("(", "["):
        return False
    token = tokens[index]
    return token[:1].isalnum() or token[:1] in "\"'(["


def sentence_html(
    tokens: Sequence[str], cue_span: tuple[int, int], target_position: int, target: str, current: int | None = None
) -> str:
    """The sentence with the cue underlined, the target word highlighted and the words after it dimmed.

    When the target is the word after the text, an empty dashed slot stands for it; ``current``
    (the belt's word) gets a box. Every token is escaped; only our own class names and tags are markup.
    """
    parts = []
    for index, token in enumerate(tokens):
        classes = []
        if cue_span[0] <= index < cue_span[1]:
            classes.append("lecture-cue")
        if index == current:
            classes.append("lecture-current")
        if index == target_position:
            classes.append("lecture-target")
        elif index > target_position:
            classes.append("lecture-later")
        attribute = f' class="{" ".join(classes)}"' if classes else ""
        parts.append(
            (" " if _space_before(tokens, index) else "") + f'<span dir="auto"{attribute}>{html.escape(token)}</span>'
        )
    if target_position >= len(tokens):
        parts.append(f' <span class="lecture-target lecture-slot" title="the next word">{html.escape(target)}?</span>')
    return '<div class="lecture-sentence">' + "".join(parts) + "</div>"


def title(step: int, text: str) -> None:
    """The step's finding as its heading, in ``st.container(key="lecture-title-N")`` (escaped, our own markup)."""
    with st.container(key=f"lecture-title-{step}"):
        st.markdown(
            f'<div class="lecture-title" role="heading" aria-level="2">{html.escape(text)}</div>',
            unsafe_allow_html=True,
        )


def sentences(lines: Sequence[str]) -> None:
    """At most three short sentences under the title, as one paragraph."""
    shown = [line for line in lines if line][:3]
    if shown:
        st.markdown(" ".join(md(line) for line in shown))


@contextmanager
def figure(step: int) -> Iterator[None]:
    """The step's one figure: everything drawn inside lands in ``st.container(key="lecture-figure-N")``."""
    with st.container(key=f"lecture-figure-{step}"):
        yield


def chart(spec: dict[str, Any], rows: list[dict], caption: str, key: str, height: int) -> None:
    """Draw one Vega-Lite spec in projector type (ui.widgets.charts.style_spec), its caption right under it.

    Args:
        height: the chart's whole height in pixels, axes and legends included (the plot gets the rest);
            a fixed total is what keeps a step on one screen.

    Raises:
        ValueError: an empty caption (every number shown says what it is, its unit, method and baseline).
    """
    if not caption or not caption.strip():
        raise ValueError("Every lecture chart needs a caption: what is plotted, its unit, the method and the baseline.")
    st.vega_lite_chart(pd.DataFrame(rows), style_spec(spec, True), width="stretch", height=height, key=key)
    st.caption(caption)
