"""Target functions: next word, one word, a contrast; fast selected log-probabilities equal the full softmax."""

from __future__ import annotations

import pytest
import torch
from torch.nn import functional

from data.tokenizer import WordTokenizer
from model.analysis.targets import TargetSpec, resolve_targets, selected_log_probs, target_values, word_id
from model.core.config import ModelConfig
from model.core.language_model import LanguageModel


@pytest.fixture(scope="module")
def tokenizer() -> WordTokenizer:
    return WordTokenizer.train(
        ["Mr. Robert said so his friend came .", "Mrs. Mary said so her friend came ."], min_frequency=1
    )


def test_next_word_targets_read_the_following_word_and_guess_at_the_end(tokenizer):
    ids = torch.tensor(tokenizer.encode("Mr. Robert said").ids)  # [4]: Mr . Robert said
    log_probs = torch.log_softmax(torch.randn(4, tokenizer.vocab_size), dim=-1)
    targets = resolve_targets(TargetSpec(), tokenizer, ids, log_probs)
    assert targets.good[:-1].tolist() == ids[1:].tolist()
    assert int(targets.good[-1]) == int(log_probs[-1].argmax())
    assert targets.last_is_guess and targets.bad is None
    values = target_values(log_probs, targets)
    assert torch.allclose(values, log_probs[torch.arange(4), targets.good])


def test_word_and_contrast_values(tokenizer):
    his, her = tokenizer.token_to_id("his"), tokenizer.token_to_id("her")
    ids = torch.tensor(tokenizer.encode("Mr. Robert said so").ids)
    log_probs = torch.log_softmax(torch.randn(2, len(ids), tokenizer.vocab_size), dim=-1)  # a batch of two
    word = resolve_targets(TargetSpec.from_words("his"), tokenizer, ids, log_probs[0])
    assert torch.allclose(word.values(log_probs), log_probs[..., his])
    contrast = resolve_targets(TargetSpec.from_words("his", "her"), tokenizer, ids, log_probs[0])
    assert torch.allclose(contrast.values(log_probs), log_probs[..., his] - log_probs[..., her])
    assert contrast.description == "log P('his') - log P('her')" and not contrast.last_is_guess


def test_unknown_and_bad_words_raise_clear_errors(tokenizer):
    with pytest.raises(ValueError, match="not in the model's vocabulary"):
        word_id(tokenizer, "Zebra")
    with pytest.raises(ValueError, match="single token"):
        word_id(tokenizer, "his friend")
    with pytest.raises(ValueError, match="non-empty"):
        word_id(tokenizer, "  ")
    ids = torch.tensor(tokenizer.encode("Mr. Robert").ids)
    with pytest.raises(ValueError, match="'Zebra'"):
        resolve_targets(
            TargetSpec.from_words("his", "Zebra"), tokenizer, ids, torch.zeros(len(ids), tokenizer.vocab_size)
        )
    with pytest.raises(ValueError, match="needs a target word"):
        TargetSpec.from_words(None, "her")
    with pytest.raises(ValueError, match="kind"):
        TargetSpec("sentiment")


@pytest.mark.parametrize("decoder", ["full", "adaptive"])
def test_selected_log_probs_equal_the_full_softmax(decoder):
    config = ModelConfig(
        arch="lstm",
        vocab_size=60,
        embedding_size=8,
        hidden_size=16,
        decoder=decoder,
        adaptive_cutoffs=[10, 30],
        dropout=0.0,
    )
    model = LanguageModel(config).double().eval()
    features = torch.randn(25, 16, dtype=torch.float64)
    ids = torch.randint(0, 60, (25, 3))
    ids[0] = torch.tensor([0, 15, 45])  # one of each cluster in a row
    with torch.no_grad():
        full = functional.log_softmax(model.logits_from_features(features), dim=-1).gather(-1, ids)
        fast = selected_log_probs(model, features, ids)
    assert torch.allclose(fast, full, atol=1e-12)
