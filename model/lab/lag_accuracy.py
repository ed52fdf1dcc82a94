"""Accuracy at the dependent word vs lag: does the model remember which cue opened the sequence?

For each held-out sequence (data/long_lag.py) the model reads ``[<eos>] + tokens[:lag]``
(the cue at index 0); its last output is the distribution of the next word, the
dependent one. It is right when the answer has the highest logit among the cue
family's closing words ("his" vs "her"; ")" vs "]" vs "}"). A uniform guess is right
1 / (number of alternatives) of the time: that is the chance level.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable

import torch

from data.long_lag import LagSequence
from data.tokenizer import WordTokenizer
from model.core.language_model import LanguageModel, model_device
from model.lab.batched_model import BatchedRecurrentLM


@dataclass
class LagCurve:
    """Accuracy at the dependent word, per lag.

    Attributes:
        accuracy: lag -> share of held-out sequences where the right closer scored highest.
        by_cue: cue family -> lag -> accuracy.
        chance: lag -> accuracy of a uniform guess among the alternatives.
        count: lag -> sequences measured.
    """

    accuracy: dict[int, float]
    by_cue: dict[str, dict[int, float]]
    chance: dict[int, float]
    count: dict[int, int]

    def first_lag_below(self, threshold: float) -> int | None:
        """The shortest measured lag whose accuracy is below ``threshold`` (None: never)."""
        return next((lag for lag in sorted(self.accuracy) if self.accuracy[lag] < threshold), None)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready copy (lags as string keys)."""
        return {
            "accuracy": {str(k): v for k, v in self.accuracy.items()},
            "chance": {str(k): v for k, v in self.chance.items()},
            "count": {str(k): v for k, v in self.count.items()},
            "by_cue": {cue: {str(k): v for k, v in curve.items()} for cue, curve in self.by_cue.items()},
        }


def _sequence_ids(tokenizer: WordTokenizer, tokens: tuple[str, ...] | list[str]) -> list[int]:
    ids = []
    for token in tokens:
        index = tokenizer.token_to_id(token)
        if index is None:
            raise ValueError(
                f"The evaluation word {token!r} is not in the tokenizer's vocabulary. "
                "Evaluate with the tokenizer trained on the same long-lag corpus (same cue families and filler words)."
            )
        ids.append(index)
    return ids


def _group(sequences: list[LagSequence]) -> dict[tuple[int, str], list[LagSequence]]:
    if not sequences:
        raise ValueError("Pass at least one evaluation sequence.")
    groups: dict[tuple[int, str], list[LagSequence]] = {}
    for sequence in sequences:
        groups.setdefault((sequence.lag, sequence.cue_type), []).append(sequence)
    return groups


def _count_correct(
    groups: dict[tuple[int, str], list[LagSequence]],
    tokenizer: WordTokenizer,
    device: torch.device,
    last_logits: Callable[[torch.Tensor], torch.Tensor],
) -> dict[tuple[int, str], torch.Tensor]:
    """(lag, cue) -> right answers per model [M], with ``last_logits(ids [N, lag + 1]) -> [M, N, V]``."""
    correct = {}
    for (lag, cue), group in groups.items():
        ids = torch.tensor(
            [[tokenizer.eos_id] + _sequence_ids(tokenizer, s.tokens[:lag]) for s in group], device=device
        )  # [N, lag + 1]
        alternatives = torch.tensor(_sequence_ids(tokenizer, group[0].alternatives), device=device)  # [K]
        answers = torch.tensor([group[0].alternatives.index(s.answer) for s in group], device=device)  # [N]
        chosen = last_logits(ids)[..., alternatives].argmax(dim=-1)  # [M, N]
        correct[(lag, cue)] = (chosen == answers).sum(dim=-1).cpu()  # [M]
    return correct


def _curve(groups: dict[tuple[int, str], list[LagSequence]], correct: dict[tuple[int, str], int]) -> LagCurve:
    accuracy, chance, count, by_cue = {}, {}, {}, {}
    for lag in sorted({lag for lag, _ in groups}):
        keys = [key for key in groups if key[0] == lag]
        count[lag] = sum(len(groups[key]) for key in keys)
        accuracy[lag] = sum(correct[key] for key in keys) / count[lag]
        chance[lag] = sum(len(groups[key]) / len(groups[key][0].alternatives) for key in keys) / count[lag]
        for key in keys:
            by_cue.setdefault(key[1], {})[lag] = correct[key] / len(groups[key])
    return LagCurve(accuracy, by_cue, chance, count)


@torch.no_grad()
def lag_accuracy(model: LanguageModel, tokenizer: WordTokenizer, sequences: list[LagSequence]) -> LagCurve:
    """Accuracy at the dependent word for each lag (one forward pass per lag and cue family).

    The model reads ``[<eos>] + tokens[:lag]`` (cue at index 0) and its last output
    is the distribution of the next word, the dependent one. It is right when the
    answer has the highest logit among the family's alternatives.

    Args:
        model: a language model; if it is in train mode it is switched to eval for
            the measurement and back afterwards (only the lab's own training model is).
        tokenizer: the vocabulary the model was trained with.
        sequences: held-out sequences from data.long_lag.evaluation_sequences.

    Returns:
        A :class:`LagCurve`.
    """
    groups = _group(sequences)
    was_training = model.training
    model.eval()

    def last_logits(ids: torch.Tensor) -> torch.Tensor:
        features, _ = model.features(ids)  # [N, lag + 1, H]
        return model.logits_from_features(features[:, -1]).unsqueeze(0)  # [1, N, V]

    try:
        correct = _count_correct(groups, tokenizer, model_device(model), last_logits)
    finally:
        if was_training:
            model.train()
    return _curve(groups, {key: int(value[0]) for key, value in correct.items()})


@torch.no_grad()
def batched_lag_accuracy(
    model: BatchedRecurrentLM, tokenizer: WordTokenizer, sequences: list[LagSequence]
) -> list[LagCurve]:
    """:func:`lag_accuracy` for each of the S models of a BatchedRecurrentLM, all read in one pass per lag and cue.

    Returns:
        One :class:`LagCurve` per model, in the order of ``model.seeds``.
    """
    groups = _group(sequences)
    count = model.num_models

    def last_logits(ids: torch.Tensor) -> torch.Tensor:
        features, _ = model.time_major_features(ids.unsqueeze(0).expand(count, -1, -1))  # [lag + 1, S, N, H]
        return model.logits_from_features(features[-1])  # [S, N, V]

    correct = _count_correct(groups, tokenizer, model.embedding.device, last_logits)
    return [_curve(groups, {key: int(value[index]) for key, value in correct.items()}) for index in range(count)]
