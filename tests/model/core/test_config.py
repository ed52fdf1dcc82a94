"""ModelConfig: validation names the broken rule; JSON round trip; default cut-offs."""

from __future__ import annotations

import json

import pytest

from model.core.config import ModelConfig, default_cutoffs


def _config(**overrides) -> ModelConfig:
    values = dict(arch="lstm", vocab_size=100, embedding_size=8, hidden_size=8, decoder="full")
    values.update(overrides)
    return ModelConfig(**values)


@pytest.mark.parametrize("arch", ["rnn", "lstm", "gru"])
def test_valid_architectures(arch):
    assert _config(arch=arch).arch == arch


@pytest.mark.parametrize("arch", ["transformer", "LSTM", ""])
def test_bad_arch(arch):
    with pytest.raises(ValueError, match=f"arch must be one of .*got {arch!r}"):
        _config(arch=arch)


def test_bad_decoder():
    with pytest.raises(ValueError, match="decoder must be one of"):
        _config(decoder="hierarchical")


@pytest.mark.parametrize("field", ["vocab_size", "embedding_size", "hidden_size", "num_layers"])
@pytest.mark.parametrize("value", [0, -1, 2.5, True, "8"])
def test_sizes_must_be_positive_integers(field, value):
    with pytest.raises(ValueError, match=f"{field} must be a positive integer; got {value!r}"):
        _config(**{field: value})


@pytest.mark.parametrize("dropout", [-0.1, 1.0, 1.5])
def test_bad_dropout(dropout):
    with pytest.raises(ValueError, match="dropout must be in \\[0, 1\\)"):
        _config(dropout=dropout)


def test_tie_weights_with_adaptive_decoder_is_refused():
    with pytest.raises(ValueError, match="tie_weights needs decoder='full'"):
        _config(tie_weights=True, decoder="adaptive", adaptive_cutoffs=[10])


def test_tie_weights_needs_equal_sizes():
    with pytest.raises(ValueError, match="embedding_size == hidden_size; got 8 and 16"):
        _config(tie_weights=True, hidden_size=16)
    assert _config(tie_weights=True).tie_weights


@pytest.mark.parametrize("cutoffs", [[], [50, 10], [10, 10], [0, 50], [10, 100], [10, 150]])
def test_bad_adaptive_cutoffs(cutoffs):
    with pytest.raises(ValueError, match="adaptive_cutoffs must be increasing.*--decoder full"):
        _config(decoder="adaptive", hidden_size=64, adaptive_cutoffs=cutoffs)


def test_good_adaptive_cutoffs_and_full_decoder_ignores_them():
    assert _config(decoder="adaptive", hidden_size=16, adaptive_cutoffs=[1, 99]).adaptive_cutoffs == [1, 99]
    # The default cut-offs (2000, 8000) do not fit 100 words, but a full softmax never uses them.
    assert _config(decoder="full").adaptive_cutoffs == [2000, 8000]


def test_adaptive_clusters_must_keep_at_least_one_dimension():
    # 8 // 4**2 == 0: the second tail cluster would have no dimensions at all.
    with pytest.raises(ValueError, match="last adaptive-softmax cluster gets 0 dimensions.*--decoder full"):
        _config(decoder="adaptive", adaptive_cutoffs=[10, 50], adaptive_div_value=4.0)
    assert _config(decoder="adaptive", adaptive_cutoffs=[10, 50], adaptive_div_value=2.0).hidden_size == 8
    with pytest.raises(ValueError, match="adaptive_div_value must be positive"):
        _config(decoder="adaptive", adaptive_cutoffs=[10], adaptive_div_value=0.0)


def test_json_round_trip():
    config = _config(
        arch="gru", num_layers=2, dropout=0.3, hidden_size=32, decoder="adaptive", adaptive_cutoffs=[20, 60]
    )
    assert ModelConfig.from_dict(json.loads(config.to_json())) == config


def test_from_dict_unknown_fields():
    values = json.loads(_config().to_json())
    values.update(nhid=8, layers=2)
    with pytest.raises(ValueError, match="unknown fields \\['layers', 'nhid'\\]"):
        ModelConfig.from_dict(values)


def test_from_dict_validates_values():
    values = json.loads(_config().to_json())
    values["arch"] = "mamba"
    with pytest.raises(ValueError, match="arch must be one of"):
        ModelConfig.from_dict(values)


def test_validate_catches_a_later_edit():
    config = _config()
    config.hidden_size = 0
    with pytest.raises(ValueError, match="hidden_size"):
        config.validate()


@pytest.mark.parametrize(
    "vocab_size, expected",
    [(19_390, [2000, 8000]), (5000, [2000]), (2000, [1000]), (3, [1])],
)
def test_default_cutoffs_fit_the_vocabulary(vocab_size, expected):
    cutoffs = default_cutoffs(vocab_size)
    assert cutoffs == expected
    config = ModelConfig(vocab_size=vocab_size, hidden_size=256, decoder="adaptive", adaptive_cutoffs=cutoffs)
    assert config.adaptive_cutoffs == expected


def test_the_architecture_table_matches_pytorch_and_the_traces():
    import torch

    from model.core.config import ARCHITECTURES, CELLS

    assert ARCHITECTURES == ("rnn", "lstm", "gru")
    for arch, module in (("rnn", torch.nn.RNN), ("lstm", torch.nn.LSTM), ("gru", torch.nn.GRU)):
        layer = module(input_size=3, hidden_size=5)
        assert layer.weight_ih_l0.shape[0] == CELLS[arch].gate_blocks * 5  # PyTorch's G blocks of H rows
        state = layer(torch.zeros(2, 1, 3))[1]
        assert isinstance(state, tuple) == CELLS[arch].has_cell_state
        assert set(CELLS[arch].gates) <= set(CELLS[arch].traces)
        assert CELLS[arch].keep_gate is None or CELLS[arch].keep_gate in CELLS[arch].gates
