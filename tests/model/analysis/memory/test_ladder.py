"""The distance ladder and the memory span read off it."""

from __future__ import annotations

import math
import re

import pytest
import torch
from torch.nn import functional

from model.analysis.influence.methods import gradient_influence
from model.analysis.inputs import prepare_input
from model.analysis.memory.ladder import DEFAULT_FILLERS, DEFAULT_SENTENCE, LadderSpec, build_ladder, run_ladder
from model.analysis.memory.span import CLEAR_CONTRAST_NATS, half_crossing, memory_span
from model.analysis.targets import TargetSpec, resolve_targets
from model.core.checkpoint import load_checkpoint

GENDERED = {
    "he",
    "she",
    "his",
    "her",
    "hers",
    "him",
    "himself",
    "herself",
    "mr",
    "mrs",
    "miss",
    "ms",
    "sir",
    "madam",
    "lady",
    "gentleman",
    "man",
    "woman",
    "men",
    "women",
    "boy",
    "girl",
    "husband",
    "wife",
    "son",
    "daughter",
    "mother",
    "father",
    "brother",
    "sister",
    "king",
    "queen",
    "uncle",
    "aunt",
    "nephew",
    "niece",
}


def test_default_fillers_are_gender_neutral_and_plentiful():
    assert len(DEFAULT_FILLERS) >= 12
    for filler in DEFAULT_FILLERS:
        words = set(re.findall(r"\w+", filler.lower()))
        assert not words & GENDERED, filler
        assert filler.endswith(",")


def test_rungs_insert_fillers_after_the_source_and_distances_increase(tiny_checkpoints):
    tokenizer = load_checkpoint(tiny_checkpoints["lstm"]).tokenizer
    rungs = build_ladder(tokenizer)
    assert len(rungs) == 10 and rungs[0].text == DEFAULT_SENTENCE
    distances = [rung.distance for rung in rungs]
    assert all(later > earlier for earlier, later in zip(distances, distances[1:]))
    assert distances[0] == 6  # "is going on a vacation with" between Robert and his
    assert rungs[1].text.startswith("Mr. Robert, after a long and tiring week at the office, is going")
    for rung in rungs:
        tokens = tokenizer.encode(rung.text).tokens
        assert tokens[rung.source_index] == "Robert" and tokens[rung.target_index] == "his"
    later = build_ladder(tokenizer, LadderSpec(target_position=10, rungs=3))  # the prediction of "wife"
    assert [rung.target_index - rungs[index].target_index for index, rung in enumerate(later)] == [1, 1, 1]
    custom = build_ladder(tokenizer, LadderSpec(fillers=("the tea was cold,", "a bell rang,"), rungs=3))
    assert [rung.distance for rung in custom] == [6, 6 + 6, 6 + 6 + 4]  # ", the tea was cold ," then "a bell rang ,"


def test_bad_ladders_are_refused(tiny_checkpoints):
    tokenizer = load_checkpoint(tiny_checkpoints["lstm"]).tokenizer
    with pytest.raises(ValueError, match="source word 'Henry'"):
        build_ladder(tokenizer, LadderSpec(source_word="Henry"))
    with pytest.raises(ValueError, match="must not contain"):
        build_ladder(tokenizer, LadderSpec(fillers=("so his friend came,",), rungs=2))
    with pytest.raises(ValueError, match="target_position"):
        build_ladder(tokenizer, LadderSpec(target_position=1))
    with pytest.raises(ValueError, match="rungs must be in"):
        build_ladder(tokenizer, LadderSpec(rungs=40))
    with pytest.raises(ValueError, match="not in the model's vocabulary"):
        run_ladder(load_checkpoint(tiny_checkpoints["lstm"]).model, tokenizer, LadderSpec(contrast_word="their"))


