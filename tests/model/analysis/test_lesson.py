"""The lecture's numbers: the sentence pair, the cue swap, span attribution, the belt and the swap ladder."""

from __future__ import annotations

import math

import pytest
import torch
from torch.nn import functional

from model.analysis.influence.methods import word_influence
from model.analysis.lesson import (
    SPAN_METHODS,
    cell_difference_units,
    cell_story,
    cue_swap,
    expectations,
    lesson_spans,
    prediction_log_probs,
    safe_fillers,
    span_attribution,
    swap_ladder,
    swap_span,
)
from model.analysis.lesson_pair import build_pair, counterfactual_text, cue_parts
from model.analysis.memory.traces import compute_traces
from model.analysis.targets import TargetSpec, resolve_targets
from model.core.checkpoint import load_checkpoint

SEED = "Mr. Robert is going on a vacation with his wife to Hawaii next month."
TINY = "Mr. John said that the road was long , so his friend came to tea ."


@pytest.fixture(scope="module")
def lstm(tiny_checkpoints):
    return load_checkpoint(tiny_checkpoints["lstm"])


@pytest.fixture(scope="module")
def rnn(tiny_checkpoints):
    return load_checkpoint(tiny_checkpoints["rnn"])


def full_contrast(checkpoint, ids: list[int], position: int, good: str, bad: str) -> float:
    """f read from an ordinary forward pass over the whole text (the reference for the prefix runs)."""
    tokenizer = checkpoint.tokenizer
    with torch.no_grad():
        logits, _ = checkpoint.model(torch.tensor([[tokenizer.eos_id, *ids]]))  # [1, T + 1, V]
    row = functional.log_softmax(logits[0, position], dim=-1)  # predicts word `position`
    return float(row[tokenizer.token_to_id(good)] - row[tokenizer.token_to_id(bad)])


def test_the_seed_pair_swaps_title_and_name_and_reads_his_after_with(lstm):
    pair = build_pair(lstm.tokenizer, SEED)
    assert pair.counterfactual == "Mrs. Mary is going on a vacation with his wife to Hawaii next month."
    assert pair.cue_span == (0, 3) and pair.differing == (0, 2)
    assert pair.parts == (("Mr.", (0, 1)), ("Robert", (2, 3)))
    assert (pair.target_position, pair.target, pair.contrast) == (9, "his", "her")
    assert pair.context_word == "with" and pair.distance == 6
    assert pair.cue_text == "Mr. Robert" and pair.replacement_text == "Mrs. Mary"
    assert pair.counterfactual_label("Mr.", (0, 1)) == "Mrs."


def test_typed_pairs_targets_and_contrasts(lstm):
    tokenizer = lstm.tokenizer
    her = build_pair(tokenizer, "Mrs. Mary said that the road was long , so her friend came to tea .")
    assert her.counterfactual.startswith("Mr. ") and (her.target, her.contrast) == ("her", "his")
    # Any same-length counterfactual; the target read after the text when it is not in it.
    pair = build_pair(tokenizer, "the road was long", counterfactual="the tea was long", target="cold", contrast="fine")
    assert pair.cue_span == (1, 2) and pair.parts == (("road", (1, 2)),)
    assert pair.target_position == 4  # the word after the text
    assert cue_parts(["(", "Mr", ".", ")"], (0, 1)) == (("(", (0, 1)),)


@pytest.mark.parametrize(
    "text, counterfactual, target, contrast, message",
    [
        ("the road was long", None, None, None, "no title-and-name cue"),
        (TINY, "Mrs. Mary Anne said that", None, None, "same number of tokens"),
        (TINY, TINY, None, None, "same sentence"),
        ("Mr. John said that the road was long", None, None, None, "No gendered pronoun"),
        (TINY, None, "zebra", "her", "not in the model's vocabulary"),
        (TINY, None, "tea", None, "no default contrast"),
        (TINY, None, "his", "his", "must differ"),
    ],
)
def test_bad_pairs_say_what_to_type(lstm, text, counterfactual, target, contrast, message):
    with pytest.raises(ValueError, match=message):
        build_pair(lstm.tokenizer, text, counterfactual, target, contrast)


