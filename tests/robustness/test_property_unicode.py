"""Any Unicode text goes through tokenizer -> model -> every analysis without crashing.

Hypothesis draws texts mixing known words with arbitrary characters (surrogates
excluded: a Python str holding one cannot be encoded to UTF-8, so no user can
type it) plus the troublemakers named explicitly: emoji and ZWJ sequences,
right-to-left scripts and direction overrides, zero-width characters, control
characters. The only error allowed is the documented EmptyTextError for a text
without tokens; every report must be strict JSON whose offsets point back at
the typed characters.
"""

from __future__ import annotations

import json

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from model.analysis.influence.methods import METHODS
from model.analysis.inputs import EmptyTextError
from model.analysis.report import analyze_text
from model.core.checkpoint import load_checkpoint

TROUBLEMAKERS = [
    "\U0001f642",
    "\U0001f468\u200d\U0001f469\u200d\U0001f467",
    "\U0001f1eb\U0001f1f7",  # emoji, ZWJ family, flag
    "\u05e9\u05dc\u05d5\u05dd",
    "\u0645\u0631\u062d\u0628\u0627",
    "\u202e",
    "\u202c",
    "\u200f",  # Hebrew, Arabic, RLO, PDF, RLM
    "\u200b",
    "\u200c",
    "\u200d",
    "\ufeff",
    "\u00ad",  # zero-width space/non-joiner/joiner, BOM, soft hyphen
    "\x00",
    "\x07",
    "\x1b",
    "\x7f",
    "\r",
    "\t",
    "\x0b",
    "\x85",
    "\u2028",  # control characters and odd line breaks
    "e\u0301",
    "\ufb01",
    "\u0130",  # combining accent, ligature, dotted capital I
]
KNOWN_WORDS = ["Mr.", "Robert", "said", "so", "his", "her", "friend", "came", "to", "tea", ".", ","]
PIECES = st.one_of(
    st.sampled_from(KNOWN_WORDS),
    st.sampled_from(TROUBLEMAKERS),
    st.text(alphabet=st.characters(exclude_categories=["Cs"]), max_size=6),
)
TEXTS = st.lists(PIECES, max_size=8).flatmap(
    lambda pieces: st.lists(st.sampled_from(["", " ", "\n", "  "]), min_size=len(pieces), max_size=len(pieces)).map(
        lambda separators: "".join(piece + separator for piece, separator in zip(pieces, separators))
    )
)


@pytest.fixture(scope="module")
def checkpoints(tiny_checkpoints):
    return {arch: load_checkpoint(path) for arch, path in tiny_checkpoints.items()}


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(text=TEXTS, arch=st.sampled_from(["rnn", "lstm", "gru"]), contrast=st.booleans())
def test_any_text_survives_every_analysis(checkpoints, text, arch, contrast):
    checkpoint = checkpoints[arch]
    target = {"target_word": "his", "contrast_word": "her"} if contrast else {}
    has_tokens = len(checkpoint.tokenizer.encode(text)) > 0
    for method in METHODS:
        if not has_tokens:
            with pytest.raises(EmptyTextError):
                analyze_text(checkpoint.model, checkpoint.tokenizer, text, method=method, **target)
            continue
        report = analyze_text(
            checkpoint.model,
            checkpoint.tokenizer,
            text,
            method=method,
            ig_steps=4,
            gradient_flow_probes=4,
            with_occlusion=method == "grad",
            **target,
        )
        json.dumps(report, allow_nan=False)  # strict JSON: no NaN, no infinity, only plain types
        assert report["num_words"] == len(report["tokens"]) == len(report["predictions"]) > 0
        for token, (start, end) in zip(report["tokens"], report["offsets"]):
            assert report["text"][start:end] == token
        matrix = report["influence"]["matrix"]
        assert len(matrix) == report["num_words"] and all(value is not None for value in matrix[-1])
    assert not checkpoint.model.training  # the shared model was never put in train mode
