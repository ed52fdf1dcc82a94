"""All-pairs gradients from a hand-written backward pass through the recorded cells.

:mod:`model.analysis.influence.all_pairs` gets d f_t / d e_s for every pair from autograd
with batched cotangents. That is exact but pays for autograd's bookkeeping and
vmap on every step. Here the same numbers come from the cell equations' own
derivatives, applied to the gates the forward pass already recorded
(:func:`model.analysis.recurrence.unrolled.unrolled_forward` with ``record=True``), to all
targets at once. Tests prove it equal to the autograd sweep, to the naive loop
and to finite differences.

    forward (once, no graph):   gates and states of every layer at every position
    local step (one autograd call on the decoder only): g_t = d f_t / d h_{t+1}
    backward, position p = L-1 down to 1, top layer first:
        rows = targets t >= p - 1 (the ones whose prediction has read word p)
        top layer:   dh[t = p - 1] += g_{p-1}                  (the new target joins)
        each layer:  (dh, dc)[rows] -> d(preactivations) -> dx_p = da W_ih, dh_{p-1} = da W_hh
                     dx_p of a layer is added to dh of the layer below at the same p
        bottom:      reduce(dx_p) -> matrix[rows, p - 1]

Cotangent buffers are [T, B, H]: one row per target, B rows of model batch
(integrated-gradients steps). At position p only rows p - 1 .. T - 1 are live,
a contiguous slice, so the work is about T^2 / 2 cell steps, like the chunked
autograd sweep, without its overhead.

Cell derivatives (PyTorch's equations; see :mod:`model.analysis.recurrence.cells`):

    rnn:  h = tanh(a);  da = dh (1 - h^2)
    lstm: c = f c' + i g,  h = o tanh(c)
          dc += dh o (1 - tanh(c)^2);  da_i = dc g i(1-i),  da_f = dc c' f(1-f),
          da_g = dc i (1 - g^2),  da_o = dh tanh(c) o(1-o);  dc' = dc f
    gru:  h = n + z (h' - n),  n = tanh(x_n + r (W_hn h' + b_hn))
          da_z = dh (h' - n) z(1-z),  da_n = dh (1 - z)(1 - n^2),  da_r = da_n (W_hn h' + b_hn) r(1-r)
          dx = [da_r, da_z, da_n] W_ih,  dh' = [da_r, da_z, da_n r] W_hh + dh z
"""

from __future__ import annotations

import torch
from torch.nn import functional

from model.analysis.influence.all_pairs import Reduce, SweepResult
from model.analysis.recurrence.cells import CellBackward, layer_weights, model_arch
from model.analysis.recurrence.unrolled import unrolled_forward
from model.analysis.targets import PositionTargets, TargetsOrResolver, selected_log_probs, targets_for
from model.core.language_model import LanguageModel

_PENDING_ELEMENTS = 1 << 23  # deferred bottom-layer gradients held before their input matmul (32 MB of float32)


def local_gradients(
    model: LanguageModel, features: torch.Tensor, targets: PositionTargets, weights: torch.Tensor
) -> tuple[torch.Tensor, torch.Tensor]:
    """g_t = d (sum_b w_b f_t[b]) / d h_{t+1}[b] and the values f_t, through the decoder only.

    Args:
        model: the language model.
        features: [B, T, H] top-layer outputs at the positions that predict (1 .. T).
        targets: resolved :class:`PositionTargets`.
        weights: [B] factors on each row's f.

    Returns:
        (gradients [B, T, H], values [B, T]); f_t reads only its own row, so one call gives every g_t.
    """
    batch, length, size = features.shape
    with torch.enable_grad():
        leaf = features.detach().requires_grad_(True)
        ids = targets.word_ids.to(features.device)  # [T, K]
        flat_ids = ids.expand(batch, -1, -1).reshape(batch * length, -1)  # [B*T, K]
        values = targets.combine(selected_log_probs(model, leaf.reshape(batch * length, size), flat_ids)).reshape(
            batch, length
        )  # [B, T]
        (gradients,) = torch.autograd.grad((values * weights[:, None]).sum(), leaf)  # [B, T, H]
    return gradients, values.detach()


