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
from model.analysis.recurrence.cells import LayerWeights, layer_weights, model_arch
from model.analysis.recurrence.onednn import PreparedLinear
from model.analysis.recurrence.unrolled import unrolled_forward
from model.analysis.targets import PositionTargets, TargetsOrResolver, selected_log_probs, targets_for
from model.core.language_model import LanguageModel

_PENDING_ELEMENTS = 1 << 23  # deferred bottom-layer gradients held before their input matmul (32 MB of float32)


def _shift(values: torch.Tensor) -> torch.Tensor:
    """[B, L, H] -> the previous position's values, zeros at position 0 (the zero initial state)."""
    return torch.cat([torch.zeros_like(values[:, :1]), values[:, :-1]], dim=1)


class _LayerBackward:
    """Per-position factors of one layer's cell derivative, precomputed for all positions at once."""

    def __init__(self, arch: str, weights: LayerWeights, records: dict[str, torch.Tensor]) -> None:
        self.arch = arch
        hidden = records["hidden"]  # [B, L, H]
        if arch == "rnn":
            self.slope = records["slope"]  # [B, L, H] = 1 - h^2
        elif arch == "lstm":
            i, f, g, o = (
                records[name] for name in ("input_gate", "forget_gate", "candidate", "output_gate")
            )  # [B, L, H]
            cell = records["cell"]
            tanh_cell = torch.tanh(cell)
            self.cell_from_hidden = o * (1.0 - tanh_cell * tanh_cell)  # d c / d h through h = o tanh(c)
            # d(preactivation of i, f, g) per unit of dc, and of o per unit of dh: [B, L, 3H] and [B, L, H]
            self.from_cell = torch.cat([g * i * (1.0 - i), _shift(cell) * f * (1.0 - f), i * (1.0 - g * g)], dim=-1)
            self.from_hidden = tanh_cell * o * (1.0 - o)
            self.forget = f
        else:
            r, z, n = records["reset_gate"], records["update_gate"], records["candidate"]  # [B, L, H]
            previous = _shift(hidden)  # h'
            size = hidden.shape[-1]
            recurrent_new = torch.matmul(previous, weights.weight_hh[2 * size :].t())  # [B, L, H] W_hn h'
            if weights.bias_hh is not None:
                recurrent_new = recurrent_new + weights.bias_hh[2 * size :]
            self.update = z
            self.from_update = (previous - n) * z * (1.0 - z)
            self.from_new = (1.0 - z) * (1.0 - n * n)
            self.reset_from_new = recurrent_new * r * (1.0 - r)
            self.reset = r
        # Products with W_hh and W_ih (x W = linear(x, W^T)), prepared once for oneDNN: see model.analysis.recurrence.onednn.
        self.hidden_back = PreparedLinear(weights.weight_hh.t())  # [n, B, G*H] -> [n, B, H]
        self.input_back = PreparedLinear(weights.weight_ih.t())  # [..., G*H] -> [..., In]
        self.gate_size = int(weights.weight_hh.shape[0])  # G*H

    def step(
        self, position: int, hidden_grad: torch.Tensor, cell_grad: torch.Tensor | None, out: torch.Tensor | None = None
    ) -> tuple[torch.Tensor, ...]:
        """Back through the cell at ``position`` for n target rows.

        Args:
            position: the step p.
            hidden_grad: [n, B, H] d f / d h_p of each live target.
            cell_grad: [n, B, H] d f / d c_p (LSTM, holding h_p fixed), else None.
            out: [n, B, G*H] where to write the first result (a slice of the bottom layer's
                pending buffer), or None for a new tensor.

        Returns:
            (d f / d(W_ih x_p) [n, B, G*H], dh_{p-1} [n, B, H], dc_{p-1} [n, B, H] or None).
            The input gradient itself is :meth:`input_grad` of the first: the bottom layer
            defers that matmul and does it for many positions at once.
        """
        p = position
        count, batch, size = hidden_grad.shape
        if out is None:
            out = hidden_grad.new_empty(count, batch, self.gate_size)
        blocks = out.view(count, batch, self.gate_size // size, size)  # [n, B, G, H], gate blocks in PyTorch's order
        if self.arch == "rnn":
            torch.mul(hidden_grad, self.slope[:, p], out=out)
            return out, self.hidden_back(out), None
        if self.arch == "lstm":
            cell_grad = cell_grad + hidden_grad * self.cell_from_hidden[:, p]  # [n, B, H]
            torch.mul(
                cell_grad.unsqueeze(2), self.from_cell[:, p].view(batch, 3, size), out=blocks[:, :, :3]
            )  # i, f, g
            torch.mul(hidden_grad, self.from_hidden[:, p], out=blocks[:, :, 3])  # o
            return out, self.hidden_back(out), cell_grad * self.forget[:, p]
        update = torch.mul(hidden_grad, self.from_update[:, p], out=blocks[:, :, 1])  # [n, B, H]
        new = torch.mul(hidden_grad, self.from_new[:, p], out=blocks[:, :, 2])
        reset = torch.mul(new, self.reset_from_new[:, p], out=blocks[:, :, 0])
        previous = self.hidden_back(torch.cat([reset, update, new * self.reset[:, p]], dim=-1))  # [n, B, H]
        return out, previous + hidden_grad * self.update[:, p], None

    def input_grad(self, projected_grad: torch.Tensor) -> torch.Tensor:
        """[..., G*H] gradient w.r.t. W_ih x -> [..., In] gradient w.r.t. the layer input x."""
        return self.input_back(projected_grad)


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
        layers = [_LayerBackward(arch, layer_weights(model.recurrent, k), layer) for k, layer in enumerate(recorded)]
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
