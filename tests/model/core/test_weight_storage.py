"""int8 row storage: bounded rounding, a round trip through a checkpoint folder, crafted pairs refused."""

from __future__ import annotations

import os

import pytest
import torch
from safetensors.torch import load_file, save_file

from data.tokenizer import WordTokenizer
from model.cli.weight_storage import main
from model.core import weight_storage
from model.core.checkpoint import CheckpointError, load_checkpoint, save_checkpoint
from model.core.config import ModelConfig
from model.core.language_model import LanguageModel
from model.core.weight_storage import SCALE_SUFFIX, pack_state, quantize_rows, unpack_state


def test_each_row_is_rounded_by_at_most_half_its_own_step():
    generator = torch.Generator().manual_seed(0)
    weight = torch.randn(50, 40, generator=generator) * torch.logspace(-3, 1, 50).unsqueeze(
        1
    )  # rows of very different size
    weight[7] = 0.0
    quantized, scale = quantize_rows(weight)
    assert quantized.dtype == torch.int8 and scale.dtype == torch.float16 and scale.shape == (50, 1)
    error = (quantized.float() * scale.float() - weight).abs()  # [50, 40]
    assert torch.all(error <= scale.float() / 2 + 1e-7)
    assert torch.all(error.amax(dim=1) <= 0.006 * weight.abs().amax(dim=1) + 1e-7)  # the small rows keep their detail
    assert torch.count_nonzero(quantized[7]) == 0


def test_only_large_matrices_become_int8_and_unpack_inverts_the_packing():
    tensors = {"big": torch.randn(30, 40), "small": torch.randn(3, 4), "bias": torch.randn(30)}
    packed = pack_state(tensors, min_values=1000)
    assert packed["big"].dtype == torch.int8 and packed["big" + SCALE_SUFFIX].shape == (30, 1)
    assert packed["small"].dtype == torch.float16 and packed["bias"].dtype == torch.float16
    unpacked = unpack_state(packed)
    assert set(unpacked) == set(tensors)
    torch.testing.assert_close(unpacked["big"], tensors["big"], atol=0.02, rtol=0)


def test_int8_without_its_scale_or_a_stray_scale_is_refused():
    packed = pack_state({"big": torch.randn(30, 40)}, min_values=1)
    with pytest.raises(ValueError, match="needs a float scale"):
        unpack_state({"big": packed["big"]})
    with pytest.raises(ValueError, match="scales no int8 matrix"):
        unpack_state({"big": torch.randn(30, 40), "big" + SCALE_SUFFIX: packed["big" + SCALE_SUFFIX]})


@pytest.fixture
def saved(tmp_path, monkeypatch):
    """A tiny LSTM saved with int8 storage (the size threshold lowered so its vocabulary matrices count)."""
    monkeypatch.setattr(weight_storage, "MIN_QUANTIZED_VALUES", 200)
    tokenizer = WordTokenizer.train(
        ["the cat sat on the mat and Robert said that his friend came to tea"] * 5, min_frequency=1
    )
    config = ModelConfig(
        arch="lstm", vocab_size=tokenizer.vocab_size, embedding_size=16, hidden_size=12, decoder="full"
    )
    model = LanguageModel(config).eval()
    path = str(tmp_path / "int8")
    save_checkpoint(path, model, tokenizer, {}, storage_dtype=torch.int8)
    return path, model, tokenizer


def test_an_int8_checkpoint_loads_as_float32_close_to_the_model(saved):
    path, model, tokenizer = saved
    stored = load_file(os.path.join(path, "model.safetensors"))
    assert stored["embedding.weight"].dtype == torch.int8 and "embedding.weight" + SCALE_SUFFIX in stored
    assert stored["recurrent.bias_hh_l0"].dtype == torch.float16  # a vector: never int8
    loaded = load_checkpoint(path)
    assert loaded.metrics["storage_dtype"] == "int8"
    assert loaded.model.embedding.weight.dtype == torch.float32
    ids = torch.tensor([tokenizer.encode("the cat sat on the mat").ids])
    with torch.no_grad():
        torch.testing.assert_close(loaded.model(ids)[0], model(ids)[0], atol=0.02, rtol=0)


def test_a_crafted_int8_file_is_refused_before_loading(saved):
    path, _, _ = saved
    file = os.path.join(path, "model.safetensors")
    stored = load_file(file)
    scale = stored.pop("embedding.weight" + SCALE_SUFFIX)
    save_file(stored, file)
    with pytest.raises(CheckpointError, match="int8 weights that do not fit"):
        load_checkpoint(path)
    stored["embedding.weight" + SCALE_SUFFIX] = scale[:-1].contiguous()  # one row short
    save_file(stored, file)
    with pytest.raises(CheckpointError, match="int8 weights that do not fit"):
        load_checkpoint(path)
    stored["embedding.weight" + SCALE_SUFFIX] = scale
    stored["recurrent.bias_hh_l0"] = stored["recurrent.bias_hh_l0"].to(torch.int8)  # int8 with no scale
    save_file(stored, file)
    with pytest.raises(CheckpointError, match="int8 weights that do not fit"):
        load_checkpoint(path)


def test_the_command_resaves_and_never_replaces_a_folder(saved, tmp_path, capsys):
    path, _, _ = saved
    destination = str(tmp_path / "copy16")
    assert main([path, destination, "--storage", "float16"]) == 0
    assert "float16" in capsys.readouterr().out and load_checkpoint(destination).metrics["storage_dtype"] == "float16"
    with pytest.raises(SystemExit) as exit_info:
        main([path, destination])
    assert exit_info.value.code == 2 and "already exists" in capsys.readouterr().err
