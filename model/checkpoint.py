"""Checkpoints: a folder with config.json, model.safetensors, tokenizer.json, metrics.json.

No pickle anywhere: weights are safetensors, everything else JSON. A save
writes a complete sibling folder first and then swaps it in with os.replace,
so an interrupted save never leaves a half-written checkpoint in place of a
good one. Loading checks every file and names what is wrong.
"""
from __future__ import annotations

import json
import os
import shutil
import struct
import tempfile
from dataclasses import dataclass
from typing import Any

import torch
from safetensors import SafetensorError
from safetensors.torch import load_file, save_file

from data.echo import shown
from data.file_modes import give_usual_mode, usual_file_mode, usual_folder_mode
from data.tokenizer import WordTokenizer, read_tokenizer_json
from model.config import ModelConfig
from model.language_model import LanguageModel
from model.leftovers import remove_stale_temporaries, writer_tag

CHECKPOINT_FILES = ("config.json", "model.safetensors", "tokenizer.json", "metrics.json")
# Weights may be stored in these dtypes (the shipped models are float16); they load as float32.
# Anything else (int64, bool, float64, ...) is refused rather than cast: it is not what a save writes.
STORAGE_DTYPES = {"F32": torch.float32, "F16": torch.float16, "BF16": torch.bfloat16}
_DTYPE_BYTES = {"F32": 4, "F16": 2, "BF16": 2}
MAX_JSON_BYTES = {"config.json": 1 << 20, "metrics.json": 64 << 20}
MAX_HEADER_BYTES = 16 << 20  # a safetensors header lists names, dtypes and shapes: a few kB here


class CheckpointError(ValueError):
    """A checkpoint folder is missing, incomplete or inconsistent."""


@dataclass
class Checkpoint:
    """A loaded checkpoint: the model in eval mode, its tokenizer, config and metrics."""

    path: str
    model: LanguageModel
    tokenizer: WordTokenizer
    config: ModelConfig
    metrics: dict[str, Any]

    @property
    def name(self) -> str:
        return os.path.basename(os.path.normpath(self.path))


TEMPORARY_JSON_PREFIX = ".tmp-"


def write_json_atomic(path: str, value: Any) -> None:
    """JSON to a temporary file in the same folder, then os.replace.

    The result has the mode any new file gets under the umask (0644 under 022), not mkstemp's 0600;
    a temporary left by a killed writer is removed by the next write into the same folder.
    """
    directory = os.path.dirname(os.path.abspath(path))
    remove_stale_temporaries(directory, TEMPORARY_JSON_PREFIX)
    handle, temporary = tempfile.mkstemp(dir=directory, prefix=f"{TEMPORARY_JSON_PREFIX}{writer_tag()}-", suffix=".json")
    try:
        with os.fdopen(handle, "w", encoding="utf-8") as stream:
            json.dump(value, stream, indent=2, ensure_ascii=False, allow_nan=False)
            stream.flush()
            os.fsync(stream.fileno())
        os.chmod(temporary, usual_file_mode())
        os.replace(temporary, path)
    finally:
        if os.path.exists(temporary):
            os.remove(temporary)


def state_for_saving(model: LanguageModel, dtype: torch.dtype = torch.float32) -> dict[str, torch.Tensor]:
    """Weights to store; a tied decoder matrix is stored once (under the embedding)."""
    tensors = {}
    for name, tensor in model.state_dict().items():
        if model.config.tie_weights and name == "decoder.weight":
            continue
        tensor = tensor.detach().cpu()
        tensors[name] = (tensor.to(dtype) if tensor.is_floating_point() else tensor).contiguous()
    return tensors


