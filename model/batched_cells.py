"""The recurrence of S stacked tanh-RNN or LSTM layers, with a hand-written backward pass.

    inputs [T, S, B, G*H] (the input projection, bias included), weight_hh [S, H, G*H],
    state [S, B, H] (a pair for the LSTM)  ->  outputs [T, S, B, H], last state

Time comes first so that every step's slice is one contiguous block. One step is
one batched product over the seed axis (torch.baddbmm), then the cell's
element-wise update. Autograd would record about a dozen nodes per step and
rebuild each slice's gradient at full size; the hand-written backward instead
walks the steps once, in reverse, with one batched product per step
(dh = dpre @ W_hh^T), and forms the weight gradient with a single product over all
steps at the end (dW_hh = sum_t h_{t-1}^T dpre_t). Whatever does not depend on the
recurrence (the activations' slopes) is computed for all steps at once.

LSTM gate columns are in the order i, f, o, g (one sigmoid over 3H columns):

    pre = x_t + h_{t-1} W;  i, f, o = sigmoid(pre[:3H]);  g = tanh(pre[3H:])
    c_t = f c_{t-1} + i g;  h_t = o tanh(c_t)

:func:`recurrence` is the one public entry and takes the hand-written path;
:func:`autograd_recurrence` beside it is the same loop differentiated by autograd,
the reference. tests/model/test_batched_recurrent.py checks both against nn.RNN /
nn.LSTM, against each other and against finite differences.
"""
from __future__ import annotations

import torch

State = torch.Tensor | tuple[torch.Tensor, torch.Tensor]


def _over_steps(tensor: torch.Tensor) -> torch.Tensor:
    """[T, S, K, B] -> [S, K, T*B] (a copy): every step of one seed side by side, for one weight-gradient product."""
    steps, count, width, batch = tensor.shape
    return tensor.permute(1, 2, 0, 3).reshape(count, width, steps * batch)


class _RNNRecurrence(torch.autograd.Function):
    """h_t = tanh(x_t + h_{t-1} W) over T steps, for S models at once, states kept transposed ([S, H, B])."""

    @staticmethod
    def forward(ctx, inputs: torch.Tensor, weight_hh: torch.Tensor, h0: torch.Tensor):  # type: ignore[override]
        steps = inputs.size(0)
        inputs_t = inputs.transpose(2, 3).contiguous()  # [T, S, H, B]
        weight_t = weight_hh.transpose(1, 2).contiguous()  # [S, H, H]: pre^T = W^T h^T
        states = inputs.new_empty(steps + 1, *h0.transpose(1, 2).shape)  # [T+1, S, H, B]: h_0^T .. h_T^T
        states[0] = h0.transpose(1, 2)
        for t in range(steps):
            torch.baddbmm(inputs_t[t], weight_t, states[t], out=states[t + 1]).tanh_()  # [S, H, B]
        ctx.save_for_backward(weight_hh, states)
        return states[1:].transpose(2, 3), states[steps].transpose(1, 2).clone()  # [T, S, B, H], [S, B, H]

    @staticmethod
    def backward(ctx, grad_outputs: torch.Tensor | None, grad_last: torch.Tensor | None):  # type: ignore[override]
        weight_hh, states = ctx.saved_tensors
        steps = states.size(0) - 1
        slope = 1 - states[1:].square()  # [T, S, H, B]: tanh' at every step
        if grad_outputs is None:
            grad_pre = torch.zeros_like(slope)
        else:
            grad_pre = grad_outputs.transpose(2, 3).contiguous()  # [T, S, H, B]
        carry = torch.zeros_like(states[0]) if grad_last is None else grad_last.transpose(1, 2)  # [S, H, B]: dL/dh_t^T from later steps
        for t in range(steps - 1, -1, -1):
            step = grad_pre[t]  # [S, H, B]
            step.add_(carry).mul_(slope[t])  # dL/dpre_t^T
            carry = torch.bmm(weight_hh, step)  # [S, H, B]: dL/dh_{t-1}^T = W dpre_t^T
        grad_weight = torch.bmm(_over_steps(states[:steps]), _over_steps(grad_pre).transpose(1, 2))  # [S, H, H]
        return grad_pre.transpose(2, 3), grad_weight, carry.transpose(1, 2)


