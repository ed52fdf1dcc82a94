"""The products behind vanishing gradients, made real: forget-gate retention and tanh slope products.

A gradient sent back d steps is multiplied by d one-step factors. For the tanh
RNN each factor is the Jacobian diag(tanh'(a_k)) W_hh (Bengio et al. 1994;
Pascanu et al. 2013), so "0.2 x 0.1 x 0.3 ..." is the product of the slopes,
scaled by the recurrent matrix. For the LSTM the cell path multiplies by the
forget gates alone, dc_T/dc_t = diag(f_{t+1} ... f_T) when the gates are held
fixed (Hochreiter & Schmidhuber 1997; Gers et al. 2000): gates near 1 carry
the memory (and its gradient) for many words. The GRU's update gate z plays
the same role (h_T gets z_{t+1} ... z_T of h_t along the direct path; Cho et al. 2014).

Scalar products are taken in float64 so long sentences do not underflow.
Positions index the given traces (row 0 is the ``<eos>`` unless ``traces.words()`` was passed).
"""

from __future__ import annotations

import math

import torch
from torch import nn

from model.analysis.memory.traces import Traces, resolve_position
from model.analysis.recurrence.cells import layer_weights
from model.core.config import CELLS

# The gate whose product is the direct path of the memory.
RETENTION_GATE = {arch: cell.keep_gate for arch, cell in CELLS.items() if cell.keep_gate}


def _layer_index(traces: Traces, layer: int) -> int:
    count = len(traces.layers)
    if not -count <= layer < count:
        raise ValueError(f"layer must be in [{-count}, {count - 1}] for a {count}-layer model; got {layer}.")
    return layer % count


def forget_retention(traces: Traces, layer: int = -1, target_position: int = -1, all_pairs: bool = True) -> dict:
    """How much of the cell state at t is still there at T: prod_{k=t+1..T} f_k.

    Args:
        traces: LSTM (forget gates) or GRU (update gates) traces from compute_traces.
        layer: which layer, negative from the top.
        target_position: T (default the last position).
        all_pairs: also the [L, L] mean retention from every s to every t.

    Returns:
        dict with gate, layer, target_position, positions [0..T], distances [T - t],
        mean [mean over units of prod_{k=t+1..T} f_k] (1.0 at t = T), per_unit
        [[H floats] per t], and all_pairs ([s][t] = mean over units of
        prod_{k=s+1..t} f_k for t >= s, 0.0 for t < s: nothing flows back in time) or None.

    Example:
        >>> retention = forget_retention(compute_traces(model, ids).words())
        >>> retention["mean"][0]   # share of word 0's cell contents left at the last word
    """
    if traces.arch not in RETENTION_GATE:
        raise ValueError(
            f"forget_retention needs an LSTM (forget gate) or GRU (update gate); got a {traces.arch}. "
            "For the tanh RNN use rnn_slope_product."
        )
    gate_name = RETENTION_GATE[traces.arch]
    index = _layer_index(traces, layer)
    gates = traces.layers[index][gate_name].detach().double()  # [L, H]
    length = gates.size(0)
    target = resolve_position(target_position, length)
    # suffix[t] = prod_{k=t+1..T} f_k: a reversed cumulative product, with 1 (empty product) at t = T.
    later = gates[1 : target + 1]  # [T, H] f_1 .. f_T
    suffix = torch.cat([later.flip(0).cumprod(0).flip(0), torch.ones_like(gates[:1])])  # [T+1, H]
    result = {
        "gate": gate_name,
        "layer": index,
        "target_position": target,
        "positions": list(range(target + 1)),
        "distances": [target - t for t in range(target + 1)],
        "mean": suffix.mean(dim=1).tolist(),
        "per_unit": suffix.tolist(),
        "all_pairs": None,
    }
    if all_pairs:
        pairs = torch.zeros(length, length, dtype=torch.float64)  # [source s, later t]
        for source in range(length):
            pairs[source, source] = 1.0
            if source + 1 < length:
                pairs[source, source + 1 :] = gates[source + 1 :].cumprod(0).mean(dim=1)  # [L - s - 1]
        result["all_pairs"] = pairs.tolist()
    return result


