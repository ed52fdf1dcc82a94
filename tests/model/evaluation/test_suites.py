"""run_suite: the built-in suites load, keep to known words and score on small models."""

from __future__ import annotations

import pytest
import torch

from data.agreement_suites import build_suite, template_words
from data.tokenizer import WordTokenizer
from model.core.checkpoint import load_checkpoint
from model.core.config import ModelConfig
from model.core.language_model import LanguageModel
from model.evaluation.suites import SUITE_NAMES, run_suite


@pytest.fixture(scope="module")
def suite_vocabulary() -> WordTokenizer:
    words = template_words("agreement") + template_words("relative_clause")
    return WordTokenizer.train([" ".join(words)], min_frequency=1)


def _verb_prior_model(tokenizer: WordTokenizer) -> LanguageModel:
    """A model whose next-word scores ignore the prefix and favour singular verbs."""
    model = LanguageModel(
        ModelConfig(
            arch="lstm", vocab_size=tokenizer.vocab_size, embedding_size=8, hidden_size=8, dropout=0.0, decoder="full"
        )
    )
    with torch.no_grad():
        model.decoder.weight.zero_()
        model.decoder.bias.zero_()
        for word in ("is", "was", "has"):
            model.decoder.bias[tokenizer.token_to_id(word)] = 2.0
    return model.eval()


def test_a_prior_only_model_scores_exactly_one_half(suite_vocabulary):
    # Each template has a singular and a plural row, so preferring "is" everywhere is right half the time.
    results = run_suite(_verb_prior_model(suite_vocabulary), suite_vocabulary, "all")
    for name in ("agreement", "relative_clause"):
        result = results[name]
        assert result["overall"]["n"] == len(build_suite(name, suite_vocabulary).rows)
        assert result["overall"]["accuracy"] == 0.5
        assert all(group["accuracy"] == 0.5 for group in result["groups"].values())
        assert result["unknown_template_words"] == [] and result["unknown_words"] == []


def test_all_runs_every_suite_with_the_same_keys(tiny_checkpoints):
    checkpoint = load_checkpoint(tiny_checkpoints["gru"])
    results = run_suite(checkpoint.model, checkpoint.tokenizer, "all", seed=2, templates_per_group=4)
    assert tuple(results) == SUITE_NAMES == ("agreement", "relative_clause", "pronoun")
    for result in results.values():
        assert {"overall", "groups", "unknown_words", "unknown_template_words", "seed"} <= set(result)
        assert result["seed"] == 2
    # The tiny patterned vocabulary lacks the agreement words: reported, their rows left out.
    assert "are" in results["agreement"]["unknown_template_words"]
    assert results["agreement"]["overall"]["n"] == 0 and results["agreement"]["overall"]["accuracy"] is None
    # It knows "his" and "her", so the pronoun pairs are scored.
    assert results["pronoun"]["overall"]["n"] == 4 * 4 * 2
    assert 0.0 <= results["pronoun"]["overall"]["accuracy"] <= 1.0


def test_one_suite_by_name(tiny_checkpoints, suite_vocabulary):
    model = LanguageModel(
        ModelConfig(
            arch="rnn",
            vocab_size=suite_vocabulary.vocab_size,
            embedding_size=8,
            hidden_size=8,
            dropout=0.0,
            decoder="full",
        )
    ).eval()
    results = run_suite(model, suite_vocabulary, "relative_clause", templates_per_group=5)
    assert list(results) == ["relative_clause"]
    groups = results["relative_clause"]["groups"]
    assert set(groups) == {
        f"relative clause {kind} {a}" for kind in ("subject", "object") for a in ("attractor", "no attractor")
    }
    assert all(group["n"] == 10 for group in groups.values())


def test_unknown_suite_name_is_refused(suite_vocabulary):
    with pytest.raises(ValueError, match="agreement, relative_clause, pronoun or all"):
        run_suite(_verb_prior_model(suite_vocabulary), suite_vocabulary, "agreements")