@pytest.mark.parametrize("arch", ["rnn", "lstm"])
def test_batched_ladder_equals_one_sentence_at_a_time(tiny_checkpoints, arch):
    checkpoint = load_checkpoint(tiny_checkpoints[arch])
    model, tokenizer = checkpoint.model, checkpoint.tokenizer
    spec = LadderSpec(rungs=4, replacement_word="Mary")
    result = run_ladder(model, tokenizer, spec)
    assert len(result.contrast) == len(result.p_good) == len(result.influence) == len(result.occlusion) == 4
    mary = tokenizer.token_to_id("Mary")
    for index, rung in enumerate(result.rungs):
        inputs = prepare_input(tokenizer, rung.text)
        with torch.no_grad():
            log_probs = functional.log_softmax(model(inputs.ids)[0][0, 1:], dim=-1)
        targets = resolve_targets(TargetSpec.from_words("his", "her"), tokenizer, inputs.word_ids, log_probs)
        position = rung.target_index - 1  # the prediction made right before "his"
        assert math.isclose(result.contrast[index], float(targets.values(log_probs)[position]), abs_tol=1e-5)
        assert math.isclose(
            result.p_good[index], float(log_probs[position, tokenizer.token_to_id("his")].exp()), rel_tol=1e-5
        )
        influence = gradient_influence(model, inputs.ids, targets, "grad").matrix
        assert math.isclose(result.influence[index], float(influence[position, rung.source_index]), rel_tol=1e-4)
        variant = inputs.ids.clone()
        variant[0, rung.source_index + 1] = mary
        with torch.no_grad():
            changed = targets.values(functional.log_softmax(model(variant)[0][0, 1:], dim=-1))[position]
        assert math.isclose(result.occlusion[index], result.contrast[index] - float(changed), abs_tol=1e-5)
    report = result.to_json()
    assert report["distances"] == [rung.distance for rung in result.rungs]
    assert report["memory_span"]["definition"].startswith("Memory span:") and report["replacement_word"] == "Mary"


def test_half_crossing_interpolates_between_rungs():
    value, beyond = half_crossing([6, 16, 26, 36], [4.0, 3.0, 1.5, 1.0])
    assert not beyond and math.isclose(value, 16 + 10 * (3.0 - 2.0) / (3.0 - 1.5))
    assert half_crossing([6, 16], [4.0, 2.0]) == (16.0, False)  # exactly half counts
    assert half_crossing([6, 16, 26], [4.0, 3.5, 3.0]) == (None, True)
    assert half_crossing([6, 16], [-0.5, -1.0]) == (None, False)


def test_no_span_is_read_off_a_small_flat_curve():
    # The shipped LSTM on the seed: 0.3 to 0.6 nats at every rung. Half of that is noise, not memory.
    flat = memory_span([6, 17, 27, 36], [0.59, 0.31, 0.45, 0.38])
    assert flat.value is None and not flat.beyond and not flat.measurable and flat.threshold == CLEAR_CONTRAST_NATS
    assert flat.display == "none measurable (+0.59 nats at 6 words; a clear effect needs at least 1)"
    assert "at least 1" in flat.definition
    clear = memory_span([6, 17, 27, 36], [2.36, 1.9, 1.1, 0.8])
    assert clear.measurable and clear.value is not None and 17 < clear.value < 27
    assert memory_span([6, 16], [0.6, 0.2], threshold=0.5).value == 13.5  # a caller may set its own bar
    # A gradient norm has no nats: any positive value is an effect.
    assert memory_span([6, 16], [0.01, 0.004], quantity="influence").measurable


def test_memory_span_reports_the_number_with_its_definition():
    span = memory_span([6, 16, 26], [3.0, 2.0, 1.0], source="'Robert'", target="'his'")
    assert span.value == 21.0 and span.display == "21 words" and not span.beyond
    assert "'Robert'" in span.definition and "half" in span.definition and "6 words" in span.definition
    beyond = memory_span([6, 16, 26], [3.0, 2.9, 2.8])
    assert beyond.value is None and beyond.beyond and beyond.display == "> 26 words"
    undefined = memory_span([6, 16], [-1.0, -2.0])
    assert undefined.value is None and not undefined.beyond and undefined.display.startswith("none measurable")
    assert set(span.to_json()) == {
        "value",
        "beyond",
        "display",
        "definition",
        "quantity",
        "reference",
        "measurable",
        "threshold",
    }
    with pytest.raises(ValueError, match="increase"):
        memory_span([6, 6], [1.0, 0.5])
    with pytest.raises(ValueError, match="one value per distance"):
        memory_span([6, 16], [1.0])
