"""The whole recurrent stack unrolled with the cells of :mod:`model.analysis.recurrence.cells`.

``unrolled_forward(model, embeddings, state)`` gives what
``model.recurrent(embeddings, state)`` gives in eval mode (no dropout), plus
every layer's per-step tensors: the gates for traces, and the exact state
tensors passed from step to step for gradients through time.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from model.analysis.recurrence.cells import LayerRun, layer_weights, model_arch, run_layer
from model.core.config import CELLS
from model.core.language_model import State


@dataclass
class UnrolledRun:
    """All layers unrolled: top outputs [B, L, H], final state in the model's format, one LayerRun per layer."""

    outputs: torch.Tensor
    state: State
    layers: list[LayerRun]


def split_state(
    arch: str, state: State | None, num_layers: int, batch_size: int, like: torch.Tensor, hidden_size: int
) -> tuple[list[torch.Tensor], list[torch.Tensor | None]]:
    """The model's state -> per-layer lists of initial hidden and cell states.

    Args:
        arch: "rnn", "lstm" or "gru"; state: [num_layers, B, H] (a pair (h, c) for the LSTM) or None for zeros;
        num_layers, batch_size, hidden_size: the expected shape; like: a tensor whose dtype and device zeros take.

    Returns:
        (hiddens, cells): num_layers tensors [B, H] each; cells are None except for the LSTM.
    """
    if state is None:
        zeros = like.new_zeros(num_layers, batch_size, hidden_size)
        hidden, cell = zeros, zeros if CELLS[arch].has_cell_state else None
    elif CELLS[arch].has_cell_state:
        if not isinstance(state, (tuple, list)) or len(state) != 2:
            raise ValueError("An LSTM state must be a pair (h, c), each [num_layers, B, H]; pass None for zeros.")
        hidden, cell = state
    else:
        if isinstance(state, (tuple, list)):
            raise ValueError(f"A {arch} state is one tensor [num_layers, B, H], not a pair; pass None for zeros.")
        hidden, cell = state, None
    expected = (num_layers, batch_size, hidden_size)
    for tensor in (hidden, cell):
        if tensor is not None and tuple(tensor.shape) != expected:
            raise ValueError(f"State tensors must have shape {expected}; got {tuple(tensor.shape)}.")
    hiddens = [hidden[k] for k in range(num_layers)]
    cells = [cell[k] for k in range(num_layers)] if cell is not None else [None] * num_layers
    return hiddens, cells


def unrolled_forward(
    model: nn.Module, embeddings: torch.Tensor, state: State | None = None, record: bool = False
) -> UnrolledRun:
    """The model's recurrent stack, unrolled, from embeddings.

    Args:
        model: a LanguageModel (its ``recurrent`` is read, nothing is changed).
        embeddings: [B, L, E] from ``model.embed(ids)``.
        state: the model's state format or None for zeros.
        record: record gates per layer (see :func:`run_layer`).

    Returns:
        An :class:`UnrolledRun` whose outputs equal ``model.recurrent(embeddings, state)``
        in eval mode (no dropout).

    Example:
        >>> run = unrolled_forward(model, model.embed(ids))
        >>> torch.allclose(run.outputs, model.recurrent(model.embed(ids))[0], atol=1e-5)
        True
    """
    recurrent = model.recurrent
    arch = model_arch(recurrent)
    if embeddings.dim() != 3 or embeddings.size(1) == 0:
        raise ValueError(f"embeddings must be [B, L, E] with L >= 1; got shape {tuple(embeddings.shape)}.")
    hidden_size, num_layers = recurrent.hidden_size, recurrent.num_layers
    hiddens, cells = split_state(arch, state, num_layers, embeddings.size(0), embeddings, hidden_size)
    layer_input = embeddings  # [B, L, E]
    runs: list[LayerRun] = []
    for k in range(num_layers):
        run = run_layer(arch, layer_weights(recurrent, k), layer_input, hiddens[k], cells[k], record)
        runs.append(run)
        layer_input = run.outputs  # [B, L, H]
    final_hidden = torch.stack([run.hiddens[-1] for run in runs])  # [num_layers, B, H]
    if CELLS[arch].has_cell_state:
        final_state = (final_hidden, torch.stack([run.cells[-1] for run in runs]))
    else:
        final_state = final_hidden
    return UnrolledRun(outputs=layer_input, state=final_state, layers=runs)
