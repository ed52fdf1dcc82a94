"""The units that carry the cue: rankings, how many units it takes, and each unit's two lines.

A unit is one entry of the state [L, P, H] (layer, part "h" or "c", index). Two rankings:

* transplant effect: move only that unit's value from the counterfactual run into the factual run
  after word k and read the target; its share of the whole swap effect (exact, one staircase batch
  of L * P * H rows, see :func:`model.analysis.memory.transplant.continue_runs`);
* gradient: |s'_u - s_u| x |d f_p / d s_u| at word k, the first-order guess of the same thing
  (one ``torch.autograd.grad`` call for every k, taken in :func:`model.analysis.memory.transplant.record_pair`).

``rank_units`` is the entry point the lecture's conveyor-belt step calls; its signature stays put.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from model.analysis.memory.transplant import PairRuns, record_pair, transplant
from model.core.language_model import LanguageModel

# n values tried when looking for the fewest units that carry a share of the swap: exact below 8, then ~1.5x apart.
N_GRID = (1, 2, 3, 4, 6, 8, 12, 16, 24, 32, 48, 64, 96, 128, 192, 256, 384, 512, 768, 1024, 1536, 2048)


@dataclass(frozen=True)
class RankedUnit:
    """One state unit and how much of the swap it carries.

    Attributes:
        unit: index within its layer and part (0 .. H - 1).
        layer: layer index (0 = bottom).
        part: "h" (hidden state) or "c" (LSTM cell state).
        effect: its single-unit transplant share of the swap effect (1 = carries it all), or the
            gradient score, as the producing function says.
    """

    unit: int
    layer: int
    part: str
    effect: float

    def to_json(self) -> dict:
        return {"unit": self.unit, "layer": self.layer, "part": self.part, "effect": self.effect}


def scope_mask(pair: PairRuns, layer: int | None = None) -> torch.Tensor:
    """[L, P, H] bool: every unit (layer None) or the units of one layer (negative counts from the top).

    Raises:
        ValueError: a layer the model does not have.
    """
    num_layers = pair.state_shape[0]
    mask = torch.zeros(pair.state_shape, dtype=torch.bool)
    if layer is None:
        return mask.logical_not()
    if not isinstance(layer, int) or not -num_layers <= layer < num_layers:
        raise ValueError(
            f"This model has {num_layers} layer{'s' if num_layers > 1 else ''}, so layer must be in "
            f"[{-num_layers}, {num_layers - 1}] (or None for all layers); got {layer!r}."
        )
    mask[layer % num_layers] = True
    return mask


def unit_of(pair: PairRuns, flat: int, effect: float) -> RankedUnit:
    """A flat index into [L, P, H] -> a :class:`RankedUnit`."""
    _, parts, hidden = pair.state_shape
    return RankedUnit(
        unit=flat % hidden, layer=flat // (parts * hidden), part=pair.parts[(flat // hidden) % parts], effect=effect
    )


def single_unit_shares(model: LanguageModel, pair: PairRuns, k: int, scope: torch.Tensor | None = None) -> torch.Tensor:
    """Share of the swap effect each unit carries alone when transplanted after word k: [L, P, H] (0 outside scope).

    One row per unit in ``scope``, all run as one staircase batch from word k.
    """
    scope = torch.ones(pair.state_shape, dtype=torch.bool) if scope is None else scope
    units = scope.flatten().nonzero().flatten()  # [N]
    masks = torch.zeros(units.numel(), scope.numel(), dtype=torch.bool)
    masks[torch.arange(units.numel()), units] = True
    values, _ = transplant(model, pair, torch.full((units.numel(),), k), masks.view(-1, *pair.state_shape))
    shares = torch.zeros(scope.numel(), dtype=values.dtype)
    shares[units] = pair.shares(values).cpu()
    return shares.view(pair.state_shape)


def gradient_scores(pair: PairRuns, k: int, scope: torch.Tensor | None = None) -> torch.Tensor:
    """|s'_u - s_u| x |d f_p / d s_u| after word k: [L, P, H] (0 outside scope)."""
    if pair.gradients is None:
        raise ValueError("This pair was recorded without gradients; call record_pair(..., gradients=True).")
    scope = torch.ones(pair.state_shape, dtype=torch.bool) if scope is None else scope
    scores = ((pair.counterfactual_states[k] - pair.factual_states[k]).abs() * pair.gradients[k].abs()).cpu()
    return torch.where(scope, scores, torch.zeros_like(scores))


def ranking(scores: torch.Tensor, scope: torch.Tensor | None = None) -> list[int]:
    """Flat unit indices in ``scope``, largest |score| first (ties by index)."""
    flat = scores.flatten().abs()
    units = torch.arange(flat.numel()) if scope is None else scope.flatten().nonzero().flatten()
    order = torch.argsort(flat[units], descending=True, stable=True)
    return units[order].tolist()