def save_checkpoint(
    path: str,
    model: LanguageModel,
    tokenizer: WordTokenizer,
    metrics: dict[str, Any],
    storage_dtype: torch.dtype = torch.float32,
) -> None:
    """Write a checkpoint folder atomically.

    Args:
        path: the checkpoint folder; replaced whole if it exists.
        storage_dtype: torch.float32, or torch.float16 to halve the file size.
    """
    path = os.path.abspath(path)
    parent = os.path.dirname(path)
    os.makedirs(parent, exist_ok=True)
    # What a killed save of this checkpoint left (never a save by a process still running).
    remove_stale_temporaries(parent, staging_prefix(path))
    staging = tempfile.mkdtemp(dir=parent, prefix=f"{staging_prefix(path)}{writer_tag()}-")
    try:
        with open(os.path.join(staging, "config.json"), "w", encoding="utf-8") as stream:
            stream.write(model.config.to_json())
        save_file(state_for_saving(model, storage_dtype), os.path.join(staging, "model.safetensors"))
        tokenizer.save(os.path.join(staging, "tokenizer.json"))
        metrics = dict(metrics, tokenizer_sha256=tokenizer.fingerprint(), storage_dtype=str(storage_dtype).replace("torch.", ""))
        write_json_atomic(os.path.join(staging, "metrics.json"), metrics)
        for name in CHECKPOINT_FILES:
            with open(os.path.join(staging, name), "rb") as stream:
                os.fsync(stream.fileno())
        _usual_permissions(staging)
        # Swap: the old folder moves aside, the new one takes its name, the old one goes.
        # If we die between the two renames, load_checkpoint falls back to the old one.
        previous = path + ".previous"
        if os.path.exists(path):
            if os.path.exists(previous):
                shutil.rmtree(previous)
            os.replace(path, previous)
        # else: a ".previous" left by an earlier interrupted swap is the only good copy; keep it
        # until the new folder is in place (its resume/ state is carried over below).
        os.replace(staging, path)
        if os.path.exists(previous):
            # Keep what else lived in the folder (a training run's resume/ state).
            for entry in os.listdir(previous):
                if entry not in CHECKPOINT_FILES and not os.path.exists(os.path.join(path, entry)):
                    os.replace(os.path.join(previous, entry), os.path.join(path, entry))
            shutil.rmtree(previous)
    finally:
        if os.path.exists(staging):
            shutil.rmtree(staging)


def staging_prefix(path: str) -> str:
    """".NAME.saving-": the start of the hidden staging folders of a save of checkpoint ``path``."""
    return f".{os.path.basename(os.path.normpath(path))}.saving-"


def _usual_permissions(folder: str) -> None:
    """mkdtemp/mkstemp make private 0700/0600 entries; give a checkpoint the permissions of any
    other new folder and file (0755/0644 under the common umask 022), so other users can read it."""
    os.chmod(folder, usual_folder_mode())
    for name in CHECKPOINT_FILES:
        give_usual_mode(os.path.join(folder, name))


def _read_json(path: str) -> dict[str, Any]:
    name = os.path.basename(path)
    limit = MAX_JSON_BYTES.get(name, 64 << 20)
    try:
        size = os.path.getsize(path)
        if size > limit:
            raise CheckpointError(f"{path} has {size:,} bytes; a checkpoint's {name} is at most {limit:,}. Re-save the checkpoint.")
        with open(path, encoding="utf-8") as stream:
            value = json.load(stream)
    except RecursionError:
        raise CheckpointError(f"{path} is not valid JSON for a checkpoint (nested too deeply). Re-save the checkpoint.") from None
    except (UnicodeDecodeError, ValueError) as error:  # JSONDecodeError, an integer of over 4300 digits
        if isinstance(error, CheckpointError):
            raise
        raise CheckpointError(f"{path} is not valid JSON ({shown(str(error), 160)}). Re-save the checkpoint or train it again.") from error
    if not isinstance(value, dict):
        raise CheckpointError(f"{path} must hold a JSON object; got {type(value).__name__}.")
    return value


def _is_complete(folder: str) -> bool:
    return all(os.path.isfile(os.path.join(folder, name)) for name in CHECKPOINT_FILES)


_GATES = {"rnn": 1, "lstm": 4, "gru": 3}


