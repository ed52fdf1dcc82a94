"""The numbers of the lecture: what each model expects, what the cue swap does, which span carries it.

Every function reads one prediction, that of word ``pair.target_position`` (see
:mod:`model.analysis.lesson_pair`), and the contrast

    f = log P(target) - log P(contrast)     (nats; > 0: the model prefers the target)

Exact numbers come from re-running the model on edited ids (a swap, an occlusion); the gradient
methods come from :func:`model.analysis.influence.methods.word_influence`, summed over a span where the
method is additive (gradient x input, integrated gradients) and as the norm of the span's whole
gradient for the gradient size. Models are only read: eval mode, no ``.grad`` written.
"""

from __future__ import annotations

import math
from typing import Sequence

import torch
from torch.nn import functional

from data.tokenizer import WordTokenizer
from model.analysis.influence.methods import word_influence
from model.analysis.lesson_pair import LessonPair
from model.analysis.memory.ladder import DEFAULT_FILLERS, LadderSpec, run_ladder
from model.analysis.memory.span import memory_span
from model.analysis.memory.traces import compute_traces
from model.analysis.recurrence.device import analysis_mode
from model.analysis.targets import TargetSpec, resolve_targets, word_id
from model.core.language_model import LanguageModel, model_device

# The span methods of span_attribution and the signed ones among them.
SPAN_METHODS = ("swap", "occlusion", "ig", "gradxinput", "grad")
SIGNED_METHODS = ("swap", "occlusion", "ig", "gradxinput")
# The smallest swap effect at the shortest rung that counts as a memory to follow, in nats: the swap changes the
# odds of target over contrast by e^0.5 = 1.65 times. Lower than span.CLEAR_CONTRAST_NATS (1 nat) because a swap
# effect is a difference of two contrasts on the same words, so the model's lexical habits cancel out of it.
CLEAR_EFFECT_NATS = 0.5


def prediction_log_probs(
    model: LanguageModel, eos_id: int, rows: Sequence[Sequence[int]], position: int
) -> torch.Tensor:
    """log P(. | <eos> + the first ``position`` ids) for several id lists at once.

    Args:
        model: the language model (read only).
        eos_id: the tokenizer's ``<eos>`` id (the paragraph start the model reads first).
        rows: N id lists, each at least ``position`` long (only the first ``position`` are read).
        position: index of the predicted word.

    Returns:
        [N, V] log-probabilities in nats.
    """
    if not rows or any(len(row) < position for row in rows) or position < 0:
        raise ValueError(
            f"Every id list must hold at least {position} ids (position {position}); got lengths {[len(r) for r in rows]}."
        )
    ids = torch.tensor(
        [[eos_id, *row[:position]] for row in rows], dtype=torch.long, device=model_device(model)
    )  # [N, P + 1]
    with torch.no_grad(), analysis_mode(model):
        features, _ = model.features(ids)  # [N, P + 1, H]
        return functional.log_softmax(model.logits_from_features(features[:, -1]), dim=-1)  # [N, V]


def _contrasts(
    model: LanguageModel, tokenizer: WordTokenizer, pair: LessonPair, rows: Sequence[Sequence[int]]
) -> list[float]:
    log_probs = prediction_log_probs(model, tokenizer.eos_id, rows, pair.target_position)  # [N, V]
    good, bad = word_id(tokenizer, pair.target, "target"), word_id(tokenizer, pair.contrast, "contrast")
    return (log_probs[:, good] - log_probs[:, bad]).double().tolist()


def expectations(model: LanguageModel, tokenizer: WordTokenizer, pair: LessonPair, top_k: int = 8) -> dict:
    """What the model expects as word ``pair.target_position`` of the factual sentence.

    Returns:
        {"top": [{"word", "probability"}] (top_k, most probable first), "target" / "contrast":
        {"word", "probability", "rank"} (rank 1 = the most probable word), "contrast_value": f in nats}.

    Example:
        >>> expectations(model, tokenizer, build_pair(tokenizer, SEED))["target"]["probability"]
    """
    if not isinstance(top_k, int) or top_k < 1:
        raise ValueError(f"top_k must be a positive integer; got {top_k!r}.")
    row = prediction_log_probs(model, tokenizer.eos_id, [pair.ids], pair.target_position)[0]  # [V]
    values, indices = row.topk(min(top_k, row.numel()))
    result: dict = {
        "top": [
            {"word": tokenizer.id_to_token(int(i)), "probability": math.exp(float(v))}
            for v, i in zip(values.tolist(), indices.tolist())
        ]
    }
    for role, word in (("target", pair.target), ("contrast", pair.contrast)):
        index = word_id(tokenizer, word, role)
        result[role] = {
            "word": word,
            "probability": math.exp(float(row[index])),
            "rank": int((row > row[index]).sum()) + 1,
        }
    result["contrast_value"] = math.log(result["target"]["probability"]) - math.log(result["contrast"]["probability"])
    return result


