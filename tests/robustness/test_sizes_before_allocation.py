"""Failure 2 (and 9's dtypes): loading built the model before checking its sizes.

`hidden_size: 20000` took 54 s and 6.3 GB before the shape error; `num_layers: 10**6` was still
running after 30 s. Now ModelConfig has upper bounds, and loading compares config.json with the
safetensors header (names, shapes, dtypes) before a single weight is allocated. int64, bool and
float64 weights are refused instead of being cast; float32, float16 and bfloat16 load. The shipped
checkpoints still load exactly as they did.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time

import pytest
import torch
from robustness_helpers import ROOT, copy_checkpoint, edit_json
from safetensors.torch import load_file, save_file
from tokenizers import Tokenizer

from model.core.checkpoint import (
    CheckpointError,
    expected_tensor_shapes,
    inspect_checkpoint,
    load_checkpoint,
    state_for_saving,
)
from model.core.config import MAX_LAYERS, MAX_VOCAB_SIZE, MAX_WIDTH, ModelConfig
from model.core.language_model import LanguageModel


@pytest.mark.parametrize(
    "changes, message",
    [
        ({"hidden_size": 20000}, "hidden_size must be at most 8,192"),
        ({"num_layers": 10**6}, "num_layers must be at most 16"),
        ({"embedding_size": 10**9}, "embedding_size must be at most 8,192"),
        ({"vocab_size": 10**7}, "vocab_size must be at most 1,000,000"),
    ],
)
def test_oversized_configs_are_refused_at_once(tmp_path, tiny_checkpoints, changes, message):
    folder = copy_checkpoint(tiny_checkpoints["lstm"], str(tmp_path / "big"))
    edit_json(folder, "config.json", lambda config: config.update(changes))
    started = time.perf_counter()
    with pytest.raises(CheckpointError, match=message):
        load_checkpoint(folder)
    assert time.perf_counter() - started < 1.0


@pytest.mark.slow  # measures the peak memory of a fresh Python that imports torch: ~3 s
def test_an_in_bounds_but_huge_config_is_refused_from_the_header_without_allocating(tmp_path, tiny_checkpoints):
    """An 8192-unit LSTM layer on an 8192-wide embedding is 2.1 GB of float32; the tiny file's header says otherwise."""
    folder = copy_checkpoint(tiny_checkpoints["lstm"], str(tmp_path / "big"))
    edit_json(folder, "config.json", lambda config: config.update(hidden_size=MAX_WIDTH, embedding_size=MAX_WIDTH))
    probe = (
        "import resource, sys, time\n"
        "from model.core.checkpoint import CheckpointError, load_checkpoint\n"
        "before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss\n"
        "started = time.perf_counter()\n"
        "try:\n"
        f"    load_checkpoint({folder!r})\n"
        "except CheckpointError as error:\n"
        "    print('refused', time.perf_counter() - started, resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before, error)\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", probe],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
        env=dict(os.environ, PYTHONPATH=ROOT, OMP_NUM_THREADS="1"),
    )
    assert result.stdout.startswith("refused"), result.stderr[-2000:]
    _, seconds, grown_kib, message = result.stdout.split(" ", 3)
    assert "has shape" in message and "config.json implies" in message
    assert float(seconds) < 1.0
    assert int(grown_kib) < 100 * 1024, f"peak memory grew by {int(grown_kib) / 1024:.0f} MiB"


CONFIGS = [
    dict(
        arch=arch,
        vocab_size=50,
        embedding_size=6,
        hidden_size=18,
        num_layers=layers,
        decoder=decoder,
        adaptive_cutoffs=[10, 30],
        adaptive_div_value=div,
        tie_weights=tie,
    )
    for arch in ("rnn", "lstm", "gru")
    for layers in (1, 3)
    for decoder, div, tie in (("full", 4.0, False), ("adaptive", 2.0, False), ("adaptive", 3.0, False))
] + [dict(arch="gru", vocab_size=50, embedding_size=8, hidden_size=8, num_layers=2, decoder="full", tie_weights=True)]


def test_sixteen_layers_against_a_one_layer_file_are_refused_by_name(tmp_path, tiny_checkpoints):
    folder = copy_checkpoint(tiny_checkpoints["lstm"], str(tmp_path / "deep"))
    edit_json(folder, "config.json", lambda config: config.update(num_layers=MAX_LAYERS))
    started = time.perf_counter()
    with pytest.raises(CheckpointError, match="does not fit config.json: missing \\['recurrent.bias_hh_l1'"):
        load_checkpoint(folder)
    assert time.perf_counter() - started < 1.0


@pytest.mark.parametrize("values", CONFIGS, ids=lambda values: "-".join(str(v) for v in values.values()))
def test_expected_shapes_are_what_the_library_model_stores(values):
    config = ModelConfig(**values)
    stored = state_for_saving(LanguageModel(config))
    assert expected_tensor_shapes(config) == {name: tuple(tensor.shape) for name, tensor in stored.items()}