def expected_tensor_shapes(config: ModelConfig) -> dict[str, tuple[int, ...]]:
    """The name and shape of every stored tensor that ``config`` implies, computed without building the model.

    Matches :func:`state_for_saving` of ``LanguageModel(config)`` (tested for every arch and decoder),
    so a file can be checked against its config before a single weight is allocated.
    """
    gates, hidden = _GATES[config.arch], config.hidden_size
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


def _unreadable_weights(path: str, problem: str) -> CheckpointError:
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
                raise _unreadable_weights(folder, f"{size} bytes, shorter than a header")
            (length,) = struct.unpack("<Q", start)
            if length > min(MAX_HEADER_BYTES, size - 8):
                raise _unreadable_weights(folder, f"its first 8 bytes announce a {length:,}-byte header in a {size:,}-byte file")
            header = json.loads(stream.read(length))
    except CheckpointError:
        raise
    except RecursionError:
        raise _unreadable_weights(folder, "its header is nested too deeply") from None
    except (OSError, ValueError) as error:  # UnicodeDecodeError and JSONDecodeError are ValueErrors
        raise _unreadable_weights(folder, shown(str(error), 120)) from error
    if not isinstance(header, dict):
        raise _unreadable_weights(folder, "its header is not a JSON object")
    header.pop("__metadata__", None)
    data_size = size - 8 - length
    for name, entry in header.items():
        if not (isinstance(entry, dict) and isinstance(entry.get("dtype"), str) and isinstance(entry.get("shape"), list)
                and all(type(d) is int and d >= 0 for d in entry["shape"]) and isinstance(entry.get("data_offsets"), list)
                and len(entry["data_offsets"]) == 2 and all(type(o) is int for o in entry["data_offsets"])):
            raise _unreadable_weights(folder, f"the header entry {shown(name)} is not a tensor description")
        begin, end = entry["data_offsets"]
        if not 0 <= begin <= end <= data_size:
            raise _unreadable_weights(folder, f"tensor {shown(name)} lies at bytes {begin}..{end} of a {data_size:,}-byte data block: the file is truncated")
    return header


def _check_header(header: dict[str, dict[str, Any]], config: ModelConfig, folder: str) -> None:
    """Names, shapes and dtypes of the stored tensors against what config.json implies (no weight is read)."""
    expected = expected_tensor_shapes(config)
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
        if entry["dtype"] not in STORAGE_DTYPES:
            raise CheckpointError(
                f"Weight {name} in {folder} is stored as {shown(entry['dtype'])}; checkpoints hold float32, float16 or bfloat16 "
                "weights (F32, F16, BF16), and other types are refused rather than cast. Re-save it with model.checkpoint.save_checkpoint."
            )
        count = 1
        for dimension in shape:
            count *= dimension
        begin, end = entry["data_offsets"]
        if end - begin != count * _DTYPE_BYTES[entry["dtype"]]:
            raise _unreadable_weights(folder, f"tensor {name} has {end - begin} bytes of data for {count} values of {entry['dtype']}")


@dataclass
class CheckpointInfo:
    """What a checkpoint folder says about itself, checked against itself, without loading a weight.

    Attributes:
        path: the folder actually read (``NAME.previous`` after a save that died mid-swap).
        config: the model configuration (bounds checked).
        metrics: metrics.json.
        tokenizer_text: tokenizer.json's text (its structure checked).
    """

    path: str
    config: ModelConfig
    metrics: dict[str, Any]
    tokenizer_text: str


