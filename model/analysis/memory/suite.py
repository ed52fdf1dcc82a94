"""Memory units across the pronoun suite: which units carry gender, how many it takes, and ablating them.

Every template of :mod:`data.pronoun_suite` appears with a man ("Mr. John, who ... shook") and a woman
("Mrs. Emma, who ... shook"): the man's text is the factual run, the woman's the counterfactual, the
cue is the title and name, and the target is log P(his) - log P(her) after the last word. Per template:

* each unit's single-unit transplant share after the word right after the cue and after the word
  before the target (:func:`model.analysis.memory.units.single_unit_shares`);
* the share carried by the template's own top-n units at both words, n on a grid.

Over templates (per distance bucket and overall), shares are pooled as sum(transplanted effect) /
sum(swap effect), so a template whose swap barely moves the target cannot swing the figure. Units
are ranked by their pooled single-unit share right after the cue (the mean transplant effect over
templates, in units of the mean swap effect).

The ablation runs on a fresh draw of the suite (``seed + 1``), so the units are not tested on the
templates that chose them: after the word right after the cue, the chosen units of both runs are set
to their mean at that word over the ranking draw (both genders), and the rest of each text is read.
The swap effect left, pooled the same way, is compared with the same number of random units
(``draws`` seeded draws: mean and standard deviation).
"""

from __future__ import annotations

import statistics
from collections import defaultdict
from dataclasses import dataclass
from typing import Any

import torch

from data.files import finite_or_none
from data.pronoun_suite import BUCKETS, DEFAULT_TEMPLATES_PER_BUCKET, build_pronoun_suite
from data.tokenizer import WordTokenizer
from model.analysis.inputs import prepare_input
from model.analysis.memory.transplant import PairRuns, continue_runs, record_pair
from model.analysis.memory.units import cumulative_shares, grid_for, ranking, single_unit_shares, top_overlap, unit_of
from model.analysis.targets import word_id
from model.core.language_model import LanguageModel

ABLATION_COUNTS = (4, 16)
OVERLAP_COUNTS = (4, 16)


@dataclass(frozen=True)
class SuitePair:
    """One template as a factual (man) / counterfactual (woman) pair of ids, read after the last word."""

    template: str
    bucket: str
    distance: int
    factual_ids: torch.Tensor
    counterfactual_ids: torch.Tensor
    target_position: int
    target_id: int
    contrast_id: int


def pronoun_pairs(
    tokenizer: WordTokenizer, seed: int = 0, templates_per_bucket: int = DEFAULT_TEMPLATES_PER_BUCKET
) -> tuple[list[SuitePair], list[str]]:
    """The pronoun suite as pairs: (pairs, templates left out because a name or title is not in the vocabulary)."""
    rows = build_pronoun_suite(seed=seed, templates_per_bucket=templates_per_bucket)
    his, her = word_id(tokenizer, "his", "target"), word_id(tokenizer, "her", "contrast")
    by_template: dict[str, dict[str, dict]] = defaultdict(dict)
    for row in rows:
        by_template[row["template"]][row["gender"]] = row
    pairs, skipped = [], []
    for template, rows_of in by_template.items():
        man, woman = (prepare_input(tokenizer, rows_of[gender]["prefix"]) for gender in ("man", "woman"))
        differing = [i for i, (a, b) in enumerate(zip(man.tokens, woman.tokens)) if a != b]
        if len(man.tokens) != len(woman.tokens) or any(
            man.encoded.unknown[i] or woman.encoded.unknown[i] for i in differing
        ):
            skipped.append(template)
            continue
        pairs.append(
            SuitePair(
                template=template,
                bucket=rows_of["man"]["group"].removeprefix("pronoun "),
                distance=int(rows_of["man"]["distance"]),
                factual_ids=man.ids[0],
                counterfactual_ids=woman.ids[0],
                target_position=man.num_words - 1,
                target_id=his,
                contrast_id=her,
            )
        )
    return pairs, skipped


def record(model: LanguageModel, item: SuitePair) -> PairRuns:
    """Both runs of one template (no gradients: the suite ranks by transplants)."""
    return record_pair(
        model,
        item.factual_ids,
        item.counterfactual_ids,
        item.target_position,
        item.target_id,
        item.contrast_id,
        gradients=False,
    )