def _swapped(pair: LessonPair, positions: Sequence[int], replacement: Sequence[int] | int) -> list[int]:
    """The factual ids with ``positions`` taken from ``replacement`` (an id list, or one id for all)."""
    ids = list(pair.ids)
    for position in positions:
        ids[position] = replacement if isinstance(replacement, int) else replacement[position]
    return ids


def cue_swap(model: LanguageModel, tokenizer: WordTokenizer, pair: LessonPair) -> dict:
    """The contrast on the factual sentence, on the counterfactual, and with each cue part swapped alone.

    Returns:
        {"before": f(text), "after": f(counterfactual), "shift": after - before, "parts":
        [{"label": "Mr.", "replacement": "Mrs.", "value": f(text with only this part swapped),
        "effect": before - value}]}, in nats.

    Example:
        >>> cue_swap(model, tokenizer, build_pair(tokenizer, SEED))["after"] < 0   # Mrs. Mary -> her
    """
    rows = [list(pair.ids), list(pair.counterfactual_ids)]
    for _, (start, end) in pair.parts:
        rows.append(_swapped(pair, range(start, end), pair.counterfactual_ids))
    values = _contrasts(model, tokenizer, pair, rows)
    before, after = values[0], values[1]
    parts = []
    for (label, (start, end)), value in zip(pair.parts, values[2:]):
        replacement = pair.counterfactual_label(label, (start, end))
        parts.append({"label": label, "replacement": replacement, "value": value, "effect": before - value})
    return {"before": before, "after": after, "shift": after - before, "parts": parts}


def lesson_spans(pair: LessonPair) -> list[tuple[str, tuple[int, int]]]:
    """The spans attributed: each cue part, then the whole cue when it has several parts."""
    spans = list(pair.parts)
    if len(spans) > 1:
        spans.append((pair.cue_text, pair.cue_span))
    return spans


def span_attribution(model: LanguageModel, tokenizer: WordTokenizer, pair: LessonPair, steps: int = 32) -> list[dict]:
    """How much each cue span drives f = log P(target) - log P(contrast), by five methods.

    * ``swap``: f(text) - f(text with the span taken from the counterfactual); exact re-run.
    * ``occlusion``: f(text) - f(text with every token of the span replaced by ``<unk>``); exact re-run.
    * ``ig``: integrated gradients from an all-``<unk>`` sentence, summed over the span's tokens.
    * ``gradxinput``: gradient x embedding, summed over the span's tokens.
    * ``grad``: ||d f / d e_span||_2, the norm of the gradient with respect to all the span's
      embeddings together (sqrt of the sum of the tokens' squared norms); never negative.

    Returns:
        One row per (span, method): {"span", "start", "end", "method", "value"}; values in nats
        (``grad``: nats per unit of embedding).

    Example:
        >>> rows = span_attribution(model, tokenizer, build_pair(tokenizer, SEED))
        >>> {(r["span"], r["method"]): r["value"] for r in rows}[("Mr.", "swap")]
    """
    spans = lesson_spans(pair)
    exact_rows = [list(pair.ids)]
    for _, (start, end) in spans:
        exact_rows.append(_swapped(pair, range(start, end), pair.counterfactual_ids))
        exact_rows.append(_swapped(pair, range(start, end), tokenizer.unk_id))
    exact = _contrasts(model, tokenizer, pair, exact_rows)
    # Gradient methods on the text up to the prediction: row t of the matrix is the prediction of word t + 1.
    ids = torch.tensor(
        [[tokenizer.eos_id, *pair.ids[: pair.target_position]]], dtype=torch.long, device=model_device(model)
    )
    if pair.target_position == 0:
        raise ValueError("The predicted word is the first word: no earlier word can carry a cue.")
    spec = TargetSpec.from_words(pair.target, pair.contrast)
    word_ids = ids[0, 1:]

    def resolver(log_probs: torch.Tensor):
        return resolve_targets(spec, tokenizer, word_ids, log_probs)

    rows_of: dict[str, torch.Tensor] = {}
    with analysis_mode(model):
        for method in ("ig", "gradxinput", "grad"):
            result = word_influence(model, ids, resolver, method, unk_id=tokenizer.unk_id, steps=steps)
            rows_of[method] = result.matrix[-1].double()  # [P] the prediction of word target_position
    rows = []
    for index, (label, (start, end)) in enumerate(spans):
        values = {
            "swap": exact[0] - exact[1 + 2 * index],
            "occlusion": exact[0] - exact[2 + 2 * index],
            "ig": float(rows_of["ig"][start:end].sum()),
            "gradxinput": float(rows_of["gradxinput"][start:end].sum()),
            "grad": float(rows_of["grad"][start:end].pow(2).sum().sqrt()),
        }
        rows += [
            {"span": label, "start": start, "end": end, "method": method, "value": values[method]}
            for method in SPAN_METHODS
        ]
    return rows


