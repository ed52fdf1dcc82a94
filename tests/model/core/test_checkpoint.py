"""Checkpoints: round trips, every corrupt or mismatched folder named, and atomic saves."""

from __future__ import annotations

import json
import os
import pickle

import pytest
import torch
from safetensors.torch import load_file, save_file

import data.tokenizer as tokenizer_module
import model.core.checkpoint as checkpoint_module
from data.tokenizer import WordTokenizer
from model.core.checkpoint import CHECKPOINT_FILES, CheckpointError, load_checkpoint, save_checkpoint
from model.core.config import ModelConfig
from model.core.language_model import LanguageModel

TEXTS = ["Mr. Robert said so his friend came to tea.", "Mrs. Mary said so her friend came to tea."]


@pytest.fixture(scope="module")
def tokenizer() -> WordTokenizer:
    return WordTokenizer.train(TEXTS, min_frequency=1)


def _model(tokenizer, seed=0, **overrides) -> LanguageModel:
    values = dict(
        arch="lstm", vocab_size=tokenizer.vocab_size, embedding_size=6, hidden_size=8, dropout=0.1, decoder="full"
    )
    values.update(overrides)
    torch.manual_seed(seed)
    model = LanguageModel(ModelConfig(**values))
    with torch.no_grad():  # move the biases off their initial zeros so every tensor matters
        for parameter in model.parameters():
            parameter.add_(0.01 * torch.randn_like(parameter))
    return model.eval()


def _ids(tokenizer) -> torch.Tensor:
    return torch.tensor([[tokenizer.eos_id, *tokenizer.encode(TEXTS[0]).ids]])  # [1, T]


def _logits(model, tokenizer) -> torch.Tensor:
    with torch.no_grad():
        return model(_ids(tokenizer))[0]


@pytest.fixture()
def saved(tmp_path, tokenizer) -> tuple[str, LanguageModel]:
    model = _model(tokenizer)
    path = str(tmp_path / "ckpt")
    save_checkpoint(path, model, tokenizer, {"note": "first"})
    return path, model


@pytest.mark.parametrize("arch, decoder", [("rnn", "full"), ("lstm", "adaptive"), ("gru", "full")])
def test_round_trip_gives_the_same_logits(tmp_path, tokenizer, arch, decoder):
    model = _model(tokenizer, arch=arch, decoder=decoder, adaptive_cutoffs=[4], num_layers=2)
    path = str(tmp_path / "ckpt")
    save_checkpoint(path, model, tokenizer, {"valid_ppl": 12.5})
    assert sorted(os.listdir(path)) == sorted(CHECKPOINT_FILES)
    loaded = load_checkpoint(path)
    assert not loaded.model.training
    assert all(parameter.requires_grad for parameter in loaded.model.parameters())  # gradients stay available
    assert loaded.config == model.config
    assert loaded.name == "ckpt"
    assert loaded.metrics["valid_ppl"] == 12.5
    assert loaded.metrics["tokenizer_sha256"] == tokenizer.fingerprint()
    assert loaded.metrics["storage_dtype"] == "float32"
    assert loaded.tokenizer.encode(TEXTS[1]) == tokenizer.encode(TEXTS[1])
    assert torch.equal(_logits(loaded.model, tokenizer), _logits(model, tokenizer))
    for name, tensor in model.state_dict().items():
        assert torch.equal(loaded.model.state_dict()[name], tensor), name


def test_tied_weights_round_trip(tmp_path, tokenizer):
    model = _model(tokenizer, embedding_size=8, tie_weights=True)
    path = str(tmp_path / "tied")
    save_checkpoint(path, model, tokenizer, {})
    assert "decoder.weight" not in load_file(os.path.join(path, "model.safetensors"))  # stored once
    loaded = load_checkpoint(path)
    assert loaded.model.decoder.weight is loaded.model.embedding.weight
    assert torch.equal(loaded.model.embedding.weight, model.embedding.weight)
    assert torch.equal(_logits(loaded.model, tokenizer), _logits(model, tokenizer))


def test_fp16_storage_round_trip_is_close(tmp_path, tokenizer):
    model = _model(tokenizer)
    path32, path16 = str(tmp_path / "f32"), str(tmp_path / "f16")
    save_checkpoint(path32, model, tokenizer, {})
    save_checkpoint(path16, model, tokenizer, {}, storage_dtype=torch.float16)
    stored = load_file(os.path.join(path16, "model.safetensors"))
    assert all(tensor.dtype == torch.float16 for tensor in stored.values())
    assert os.path.getsize(os.path.join(path16, "model.safetensors")) < 0.6 * os.path.getsize(
        os.path.join(path32, "model.safetensors")
    )
    loaded = load_checkpoint(path16)
    assert loaded.metrics["storage_dtype"] == "float16"
    assert loaded.model.embedding.weight.dtype == torch.float32  # computed in float32
    torch.testing.assert_close(_logits(loaded.model, tokenizer), _logits(model, tokenizer), atol=2e-3, rtol=0)


# ------------------------------------------------------------------ corrupt or mismatched folders
def _expect(path, pattern):
    with pytest.raises(CheckpointError, match=pattern):
        load_checkpoint(path)