def inspect_checkpoint(path: str) -> CheckpointInfo:
    """Check a checkpoint folder from its small files and the weights' header only.

    Reads config.json, metrics.json, tokenizer.json and the first bytes of model.safetensors
    (its tensor table), and checks them against each other: sizes within bounds, the tokenizer's
    whole structure, its vocabulary against the embedding and metrics.json's fingerprint, every
    stored tensor's name, shape and dtype against the config. Fast enough to run on every folder
    on every rerun of the app; :func:`load_checkpoint` adds the weights.

    Raises:
        CheckpointError: naming the missing file, the bad field, the shape or dtype that does
            not match, or the tokenizer that does not fit.
    """
    path = os.path.abspath(path)
    if not _is_complete(path) and _is_complete(path + ".previous"):
        # A save died between its two renames (a resumed run may since have
        # recreated the folder with only its resume/ state in it).
        path = path + ".previous"
    if not os.path.isdir(path):
        raise CheckpointError(f"Checkpoint folder not found: {path}. Train one with `python -m model.train --out {path}`.")
    missing = [name for name in CHECKPOINT_FILES if not os.path.isfile(os.path.join(path, name))]
    if missing:
        raise CheckpointError(f"Checkpoint {path} is missing {', '.join(missing)}; a checkpoint needs {', '.join(CHECKPOINT_FILES)}.")

    try:
        config = ModelConfig.from_dict(_read_json(os.path.join(path, "config.json")))
    except (TypeError, ValueError) as error:
        if isinstance(error, CheckpointError):
            raise
        raise CheckpointError(f"config.json in {path} is invalid: {error}") from error
    metrics = _read_json(os.path.join(path, "metrics.json"))
    try:
        tokenizer_file = read_tokenizer_json(os.path.join(path, "tokenizer.json"))
    except ValueError as error:
        raise CheckpointError(str(error)) from error
    if tokenizer_file.vocab_size != config.vocab_size:
        raise CheckpointError(
            f"tokenizer.json in {path} has {tokenizer_file.vocab_size} tokens but the model's embedding has "
            f"{config.vocab_size} rows: the tokenizer does not belong to these weights. Copy the tokenizer.json it was trained with."
        )
    expected_fingerprint = metrics.get("tokenizer_sha256")
    if expected_fingerprint and expected_fingerprint != tokenizer_file.fingerprint:
        raise CheckpointError(
            f"tokenizer.json in {path} is not the one these weights were trained with "
            "(its vocabulary hash differs from metrics.json's tokenizer_sha256). Copy the original tokenizer.json back."
        )
    _check_header(read_safetensors_header(os.path.join(path, "model.safetensors"), path), config, path)
    return CheckpointInfo(path=path, config=config, metrics=metrics, tokenizer_text=tokenizer_file.text)


def load_checkpoint(path: str, device: str | torch.device = "cpu") -> Checkpoint:
    """Load and validate a checkpoint folder; the model comes back in eval mode.

    Everything :func:`inspect_checkpoint` checks is checked first, so a config or file that
    does not fit is refused before the model is built or a weight is read.

    Raises:
        CheckpointError: naming the missing file, the bad field, the shape that
            does not match, the tokenizer that does not fit, or the non-finite weight.
    """
    info = inspect_checkpoint(path)
    path, config = info.path, info.config
    # The vocabulary checked above, not a second read of a file that may have changed since.
    tokenizer = WordTokenizer.from_checked_json(info.tokenizer_text, os.path.join(path, "tokenizer.json"))
    try:
        stored = load_file(os.path.join(path, "model.safetensors"))
    except (SafetensorError, OSError, ValueError) as error:
        raise _unreadable_weights(path, shown(str(error), 160)) from error
    expected = expected_tensor_shapes(config)
    for name, tensor in stored.items():
        if name not in expected or tuple(tensor.shape) != expected[name] or tensor.dtype not in STORAGE_DTYPES.values():
            raise CheckpointError(f"model.safetensors in {path} changed while it was read (tensor {shown(name)}); load it again.")
        if not torch.isfinite(tensor).all():
            bad = int((~torch.isfinite(tensor)).sum())
            raise CheckpointError(f"Weight {name} in {path} has {bad} non-finite values (NaN or inf); the checkpoint is unusable.")
    if len(stored) != len(expected):
        raise CheckpointError(f"model.safetensors in {path} changed while it was read; load it again.")
    model = LanguageModel(config)
    own = model.state_dict()
    stored = {name: tensor.to(own[name].dtype) for name, tensor in stored.items()}
    model.load_state_dict(stored, strict=not config.tie_weights)
    model.to(device).eval()
    for parameter in model.parameters():
        parameter.requires_grad_(True)
    return Checkpoint(path=path, model=model, tokenizer=tokenizer, config=config, metrics=info.metrics)
