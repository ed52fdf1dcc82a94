"""The recurrence of S stacked tanh-RNN or LSTM layers, with a hand-written backward pass.

    table [S, V, G*H]  (each word's input projection W_ih e + b, per seed)
    ids [T, S, B]      (the words read at each step)
    weight_hh [S, H, G*H], state [S, B, H] (a pair for the LSTM)
        ->  outputs [T, S, B, H], last state

Everything happens one step at a time on blocks that stay in the CPU's cache: step t
gathers its words' rows of the table, adds h_{t-1} @ W_hh with one batched product
over the seed axis (torch.baddbmm), and applies the cell. The states are kept
transposed, [S, H, B], so that each gate of each seed is one contiguous block for
the element-wise operations. Autograd would record about a dozen nodes per step and
rebuild each slice's gradient at full size; the hand-written backward walks the
steps once, in reverse, and per step does one product for dL/dh_{t-1}, adds the
step's share of dL/dW_hh (a product) and of dL/dtable (an index_add), and forms the
activations' slopes from the saved gates. No tensor of all T steps is read more
than once, which is what made the first, all-steps-at-once version slow (memory
traffic and page faults, not arithmetic).

LSTM gate rows are in the order i, f, o, g (one sigmoid over 3H rows):

    pre = x_t + h_{t-1} W;  i, f, o = sigmoid(pre[:3H]);  g = tanh(pre[3H:])
    c_t = f c_{t-1} + i g;  h_t = o tanh(c_t)

:func:`recurrence` is the one public entry and takes the hand-written path, its
step loops compiled by TorchScript when it is available (the same functions run as
plain Python otherwise); :func:`autograd_recurrence` beside it is the same
computation written plainly and differentiated by autograd, the reference. tests/model/lab/test_batched_recurrent.py
checks both against nn.RNN / nn.LSTM, against each other and against finite
differences.
"""

from __future__ import annotations

import threading
import warnings
from typing import Optional, Tuple

import torch

State = torch.Tensor | tuple[torch.Tensor, torch.Tensor]


def _flat_ids(ids: torch.Tensor, vocab_size: int) -> torch.Tensor:
    """ids [T, S, B] -> rows of the flattened table [S*V, K]: seed s's word v is row s*V + v."""
    count = ids.size(1)
    return ids + (torch.arange(count, device=ids.device) * vocab_size).view(1, count, 1)  # [T, S, B]


def _reads(
    table: torch.Tensor, ids: torch.Tensor, weight_hh: torch.Tensor, h0: torch.Tensor
) -> tuple[torch.Tensor, torch.Tensor]:
    """The step operands: M = [table^T | W_hh^T] [S, G*H, V+H] and Z [T+1, S, V+H, B] with Z[t] = [one-hot(ids_t); h_{t-1}].

    Step t's pre-activation is then one product, M @ Z[t] = table[ids_t]^T + W_hh^T h_{t-1}^T
    (the one-hot rows pick each word's column of the table), and its h_t goes straight into
    Z[t+1]'s lower rows. The vocabulary is small (tens of words), so the one-hot rows cost
    less than a separate gather and a separate product per step.
    """
    steps, vocab_size = ids.size(0), table.size(1)
    count, batch, hidden = h0.shape
    operator = torch.cat([table.transpose(1, 2), weight_hh.transpose(1, 2)], dim=2).contiguous()  # [S, G*H, V+H]
    reads = table.new_zeros(steps + 1, count, vocab_size + hidden, batch)  # [T+1, S, V+H, B]
    reads[:steps, :, :vocab_size].scatter_(2, ids.unsqueeze(2), 1.0)
    reads[0, :, vocab_size:] = h0.transpose(1, 2)
    return operator, reads


def _doubled(operator: torch.Tensor, first_row: int) -> torch.Tensor:
    """The forward's copy of M with rows first_row.. doubled (the tanh rows: tanh(a) = 2 sigmoid(2a) - 1).

    Only the forward reads it; the backward differentiates with respect to the true M.
    """
    operator[:, first_row:] *= 2.0
    return operator


def _split_grad(grad_operator: torch.Tensor, vocab_size: int) -> tuple[torch.Tensor, torch.Tensor]:
    """dL/dM [S, G*H, V+H] -> (dL/dtable [S, V, G*H], dL/dW_hh [S, H, G*H])."""
    return grad_operator[:, :, :vocab_size].transpose(1, 2), grad_operator[:, :, vocab_size:].transpose(1, 2)