def cell_story(
    model: LanguageModel, tokenizer: WordTokenizer, pair: LessonPair, units: Sequence[int], layer: int = -1
) -> dict:
    """An LSTM's gates and cell for a few units at every word up to the prediction, on both sentences.

    Args:
        units: the unit indices to follow (e.g. the ones that carry the cue).
        layer: which layer, negative from the top.

    Returns:
        {"tokens": words 0 .. target_position - 1, "units": [...], and for the factual text
        "forget_gate", "input_gate", "output_gate", "candidate", "cell", "hidden": [P][k] (after each
        word), "cell_before": [P][k] (the cell entering each word: 0 before the first word reads
        the <eos> start's cell), and "counterfactual_cell": [P][k]}.

    Raises:
        ValueError: a model that is not an LSTM, or a unit out of range.
    """
    if model.config.arch != "lstm":
        raise ValueError(f"The conveyor belt is the LSTM's cell state; got a {model.config.arch} model. Pick an LSTM.")
    hidden_size = model.config.hidden_size
    if not units or any(not 0 <= int(u) < hidden_size for u in units):
        raise ValueError(f"units must be indices in [0, {hidden_size - 1}]; got {list(units)}.")
    chosen = [int(u) for u in units]
    position = pair.target_position
    runs = []
    for ids in (pair.ids, pair.counterfactual_ids):
        inputs = torch.tensor(
            [[tokenizer.eos_id, *ids[:position]]], dtype=torch.long, device=model_device(model)
        )  # [1, P + 1]
        with analysis_mode(model):
            runs.append(compute_traces(model, inputs).layers[layer])  # name -> [P + 1, H]
    factual, counterfactual = runs
    story: dict = {"tokens": list(pair.tokens[:position]), "units": chosen}
    for name in ("forget_gate", "input_gate", "output_gate", "candidate", "cell", "hidden"):
        story[name] = factual[name][1:, chosen].double().tolist()  # [P, k]
    story["cell_before"] = factual["cell"][:-1, chosen].double().tolist()  # [P, k]: the cell each word starts from
    story["counterfactual_cell"] = counterfactual["cell"][1:, chosen].double().tolist()
    return story


def cell_difference_units(
    model: LanguageModel, tokenizer: WordTokenizer, pair: LessonPair, top: int = 4, layer: int = -1
) -> list[dict]:
    """The LSTM units whose cell differs most between the two sentences when the prediction is made.

    |c_text - c_counterfactual| after the word before the target, from :func:`compute_traces`; the
    units that still hold the swapped cue at that point.

    Returns:
        Up to ``top`` rows {"unit", "effect": signed c_text - c_counterfactual}, largest |effect| first.
    """
    if model.config.arch != "lstm":
        raise ValueError(f"Cell units belong to an LSTM; got a {model.config.arch} model.")
    position = pair.target_position
    cells = []
    for ids in (pair.ids, pair.counterfactual_ids):
        inputs = torch.tensor([[tokenizer.eos_id, *ids[:position]]], dtype=torch.long, device=model_device(model))
        with analysis_mode(model):
            cells.append(compute_traces(model, inputs).layers[layer]["cell"][-1].double())  # [H]
    difference = cells[0] - cells[1]  # [H]
    order = torch.argsort(difference.abs(), descending=True, stable=True)[: max(1, top)].tolist()
    return [{"unit": int(unit), "effect": float(difference[unit])} for unit in order]


