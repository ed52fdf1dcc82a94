"""Occlusion: hide one word, re-run the model, see how each later prediction changes (Zeiler & Fergus 2014).

    matrix[t, s] = f_t(text) - f_t(text with word s replaced)

Positive: word s supported the target (hiding it lowers f_t). The replacement
is ``<unk>`` by default, or any word for a counterfactual ("Robert" -> "Mary").
Exact: every variant really is run through the model's own recurrence.

All T variants run as one batch that grows by a row per step ("staircase"):
variant s equals the text before word s, so it joins at step s, starting from
the text's own state, which the text's row (row 0) carries in the same batch:

    step p:    0      1     2     3    ...   T      (ids position; step p >= 1 predicts target p - 1)
    row 0:   <eos>   w1    w2    w3          wT     the text
    row 1:           R     w2    w3          wT     word 1 replaced by R, joins at p = 1
    row 2:                 R     w3          wT     word 2 replaced, joins at p = 2
    row s:   joins at step s with row 0's state after step s - 1; [s + 1, H] rows live at step s

That is exactly T(T + 1) / 2 variant cell steps, the least an exact re-run can
do. Layer inputs are projected once for the text (W_ih x for all steps) and once
for R; only the recurrent products run per step. Those products, and the decoder,
go through oneDNN (:mod:`model.analysis.recurrence.onednn`). Only the chosen words'
log-probabilities are computed (``selected_log_probs``), never the full vocabulary,
for many steps' rows at once.
"""

from __future__ import annotations

import torch
from torch.nn import functional

from model.analysis.recurrence.cells import (
    LayerWeights,
    folded_biases,
    gru_from_parts,
    layer_weights,
    lstm_from_gates,
    model_arch,
)
from model.analysis.recurrence.onednn import PreparedDecoder, PreparedLinear
from model.analysis.targets import PositionTargets, TargetsOrResolver, selected_log_probs, targets_for
from model.core.language_model import LanguageModel, model_device

_DECODER_ROWS = 4096  # rows per decoder call, to bound memory ([rows, head size] floats)