def _rnn_forward_steps(operator: torch.Tensor, reads: torch.Tensor, vocab_size: int) -> None:
    """h_t^T = tanh(M Z_t), written into Z_{t+1}'s lower rows, for t = 0 .. T-1.

    The operator comes in doubled (2M, see _doubled): tanh(a) = 2 sigmoid(2a) - 1, and PyTorch's float
    sigmoid is several times faster than its tanh on the CPU (bench/lab.py prints both).
    """
    for t in range(reads.size(0) - 1):
        torch.bmm(operator, reads[t], out=reads[t + 1, :, vocab_size:]).sigmoid_().mul_(2.0).sub_(1.0)  # [S, H, B]


def _rnn_backward_steps(
    weight_hh: torch.Tensor,
    reads: torch.Tensor,
    grad_outputs: Optional[torch.Tensor],
    carry: torch.Tensor,
    grad_operator: torch.Tensor,
    vocab_size: int,
) -> torch.Tensor:
    """Accumulate dL/dM into grad_operator [S, H, V+H]; returns dL/dh_0^T [S, H, B]."""
    for t in range(reads.size(0) - 2, -1, -1):
        grad_h = carry
        if grad_outputs is not None:
            grad_h = carry.add_(grad_outputs[t].transpose(1, 2))  # [S, H, B]: dL/dh_t
        h = reads[t + 1, :, vocab_size:]
        grad_pre = torch.addcmul(grad_h, grad_h * h, h, value=-1.0)  # [S, H, B]: dL/dh * (1 - h^2)
        grad_operator.baddbmm_(grad_pre, reads[t].transpose(1, 2))  # dM += dpre Z_t^T
        carry = torch.bmm(weight_hh, grad_pre)  # [S, H, B]: dL/dh_{t-1} = W dpre
    return carry


def _lstm_forward_steps(
    operator: torch.Tensor,
    reads: torch.Tensor,
    gates: torch.Tensor,
    cells: torch.Tensor,
    squashed: torch.Tensor,
    vocab_size: int,
    hidden: int,
) -> None:
    """The LSTM cell for t = 0 .. T-1: gates, cells and tanh(c) into their buffers, h_t into Z_{t+1}.

    The operator's g rows come in doubled (_doubled), so one sigmoid over all 4H rows gives i, f, o and
    sigmoid(2 pre_g), and g = tanh(pre_g) = 2 sigmoid(2 pre_g) - 1; tanh(c) is formed the same way (PyTorch's
    float sigmoid is several times faster than its tanh on the CPU; bench/lab.py prints both).
    """
    for t in range(gates.size(0)):
        step = torch.bmm(operator, reads[t], out=gates[t]).sigmoid_()  # [S, 4H, B]
        i, f, o, g = step.split(hidden, dim=1)  # [S, H, B] each, each seed's block contiguous
        g.mul_(2.0).sub_(1.0)
        torch.mul(f, cells[t], out=cells[t + 1]).addcmul_(i, g)
        squash = torch.mul(cells[t + 1], 2.0, out=squashed[t]).sigmoid_().mul_(2.0).sub_(1.0)  # tanh(c_t)
        torch.mul(o, squash, out=reads[t + 1, :, vocab_size:])


