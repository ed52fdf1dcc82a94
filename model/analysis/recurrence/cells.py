"""Unrolled single-step RNN, LSTM and GRU cells that read the fused module's own weights.

``nn.LSTM`` runs the whole sequence in one fused kernel and shows only h and c.
To see the gates, and to take gradients with respect to one time step's state,
the same recurrence is written out here step by step. Nothing is copied: every
step reads ``weight_ih_l{k}``, ``weight_hh_l{k}``, ``bias_ih_l{k}`` and
``bias_hh_l{k}`` of ``model.recurrent`` directly, so the unrolled model is the
trained model (tests prove it with allclose against the fused module).

Equations (PyTorch's gate order; x is the layer input, h and c the state):

    tanh RNN (Elman 1990):   a_t = W_ih x_t + b_ih + W_hh h_{t-1} + b_hh,  h_t = tanh(a_t)
    LSTM (Hochreiter & Schmidhuber 1997, forget gate Gers et al. 2000), gates i, f, g, o:
        i, f, o = sigmoid(.),  g = tanh(.),  c_t = f * c_{t-1} + i * g,  h_t = o * tanh(c_t)
    GRU (Cho et al. 2014), gates r, z, n:
        r, z = sigmoid(.),  n = tanh(W_in x + b_in + r * (W_hn h + b_hn)),  h_t = (1 - z) * n + z * h_{t-1}

The input projection W_ih x + b_ih of a layer is one matmul over all time
steps; only the recurrent part loops over time. Dropout is never applied
(eval semantics). Everything is differentiable. The whole stack (all layers,
state handling) is unrolled by :mod:`model.analysis.recurrence.unrolled`.

Each cell's derivative sits beside its forward, at the end of this file: :class:`CellBackward`
takes one layer's recorded gates back through the cell for many targets at once (the recorded
all-pairs sweep).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import torch
from torch import nn

from model.analysis.recurrence.onednn import PreparedLinear


@dataclass(frozen=True)
class LayerWeights:
    """Views of one layer's parameters (the module's own tensors, not copies).

    Attributes:
        weight_ih: [G*H, In] input weights.
        weight_hh: [G*H, H] recurrent weights.
        bias_ih: [G*H] or None when the module has no biases.
        bias_hh: [G*H] or None.
    """

    weight_ih: torch.Tensor
    weight_hh: torch.Tensor
    bias_ih: torch.Tensor | None
    bias_hh: torch.Tensor | None


@dataclass
class LayerRun:
    """One layer unrolled over a sequence.

    Attributes:
        outputs: [B, L, H] hidden state at every step.
        hiddens: L tensors [B, H]: exactly the tensors fed into the next step,
            so ``torch.autograd.grad`` with respect to ``hiddens[t]`` is the
            derivative through the recurrence from step t on.
        cells: L tensors [B, H] of the LSTM cell state fed into the next step
            (empty for rnn and gru); a gradient w.r.t. ``cells[t]`` holds ``hiddens[t]`` fixed.
        records: when recording, name -> [B, L, H] (gates, cell, hidden, ...).
    """

    outputs: torch.Tensor
    hiddens: list[torch.Tensor]
    cells: list[torch.Tensor] = field(default_factory=list)
    records: dict[str, torch.Tensor] = field(default_factory=dict)


def model_arch(recurrent: nn.Module) -> str:
    """Which recurrence a fused module runs.

    Args:
        recurrent: ``model.recurrent``.

    Returns:
        "rnn" (tanh), "lstm" or "gru"; ValueError for anything the cells cannot unroll.
    """
    if isinstance(recurrent, nn.LSTM):
        arch = "lstm"
    elif isinstance(recurrent, nn.GRU):
        arch = "gru"
    elif isinstance(recurrent, nn.RNN):
        arch = "rnn"
        if recurrent.nonlinearity != "tanh":
            raise ValueError(f"Only the tanh RNN is unrolled; got nonlinearity={recurrent.nonlinearity!r}.")
    else:
        raise ValueError(f"model.recurrent must be nn.RNN, nn.LSTM or nn.GRU; got {type(recurrent).__name__}.")
    if recurrent.bidirectional or getattr(recurrent, "proj_size", 0):
        raise ValueError(
            "Bidirectional or projected recurrent modules are not supported; train a plain one-direction model."
        )
    if not recurrent.batch_first:
        raise ValueError("The recurrent module must be batch_first=True, as LanguageModel builds it.")
    return arch


def layer_weights(recurrent: nn.Module, layer: int) -> LayerWeights:
    """The parameters of layer ``layer`` (negative counts from the top), as the module holds them.

    Args:
        recurrent: the fused nn.RNN / nn.LSTM / nn.GRU.
        layer: layer index.

    Returns:
        A :class:`LayerWeights` whose tensors are the module's parameters themselves.

    Example:
        >>> weights = layer_weights(model.recurrent, 0)
        >>> weights.weight_hh is model.recurrent.weight_hh_l0
        True
    """
    index = _layer_index(recurrent.num_layers, layer)
    bias = recurrent.bias
    return LayerWeights(
        weight_ih=getattr(recurrent, f"weight_ih_l{index}"),
        weight_hh=getattr(recurrent, f"weight_hh_l{index}"),
        bias_ih=getattr(recurrent, f"bias_ih_l{index}") if bias else None,
        bias_hh=getattr(recurrent, f"bias_hh_l{index}") if bias else None,
    )


def _layer_index(num_layers: int, layer: int) -> int:
    if not -num_layers <= layer < num_layers:
        raise ValueError(
            f"layer must be in [{-num_layers}, {num_layers - 1}] for a {num_layers}-layer model; got {layer}."
        )
    return layer % num_layers


def project_inputs(arch: str, weights: LayerWeights, inputs: torch.Tensor) -> torch.Tensor:
    """W_ih x + b_ih for all steps at once (plus b_hh where it adds outside the gates' products).

    Args:
        arch: "rnn", "lstm" or "gru".
        weights: the layer's weights.
        inputs: [B, L, In] layer inputs.

    Returns:
        [B, L, G*H]. For the GRU, b_hh is left out: its n-block sits inside r * (.).
    """
    input_bias, _ = folded_biases(arch, weights)
    projected = torch.matmul(inputs, weights.weight_ih.t())  # [B, L, G*H]
    return projected if input_bias is None else projected + input_bias


def folded_biases(arch: str, weights: LayerWeights) -> tuple[torch.Tensor | None, torch.Tensor | None]:
    """(bias added to W_ih x, bias added to W_hh h): the one place that knows where b_hh acts.

    The RNN and the LSTM add b_ih and b_hh outside every product, so both fold into the input
    side and the recurrent product has none. The GRU's b_hn sits inside r * (W_hn h + b_hn), so
    its whole b_hh stays with the recurrent product. (None, None) for a layer without biases.
    """
    if weights.bias_ih is None:
        return None, None
    if arch == "gru":
        return weights.bias_ih, weights.bias_hh
    return weights.bias_ih + weights.bias_hh, None


def rnn_step(
    projected: torch.Tensor, hidden: torch.Tensor, weight_hh_t: torch.Tensor
) -> tuple[torch.Tensor, torch.Tensor]:
    """One tanh-RNN step (Elman 1990).

    Args:
        projected: [B, H] W_ih x_t + b_ih + b_hh; hidden: [B, H] h_{t-1}; weight_hh_t: [H, H] W_hh transposed.

    Returns:
        (h_t, a_t): the new hidden state and its preactivation, each [B, H].
    """
    preactivation = torch.addmm(projected, hidden, weight_hh_t)  # [B, H]
    return torch.tanh(preactivation), preactivation


def lstm_step(
    projected: torch.Tensor, hidden: torch.Tensor, cell: torch.Tensor, weight_hh_t: torch.Tensor
) -> dict[str, torch.Tensor]:
    """One LSTM step (Hochreiter & Schmidhuber 1997, forget gate Gers et al. 2000).

    Args:
        projected: [B, 4H] W_ih x_t + b_ih + b_hh; hidden, cell: [B, H]; weight_hh_t: [H, 4H].

    Returns:
        input_gate, forget_gate, output_gate, candidate, cell, hidden: each [B, H].
    """
    return lstm_from_gates(torch.addmm(projected, hidden, weight_hh_t), cell)  # gates [B, 4H]


def lstm_from_gates(gates: torch.Tensor, cell: torch.Tensor) -> dict[str, torch.Tensor]:
    """The elementwise half of an LSTM step, from its preactivations W_ih x + b + W_hh h: [B, 4H].

    Returns:
        input_gate, forget_gate, output_gate, candidate, cell, hidden: each [B, H].
    """
    raw_input, raw_forget, raw_candidate, raw_output = gates.chunk(4, dim=1)  # each [B, H]
    input_gate = torch.sigmoid(raw_input)
    forget_gate = torch.sigmoid(raw_forget)
    candidate = torch.tanh(raw_candidate)
    output_gate = torch.sigmoid(raw_output)
    new_cell = forget_gate * cell + input_gate * candidate  # [B, H] the conveyor belt
    new_hidden = output_gate * torch.tanh(new_cell)  # [B, H]
    return {
        "input_gate": input_gate,
        "forget_gate": forget_gate,
        "output_gate": output_gate,
        "candidate": candidate,
        "cell": new_cell,
        "hidden": new_hidden,
    }


def gru_step(
    projected: torch.Tensor, hidden: torch.Tensor, weight_hh_t: torch.Tensor, bias_hh: torch.Tensor | None
) -> dict[str, torch.Tensor]:
    """One GRU step (Cho et al. 2014, PyTorch's variant: r multiplies W_hn h + b_hn).

    Args:
        projected: [B, 3H] W_ih x_t + b_ih; hidden: [B, H]; weight_hh_t: [H, 3H]; bias_hh: [3H] or None.

    Returns:
        reset_gate, update_gate, candidate, hidden: each [B, H].
    """
    recurrent = (
        torch.matmul(hidden, weight_hh_t) if bias_hh is None else torch.addmm(bias_hh, hidden, weight_hh_t)
    )  # [B, 3H]
    return gru_from_parts(projected, recurrent, hidden)


def gru_from_parts(projected: torch.Tensor, recurrent: torch.Tensor, hidden: torch.Tensor) -> dict[str, torch.Tensor]:
    """The rest of a GRU step from W_ih x + b_ih [B, 3H], W_hh h + b_hh [B, 3H] and h_{t-1} [B, H].

    Returns:
        reset_gate, update_gate, candidate, hidden: each [B, H].
    """
    input_reset, input_update, input_new = projected.chunk(3, dim=1)  # each [B, H]
    hidden_reset, hidden_update, hidden_new = recurrent.chunk(3, dim=1)
    reset_gate = torch.sigmoid(input_reset + hidden_reset)
    update_gate = torch.sigmoid(input_update + hidden_update)
    candidate = torch.tanh(input_new + reset_gate * hidden_new)
    # update_gate = 1 keeps the old state: PyTorch's z is the "keep" share.
    new_hidden = candidate + update_gate * (hidden - candidate)  # (1 - z) * n + z * h
    return {"reset_gate": reset_gate, "update_gate": update_gate, "candidate": candidate, "hidden": new_hidden}


def run_layer(
    arch: str,
    weights: LayerWeights,
    inputs: torch.Tensor,
    hidden: torch.Tensor,
    cell: torch.Tensor | None = None,
    record: bool = False,
) -> LayerRun:
    """Unroll one layer over a sequence.

    Args:
        arch: "rnn", "lstm" or "gru".
        weights: from :func:`layer_weights`.
        inputs: [B, L, In] embeddings (layer 0) or the layer below's outputs.
        hidden: [B, H] initial hidden state.
        cell: [B, H] initial cell state (LSTM only).
        record: keep gates and states per step in ``records`` ([B, L, H] each).
            RNN records: hidden, preactivation, slope (= 1 - tanh(a)^2).

    Returns:
        A :class:`LayerRun`.
    """
    projected = project_inputs(arch, weights, inputs)  # [B, L, G*H]
    weight_hh_t = weights.weight_hh.t()  # [H, G*H], a view
    hiddens: list[torch.Tensor] = []
    cells: list[torch.Tensor] = []
    steps: dict[str, list[torch.Tensor]] = {}
    for t in range(projected.size(1)):
        if arch == "rnn":
            hidden, preactivation = rnn_step(projected[:, t], hidden, weight_hh_t)
            values = (
                {"hidden": hidden, "preactivation": preactivation, "slope": 1.0 - hidden * hidden} if record else {}
            )
        elif arch == "lstm":
            values = lstm_step(projected[:, t], hidden, cell, weight_hh_t)
            # A separate node for the cell fed onward: a gradient w.r.t. cells[t]
            # then holds h_t fixed, as perturbing the state pair (h_t, c_t) would.
            hidden, cell = values["hidden"], values["cell"].clone()
            cells.append(cell)
        else:
            values = gru_step(projected[:, t], hidden, weight_hh_t, weights.bias_hh)
            hidden = values["hidden"]
        hiddens.append(hidden)
        if record:
            for name, value in values.items():
                steps.setdefault(name, []).append(value)
    records = {name: torch.stack(values, dim=1) for name, values in steps.items()}  # each [B, L, H]
    return LayerRun(outputs=torch.stack(hiddens, dim=1), hiddens=hiddens, cells=cells, records=records)


# ------------------------------------------------------------------ the derivative beside the forward
def _shift(values: torch.Tensor) -> torch.Tensor:
    """[B, L, H] -> the previous position's values, zeros at position 0 (the zero initial state)."""
    return torch.cat([torch.zeros_like(values[:, :1]), values[:, :-1]], dim=1)


class CellBackward:
    """The cells' derivative, beside their forward: per-position factors of one layer's backward step,
    computed once for all positions from the forward pass's records (gates, cell, hidden), then
    applied to many target rows at a time by :meth:`step` (the recorded all-pairs sweep,
    model.analysis.influence.recorded_sweep). Proven against autograd and finite differences in
    tests/model/analysis/influence/test_recorded_sweep.py."""

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