def template_measures(model: LanguageModel, pair: PairRuns) -> dict[str, Any]:
    """Single-unit shares at both words, the template's own top-n shares on the grid, and top-set overlaps."""
    after, before = pair.word_after_cue, pair.target_position
    shares_after = single_unit_shares(model, pair, after)
    shares_before = single_unit_shares(model, pair, before)
    order_after, order_before = ranking(shares_after), ranking(shares_before)
    grid = grid_for(len(order_after))
    return {
        "effect": pair.effect,
        "shares_after": shares_after.flatten(),
        "grid": grid,
        "cumulative_after": cumulative_shares(model, pair, after, order_after, grid),
        "cumulative_before": cumulative_shares(model, pair, before, order_before, grid),
        "overlap": {n: top_overlap(order_after, order_before, n, pair.state_shape) for n in OVERLAP_COUNTS},
    }


def _pooled(effects: list[float], shares: list[float | None]) -> float | None:
    """sum(share * effect) / sum(effect) over templates with a defined share."""
    kept = [(effect, share) for effect, share in zip(effects, shares) if share is not None]
    total = sum(effect for effect, _ in kept)
    return None if not kept or abs(total) < 1e-12 else sum(effect * share for effect, share in kept) / total


def _needed(grid: list[int], measures: list[dict], key: str, level: float) -> int | None:
    effects = [m["effect"] for m in measures]
    for column, n in enumerate(grid):
        pooled = _pooled(effects, [m[key][column] for m in measures])
        if pooled is not None and pooled >= level:
            return n
    return None


def reference_means(pairs: list[PairRuns]) -> torch.Tensor:
    """The mean state [L, P, H] right after the cue over both runs of every template."""
    states = [
        states[pair.word_after_cue] for pair in pairs for states in (pair.factual_states, pair.counterfactual_states)
    ]
    return torch.stack(states).double().mean(dim=0)


def ablate(model: LanguageModel, pair: PairRuns, masks: torch.Tensor, reference: torch.Tensor) -> list[float]:
    """The swap effect left (f_woman - f_man, nats) with each mask's units set to ``reference`` after the word after the cue."""
    k = pair.word_after_cue
    ks = torch.full((masks.shape[0],), k)
    values = []
    for ids, states in ((pair.factual_ids, pair.factual_states), (pair.counterfactual_ids, pair.counterfactual_states)):
        starts = torch.where(masks, reference.to(states), states[k].expand_as(masks))  # [R, L, P, H]
        value, _ = continue_runs(model, ids, ks, starts, pair.target_position, pair.target_id, pair.contrast_id)
        values.append(value)
    return (values[1] - values[0]).tolist()


def _mask(flat: list[int] | torch.Tensor, shape: tuple[int, int, int]) -> torch.Tensor:
    mask = torch.zeros(shape[0] * shape[1] * shape[2], dtype=torch.bool)
    mask[torch.as_tensor(flat, dtype=torch.long)] = True
    return mask.view(shape)