def test_expectations_are_the_models_own_probabilities(lstm):
    pair = build_pair(lstm.tokenizer, TINY)
    result = expectations(lstm.model, lstm.tokenizer, pair, top_k=5)
    log_probs = compute_traces(lstm.model, torch.tensor([[lstm.tokenizer.eos_id, *pair.ids]])).log_probs[
        pair.target_position
    ]
    his, her = lstm.tokenizer.token_to_id("his"), lstm.tokenizer.token_to_id("her")
    assert result["target"]["probability"] == pytest.approx(math.exp(float(log_probs[his])), rel=1e-4)
    assert result["contrast"]["rank"] == int((log_probs > log_probs[her]).sum()) + 1
    assert [row["probability"] for row in result["top"]] == sorted(
        (row["probability"] for row in result["top"]), reverse=True
    )
    assert result["top"][0]["word"] == lstm.tokenizer.id_to_token(int(log_probs.argmax()))
    assert result["contrast_value"] == pytest.approx(float(log_probs[his] - log_probs[her]), abs=1e-4)
    with pytest.raises(ValueError, match="top_k"):
        expectations(lstm.model, lstm.tokenizer, pair, top_k=0)
    with pytest.raises(ValueError, match="at least"):
        prediction_log_probs(lstm.model, lstm.tokenizer.eos_id, [[1, 2]], 5)


def test_cue_swap_matches_full_forward_passes(lstm):
    pair = build_pair(lstm.tokenizer, TINY)
    result = cue_swap(lstm.model, lstm.tokenizer, pair)
    before = full_contrast(lstm, list(pair.ids), pair.target_position, "his", "her")
    after = full_contrast(lstm, list(pair.counterfactual_ids), pair.target_position, "his", "her")
    assert result["before"] == pytest.approx(before, abs=1e-4) and result["after"] == pytest.approx(after, abs=1e-4)
    assert result["shift"] == pytest.approx(after - before, abs=1e-6)
    title = list(pair.ids)
    title[0] = pair.counterfactual_ids[0]
    assert [part["label"] for part in result["parts"]] == ["Mr.", "John"]
    assert result["parts"][0]["replacement"] == "Mrs."
    assert result["parts"][0]["value"] == pytest.approx(
        full_contrast(lstm, title, pair.target_position, "his", "her"), abs=1e-4
    )
    assert result["parts"][0]["effect"] == pytest.approx(result["before"] - result["parts"][0]["value"])
    # The tiny models learnt the pattern: the swap moves every one of them towards "her".
    assert result["shift"] < 0


def test_span_attribution_methods(lstm):
    tokenizer = lstm.tokenizer
    pair = build_pair(tokenizer, TINY)
    rows = span_attribution(lstm.model, tokenizer, pair, steps=16)
    value = {(row["span"], row["method"]): row["value"] for row in rows}
    assert [label for label, _ in lesson_spans(pair)] == ["Mr.", "John", "Mr. John"]
    assert {row["method"] for row in rows} == set(SPAN_METHODS) and len(rows) == 3 * len(SPAN_METHODS)
    swap = cue_swap(lstm.model, tokenizer, pair)
    assert value[("Mr. John", "swap")] == pytest.approx(-swap["shift"], abs=1e-4)
    assert value[("Mr.", "swap")] == pytest.approx(swap["parts"][0]["effect"], abs=1e-4)
    hidden = list(pair.ids)
    hidden[2] = tokenizer.unk_id
    occluded = full_contrast(lstm, hidden, pair.target_position, "his", "her")
    assert value[("John", "occlusion")] == pytest.approx(swap["before"] - occluded, abs=1e-4)
    ids = torch.tensor([[tokenizer.eos_id, *pair.ids[: pair.target_position]]])
    spec = TargetSpec.from_words("his", "her")
    grad = word_influence(
        lstm.model, ids, lambda lp: resolve_targets(spec, tokenizer, ids[0, 1:], lp), "grad", unk_id=tokenizer.unk_id
    )
    row = grad.matrix[-1].double()
    assert value[("John", "grad")] == pytest.approx(float(row[2]), rel=1e-5)
    # The whole cue's gradient size is the norm over all its tokens, the full stop included.
    assert value[("Mr. John", "grad")] == pytest.approx(float(row[0:3].pow(2).sum().sqrt()), rel=1e-5)
    assert all(value[(span, "grad")] >= 0 for span in ("Mr.", "John", "Mr. John"))
    gxi = word_influence(
        lstm.model,
        ids,
        lambda lp: resolve_targets(spec, tokenizer, ids[0, 1:], lp),
        "gradxinput",
        unk_id=tokenizer.unk_id,
    )
    assert value[("Mr. John", "gradxinput")] == pytest.approx(
        float(gxi.matrix[-1, 0:3].double().sum()), rel=1e-4, abs=1e-6
    )


