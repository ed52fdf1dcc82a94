"""Which word each model prefers, read from the numbers, and the sentence that says so."""

from __future__ import annotations

import math

import pytest
import torch

from data.tokenizer import WordTokenizer
from model.analysis.preference import margin, summarize_preferences, word_scores


def test_word_scores_read_probability_and_rank():
    tokenizer = WordTokenizer.train(["his her wife was were"], min_frequency=1)
    log_probs = torch.full((tokenizer.vocab_size,), -10.0)
    log_probs[tokenizer.token_to_id("her")] = math.log(0.6)
    log_probs[tokenizer.token_to_id("his")] = math.log(0.3)
    log_probs = torch.log_softmax(log_probs, dim=-1)
    scores = word_scores(log_probs, tokenizer, ["his", "her", "Zanzibar"])
    assert scores["her"]["rank"] == 1 and scores["his"]["rank"] == 2 and scores["Zanzibar"] is None
    assert math.isclose(scores["his"]["prob"], math.exp(scores["his"]["log_prob"]), rel_tol=1e-6)
    assert math.isclose(margin(scores, "his", "her"), math.log(0.3 / 0.6), rel_tol=1e-5)
    assert margin(scores, "his", "Zanzibar") is None


def test_summary_says_who_prefers_what():
    everyone_wrong = summarize_preferences(
        {"novels-rnn": -2.07, "novels-lstm": -1.76, "novels-gru": -0.93}, "were", "was"
    )
    assert everyone_wrong.all_wrong and not everyone_wrong.all_right
    assert (
        everyone_wrong.sentence
        == "Every model prefers “was” to “were” here (novels-rnn −2.07, novels-lstm −1.76, novels-gru −0.93 nats)."
    )
    mixed = summarize_preferences({"rnn": -0.75, "lstm": 0.59, "gru": 2.36}, "his", "her")
    assert mixed.right == ("lstm", "gru") and mixed.wrong == ("rnn",)
    assert mixed.sentence.startswith("lstm and gru prefer “his”; rnn prefers “her”")
    single = summarize_preferences({"gru": 2.0, "rnn": None}, "his", "her")
    assert single.all_right and single.sentence == "gru prefers “his” to “her” here (gru +2.00 nats)."
    with pytest.raises(ValueError, match="No model has a margin"):
        summarize_preferences({"rnn": None}, "his", "her")


def test_swap_finding_names_who_flips():
    from model.analysis.preference import swap_finding

    # The table: Mr. Robert -> Mrs. Mary after "with".
    before = {"rnn": -0.75, "lstm": 0.59, "gru": 2.36}
    after = {"rnn": -1.35, "lstm": -1.07, "gru": -2.76}
    assert (
        swap_finding(before, after, "his", "her")
        == "The swap flips lstm and gru from “his” to “her”; rnn prefers “her” either way."
    )
    # Robert -> Mary alone keeps "Mr.": nothing flips.
    assert swap_finding({"lstm": 0.59, "gru": 2.36}, {"lstm": 0.14, "gru": 1.46}, "his", "her") == (
        "The swap flips no model; lstm and gru prefer “his” either way."
    )
    assert swap_finding({"a": -1.0, "b": None}, {"a": 0.5}, "his", "her") == "The swap flips a from “her” to “his”."
    with pytest.raises(ValueError, match="both sentences"):
        swap_finding({"a": None}, {"a": 1.0}, "his", "her")
