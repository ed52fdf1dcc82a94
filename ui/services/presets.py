"""Ready-made sentences for teaching, each with its own prediction, rival word and counterfactual.

Every view reads its defaults from :func:`plan_for_text`: for a preset, the preset's own target,
contrast, cue and swap ("were" vs "was", cue "letters" -> "letter"); for a typed sentence, the
defaults of data.cue_swap.plan_for (the first title-and-name cue, the first pronoun after it).
"""

from __future__ import annotations

from dataclasses import dataclass

from data.cue_swap import CuePlan, plan_for
from ui.settings import SEED_SENTENCE


@dataclass(frozen=True)
class Preset:
    """A sentence to load, what it tests, and why it is interesting.

    Attributes:
        label: the name in the sidebar.
        text: the sentence.
        target: the word the sentence calls for; its first occurrence after the cue is the prediction
            explained (the prediction after the text when it is not there yet, as a closing quote).
        contrast: the rival word the target is weighed against.
        cue: the words that decide the target, as text.
        counterfactual: what the cue is replaced by to test that it decides (same number of words).
        note: one line for the sidebar.
        if_all_fail: why this is hard, shown only when every model measurably prefers the contrast.
    """

    label: str
    text: str
    target: str
    contrast: str
    cue: str
    counterfactual: str
    note: str
    if_all_fail: str = ""


PRESETS = (
    Preset(
        "Mr. Robert ... his (the seed)",
        SEED_SENTENCE,
        "his",
        "her",
        "Mr. Robert",
        "Mrs. Mary",
        "Does the model remember “Mr. Robert” (a man) when it has to choose “his”?",
        "Nothing in the nine words between the name and the pronoun says who is travelling, so a model that has "
        "forgotten the title and the name falls back on what usually follows “with”.",
    ),
    Preset(
        "Mrs. Mary ... her (the twin)",
        "Mrs. Mary is going on a vacation with her husband to Hawaii next month.",
        "her",
        "his",
        "Mrs. Mary",
        "Mr. Robert",
        "The same sentence with a woman: the pronoun should flip to “her”.",
        "Nothing in the nine words between the name and the pronoun says who is travelling, so a model that has "
        "forgotten the title and the name falls back on what usually follows “with”.",
    ),
    Preset(
        "Agreement across a long gap",
        "The letters that the old captain had written to his sister during the long winter at sea were never sent.",
        "were",
        "was",
        "letters",
        "letter",
        "“were” must agree with “letters”, 16 words back, not with the nearer “captain”, “sister”, “winter” or “sea”.",
        "This is agreement attraction: singular nouns stand between “letters” and the verb, and small language models "
        "trained on little text are known to agree with the nearest noun instead of the subject (in our agreement suite, "
        "see the README, accuracy with such a noun in between is often far below a coin toss).",
    ),
    Preset(
        "A quotation that must close",
        'He looked at his wife and said, " I have never been so happy in all my life .',
        '"',
        "<eos>",
        '"',
        "that",
        "A quotation mark opened 12 words ago: after the full stop the next symbol should close it, not end the paragraph.",
        "Closing the quote needs the model to have kept one symbol, 12 words back, in its memory.",
    ),
)

PRESET_LABELS = [preset.label for preset in PRESETS]


def preset_by_label(label: str | None) -> Preset | None:
    """The preset with this label, or None."""
    return next((preset for preset in PRESETS if preset.label == label), None)


def preset_for_text(text: str) -> Preset | None:
    """The preset whose sentence this is (exactly), or None for a typed sentence."""
    return next((preset for preset in PRESETS if preset.text == text), None)


def plan_for_text(tokens: list[str], text: str) -> CuePlan:
    """The lesson's defaults for this sentence: a preset's own choices, else data.cue_swap's.

    Args:
        tokens: the text's tokens as the model's tokenizer splits it.
        text: the text (matched against the presets).
    """
    preset = preset_for_text(text)
    if preset is None:
        return plan_for(list(tokens))
    return plan_for(
        list(tokens), target=preset.target, contrast=preset.contrast, cue=preset.cue, replacement=preset.counterfactual
    )


def default_target_word(tokens: list[str], text: str) -> int:
    """Index of the word to explain by default (len(tokens) = the prediction after the last word).

    A preset's own target (see :class:`Preset`), else the first gendered pronoun after the cue,
    else the last word.
    """
    return plan_for_text(tokens, text).target_index


def next_word_row(tokens: list[str], text: str) -> int:
    """Where the Next word view opens: after the words before the lesson's target (a preset's word, or a
    pronoun after a cue), else after the whole text. Row r = the prediction made after r words."""
    plan = plan_for_text(tokens, text)
    return min(plan.target_index, len(tokens)) if plan.contrast else len(tokens)
