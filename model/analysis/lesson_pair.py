"""The pair a lesson is about: a sentence, its counterfactual, the cue span, and the word to predict.

The lecture asks one question of every model: after reading a sentence up to the target word
(``his``), does it prefer the target to the contrast (``her``), and does that change when the cue
span is swapped ("Mr. Robert" -> "Mrs. Mary")? :func:`build_pair` turns what a teacher typed (or
nothing: the defaults of :mod:`data.cue_swap`) into that question, checked against one tokenizer.

Positions follow :mod:`model.analysis.inputs`: token k of the text is input k + 1 (``<eos>`` first),
and the prediction of word ``target_position`` is made after reading words 0 .. target_position - 1,
so ``target_position == len(tokens)`` means "the word after the text".
"""

from __future__ import annotations

from dataclasses import dataclass

from data.cue_swap import (
    align_pair,
    contrast_pair,
    default_cue_span,
    default_replacement,
    find_span,
    replace_span,
    tokenize,
)
from data.tokenizer import WordTokenizer
from model.analysis.inputs import prepare_input
from model.analysis.targets import word_id


@dataclass(frozen=True)
class LessonPair:
    """A factual sentence, its counterfactual and the prediction both are read at.

    Attributes:
        text: the factual sentence (cut to ``max_words`` tokens).
        counterfactual: the same sentence with the cue span swapped.
        tokens, counterfactual_tokens: the two token lists (same length).
        ids, counterfactual_ids: their vocabulary ids (same length, no ``<eos>``).
        cue_span: half-open token span holding every difference (the title and the name).
        parts: the cue span split into words with their trailing punctuation: (label, (start, end)),
            e.g. (("Mr.", (0, 1)), ("Robert", (2, 3))): word tokens, their full stops left out.
        target_position: index of the predicted word (len(tokens) = after the text).
        target, contrast: the two words compared, log P(target) - log P(contrast).
        differing: token positions where the two sentences differ.
    """

    text: str
    counterfactual: str
    tokens: tuple[str, ...]
    counterfactual_tokens: tuple[str, ...]
    ids: tuple[int, ...]
    counterfactual_ids: tuple[int, ...]
    cue_span: tuple[int, int]
    parts: tuple[tuple[str, tuple[int, int]], ...]
    target_position: int
    target: str
    contrast: str
    differing: tuple[int, ...]

    @property
    def cue_text(self) -> str:
        """The factual cue as typed ("Mr. Robert")."""
        start, end = self.cue_span
        return _words_text(list(self.tokens[start:end]))

    @property
    def replacement_text(self) -> str:
        """The counterfactual cue ("Mrs. Mary")."""
        start, end = self.cue_span
        return _words_text(list(self.counterfactual_tokens[start:end]))

    def counterfactual_label(self, label: str, span: tuple[int, int]) -> str:
        """What a part reads as in the counterfactual ("Mr." -> "Mrs."): its tokens there, same punctuation."""
        start, end = span
        own = _words_text(list(self.tokens[start:end]))
        return _words_text(list(self.counterfactual_tokens[start:end])) + label[len(own) :]

    @property
    def context_word(self) -> str:
        """The word the prediction is made after ("with"), or "" when the target is the first word."""
        return self.tokens[self.target_position - 1] if self.target_position >= 1 else ""

    @property
    def distance(self) -> int:
        """Tokens strictly between the end of the cue and the predicted word."""
        return self.target_position - self.cue_span[1]


def _words_text(tokens: list[str]) -> str:
    """Tokens as a reader writes them: punctuation joined to the word before ("Mr" "." -> "Mr.")."""
    text = ""
    for token in tokens:
        if text and (token[:1].isalnum() or token[:1] in "\"'(["):
            text += " "
        text += token
    return text


def cue_parts(tokens: list[str] | tuple[str, ...], span: tuple[int, int]) -> tuple[tuple[str, tuple[int, int]], ...]:
    """The words of a cue span, one span each, labelled with the punctuation that follows them.

    A part is one word token; a full stop after it is shown in the label ("Mr.") but not included
    in the part, because it is the same in both sentences (swapping or hiding a part never touches it).

    Example:
        >>> cue_parts(["Mr", ".", "Robert", "is"], (0, 3))
        (('Mr.', (0, 1)), ('Robert', (2, 3)))
    """
    start, end = span
    parts = []
    for index in range(start, end):
        if not tokens[index][:1].isalnum():
            continue
        label, after = tokens[index], index + 1
        while after < end and not tokens[after][:1].isalnum():
            label, after = label + tokens[after], after + 1
        parts.append((label, (index, index + 1)))
    if not parts:  # a cue of punctuation only (an opening quote): the whole span is its one part
        parts.append((_words_text(list(tokens[start:end])), (start, end)))
    return tuple(parts)


