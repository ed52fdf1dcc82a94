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
import tempfile
from dataclasses import dataclass
from typing import Any

import torch
from safetensors import SafetensorError
from safetensors.torch import load_file, save_file

from data.tokenizer import WordTokenizer
from model.config import ModelConfig
from model.language_model import LanguageModel

CHECKPOINT_FILES = ("config.json", "model.safetensors", "tokenizer.json", "metrics.json")


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


def write_json_atomic(path: str, value: Any) -> None:
    """JSON to a temporary file in the same folder, then os.replace."""
    directory = os.path.dirname(os.path.abspath(path))
    handle, temporary = tempfile.mkstemp(dir=directory, prefix=".tmp-", suffix=".json")
    try:
        with os.fdopen(handle, "w", encoding="utf-8") as stream:
            json.dump(value, stream, indent=2, ensure_ascii=False, allow_nan=False)
            stream.flush()
            os.fsync(stream.fileno())
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
    staging = tempfile.mkdtemp(dir=parent, prefix=f".{os.path.basename(path)}.saving-")
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


def _usual_permissions(folder: str) -> None:
    """mkdtemp/mkstemp make private 0700/0600 entries; give a checkpoint the permissions of any
    other new folder and file (0755/0644 under the common umask 022), so other users can read it."""
    umask = 0o022
    try:
        with open("/proc/self/status", encoding="ascii") as stream:  # read without changing the process umask
            umask = next((int(line.split()[1], 8) for line in stream if line.startswith("Umask:")), umask)
    except OSError:
        pass
    os.chmod(folder, 0o777 & ~umask)
    for name in CHECKPOINT_FILES:
        os.chmod(os.path.join(folder, name), 0o666 & ~umask)


def _read_json(path: str) -> dict[str, Any]:
    try:
        with open(path, encoding="utf-8") as stream:
            value = json.load(stream)
    except (UnicodeDecodeError, json.JSONDecodeError) as error:
        raise CheckpointError(f"{path} is not valid JSON ({error}). Re-save the checkpoint or train it again.") from error
    if not isinstance(value, dict):
        raise CheckpointError(f"{path} must hold a JSON object; got {type(value).__name__}.")
    return value


def _is_complete(folder: str) -> bool:
    return all(os.path.isfile(os.path.join(folder, name)) for name in CHECKPOINT_FILES)


def load_checkpoint(path: str, device: str | torch.device = "cpu") -> Checkpoint:
    """Load and validate a checkpoint folder; the model comes back in eval mode.

    Raises:
        CheckpointError: naming the missing file, the bad field, the shape that
            does not match, the tokenizer that does not fit, or the non-finite weight.
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
        tokenizer = WordTokenizer.load(os.path.join(path, "tokenizer.json"))
    except ValueError as error:
        raise CheckpointError(str(error)) from error
    if tokenizer.vocab_size != config.vocab_size:
        raise CheckpointError(
            f"tokenizer.json in {path} has {tokenizer.vocab_size} tokens but the model's embedding has "
            f"{config.vocab_size} rows: the tokenizer does not belong to these weights. Copy the tokenizer.json it was trained with."
        )
    expected_fingerprint = metrics.get("tokenizer_sha256")
    if expected_fingerprint and expected_fingerprint != tokenizer.fingerprint():
        raise CheckpointError(
            f"tokenizer.json in {path} is not the one these weights were trained with "
            "(its vocabulary hash differs from metrics.json's tokenizer_sha256). Copy the original tokenizer.json back."
        )

    try:
        stored = load_file(os.path.join(path, "model.safetensors"))
    except (SafetensorError, OSError, ValueError) as error:
        raise CheckpointError(
            f"model.safetensors in {path} is not a readable safetensors file ({error}). "
            "It may be truncated or another format (pickles are refused); re-save the checkpoint."
        ) from error
    model = LanguageModel(config)
    expected = state_for_saving(model)
    unexpected = sorted(set(stored) - set(expected))
    absent = sorted(set(expected) - set(stored))
    if unexpected or absent:
        raise CheckpointError(
            f"model.safetensors in {path} does not fit config.json: missing {absent[:5]}, unexpected {unexpected[:5]}."
        )
    for name, tensor in stored.items():
        if tensor.shape != expected[name].shape:
            raise CheckpointError(
                f"Weight {name} in {path} has shape {tuple(tensor.shape)} but config.json implies {tuple(expected[name].shape)}."
            )
        if tensor.is_floating_point() and not torch.isfinite(tensor).all():
            bad = int((~torch.isfinite(tensor)).sum())
            raise CheckpointError(f"Weight {name} in {path} has {bad} non-finite values (NaN or inf); the checkpoint is unusable.")
    stored = {name: tensor.to(expected[name].dtype) for name, tensor in stored.items()}
    model.load_state_dict(stored, strict=not config.tie_weights)
    model.to(device).eval()
    for parameter in model.parameters():
        parameter.requires_grad_(True)
    return Checkpoint(path=path, model=model, tokenizer=tokenizer, config=config, metrics=metrics)
