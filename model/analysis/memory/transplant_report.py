"""Where the memory lives, for typed text: two runs, the transplant sweep and the memory units as JSON.

``transplant_report(model, tokenizer, text, ...)`` is what ``python -m model.transplant`` prints per
checkpoint and what the app's "Where the memory lives" view draws. Schema (T words, 0-based word
indices; output position t is the prediction made after word t):

    schema            "memory-lab/transplant/1"
    model             {arch, hidden_size, num_layers}
    text, counterfactual_text, tokens [T], counterfactual_tokens [T], unknown_words
    spans             the marked spans [[start, end)] where the texts may differ
    cue               [first, last + 1) of the words that do differ;  word_after_cue
    target            {word, contrast, index (the target word's index; T = after the text), position p = index - 1, description}
    layer             the layer in scope, or None for all
    factual, counterfactual, effect    f = log P(target) - log P(contrast) after word p on each text, and the difference (nats)
    positions         [T] {index, word, counterfactual_word, state_distance (||s - s'|| / ||s|| over the units in scope),
                       hidden_distance [L], cell_distance [L] or None, factual_value, counterfactual_value (f_t of each run),
                       share_all, share_cell, share_hidden (None for RNN/GRU), share_top {n: share}, share_units {n: share}}
    units             the memory units: top single-unit transplant shares after the word after the cue [{unit, layer, part, effect}]
    units_before_target   the same ranking at the word before the target
    units_needed      {level, word, counts, transplant: n or None, gradient: n or None, shares_transplant, shares_gradient}
    overlap           {first_word, second_word, transplant: {n: share}, gradient: {n: share}}
    unit_lines        the top units' values in both runs (and LSTM forget gates), see memory_units.unit_lines

Shares are None when the swap moves the target by less than 1e-9 nats (nothing to share out).
"""

from __future__ import annotations

from typing import Any

import torch

from data.cue_swap import align_pair, contrast_pair, default_cue_span, default_replacement, replace_span
from data.files import finite_or_none
from data.tokenizer import WordTokenizer
from model.analysis.inputs import DEFAULT_MAX_WORDS, AnalysisInput, prepare_input
from model.analysis.memory.transplant import PairRuns, part_distances, record_pair, state_distance
from model.analysis.memory.transplant_sweep import DEFAULT_COUNTS, transplant_sweep
from model.analysis.memory.units import (
    RankedUnit,
    cumulative_shares,
    gradient_scores,
    grid_for,
    ranking,
    scope_mask,
    single_unit_shares,
    top_overlap,
    unit_lines,
    unit_of,
    units_needed,
)
from model.analysis.targets import word_id
from model.core.language_model import LanguageModel

SCHEMA = "memory-lab/transplant/1"
_PRONOUN_SWAP = {
    "his": "her",
    "her": "his",
    "he": "she",
    "she": "he",
    "him": "her",
    "himself": "herself",
    "herself": "himself",
}


def prepare_pair(
    tokenizer: WordTokenizer,
    text: str,
    counterfactual: str | None = None,
    spans: list[tuple[int, int]] | None = None,
    max_words: int = DEFAULT_MAX_WORDS,
) -> tuple[AnalysisInput, AnalysisInput, list[tuple[int, int]]]:
    """Tokenize a factual text and its counterfactual and check that they differ only inside ``spans``.

    Args:
        tokenizer: the checkpoint's tokenizer.
        text: the factual text.
        counterfactual: the swapped text; default: each span replaced by its gender swap
            (:func:`data.cue_swap.default_replacement`, "Mr. Robert" -> "Mrs. Mary").
        spans: half-open token spans where the texts may differ; default the first title-and-name cue
            (:func:`data.cue_swap.default_cue_span`).

    Returns:
        (factual input, counterfactual input, spans).

    Raises:
        ValueError: no cue found, texts of different lengths, differences outside the spans (naming
            them), or an unknown word where the texts differ.
    """
    factual = prepare_input(tokenizer, text, max_words)
    tokens = factual.tokens
    if spans is None:
        span = default_cue_span(tokens)
        if span is None:
            raise ValueError(
                "No title-and-name cue found in the text (such as 'Mr. Robert'); mark the cue's tokens with a span "
                f"(--span START:END, 0-based, end excluded). The tokens are: {_numbered(tokens)}."
            )
        spans = [span]
    spans = [(int(start), int(end)) for start, end in spans]
    for start, end in spans:
        if not 0 <= start < end <= len(tokens):
            raise ValueError(
                f"A span must satisfy 0 <= start < end <= {len(tokens)} (the text's tokens); got {start}:{end}. "
                f"The tokens are: {_numbered(tokens)}."
            )
    if counterfactual is None:
        counterfactual = text
        offsets = [tuple(offset) for offset in factual.encoded.offsets]
        for span in sorted(spans, reverse=True):  # right to left, so earlier offsets stay valid
            counterfactual = replace_span(counterfactual, offsets, span, default_replacement(tokens, span))
    swapped = prepare_input(tokenizer, counterfactual, max_words)
    pair = align_pair(tokens, swapped.tokens, spans)
    for index in pair.differing:
        for name, source in (("text", factual), ("counterfactual", swapped)):
            if source.encoded.unknown[index]:
                raise ValueError(
                    f"The {name}'s word {source.tokens[index]!r} (token {index}) is not in the model's vocabulary, so the "
                    "swap would compare <unk> with a word; use a cue the model knows (names and titles keep their case)."
                )
    return factual, swapped, spans


