"""Typed text -> model input, with the positions mapped back to the user's characters.

The model reads ``[<eos>] + word ids``: the ``<eos>`` stands for "a paragraph
starts here", which is how every paragraph began in training.

    text:      "Mr. Robert is ..."
    words:      Mr   .   Robert  is  ...          (T words, position 0..T-1)
    ids:  <eos> Mr   .   Robert  is  ...          [1, T + 1]
    output t:   reads words 0..t, predicts word t+1 (for t = T-1: the next word after the text)

Output t of the model is at index t + 1 of its [1, T + 1, V] logits.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from data.tokenizer import Encoded, WordTokenizer

DEFAULT_MAX_WORDS = 400


class EmptyTextError(ValueError):
    """The text has no tokens to analyse."""


@dataclass(frozen=True)
class AnalysisInput:
    """A tokenized text ready for a model.

    Attributes:
        text: the text as analysed (cut to ``max_words`` if it was longer).
        encoded: tokens, ids, character offsets and unknown flags, one per word.
        ids: [1, T + 1] long tensor, ``<eos>`` first.
        truncated: True when the original text had more than ``max_words`` words.
        original_words: word count before cutting.
    """

    text: str
    encoded: Encoded
    ids: torch.Tensor
    truncated: bool
    original_words: int

    @property
    def tokens(self) -> list[str]:
        return self.encoded.tokens

    @property
    def num_words(self) -> int:
        return len(self.encoded)

    @property
    def word_ids(self) -> torch.Tensor:
        """[T] ids of the typed words (no ``<eos>``)."""
        return self.ids[0, 1:]


def prepare_input(tokenizer: WordTokenizer, text: str, max_words: int = DEFAULT_MAX_WORDS) -> AnalysisInput:
    """Tokenize ``text`` for analysis.

    Args:
        tokenizer: the checkpoint's tokenizer.
        text: any string; odd Unicode is fine (unknown symbols become ``<unk>``).
        max_words: longer texts are cut to their first ``max_words`` tokens and
            ``truncated`` is set, so callers can say so.

    Returns:
        An :class:`AnalysisInput`.

    Raises:
        EmptyTextError: when the text has no tokens (empty or only spaces).
    """
    if not isinstance(text, str):
        raise TypeError(f"text must be a string; got {type(text).__name__}.")
    if max_words < 1:
        raise ValueError(f"max_words must be at least 1; got {max_words}.")
    encoded = tokenizer.encode(text)
    if len(encoded) == 0:
        raise EmptyTextError("The text is empty: type at least one word.")
    original_words = len(encoded)
    truncated = original_words > max_words
    if truncated:
        end = encoded.offsets[max_words - 1][1]
        text = text[:end]
        encoded = Encoded(
            tokens=encoded.tokens[:max_words],
            ids=encoded.ids[:max_words],
            offsets=encoded.offsets[:max_words],
            unknown=encoded.unknown[:max_words],
        )
    ids = torch.tensor([[tokenizer.eos_id, *encoded.ids]], dtype=torch.long)  # [1, T + 1]
    return AnalysisInput(text=text, encoded=encoded, ids=ids, truncated=truncated, original_words=original_words)
