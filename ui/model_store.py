"""Find checkpoint folders and load them once per process (st.cache_resource).

Every sub-folder of the checkpoints root is listed on every rerun, so a model
saved a moment ago (by the Train tab or the CLI) appears at once. Loading is
cached on the folder path plus a signature of its files (sizes and mtimes), so
a retrained model is reloaded and an unchanged one never is. A folder that does
not load is reported with its error instead of crashing the page.
"""
from __future__ import annotations

import os
from dataclasses import dataclass

import streamlit as st

from model.checkpoint import CHECKPOINT_FILES, Checkpoint, CheckpointError, load_checkpoint
from ui.settings import PREFERRED_MODELS, checkpoints_root

Signature = tuple[tuple[str, int, int], ...]


@dataclass(frozen=True)
class ModelEntry:
    """One folder under the checkpoints root.

    Attributes:
        name: the folder name (what the picker shows).
        path: absolute folder path.
        signature: (file, size, mtime_ns) of each checkpoint file; part of every cache key.
        error: why it cannot be used, or None when it loaded.
        arch: "rnn", "lstm" or "gru" when it loaded.
    """

    name: str
    path: str
    signature: Signature
    error: str | None
    arch: str | None

    @property
    def ok(self) -> bool:
        """True when the folder loaded."""
        return self.error is None


def folder_signature(path: str) -> Signature:
    """Sizes and modification times of the checkpoint files (missing files are left out)."""
    entries = []
    for name in CHECKPOINT_FILES:
        try:
            info = os.stat(os.path.join(path, name))
        except OSError:
            continue
        entries.append((name, info.st_size, info.st_mtime_ns))
    return tuple(entries)


@st.cache_resource(show_spinner=False, max_entries=16)
def _load(path: str, signature: Signature) -> tuple[Checkpoint | None, str | None]:
    """Load one checkpoint; the error text instead when it cannot be used."""
    del signature  # only part of the cache key
    try:
        return load_checkpoint(path), None
    except CheckpointError as error:
        return None, str(error)
    except (OSError, ValueError, RuntimeError) as error:
        return None, f"{type(error).__name__}: {error}"


def get_checkpoint(entry: ModelEntry) -> Checkpoint:
    """The loaded (shared, eval-mode, never mutated) checkpoint of a usable entry.

    Raises:
        CheckpointError: when the folder does not load.
    """
    return checkpoint_at(entry.path, entry.signature)


def checkpoint_at(path: str, signature: Signature) -> Checkpoint:
    """The loaded checkpoint for a (path, signature) cache key; CheckpointError when it does not load."""
    checkpoint, error = _load(path, signature)
    if checkpoint is None:
        raise CheckpointError(f"The model in {path} cannot be used: {error}")
    return checkpoint


def _is_checkpoint_candidate(name: str) -> bool:
    # Hidden folders are a save in progress (.NAME.saving-*) or the old copy during a swap.
    return not name.startswith(".") and not name.endswith(".previous")


def discover(root: str | None = None) -> list[ModelEntry]:
    """Every folder under the checkpoints root, loaded (cached) and sorted: preferred names first.

    Args:
        root: the folder to scan; default :func:`ui.settings.checkpoints_root`.

    Returns:
        One entry per sub-folder; broken ones carry their error.
    """
    root = root or checkpoints_root()
    if not os.path.isdir(root):
        return []
    entries = []
    for name in sorted(os.listdir(root)):
        path = os.path.join(root, name)
        if not os.path.isdir(path) or not _is_checkpoint_candidate(name):
            continue
        signature = folder_signature(path)
        missing = [file for file in CHECKPOINT_FILES if file not in {item[0] for item in signature}]
        if missing and os.path.isdir(os.path.join(path, "resume")):
            error = "training in progress: no checkpoint saved yet (the first one is written after the first validation)."
            entries.append(ModelEntry(name, path, signature, error, None))
            continue
        checkpoint, error = _load(path, signature)
        arch = checkpoint.config.arch if checkpoint is not None else None
        entries.append(ModelEntry(name, path, signature, error, arch))
    order = {name: index for index, name in enumerate(PREFERRED_MODELS)}
    arch_rank = {"rnn": 0, "lstm": 1, "gru": 2}
    return sorted(entries, key=lambda entry: (not entry.ok, order.get(entry.name, len(order)), arch_rank.get(entry.arch or "", 3), entry.name))


def default_selection(entries: list[ModelEntry]) -> list[str]:
    """The models shown at start: the shipped trio when present, else the first three usable ones."""
    usable = [entry.name for entry in entries if entry.ok]
    preferred = [name for name in PREFERRED_MODELS if name in usable]
    return preferred or usable[:3]