def safe_fillers(fillers: Sequence[str], forbidden: Sequence[str]) -> tuple[str, ...]:
    """The filler clauses that contain none of the ``forbidden`` words (whole words, case kept)."""
    banned = set(forbidden)
    return tuple(filler for filler in fillers if not banned.intersection(filler.replace(",", " ").split()))


def swap_ladder(model: LanguageModel, tokenizer: WordTokenizer, pair: LessonPair, rungs: int = 8) -> dict:
    """The distance ladder run on both sentences of the pair: how the cue's effect fades with distance.

    Neutral filler clauses go in right after the cue (:mod:`model.analysis.memory.ladder`), the same ones in
    both sentences, so at every rung the two differ only in the cue. The effect at a rung is
    f(text) - f(counterfactual), the name-swap effect of the README: the model's own lexical
    preference cancels, what is left is what it remembers of the cue.

    Returns:
        {"distances": tokens between the cue and the predicted word per rung, "factual" /
        "counterfactual": f per rung, "effect": their difference, "influence": ||d f / d e_source||
        on the factual ladder, "source": the cue word the fillers follow, "fillers": how many}.

    Raises:
        ValueError: the target is not a word of the sentence (the ladder needs it there), or too
            few neutral fillers for these words.
    """

    if pair.target_position >= len(pair.tokens):
        raise ValueError(
            f"The distance ladder needs the target {pair.target!r} inside the sentence, after the cue; "
            "here it is the word after the text. Type a sentence that contains it."
        )
    end = pair.cue_span[1] - 1
    while end > pair.cue_span[0] and not pair.tokens[end][:1].isalnum():
        end -= 1  # fillers go after the cue's last word, not after a closing full stop
    results = []
    for tokens, text in ((pair.tokens, pair.text), (pair.counterfactual_tokens, pair.counterfactual)):
        source = tokens[end]
        fillers = safe_fillers(DEFAULT_FILLERS, [source, pair.target, pair.contrast])
        if len(fillers) < 2:
            raise ValueError(f"Too few neutral filler clauses avoid {source!r}, {pair.target!r} and {pair.contrast!r}.")
        spec = LadderSpec(
            sentence=text,
            source_word=source,
            target_word=pair.target,
            contrast_word=pair.contrast,
            fillers=fillers,
            rungs=min(rungs, len(fillers) + 1),
            insert_after=end,
            target_position=pair.target_position,
        )
        with analysis_mode(model):
            results.append(run_ladder(model, tokenizer, spec, occlusion=False))
    factual, counterfactual = results
    if factual.distances != counterfactual.distances:
        raise ValueError("The two sentences tokenise the fillers differently; their ladders cannot be compared.")
    effect = [a - b for a, b in zip(factual.contrast, counterfactual.contrast)]
    return {
        "distances": factual.distances,
        "factual": factual.contrast,
        "counterfactual": counterfactual.contrast,
        "effect": effect,
        "influence": factual.influence,
        "source": pair.tokens[end],
        "fillers": len(factual.rungs) - 1,
    }


def swap_span(distances: Sequence[float], effect: Sequence[float], cue: str, target: str) -> dict:
    """The memory span of a swap ladder (:func:`model.analysis.memory.span.memory_span` on the swap effect).

    "none measurable" when the effect at the shortest rung is below :data:`CLEAR_EFFECT_NATS`.

    Returns:
        MemorySpan.to_json(): value (words or None), beyond, display, definition, measurable, threshold, ...

    Example:
        >>> swap_span([6, 17, 27], [1.6, 1.1, 0.7], "Mr. Robert", "his")["display"]
        '24.5 words'
    """

    return memory_span(
        distances,
        effect,
        quantity="swap effect",
        described_as="the swap effect f(text) - f(counterfactual)",
        source=repr(cue),
        target=repr(target),
        threshold=CLEAR_EFFECT_NATS,
    ).to_json()
