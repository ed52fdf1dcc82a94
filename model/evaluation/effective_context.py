"""Effective context: how much a model's loss on a word grows when the words d back are replaced or cut (`python -m model.context` measures it).

See :func:`effective_context` for the method.
"""

from __future__ import annotations

import json
import math
import os
from dataclasses import dataclass
from typing import Any

import torch

from data.corpus import split_paragraphs
from data.files import write_json_atomic
from data.tokenizer import WordTokenizer
from model.core.language_model import LanguageModel, last_position_log_probs, model_device, require_eval_mode

DEFAULT_DISTANCES = (1, 2, 5, 10, 20, 50, 100, 200)


PERTURBATIONS = ("drop", "shuffle", "replace")


_CHUNK_ROWS = 128  # contexts per forward pass: bounds the [rows, C, H] feature tensor


@dataclass
class ContextResult:
    """The effective-context curves of one model.

    Attributes:
        distances: the distances d (tokens).
        baseline_loss: mean loss with the intact history (nats per token).
        increase: perturbation -> mean loss increase at each distance (nats).
        standard_error: perturbation -> standard error of each mean increase.
        positions: how many target positions were measured.
        context_length: tokens of history each target had.
    """

    distances: list[int]
    baseline_loss: float
    increase: dict[str, list[float]]
    standard_error: dict[str, list[float]]
    positions: int
    context_length: int

    def to_dict(self) -> dict[str, Any]:
        return {
            "distances": self.distances,
            "baseline_loss": self.baseline_loss,
            "increase": self.increase,
            "standard_error": self.standard_error,
            "positions": self.positions,
            "context_length": self.context_length,
        }

    @classmethod
    def from_dict(cls, value: dict[str, Any]) -> "ContextResult":
        """The inverse of :meth:`to_dict` (extra keys, such as where it was measured, are ignored)."""
        try:
            return cls(
                list(value["distances"]),
                float(value["baseline_loss"]),
                dict(value["increase"]),
                dict(value["standard_error"]),
                int(value["positions"]),
                int(value["context_length"]),
            )
        except (KeyError, TypeError, ValueError) as error:
            raise ValueError(
                f"Not an effective-context result ({error!r}); measure it again with python -m model.context."
            ) from error


def save_to_metrics(checkpoint_path: str, record: dict[str, Any]) -> None:
    """Store one measurement under "effective_context" in the checkpoint's metrics.json, atomically.

    Args:
        checkpoint_path: the checkpoint folder.
        record: ``ContextResult.to_dict()`` plus where it was measured (text, sha256, command).
    """

    path = os.path.join(checkpoint_path, "metrics.json")
    with open(path, encoding="utf-8") as stream:
        metrics = json.load(stream)
    metrics["effective_context"] = record
    write_json_atomic(path, metrics)


def text_stream(tokenizer: WordTokenizer, text: str) -> torch.Tensor:
    """A text as one id stream [N], paragraphs each followed by ``<eos>`` (as in training)."""
    paragraphs = split_paragraphs(text)
    return torch.tensor([i for ids in tokenizer.iter_ids(paragraphs) for i in ids], dtype=torch.long)  # [N]


def sample_positions(stream_length: int, count: int, context_length: int, generator: torch.Generator) -> torch.Tensor:
    """``count`` distinct target positions, each with ``context_length`` tokens before it, sorted."""
    available = stream_length - context_length
    if available < 1:
        raise ValueError(
            f"The text has {stream_length} tokens; each target needs {context_length} tokens of history before it. "
            "Pass a longer text or a smaller context length."
        )
    count = min(count, available)
    return torch.randperm(available, generator=generator)[:count].sort().values + context_length  # [N]