def target_values_at(
    model: LanguageModel,
    features: torch.Tensor,
    targets: PositionTargets,
    positions: torch.Tensor,
    decoder: PreparedDecoder | None = None,
) -> torch.Tensor:
    """f_t for feature rows, each read for its own target position.

    Args:
        model: the language model.
        features: [N, H] top-layer outputs.
        targets: resolved targets over all T positions.
        positions: [N] target position t (0-based over the words) of each row.
        decoder: a prepared copy of the model's decoder (faster), or None for the module itself.

    Returns:
        [N] target values in nats.
    """
    ids = targets.word_ids.to(features.device)[positions]  # [N, K]
    shortcut = _contrast_in_one_softmax(model, features, ids) if targets.bad is not None else None
    if shortcut is not None:
        return shortcut
    pieces = [
        selected_log_probs(model, features[first : first + _DECODER_ROWS], ids[first : first + _DECODER_ROWS], decoder)
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


class _PreparedLayer:
    """One recurrent layer's products prepared for the no-grad staircase run."""

    def __init__(self, arch: str, weights: LayerWeights) -> None:
        input_bias, recurrent_bias = folded_biases(arch, weights)
        self.arch = arch
        self.input = PreparedLinear(weights.weight_ih, input_bias)  # x -> W_ih x + b: [.., G*H]
        self.recurrent = PreparedLinear(weights.weight_hh, recurrent_bias)  # h -> W_hh h (+ b_hh for the GRU)

    def step(
        self, projected: torch.Tensor, hidden: torch.Tensor, cell: torch.Tensor | None
    ) -> tuple[torch.Tensor, torch.Tensor | None]:
        """projected [R, G*H], hidden [R, H], cell [R, H] or None -> (new hidden, new cell or None)."""
        if self.arch == "rnn":
            return torch.tanh(projected + self.recurrent(hidden)), None
        if self.arch == "lstm":
            values = lstm_from_gates(projected + self.recurrent(hidden), cell)
            return values["hidden"], values["cell"]
        return gru_from_parts(projected, self.recurrent(hidden), hidden)["hidden"], None


def occlusion_influence(
    model: LanguageModel,
    ids: torch.Tensor,
    targets: TargetsOrResolver,
    replacement_id: int,
) -> tuple[torch.Tensor, torch.Tensor, PositionTargets]:
    """Change of every target when each word in turn is replaced, computed exactly and batched.

    Args:
        model: the language model (eval mode, left untouched).
        ids: [1, T + 1] ids, ``<eos>`` first (``prepare_input(...).ids``).
        targets: :class:`PositionTargets`, or a resolver from the [T, V] log-probabilities.
        replacement_id: the id put in place of each word (``tokenizer.unk_id``, or
            e.g. the id of "Mary" for a counterfactual).

    Returns:
        (matrix [T, T] with NaN above the diagonal, f_t on the text [T], resolved targets).

    Example:
        >>> matrix, values, _ = occlusion_influence(model, ids, targets, tokenizer.token_to_id("Mary"))
        >>> matrix[9, 2]  # how much "Robert" (word 2) raised the target at position 9
    """
    if ids.dim() != 2 or ids.shape[0] != 1:
        raise ValueError(f"ids must be [1, T + 1] with <eos> first (see prepare_input); got shape {tuple(ids.shape)}.")
    if not 0 <= replacement_id < model.config.vocab_size:
        raise ValueError(
            f"replacement_id must be a vocabulary id in [0, {model.config.vocab_size}); got {replacement_id}."
        )
    arch = model_arch(model.recurrent)
    ids = ids.to(model_device(model))
    steps = ids.shape[1]
    length = steps - 1
    with torch.no_grad():
        targets = targets_for(targets, lambda: functional.log_softmax(model(ids)[0][0, 1:], dim=-1))  # [T, V]
        layers = [_PreparedLayer(arch, layer_weights(model.recurrent, k)) for k in range(model.config.num_layers)]
        decoder = PreparedDecoder(model.decoder)
        projected_text = layers[0].input(model.embed(ids)[0])  # [T + 1, G*H]
        projected_replacement = layers[0].input(model.embed(ids.new_tensor([replacement_id])))  # [1, G*H]
        zeros = projected_text.new_zeros(1, model.config.hidden_size)  # [1, H]: row 0 only, before step 0
        hiddens = [zeros] * len(layers)
        cells = [zeros] * len(layers) if arch == "lstm" else [None] * len(layers)
        values = projected_text.new_zeros(length)  # [T]
        matrix = projected_text.new_zeros(length, length)  # [T, T]
        pending: list[tuple[int, torch.Tensor]] = []  # (step p, top features [p + 1, H]) not decoded yet
        pending_rows = 0

        def decode() -> None:
            # One decoder call for many steps' rows: large products run near the machine's peak.
            positions = torch.cat(
                [torch.full((rows.shape[0],), p - 1, device=rows.device) for p, rows in pending]
            )  # [N]
            decoded = target_values_at(
                model, torch.cat([rows for _, rows in pending]), targets, positions, decoder
            )  # [N]
            for (p, _), step_values in zip(pending, decoded.split([rows.shape[0] for _, rows in pending])):
                values[p - 1] = step_values[0]  # row 0: the text itself
                matrix[p - 1, :p] = step_values[0] - step_values[1:]  # rows 1..p: words 1..p replaced
            pending.clear()

        for p in range(steps):
            if p >= 1:  # word p's variant joins, with the text's state after step p - 1 (row 0)
                hiddens = [torch.cat([hidden, hidden[:1]]) for hidden in hiddens]  # [p + 1, H]
                cells = [None if cell is None else torch.cat([cell, cell[:1]]) for cell in cells]
            rows = hiddens[0].shape[0]
            layer_input = projected_text[p].expand(rows, -1)  # [R, G*H]
            if p >= 1:
                layer_input = torch.cat([layer_input[:-1], projected_replacement])  # the newest row reads R
            for k, layer in enumerate(layers):
                if k > 0:
                    layer_input = layer.input(hiddens[k - 1])  # [R, G*H] from the layer below, this step
                hiddens[k], cells[k] = layer.step(layer_input, hiddens[k], cells[k])
            if p >= 1:
                pending.append((p, hiddens[-1]))
                pending_rows += rows
            if pending and (pending_rows >= _DECODER_ROWS or p == steps - 1):
                decode()
                pending_rows = 0
    upper = torch.ones(length, length, dtype=torch.bool, device=matrix.device).triu(1)
    return matrix.masked_fill(upper, float("nan")), values, targets