def test_cell_story_follows_the_lstm_equations(lstm, rnn):
    tokenizer = lstm.tokenizer
    pair = build_pair(tokenizer, TINY)
    units = [0, 5, 7]
    story = cell_story(lstm.model, tokenizer, pair, units)
    count = pair.target_position
    assert story["tokens"] == list(pair.tokens[:count]) and story["units"] == units
    for name in ("forget_gate", "input_gate", "output_gate", "candidate", "cell", "cell_before", "counterfactual_cell"):
        assert len(story[name]) == count and all(len(row) == len(units) for row in story[name])
    f, i, g = (torch.tensor(story[name]) for name in ("forget_gate", "input_gate", "candidate"))
    c, before = torch.tensor(story["cell"]), torch.tensor(story["cell_before"])
    assert torch.allclose(c, f * before + i * g, atol=1e-5)  # the conveyor belt's one equation
    assert torch.allclose(before[1:], c[:-1])
    assert story["counterfactual_cell"] != story["cell"]
    with pytest.raises(ValueError, match="LSTM"):
        cell_story(rnn.model, tokenizer, pair, units)
    with pytest.raises(ValueError, match="units must be"):
        cell_story(lstm.model, tokenizer, pair, [10_000])


def test_cell_difference_units_rank_by_the_swapped_cell(lstm):
    tokenizer = lstm.tokenizer
    pair = build_pair(tokenizer, TINY)
    ranked = cell_difference_units(lstm.model, tokenizer, pair, top=5)
    story = cell_story(lstm.model, tokenizer, pair, [row["unit"] for row in ranked])
    for index, row in enumerate(ranked):
        assert row["effect"] == pytest.approx(
            story["cell"][-1][index] - story["counterfactual_cell"][-1][index], abs=1e-5
        )
    sizes = [abs(row["effect"]) for row in ranked]
    assert sizes == sorted(sizes, reverse=True) and len(ranked) == 5


def test_swap_ladder_effect_is_factual_minus_counterfactual(lstm):
    tokenizer = lstm.tokenizer
    pair = build_pair(tokenizer, TINY)
    ladder = swap_ladder(lstm.model, tokenizer, pair, rungs=4)
    assert len(ladder["distances"]) == 4 and ladder["source"] == "John"
    assert all(b > a for a, b in zip(ladder["distances"], ladder["distances"][1:]))
    assert ladder["distances"][0] == pair.distance
    assert ladder["effect"] == pytest.approx([a - b for a, b in zip(ladder["factual"], ladder["counterfactual"])])
    swap = cue_swap(lstm.model, tokenizer, pair)
    assert ladder["factual"][0] == pytest.approx(swap["before"], abs=1e-4)
    assert ladder["counterfactual"][0] == pytest.approx(swap["after"], abs=1e-4)
    after_text = build_pair(tokenizer, "Mr. John said that", target="his", contrast="her")
    with pytest.raises(ValueError, match="inside the sentence"):
        swap_ladder(lstm.model, tokenizer, after_text)


def test_safe_fillers_drop_clauses_with_the_compared_words():
    fillers = ("after the dinner was over,", "as the rain kept falling,", "when his train had left,")
    assert safe_fillers(fillers, ["was", "his"]) == ("as the rain kept falling,",)


def test_swap_span_reads_half_of_a_clear_effect_only():
    assert swap_span([6, 17, 27], [1.6, 1.1, 0.7], "Mr. Robert", "his")["value"] == pytest.approx(24.5)
    growing = swap_span([6, 17, 27], [0.6, 1.1, 1.7], "Mr. Robert", "his")
    assert growing["value"] is None and growing["beyond"] and growing["display"] == "> 27 words"
    faint = swap_span([6, 17, 27], [0.3, 1.1, 0.7], "Mr. Robert", "his")
    assert not faint["measurable"] and faint["display"].startswith("none measurable")


def test_counterfactual_text_swaps_the_named_cue():
    assert (
        counterfactual_text("The letters that he wrote were sent.", "letters", "letter")
        == "The letter that he wrote were sent."
    )
    assert counterfactual_text('and said, " I am happy .', '"', "that") == "and said, that I am happy ."
    assert counterfactual_text(SEED, "Mr. Robert", "Mrs. Mary").startswith("Mrs. Mary is going")
    with pytest.raises(ValueError, match="does not occur"):
        counterfactual_text(SEED, "Lady Anne", "Sir John")
