"""Failure 9, the small ones: the ladder's message for adjacent words, and errors that echoed unbounded input.

(int64/bool/float64 weights, the third small item, are in test_sizes_before_allocation.py.)
"""

from __future__ import annotations

import os

import pytest
from robustness_helpers import copy_checkpoint, edit_json

from data.tokenizer import WordTokenizer
from model.analysis.memory.ladder import LadderSpec, build_ladder
from model.core.checkpoint import CheckpointError, load_checkpoint
from model.core.config import ModelConfig


@pytest.fixture(scope="module")
def tokenizer(tiny_checkpoints) -> WordTokenizer:
    return load_checkpoint(tiny_checkpoints["lstm"]).tokenizer


def test_adjacent_source_and_target_say_there_is_no_room(tokenizer):
    with pytest.raises(ValueError, match="right before the target 'his': there is no room between the words") as caught:
        build_ladder(
            tokenizer,
            LadderSpec(sentence="Mr. Robert his friend came to tea .", source_word="Robert", target_word="his"),
        )
    assert "insert_after" not in str(caught.value)


def test_a_ladder_error_quotes_at_most_80_characters_of_the_sentence(tokenizer):
    sentence = "Mr. John said so " * 2000
    with pytest.raises(ValueError) as caught:
        build_ladder(tokenizer, LadderSpec(sentence=sentence, source_word="Robert"))
    assert len(str(caught.value)) < 400 and "…" in str(caught.value)


@pytest.mark.parametrize(
    "field, value", [("hidden_size", "x" * 100_000), ("arch", "y" * 100_000), ("hidden_size", 10**4000)]
)
def test_a_config_error_quotes_at_most_80_characters(field, value):
    with pytest.raises(ValueError) as caught:
        ModelConfig(**{"vocab_size": 100, "decoder": "full", field: value})
    assert len(str(caught.value)) < 250


def test_a_tokenizer_error_quotes_at_most_80_characters(tmp_path, tiny_checkpoints):
    folder = copy_checkpoint(tiny_checkpoints["rnn"], str(tmp_path / "long"))
    edit_json(folder, "tokenizer.json", lambda data: data["model"].update(unk_token="z" * 100_000))
    with pytest.raises(CheckpointError, match='"model.unk_token" must be') as caught:
        load_checkpoint(folder)
    assert len(str(caught.value)) < 600 and "z" * 100 not in str(caught.value)
    assert os.path.isdir(folder)
