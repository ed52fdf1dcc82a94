"""Gate and state traces of one text: what every unit of every layer did at every word.

The traces come from the unrolled cells (:mod:`model.analysis.recurrence.cells`), which
read the trained weights, so they are the values the fused module computed.
Per layer and per position the keys are:

    lstm: input_gate, forget_gate, output_gate, candidate, cell, hidden
          (Hochreiter & Schmidhuber 1997; forget gate Gers et al. 2000)
    gru:  reset_gate, update_gate, candidate, hidden        (Cho et al. 2014;
          PyTorch's update_gate = 1 keeps the old state)
    rnn:  hidden, preactivation, slope = tanh'(a) = 1 - tanh(a)^2  (Elman 1990)

A sigmoid gate near 0 lets nothing through and near 1 lets everything through;
:func:`saturation` counts how often the gates sit at those ends. For the tanh
RNN the "gate" summarised is the slope: a slope below 0.1 means that unit
passes on less than a tenth of any gradient (the vanishing-gradient story).
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import torch
from torch import nn

from model.analysis.inputs import AnalysisInput
from model.analysis.recurrence.cells import model_arch
from model.analysis.recurrence.unrolled import unrolled_forward
from model.core.config import CELLS
from model.core.language_model import State

TRACE_KEYS = {arch: cell.traces for arch, cell in CELLS.items()}
# Values in (0, 1) summarised per word and by saturation.
GATE_KEYS = {arch: cell.gates for arch, cell in CELLS.items()}


@dataclass(frozen=True)
class Traces:
    """Everything the unrolled model computed for one text.

    Attributes:
        arch: "rnn", "lstm" or "gru".
        ids: [L] input ids (``<eos>`` first when built from :func:`prepare_input`).
        layers: one dict per layer (bottom first), name -> [L, H] (keys: TRACE_KEYS[arch]).
        logits: [L, V] decoder output (log-probabilities for the adaptive softmax).
        log_probs: [L, V] log_softmax of the logits; row i predicts the token after input i.
        state: the final state in the model's format ([num_layers, 1, H], a pair for the LSTM).
    """

    arch: str
    ids: torch.Tensor
    layers: list[dict[str, torch.Tensor]]
    logits: torch.Tensor
    log_probs: torch.Tensor
    state: State

    @property
    def length(self) -> int:
        """L, the number of input positions."""
        return int(self.ids.numel())

    def words(self) -> "Traces":
        """The same traces without input position 0 (the ``<eos>``): [T, H] per word.

        Row t is then the model just after reading word t, and ``log_probs[t]``
        predicts word t + 1 (the convention of :mod:`model.analysis.inputs`).

        Example:
            >>> traces.words().layers[-1]["hidden"].shape   # [T, H]
        """
        if self.length < 2:
            raise ValueError("These traces have no words after the first position; type at least one word.")
        layers = [{name: value[1:] for name, value in layer.items()} for layer in self.layers]
        return replace(self, ids=self.ids[1:], layers=layers, logits=self.logits[1:], log_probs=self.log_probs[1:])

    def to_json(self, include_log_probs: bool = False) -> dict:
        """Plain lists for JSON: arch, ids, layers (name -> [L][H] floats), optionally log_probs [L][V]."""
        result = {
            "arch": self.arch,
            "ids": [int(i) for i in self.ids.tolist()],
            "layers": [
                {name: value.detach().double().tolist() for name, value in layer.items()} for layer in self.layers
            ],
        }
        if include_log_probs:
            result["log_probs"] = self.log_probs.detach().double().tolist()
        return result


def as_ids(ids: torch.Tensor | AnalysisInput, vocab_size: int) -> torch.Tensor:
    """Normalise the ids every analysis accepts.

    Args:
        ids: an AnalysisInput, or a [L] or [1, L] long tensor.
        vocab_size: the model's vocabulary size (ids must lie below it).

    Returns:
        [1, L] long ids; ValueError naming the shape, dtype or out-of-range value otherwise.
    """
    if isinstance(ids, AnalysisInput):
        ids = ids.ids
    if not isinstance(ids, torch.Tensor):
        raise ValueError(f"ids must be a torch tensor or an AnalysisInput; got {type(ids).__name__}.")
    if ids.dim() == 1:
        ids = ids.unsqueeze(0)
    if ids.dim() != 2 or ids.size(0) != 1 or ids.size(1) == 0:
        raise ValueError(
            f"ids must be [1, L] with L >= 1 (one text); got shape {tuple(ids.shape)}. Use prepare_input()."
        )
    if ids.dtype != torch.long:
        raise ValueError(f"ids must be a long tensor; got {ids.dtype}.")
    low, high = int(ids.min()), int(ids.max())
    if low < 0 or high >= vocab_size:
        raise ValueError(f"ids must lie in [0, {vocab_size - 1}] for this model; got values from {low} to {high}.")
    return ids


def resolve_position(position: int, length: int) -> int:
    """Python-style position -> index.

    Args:
        position: in [-L, L); negative counts from the end (-1 = last input).
        length: L.

    Returns:
        The index in [0, L); ValueError otherwise.
    """
    if not -length <= position < length:
        raise ValueError(f"target_position must be in [{-length}, {length - 1}] for {length} inputs; got {position}.")
    return position % length


def compute_traces(
    model: nn.Module,
    ids: torch.Tensor | AnalysisInput,
    state: State | None = None,
    keep_graph: bool = False,
) -> Traces:
    """Run the unrolled model over one text and keep every gate, state and prediction.

    Args:
        model: a LanguageModel (read only; mode and weights are left as they are).
        ids: [1, L] or [L] ids, or an :class:`AnalysisInput` (``<eos>`` + words).
        state: initial state in the model's format, or None for zeros.
        keep_graph: build the autograd graph (for gradients through the traces);
            by default everything runs under ``torch.no_grad``.

    Returns:
        :class:`Traces` over all L positions; ``.words()`` drops the ``<eos>``.

    Example:
        >>> traces = compute_traces(model, prepare_input(tokenizer, "Mr. Robert said"))
        >>> traces.layers[0]["forget_gate"].shape   # [4, H] for an LSTM
    """
    arch = model_arch(model.recurrent)
    ids = as_ids(ids, model.config.vocab_size)  # [1, L]
    with torch.set_grad_enabled(keep_graph):
        embeddings = model.embed(ids)  # [1, L, E]
        run = unrolled_forward(model, embeddings, state, record=True)
        logits = model.logits_from_features(run.outputs[0])  # [L, V]
        log_probs = torch.log_softmax(logits, dim=-1)  # [L, V]
    layers = [{name: layer.records[name][0] for name in TRACE_KEYS[arch]} for layer in run.layers]  # each [L, H]
    return Traces(arch=arch, ids=ids[0], layers=layers, logits=logits, log_probs=log_probs, state=run.state)


def _layer(traces: Traces, layer: int) -> dict[str, torch.Tensor]:
    count = len(traces.layers)
    if not -count <= layer < count:
        raise ValueError(f"layer must be in [{-count}, {count - 1}] for a {count}-layer model; got {layer}.")
    return traces.layers[layer]


def gate_means(traces: Traces, layer: int = -1) -> dict[str, list[float]]:
    """Mean over units of each gate at every position (the rnn's gate is its slope).

    Args:
        traces: from :func:`compute_traces` (use ``.words()`` for one value per typed word).
        layer: which layer, negative from the top.

    Returns:
        gate name -> L floats, e.g. {"input_gate": [...], "forget_gate": [...], "output_gate": [...]}.

    Example:
        >>> gate_means(traces.words())["forget_gate"][3]   # mean forget gate after word 3
    """
    values = _layer(traces, layer)
    return {name: values[name].detach().double().mean(dim=1).tolist() for name in GATE_KEYS[traces.arch]}


def saturation(traces: Traces, layer: int = -1, low: float = 0.1, high: float = 0.9) -> dict[str, dict[str, float]]:
    """Share of gate values near closed (< low) and near open (> high), per gate, over all positions and units.

    Saturated sigmoid gates are the LSTM's switches (Hochreiter & Schmidhuber
    1997); a tanh unit with slope < 0.1 is the vanishing case (Bengio et al. 1994).

    Args:
        traces: from :func:`compute_traces` (``.words()`` to leave out the ``<eos>``).
        layer: which layer, negative from the top.
        low: values below this count as closed.
        high: values above this count as open.

    Returns:
        gate name -> {"below": share, "above": share, "between": share} (shares sum to 1).
    """
    if not 0.0 <= low < high <= 1.0:
        raise ValueError(f"Need 0 <= low < high <= 1; got low={low}, high={high}.")
    values = _layer(traces, layer)
    summary = {}
    for name in GATE_KEYS[traces.arch]:
        gate = values[name].detach()  # [L, H]
        below = float((gate < low).double().mean())
        above = float((gate > high).double().mean())
        summary[name] = {"below": below, "above": above, "between": 1.0 - below - above}
    return summary


def unit_order(values: torch.Tensor, descending: bool = True) -> list[int]:
    """Units sorted by their variance over the sentence, the busiest first.

    Args:
        values: [L, H] one trace (e.g. ``traces.layers[-1]["cell"]``).
        descending: most variable first (False: least variable first).

    Returns:
        H unit indices; ``values[:, order]`` reorders the columns.

    Example:
        >>> order = unit_order(traces.words().layers[-1]["cell"])
    """
    if values.dim() != 2:
        raise ValueError(f"values must be [L, H]; got shape {tuple(values.shape)}.")
    variance = values.detach().double().var(dim=0, unbiased=False)  # [H]
    return torch.argsort(variance, descending=descending, stable=True).tolist()