def recorded_all_pairs_sweep(
    model: LanguageModel,
    embeddings: torch.Tensor,
    targets: TargetsOrResolver,
    reduce: Reduce,
    weights: torch.Tensor | None = None,
    recorded: list[dict[str, torch.Tensor]] | None = None,
) -> SweepResult:
    """The result of :func:`model.analysis.influence.all_pairs.all_pairs_sweep`, from the hand-written backward.

    Args:
        model: the language model (eval mode; weights are read, nothing is written, no autograd graph
            through the recurrence).
        embeddings: [B, T + 1, E] input embeddings, ``<eos>`` first.
        targets: resolved targets, or a resolver from the [T, V] log-probabilities of row 0.
        reduce: maps gradients [n, B, L, E] w.r.t. embedding positions start..stop-1 to [n, L]
            (called with one position at a time here).
        weights: [B] factors on each row's f (quadrature weights), default 1.
        recorded: per layer (bottom first), the records of the forward pass over exactly these
            embeddings (name -> [B, T + 1, H], as ``unrolled_forward(..., record=True)`` or
            :func:`model.analysis.memory.traces.compute_traces` keep them), when the caller has them
            already; computed here otherwise.

    Returns:
        A :class:`SweepResult` (matrix [T, T], zero above the diagonal).

    Example:
        >>> result = recorded_all_pairs_sweep(model, model.embed(ids), targets, lambda g, a, b: g[:, 0].norm(dim=-1))
    """
    batch, steps, _ = embeddings.shape
    length = steps - 1
    if length < 1:
        raise ValueError(f"The input needs at least one word after <eos>; got {steps} position(s).")
    weights = embeddings.new_ones(batch) if weights is None else weights.to(embeddings)
    arch = model_arch(model.recurrent)
    with torch.no_grad():
        if recorded is None:
            recorded = [layer.records for layer in unrolled_forward(model, embeddings, record=True).layers]
        if len(recorded) != model.config.num_layers or recorded[-1]["hidden"].shape[:2] != (batch, steps):
            raise ValueError(
                f"recorded must hold {model.config.num_layers} layer(s) of [{batch}, {steps}, H] records "
                "from the forward pass over these embeddings; pass None to compute them."
            )
        features = recorded[-1]["hidden"][:, 1:]  # [B, T, H]
        log_probs = None  # the full [T, V] distribution is needed only to resolve targets

        def distribution() -> torch.Tensor:
            nonlocal log_probs
            log_probs = functional.log_softmax(model.logits_from_features(features[0]), dim=-1)  # [T, V]
            return log_probs

        targets = targets_for(targets, distribution)
        layers = [CellBackward(arch, layer_weights(model.recurrent, k), layer) for k, layer in enumerate(recorded)]
    local, values = local_gradients(model, features, targets, weights)  # [B, T, H], [B, T]
    with torch.no_grad():
        size = features.shape[-1]
        hidden_grads = [features.new_zeros(length, batch, size) for _ in layers]  # [T, B, H] per layer, row = target
        cell_grads = [features.new_zeros(length, batch, size) if arch == "lstm" else None for _ in layers]
        matrix = features.new_zeros(length, length)  # [T, T]
        bottom = layers[0]
        # The bottom layer's d f / d(W_ih x_p) rows are written straight into one buffer, step after step,
        # and turned into input gradients by one large matmul per fill (the weights are read once):
        #     buffer rows [0, n_T) <- position T, [n_T, n_T + n_{T-1}) <- position T - 1, ...   (n_p = T - p + 1)
        capacity = max(length, _PENDING_ELEMENTS // (batch * bottom.gate_size))  # rows; one step always fits
        buffer = features.new_empty(capacity, batch, bottom.gate_size)  # [rows, B, G*H]
        pending: list[tuple[int, int, int]] = []  # (position, first row, row count) in the buffer
        used = 0

        def flush() -> None:
            inputs = bottom.input_grad(buffer[:used])  # [used, B, E]
            for position, start, count in pending:
                block = inputs[start : start + count]  # [n, B, E]
                matrix[position - 1 :, position - 1] = reduce(block.unsqueeze(2), position, position + 1)[:, 0]
            pending.clear()

        for position in range(steps - 1, 0, -1):
            first = position - 1  # targets first .. T-1 have read word `position`
            count = length - first
            if used + count > capacity:
                flush()
                used = 0
            hidden_grads[-1][first] += local[:, first]
            from_above = None
            for k in range(len(layers) - 1, -1, -1):
                hidden_grad = hidden_grads[k][first:]  # [n, B, H], a view
                if from_above is not None:
                    hidden_grad += from_above
                cell_grad = cell_grads[k][first:] if cell_grads[k] is not None else None
                out = buffer[used : used + count] if k == 0 else None
                projected_grad, previous_hidden, previous_cell = layers[k].step(position, hidden_grad, cell_grad, out)
                hidden_grad.copy_(previous_hidden)
                if previous_cell is not None:
                    cell_grad.copy_(previous_cell)
                if k > 0:
                    from_above = layers[k].input_grad(projected_grad)  # [n, B, H] into the layer below at p
            pending.append((position, used, count))
            used += count
        if pending:
            flush()
    return SweepResult(matrix=matrix, values=values, log_probs=log_probs, targets=targets)
