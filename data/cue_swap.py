"""Counterfactual sentences: swap a whole cue span ("Mr. Robert" -> "Mrs. Mary") and check a pair.

The seed sentence's gender cue is the title as much as the name: swapping "Robert" alone keeps
"Mr." and moves little. So a counterfactual here replaces a *span* of tokens, by default the
title and the name together, and a factual/counterfactual pair may differ only inside the spans
the caller marks. Everything works on the tokenizer's own split (data/tokenizer.py: a run of word
characters, or any single other non-space character), so "Mr." is the two tokens "Mr" and ".".

    >>> tokens = ["Mr", ".", "Robert", "is", "going"]
    >>> default_cue_span(tokens)
    (0, 3)
    >>> default_replacement(tokens, (0, 3))
    'Mrs. Mary'
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from data.pronoun_suite import MAN, WOMAN

_TOKEN = re.compile(r"\w+|[^\w\s]")

# Titles (without the full stop) and the title of the other gender each swaps to.
_TITLE_SWAP = {
    "Mr": "Mrs",
    "Mrs": "Mr",
    "Sir": "Lady",
    "Lady": "Sir",
    "Lord": "Lady",
    "Miss": "Mr",
    "Ms": "Mr",
    "Master": "Miss",
    "Madam": "Sir",
    "Dr": "Dr",
}
FEMALE_TITLES = frozenset({"Mrs", "Lady", "Miss", "Ms", "Madam"})
_TITLES = frozenset(_TITLE_SWAP)
# Names swap in pairs of the pronoun suite's lists (John <-> Mary, ..., Robert <-> Anne, ...), except the seed's
# own pair, which is the lesson's: Robert <-> Mary.
_NAME_SWAP = {
    **dict(zip(MAN["names"], WOMAN["names"])),
    **dict(zip(WOMAN["names"], MAN["names"])),
    "Robert": "Mary",
    "Mary": "Robert",
}
_FEMALE_NAMES = frozenset(WOMAN["names"])
_MALE_NAMES = frozenset(MAN["names"])

# The pronoun pairs a gender swap flips, for picking a default target and contrast.
PRONOUN_PAIRS = (("his", "her"), ("he", "she"), ("him", "her"), ("himself", "herself"))


def tokenize(text: str) -> list[str]:
    """The tokenizer's split of ``text`` (no vocabulary needed)."""
    return _TOKEN.findall(text)


def default_cue_span(tokens: list[str]) -> tuple[int, int] | None:
    """The first title-and-name cue in ``tokens`` as a half-open token span, or None.

    A cue is a title ("Mr", "Mrs", "Lady", ...), its optional full stop and the capitalised
    name after it ("Mr . Robert" -> 3 tokens). Without a title, the first known first name of
    the pronoun suite's lists ("Robert", "Mary", ...) is the span on its own.
    """
    for index, token in enumerate(tokens):
        if token in _TITLES:
            end = index + 1
            if end < len(tokens) and tokens[end] == ".":
                end += 1
            if end < len(tokens) and tokens[end][:1].isupper() and tokens[end].isalpha():
                end += 1
            return index, end
    for index, token in enumerate(tokens):
        if token in _NAME_SWAP:
            return index, index + 1
    return None


def _swap_word(token: str, female_span: bool) -> str:
    if token in _TITLE_SWAP:
        return _TITLE_SWAP[token]
    if token in _NAME_SWAP:
        return _NAME_SWAP[token]
    if token[:1].isupper() and token.isalpha():
        return "Robert" if female_span else "Mary"  # an unknown name: the lesson's pair
    return token


def default_replacement(tokens: list[str], span: tuple[int, int]) -> str:
    """The span with its gender swapped, as text ("Mr . Robert" -> "Mrs. Mary").

    Titles swap by table (Mr <-> Mrs, Sir <-> Lady, ...), names by the pronoun suite's pairs
    (Robert <-> Mary, John <-> Mary's twin list, ...), an unknown capitalised name becomes Mary
    (after a male title) or Robert (after a female one); punctuation stays.
    """
    start, end = span
    words = tokens[start:end]
    female = any(word in FEMALE_TITLES or word in _FEMALE_NAMES for word in words)
    swapped = [_swap_word(word, female) for word in words]
    return join_words(swapped)


def join_words(words: list[str]) -> str:
    """Tokens back to text: no space before punctuation ("Mrs" "." "Mary" -> "Mrs. Mary")."""
    text = ""
    for word in words:
        if text and not text.endswith(("(", "[")) and (word[:1].isalnum() or word[:1] in "(["):
            text += " "
        text += word
    return text


def replace_span(
    text: str, offsets: list[tuple[int, int]] | list[list[int]], span: tuple[int, int], replacement: str
) -> str:
    """``text`` with the characters of tokens ``span`` (half-open, by their offsets) replaced.

    Args:
        text: the original text.
        offsets: (start, end) character offsets of each token (WordTokenizer.encode(text).offsets).
        span: (first token, one past the last token).
        replacement: the new text for that stretch.

    Raises:
        ValueError: for a span outside the tokens or an empty span.
    """
    start, end = span
    if not 0 <= start < end <= len(offsets):
        raise ValueError(f"A span must be 0 <= start < end <= {len(offsets)} tokens; got {span}.")
    return text[: offsets[start][0]] + replacement + text[offsets[end - 1][1] :]