def _retype(folder: str, dtype: torch.dtype) -> None:
    file = os.path.join(folder, "model.safetensors")
    tensors = load_file(file)
    save_file({name: tensor.to(dtype) for name, tensor in tensors.items()}, file)


@pytest.mark.parametrize(
    "dtype, message",
    [
        (torch.int64, "is stored as 'I64'; checkpoints hold float32, float16 or bfloat16"),
        (torch.bool, "is stored as 'BOOL'; checkpoints hold float32, float16 or bfloat16"),
        (torch.float64, "is stored as 'F64'; checkpoints hold float32, float16 or bfloat16"),
        # int8 is a storage of its own (model/core/weight_storage.py), but only as matrices with their row scales.
        (torch.int8, "has int8 weights that do not fit: 'int8 weight .* must be a matrix with a row scale"),
    ],
)
def test_weights_of_other_dtypes_are_refused_not_cast(tmp_path, tiny_checkpoints, dtype, message):
    folder = copy_checkpoint(tiny_checkpoints["gru"], str(tmp_path / "typed"))
    _retype(folder, dtype)
    with pytest.raises(CheckpointError, match=message):
        load_checkpoint(folder)


@pytest.mark.parametrize("dtype", [torch.float32, torch.float16, torch.bfloat16])
def test_float_storage_dtypes_load_as_float32(tmp_path, tiny_checkpoints, dtype):
    folder = copy_checkpoint(tiny_checkpoints["gru"], str(tmp_path / "typed"))
    _retype(folder, dtype)
    stored = load_file(os.path.join(folder, "model.safetensors"))
    loaded = load_checkpoint(folder)
    for name, tensor in loaded.model.state_dict().items():
        assert tensor.dtype == torch.float32 and torch.equal(tensor, stored[name].float())


def test_a_header_that_claims_more_data_than_the_file_holds(tmp_path, tiny_checkpoints):
    folder = copy_checkpoint(tiny_checkpoints["rnn"], str(tmp_path / "short"))
    file = os.path.join(folder, "model.safetensors")
    data = open(file, "rb").read()
    length = int.from_bytes(data[:8], "little")
    header = json.loads(data[8 : 8 + length])
    header["embedding.weight"]["data_offsets"][1] += 10**12
    encoded = json.dumps(header).encode()
    open(file, "wb").write(len(encoded).to_bytes(8, "little") + encoded + data[8 + length :])
    with pytest.raises(CheckpointError, match="not a readable safetensors file .*truncated"):
        inspect_checkpoint(folder)


SHIPPED = ["novels-rnn", "novels-lstm", "novels-gru", "novels19m-rnn", "novels19m-lstm", "novels19m-gru"]


def _reference_weights(stored: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """Every stored weight as float32, written out here: float16 cast up; an int8 matrix times its row scales."""
    weights = {}
    for key, value in stored.items():
        if key.endswith(".row_scale"):
            continue
        scale = stored.get(key + ".row_scale")
        weights[key] = value.float() if scale is None else value.float() * scale.float()  # [R, C] * [R, 1]
    return weights


@pytest.mark.parametrize("name", SHIPPED)
def test_the_shipped_checkpoints_load_exactly_as_before(name):
    """The reference is the loading code as it was: every weight read and cast, the tokenizer from_file."""
    folder = os.path.join(ROOT, "checkpoints", name)
    with open(os.path.join(folder, "config.json"), encoding="utf-8") as stream:
        config = ModelConfig.from_dict(json.load(stream))
    assert config.vocab_size < MAX_VOCAB_SIZE
    reference = LanguageModel(config)
    stored = load_file(os.path.join(folder, "model.safetensors"))
    reference.load_state_dict(_reference_weights(stored), strict=not config.tie_weights)
    reference.eval()
    loaded = load_checkpoint(folder)
    assert loaded.config == config and not loaded.model.training
    ours = loaded.model.state_dict()
    assert set(ours) == set(reference.state_dict())
    assert all(torch.equal(ours[key], value) for key, value in reference.state_dict().items())
    text = "Mr. Robert is going on a vacation with his wife to Hawaii next month. <eos> Zorglub!"
    raw = Tokenizer.from_file(os.path.join(folder, "tokenizer.json")).encode(text, add_special_tokens=False)
    encoded = loaded.tokenizer.encode(text)
    assert encoded.ids == raw.ids and encoded.offsets == [tuple(span) for span in raw.offsets]
    ids = torch.tensor([[loaded.tokenizer.eos_id, *encoded.ids]])  # [1, T]
    with torch.no_grad():
        assert torch.equal(loaded.model(ids)[0], reference(ids)[0])
