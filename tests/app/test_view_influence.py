"""Memory and influence view: coloured text, all-pairs matrix, source curve and counterfactual."""
from __future__ import annotations

import math
import os

import torch

from app_helpers import captions, SEED, assert_every_chart_captioned, chart_titled, exception_free, html_blocks, open_app
from model.analysis.inputs import prepare_input
from model.checkpoint import load_checkpoint


def test_default_target_is_his_with_the_contrast(app_models):
    at = exception_free(open_app("Memory and influence"))
    assert assert_every_chart_captioned(at) == 5
    assert at.selectbox(key="influence_target").value == 9  # "his" is word 10 (0-based 9)
    blocks = html_blocks(at)
    assert len(blocks) >= 3 and all(block.count("<span") == 16 for block in blocks[-3:])
    matrix = chart_titled(at, "tiny-lstm: all pairs")["data"]
    # Nothing above the diagonal: a prediction never sees later words.
    words = matrix["word"].str.split(" ").str[0].astype(int)
    predicted = matrix["prediction"].str.extract(r"→ (\d+)")[0].fillna("17").astype(int)
    assert (words < predicted).all()
    assert (matrix["influence"] >= 0).all()  # grad is a norm
    source = chart_titled(at, "Influence of “Robert” on every later prediction")["data"]
    assert set(source["model"]) == {"tiny-rnn", "tiny-lstm", "tiny-gru"}
    assert "log P('his') - log P('her')" in captions(at)


def test_counterfactual_matches_the_model(app_models):
    at = exception_free(open_app("Memory and influence"))
    bars = chart_titled(at, "Predicting word 10")["data"]
    checkpoint = load_checkpoint(os.path.join(app_models, "tiny-gru"))
    for sentence, text in (("with “Robert”", SEED), ("with “Mary”", SEED.replace("Robert", "Mary"))):
        prepared = prepare_input(checkpoint.tokenizer, text)
        with torch.no_grad():
            probs = torch.softmax(checkpoint.model(prepared.ids)[0][0, 9], dim=-1)  # prediction of word 10
        shown = bars[(bars["model"] == "tiny-gru") & (bars["sentence"] == sentence) & (bars["word"] == "P(his)")]
        assert math.isclose(float(shown["probability"].iloc[0]), float(probs[checkpoint.tokenizer.token_to_id("his")]), rel_tol=1e-4)


def test_signed_methods_and_other_targets(app_models):
    at = open_app("Memory and influence", influence_method="occlusion", influence_kind="next_word")
    exception_free(at)
    matrix = chart_titled(at, "tiny-rnn: all pairs")["data"]
    assert (matrix["influence"] < 0).any() or (matrix["influence"] > 0).any()
    assert "log P(next word)" in captions(at)


def test_unknown_chosen_word_is_a_clear_message(app_models):
    at = open_app("Memory and influence", influence_kind="word", influence_word="zeppelin")
    assert not at.exception
    errors = " ".join(e.value for e in at.error)
    assert "not in the model's vocabulary" in errors and "could not be drawn" not in errors
