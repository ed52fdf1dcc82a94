"""Safe text for the page: Markdown escaping and HTML word spans (every token through html.escape)."""
from __future__ import annotations

import html
import math
import re
from typing import Sequence

# Brackets are escaped, so parentheses can never form a link and stay as typed.
_MARKDOWN_SPECIAL = re.compile(r"([\\`*_{}\[\]#+!|<>~$:])")
# "-", "." and digits only start a list or heading at the beginning of a line.
_LINE_START = re.compile(r"(?m)^(\s*)([-=]|\d+\.)")


def md(text: str) -> str:
    """Escape ``text`` so Streamlit's Markdown shows it literally (no links, LaTeX, HTML, lists or emphasis)."""
    escaped = _MARKDOWN_SPECIAL.sub(r"\\\1", str(text))
    return _LINE_START.sub(lambda match: match.group(1) + _escape_marker(match.group(2)), escaped)


def _escape_marker(marker: str) -> str:
    return marker[:-1] + "\\." if marker.endswith(".") else "\\" + marker


def quote(word: str) -> str:
    """A user word for a caption: escaped and in quotes."""
    return f"“{md(word)}”"


def _mix(colour: tuple[int, int, int], strength: float) -> str:
    """White blended towards ``colour``; strength in [0, 1]."""
    strength = min(max(strength, 0.0), 1.0)
    red, green, blue = (round(255 + (channel - 255) * strength) for channel in colour)
    return f"rgb({red},{green},{blue})"


POSITIVE = (214, 39, 40)  # red: pushes the target up
NEGATIVE = (31, 119, 180)  # blue: pushes the target down
NEUTRAL = (120, 120, 120)


def word_spans(
    tokens: Sequence[str],
    values: Sequence[float | None],
    scale: float | None = None,
    marked: Sequence[bool] | None = None,
    target_index: int | None = None,
    unknown: Sequence[bool] | None = None,
    number_format: str = "{:+.3f}",
) -> str:
    """HTML for a sentence whose words are shaded by a signed value.

    Args:
        tokens: the words as typed (escaped here).
        values: one value per word, None for words that get no colour (e.g. after the target).
        scale: the absolute value that gets full colour (default: the largest |value|).
        marked: words to outline (e.g. the source word).
        target_index: the word being predicted/explained, drawn with a thick underline.
        unknown: words outside the vocabulary, drawn struck through in grey.
        number_format: how the hover title shows each value.

    Returns:
        One ``<div>`` of ``<span>`` elements; safe to pass to st.markdown(unsafe_allow_html=True).
    """
    finite = [abs(v) for v in values if v is not None and math.isfinite(v)]
    scale = scale if scale and scale > 0 else (max(finite) if finite and max(finite) > 0 else 1.0)
    spans = []
    for index, token in enumerate(tokens):
        value = values[index] if index < len(values) else None
        style = ["padding:0.1em 0.25em", "margin:0.1em", "border-radius:0.3em", "display:inline-block", "unicode-bidi:isolate"]
        title = "no value"
        if value is not None and math.isfinite(value):
            colour = POSITIVE if value >= 0 else NEGATIVE
            style.append(f"background:{_mix(colour, abs(value) / scale)}")
            title = number_format.format(value)
        if marked is not None and index < len(marked) and marked[index]:
            style.append("outline:2px solid #444")
        if target_index is not None and index == target_index:
            style.append("border-bottom:4px solid #000")
            style.append("font-weight:700")
        if unknown is not None and index < len(unknown) and unknown[index]:
            style.append("text-decoration:line-through")
            style.append("color:#777")
            title += " (unknown word: read as <unk>)"
        spans.append(f'<span dir="auto" style="{";".join(style)}" title="{html.escape(title)}">{html.escape(token)}</span>')
    return '<div class="memory-lab-words" style="line-height:2.1;color:#111">' + "".join(spans) + "</div>"


def legend(positive: str, negative: str | None) -> str:
    """A one- or two-colour legend in HTML (the labels are ours, still escaped)."""
    parts = [f'<span style="background:{_mix(POSITIVE, 0.8)};padding:0 0.4em;border-radius:0.3em">{html.escape(positive)}</span>']
    if negative:
        parts.append(f'<span style="background:{_mix(NEGATIVE, 0.8)};padding:0 0.4em;border-radius:0.3em">{html.escape(negative)}</span>')
    return '<div style="font-size:0.85em">' + " ".join(parts) + "</div>"