def cumulative_shares(
    model: LanguageModel, pair: PairRuns, k: int, order: list[int], counts: list[int]
) -> list[float | None]:
    """Share of the swap carried by the first n units of ``order`` together, transplanted after word k, per n in counts."""
    if not counts:
        return []
    masks = torch.zeros(len(counts), pair.factual_states[0].numel(), dtype=torch.bool)
    for row, n in enumerate(counts):
        masks[row, order[:n]] = True
    values, _ = transplant(model, pair, torch.full((len(counts),), k), masks.view(-1, *pair.state_shape))
    return [None if share != share else float(share) for share in pair.shares(values).tolist()]


def units_needed(counts: list[int], shares: list[float | None], level: float = 0.8) -> int | None:
    """The smallest n whose share reaches ``level`` (None when none does)."""
    for n, share in zip(counts, shares):
        if share is not None and share >= level:
            return n
    return None


def grid_for(size: int) -> list[int]:
    """:data:`N_GRID` cut to ``size`` units, ending with ``size`` itself."""
    return [n for n in N_GRID if n < size] + [size]


def top_overlap(first: list[int], second: list[int], n: int, state_shape: tuple[int, int, int]) -> float:
    """Share of the top-n units of ``second`` whose (layer, unit) is also among the top n of ``first``.

    Parts are merged: an LSTM unit's c and h are one unit (h = o * tanh(c)), so "the same unit
    carries it" means the same (layer, index), whichever part ranks it.
    """
    _, parts, hidden = state_shape

    def cells(order: list[int]) -> set[tuple[int, int]]:
        return {(flat // (parts * hidden), flat % hidden) for flat in order[:n]}

    a, b = cells(first), cells(second)
    return len(a & b) / max(len(b), 1)


def rank_units(
    model: LanguageModel,
    factual_ids: torch.Tensor,
    counterfactual_ids: torch.Tensor,
    target_position: int,
    target_id: int,
    contrast_id: int,
    top: int = 16,
) -> list[RankedUnit]:
    """The units that carry the cue's swap from right after the cue to the target (the memory units of the pair).

    Each unit alone is transplanted from the counterfactual run into the factual run after the word
    right after the cue; its effect is the share of the whole swap effect on
    log P(target) - log P(contrast) at ``target_position`` that this moves (1 = all of it).

    Args:
        model: a LanguageModel (read only).
        factual_ids, counterfactual_ids: 1-D [T + 1] long ids, ``<eos>`` first (``prepare_input(...).ids[0]``),
            differing only in the cue.
        target_position: the output position read: the word before the target word (0-based over words).
        target_id, contrast_id: vocabulary ids of the target word ("his") and the contrast ("her").
        top: how many units to return.

    Returns:
        ``top`` :class:`RankedUnit` s, largest |effect| first (an effect may be negative: that unit alone
        pushes the target the other way).

    Raises:
        ValueError: texts of different lengths, identical texts, a target at or before the cue, bad ids.

    Example:
        >>> factual = prepare_input(tokenizer, "Mr. Robert is going on a vacation with his wife")
        >>> swapped = prepare_input(tokenizer, "Mrs. Mary is going on a vacation with his wife")
        >>> rank_units(model, factual.ids[0], swapped.ids[0], 8, tokenizer.token_to_id("his"), tokenizer.token_to_id("her"))[0]
        RankedUnit(unit=..., layer=0, part='c', effect=...)
    """
    if not isinstance(top, int) or top < 1:
        raise ValueError(f"top must be a positive integer; got {top!r}.")
    pair = record_pair(model, factual_ids, counterfactual_ids, target_position, target_id, contrast_id, gradients=False)
    shares = single_unit_shares(model, pair, pair.word_after_cue)
    return [unit_of(pair, flat, float(shares.flatten()[flat])) for flat in ranking(shares)[:top]]


def unit_lines(pair: PairRuns, units: list[RankedUnit]) -> list[dict]:
    """Each unit's value after every word in both runs, and for the LSTM its forget gate in both runs.

    Returns:
        Per unit: {unit, layer, part, effect, factual [T], counterfactual [T], forget_factual [T] or None,
        forget_counterfactual [T] or None}.
    """
    names = {"h": "hidden", "c": "cell"}
    lines = []
    for unit in units:
        factual, counter = pair.factual_records[unit.layer], pair.counterfactual_records[unit.layer]
        gate = "forget_gate" if "forget_gate" in factual else None
        lines.append(
            {
                **unit.to_json(),
                "factual": factual[names[unit.part]][:, unit.unit].double().tolist(),
                "counterfactual": counter[names[unit.part]][:, unit.unit].double().tolist(),
                "forget_factual": None if gate is None else factual[gate][:, unit.unit].double().tolist(),
                "forget_counterfactual": None if gate is None else counter[gate][:, unit.unit].double().tolist(),
            }
        )
    return lines
