"""Counterfactual spans: the default cue, its gender swap, replacing by offsets and checking a pair."""

from __future__ import annotations

import pytest

from data.cue_swap import (
    align_pair,
    contrast_pair,
    default_cue_span,
    default_replacement,
    find_span,
    join_words,
    plan_for,
    replace_span,
    tokenize,
)
from data.tokenizer import WordTokenizer

SEED = "Mr. Robert is going on a vacation with his wife to Hawaii next month."


def test_the_seed_cue_is_title_and_name_and_swaps_to_mrs_mary():
    tokens = tokenize(SEED)
    assert tokens[:3] == ["Mr", ".", "Robert"]
    assert default_cue_span(tokens) == (0, 3)
    assert default_replacement(tokens, (0, 3)) == "Mrs. Mary"
    twin = tokenize("Mrs. Mary is going on a vacation with her husband.")
    assert default_replacement(twin, default_cue_span(twin)) == "Mr. Robert"


def test_other_cues():
    tokens = tokenize("Yesterday Lady Catherine wrote to the vicar.")
    assert default_cue_span(tokens) == (1, 3)
    assert default_replacement(tokens, (1, 3)) == "Sir Frank"  # the suite's pairs: Catherine <-> Frank
    tokens = tokenize("Then John came in.")
    assert default_cue_span(tokens) == (1, 2)
    assert default_replacement(tokens, (1, 2)) == "Mary"
    assert default_cue_span(tokenize("The letters were never sent.")) is None
    # An unknown name after a title becomes the lesson's name of the other gender.
    tokens = tokenize("Mr. Pumblechook sat down.")
    assert default_replacement(tokens, default_cue_span(tokens)) == "Mrs. Mary"


def test_replace_span_uses_the_tokenizer_offsets():
    tokenizer = WordTokenizer.train([SEED, "Mrs. Mary is here ."], min_frequency=1)
    encoded = tokenizer.encode("  Mr.  Robert is going.")
    new = replace_span("  Mr.  Robert is going.", encoded.offsets, (0, 3), "Mrs. Mary")
    assert new == "  Mrs. Mary is going."
    with pytest.raises(ValueError, match="0 <= start < end"):
        replace_span("a b", [(0, 1), (2, 3)], (1, 1), "x")


def test_align_pair_allows_differences_only_inside_spans():
    factual = tokenize(SEED)
    counterfactual = tokenize(SEED.replace("Mr. Robert", "Mrs. Mary"))
    pair = align_pair(factual, counterfactual, [(0, 3)])
    assert pair.differing == (0, 2) and pair.first_difference == 0 and pair.last_difference == 2
    with pytest.raises(ValueError, match="differ at token 9 \\('his' vs 'her'\\)"):
        align_pair(factual, tokenize(SEED.replace("Mr. Robert", "Mrs. Mary").replace("his", "her")), [(0, 3)])
    with pytest.raises(ValueError, match="same number of tokens; got 16 and 14"):
        align_pair(factual, tokenize(SEED.replace("Mr. Robert", "Mary")), [(0, 3)])
    assert align_pair(factual, factual).differing == ()


def test_contrast_pair_names_the_real_words():
    tokens = tokenize("Mrs. Mary said that she would bring her umbrella.")
    assert contrast_pair(tokens, after=3) == (5, "she", "he")
    assert contrast_pair(tokens, after=7) == (8, "her", "his")
    assert contrast_pair(tokenize(SEED)) == (9, "his", "her")
    assert contrast_pair(tokenize("No pronoun here.")) is None


def test_join_words():
    assert join_words(["Mrs", ".", "Mary", ",", "said", "(", "yes", ")"]) == "Mrs. Mary, said (yes)"


def test_find_span():
    tokens = tokenize('He said, " I am happy . "')
    assert find_span(tokens, ['"']) == (3, 4) and find_span(tokens, ['"'], start=4) == (8, 9)
    assert (
        find_span(tokens, ["am", "happy"]) == (5, 7)
        and find_span(tokens, ["sad"]) is None
        and find_span(tokens, []) is None
    )


def test_plan_for_defaults_and_given_choices():
    plan = plan_for(tokenize(SEED))
    assert (plan.target_index, plan.target, plan.contrast, plan.cue_span, plan.replacement) == (
        9,
        "his",
        "her",
        (0, 3),
        "Mrs. Mary",
    )
    assert plan.source_index == 2  # "Robert": the ladder's clauses go after the name
    she = plan_for(tokenize("Mrs. Mary said that she would come."))
    assert (she.target, she.contrast, she.replacement) == ("she", "he", "Mr. Robert")
    letters = tokenize("The letters that the captain wrote were never sent.")
    agreement = plan_for(letters, target="were", contrast="was", cue="letters", replacement="letter")
    assert (agreement.target_index, agreement.cue_span, agreement.source_index) == (6, (1, 2), 1)
    # The target after the cue: the closing quote is not in the text yet, so it is the prediction after it.
    quote = tokenize('He said, " I am happy .')
    closing = plan_for(quote, target='"', contrast="<eos>", cue='"', replacement="that")
    assert closing.target_index == len(quote) and closing.cue_span == (3, 4)
    plain = plan_for(tokenize("Then it rained ."))
    assert (plain.target_index, plain.target, plain.contrast, plain.cue_span) == (3, ".", None, None)
