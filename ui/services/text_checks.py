"""Check and tidy the typed sentence before any model sees it.

Bad input never reaches a model unexplained: an empty text or one with only
punctuation stops the analysis with a message; invisible characters (zero-width
spaces, direction overrides) are removed with a notice; a long text is cut to
:data:`ui.settings.MAX_WORDS` words with a notice. Emoji, right-to-left scripts
and HTML are kept: they are just (probably unknown) words, shown escaped.
"""

from __future__ import annotations

import unicodedata
from dataclasses import dataclass, field

from data.tokenizer import WordTokenizer
from ui.settings import MAX_CHARS, MAX_WORDS


@dataclass
class CheckedText:
    """The text the views analyse, and what the user should be told about it.

    Attributes:
        text: the cleaned (and possibly cut) text; "" when unusable.
        notices: things changed on the way (shown as warnings, analysis continues).
        problem: why nothing can be analysed (shown as an error), or None.
        num_words: tokens in ``text``.
    """

    text: str
    notices: list[str] = field(default_factory=list)
    problem: str | None = None
    num_words: int = 0

    @property
    def ok(self) -> bool:
        """True when the text can be analysed."""
        return self.problem is None


def _is_invisible(character: str) -> bool:
    # Cf = format characters: zero-width space/joiner, byte-order mark, bidi marks and overrides.
    category = unicodedata.category(character)
    return category == "Cf" or (category == "Cc" and character not in "\n\t")


def check_text(
    raw: str | None, tokenizer: WordTokenizer, max_words: int = MAX_WORDS, max_chars: int = MAX_CHARS
) -> CheckedText:
    """Clean ``raw`` and decide whether it can be analysed.

    Args:
        raw: what the user typed (None counts as empty).
        tokenizer: any chosen model's tokenizer (all share the same word splitting).
        max_words: keep at most this many words (tokens).
        max_chars: drop characters beyond this before tokenizing.

    Returns:
        A :class:`CheckedText`.
    """
    notices: list[str] = []
    text = raw if isinstance(raw, str) else ""
    invisible = sum(1 for character in text if _is_invisible(character))
    if invisible:
        # Removed, not replaced by a space: "Rob<ZWSP>ert" reads as "Robert" on screen.
        text = "".join(character for character in text if not _is_invisible(character))
        notices.append(
            f"Removed {invisible} invisible character(s) (zero-width spaces, joiners or text-direction marks): "
            "the models never saw them in training."
        )
    text = " ".join(text.split())
    if not text:
        return CheckedText(
            text="",
            notices=notices,
            problem="The text is empty. Type a sentence (or pick a preset in the sidebar) and press Enter.",
        )
    if len(text) > max_chars:
        text = text[:max_chars]
        notices.append(f"The text was longer than {max_chars} characters; only the first {max_chars} are used.")
    encoded = tokenizer.encode(text)
    if len(encoded) > max_words:
        end = encoded.offsets[max_words - 1][1]
        notices.append(
            f"The text has {len(encoded)} words and punctuation marks; the views use the first {max_words}, up to “{text[max(0, end - 30) : end]}”."
        )
        text = text[:end]
        encoded = tokenizer.encode(text)
    if not any(any(character.isalnum() for character in token) for token in encoded.tokens):
        return CheckedText(
            text="",
            notices=notices,
            num_words=len(encoded),
            problem="The text holds only punctuation or symbols. The models read words: type a sentence with at least one word.",
        )
    return CheckedText(text=text, notices=notices, num_words=len(encoded))
