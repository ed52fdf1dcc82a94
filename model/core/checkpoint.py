"""Checkpoints: a folder with config.json, model.safetensors, tokenizer.json, metrics.json.

No pickle anywhere: weights are safetensors, everything else JSON. A save
writes a complete sibling folder first and then swaps it in with os.replace,
so an interrupted save never leaves a half-written checkpoint in place of a
good one. Loading checks every file and names what is wrong.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from dataclasses import dataclass
from typing import Any

import torch
from safetensors import SafetensorError
from safetensors.torch import load_file, save_file

from data.echo import shown
from data.files import give_usual_mode, swap_in_folder, usual_folder_mode, write_json_atomic
from data.leftovers import remove_stale_temporaries, writer_tag
from data.tokenizer import WordTokenizer, read_tokenizer_json
from model.core.checkpoint_files import (  # noqa: F401 - CheckpointError and the header checks are part of this module's API
    MAX_HEADER_BYTES,
    MAX_JSON_BYTES,
    STORAGE_DTYPES,
    CheckpointError,
    check_header,
    expected_tensor_shapes,
    read_json_object,
    read_safetensors_header,
    unreadable_weights,
)
from model.core.config import ModelConfig
from model.core.language_model import LanguageModel
from model.core.weight_storage import pack_state, unpack_state

CHECKPOINT_FILES = ("config.json", "model.safetensors", "tokenizer.json", "metrics.json")


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


def state_for_saving(model: LanguageModel, dtype: torch.dtype = torch.float32) -> dict[str, torch.Tensor]:
    """Weights to store; a tied decoder matrix is stored once (under the embedding)."""
    tensors = {}
    for name, tensor in model.state_dict().items():
        if model.config.tie_weights and name == "decoder.weight":
            continue
        tensor = tensor.detach().cpu()
        if dtype == torch.int8:  # quantized in pack_state below, from the float values
            tensors[name] = tensor.contiguous()
            continue
        tensors[name] = (tensor.to(dtype) if tensor.is_floating_point() else tensor).contiguous()
    return pack_state(tensors) if dtype == torch.int8 else tensors


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
        storage_dtype: torch.float32, torch.float16 to halve the file size, or torch.int8 for int8
            vocabulary-sized matrices with row scales and float16 for the rest (model/core/weight_storage.py).
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
        metrics = dict(
            metrics, tokenizer_sha256=tokenizer.fingerprint(), storage_dtype=str(storage_dtype).replace("torch.", "")
        )
        write_json_atomic(os.path.join(staging, "metrics.json"), metrics)
        for name in CHECKPOINT_FILES:
            with open(os.path.join(staging, name), "rb") as stream:
                os.fsync(stream.fileno())
        _usual_permissions(staging)
        # Swap: the old folder moves aside, the new one takes its name, the old one goes; what else
        # lived in the old folder (a training run's resume/ state) moves into the new one.
        # If we die between the two renames, load_checkpoint falls back to the ".previous" copy.
        swap_in_folder(staging, path, carry_over=lambda entry: entry not in CHECKPOINT_FILES)
    finally:
        if os.path.exists(staging):
            shutil.rmtree(staging)


def staging_prefix(path: str) -> str:
    """ ".NAME.saving-": the start of the hidden staging folders of a save of checkpoint ``path``."""
    return f".{os.path.basename(os.path.normpath(path))}.saving-"


def _usual_permissions(folder: str) -> None:
    """mkdtemp/mkstemp make private 0700/0600 entries; give a checkpoint the permissions of any
    other new folder and file (0755/0644 under the common umask 022), so other users can read it."""
    os.chmod(folder, usual_folder_mode())
    for name in CHECKPOINT_FILES:
        give_usual_mode(os.path.join(folder, name))


def _is_complete(folder: str) -> bool:
    return all(os.path.isfile(os.path.join(folder, name)) for name in CHECKPOINT_FILES)


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
        raise CheckpointError(
            f"Checkpoint folder not found: {path}. Train one with `python -m model.train --out {path}`."
        )
    missing = [name for name in CHECKPOINT_FILES if not os.path.isfile(os.path.join(path, name))]
    if missing:
        raise CheckpointError(
            f"Checkpoint {path} is missing {', '.join(missing)}; a checkpoint needs {', '.join(CHECKPOINT_FILES)}."
        )

    try:
        config = ModelConfig.from_dict(read_json_object(os.path.join(path, "config.json")))
    except (TypeError, ValueError) as error:
        if isinstance(error, CheckpointError):
            raise
        raise CheckpointError(f"config.json in {path} is invalid: {error}") from error
    metrics = read_json_object(os.path.join(path, "metrics.json"))
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
    check_header(read_safetensors_header(os.path.join(path, "model.safetensors"), path), config, path)
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
    try:
        tokenizer = WordTokenizer.from_checked_json(info.tokenizer_text, os.path.join(path, "tokenizer.json"))
    except ValueError as error:  # the tokenizers parser refused what the format check let through
        raise CheckpointError(str(error)) from error
    try:
        stored = load_file(os.path.join(path, "model.safetensors"))
    except (SafetensorError, OSError, ValueError) as error:
        raise unreadable_weights(path, shown(str(error), 160)) from error
    try:
        stored = unpack_state(stored)  # int8 matrices times their row scales; other tensors as stored
    except ValueError as error:
        raise unreadable_weights(path, shown(str(error), 160)) from None
    expected = expected_tensor_shapes(config)
    for name, tensor in stored.items():
        if name not in expected or tuple(tensor.shape) != expected[name] or tensor.dtype not in STORAGE_DTYPES.values():
            raise CheckpointError(
                f"model.safetensors in {path} changed while it was read (tensor {shown(name)}); load it again."
            )
        if not torch.isfinite(tensor).all():
            bad = int((~torch.isfinite(tensor)).sum())
            raise CheckpointError(
                f"Weight {name} in {path} has {bad} non-finite values (NaN or inf); the checkpoint is unusable."
            )
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
