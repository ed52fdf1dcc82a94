"""Memory and influence view: coloured text, all-pairs matrix, source curve and counterfactual."""

from __future__ import annotations

import math
import os

import pytest
import torch
from app_helpers import (
    SEED,
    assert_charts_drawn,
    captions,
    chart_titled,
    exception_free,
    html_blocks,
    open_app,
)

from model.analysis.inputs import prepare_input
from model.core.checkpoint import load_checkpoint

MODELS = ["tiny-rnn", "tiny-lstm", "tiny-gru"]  # the app_models fixture, in sidebar order


def test_default_target_is_his_with_the_contrast(app_models):
    at = exception_free(open_app("Memory and influence"))
    assert_charts_drawn(
        at,
        [
            "What each cue span does",
            *(f"{model}: all pairs" for model in MODELS),
            "Influence of “Robert” on every later prediction",
            "with each version of the cue",
        ],
    )
    assert at.selectbox(key="influence_target").value == 9  # "his" is word 10 (0-based 9)
    blocks = html_blocks(at)
    words = len(prepare_input(load_checkpoint(os.path.join(app_models, "tiny-lstm")).tokenizer, SEED).tokens)
    assert len(blocks) >= 3 and all(block.count("<span") == words for block in blocks[-3:])  # one span per word
    matrix = chart_titled(at, "tiny-lstm: all pairs")["data"]
    # Nothing above the diagonal: a prediction never sees later words.
    words = matrix["word"].str.split(" ").str[0].astype(int)
    predicted = matrix["prediction"].str.extract(r"→ (\d+)")[0].fillna("17").astype(int)
    assert (words < predicted).all()
    assert (matrix["influence"] >= 0).all()  # grad is a norm
    source = chart_titled(at, "Influence of “Robert” on every later prediction")["data"]
    assert set(source["model"]) == {"tiny-rnn", "tiny-lstm", "tiny-gru"}
    assert "log P('his') - log P('her')" in captions(at)


def _margin(checkpoint, text: str, position: int, good: str = "his", bad: str = "her") -> float:
    prepared = prepare_input(checkpoint.tokenizer, text)
    with torch.no_grad():
        log_probs = torch.log_softmax(
            checkpoint.model(prepared.ids)[0][0, position], dim=-1
        )  # the prediction of word position + 1
    return float(log_probs[checkpoint.tokenizer.token_to_id(good)] - log_probs[checkpoint.tokenizer.token_to_id(bad)])


@pytest.mark.slow
def test_counterfactual_swaps_the_whole_cue_and_each_part(app_models):
    at = exception_free(open_app("Memory and influence"))
    assert (
        at.text_input(key="swap_cue").value == "Mr. Robert"
        and at.text_input(key="swap_replacement").value == "Mrs. Mary"
    )
    bars = chart_titled(at, "log P(his) − log P(her) with each version of the cue")["data"].dropna(subset=["sentence"])
    checkpoint = load_checkpoint(os.path.join(app_models, "tiny-gru"))
    versions = {
        "Mr. Robert (as typed)": SEED,
        "Mrs. Mary": SEED.replace("Mr. Robert", "Mrs. Mary"),
        "Mrs. Robert (one part swapped)": SEED.replace("Mr.", "Mrs."),
        "Mr. Mary (one part swapped)": SEED.replace("Robert", "Mary"),
    }
    assert set(bars["sentence"]) == set(versions)
    for sentence, text in versions.items():
        shown = bars[(bars["model"] == "tiny-gru") & (bars["sentence"] == sentence)]
        assert math.isclose(float(shown["margin"].iloc[0]), _margin(checkpoint, text, 9), rel_tol=1e-4, abs_tol=1e-5), (
            sentence
        )
    # The finding under the heading is computed from the same numbers.
    assert any(m.value.startswith("**The swap ") for m in at.markdown)
    # Another cue, typed: one word for one word.
    at.text_input(key="swap_cue").set_value("Robert").run()
    at.text_input(key="swap_replacement").set_value("Mary").run()
    exception_free(at)
    bars = chart_titled(at, "log P(his) − log P(her) with each version of the cue")["data"].dropna(subset=["sentence"])
    assert set(bars["sentence"]) == {"Mr. Robert (as typed)", "Mr. Mary"}  # the cue as read, one part changed
    at.text_input(key="swap_replacement").set_value("Mary Anne").run()
    assert "same number of tokens" in " ".join(e.value for e in at.error)


def test_spans_are_summed_and_the_methods_compared(app_models):
    at = exception_free(open_app("Memory and influence"))
    spans = chart_titled(at, "What each cue span does to his over her")["data"]
    assert set(spans["span"]) == {"Mr.", "Robert", "Mr. Robert"}
    assert set(spans["method"]) == {"swap", "occlusion", "ig", "gradxinput", "grad"}
    checkpoint = load_checkpoint(os.path.join(app_models, "tiny-lstm"))
    swap = spans[(spans["model"] == "tiny-lstm") & (spans["span"] == "Mr. Robert") & (spans["method"] == "swap")][
        "value"
    ].iloc[0]
    expected = _margin(checkpoint, SEED, 9) - _margin(checkpoint, SEED.replace("Mr. Robert", "Mrs. Mary"), 9)
    assert math.isclose(swap, expected, rel_tol=1e-4, abs_tol=1e-5)
    shown = " ".join(m.value for m in at.markdown) + " ".join(w.value for w in at.warning)
    assert "never negative" in shown and ("The methods agree" in shown or "disagree with the gradient norm" in shown)


@pytest.mark.slow
def test_the_contrast_and_the_chosen_word_name_the_real_words(app_models):
    at = exception_free(open_app("Memory and influence", text="Mrs. Mary said that she would bring the tea ."))
    radio = at.radio(key="influence_kind")
    assert radio.format_func("contrast") == "she vs he (contrast)"
    assert at.selectbox(key="influence_target").value == 5 and at.text_input(key="influence_good").value == "she"
    radio.set_value("word").run()
    assert at.text_input(key="influence_word").value == "she"  # the target word itself, not the word before it
    at.selectbox(key="influence_target").set_value(9).run()
    assert at.text_input(key="influence_word").value == "tea"
    exception_free(at)


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
