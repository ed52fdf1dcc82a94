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


def _blend(colour: tuple[int, int, int], strength: float) -> tuple[int, int, int]:
    """White blended towards ``colour``; strength in [0, 1]."""
    strength = min(max(strength, 0.0), 1.0)
    red, green, blue = (round(255 + (channel - 255) * strength) for channel in colour)
    return red, green, blue


def _css(rgb: tuple[int, int, int]) -> str:
    return "rgb({},{},{})".format(*rgb)


def _mix(colour: tuple[int, int, int], strength: float) -> str:
    """White blended towards ``colour`` as a CSS colour; strength in [0, 1]."""
    return _css(_blend(colour, strength))


def relative_luminance(rgb: tuple[int, int, int]) -> float:
    """WCAG 2 relative luminance of an sRGB colour (0 = black, 1 = white)."""

    def linear(channel: int) -> float:
        value = channel / 255
        return value / 12.92 if value <= 0.04045 else ((value + 0.055) / 1.055) ** 2.4

    red, green, blue = (linear(channel) for channel in rgb)
    return 0.2126 * red + 0.7152 * green + 0.0722 * blue


def contrast_ratio(first: tuple[int, int, int], second: tuple[int, int, int]) -> float:
    """WCAG 2 contrast ratio of two colours, 1 (none) to 21 (black on white); body text needs >= 4.5."""
    light, dark = sorted((relative_luminance(first), relative_luminance(second)), reverse=True)
    return (light + 0.05) / (dark + 0.05)


BLACK, WHITE = (0, 0, 0), (255, 255, 255)


def text_colour_on(background: tuple[int, int, int]) -> tuple[int, int, int]:
    """Black or white, whichever contrasts more with ``background`` (always >= 4.58 : 1)."""
    return BLACK if contrast_ratio(background, BLACK) >= contrast_ratio(background, WHITE) else WHITE


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
        style = [
            "padding:0.1em 0.25em",
            "margin:0.1em",
            "border-radius:0.3em",
            "display:inline-block",
            "unicode-bidi:isolate",
        ]
        title = "no value"
        if value is not None and math.isfinite(value):
            # A shaded word gets its own text colour (black or white by the shade's luminance), so it reads
            # in a light and a dark theme alike; an unshaded word keeps the theme's own text colour.
            background = _blend(POSITIVE if value >= 0 else NEGATIVE, abs(value) / scale)
            style.append(f"background:{_css(background)}")
            style.append(f"color:{_css(text_colour_on(background))}")
            title = number_format.format(value)
        if marked is not None and index < len(marked) and marked[index]:
            style.append("outline:2px solid currentColor")
        if target_index is not None and index == target_index:
            style.append("border-bottom:4px solid currentColor")
            style.append("font-weight:700")
        if unknown is not None and index < len(unknown) and unknown[index]:
            style.append("text-decoration:line-through")
            style.append("font-style:italic")
            title += " (unknown word: read as <unk>)"
        spans.append(
            f'<span dir="auto" style="{";".join(style)}" title="{html.escape(title)}">{html.escape(token)}</span>'
        )
    # No text colour on the block: unshaded words inherit the theme's (dark on light, light on dark).
    return '<div class="memory-lab-words" style="line-height:2.1">' + "".join(spans) + "</div>"


def legend(positive: str, negative: str | None) -> str:
    """A one- or two-colour legend in HTML (the labels are ours, still escaped)."""
    parts = [_swatch(POSITIVE, positive)]
    if negative:
        parts.append(_swatch(NEGATIVE, negative))
    return '<div style="font-size:0.85em">' + " ".join(parts) + "</div>"


def _swatch(colour: tuple[int, int, int], label: str) -> str:
    background = _blend(colour, 0.8)
    return (
        f'<span style="background:{_css(background)};color:{_css(text_colour_on(background))};padding:0 0.4em;'
        f'border-radius:0.3em">{html.escape(label)}</span>'
    )
