"""Which of two words each model prefers at one prediction, and a sentence that says it.

The views and the lecture state a finding in words ("Every model prefers 'was' to 'were'")
only from these numbers: the log-probabilities of the two words at the prediction, their
ranks among all words, and the margin log P(target) - log P(contrast) in nats (> 0: the
model prefers the target, the word the text calls for).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Mapping, Sequence

import torch

from data.tokenizer import WordTokenizer


def word_scores(log_probs: torch.Tensor, tokenizer: WordTokenizer, words: Sequence[str]) -> dict[str, dict | None]:
    """Log-probability, probability and rank of a few words in one predicted distribution.

    Args:
        log_probs: [V] normalised log-probabilities of one prediction.
        tokenizer: the model's tokenizer.
        words: the words to read (None in the result for a word outside the vocabulary).

    Returns:
        word -> {"log_prob", "prob", "rank"} (rank 1 = the most probable word) or None.
    """
    scores: dict[str, dict | None] = {}
    for word in words:
        index = tokenizer.token_to_id(word) if word else None
        if index is None:
            scores[word] = None
            continue
        value = log_probs[index]
        scores[word] = {
            "log_prob": float(value),
            "prob": math.exp(float(value)),
            "rank": int((log_probs > value).sum()) + 1,
        }
    return scores


def margin(scores: Mapping[str, dict | None], target: str, contrast: str) -> float | None:
    """log P(target) - log P(contrast) in nats from :func:`word_scores` (None if either is unknown)."""
    good, bad = scores.get(target), scores.get(contrast)
    if good is None or bad is None:
        return None
    return good["log_prob"] - bad["log_prob"]


@dataclass(frozen=True)
class PreferenceSummary:
    """What several models prefer at one prediction.

    Attributes:
        right: models whose margin is above 0 (they prefer the target).
        wrong: models whose margin is 0 or below.
        sentence: the finding in words, with the margins (Markdown-free plain text).
    """

    right: tuple[str, ...]
    wrong: tuple[str, ...]
    sentence: str

    @property
    def all_wrong(self) -> bool:
        """Every model prefers the contrast (and there is at least one)."""
        return bool(self.wrong) and not self.right

    @property
    def all_right(self) -> bool:
        return bool(self.right) and not self.wrong


def signed(value: float, digits: int = 2) -> str:
    """A number with its sign and a true minus: "+0.59", "−1.07"."""
    return f"{value:+.{digits}f}".replace("-", "−")


def _names(names: Sequence[str]) -> str:
    return names[0] if len(names) == 1 else ", ".join(names[:-1]) + " and " + names[-1]


def summarize_preferences(margins: Mapping[str, float | None], target: str, contrast: str) -> PreferenceSummary:
    """Say which models prefer ``target`` over ``contrast``.

    Args:
        margins: model name -> log P(target) - log P(contrast) in nats (None: not measurable, left out).
        target, contrast: the two words.

    Returns:
        A :class:`PreferenceSummary`.

    Raises:
        ValueError: no model has a margin.

    Example:
        >>> summarize_preferences({"rnn": -2.1, "lstm": -1.8}, "were", "was").sentence
        'Every model prefers “was” to “were” here (rnn −2.10, lstm −1.80 nats).'
    """
    known = {name: value for name, value in margins.items() if value is not None}
    if not known:
        raise ValueError(
            f"No model has a margin for {target!r} over {contrast!r} (both words must be in its vocabulary)."
        )
    right = tuple(name for name, value in known.items() if value > 0)
    wrong = tuple(name for name, value in known.items() if value <= 0)
    numbers = ", ".join(f"{name} {signed(value)}" for name, value in known.items())
    if not right:
        finding = (
            f"Every model prefers “{contrast}” to “{target}” here"
            if len(wrong) > 1
            else f"{wrong[0]} prefers “{contrast}” to “{target}” here"
        )
    elif not wrong:
        finding = (
            f"Every model prefers “{target}” to “{contrast}” here"
            if len(right) > 1
            else f"{right[0]} prefers “{target}” to “{contrast}” here"
        )
    else:
        finding = (
            f"{_names(right)} {'prefers' if len(right) == 1 else 'prefer'} “{target}”; "
            f"{_names(wrong)} {'prefers' if len(wrong) == 1 else 'prefer'} “{contrast}”"
        )
    return PreferenceSummary(right=right, wrong=wrong, sentence=f"{finding} ({numbers} nats).")


def swap_finding(
    before: Mapping[str, float | None], after: Mapping[str, float | None], target: str, contrast: str
) -> str:
    """What a counterfactual swap does to each model's preference, in one sentence.

    Args:
        before, after: model -> log P(target) - log P(contrast) on the text and on its counterfactual
            (nats; None: not measured, left out).
        target, contrast: the two words.

    Returns:
        e.g. 'The swap flips lstm and gru from “his” to “her”; rnn prefers “her” either way.'

    Raises:
        ValueError: no model has both numbers.
    """
    both = {
        name: (before[name], after[name]) for name in before if before[name] is not None and after.get(name) is not None
    }
    if not both:
        raise ValueError("No model has a margin on both sentences of the swap.")
    groups: dict[str, list[str]] = {}
    for name, (old, new) in both.items():
        if old > 0 >= new:
            key = f"flips {{names}} from “{target}” to “{contrast}”"
        elif old <= 0 < new:
            key = f"flips {{names}} from “{contrast}” to “{target}”"
        elif old > 0:
            key = f"{{names}} {{verb}} “{target}” either way"
        else:
            key = f"{{names}} {{verb}} “{contrast}” either way"
        groups.setdefault(key, []).append(name)
    phrases = [
        key.format(names=_names(names), verb="prefers" if len(names) == 1 else "prefer")
        for key, names in groups.items()
    ]
    flips = [phrase for phrase in phrases if phrase.startswith("flips")]
    rest = [phrase for phrase in phrases if not phrase.startswith("flips")]
    sentence = "The swap " + " and ".join(flips) if flips else "The swap flips no model"
    return sentence + ("; " + "; ".join(rest) if rest else "") + "."