def default_counterfactual(
    tokenizer: WordTokenizer, text: str, max_words: int = DEFAULT_MAX_WORDS
) -> tuple[str, tuple[int, int]] | None:
    """The text with its first title-and-name cue gender-swapped, and that cue's span; None when it has no cue.

    Example:
        >>> default_counterfactual(tokenizer, "Mr. Robert is going on a vacation with his wife")
        ('Mrs. Mary is going on a vacation with his wife', (0, 3))
    """
    factual = prepare_input(tokenizer, text, max_words)
    span = default_cue_span(factual.tokens)
    if span is None:
        return None
    offsets = [tuple(offset) for offset in factual.encoded.offsets]
    return replace_span(factual.text, offsets, span, default_replacement(factual.tokens, span)), span


def default_target(
    tokenizer: WordTokenizer, text: str, max_words: int = DEFAULT_MAX_WORDS
) -> tuple[int, str, str] | None:
    """(index, word, contrast) of the first gendered pronoun after the text's cue (his -> her, she -> he, ...), or None."""
    factual = prepare_input(tokenizer, text, max_words)
    span = default_cue_span(factual.tokens)
    return contrast_pair(factual.tokens, after=0 if span is None else span[1])


def _numbered(tokens: list[str]) -> str:
    shown = " ".join(f"{index}:{token}" for index, token in enumerate(tokens[:30]))
    return shown + (" ..." if len(tokens) > 30 else "")


def resolve_target(
    tokens: list[str], cue_end: int, target_word: str | None, contrast_word: str | None, target_index: int | None = None
) -> tuple[int, str, str]:
    """(target index, target word, contrast word): given ones where given, the first pronoun after the cue otherwise.

    The target index is the target word's position in ``tokens`` (len(tokens): the word after the text).

    Raises:
        ValueError: no pronoun to default to, a contrast without a target, a target word that occurs
            only at or before the cue, or an index outside the text.
    """
    if target_word is None:
        if contrast_word is not None:
            raise ValueError(
                f"A contrast word ({contrast_word!r}) needs a target word; pass both, e.g. --target-word his --contrast her."
            )
        found = contrast_pair(tokens, after=cue_end)
        if found is None:
            raise ValueError(
                "No gendered pronoun after the cue to predict; pass a target and a contrast word (e.g. his and her)."
            )
        index, target_word, contrast_word = found
        return (index if target_index is None else target_index), target_word, contrast_word
    target_word = target_word.strip()
    if contrast_word is None:
        if target_word not in _PRONOUN_SWAP:
            raise ValueError(f"Pass a contrast word for the target {target_word!r} (the rival it is weighed against).")
        contrast_word = _PRONOUN_SWAP[target_word]
    if target_index is None:
        later = [index for index in range(cue_end, len(tokens)) if tokens[index] == target_word]
        if later:
            target_index = later[0]
        elif target_word in tokens:
            raise ValueError(
                f"The target word {target_word!r} occurs only at or before the cue (token "
                f"{tokens.index(target_word)}); the cue must come first. Pick a target after the cue."
            )
        else:
            target_index = len(tokens)  # the prediction after the text
    if not isinstance(target_index, int) or not 1 <= target_index <= len(tokens):
        raise ValueError(
            f"The target index must be in [1, {len(tokens)}] (a word of the text, or {len(tokens)} for the word "
            f"after it); got {target_index!r}."
        )
    return target_index, target_word, contrast_word


def _shares_by_count(
    sweep: dict[str, list[float | None]], prefix: str, counts: tuple[int, ...], k: int
) -> dict[str, float | None]:
    return {str(n): sweep[f"{prefix} {n}"][k] for n in counts if f"{prefix} {n}" in sweep}


