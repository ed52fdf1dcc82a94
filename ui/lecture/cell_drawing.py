"""A drawn LSTM cell with live values: static SVG built from our own strings (pure: no streamlit).

The picture is the textbook one: the cell state runs along the top like a conveyor belt, the forget
gate multiplies it (×), the input gate times the candidate adds to it (+), and the output gate
decides how much of tanh(c) becomes the hidden state h. Beside it, a table of the followed units'
gate and cell values at one word. No script, no event handler: only shapes and text, every word
from the sentence passed through html.escape. The drawing has its own light background and dark
ink, so it reads the same in the light and the dark theme.
"""

from __future__ import annotations

import html
from typing import Sequence

INK = "#1b1f24"
MUTED = "#55606e"
BELT = "#4c78a8"
PAPER = "#fbfbfd"
GATES = {
    "f": ("#d6e9f8", "forget"),
    "i": ("#dcefd9", "input"),
    "g": ("#fde7c8", "candidate"),
    "o": ("#eadff5", "output"),
}
WIDTH, HEIGHT = 1460, 390


def _text(
    x: float, y: float, content: str, size: int = 22, anchor: str = "middle", weight: str = "normal", colour: str = INK
) -> str:
    return (
        f'<text x="{x:.0f}" y="{y:.0f}" font-size="{size}" text-anchor="{anchor}" font-weight="{weight}" '
        f'fill="{colour}" font-family="sans-serif">{html.escape(content)}</text>'
    )


def _line(points: Sequence[tuple[float, float]], colour: str = INK, width: float = 3, arrow: bool = True) -> str:
    path = " ".join(f"{'M' if index == 0 else 'L'}{x:.0f},{y:.0f}" for index, (x, y) in enumerate(points))
    end = ' marker-end="url(#lecture-arrow)"' if arrow else ""
    return f'<path d="{path}" fill="none" stroke="{colour}" stroke-width="{width}"{end}/>'


def _operator(x: float, y: float, symbol: str) -> str:
    return f'<circle cx="{x:.0f}" cy="{y:.0f}" r="19" fill="{PAPER}" stroke="{INK}" stroke-width="3"/>' + _text(
        x, y + 8, symbol, size=26, weight="bold"
    )


def _gate(x: float, y: float, name: str, function: str, value: str) -> str:
    fill, _ = GATES[name]
    return (
        f'<rect x="{x - 44:.0f}" y="{y - 28:.0f}" width="88" height="56" rx="10" fill="{fill}" stroke="{INK}" stroke-width="2"/>'
        + _text(x, y + 8, f"{function} {name}", size=22, weight="bold")
        + _text(x, y - 40, value, size=22, weight="bold", colour=INK)
    )


def _fmt(value: float, signed: bool = False) -> str:
    text = f"{value:+.2f}" if signed else f"{value:.2f}"
    return text.replace("-", "−")


def _mean(values: Sequence[float]) -> float:
    return sum(values) / len(values) if values else 0.0


def _shade(value: float, low: float, high: float) -> str:
    """A light background whose depth follows the value (dark ink stays readable on every shade)."""
    share = 0.0 if high == low else min(max((value - low) / (high - low), 0.0), 1.0)
    level = round(250 - 90 * share)
    return f"rgb({level},{min(255, level + 8)},255)"