def _edit_config(path, **changes):
    file = os.path.join(path, "config.json")
    with open(file, encoding="utf-8") as stream:
        config = json.load(stream)
    with open(file, "w", encoding="utf-8") as stream:
        json.dump(dict(config, **changes), stream)


def test_missing_folder(tmp_path):
    _expect(str(tmp_path / "nothing"), "Checkpoint folder not found.*nothing.*model.train")


@pytest.mark.parametrize("name", CHECKPOINT_FILES)
def test_missing_file(saved, name):
    path, _ = saved
    os.remove(os.path.join(path, name))
    _expect(path, f"missing {name}")


def test_wrong_shape(saved):
    path, _ = saved
    _edit_config(path, hidden_size=10)
    _expect(path, "Weight .* has shape .* but config.json implies")


def test_tokenizer_of_another_size(saved, tokenizer):
    path, _ = saved
    other = WordTokenizer.train(TEXTS + ["plus some brand new words"], min_frequency=1)
    assert other.vocab_size != tokenizer.vocab_size
    other.save(os.path.join(path, "tokenizer.json"))
    _expect(
        path,
        f"tokenizer.json .* has {other.vocab_size} tokens but the model's embedding has {tokenizer.vocab_size} rows",
    )


def test_tokenizer_of_the_same_size_but_other_words(saved, tokenizer):
    path, _ = saved
    words = " ".join(f"w{index}" for index in range(tokenizer.vocab_size - 2))
    other = WordTokenizer.train([words], min_frequency=1)
    assert other.vocab_size == tokenizer.vocab_size
    other.save(os.path.join(path, "tokenizer.json"))
    _expect(path, "not the one these weights were trained with.*tokenizer_sha256")


def test_nan_weight(saved):
    path, _ = saved
    file = os.path.join(path, "model.safetensors")
    tensors = load_file(file)
    tensors["embedding.weight"][2, 3] = float("nan")
    save_file(tensors, file)
    _expect(path, "Weight embedding.weight .* 1 non-finite values")


def test_unknown_architecture(saved):
    path, _ = saved
    _edit_config(path, arch="transformer")
    _expect(path, "config.json .* is invalid: arch must be one of .*'transformer'")


def test_unknown_config_field(saved):
    path, _ = saved
    _edit_config(path, nhid=8)
    _expect(path, "unknown fields \\['nhid'\\]")


def test_pickle_renamed_to_safetensors_is_refused(saved, tokenizer):
    path, model = saved
    # Written with pickle only to prove it is refused; nothing here ever unpickles it.
    with open(os.path.join(path, "model.safetensors"), "wb") as stream:
        pickle.dump({name: tensor.tolist() for name, tensor in model.state_dict().items()}, stream)
    _expect(path, "model.safetensors .* is not a readable safetensors file.*pickles are refused")