def suite_memory_units(
    model: LanguageModel,
    tokenizer: WordTokenizer,
    seed: int = 0,
    templates_per_bucket: int = DEFAULT_TEMPLATES_PER_BUCKET,
    top: int = 16,
    draws: int = 10,
    level: float = 0.8,
) -> dict[str, Any]:
    """Rank the units that carry gender over the pronoun suite, count them, and ablate them on a fresh draw.

    Args:
        model: a LanguageModel (read only).
        tokenizer: its tokenizer.
        seed: the ranking draw of the suite; the ablation uses ``seed + 1``.
        templates_per_bucket: templates per distance bucket (60 as in ``model.evaluate --suite pronoun``).
        top: units listed.
        draws: random unit sets per count for the ablation baseline (at least 10 for the README's figures).
        level: the share the units needed must reach.

    Returns:
        {suite, seed, ablation_seed, templates, skipped, level, draws, reference,
         units: [{unit, layer, part, effect (pooled single-unit share after the cue), by_bucket {bucket: pooled share}}],
         buckets / overall: {templates, mean_effect, units_needed {after_cue, before_target}, overlap {n: mean},
                             ablation {n: {top, random_mean, random_std, random}}}}
    """
    if draws < 1:
        raise ValueError(f"draws must be at least 1 (10 or more for a fair spread); got {draws}.")
    pairs, skipped = pronoun_pairs(tokenizer, seed, templates_per_bucket)
    if not pairs:
        raise ValueError(
            "No template of the pronoun suite has a title and a name this vocabulary knows; nothing to measure."
        )
    runs = [record(model, item) for item in pairs]
    measures = [template_measures(model, pair) for pair in runs]
    shape = runs[0].state_shape
    shares = torch.stack([m["shares_after"] for m in measures]).double()  # [templates, N]
    effects = torch.tensor([m["effect"] for m in measures], dtype=torch.float64)  # [templates]
    bucket_of = [item.bucket for item in pairs]
    bucket_names = [bucket.name for bucket in BUCKETS if bucket.name in bucket_of]

    def rows_of(name: str | None) -> list[int]:
        return [i for i, bucket in enumerate(bucket_of) if name is None or bucket == name]

    def pooled_units(rows: list[int]) -> torch.Tensor:
        # sum of each unit's transplanted effect / sum of the swap effects: [N] (NaN shares count as 0; all NaN
        # when the swaps add up to nothing)
        chosen = shares[rows].nan_to_num(0.0)
        total = effects[rows].sum()
        return (chosen * effects[rows, None]).sum(dim=0) / (total if abs(total) > 1e-12 else float("nan"))

    overall = pooled_units(rows_of(None))
    order = ranking(overall)
    by_bucket = {name: pooled_units(rows_of(name)) for name in bucket_names}
    units = [
        {
            **unit_of(runs[0], flat, finite_or_none(overall[flat])).to_json(),
            "by_bucket": {name: finite_or_none(by_bucket[name][flat]) for name in bucket_names},
        }
        for flat in order[:top]
    ]

    reference = reference_means(runs)
    fresh, fresh_skipped = pronoun_pairs(tokenizer, seed + 1, templates_per_bucket)
    generator = torch.Generator().manual_seed(seed)
    size = shape[0] * shape[1] * shape[2]
    masks, labels = [], []
    for n in ABLATION_COUNTS:
        masks.append(_mask(order[:n], shape))
        labels.append((n, "top"))
        for _ in range(draws):
            masks.append(_mask(torch.randperm(size, generator=generator)[:n], shape))
            labels.append((n, "random"))
    stacked = torch.stack(masks)
    fresh_runs = [record(model, item) for item in fresh]
    ablated = [ablate(model, pair, stacked, reference) for pair in fresh_runs]  # [templates][R]

    def summary(name: str | None) -> dict[str, Any]:
        chosen = rows_of(name)
        effects = [measures[i]["effect"] for i in chosen]
        grid = measures[chosen[0]]["grid"]
        fresh_rows = [i for i, item in enumerate(fresh) if name is None or item.bucket == name]
        fresh_effects = [-fresh_runs[i].effect for i in fresh_rows]  # f_man - f_woman (the suite's swap effect)
        total = sum(fresh_effects)
        ablation = {}
        for n in ABLATION_COUNTS:
            left = [
                sum(-ablated[i][r] for i in fresh_rows) / total if abs(total) > 1e-12 else None
                for r, label in enumerate(labels)
                if label == (n, "top") or label == (n, "random")
            ]
            kinds = [label[1] for label in labels if label[0] == n]
            randoms = [value for value, kind in zip(left, kinds) if kind == "random" and value is not None]
            ablation[str(n)] = {
                "top": next((v for v, k in zip(left, kinds) if k == "top"), None),
                "random_mean": statistics.fmean(randoms) if randoms else None,
                "random_std": statistics.stdev(randoms) if len(randoms) > 1 else None,
                "random": randoms,
            }
        return {
            "templates": len(chosen),
            "mean_effect": -statistics.fmean(effects),
            "units_needed": {
                "after_cue": _needed(grid, [measures[i] for i in chosen], "cumulative_after", level),
                "before_target": _needed(grid, [measures[i] for i in chosen], "cumulative_before", level),
            },
            "overlap": {str(n): statistics.fmean(measures[i]["overlap"][n] for i in chosen) for n in OVERLAP_COUNTS},
            "ablation_templates": len(fresh_rows),
            "ablation_mean_effect": statistics.fmean(fresh_effects) if fresh_effects else None,
            "ablation": ablation,
        }

    return {
        "suite": "pronoun",
        "seed": seed,
        "ablation_seed": seed + 1,
        "templates": len(pairs),
        "skipped": skipped + fresh_skipped,
        "level": level,
        "draws": draws,
        "grid": grid_for(size),
        "reference": "mean state right after the cue over both runs of every ranking-draw template",
        "units": units,
        "buckets": {name: summary(name) for name in bucket_names},
        "overall": summary(None),
    }