def cell_svg(
    word: str,
    units: Sequence[int],
    gates: dict[str, Sequence[float]],
    cell_before: Sequence[float],
    cell_after: Sequence[float],
    counterfactual_cell: Sequence[float],
    counterfactual_name: str,
) -> str:
    """The cell at one word, with the followed units' values.

    Args:
        word: the word read at this step (x_t).
        units: the unit numbers followed.
        gates: "f", "i", "g", "o" -> one value per unit at this word.
        cell_before, cell_after: c_{t-1} and c_t per unit.
        counterfactual_cell: c_t per unit on the counterfactual sentence.
        counterfactual_name: how the table names the counterfactual ("Mrs. Mary").

    Returns:
        One ``<svg>`` element (a string) with a ``<title>`` for screen readers.
    """
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {WIDTH} {HEIGHT}" role="img" '
        f'style="width:100%;height:auto;max-height:372px;display:block">',
        f"<title>{html.escape(f'An LSTM cell reading {word}, with the gate values of units {list(units)}')}</title>",
        '<defs><marker id="lecture-arrow" viewBox="0 0 10 10" refX="9" refY="5" markerWidth="14" markerHeight="14" '
        f'markerUnits="userSpaceOnUse" orient="auto-start-reverse"><path d="M0,0 L10,5 L0,10 z" fill="{INK}"/></marker></defs>',
        f'<rect x="0" y="0" width="{WIDTH}" height="{HEIGHT}" rx="16" fill="{PAPER}" stroke="#c9ced6"/>',
        '<rect x="95" y="28" width="700" height="318" rx="18" fill="none" stroke="#b8c0cc" stroke-width="2" stroke-dasharray="8 6"/>',
    ]
    # The belt: c_{t-1} -> x f -> + i*g -> c_t.
    parts.append(_line([(30, 72), (242, 72)], BELT, 7, arrow=False))
    parts.append(_line([(279, 72), (432, 72)], BELT, 7, arrow=False))
    parts.append(_line([(469, 72), (860, 72)], BELT, 7))
    parts.append(
        _text(30, 52, "cell state c  (the conveyor belt)", size=20, anchor="start", weight="bold", colour=BELT)
    )
    parts.append(_text(866, 80, "cₜ", size=24, anchor="start", weight="bold", colour=BELT))
    parts.append(_operator(260, 72, "×"))
    parts.append(_operator(450, 72, "+"))
    # Gates, fed from the bus [h_{t-1}, x_t] along the bottom.
    means = {name: _mean(values) for name, values in gates.items()}
    x_of = {"f": 260, "i": 390, "g": 510, "o": 640}
    functions = {"f": "σ", "i": "σ", "g": "tanh", "o": "σ"}
    parts.append(_line([(30, 330), (640, 330)], INK, 3, arrow=False))
    parts.append(_text(30, 316, "hₜ₋₁", size=22, anchor="start", colour=MUTED))
    parts.append(_line([(160, 385), (160, 334)], INK, 3))
    parts.append(_text(172, 372, f"xₜ = “{word}”", size=22, anchor="start", weight="bold"))
    for name, x in x_of.items():
        parts.append(_line([(x, 330), (x, 280)], INK, 2))
        parts.append(_gate(x, 252, name, functions[name], _fmt(means[name], signed=name == "g")))
    parts.append(_line([(260, 224), (260, 93)]))  # f up to the belt's ×
    parts.append(_line([(390, 224), (390, 172), (431, 172)]))  # i into i×g
    parts.append(_line([(510, 224), (510, 172), (469, 172)]))  # g into i×g
    parts.append(_operator(450, 172, "×"))
    parts.append(_line([(450, 153), (450, 93)]))  # i×g onto the belt
    # Output: tanh(c_t) times o gives h_t.
    parts.append(_line([(720, 72), (720, 136)]))
    parts.append(f'<ellipse cx="720" cy="162" rx="40" ry="24" fill="{PAPER}" stroke="{INK}" stroke-width="2"/>')
    parts.append(_text(720, 170, "tanh", size=20, weight="bold"))
    parts.append(_line([(720, 186), (720, 233)]))
    parts.append(_line([(684, 252), (701, 252)]))
    parts.append(_operator(720, 252, "×"))
    parts.append(_line([(739, 252), (860, 252)]))
    parts.append(_text(866, 260, "hₜ", size=24, anchor="start", weight="bold"))
    parts.append(
        _text(790, 372, "above each gate: its mean over the units in the table", size=17, anchor="end", colour=MUTED)
    )
    parts.append(_table(units, gates, cell_before, cell_after, counterfactual_cell, counterfactual_name))
    parts.append("</svg>")
    return "".join(parts)


def _table(
    units: Sequence[int],
    gates: dict[str, Sequence[float]],
    cell_before: Sequence[float],
    cell_after: Sequence[float],
    counterfactual_cell: Sequence[float],
    counterfactual_name: str,
) -> str:
    left, top, row_height = 920, 48, 46
    columns = [("unit", 0), ("f", 80), ("i", 148), ("g", 216), ("o", 284), ("cₜ₋₁", 358), ("cₜ", 440)]
    parts = [_text(left + x + 28, top, label, size=21, weight="bold") for label, x in columns]
    parts.append(_text(left + 236, top + 28, "live values at this word", size=16, colour=MUTED))
    for index, unit in enumerate(units):
        y = top + 42 + row_height * (index + 1) - 10
        parts.append(_text(left + 28, y, str(unit), size=21))
        for name, x in (("f", 80), ("i", 148), ("g", 216), ("o", 284)):
            value = gates[name][index]
            low, high = (-1.0, 1.0) if name == "g" else (0.0, 1.0)
            parts.append(
                f'<rect x="{left + x - 4}" y="{y - 26}" width="64" height="36" rx="6" fill="{_shade(value, low, high)}"/>'
            )
            parts.append(_text(left + x + 28, y, _fmt(value, signed=name == "g"), size=21))
        parts.append(_text(left + 386, y, _fmt(cell_before[index], signed=True), size=21))
        parts.append(_text(left + 468, y, _fmt(cell_after[index], signed=True), size=21, weight="bold", colour=BELT))
    y = top + 42 + row_height * (len(units) + 1) + 4
    parts.append(_text(left, y, f"cₜ if the cue were “{counterfactual_name}”:", size=18, anchor="start", colour=MUTED))
    shown = "   ".join(f"{unit}: {_fmt(value, signed=True)}" for unit, value in zip(units, counterfactual_cell))
    parts.append(_text(left, y + 30, shown, size=20, anchor="start", weight="bold", colour="#b3541e"))
    parts.append(
        _text(left, y + 66, "f, i, o: 0 shut … 1 open;  g: new content −1 … 1", size=17, anchor="start", colour=MUTED)
    )
    return "".join(parts)