@dataclass(frozen=True)
class AlignedPair:
    """A factual and a counterfactual token list of the same length.

    Attributes:
        differing: token positions where the two differ (all inside the marked spans).
        first_difference: the earliest differing position (the cue's start), or None if equal.
        last_difference: the latest differing position, or None.
    """

    differing: tuple[int, ...]

    @property
    def first_difference(self) -> int | None:
        return self.differing[0] if self.differing else None

    @property
    def last_difference(self) -> int | None:
        return self.differing[-1] if self.differing else None


def align_pair(
    factual: list[str], counterfactual: list[str], spans: list[tuple[int, int]] | None = None
) -> AlignedPair:
    """Check that two token lists differ only inside ``spans`` and say where they differ.

    Args:
        factual, counterfactual: the two texts' tokens.
        spans: half-open token spans where differences are allowed; None allows them anywhere.

    Raises:
        ValueError: the lengths differ (a swap must keep the token count), or a position outside
            every span differs (the message names the first few, with both words).
    """
    if len(factual) != len(counterfactual):
        raise ValueError(
            f"The factual and counterfactual texts must have the same number of tokens; got {len(factual)} and "
            f"{len(counterfactual)}. Swap a span for one of the same length (e.g. 'Mr. Robert' -> 'Mrs. Mary')."
        )
    differing = tuple(i for i, (a, b) in enumerate(zip(factual, counterfactual)) if a != b)
    if spans is not None:
        outside = [i for i in differing if not any(start <= i < end for start, end in spans)]
        if outside:
            shown = ", ".join(f"{i} ({factual[i][:20]!r} vs {counterfactual[i][:20]!r})" for i in outside[:5])
            raise ValueError(
                f"The texts may differ only inside the marked spans {spans}; they also differ at token "
                f"{shown}{' ...' if len(outside) > 5 else ''}. Mark those tokens or make the texts agree there."
            )
    return AlignedPair(differing=differing)


def contrast_pair(tokens: list[str], after: int = 0) -> tuple[int, str, str] | None:
    """The first gendered pronoun at or after ``after`` and its swap: (index, word, contrast), or None.

    "his" -> ("his", "her"), "she" -> ("she", "he"), ...; the target is what the text says and the
    contrast what the other gender would say, so log P(target) - log P(contrast) > 0 means the
    model agrees with the text.
    """
    swap = {**{a: b for a, b in PRONOUN_PAIRS}, **{b: a for a, b in PRONOUN_PAIRS if b != "her"}, "her": "his"}
    for index in range(max(after, 0), len(tokens)):
        if tokens[index] in swap:
            return index, tokens[index], swap[tokens[index]]
    return None


def find_span(tokens: list[str], cue: list[str], start: int = 0) -> tuple[int, int] | None:
    """The first half-open span at or after ``start`` where ``tokens`` holds the words of ``cue``, or None.

    >>> find_span(["The", "letters", "were"], ["letters"])
    (1, 2)
    """
    width = len(cue)
    if width == 0:
        return None
    for index in range(max(start, 0), len(tokens) - width + 1):
        if tokens[index : index + width] == cue:
            return index, index + width
    return None


@dataclass(frozen=True)
class CuePlan:
    """What a sentence's lesson is about: which prediction, against what, and which words decide it.

    Attributes:
        target_index: index of the predicted word in the tokens (len(tokens): the prediction after the text).
        target: the word the text calls for there ("his", "were", the closing quote).
        contrast: the alternative it is weighed against ("her", "was"), or None (no natural rival).
        cue_span: the half-open token span that decides it ("Mr . Robert"), or None.
        replacement: the counterfactual text for the cue span ("Mrs. Mary"), or None.
    """

    target_index: int
    target: str
    contrast: str | None
    cue_span: tuple[int, int] | None
    replacement: str | None

    @property
    def source_index(self) -> int | None:
        """The cue's last token (the name of "Mr . Robert"): where the ladder inserts its clauses."""
        return None if self.cue_span is None else self.cue_span[1] - 1


def plan_for(
    tokens: list[str],
    target: str | None = None,
    contrast: str | None = None,
    cue: str | None = None,
    replacement: str | None = None,
) -> CuePlan:
    """The lesson's choices for a token list: the given ones where given, defaults for the rest.

    Args:
        tokens: the text's tokens (the tokenizer's split).
        target, contrast: the predicted word and its rival (e.g. a preset's "were" / "was"). The target
            is the first occurrence after the cue; when the text holds none (the closing quote of an
            unfinished quotation), the prediction after the text. Default: the first gendered pronoun
            after the cue and its swap (:func:`contrast_pair`), else the last word with no contrast.
        cue: the deciding words as text ("Mr. Robert", "letters"); default :func:`default_cue_span`.
        replacement: the counterfactual for the cue; default :func:`default_replacement` (for a default cue).

    Example:
        >>> plan = plan_for(tokenize("Mr. Robert is going on a vacation with his wife."))
        >>> plan.target_index, plan.target, plan.contrast, plan.cue_span, plan.replacement
        (9, 'his', 'her', (0, 3), 'Mrs. Mary')
    """
    span = find_span(tokens, tokenize(cue)) if cue else default_cue_span(tokens)
    if span is not None and replacement is None and not cue:
        replacement = default_replacement(tokens, span)
    after = span[1] if span is not None else 1
    if target is not None:
        found = find_span(tokens, [target], after)
        return CuePlan(found[0] if found else len(tokens), target, contrast, span, replacement)
    pair = contrast_pair(tokens, after=after)
    if pair is not None:
        return CuePlan(pair[0], pair[1], contrast or pair[2], span, replacement)
    last = max(len(tokens) - 1, 0)
    return CuePlan(last, tokens[last] if tokens else "", contrast, span, replacement)
