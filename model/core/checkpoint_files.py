"""Reading a checkpoint's files without trusting them: bounded JSON, and the weights' header
checked against config.json before a single weight is allocated.

A safetensors file starts with 8 bytes giving the length of a JSON table (name -> dtype, shape,
byte range); reading that table costs a few kilobytes whatever the file's size. Comparing it with
the shapes config.json implies (computed here without building the model) refuses a config that
would allocate gigabytes, a file that does not fit it, or weights of a dtype no save writes.
"""

from __future__ import annotations

import json
import os
import struct
from typing import Any

import torch

from data.echo import shown
from model.core.config import CELLS, ModelConfig
from model.core.weight_storage import SCALE_SUFFIX, header_problems

# Weights may be stored in these dtypes (the shipped models are float16); they load as float32.
# Anything else (int64, bool, float64, ...) is refused rather than cast: it is not what a save writes.
STORAGE_DTYPES = {"F32": torch.float32, "F16": torch.float16, "BF16": torch.bfloat16}
_DTYPE_BYTES = {"F32": 4, "F16": 2, "BF16": 2, "I8": 1}
MAX_JSON_BYTES = {"config.json": 1 << 20, "metrics.json": 64 << 20}
MAX_HEADER_BYTES = 16 << 20  # a safetensors header lists names, dtypes and shapes: a few kB here


class CheckpointError(ValueError):
    """A checkpoint folder is missing, incomplete or inconsistent."""


def read_json_object(path: str) -> dict[str, Any]:
    """A checkpoint's JSON file as a dict; CheckpointError for a file too large, not JSON, nested too deeply or not an object."""
    name = os.path.basename(path)
    limit = MAX_JSON_BYTES.get(name, 64 << 20)
    try:
        size = os.path.getsize(path)
        if size > limit:
            raise CheckpointError(
                f"{path} has {size:,} bytes; a checkpoint's {name} is at most {limit:,}. Re-save the checkpoint."
            )
        with open(path, encoding="utf-8") as stream:
            value = json.load(stream)
    except RecursionError:
        raise CheckpointError(
            f"{path} is not valid JSON for a checkpoint (nested too deeply). Re-save the checkpoint."
        ) from None
    except (UnicodeDecodeError, ValueError) as error:  # JSONDecodeError, an integer of over 4300 digits
        if isinstance(error, CheckpointError):
            raise
        raise CheckpointError(
            f"{path} is not valid JSON ({shown(str(error), 160)}). Re-save the checkpoint or train it again."
        ) from error
    if not isinstance(value, dict):
        raise CheckpointError(f"{path} must hold a JSON object; got {type(value).__name__}.")
    return value


