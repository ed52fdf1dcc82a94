"""What an influence explains: the function f_t of the model's prediction at output position t.

Three kinds, all in nats (natural-log probabilities):

* ``next_word``: f_t = log P(word t+1 | words 0..t), the actual next word of
  the text. The last position has no next word in the text; there f_t is the
  log-probability of the model's own top guess (argmax), so the last row still
  says what drives the prediction the user is about to see. ``last_is_guess``
  marks this.
* ``word``: f_t = log P(w | words 0..t) for one chosen word w at every position.
* ``contrast``: f_t = log P(good) - log P(bad), e.g. "his" vs "her". Positive
  means the model prefers the good word; the shared normaliser cancels, so a
  contrast isolates the choice between the two words.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable, Union

import torch
from torch.nn import functional

from data.tokenizer import WordTokenizer
from model.core.language_model import LanguageModel

TARGET_KINDS = ("next_word", "word", "contrast")


@dataclass(frozen=True)
class TargetSpec:
    """A target function, before it meets a tokenizer.

    Attributes:
        kind: "next_word", "word" or "contrast".
        word: the chosen word ("word") or the good word ("contrast").
        contrast: the bad word ("contrast" only).

    Example:
        >>> TargetSpec.from_words("his", "her").describe()
        "log P('his') - log P('her')"
    """

    kind: str = "next_word"
    word: str | None = None
    contrast: str | None = None

    def __post_init__(self) -> None:
        if self.kind not in TARGET_KINDS:
            raise ValueError(f"target kind must be one of {TARGET_KINDS}; got {self.kind!r}.")
        if self.kind in ("word", "contrast") and not self.word:
            raise ValueError(f"target kind {self.kind!r} needs a word (e.g. word='his'); got {self.word!r}.")
        if self.kind == "contrast" and not self.contrast:
            raise ValueError(
                f"target kind 'contrast' needs a contrast word (e.g. contrast='her'); got {self.contrast!r}."
            )

    @classmethod
    def from_words(cls, target_word: str | None = None, contrast_word: str | None = None) -> "TargetSpec":
        """None/None -> next_word; a word -> word; a word and a contrast -> contrast.

        Raises:
            ValueError: a contrast word without a target word.
        """
        if contrast_word and not target_word:
            raise ValueError(
                f"A contrast word ({contrast_word!r}) needs a target word to compare with; pass both, e.g. 'his' and 'her'."
            )
        if target_word and contrast_word:
            return cls("contrast", target_word, contrast_word)
        if target_word:
            return cls("word", target_word)
        return cls()

    def describe(self) -> str:
        """A formula for the function, for labels: "log P(next word)", "log P('his') - log P('her')"."""
        if self.kind == "next_word":
            return "log P(next word)"
        if self.kind == "word":
            return f"log P({self.word!r})"
        return f"log P({self.word!r}) - log P({self.contrast!r})"


@dataclass(frozen=True)
class PositionTargets:
    """A target resolved to word ids at every output position.

    Attributes:
        good: [T] ids whose log-probability counts positively.
        bad: [T] ids subtracted (contrast), or None.
        last_is_guess: True when the last good id is the model's own top guess
            (next_word: the text has no next word there).
        description: the formula, from :meth:`TargetSpec.describe`.
    """

    good: torch.Tensor
    bad: torch.Tensor | None
    last_is_guess: bool
    description: str

    @property
    def word_ids(self) -> torch.Tensor:
        """[T, K] ids to read: K = 1, or 2 for a contrast (good, bad)."""
        if self.bad is None:
            return self.good[:, None]
        return torch.stack([self.good, self.bad], dim=1)

    def combine(self, selected: torch.Tensor) -> torch.Tensor:
        """Log-probabilities of :attr:`word_ids`, [..., T, K] -> f [..., T]."""
        if self.bad is None:
            return selected[..., 0]
        return selected[..., 0] - selected[..., 1]

    def values(self, log_probs: torch.Tensor) -> torch.Tensor:
        """f_t from full log-probabilities.

        Args:
            log_probs: [..., T, V] normalised log-probabilities (log_softmax).

        Returns:
            [..., T] target values in nats.
        """
        ids = self.word_ids.to(log_probs.device)  # [T, K]
        ids = ids.expand(*log_probs.shape[:-1], ids.size(-1))  # [..., T, K]
        return self.combine(log_probs.gather(-1, ids))


# What the analyses accept as targets: the ids themselves, or a rule that picks them from the text's
# [T, V] log-probabilities (the next-word target needs the model's own guess after the last word).
TargetsOrResolver = Union[PositionTargets, Callable[[torch.Tensor], PositionTargets]]


def targets_for(targets: TargetsOrResolver, log_probs: Callable[[], torch.Tensor]) -> PositionTargets:
    """``targets`` as given, or the rule applied to ``log_probs()`` ([T, V], computed only when a rule needs it)."""
    return targets(log_probs()) if callable(targets) else targets


def target_values(log_probs: torch.Tensor, targets: PositionTargets) -> torch.Tensor:
    """f_t at every output position: [..., T, V] log-probabilities -> [..., T] (see :meth:`PositionTargets.values`).

    Example:
        >>> target_values(log_probs, resolve_targets(TargetSpec(), tokenizer, inputs.word_ids, log_probs))
    """
    return targets.values(log_probs)


def word_id(tokenizer: WordTokenizer, word: str, role: str = "target") -> int:
    """The vocabulary id of one word, or a ValueError that says how to pick another.

    Args:
        tokenizer: the checkpoint's tokenizer.
        word: one word as typed (case matters: "Robert", "his").
        role: how the error message names the word ("target", "contrast", ...).

    Returns:
        The id.

    Raises:
        ValueError: the word is empty, has several tokens, or is not in the vocabulary.

    Example:
        >>> word_id(tokenizer, "his") == tokenizer.token_to_id("his")
        True
    """
    if not isinstance(word, str) or not word.strip():
        raise ValueError(f"The {role} word must be a non-empty string; got {word!r}.")
    cleaned = word.strip()
    index = tokenizer.token_to_id(cleaned)
    if index is None:
        pieces = tokenizer.encode(cleaned).tokens
        if len(pieces) > 1:
            raise ValueError(
                f"The {role} word must be a single token; {cleaned!r} splits into {pieces}. Pick one word, e.g. 'his'."
            )
        raise ValueError(
            f"The {role} word {cleaned!r} is not in the model's vocabulary of {tokenizer.vocab_size} words, "
            "so it has no probability to explain. Pick a word the model knows (words keep their case)."
        )
    return index


def resolve_targets(
    spec: TargetSpec, tokenizer: WordTokenizer, word_ids: torch.Tensor, log_probs: torch.Tensor
) -> PositionTargets:
    """Turn a spec into ids at each of the T output positions.

    Args:
        spec: the target function.
        tokenizer: the checkpoint's tokenizer (checks chosen words).
        word_ids: [T] ids of the typed words (no ``<eos>``).
        log_probs: [T, V] log-probabilities of the text; only the last row is
            read (the top guess after the text, for next_word).

    Returns:
        A :class:`PositionTargets`.

    Raises:
        ValueError: an unknown or multi-token chosen word.

    Example:
        >>> inputs = prepare_input(tokenizer, "Mr. Robert is going on a vacation with")
        >>> targets = resolve_targets(TargetSpec.from_words("his", "her"), tokenizer, inputs.word_ids, log_probs)
        >>> targets.values(log_probs)[-1]   # log P(his) - log P(her) after "with"
    """
    length = int(word_ids.numel())
    word_ids = word_ids.reshape(-1).to(torch.long)
    if spec.kind == "next_word":
        last_guess = log_probs[-1].argmax().reshape(1).to(word_ids.device)  # [1]
        good = torch.cat([word_ids[1:], last_guess])  # [T]
        return PositionTargets(good=good, bad=None, last_is_guess=True, description=spec.describe())
    good = torch.full((length,), word_id(tokenizer, spec.word, "target"), dtype=torch.long, device=word_ids.device)
    bad = None
    if spec.kind == "contrast":
        bad = torch.full(
            (length,), word_id(tokenizer, spec.contrast, "contrast"), dtype=torch.long, device=word_ids.device
        )
    return PositionTargets(good=good, bad=bad, last_is_guess=False, description=spec.describe())


def selected_log_probs(
    model: LanguageModel, features: torch.Tensor, word_ids: torch.Tensor, decoder: Any = None
) -> torch.Tensor:
    """log P(word) for a few chosen words per row, without building the full [N, V] matrix.

    Equal to ``log_softmax(model.logits_from_features(features)).gather(-1, word_ids)``
    (tests prove it). With the adaptive softmax (Grave et al. 2017) only the head
    and the clusters that hold a chosen word are computed, which is what makes
    occlusion (T^2 / 2 predictions) affordable.

    Args:
        model: the language model.
        features: [N, H] top-layer outputs.
        word_ids: [N, K] long ids.
        decoder: the model's decoder (default) or a :class:`model.analysis.recurrence.onednn.PreparedDecoder`
            of it, for the faster products in no-grad analyses.

    Returns:
        [N, K] log-probabilities in nats.

    Example:
        >>> features, _ = model.features(ids)                       # [1, T + 1, H]
        >>> selected_log_probs(model, features[0], ids[0, 1:, None].roll(-1, 0))  # [T + 1, 1]
    """
    decoder = model.decoder if decoder is None else decoder
    if model.config.decoder == "full":
        return functional.log_softmax(decoder(features), dim=-1).gather(-1, word_ids)  # [N, K]
    shortlist = decoder.shortlist_size
    head = functional.log_softmax(decoder.head(features), dim=-1)  # [N, shortlist + clusters]
    result = head.gather(-1, word_ids.clamp(max=shortlist - 1))  # [N, K], right where id < shortlist
    for cluster, (start, stop) in enumerate(zip(decoder.cutoffs[:-1], decoder.cutoffs[1:])):
        inside = (word_ids >= start) & (word_ids < stop)  # [N, K]
        rows = inside.any(dim=1).nonzero().squeeze(1)  # [R]
        if rows.numel() == 0:
            continue
        tail = functional.log_softmax(decoder.tail[cluster](features[rows]), dim=-1)  # [R, stop - start]
        local = (word_ids[rows] - start).clamp(0, stop - start - 1)  # [R, K]
        values = tail.gather(-1, local) + head[rows, shortlist + cluster, None]  # [R, K]
        result = result.index_put((rows,), torch.where(inside[rows], values, result[rows]))
    return result
