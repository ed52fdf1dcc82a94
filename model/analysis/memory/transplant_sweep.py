"""The transplant sweep: the share of the swap carried by the whole state, h or c, and the top-n units, at every word.

For every word k from the cue's first word to the word before the target (p), the factual run's
state after word k is edited in several ways and the rest of the factual text is read:

    all        every unit in scope (scope: all layers, or one)
    h, c       only the hidden state, only the LSTM's cell state
    top n      the n units with the largest |s'_u - s_u| x |d f_p / d s_u| at that k
    units n    the first n units of a fixed ranking (the memory units), the same units at every k

All rows, for all k and all variants, are one staircase batch over the factual run
(:func:`model.analysis.memory.transplant.transplant`): the sweep costs about as much as one run of
(variants x (p - cue) / 2) rows, and no prefix is re-run. Before the cue the two states are equal,
and after word p the target has been read, so those words get share 0 without a run.
"""

from __future__ import annotations

import torch

from model.analysis.memory.transplant import PairRuns, transplant
from model.analysis.memory.units import gradient_scores, ranking
from model.core.config import CELLS
from model.core.language_model import LanguageModel

DEFAULT_COUNTS = (1, 4, 16)


def sweep_masks(
    pair: PairRuns, scope: torch.Tensor, counts: tuple[int, ...], fixed: list[int] | None
) -> tuple[list[int], list[str], torch.Tensor]:
    """The rows of a sweep: (k of each row, variant name of each row, masks [R, L, P, H])."""
    if pair.gradients is None and counts:
        raise ValueError("The top-n rows rank units by gradient; record the pair with gradients=True.")
    size = int(scope.sum())
    ks: list[int] = []
    names: list[str] = []
    masks: list[torch.Tensor] = []

    def add(k: int, name: str, mask: torch.Tensor) -> None:
        ks.append(k)
        names.append(name)
        masks.append(mask)

    part_masks = {}
    for index, part in enumerate(pair.parts):
        only = torch.zeros_like(scope)
        only[:, index] = scope[:, index]
        part_masks[part] = only
    for k in range(pair.cue[0], pair.target_position + 1):
        add(k, "all", scope)
        if CELLS[pair.arch].has_cell_state:
            add(k, "h", part_masks["h"])
            add(k, "c", part_masks["c"])
        order = ranking(gradient_scores(pair, k, scope), scope) if counts else []
        for n in counts:
            add(k, f"top {n}", _first(order, min(n, size), scope))
        for n in counts if fixed else ():
            add(k, f"units {n}", _first(fixed, min(n, len(fixed)), scope))
    stacked = torch.stack(masks) if masks else torch.zeros(0, *pair.state_shape, dtype=torch.bool)
    return ks, names, stacked


def _first(order: list[int], n: int, scope: torch.Tensor) -> torch.Tensor:
    mask = torch.zeros(scope.numel(), dtype=torch.bool)
    mask[order[:n]] = True
    return mask.view(scope.shape)


def transplant_sweep(
    model: LanguageModel,
    pair: PairRuns,
    scope: torch.Tensor | None = None,
    counts: tuple[int, ...] = DEFAULT_COUNTS,
    fixed: list[int] | None = None,
) -> dict[str, list[float | None]]:
    """Shares of the swap effect at every word for every variant (see the module docstring).

    Args:
        model: the model ``pair`` was recorded with.
        pair: from :func:`model.analysis.memory.transplant.record_pair` (with gradients, for the top-n rows).
        scope: [L, P, H] bool, the units that may be transplanted (default all).
        counts: the n of the top-n and fixed-units rows.
        fixed: flat unit indices of a fixed ranking (e.g. the memory units after the cue), or None.

    Returns:
        variant name ("all", "h", "c", "top N", "units N") -> T shares, None where the swap moves
        nothing (then no share is defined); "h" and "c" only for the LSTM.

    Example:
        >>> shares = transplant_sweep(model, pair)
        >>> shares["all"][pair.word_after_cue], shares["top 4"][pair.target_position]
        (1.0, 0.63)
    """
    scope = torch.ones(pair.state_shape, dtype=torch.bool) if scope is None else scope
    ks, names, masks = sweep_masks(pair, scope, tuple(counts), fixed)
    values, _ = transplant(model, pair, torch.tensor(ks, dtype=torch.long), masks)
    shares = pair.shares(values).tolist()
    undefined = abs(pair.effect) < 1e-9
    result: dict[str, list[float | None]] = {
        name: [None if undefined else 0.0] * pair.length for name in dict.fromkeys(names)
    }
    for k, name, share in zip(ks, names, shares):
        result[name][k] = None if share != share else float(share)
    return result