def _target_after(tokens: list[str], after: int, target: str | None, contrast: str | None) -> tuple[int, str, str]:
    """(position, target, contrast): the first pronoun after the cue by default, else the typed words."""
    if target is None:
        found = contrast_pair(tokens, after=after)
        if found is None:
            raise ValueError(
                "No gendered pronoun (his, her, he, she, him, ...) follows the cue in this sentence, so there is "
                "no default target; set the target and contrast words (e.g. target 'were', contrast 'was')."
            )
        position, word, other = found
        return position, word, contrast or other
    if contrast is None:
        found = contrast_pair([target])
        if found is None:
            raise ValueError(
                f"The target {target!r} has no default contrast word; set one (e.g. target 'were', contrast 'was')."
            )
        contrast = found[2]
    later = [index for index in range(after, len(tokens)) if tokens[index] == target]
    return (later[0] if later else len(tokens)), target, contrast


def counterfactual_text(text: str, cue: str, replacement: str) -> str:
    """``text`` with its first occurrence of the cue words replaced (a preset's "letters" -> "letter").

    Raises:
        ValueError: the cue's words do not occur in the text.

    Example:
        >>> counterfactual_text("The letters were sent.", "letters", "letter")
        'The letter were sent.'
    """
    tokens = tokenize(text)
    span = find_span(tokens, tokenize(cue))
    if span is None:
        raise ValueError(f"The cue {cue!r} does not occur in {text[:80]!r}; name words of the sentence.")
    offsets, position = [], 0
    for token in tokens:  # the tokenizer's split keeps every token as typed, in order
        start = text.index(token, position)
        offsets.append((start, start + len(token)))
        position = start + len(token)
    return replace_span(text, offsets, span, replacement)


def build_pair(
    tokenizer: WordTokenizer,
    text: str,
    counterfactual: str | None = None,
    target: str | None = None,
    contrast: str | None = None,
    max_words: int = 80,
) -> LessonPair:
    """Check and complete a lesson's sentence pair.

    Args:
        tokenizer: the models' tokenizer (ids and the vocabulary check come from it).
        text: the factual sentence.
        counterfactual: the whole counterfactual sentence; None swaps the first title-and-name cue
            (:func:`data.cue_swap.default_cue_span`, :func:`data.cue_swap.default_replacement`).
        target, contrast: the compared words; None takes the first gendered pronoun after the cue
            and its swap (:func:`data.cue_swap.contrast_pair`). The target is read at its first
            occurrence after the cue, or after the text when it does not occur there.
        max_words: longer texts are cut (the counterfactual to the same length).

    Returns:
        A :class:`LessonPair`.

    Raises:
        ValueError: an empty text, no cue to swap, a counterfactual of another length or equal to
            the text, no target, or a target/contrast word outside the vocabulary; each message says
            what to type instead.

    Example:
        >>> pair = build_pair(tokenizer, "Mr. Robert is going on a vacation with his wife.")
        >>> pair.counterfactual, pair.target_position, pair.target, pair.contrast
        ('Mrs. Mary is going on a vacation with his wife.', 9, 'his', 'her')
    """
    factual = prepare_input(tokenizer, text, max_words)
    tokens = list(factual.tokens)
    if counterfactual is None or not counterfactual.strip():
        span = default_cue_span(tokens)
        if span is None:
            raise ValueError(
                "This sentence has no title-and-name cue (such as 'Mr. Robert') to swap; type a counterfactual "
                "sentence with the same number of words that differs only in the cue."
            )
        counterfactual = replace_span(factual.text, factual.encoded.offsets, span, default_replacement(tokens, span))
    other = prepare_input(tokenizer, counterfactual, max_words)
    aligned = align_pair(tokens, list(other.tokens))
    if not aligned.differing:
        raise ValueError(
            "The counterfactual is the same sentence; change the cue (for example 'Mr. Robert' -> 'Mrs. Mary')."
        )
    first, last = aligned.first_difference, aligned.last_difference
    span = default_cue_span(tokens)
    if span is None or not (span[0] <= first and last < span[1]):
        span = (first, last + 1)
    position, target, contrast = _target_after(tokens, span[1], target, contrast)
    word_id(tokenizer, target, "target")
    word_id(tokenizer, contrast, "contrast")
    if target == contrast:
        raise ValueError(f"The target and the contrast must differ; both are {target!r}.")
    return LessonPair(
        text=factual.text,
        counterfactual=other.text,
        tokens=tuple(tokens),
        counterfactual_tokens=tuple(other.tokens),
        ids=tuple(int(i) for i in factual.encoded.ids),
        counterfactual_ids=tuple(int(i) for i in other.encoded.ids),
        cue_span=span,
        parts=cue_parts(tokens, span),
        target_position=position,
        target=target,
        contrast=contrast,
        differing=aligned.differing,
    )
