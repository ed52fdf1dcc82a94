"""Memory units over the pronoun suite: pairs, ablation equal to explicit runs, pooled shares and the random baseline."""

from __future__ import annotations

import pytest
import torch
from test_transplant import as_model_state, state_of
from torch.nn import functional

from model.analysis.memory.suite import ablate, pronoun_pairs, record, reference_means, suite_memory_units
from model.core.checkpoint import load_checkpoint


@pytest.fixture(scope="module")
def lstm(tiny_checkpoints):
    return load_checkpoint(tiny_checkpoints["lstm"])


def test_pronoun_pairs_are_the_man_and_the_woman_of_each_template(lstm):
    pairs, skipped = pronoun_pairs(lstm.tokenizer, seed=0, templates_per_bucket=3)
    assert len(pairs) + len(skipped) == 12 and pairs
    tokenizer = lstm.tokenizer
    for item in pairs:
        assert (
            item.factual_ids.shape == item.counterfactual_ids.shape
            and item.target_position == item.factual_ids.numel() - 2
        )
        assert (
            tokenizer.id_to_token(int(item.factual_ids[1])) == "Mr"
            and tokenizer.id_to_token(int(item.counterfactual_ids[1])) == "Mrs"
        )
        differing = (item.factual_ids != item.counterfactual_ids).nonzero().flatten().tolist()
        assert differing[0] == 1 and differing[-1] == 3  # "Mr . John" vs "Mrs . Mary": the title and the name
        assert (item.target_id, item.contrast_id) == (tokenizer.token_to_id("his"), tokenizer.token_to_id("her"))
    # A name the vocabulary lacks would compare <unk> with a name: such templates are left out, by name.
    assert all(template.count("/") == 1 for template in skipped)


def test_ablation_equals_explicit_runs_with_the_units_set_to_the_reference(lstm):
    model = lstm.model
    pairs, _ = pronoun_pairs(lstm.tokenizer, seed=0, templates_per_bucket=2)
    runs = [record(model, item) for item in pairs]
    reference = reference_means(runs)
    expected_reference = (
        torch.stack([s[r.word_after_cue] for r in runs for s in (r.factual_states, r.counterfactual_states)])
        .double()
        .mean(0)
    )
    assert torch.allclose(reference, expected_reference)
    pair = runs[0]
    generator = torch.Generator().manual_seed(0)
    masks = torch.rand(3, *pair.state_shape, generator=generator) < 0.3
    masks[0] = False  # nothing ablated: the swap effect itself
    left = ablate(model, pair, masks, reference)
    assert abs(left[0] - pair.effect) < 1e-5
    k, p = pair.word_after_cue, pair.target_position
    for row in range(3):
        values = []
        for ids in (pair.factual_ids, pair.counterfactual_ids):
            with torch.no_grad():
                _, state = model.recurrent(model.embed(ids[None, : k + 2]))
                edited = torch.where(masks[row], reference.float(), state_of(model, state))
                outputs, _ = model.recurrent(model.embed(ids[None, k + 2 : p + 2]), as_model_state(model, edited))
                log_probs = functional.log_softmax(model.logits_from_features(outputs[0, -1]), dim=-1)
            values.append(float(log_probs[pair.target_id] - log_probs[pair.contrast_id]))
        assert abs(left[row] - (values[1] - values[0])) < 1e-5


@pytest.mark.slow
def test_suite_result_pools_shares_and_seeds_the_random_units(lstm):
    result = suite_memory_units(lstm.model, lstm.tokenizer, templates_per_bucket=3, top=5, draws=3)
    again = suite_memory_units(lstm.model, lstm.tokenizer, templates_per_bucket=3, top=5, draws=3)
    assert result == again  # seeded: the same random units every time
    assert result["seed"] == 0 and result["ablation_seed"] == 1 and result["draws"] == 3
    units = result["units"]
    assert len(units) == 5 and [abs(u["effect"]) for u in units] == sorted(
        (abs(u["effect"]) for u in units), reverse=True
    )
    assert set(units[0]) == {"unit", "layer", "part", "effect", "by_bucket"} and set(units[0]["by_bucket"]) == set(
        result["buckets"]
    )
    for row in [*result["buckets"].values(), result["overall"]]:
        for n in ("4", "16"):
            ablation = row["ablation"][n]
            if row is result["overall"]:  # a bucket of the fresh draw may have no template this vocabulary can read
                assert (
                    len(ablation["random"]) == 3 and ablation["random_std"] is not None and ablation["top"] is not None
                )
            if ablation["random"]:
                assert abs(ablation["random_mean"] - sum(ablation["random"]) / len(ablation["random"])) < 1e-12
        assert 0.0 <= row["overlap"]["4"] <= 1.0 and row["units_needed"]["before_target"] in result["grid"] + [None]
    assert (
        result["overall"]["templates"]
        == result["templates"]
        == sum(row["templates"] for row in result["buckets"].values())
    )
    with pytest.raises(ValueError, match="draws must be at least 1"):
        suite_memory_units(lstm.model, lstm.tokenizer, templates_per_bucket=1, draws=0)
