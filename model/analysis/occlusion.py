"""Occlusion: hide one word, re-run the model, see how each later prediction changes (Zeiler & Fergus 2014).

    matrix[t, s] = f_t(text) - f_t(text with word s replaced)

Positive: word s supported the target (hiding it lowers f_t). The replacement
is ``<unk>`` by default, or any word for a counterfactual ("Robert" -> "Mary").
Exact: every variant really is re-run through the model's own forward.

All T variants run batched. Variant s is identical to the text before word s,
so the variants are grouped by where their change falls: a group of variants
whose changed words lie in steps [a, b) starts from the text's own recurrent
state at step a (computed once) instead of from the beginning. That halves the
work (about T^2 / 2 cell steps instead of T^2) and gives the same numbers as a
run from the start. Up to 64 steps the fused forward is fast enough that one
group - a single forward pass of all variants - is quickest, and that is the
default; ``time_chunk >= T + 1`` forces it at any length. Only the chosen words' log-probabilities are computed at
each position (``selected_log_probs``), never the full vocabulary.
"""
from __future__ import annotations

import torch
from torch.nn import functional

from model.analysis.all_pairs import TargetsOrResolver
from model.analysis.differentiable import default_group_length, expand_state, time_bounds
from model.analysis.targets import PositionTargets, selected_log_probs
from model.language_model import LanguageModel

_DECODER_ROWS = 4096  # rows per decoder call, to bound memory ([rows, head size] floats)


def target_values_at(model: LanguageModel, features: torch.Tensor, targets: PositionTargets, positions: torch.Tensor) -> torch.Tensor:
    """f_t for feature rows, each read for its own target position.

    Args:
        model: the language model.
        features: [N, H] top-layer outputs.
        targets: resolved targets over all T positions.
        positions: [N] target position t (0-based over the words) of each row.

    Returns:
        [N] target values in nats.
    """
    ids = targets.word_ids.to(features.device)[positions]  # [N, K]
    shortcut = _contrast_in_one_softmax(model, features, ids) if targets.bad is not None else None
    if shortcut is not None:
        return shortcut
    pieces = [
        selected_log_probs(model, features[first : first + _DECODER_ROWS], ids[first : first + _DECODER_ROWS])
        for first in range(0, features.shape[0], _DECODER_ROWS)
    ]
    return targets.combine(torch.cat(pieces))  # [N]


def _contrast_in_one_softmax(model: LanguageModel, features: torch.Tensor, ids: torch.Tensor) -> torch.Tensor | None:
    """log P(a) - log P(b) = z_a - z_b when both words share one softmax (the normaliser cancels).

    Two dot products per row instead of the whole head: exact, and it makes a
    his/her contrast cheap to occlude. None when the words sit in different
    adaptive-softmax clusters (then the full route is taken).
    """
    if model.config.decoder == "full":
        layer = model.decoder
    elif bool((ids < model.decoder.shortlist_size).all()):
        layer = model.decoder.head
    else:
        return None
    good, bad = ids[:, 0], ids[:, 1]  # [N]
    difference = ((layer.weight[good] - layer.weight[bad]) * features).sum(dim=-1)  # [N]
    if layer.bias is not None:
        difference = difference + layer.bias[good] - layer.bias[bad]
    return difference


def occlusion_influence(
    model: LanguageModel,
    ids: torch.Tensor,
    targets: TargetsOrResolver,
    replacement_id: int,
    time_chunk: int | None = None,
) -> tuple[torch.Tensor, torch.Tensor, PositionTargets]:
    """Change of every target when each word in turn is replaced, computed exactly and batched.

    Args:
        model: the language model (eval mode, left untouched).
        ids: [1, T + 1] ids, ``<eos>`` first (``prepare_input(...).ids``).
        targets: :class:`PositionTargets`, or a resolver from the [T, V] log-probabilities.
        replacement_id: the id put in place of each word (``tokenizer.unk_id``, or
            e.g. the id of "Mary" for a counterfactual).
        time_chunk: steps per group (None: automatic); the numbers do not depend on it.

    Returns:
        (matrix [T, T] with NaN above the diagonal, f_t on the text [T], resolved targets).

    Example:
        >>> matrix, values, _ = occlusion_influence(model, ids, targets, tokenizer.token_to_id("Mary"))
        >>> matrix[9, 2]  # how much "Robert" (word 2) raised the target at position 9
    """
    if ids.dim() != 2 or ids.shape[0] != 1:
        raise ValueError(f"ids must be [1, T + 1] with <eos> first (see prepare_input); got shape {tuple(ids.shape)}.")
    if not 0 <= replacement_id < model.config.vocab_size:
        raise ValueError(f"replacement_id must be a vocabulary id in [0, {model.config.vocab_size}); got {replacement_id}.")
    ids = ids.to(model.embedding.weight.device)
    steps = ids.shape[1]
    length = steps - 1
    bounds = time_bounds(steps, time_chunk, default_group_length)
    with torch.no_grad():
        states_before, outputs, state = [], [], None
        for start, stop in bounds:
            states_before.append(state)
            chunk_features, state = model.features_from_embeddings(model.embed(ids[:, start:stop]), state)  # [1, L, H]
            outputs.append(chunk_features)
        features = torch.cat(outputs, dim=1)  # [1, T + 1, H]
        if callable(targets):
            targets = targets(functional.log_softmax(model.logits_from_features(features[0, 1:]), dim=-1))
        values = target_values_at(model, features[0, 1:], targets, torch.arange(length, device=features.device))  # [T]
        matrix = torch.zeros(length, length, dtype=values.dtype, device=values.device)  # [T, T]
        for (start, stop), state_before in zip(bounds, states_before):
            changed = torch.arange(max(start, 1), stop, device=ids.device)  # positions of the replaced words in this group
            count = changed.numel()
            if count == 0:
                continue
            variant_ids = ids[:, start:].expand(count, -1).clone()  # [n, T + 1 - start]
            variant_ids[torch.arange(count, device=ids.device), changed - start] = replacement_id
            variant_features, _ = model.features_from_embeddings(model.embed(variant_ids), expand_state(state_before, count))
            first_position = max(start, 1)  # feature position of the first target that can change
            target_positions = torch.arange(first_position - 1, length, device=matrix.device)  # [P]
            # Only predictions at or after the changed word can differ: decode just those rows.
            after = target_positions[None, :] >= (changed - 1)[:, None]  # [n, P]
            rows = variant_features[:, first_position - start :][after]  # [M, H]
            positions = target_positions.expand(count, -1)[after]  # [M]
            difference = torch.zeros(count, target_positions.numel(), dtype=values.dtype, device=values.device)  # [n, P]
            difference[after] = values[positions] - target_values_at(model, rows, targets, positions)
            matrix[first_position - 1 :, changed - 1] = difference.transpose(0, 1)
    upper = torch.ones(length, length, dtype=torch.bool, device=matrix.device).triu(1)
    return matrix.masked_fill(upper, float("nan")), values, targets
