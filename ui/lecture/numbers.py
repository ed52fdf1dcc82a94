"""Cached calls into model.analysis.lesson for the lecture: one function per figure, JSON-able results.

Each is keyed by (checkpoint path, file signature, the pair's texts and words), so a step drawn
twice, or by another session, is computed once. The pair is rebuilt inside each call from the
model's own tokenizer (:func:`model.analysis.lesson_pair.build_pair`, cheap), so nothing here
reads another view's state.
"""

from __future__ import annotations

from dataclasses import asdict
from typing import Any

import streamlit as st
import torch

from model.analysis.lesson import cell_story, cue_swap, span_attribution, swap_ladder
from model.analysis.lesson import expectations as compute
from model.analysis.lesson_pair import LessonPair, build_pair
from model.analysis.memory.exploding import exploding_curves
from model.analysis.memory.gradient_flow import hidden_gradient_flow
from model.analysis.memory.units import rank_units
from ui.services.analysis_cache import clean
from ui.services.model_store import Signature, checkpoint_at
from ui.settings import MAX_WORDS

CACHE = dict(show_spinner=False, max_entries=64)


def _pair(
    path: str, signature: Signature, text: str, counterfactual: str | None, target: str | None, contrast: str | None
) -> tuple[Any, LessonPair]:
    checkpoint = checkpoint_at(path, signature)
    return checkpoint, build_pair(checkpoint.tokenizer, text, counterfactual, target, contrast, max_words=MAX_WORDS)


@st.cache_data(**CACHE)
def pair(
    path: str, signature: Signature, text: str, counterfactual: str | None, target: str | None, contrast: str | None
) -> dict:
    """The checked pair as a dict (LessonPair fields plus cue_text, replacement_text, context_word, distance, vocab_size).

    Raises:
        ValueError: what is wrong with the sentence, counterfactual or words (build_pair's message).
    """
    checkpoint, checked = _pair(path, signature, text, counterfactual, target, contrast)
    return dict(
        asdict(checked),
        cue_text=checked.cue_text,
        replacement_text=checked.replacement_text,
        context_word=checked.context_word,
        distance=checked.distance,
        vocab_size=checkpoint.tokenizer.vocab_size,
    )


@st.cache_data(**CACHE)
def expectations(
    path: str,
    signature: Signature,
    text: str,
    counterfactual: str | None,
    target: str | None,
    contrast: str | None,
    top_k: int = 6,
) -> dict:
    """model.analysis.lesson.expectations on the factual sentence."""

    checkpoint, checked = _pair(path, signature, text, counterfactual, target, contrast)
    return clean(compute(checkpoint.model, checkpoint.tokenizer, checked, top_k=top_k))


@st.cache_data(**CACHE)
def swap(
    path: str, signature: Signature, text: str, counterfactual: str | None, target: str | None, contrast: str | None
) -> dict:
    """model.analysis.lesson.cue_swap: f before, after, and with each cue part swapped alone."""

    checkpoint, checked = _pair(path, signature, text, counterfactual, target, contrast)
    return clean(cue_swap(checkpoint.model, checkpoint.tokenizer, checked))


@st.cache_data(**CACHE)
def spans(
    path: str, signature: Signature, text: str, counterfactual: str | None, target: str | None, contrast: str | None
) -> list[dict]:
    """model.analysis.lesson.span_attribution: one row per (span, method)."""

    checkpoint, checked = _pair(path, signature, text, counterfactual, target, contrast)
    return clean(span_attribution(checkpoint.model, checkpoint.tokenizer, checked))


@st.cache_data(**CACHE)
def flow(
    path: str, signature: Signature, text: str, counterfactual: str | None, target: str | None, contrast: str | None
) -> dict:
    """hidden_gradient_flow of the top layer from the last word read before the target back to every word.

    Positions index the model inputs (0 = <eos>, word k = k + 1); distances count words back from
    the last word read.
    """

    checkpoint, checked = _pair(path, signature, text, counterfactual, target, contrast)
    ids = torch.tensor(
        [[checkpoint.tokenizer.eos_id, *checked.ids[: checked.target_position]]], dtype=torch.long
    )  # [1, P + 1]
    return clean(hidden_gradient_flow(checkpoint.model, ids))


@st.cache_data(**CACHE)
def ladder(
    path: str, signature: Signature, text: str, counterfactual: str | None, target: str | None, contrast: str | None
) -> dict:
    """model.analysis.lesson.swap_ladder with its memory span.

    Raises:
        ValueError: the ladder cannot be built for this pair (the message says why).
    """

    checkpoint, checked = _pair(path, signature, text, counterfactual, target, contrast)
    return clean(swap_ladder(checkpoint.model, checkpoint.tokenizer, checked))


@st.cache_data(**CACHE)
def exploding(
    path: str,
    signature: Signature,
    text: str,
    counterfactual: str | None,
    target: str | None,
    contrast: str | None,
    factor: float,
) -> dict:
    """model.analysis.memory.exploding.exploding_curves on the words read before the target (the scaled copy is discarded)."""

    checkpoint, checked = _pair(path, signature, text, counterfactual, target, contrast)
    ids = torch.tensor(
        [[checkpoint.tokenizer.eos_id, *checked.ids[: checked.target_position]]], dtype=torch.long
    )  # [1, P + 1]
    return clean(exploding_curves(checkpoint.model, ids, factor))


@st.cache_data(**CACHE)
def belt(
    path: str,
    signature: Signature,
    text: str,
    counterfactual: str | None,
    target: str | None,
    contrast: str | None,
    count: int = 3,
) -> dict:
    """The LSTM units that carry the cue (model.analysis.memory.units.rank_units, cell units first) and
    their gates and cell at every word (model.analysis.lesson.cell_story).

    Returns:
        cell_story's dict plus "ranked": [{"unit", "layer", "part", "effect"}] for the units followed.
    """

    checkpoint, checked = _pair(path, signature, text, counterfactual, target, contrast)
    tokenizer = checkpoint.tokenizer
    factual = torch.tensor([tokenizer.eos_id, *checked.ids], dtype=torch.long)  # [T + 1]
    swapped = torch.tensor([tokenizer.eos_id, *checked.counterfactual_ids], dtype=torch.long)  # [T + 1]
    ranked = rank_units(
        checkpoint.model,
        factual,
        swapped,
        checked.target_position - 1,
        tokenizer.token_to_id(checked.target),
        tokenizer.token_to_id(checked.contrast),
        top=24,
    )
    top_layer = checkpoint.model.config.num_layers - 1
    cells = [unit for unit in ranked if unit.part == "c" and unit.layer == top_layer][:count]
    if not cells:
        raise ValueError("No cell unit of the top layer carries this cue; try another sentence or counterfactual.")
    story = cell_story(checkpoint.model, tokenizer, checked, [unit.unit for unit in cells])
    return clean(dict(story, ranked=[unit.to_json() for unit in cells]))