def expected_tensor_shapes(config: ModelConfig) -> dict[str, tuple[int, ...]]:
    """The name and shape of every stored tensor that ``config`` implies, computed without building the model.

    Matches :func:`state_for_saving` of ``LanguageModel(config)`` (tested for every arch and decoder),
    so a file can be checked against its config before a single weight is allocated.
    """
    gates, hidden = CELLS[config.arch].gate_blocks, config.hidden_size
    shapes: dict[str, tuple[int, ...]] = {"embedding.weight": (config.vocab_size, config.embedding_size)}
    for layer in range(config.num_layers):
        width = config.embedding_size if layer == 0 else hidden
        shapes[f"recurrent.weight_ih_l{layer}"] = (gates * hidden, width)
        shapes[f"recurrent.weight_hh_l{layer}"] = (gates * hidden, hidden)
        shapes[f"recurrent.bias_ih_l{layer}"] = (gates * hidden,)
        shapes[f"recurrent.bias_hh_l{layer}"] = (gates * hidden,)
    if config.decoder == "full":
        if not config.tie_weights:
            shapes["decoder.weight"] = (config.vocab_size, hidden)
        shapes["decoder.bias"] = (config.vocab_size,)
    else:  # nn.AdaptiveLogSoftmaxWithLoss: a head over the shortlist and one cluster slot per tail
        cutoffs = list(config.adaptive_cutoffs) + [config.vocab_size]
        shapes["decoder.head.weight"] = (cutoffs[0] + len(cutoffs) - 1, hidden)
        for index in range(len(cutoffs) - 1):
            projection = int(hidden // (config.adaptive_div_value ** (index + 1)))
            shapes[f"decoder.tail.{index}.0.weight"] = (projection, hidden)
            shapes[f"decoder.tail.{index}.1.weight"] = (cutoffs[index + 1] - cutoffs[index], projection)
    return shapes


def unreadable_weights(path: str, problem: str) -> CheckpointError:
    return CheckpointError(
        f"model.safetensors in {path} is not a readable safetensors file ({problem}). "
        "It may be truncated or another format (pickles are refused); re-save the checkpoint."
    )


def read_safetensors_header(file: str, folder: str) -> dict[str, dict[str, Any]]:
    """The tensor table of a safetensors file (name -> dtype, shape, data_offsets), read without its data.

    Raises:
        CheckpointError: not a safetensors file, a header that does not describe the file's bytes.
    """
    try:
        size = os.path.getsize(file)
        with open(file, "rb") as stream:
            start = stream.read(8)
            if len(start) < 8:
                raise unreadable_weights(folder, f"{size} bytes, shorter than a header")
            (length,) = struct.unpack("<Q", start)
            if length > min(MAX_HEADER_BYTES, size - 8):
                raise unreadable_weights(
                    folder, f"its first 8 bytes announce a {length:,}-byte header in a {size:,}-byte file"
                )
            header = json.loads(stream.read(length))
    except CheckpointError:
        raise
    except RecursionError:
        raise unreadable_weights(folder, "its header is nested too deeply") from None
    except (OSError, ValueError) as error:  # UnicodeDecodeError and JSONDecodeError are ValueErrors
        raise unreadable_weights(folder, shown(str(error), 120)) from error
    if not isinstance(header, dict):
        raise unreadable_weights(folder, "its header is not a JSON object")
    header.pop("__metadata__", None)
    data_size = size - 8 - length
    for name, entry in header.items():
        if not (
            isinstance(entry, dict)
            and isinstance(entry.get("dtype"), str)
            and isinstance(entry.get("shape"), list)
            and all(type(d) is int and d >= 0 for d in entry["shape"])
            and isinstance(entry.get("data_offsets"), list)
            and len(entry["data_offsets"]) == 2
            and all(type(o) is int for o in entry["data_offsets"])
        ):
            raise unreadable_weights(folder, f"the header entry {shown(name)} is not a tensor description")
        begin, end = entry["data_offsets"]
        if not 0 <= begin <= end <= data_size:
            raise unreadable_weights(
                folder,
                f"tensor {shown(name)} lies at bytes {begin}..{end} of a {data_size:,}-byte data block: the file is truncated",
            )
    return header


def check_header(header: dict[str, dict[str, Any]], config: ModelConfig, folder: str) -> None:
    """Names, shapes and dtypes of the stored tensors against what config.json implies (no weight is read)."""
    expected = expected_tensor_shapes(config)
    # int8 matrices come with a row scale each (model/core/weight_storage.py): check the pairs, then the weights.
    scales = {name: entry for name, entry in header.items() if name.endswith(SCALE_SUFFIX)}
    header, problems = header_problems(header)
    if problems:
        raise CheckpointError(
            f"model.safetensors in {folder} has int8 weights that do not fit: {shown(problems[0], 200)}."
        )
    for name, entry in scales.items():
        if entry["data_offsets"][1] - entry["data_offsets"][0] != entry["shape"][0] * _DTYPE_BYTES[entry["dtype"]]:
            raise unreadable_weights(folder, f"the row scale {name} has the wrong number of bytes")
    unexpected = sorted(set(header) - set(expected))
    absent = sorted(set(expected) - set(header))
    if unexpected or absent:
        raise CheckpointError(
            f"model.safetensors in {folder} does not fit config.json: missing {absent[:5]}, unexpected {shown(unexpected[:5], 200)}."
        )
    for name, shape in expected.items():
        entry = header[name]
        if tuple(entry["shape"]) != shape:
            raise CheckpointError(
                f"Weight {name} in {folder} has shape {shown(tuple(entry['shape']))} but config.json implies {shape}."
            )
        if entry["dtype"] not in STORAGE_DTYPES and entry["dtype"] != "I8":  # I8 only with its scale, checked above
            raise CheckpointError(
                f"Weight {name} in {folder} is stored as {shown(entry['dtype'])}; checkpoints hold float32, float16 or bfloat16 "
                "weights (F32, F16, BF16), or int8 matrices with row scales, and other types are refused rather than cast. Re-save it with model.core.checkpoint.save_checkpoint."
            )
        count = 1
        for dimension in shape:
            count *= dimension
        begin, end = entry["data_offsets"]
        if end - begin != count * _DTYPE_BYTES[entry["dtype"]]:
            raise unreadable_weights(
                folder, f"tensor {name} has {end - begin} bytes of data for {count} values of {entry['dtype']}"
            )