def build_contexts(
    stream: torch.Tensor,
    positions: torch.Tensor,
    distances: list[int],
    perturbation: str,
    context_length: int,
    generator: torch.Generator,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Perturbed histories for every (position, distance), as one right-padded batch.

    Args:
        stream: the text's ids [S].
        positions: target positions [N], each >= context_length.
        distances: the distances d; tokens farther than d from the target are perturbed.
        perturbation: "drop", "shuffle" or "replace".
        context_length: C, the history length.
        generator: seeds shuffles and replacement spans.

    Returns:
        ids [N * D, C] (position-major: row n * D + k is position n at distances[k])
        and lengths [N * D]: the model's output at index length - 1 predicts the target.
    """
    if perturbation not in PERTURBATIONS:
        raise ValueError(f"perturbation must be one of {PERTURBATIONS}; got {perturbation!r}.")
    offsets = torch.arange(-context_length, 0)  # [C]
    histories = stream[positions[:, None] + offsets]  # [N, C]
    rows, lengths = [], []
    for history in histories:
        for distance in distances:
            far = context_length - distance  # tokens in the far part
            context = history.clone()  # [C]
            length = context_length
            if perturbation == "drop":
                context = torch.cat([history[far:], history.new_zeros(far)])  # near part first, padding after
                length = distance
            elif perturbation == "shuffle":
                context[:far] = history[:far][torch.randperm(far, generator=generator)]
            else:  # replace
                start = int(torch.randint(0, stream.numel() - far + 1, (1,), generator=generator))
                context[:far] = stream[start : start + far]
            rows.append(context)
            lengths.append(length)
    return torch.stack(rows), torch.tensor(lengths)  # [N * D, C], [N * D]


@torch.no_grad()
def last_token_losses(
    model: LanguageModel, ids: torch.Tensor, lengths: torch.Tensor, targets: torch.Tensor
) -> torch.Tensor:
    """Loss (nats) of each row's target after reading ids[row, :length] from a zero state.

    Right padding is harmless: a left-to-right model's output at index length - 1
    never sees what comes after it.

    Args:
        model: a language model in eval mode.
        ids: [R, C] contexts; lengths: [R]; targets: [R] the token to predict.

    Returns:
        [R] float losses on the CPU.
    """
    require_eval_mode(model, "the curve would be blurred by random noise")
    device = model_device(model)
    losses = []
    for start in range(0, ids.size(0), _CHUNK_ROWS):
        chunk = ids[start : start + _CHUNK_ROWS]  # [B, C]
        log_probs = last_position_log_probs(model, chunk, lengths[start : start + _CHUNK_ROWS])  # [B, V]
        chunk_targets = targets[start : start + _CHUNK_ROWS].to(device)  # [B]
        losses.append(-log_probs.gather(1, chunk_targets[:, None])[:, 0].cpu())  # [B]
    return torch.cat(losses)  # [R]


def effective_context(
    model: LanguageModel,
    stream: torch.Tensor,
    distances: list[int] | tuple[int, ...] = DEFAULT_DISTANCES,
    positions: int = 200,
    context_length: int | None = None,
    seed: int = 0,
) -> ContextResult:
    """Loss increase when the history beyond distance d is dropped, shuffled or replaced.

    Args:
        model: a language model in eval mode.
        stream: the text's ids [S] (see :func:`text_stream`).
        distances: distances d in tokens, each smaller than the context length.
        positions: how many target positions to sample.
        context_length: history per target (default max(distances) + 50).
        seed: seeds the positions, shuffles and replacement spans.

    Returns:
        A :class:`ContextResult`.
    """
    distances = sorted({int(d) for d in distances})
    if not distances or distances[0] < 1:
        raise ValueError(f"Distances must be positive integers; got {distances}.")
    context_length = context_length or distances[-1] + 50
    if distances[-1] >= context_length:
        raise ValueError(
            f"The largest distance ({distances[-1]}) must be below the context length ({context_length}); "
            "beyond it nothing is left to perturb. Raise the context length."
        )
    if positions < 1:
        raise ValueError(f"positions must be at least 1; got {positions}.")
    generator = torch.Generator().manual_seed(seed)
    chosen = sample_positions(stream.numel(), positions, context_length, generator)  # [N]
    count = chosen.numel()
    histories = stream[chosen[:, None] + torch.arange(-context_length, 0)]  # [N, C]
    baseline = last_token_losses(model, histories, torch.full((count,), context_length), stream[chosen])  # [N]
    targets = stream[chosen].repeat_interleave(len(distances))  # [N * D]
    increase, standard_error = {}, {}
    for perturbation in PERTURBATIONS:
        ids, lengths = build_contexts(stream, chosen, distances, perturbation, context_length, generator)
        deltas = (
            last_token_losses(model, ids, lengths, targets).view(count, len(distances)) - baseline[:, None]
        )  # [N, D]
        increase[perturbation] = deltas.mean(dim=0).tolist()
        spread = deltas.std(dim=0, unbiased=True) if count > 1 else torch.zeros(len(distances))  # [D]
        standard_error[perturbation] = (spread / math.sqrt(count)).tolist()
    return ContextResult(distances, float(baseline.mean()), increase, standard_error, count, context_length)