def rnn_slope_product(
    model: nn.Module,
    traces: Traces,
    layer: int = -1,
    target_position: int = -1,
    spectral: bool = True,
    max_distance: int | None = None,
) -> dict:
    """The tanh RNN's running product of per-step slopes, its bound, its closed form and the measured gradient.

    Definitions (step k carries the gradient from h_{k-1} to h_k; J_k = diag(tanh'(a_k)) W_hh):
        mean_slope m_k = mean over units of tanh'(a_k) = 1 - h_k^2, in (0, 1]
        step_factor s_k = ||J_k||_2 (spectral norm); then ||dh_T/dh_t||_2 <= prod_{k=t+1..T} s_k
        closed_form = (mean of m_k over the steps)^(T - t): the seed's "0.1 each -> 0.1^9 = 1e-9"
        measured = ||J_T ... J_{t+1}||, the true Jacobian dh_T/dh_t (same as hidden_gradient_flow).
    The measured chain is kept as a unit-norm matrix times a float64 scale, so it never underflows.

    Args:
        model: the LanguageModel the traces came from (its W_hh is read).
        traces: rnn traces from compute_traces (full or ``.words()``).
        layer: which layer, negative from the top.
        target_position: T (default the last position).
        spectral: compute step factors, the bound and measured spectral norms
            (one SVD of an H x H matrix per step, 2 per position); False keeps the cheap parts.
        max_distance: only positions with T - t <= max_distance.

    Returns:
        dict with layer, target_position, positions [t], distances [T - t], and per
        position t (all aligned, values for the steps t+1..T): mean_slope (m_{t+1}),
        step_factor (s_{t+1} or None), mean_slope_product (prod m_k), bound
        (prod s_k or None), closed_form, typical_slope (mean m_k), measured_frobenius,
        measured_spectral (or None), recurrent_spectral_norm (||W_hh||_2 or None).

    Example:
        >>> traces = compute_traces(rnn_model, ids)
        >>> curves = rnn_slope_product(rnn_model, traces)
        >>> curves["mean_slope_product"][0], curves["closed_form"][0], curves["measured_frobenius"][0]
    """
    if traces.arch != "rnn":
        raise ValueError(
            f"rnn_slope_product needs tanh RNN traces; got {traces.arch}. For the LSTM use forget_retention."
        )
    index = _layer_index(traces, layer)
    weight_hh = layer_weights(model.recurrent, index).weight_hh.detach()  # [H, H]
    slopes = traces.layers[index]["slope"].detach().to(weight_hh.dtype)  # [L, H]
    if slopes.size(1) != weight_hh.size(0):
        raise ValueError(
            f"These traces have {slopes.size(1)} units but the model has {weight_hh.size(0)}: "
            "pass the model the traces came from."
        )
    target = resolve_position(target_position, slopes.size(0))
    first = 0 if max_distance is None else max(0, target - max_distance)
    if max_distance is not None and max_distance < 1:
        raise ValueError(f"max_distance must be at least 1 or None; got {max_distance}.")
    positions = list(range(first, target))
    mean_slopes = slopes.double().mean(dim=1)  # [L]
    steps = mean_slopes[first + 1 : target + 1]  # [P] m_{t+1} for each position t
    typical = float(steps.mean()) if positions else None
    factors = None
    if spectral and positions:
        factors = spectral_norms(slopes[first + 1 : target + 1, :, None] * weight_hh)  # [P]: ||diag(slope_k) W_hh||_2
    frobenius, measured_spectral = _measured_chain(slopes, weight_hh, first, target, spectral)
    return {
        "layer": index,
        "target_position": target,
        "positions": positions,
        "distances": [target - t for t in positions],
        "mean_slope": steps.tolist(),
        "step_factor": factors.tolist() if factors is not None else None,
        "mean_slope_product": _suffix_product(steps).tolist(),
        "bound": _suffix_product(factors).tolist() if factors is not None else None,
        "closed_form": [typical ** (target - t) for t in positions] if positions else [],
        "typical_slope": typical,
        "measured_frobenius": frobenius,
        "measured_spectral": measured_spectral,
        "recurrent_spectral_norm": float(spectral_norms(weight_hh)) if spectral else None,
    }


def spectral_norms(matrices: torch.Tensor) -> torch.Tensor:
    """Largest singular value of each matrix in [..., H, H], as float64 [...].

    sqrt(largest eigenvalue of M^T M): about twice as fast as an SVD on CPU and
    accurate to ~1e-6 relative in float32 (the largest eigenvalue is the well-conditioned one).
    """
    gram = matrices.transpose(-1, -2) @ matrices  # [..., H, H] symmetric, positive semi-definite
    return torch.linalg.eigvalsh(gram)[..., -1].clamp_min(0).sqrt().double()


def _suffix_product(values: torch.Tensor) -> torch.Tensor:
    """[P] -> [P] with entry j = prod values[j:] (float64)."""
    return values.double().flip(0).cumprod(0).flip(0)


def _measured_chain(
    slopes: torch.Tensor, weight_hh: torch.Tensor, first: int, target: int, spectral: bool
) -> tuple[list[float], list[float] | None]:
    """Norms of dh_T/dh_t = J_T ... J_{t+1} for t = first..T-1, walking back from T."""
    size = weight_hh.size(0)
    chain = torch.eye(size, dtype=weight_hh.dtype, device=weight_hh.device)  # [H, H] unit-norm direction
    log_scale = 0.0
    frobenius: list[float] = []
    measured_spectral: list[float] = []
    for step in range(target, first, -1):
        chain = (chain * slopes[step]) @ weight_hh  # [H, H]: chain @ diag(slope_step) @ W_hh
        norm = float(chain.double().norm())
        if norm == 0.0:  # every unit saturated (slope exactly 0): nothing flows further back
            frobenius.append(0.0)
            measured_spectral.append(0.0)
            continue
        chain = chain / norm
        log_scale += math.log(norm)
        frobenius.append(math.exp(log_scale) if log_scale < 709.0 else math.inf)
        if spectral:
            measured_spectral.append(frobenius[-1] * float(spectral_norms(chain)))
    frobenius.reverse()
    measured_spectral.reverse()
    return frobenius, measured_spectral if spectral else None
