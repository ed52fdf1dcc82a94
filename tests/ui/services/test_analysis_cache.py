"""ui/services/analysis_cache.py: each cached analysis returns what the model function it wraps computes.

Run outside a Streamlit server (st.cache_data then keeps its entries in memory), on the tiny checkpoints.
"""

from __future__ import annotations

import math

import pytest
import torch

from model.analysis.influence.methods import word_influence
from model.analysis.inputs import prepare_input
from model.analysis.memory.traces import compute_traces
from model.analysis.memory.unit_influence import unit_influence
from model.analysis.predictions import prediction_table
from model.analysis.targets import TargetSpec, resolve_targets
from model.core.checkpoint import load_checkpoint
from ui.services import analysis_cache
from ui.services.model_store import folder_signature

TEXT = "Mr. John said that his friend came home"


@pytest.fixture
def lstm(tiny_checkpoints):
    path = tiny_checkpoints["lstm"]
    return path, folder_signature(path), load_checkpoint(path)


def test_next_word_is_the_prediction_table(lstm):
    path, signature, checkpoint = lstm
    result = analysis_cache.next_word(path, signature, TEXT, top_k=4)
    inputs = prepare_input(checkpoint.tokenizer, TEXT)
    table = prediction_table(
        compute_traces(checkpoint.model, inputs).log_probs, inputs.word_ids, checkpoint.tokenizer, 4
    )
    assert result["tokens"] == list(inputs.encoded.tokens) and result["top"] == table["top"]
    assert result["actual"] == table["actual"]


def test_influence_is_word_influence_with_none_above_the_diagonal(lstm):
    path, signature, checkpoint = lstm
    result = analysis_cache.influence(path, signature, TEXT, "grad", "contrast", "his", "her")
    inputs = prepare_input(checkpoint.tokenizer, TEXT)
    log_probs = compute_traces(checkpoint.model, inputs).log_probs[1:]
    targets = resolve_targets(TargetSpec("contrast", "his", "her"), checkpoint.tokenizer, inputs.word_ids, log_probs)
    expected = word_influence(checkpoint.model, inputs.ids, targets, "grad", unk_id=checkpoint.tokenizer.unk_id).matrix
    for row, expected_row in zip(result["matrix"], expected.tolist()):
        for value, wanted in zip(row, expected_row):
            assert (value is None) == math.isnan(wanted)
            assert value is None or value == pytest.approx(wanted, rel=1e-5, abs=1e-9)


def test_unit_influence_reads_the_state_after_the_word_before(lstm):
    path, signature, checkpoint = lstm
    scores = analysis_cache.unit_influence(path, signature, TEXT, 4, "his", "her")
    inputs = prepare_input(checkpoint.tokenizer, TEXT)
    hidden = compute_traces(checkpoint.model, inputs).layers[-1]["hidden"][4]  # row 4 has read words 0..3
    tokenizer = checkpoint.tokenizer
    expected = unit_influence(checkpoint.model, hidden, tokenizer.token_to_id("his"), tokenizer.token_to_id("her"))
    assert torch.allclose(torch.tensor(scores, dtype=torch.float64), expected.double(), atol=1e-7)


def test_clean_makes_json_of_tensors_and_non_finite_numbers():
    assert analysis_cache.clean({"a": torch.tensor([1.0, float("nan")]), 2: (float("inf"), 3)}) == {
        "a": [1.0, None],
        "2": [None, 3],
    }
