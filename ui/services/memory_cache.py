"""Cached calls for the "Where the memory lives" view: the transplant report per sentence pair, the suite on demand.

Keyed like ui/services/analysis_cache.py by (checkpoint path, file signature, inputs), so a pair is analysed
once per process and a retrained model afresh. The work is done by model.analysis.memory.transplant_report
and model.analysis.memory.suite; results are their plain JSON dicts.
"""

from __future__ import annotations

from typing import Any

import streamlit as st

from model.analysis.memory.suite import suite_memory_units
from model.analysis.memory.transplant_report import default_counterfactual, default_target, transplant_report
from ui.services.model_store import Signature, checkpoint_at
from ui.settings import MAX_WORDS

# The suite's random baseline: the README's figures use the same number of draws.
SUITE_DRAWS = 10


@st.cache_data(show_spinner=False, max_entries=64)
def transplant(
    path: str, signature: Signature, text: str, counterfactual: str, target_word: str, contrast_word: str
) -> dict[str, Any]:
    """:func:`model.analysis.memory.transplant_report.transplant_report` of one model on one pair (the default cue span)."""
    checkpoint = checkpoint_at(path, signature)
    return transplant_report(
        checkpoint.model,
        checkpoint.tokenizer,
        text,
        counterfactual=counterfactual,
        target_word=target_word,
        contrast_word=contrast_word,
        max_words=MAX_WORDS,
    )


@st.cache_data(show_spinner=False, max_entries=64)
def defaults(path: str, signature: Signature, text: str) -> dict[str, Any]:
    """The view's starting pair: {counterfactual, span} from data/cue_swap's swap and {index, target, contrast}, each None if absent."""
    tokenizer = checkpoint_at(path, signature).tokenizer
    swapped = default_counterfactual(tokenizer, text, MAX_WORDS)
    target = default_target(tokenizer, text, MAX_WORDS)
    return {
        "counterfactual": None if swapped is None else swapped[0],
        "span": None if swapped is None else list(swapped[1]),
        "index": None if target is None else target[0],
        "target": None if target is None else target[1],
        "contrast": None if target is None else target[2],
    }


@st.cache_data(show_spinner=False, max_entries=12)
def suite(path: str, signature: Signature, templates_per_bucket: int) -> dict[str, Any]:
    """:func:`model.analysis.memory.suite.suite_memory_units` of one model (seed 0, ablated on seed 1)."""
    checkpoint = checkpoint_at(path, signature)
    return suite_memory_units(
        checkpoint.model, checkpoint.tokenizer, templates_per_bucket=templates_per_bucket, draws=SUITE_DRAWS
    )