def _lstm_backward_steps(
    weight_hh: torch.Tensor,
    reads: torch.Tensor,
    gates: torch.Tensor,
    cells: torch.Tensor,
    squashed: torch.Tensor,
    grad_outputs: Optional[torch.Tensor],
    carry_h: torch.Tensor,
    carry_c: torch.Tensor,
    grad_operator: torch.Tensor,
    hidden: int,
) -> Tuple[torch.Tensor, torch.Tensor]:
    """Accumulate dL/dM into grad_operator [S, 4H, V+H]; returns (dL/dh_0^T, dL/dc_0^T), each [S, H, B]."""
    grad_pre = torch.empty_like(gates[0])  # [S, 4H, B], reused every step
    values = torch.empty_like(gates[0])  # [S, 4H, B]: [g, c_{t-1}, tanh(c_t), i]
    for t in range(gates.size(0) - 1, -1, -1):
        grad_h = carry_h
        if grad_outputs is not None:
            grad_h = carry_h.add_(grad_outputs[t].transpose(1, 2))  # [S, H, B]: dL/dh_t
        step = gates[t]
        i, f, o, g = step.split(hidden, dim=1)
        squash = squashed[t]
        # dL/dc_t = carry + dh * o * (1 - tanh(c_t)^2)
        grad_o = grad_h * o
        grad_c = torch.addcmul(carry_c.add_(grad_o), grad_o * squash, squash, value=-1.0)  # [S, H, B]
        # dL/dpre = [dc, dc, dh, dc] * [g, c_{t-1}, tanh(c_t), i] * (sigmoid' for i, f, o; tanh' for g)
        torch.cat([grad_c, grad_c, grad_h, grad_c], dim=1, out=grad_pre)
        torch.cat([g, cells[t], squash, i], dim=1, out=values)
        grad_pre.mul_(values)
        sigmoids = step[:, : 3 * hidden]
        grad_pre[:, : 3 * hidden].mul_(sigmoids - sigmoids * sigmoids)
        grad_pre[:, 3 * hidden :].mul_(1 - g * g)
        grad_operator.baddbmm_(grad_pre, reads[t].transpose(1, 2))  # dM += dpre Z_t^T
        carry_h = torch.bmm(weight_hh, grad_pre)  # [S, H, B]: dL/dh_{t-1} = W dpre
        carry_c = grad_c.mul_(f)  # [S, H, B]: dL/dc_{t-1}
    return carry_h, carry_c


PYTHON_LOOPS = (_rnn_forward_steps, _rnn_backward_steps, _lstm_forward_steps, _lstm_backward_steps)
_COMPILED: list = []
_COMPILE_LOCK = threading.Lock()
# "compiled" (the fast path) or "python" (the same loops in Python; the tests run both).
LOOPS = {"kind": "compiled"}


def _step_loops() -> tuple:
    """The four step loops: compiled by TorchScript on first use, which runs the ~20 small operations of a
    step without the Python interpreter in between (1.4-1.7x faster at the lab's sizes, measured), or the
    Python functions themselves where TorchScript is missing or refuses them."""
    if LOOPS["kind"] == "python":
        return PYTHON_LOOPS
    with _COMPILE_LOCK:
        if not _COMPILED:
            try:
                with warnings.catch_warnings():  # TorchScript is deprecated in favour of torch.compile, which needs a
                    warnings.simplefilter(
                        "ignore", DeprecationWarning
                    )  # C++ toolchain and minutes of compiling: not for a classroom
                    _COMPILED.extend(torch.jit.script(function) for function in PYTHON_LOOPS)
            except Exception:  # noqa: BLE001 - a torch without TorchScript: the same loops in Python
                _COMPILED.extend(PYTHON_LOOPS)
    return tuple(_COMPILED)


class _RNNRecurrence(torch.autograd.Function):
    """h_t = tanh(x_t + h_{t-1} W) over T steps, for S models at once."""

    @staticmethod
    def forward(ctx, table: torch.Tensor, ids: torch.Tensor, weight_hh: torch.Tensor, h0: torch.Tensor):  # type: ignore[override]
        vocab_size = table.size(1)
        operator, reads = _reads(table, ids, weight_hh, h0)  # [S, H, V+H], [T+1, S, V+H, B]
        _step_loops()[0](_doubled(operator, 0), reads, vocab_size)
        ctx.vocab_size = vocab_size
        ctx.save_for_backward(weight_hh, reads)
        states = reads[1:, :, vocab_size:]  # [T, S, H, B]
        return states.transpose(2, 3), states[-1].transpose(1, 2).clone()  # [T, S, B, H], [S, B, H]

    @staticmethod
    def backward(ctx, grad_outputs: torch.Tensor | None, grad_last: torch.Tensor | None):  # type: ignore[override]
        weight_hh, reads = ctx.saved_tensors
        vocab_size = ctx.vocab_size
        grad_operator = reads.new_zeros(weight_hh.size(0), weight_hh.size(2), reads.size(2))  # [S, H, V+H]
        carry = (
            torch.zeros_like(reads[0, :, vocab_size:])
            if grad_last is None
            else grad_last.transpose(1, 2).clone(memory_format=torch.contiguous_format)
        )
        carry = _step_loops()[1](weight_hh, reads, grad_outputs, carry, grad_operator, vocab_size)
        grad_table, grad_weight = _split_grad(grad_operator, vocab_size)
        return grad_table, None, grad_weight, carry.transpose(1, 2)


