"""Ready-made sentences for teaching, each with the word whose prediction it is about."""
from __future__ import annotations

from dataclasses import dataclass

from ui.settings import SEED_SENTENCE


@dataclass(frozen=True)
class Preset:
    """A sentence to load, the word to explain in it, and why it is interesting."""

    label: str
    text: str
    target_word: str | None  # None: the prediction after the last word
    note: str


PRESETS = (
    Preset("Mr. Robert ... his (the seed)", SEED_SENTENCE, "his", "Does the model remember “Robert” (a man) when it has to choose “his”?"),
    Preset(
        "Mrs. Mary ... her (the twin)",
        "Mrs. Mary is going on a vacation with her husband to Hawaii next month.",
        "her",
        "The same sentence with a woman: the pronoun should flip to “her”.",
    ),
    Preset(
        "Agreement across a long gap",
        "The letters that the old captain had written to his sister during the long winter at sea were never sent.",
        "were",
        "“were” must agree with “letters”, 14 words back, not with the nearer “captain”, “sister” or “winter”.",
    ),
    Preset(
        "A quotation that must close",
        "He looked at his wife and said, \" I have never been so happy in all my life .",
        None,
        "A quotation mark was opened 11 words ago: after the full stop, the next symbol should close it.",
    ),
)

PRESET_LABELS = [preset.label for preset in PRESETS]


def preset_by_label(label: str | None) -> Preset | None:
    """The preset with this label, or None."""
    return next((preset for preset in PRESETS if preset.label == label), None)


def default_target_word(tokens: list[str], text: str) -> int:
    """Index of the word to explain by default.

    A preset's own target word when the text is that preset (len(tokens) = the
    prediction after the last word), else the first "his" or "her" after the
    first word, else the last word.
    """
    for preset in PRESETS:
        if preset.text == text:
            if preset.target_word is None:
                return len(tokens)
            if preset.target_word in tokens[1:]:
                return len(tokens) - 1 - tokens[::-1].index(preset.target_word)
    for word in ("his", "her"):
        if word in tokens[1:]:
            return tokens.index(word, 1)
    return len(tokens) - 1