def test_truncated_safetensors(saved):
    path, _ = saved
    file = os.path.join(path, "model.safetensors")
    data = open(file, "rb").read()
    open(file, "wb").write(data[: len(data) // 2])
    _expect(path, "not a readable safetensors file")


def test_weights_missing_from_safetensors(saved):
    path, _ = saved
    file = os.path.join(path, "model.safetensors")
    tensors = load_file(file)
    del tensors["decoder.bias"]
    save_file(tensors, file)
    _expect(path, "does not fit config.json: missing \\['decoder.bias'\\]")


@pytest.mark.parametrize("name", ["config.json", "metrics.json"])
def test_invalid_json(saved, name):
    path, _ = saved
    with open(os.path.join(path, name), "w") as stream:
        stream.write('{"arch": "lstm", ')
    _expect(path, f"{name} is not valid JSON")


def test_json_that_is_not_an_object(saved):
    path, _ = saved
    with open(os.path.join(path, "metrics.json"), "w") as stream:
        stream.write("[1, 2]")
    _expect(path, "metrics.json must hold a JSON object; got list")


def test_tokenizer_that_is_not_a_tokenizer(saved):
    path, _ = saved
    with open(os.path.join(path, "tokenizer.json"), "w") as stream:
        stream.write('{"hello": 1}')
    _expect(path, "Could not read a tokenizer")


def test_a_tokenizer_the_library_still_refuses_is_a_checkpoint_error(saved, monkeypatch):
    # The format check should catch everything the tokenizers parser refuses; if one slips past it
    # (a new library version), loading must still end in CheckpointError, not a bare ValueError.
    def refuse(text):
        raise Exception("invalid type: integer `0`, expected a boolean")

    monkeypatch.setattr(tokenizer_module.Tokenizer, "from_str", staticmethod(refuse))
    path, _ = saved
    _expect(path, "expected a boolean")


# ------------------------------------------------------------------ atomic saves
def _crash_when(monkeypatch, predicate):
    """Make os.replace raise for the rename that ``predicate(src, dst)`` picks, like a crash there."""
    real_replace = os.replace

    def replace(src, dst, *args, **kwargs):
        if predicate(str(src), str(dst)):
            raise OSError("simulated crash")
        return real_replace(src, dst, *args, **kwargs)

    monkeypatch.setattr(os, "replace", replace)


def _snapshot(path) -> dict[str, bytes]:
    return {name: open(os.path.join(path, name), "rb").read() for name in CHECKPOINT_FILES}


def test_crash_while_writing_weights_leaves_the_old_checkpoint(saved, tokenizer, monkeypatch):
    path, model = saved
    before = _snapshot(path)

    def broken_save_file(tensors, filename, *args, **kwargs):
        with open(filename, "wb") as stream:
            stream.write(b"half a file")
        raise OSError("simulated crash while writing")

    monkeypatch.setattr(checkpoint_module, "save_file", broken_save_file)
    with pytest.raises(OSError, match="simulated crash"):
        save_checkpoint(path, _model(tokenizer, seed=1), tokenizer, {"note": "second"})
    assert _snapshot(path) == before
    assert sorted(os.listdir(os.path.dirname(path))) == ["ckpt"]  # the staging folder is cleaned up
    loaded = load_checkpoint(path)
    assert loaded.metrics["note"] == "first"
    assert torch.equal(_logits(loaded.model, tokenizer), _logits(model, tokenizer))


def test_crash_before_moving_the_old_folder_aside(saved, tokenizer, monkeypatch):
    path, _ = saved
    before = _snapshot(path)
    _crash_when(monkeypatch, lambda src, dst: src == path)
    with pytest.raises(OSError):
        save_checkpoint(path, _model(tokenizer, seed=1), tokenizer, {"note": "second"})
    assert _snapshot(path) == before
    assert load_checkpoint(path).metrics["note"] == "first"


def test_crash_between_the_two_renames_falls_back_to_previous(saved, tokenizer, monkeypatch):
    path, model = saved
    before = _snapshot(path)
    _crash_when(monkeypatch, lambda src, dst: dst == path)  # the new folder never takes the name
    with pytest.raises(OSError):
        save_checkpoint(path, _model(tokenizer, seed=1), tokenizer, {"note": "second"})
    assert not os.path.exists(path) and os.path.isdir(path + ".previous")
    loaded = load_checkpoint(path)
    assert loaded.path == path + ".previous"
    assert loaded.metrics["note"] == "first"
    assert _snapshot(path + ".previous") == before
    assert torch.equal(_logits(loaded.model, tokenizer), _logits(model, tokenizer))

    # A second save that dies at the same point must not delete the only good copy.
    with pytest.raises(OSError):
        save_checkpoint(path, _model(tokenizer, seed=2), tokenizer, {"note": "third"})
    assert load_checkpoint(path).metrics["note"] == "first"

    # Once a save completes, the new checkpoint is in place and .previous is gone.
    monkeypatch.undo()
    save_checkpoint(path, _model(tokenizer, seed=3), tokenizer, {"note": "fourth"})
    assert load_checkpoint(path).metrics["note"] == "fourth"
    assert not os.path.exists(path + ".previous")


def test_previous_is_used_when_the_folder_holds_only_resume_state(saved):
    path, _ = saved
    os.replace(path, path + ".previous")
    os.makedirs(os.path.join(path, "resume"))  # what a resumed run creates first
    assert load_checkpoint(path).metrics["note"] == "first"


def test_save_keeps_the_resume_subfolder(saved, tokenizer):
    path, _ = saved
    resume = os.path.join(path, "resume")
    os.makedirs(resume)
    with open(os.path.join(resume, "state.json"), "w") as stream:
        stream.write('{"step": 7}')
    save_checkpoint(path, _model(tokenizer, seed=1), tokenizer, {"note": "second"})
    assert json.load(open(os.path.join(resume, "state.json"))) == {"step": 7}
    assert load_checkpoint(path).metrics["note"] == "second"
    assert not os.path.exists(path + ".previous")


def test_save_replaces_the_whole_folder(saved, tokenizer):
    path, _ = saved
    replacement = _model(tokenizer, seed=5, arch="gru")
    save_checkpoint(path, replacement, tokenizer, {"note": "gru"})
    loaded = load_checkpoint(path)
    assert loaded.config.arch == "gru"
    assert torch.equal(_logits(loaded.model, tokenizer), _logits(replacement, tokenizer))


def test_metrics_must_be_json_safe(tmp_path, tokenizer):
    path = str(tmp_path / "ckpt")
    with pytest.raises(ValueError):
        save_checkpoint(path, _model(tokenizer), tokenizer, {"loss": float("nan")})
    assert not os.path.exists(path)
    assert os.listdir(tmp_path) == []


def test_checkpoint_is_readable_like_any_new_file(tmp_path, tokenizer):
    """Temporary-file helpers create private 0700/0600 entries; a checkpoint must not stay private."""
    path = str(tmp_path / "ckpt")
    umask = os.umask(0o022)
    try:
        save_checkpoint(path, _model(tokenizer), tokenizer, {})
    finally:
        os.umask(umask)
    assert os.stat(path).st_mode & 0o777 == 0o755
    for name in CHECKPOINT_FILES:
        assert os.stat(os.path.join(path, name)).st_mode & 0o777 == 0o644, name