class _LSTMRecurrence(torch.autograd.Function):
    """The LSTM cell over T steps, for S models at once (gate rows i, f, o, g; states kept transposed, [S, H, B])."""

    @staticmethod
    def forward(ctx, inputs: torch.Tensor, weight_hh: torch.Tensor, h0: torch.Tensor, c0: torch.Tensor):  # type: ignore[override]
        steps, hidden = inputs.size(0), h0.size(-1)
        inputs_t = inputs.transpose(2, 3).contiguous()  # [T, S, 4H, B]
        weight_t = weight_hh.transpose(1, 2).contiguous()  # [S, 4H, H]
        shape = h0.transpose(1, 2).shape  # [S, H, B]
        gates = torch.empty_like(inputs_t)  # [T, S, 4H, B]: activated i, f, o, g
        states = inputs.new_empty(steps + 1, *shape)  # [T+1, S, H, B]: h_0 .. h_T
        cells = inputs.new_empty(steps + 1, *shape)  # [T+1, S, H, B]: c_0 .. c_T
        squashed = inputs.new_empty(steps, *shape)  # [T, S, H, B]: tanh(c_t)
        states[0], cells[0] = h0.transpose(1, 2), c0.transpose(1, 2)
        for t in range(steps):
            step = torch.baddbmm(inputs_t[t], weight_t, states[t], out=gates[t])  # [S, 4H, B]
            step[:, : 3 * hidden].sigmoid_()
            step[:, 3 * hidden :].tanh_()
            i, f, o, g = step.split(hidden, dim=1)  # [S, H, B] each, each seed's block contiguous
            torch.addcmul(f * cells[t], i, g, out=cells[t + 1])
            torch.mul(o, torch.tanh(cells[t + 1], out=squashed[t]), out=states[t + 1])
        ctx.save_for_backward(weight_hh, gates, states, cells, squashed)
        return states[1:].transpose(2, 3), states[steps].transpose(1, 2).clone(), cells[steps].transpose(1, 2).clone()

    @staticmethod
    def backward(ctx, grad_outputs, grad_h_last, grad_c_last):  # type: ignore[override]
        weight_hh, gates, states, cells, squashed = ctx.saved_tensors
        steps, hidden = gates.size(0), states.size(2)
        # dL/dpre_t = [dc g, dc c_{t-1}, dh tanh(c_t), dc i] * (the activations' slopes): the second
        # factor for all steps at once, so that each step needs one product with [dc, dc, dh, dc].
        slopes = gates * (1 - gates)  # [T, S, 4H, B]: sigmoid' for i, f, o
        slopes[:, :, 3 * hidden :] = 1 - gates[:, :, 3 * hidden :].square()  # tanh' for g
        i, f, o, g = gates.split(hidden, dim=2)  # [T, S, H, B] each
        factors = torch.cat([g, cells[:steps], squashed, i], dim=2).mul_(slopes)  # [T, S, 4H, B]
        del slopes
        cell_slope = o * (1 - squashed.square())  # [T, S, H, B]: dh_t/dc_t
        grad_h_out = None if grad_outputs is None else grad_outputs.transpose(2, 3).contiguous()  # [T, S, H, B]
        grad_pre = torch.empty_like(gates)  # [T, S, 4H, B]
        zeros = torch.zeros_like(states[0])
        carry_h = zeros if grad_h_last is None else grad_h_last.transpose(1, 2)  # [S, H, B]: dL/dh_t from later steps
        carry_c = zeros if grad_c_last is None else grad_c_last.transpose(1, 2)  # [S, H, B]: dL/dc_t from later steps
        for t in range(steps - 1, -1, -1):
            grad_h = carry_h if grad_h_out is None else grad_h_out[t].add_(carry_h)  # [S, H, B]
            grad_c = torch.addcmul(carry_c, grad_h, cell_slope[t])  # [S, H, B]
            step = torch.cat([grad_c, grad_c, grad_h, grad_c], dim=1, out=grad_pre[t]).mul_(factors[t])  # [S, 4H, B]
            carry_h = torch.bmm(weight_hh, step)  # [S, H, B]: dL/dh_{t-1} = W dpre_t
            carry_c = grad_c.mul_(f[t])  # [S, H, B]: dL/dc_{t-1}
        grad_weight = torch.bmm(_over_steps(states[:steps]), _over_steps(grad_pre).transpose(1, 2))  # [S, H, 4H]
        return grad_pre.transpose(2, 3), grad_weight, carry_h.transpose(1, 2), carry_c.transpose(1, 2)


def autograd_recurrence(arch: str, inputs: torch.Tensor, weight_hh: torch.Tensor, state: State) -> tuple[torch.Tensor, State]:
    """The same recurrence as :func:`recurrence`, written plainly and differentiated by autograd (the reference)."""
    outputs = []
    if arch == "rnn":
        h = state
        for x in inputs.unbind(0):  # unbind, not inputs[t]: T select-backwards would each build a full-size zero tensor
            h = torch.tanh(torch.baddbmm(x, h, weight_hh))  # [S, B, H]
            outputs.append(h)
        return torch.stack(outputs), h
    h, c = state
    hidden = h.size(-1)
    for x in inputs.unbind(0):
        pre = torch.baddbmm(x, h, weight_hh)  # [S, B, 4H]
        gates = torch.sigmoid(pre[..., : 3 * hidden])  # [S, B, 3H]: i, f, o
        c = gates[..., hidden : 2 * hidden] * c + gates[..., :hidden] * torch.tanh(pre[..., 3 * hidden :])  # [S, B, H]
        h = gates[..., 2 * hidden :] * torch.tanh(c)  # [S, B, H]
        outputs.append(h)
    return torch.stack(outputs), (h, c)


def recurrence(arch: str, inputs: torch.Tensor, weight_hh: torch.Tensor, state: State) -> tuple[torch.Tensor, State]:
    """Run S stacked one-layer recurrences over T steps (hand-written backward).

    Args:
        arch: "rnn" or "lstm".
        inputs: [T, S, B, G*H] input projections (bias included), G = 1 (RNN) or 4 (LSTM, columns i, f, o, g).
        weight_hh: [S, H, G*H] recurrent weights.
        state: the state before step 0: h [S, B, H], or (h, c) for the LSTM.

    Returns:
        (outputs [T, S, B, H], last state).
    """
    if arch == "rnn":
        outputs, last = _RNNRecurrence.apply(inputs.contiguous(), weight_hh, state)
        return outputs, last
    if arch == "lstm":
        outputs, h, c = _LSTMRecurrence.apply(inputs.contiguous(), weight_hh, *state)
        return outputs, (h, c)
    raise ValueError(f"arch must be 'rnn' or 'lstm'; got {arch!r}.")
