"""How much gradient survives the trip back through time: Jacobian norms, forget-gate retention, slope products.

Vanishing and exploding gradients (Hochreiter 1991; Bengio, Simard & Frasconi
1994; Pascanu, Mikolov & Bengio 2013, "On the difficulty of training recurrent
neural networks"): the gradient from step T back to step t is a product of
T - t one-step Jacobians, so it shrinks or grows geometrically with distance.
The LSTM's cell path multiplies by the forget gates instead (Hochreiter &
Schmidhuber 1997; Gers, Schmidhuber & Cummins 2000), which can stay near 1.

Everything uses ``torch.autograd.grad`` on the unrolled cells: no
``.backward()``, no hooks, no train mode, and parameters' ``.grad`` stay None.
The per-step products (forget-gate retention, tanh slope products) live in
:mod:`model.analysis.memory.products` and are re-exported here. All positions index
the L model inputs (position 0 is the ``<eos>`` of
:func:`model.analysis.inputs.prepare_input`); distance = target - position.
"""

from __future__ import annotations

import math

import torch
from torch import nn

from model.analysis.inputs import AnalysisInput
from model.analysis.memory.products import (  # noqa: F401  (re-exported API)
    forget_retention,
    rnn_slope_product,
    spectral_norms,
)
from model.analysis.memory.traces import as_ids, resolve_position
from model.analysis.recurrence.cells import layer_weights, model_arch, run_layer
from model.analysis.recurrence.unrolled import split_state, unrolled_forward
from model.core.config import CELLS
from model.core.language_model import State

__all__ = ["hidden_gradient_flow", "embedding_gradient_flow", "forget_retention", "rnn_slope_product", "spectral_norms"]

# Most gradient numbers held at once by hidden_gradient_flow (64 MB in float32).
_CHUNK_ELEMENTS = 1 << 24


def _first_position(target: int, max_distance: int | None) -> int:
    if max_distance is None:
        return 0
    if max_distance < 1:
        raise ValueError(f"max_distance must be at least 1 or None; got {max_distance}.")
    return max(0, target - max_distance)


def _probe_rows(hidden_size: int, probes: int | None, like: torch.Tensor) -> torch.Tensor:
    """[K, H] rows v with sum_k ||v_k J||^2 = ||J||_F^2 exactly (identity) or in expectation (K random orthonormal rows)."""
    if probes is None or probes >= hidden_size:
        return torch.eye(hidden_size, dtype=like.dtype, device=like.device)
    if probes < 1:
        raise ValueError(f"probes must be a positive integer or None for the exact norm; got {probes}.")
    generator = torch.Generator().manual_seed(0)  # the same estimate on every call
    gaussian = torch.randn(hidden_size, probes, generator=generator, dtype=torch.float64)
    orthonormal = torch.linalg.qr(gaussian).Q.t()  # [K, H]
    return (orthonormal * math.sqrt(hidden_size / probes)).to(dtype=like.dtype, device=like.device)


