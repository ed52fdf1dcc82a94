"""The gradient of every target f_t with respect to every input embedding e_s, in one batched sweep.

For T targets a loop of T backward passes costs T passes over up to T steps.
Here all T targets travel backwards together: ``torch.autograd.grad`` with
``is_grads_batched=True`` pushes a batch of T cotangent vectors, one per
target, through the model's own recurrence (``model.features_from_embeddings``
and ``model.logits_from_features``), and every target's gradient lands in its
own row. Nothing is written into ``.grad``; only the embeddings are inputs.

    forward (once, with graph):   e_0 .. e_T -> [chunk 1][chunk 2]...[chunk K] -> h_1..h_T -> f_0..f_{T-1}
    local step (one autograd call): g_t = d f_t / d h_{t+1}        (f_t reads only h_{t+1})
    batched sweep, last chunk first:
        cotangents = {g_t at its own position, for targets t in this chunk}
                   + {carried state cotangents, for targets in later chunks}
        -> d f_t / d e_s for all s in the chunk, and the state cotangents to carry back.

The forward is cut into time chunks (leaf copies of the state at each cut) so
that a target only travels back from its own chunk: the work drops from T^2 to
about T^2 / 2 cell steps. With ``time_chunk >= T + 1`` there is a single chunk
and the sweep is literally one batched ``autograd.grad`` call; the results are
equal either way (tests check both).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import torch
from torch.nn import functional

from model.analysis.recurrence.differentiable import differentiable_recurrence, leaf_state, state_tensors, time_bounds
from model.analysis.targets import PositionTargets, TargetsOrResolver, targets_for
from model.core.language_model import LanguageModel

# (gradients [n, B, L, E] of n targets w.r.t. embedding positions start..stop-1, start, stop) -> [n, L]
Reduce = Callable[[torch.Tensor, int, int], torch.Tensor]


@dataclass
class SweepResult:
    """The all-pairs reduction and what the forward pass saw.

    Attributes:
        matrix: [T, T] reduced gradients, row t = target, column s = word;
            exactly 0 above the diagonal (f_t cannot see later words).
        values: [B, T] target values f_t for each batch row (detached).
        log_probs: [T, V] log-probabilities of batch row 0 (detached); None from the recorded
            engine when the targets came resolved (it never needs the full vocabulary then).
        targets: the resolved targets.
    """

    matrix: torch.Tensor
    values: torch.Tensor
    log_probs: torch.Tensor | None
    targets: PositionTargets


def _chunked_forward(model: LanguageModel, embeddings: torch.Tensor, bounds: list[tuple[int, int]]) -> list[tuple]:
    """Forward through the recurrence chunk by chunk; each chunk's inputs are fresh leaves."""
    records = []
    state = None
    for start, stop in bounds:
        chunk_embeddings = embeddings[:, start:stop].detach().requires_grad_(True)  # [B, L, E]
        state_in = leaf_state(state)
        outputs, state = model.features_from_embeddings(chunk_embeddings, state_in)  # [B, L, H]
        records.append((start, stop, chunk_embeddings, state_in, outputs, state))
    return records


def all_pairs_sweep(
    model: LanguageModel,
    embeddings: torch.Tensor,
    targets: TargetsOrResolver,
    reduce: Reduce,
    weights: torch.Tensor | None = None,
    time_chunk: int | None = None,
) -> SweepResult:
    """Reduce d f_t / d e_s for every pair (t, s) with one batched backward sweep.

    Args:
        model: the language model (eval mode; left untouched).
        embeddings: [B, T + 1, E] input embeddings, ``<eos>`` first. B > 1 is
            used by integrated gradients (one row per interpolation step).
        targets: resolved targets, or a function that resolves them from the
            [T, V] log-probabilities of row 0 (next_word needs the last argmax).
        reduce: maps the gradients of n targets w.r.t. one chunk of embedding
            positions, [n, B, L, E], to [n, L] numbers (a norm, a dot product).
        weights: [B] factors on each row's f (quadrature weights), default 1.
        time_chunk: steps per chunk of the sweep; None chooses automatically.

    Returns:
        A :class:`SweepResult`.

    Example:
        >>> result = all_pairs_sweep(model, model.embed(ids), targets, lambda g, a, b: g[:, 0].norm(dim=-1))
        >>> result.matrix.shape
        torch.Size([T, T])
    """
    batch, steps, _ = embeddings.shape
    length = steps - 1
    if length < 1:
        raise ValueError(f"The input needs at least one word after <eos>; got {steps} position(s).")
    weights = embeddings.new_ones(batch) if weights is None else weights.to(embeddings)
    with differentiable_recurrence(), torch.enable_grad():
        records = _chunked_forward(model, embeddings, time_bounds(steps, time_chunk))
        features = torch.cat([record[4] for record in records], dim=1)[:, 1:]  # [B, T, H]
        log_probs = functional.log_softmax(model.logits_from_features(features), dim=-1)  # [B, T, V]
        targets = targets_for(targets, lambda: log_probs[0].detach())
        values = targets.values(log_probs)  # [B, T]
        total = (values * weights[:, None]).sum()
        local = torch.autograd.grad(total, [record[4] for record in records], allow_unused=True)
        matrix = _sweep(records, local, length, reduce)
    return SweepResult(matrix=matrix, values=values.detach(), log_probs=log_probs[0].detach(), targets=targets)


def _sweep(records: list[tuple], local: tuple, length: int, reduce: Reduce) -> torch.Tensor:
    """The batched backward, last chunk first, carrying state cotangents of later targets."""
    matrix = records[0][2].new_zeros(length, length)  # [T, T]
    carried: tuple[torch.Tensor, ...] | None = None
    for index in range(len(records) - 1, -1, -1):
        start, stop, chunk_embeddings, state_in, outputs, state_out = records[index]
        first = max(start - 1, 0)  # the first target whose position t + 1 is in or after this chunk
        count = length - first  # targets travelling through this chunk
        own = torch.arange(max(start, 1), stop, device=outputs.device)  # positions of targets inside the chunk
        output_cotangent = outputs.new_zeros(count, *outputs.shape)  # [n, B, L, H]
        if own.numel() and local[index] is not None:
            output_cotangent[own - 1 - first, :, own - start] = local[index][:, own - start].transpose(0, 1)
        grad_outputs = [output_cotangent]
        differentiated = [outputs]
        if carried is not None:  # targets of later chunks enter through this chunk's final state
            for tensor, cotangent in zip(state_tensors(state_out), carried):
                full = tensor.new_zeros(count, *tensor.shape)  # [n, layers, B, H]
                full[count - cotangent.shape[0] :] = cotangent
                differentiated.append(tensor)
                grad_outputs.append(full)
        inputs = [chunk_embeddings, *state_tensors(state_in)]
        gradients = torch.autograd.grad(differentiated, inputs, grad_outputs, is_grads_batched=True, allow_unused=True)
        embedding_gradients = gradients[0]  # [n, B, L, E]
        if embedding_gradients is None:
            embedding_gradients = chunk_embeddings.new_zeros(count, *chunk_embeddings.shape)
        reduced = reduce(embedding_gradients, start, stop)  # [n, L]
        source_start = max(start, 1)  # position 0 is <eos>, not a word
        matrix[first:, source_start - 1 : stop - 1] = reduced[:, source_start - start :]
        carried = tuple(gradients[1:]) if index > 0 else None
    return matrix