class _LSTMRecurrence(torch.autograd.Function):
    """The LSTM cell over T steps, for S models at once (gate rows i, f, o, g)."""

    @staticmethod
    def forward(
        ctx, table: torch.Tensor, ids: torch.Tensor, weight_hh: torch.Tensor, h0: torch.Tensor, c0: torch.Tensor
    ):  # type: ignore[override]
        steps, vocab_size, hidden = ids.size(0), table.size(1), h0.size(-1)
        operator, reads = _reads(table, ids, weight_hh, h0)  # [S, 4H, V+H], [T+1, S, V+H, B]
        shape = (h0.size(0), hidden, h0.size(1))  # [S, H, B]
        gates = table.new_empty(steps, shape[0], 4 * hidden, shape[2])  # [T, S, 4H, B]: activated i, f, o, g
        cells = table.new_empty(steps + 1, *shape)  # [T+1, S, H, B]: c_0 .. c_T
        squashed = table.new_empty(steps, *shape)  # [T, S, H, B]: tanh(c_t)
        cells[0] = c0.transpose(1, 2)
        _step_loops()[2](_doubled(operator, 3 * hidden), reads, gates, cells, squashed, vocab_size, hidden)
        ctx.vocab_size = vocab_size
        ctx.save_for_backward(weight_hh, reads, gates, cells, squashed)
        states = reads[1:, :, vocab_size:]  # [T, S, H, B]
        return states.transpose(2, 3), states[-1].transpose(1, 2).clone(), cells[steps].transpose(1, 2).clone()

    @staticmethod
    def backward(ctx, grad_outputs, grad_h_last, grad_c_last):  # type: ignore[override]
        weight_hh, reads, gates, cells, squashed = ctx.saved_tensors
        vocab_size, width = ctx.vocab_size, gates.size(2)
        grad_operator = reads.new_zeros(gates.size(1), width, reads.size(2))  # [S, 4H, V+H]
        zeros = torch.zeros_like(cells[0])
        carry_h = (
            zeros if grad_h_last is None else grad_h_last.transpose(1, 2).clone(memory_format=torch.contiguous_format)
        )  # dL/dh_T
        carry_c = (
            zeros.clone()
            if grad_c_last is None
            else grad_c_last.transpose(1, 2).clone(memory_format=torch.contiguous_format)
        )  # dL/dc_T
        carry_h, carry_c = _step_loops()[3](
            weight_hh, reads, gates, cells, squashed, grad_outputs, carry_h, carry_c, grad_operator, width // 4
        )
        grad_table, grad_weight = _split_grad(grad_operator, vocab_size)
        return grad_table, None, grad_weight, carry_h.transpose(1, 2), carry_c.transpose(1, 2)


def autograd_recurrence(
    arch: str, table: torch.Tensor, ids: torch.Tensor, weight_hh: torch.Tensor, state: State
) -> tuple[torch.Tensor, State]:
    """The same recurrence as :func:`recurrence`, written plainly and differentiated by autograd (the reference)."""
    count, vocab_size = table.shape[:2]
    inputs = torch.nn.functional.embedding(
        _flat_ids(ids, vocab_size), table.reshape(count * vocab_size, -1)
    )  # [T, S, B, G*H]
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


def recurrence(
    arch: str, table: torch.Tensor, ids: torch.Tensor, weight_hh: torch.Tensor, state: State
) -> tuple[torch.Tensor, State]:
    """Run S stacked one-layer recurrences over T steps (hand-written backward).

    Args:
        arch: "rnn" or "lstm".
        table: [S, V, G*H] each word's input projection (bias included), G = 1 (RNN) or 4 (LSTM, columns i, f, o, g).
        ids: [T, S, B] the words read at each step (integer).
        weight_hh: [S, H, G*H] recurrent weights.
        state: the state before step 0: h [S, B, H], or (h, c) for the LSTM.

    Returns:
        (outputs [T, S, B, H], last state).
    """
    ids = ids.long().contiguous()
    if arch == "rnn":
        outputs, last = _RNNRecurrence.apply(table, ids, weight_hh, state)
        return outputs, last
    if arch == "lstm":
        outputs, h, c = _LSTMRecurrence.apply(table, ids, weight_hh, *state)
        return outputs, (h, c)
    raise ValueError(f"arch must be 'rnn' or 'lstm'; got {arch!r}.")