def _jacobian_norms(
    output: torch.Tensor, sources: list[torch.Tensor], rows: torch.Tensor, spectral: bool
) -> tuple[torch.Tensor, torch.Tensor | None]:
    """Squared Frobenius norms (and spectral norms) of d output / d source, from rows [K, H] of cotangents.

    Without ``spectral`` the cotangents go in blocks so that the gradients held
    at once stay under _CHUNK_ELEMENTS numbers, whatever the text length.
    """
    count, size = len(sources), rows.size(1)
    if spectral:
        grads = torch.autograd.grad(output, sources, rows.unsqueeze(1), is_grads_batched=True)
        jacobians = torch.stack(grads)[:, :, 0, :]  # [S, H, H]
        return jacobians.double().pow(2).sum(dim=(1, 2)), spectral_norms(jacobians)
    block = max(1, _CHUNK_ELEMENTS // (count * size))
    squared = torch.zeros(count, dtype=torch.float64)
    for begin in range(0, rows.size(0), block):
        last = begin + block >= rows.size(0)
        cotangents = rows[begin : begin + block].unsqueeze(1)  # [k, 1, H]
        grads = torch.autograd.grad(output, sources, cotangents, retain_graph=not last, is_grads_batched=True)
        # Square in float64: float32 squares of ~1e-20 gradients would underflow.
        squared += torch.stack(grads).double().pow(2).sum(dim=(1, 2, 3))  # [S]
    return squared, None


def hidden_gradient_flow(
    model: nn.Module,
    ids: torch.Tensor | AnalysisInput,
    layer: int = -1,
    target_position: int = -1,
    state: State | None = None,
    spectral: bool = False,
    probes: int | None = None,
    max_distance: int | None = None,
) -> dict:
    """Norm of the Jacobian dh_T/dh_t of one layer, for every earlier position t.

    What is computed: the layer's inputs (embeddings, or the layer below's
    outputs) are held fixed and only the layer's own recurrence is
    differentiated: h_t is perturbed and h_T is read after the steps t+1..T.
    For the LSTM the state at t is the pair (h_t, c_t), exactly what the fused
    module would take as its initial state: dh_T/dh_t holds c_t fixed (h_t
    reaches h_T through the gates of step t + 1 on, then through both h and c),
    and dh_T/dc_t, which holds h_t fixed (the conveyor-belt path), is reported
    as ``cell_frobenius``. All Jacobians come from batched vector-Jacobian
    products (``is_grads_batched``) with the H unit vectors as cotangents, one
    backward sweep for every t at once. Cost about T * G * H^3 multiply-adds
    (G = 1 rnn, 3 gru, 4 lstm); ``probes`` cuts it by H / probes.

    Args:
        model: a LanguageModel (read only).
        ids: [1, L] ids or an AnalysisInput.
        layer: which layer, negative from the top (default: the top layer).
        target_position: T, the later position (default: the last input).
        state: initial state in the model's format, or None for zeros.
        spectral: also the spectral norm (largest singular value) of each Jacobian;
            costs an SVD per position and needs ``probes=None``.
        probes: None for the exact Frobenius norm; K < H uses K random orthonormal
            cotangents scaled by sqrt(H / K): an unbiased estimate of ||J||_F^2
            (seeded, so repeatable), H / K times cheaper.
        max_distance: only positions with T - t <= max_distance (the backward sweep stops there).

    Returns:
        dict with arch, layer, target_position, hidden_size, norm ("frobenius"),
        probes (None when exact), positions [t], distances [T - t], frobenius
        [||dh_T/dh_t||_F], spectral (list or None), cell_frobenius and
        cell_spectral (LSTM, else None), identity_frobenius (sqrt(H): the norm at distance 0).

    Example:
        >>> flow = hidden_gradient_flow(model, prepare_input(tokenizer, "Mr. Robert said that"))
        >>> list(zip(flow["distances"], flow["frobenius"]))
    """
    arch = model_arch(model.recurrent)
    ids = as_ids(ids, model.config.vocab_size)  # [1, L]
    recurrent = model.recurrent
    if not -recurrent.num_layers <= layer < recurrent.num_layers:
        raise ValueError(f"layer must be in [{-recurrent.num_layers}, {recurrent.num_layers - 1}]; got {layer}.")
    index = layer % recurrent.num_layers
    target = resolve_position(target_position, ids.size(1))
    first = _first_position(target, max_distance)
    hidden_size = recurrent.hidden_size
    exact = probes is None or probes >= hidden_size
    if spectral and not exact:
        raise ValueError(f"spectral=True needs the exact Jacobian; got probes={probes}. Leave probes=None.")
    positions = list(range(first, target))
    result = {
        "arch": arch,
        "layer": index,
        "target_position": target,
        "hidden_size": hidden_size,
        "norm": "frobenius",
        "probes": None if exact else probes,
        "positions": positions,
        "distances": [target - t for t in positions],
        "frobenius": [],
        "spectral": [] if spectral else None,
        "cell_frobenius": [] if CELLS[arch].has_cell_state else None,
        "cell_spectral": [] if CELLS[arch].has_cell_state and spectral else None,
        "identity_frobenius": math.sqrt(hidden_size),
    }
    if not positions:
        return result
    with torch.no_grad():
        layer_input = model.embed(ids[:, : target + 1])  # [1, T+1, E]
        hiddens, cells = split_state(arch, state, recurrent.num_layers, 1, layer_input, hidden_size)
        for k in range(index):
            layer_input = run_layer(
                arch, layer_weights(recurrent, k), layer_input, hiddens[k], cells[k]
            ).outputs  # [1, T+1, H]
        weights = layer_weights(recurrent, index)
        prefix = run_layer(arch, weights, layer_input[:, : first + 1], hiddens[index], cells[index])
    with torch.enable_grad():
        # The state at `first` becomes a leaf: the backward sweep stops there, and
        # the graph exists even when the parameters are frozen.
        start_hidden = prefix.hiddens[-1].detach().requires_grad_(True)  # [1, H]
        sources = [start_hidden]
        start_cell = None
        if CELLS[arch].has_cell_state:
            start_cell = prefix.cells[-1].detach().requires_grad_(True)  # [1, H]
        run = run_layer(arch, weights, layer_input[:, first + 1 :], start_hidden, start_cell)
        sources += run.hiddens[:-1]
        if CELLS[arch].has_cell_state:
            sources += [start_cell, *run.cells[:-1]]
        rows = _probe_rows(hidden_size, probes, start_hidden)  # [K, H]
        squared, spectral_values = _jacobian_norms(run.hiddens[-1], sources, rows, spectral)  # [S], [S] or None
    count = len(positions)
    frobenius = squared.sqrt()
    result["frobenius"] = frobenius[:count].tolist()
    if CELLS[arch].has_cell_state:
        result["cell_frobenius"] = frobenius[count:].tolist()
    if spectral:
        result["spectral"] = spectral_values[:count].tolist()
        if CELLS[arch].has_cell_state:
            result["cell_spectral"] = spectral_values[count:].tolist()
    return result


def embedding_gradient_flow(
    model: nn.Module,
    ids: torch.Tensor | AnalysisInput,
    target_position: int = -1,
    target_id: int | None = None,
    state: State | None = None,
) -> dict:
    """||d f_T / d e_t||_2 for every input embedding e_t, f_T = log p(target | inputs up to T).

    Gradient x distance is the classic picture of how far back a recurrent
    network can assign credit (Bengio et al. 1994); it runs through all layers
    and the decoder, with no dropout.

    Args:
        model: a LanguageModel (read only).
        ids: [1, L] ids or an AnalysisInput.
        target_position: T (default the last input).
        target_id: the word whose log-probability is differentiated; by default
            the actual next input when there is one (ids[T + 1]), else the model's argmax.
        state: initial state or None for zeros.

    Returns:
        dict with target_position, target_id, target_source ("given", "next_word"
        or "argmax"), log_prob, positions [0..T], distances [T - t], norms [||df/de_t||_2].

    Example:
        >>> flow = embedding_gradient_flow(model, prepare_input(tokenizer, "Mr. Robert said that"))
    """
    model_arch(model.recurrent)
    ids = as_ids(ids, model.config.vocab_size)  # [1, L]
    target = resolve_position(target_position, ids.size(1))
    if target_id is not None:
        if not 0 <= int(target_id) < model.config.vocab_size:
            raise ValueError(f"target_id must be in [0, {model.config.vocab_size - 1}]; got {target_id}.")
        source = "given"
    elif target + 1 < ids.size(1):
        target_id, source = int(ids[0, target + 1]), "next_word"
    else:
        source = "argmax"
    with torch.enable_grad():
        embeddings = model.embed(ids[:, : target + 1]).detach().requires_grad_(True)  # [1, T+1, E]
        run = unrolled_forward(model, embeddings, state)
        logits = model.logits_from_features(run.outputs[:, target])  # [1, V]
        log_probs = torch.log_softmax(logits, dim=-1)[0]  # [V]
        if target_id is None:
            target_id = int(log_probs.argmax())
        objective = log_probs[int(target_id)]
        (gradient,) = torch.autograd.grad(objective, embeddings)  # [1, T+1, E]
    norms = gradient[0].double().norm(dim=-1)  # [T+1]
    positions = list(range(target + 1))
    return {
        "target_position": target,
        "target_id": int(target_id),
        "target_source": source,
        "log_prob": float(objective.detach()),
        "positions": positions,
        "distances": [target - t for t in positions],
        "norms": norms.tolist(),
    }