def pair_summary(
    model: LanguageModel,
    pair: PairRuns,
    scope: torch.Tensor,
    counts: tuple[int, ...] = DEFAULT_COUNTS,
    top: int = 16,
    level: float = 0.8,
) -> tuple[dict[str, Any], list[int]]:
    """The memory units of a pair and how many units it takes (the non-positional part of the report).

    Returns:
        (units, units_before_target, units_needed and overlap as JSON; the full unit ranking right after the cue,
        as flat indices, for the sweep's fixed-unit rows).
    """
    after, before = pair.word_after_cue, pair.target_position
    shares_after = single_unit_shares(model, pair, after, scope)
    shares_before = single_unit_shares(model, pair, before, scope)
    order_after, order_before = ranking(shares_after, scope), ranking(shares_before, scope)
    gradient_before = ranking(gradient_scores(pair, before, scope), scope) if pair.gradients is not None else None
    gradient_after = ranking(gradient_scores(pair, after, scope), scope) if pair.gradients is not None else None
    grid = grid_for(len(order_before))
    needed_transplant = cumulative_shares(model, pair, before, order_before, grid)
    needed_gradient = cumulative_shares(model, pair, before, gradient_before, grid) if gradient_before else None
    flat_after, flat_before = shares_after.flatten(), shares_before.flatten()
    return (
        {
            "units": [unit_of(pair, flat, finite_or_none(flat_after[flat])).to_json() for flat in order_after[:top]],
            "units_before_target": [
                unit_of(pair, flat, finite_or_none(flat_before[flat])).to_json() for flat in order_before[:top]
            ],
            "units_needed": {
                "level": level,
                "word": before,
                "counts": grid,
                "transplant": units_needed(grid, needed_transplant, level),
                "shares_transplant": needed_transplant,
                "gradient": None if needed_gradient is None else units_needed(grid, needed_gradient, level),
                "shares_gradient": needed_gradient,
            },
            "overlap": {
                "first_word": after,
                "second_word": before,
                "transplant": {str(n): top_overlap(order_after, order_before, n, pair.state_shape) for n in counts},
                "gradient": None
                if gradient_before is None
                else {str(n): top_overlap(gradient_after, gradient_before, n, pair.state_shape) for n in counts},
            },
        },
        order_after,
    )


def transplant_report(
    model: LanguageModel,
    tokenizer: WordTokenizer,
    text: str,
    counterfactual: str | None = None,
    spans: list[tuple[int, int]] | None = None,
    target_word: str | None = None,
    contrast_word: str | None = None,
    target_index: int | None = None,
    layer: int | None = None,
    counts: tuple[int, ...] = DEFAULT_COUNTS,
    top: int = 16,
    lines: int = 4,
    max_words: int = DEFAULT_MAX_WORDS,
) -> dict[str, Any]:
    """Two runs, the transplant sweep and the memory units of one text pair (schema in the module docstring).

    Raises:
        ValueError: see :func:`prepare_pair` and :func:`resolve_target`; an unknown target or contrast
            word; a layer the model does not have; a target at or before the cue.

    Example:
        >>> report = transplant_report(model, tokenizer, "Mr. Robert is going on a vacation with his wife")
        >>> report["positions"][3]["share_all"], report["units_needed"]["transplant"]
    """
    factual, swapped, spans = prepare_pair(tokenizer, text, counterfactual, spans, max_words)
    tokens = factual.tokens
    aligned = align_pair(tokens, swapped.tokens, spans)
    cue_end = aligned.last_difference + 1 if aligned.differing else spans[0][1]
    index, target, contrast = resolve_target(tokens, cue_end, target_word, contrast_word, target_index)
    target_id, contrast_id = word_id(tokenizer, target, "target"), word_id(tokenizer, contrast, "contrast")
    pair = record_pair(model, factual.ids[0], swapped.ids[0], index - 1, target_id, contrast_id)
    scope = scope_mask(pair, layer)
    summary, order_after = pair_summary(model, pair, scope, tuple(counts), top)
    sweep = transplant_sweep(model, pair, scope, tuple(counts), fixed=order_after)
    distance = state_distance(pair, scope).tolist()
    parts = part_distances(pair)
    positions = []
    for k, word in enumerate(tokens):
        positions.append(
            {
                "index": k,
                "word": word,
                "counterfactual_word": swapped.tokens[k],
                "state_distance": finite_or_none(distance[k]),
                "hidden_distance": parts["h"][k],
                "cell_distance": parts["c"][k] if "c" in parts else None,
                "factual_value": finite_or_none(pair.factual_values[k]),
                "counterfactual_value": finite_or_none(pair.counterfactual_values[k]),
                "share_all": sweep["all"][k],
                "share_cell": sweep["c"][k] if "c" in sweep else None,
                "share_hidden": sweep["h"][k] if "h" in sweep else None,
                "share_top": _shares_by_count(sweep, "top", tuple(counts), k),
                "share_units": _shares_by_count(sweep, "units", tuple(counts), k),
            }
        )
    config = model.config
    line_units = [RankedUnit(**unit) for unit in summary["units"][:lines]]
    return {
        "schema": SCHEMA,
        "model": {"arch": config.arch, "hidden_size": config.hidden_size, "num_layers": config.num_layers},
        "text": factual.text,
        "counterfactual_text": swapped.text,
        "tokens": list(tokens),
        "counterfactual_tokens": list(swapped.tokens),
        "unknown_words": factual.encoded.unknown_words,
        "spans": [list(span) for span in spans],
        "cue": list(pair.cue),
        "word_after_cue": pair.word_after_cue,
        "target": {
            "word": target,
            "contrast": contrast,
            "index": index,
            "position": index - 1,
            "description": f"log P({target!r}) - log P({contrast!r})",
        },
        "layer": layer,
        "factual": pair.factual,
        "counterfactual": pair.counterfactual,
        "effect": pair.effect,
        "positions": positions,
        **summary,
        "unit_lines": unit_lines(pair, line_units),
    }
