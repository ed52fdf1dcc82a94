"""Find checkpoint folders and load them once per process (st.cache_resource).

Every sub-folder of the checkpoints root is listed on every rerun, so a model
saved a moment ago (by the Train tab or the CLI) appears at once. Listing reads
only the small files (config.json, metrics.json, tokenizer.json and the header
of model.safetensors, through model.core.checkpoint.inspect_checkpoint), remembered
by folder path plus a signature of its files (sizes and mtimes); the weights
are loaded only for the models a session picks, once (st.cache_resource). So
a retrained model is re-read and an unchanged one never is, however many
folders there are. A folder that cannot be used is listed with a one-line
reason, whatever the error, and never takes the page down.
"""

from __future__ import annotations

import logging
import os
import shutil
import threading
from dataclasses import dataclass

import streamlit as st

from data.leftovers import WRITER_FILE, abandoned_by_dead_writer
from model.core.checkpoint import CHECKPOINT_FILES, Checkpoint, CheckpointError, inspect_checkpoint, load_checkpoint
from ui.settings import PREFERRED_MODELS, checkpoints_root

LOGGER = logging.getLogger("memory_lab.models")
Signature = tuple[tuple[str, int, int], ...]
REASON_CHARACTERS = 300
# Folders whose small files check out but whose weights then failed to load (NaN weights, a file
# replaced between the two reads): discovery lists them as not usable from then on, until they change.
_LOAD_FAILURES: dict[tuple[str, Signature], str] = {}


@dataclass(frozen=True)
class ModelEntry:
    """One folder under the checkpoints root.

    Attributes:
        name: the folder name (what the picker shows).
        path: absolute folder path.
        signature: (file, size, mtime_ns) of each checkpoint file; part of every cache key.
        error: why it cannot be used (one line), or None when its files check out.
        arch: "rnn", "lstm" or "gru" when its files check out.
    """

    name: str
    path: str
    signature: Signature
    error: str | None
    arch: str | None

    @property
    def ok(self) -> bool:
        """True when the folder's files check out (its weights load when it is first used)."""
        return self.error is None


def folder_signature(path: str) -> Signature:
    """Sizes and modification times of the checkpoint files (missing files are left out)."""
    entries = []
    for name in CHECKPOINT_FILES:
        try:
            info = os.stat(os.path.join(path, name))
        except (OSError, ValueError):
            continue
        entries.append((name, info.st_size, info.st_mtime_ns))
    return tuple(entries)


def one_line(error: BaseException) -> str:
    """An error as one short line for the folder list: its text, or its type when it has none."""
    text = " ".join(str(error).split())
    if not isinstance(error, CheckpointError):
        text = f"{type(error).__name__}: {text}" if text else type(error).__name__
    return text if len(text) <= REASON_CHARACTERS else text[: REASON_CHARACTERS - 1] + "…"


def _is_panic(error: BaseException) -> bool:
    return type(error).__name__ == "PanicException"


# Inspection results by (path, signature). A plain dict, not st.cache_resource: Streamlit hashes a cached
# function's arguments on every call (about 2 ms per folder on this CPU, so 60 ms per rerun with 30
# folders), and these are small tuples that never go stale (the signature changes with the files).
_INSPECTED: dict[tuple[str, Signature], tuple[str | None, str | None]] = {}
_INSPECTED_LIMIT = 4096
_LOCK = threading.Lock()


def clear_inspections() -> None:
    """Forget every folder's inspection and load failure (tests and benches that need a cold start)."""
    with _LOCK:
        _INSPECTED.clear()
        _LOAD_FAILURES.clear()


def _inspect(path: str, signature: Signature) -> tuple[str | None, str | None]:
    """(arch, None) when the folder's small files check out, else (None, the reason in one line); memoized."""
    key = (path, signature)
    known = _INSPECTED.get(key)
    if known is not None:
        return known
    try:
        result: tuple[str | None, str | None] = (inspect_checkpoint(path).config.arch, None)
    except Exception as error:  # noqa: BLE001 - one bad folder must never take the page down
        if not isinstance(error, CheckpointError):
            LOGGER.warning("checking %s failed", path, exc_info=True)
        result = (None, one_line(error))
    except BaseException as error:  # the tokenizers library's PanicException is a BaseException
        if not _is_panic(error):
            raise
        result = (None, one_line(error))
    with _LOCK:
        if len(_INSPECTED) >= _INSPECTED_LIMIT:
            _INSPECTED.pop(next(iter(_INSPECTED)))
        _INSPECTED[key] = result
    return result


@st.cache_resource(show_spinner=False, max_entries=16)
def _load(path: str, signature: Signature) -> tuple[Checkpoint | None, str | None]:
    """Load one checkpoint's weights (only for the models in use); the error text instead when it cannot be used."""
    try:
        return load_checkpoint(path), None
    except Exception as error:  # noqa: BLE001 - shown on the page, never a traceback
        if not isinstance(error, CheckpointError):
            LOGGER.warning("loading %s failed", path, exc_info=True)
        _LOAD_FAILURES[(path, signature)] = one_line(error)
        return None, one_line(error)
    except BaseException as error:
        if not _is_panic(error):
            raise
        _LOAD_FAILURES[(path, signature)] = one_line(error)
        return None, one_line(error)


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


def _reclaim_abandoned_output(path: str) -> bool:
    """Remove a Train-tab output folder whose run died (server killed) before its first checkpoint.

    Only a folder holding the Train tab's writer record of a process that no longer runs, and no
    checkpoint file, qualifies: the name is free again, as after a run stopped from the page.
    """
    if not os.path.isfile(os.path.join(path, WRITER_FILE)) or any(
        os.path.exists(os.path.join(path, name)) for name in CHECKPOINT_FILES
    ):
        return False
    if not abandoned_by_dead_writer(path):
        return False
    shutil.rmtree(path, ignore_errors=True)
    LOGGER.info("removed %s: a Train-tab run there ended before its first checkpoint", path)
    return not os.path.exists(path)


def _entry(name: str, path: str) -> ModelEntry | None:
    signature = folder_signature(path)
    present = {item[0] for item in signature}
    if len(present) < len(CHECKPOINT_FILES):
        if _reclaim_abandoned_output(path):
            return None
        if os.path.isdir(os.path.join(path, "resume")) or os.path.isfile(os.path.join(path, WRITER_FILE)):
            error = (
                "training in progress: no checkpoint saved yet (the first one is written after the first validation)."
            )
            return ModelEntry(name, path, signature, error, None)
    arch, error = _inspect(path, signature)
    error = error or _LOAD_FAILURES.get((path, signature))
    return ModelEntry(name, path, signature, error, arch if error is None else None)


def discover(root: str | None = None) -> list[ModelEntry]:
    """Every folder under the checkpoints root, checked from its small files (cached) and sorted: preferred names first.

    Args:
        root: the folder to scan; default :func:`ui.settings.checkpoints_root`.

    Returns:
        One entry per sub-folder; unusable ones carry a one-line reason.
    """
    root = root or checkpoints_root()
    try:
        names = sorted(os.listdir(root))
    except OSError:
        return []
    entries = []
    for name in names:
        path = os.path.join(root, name)
        try:
            if not _is_checkpoint_candidate(name) or not os.path.isdir(path):
                continue
            entry = _entry(name, path)
        except Exception as error:  # noqa: BLE001 - e.g. a folder that vanished or cannot be read mid-listing
            entry = ModelEntry(name, path, (), one_line(error), None)
        if entry is not None:
            entries.append(entry)
    order = {name: index for index, name in enumerate(PREFERRED_MODELS)}
    arch_rank = {"rnn": 0, "lstm": 1, "gru": 2}
    return sorted(
        entries,
        key=lambda entry: (
            not entry.ok,
            order.get(entry.name, len(order)),
            arch_rank.get(entry.arch or "", 3),
            entry.name,
        ),
    )


def default_selection(entries: list[ModelEntry]) -> list[str]:
    """The models shown at start: the shipped trio when present, else the first three usable ones."""
    usable = [entry.name for entry in entries if entry.ok]
    preferred = [name for name in PREFERRED_MODELS if name in usable]
    return preferred or usable[:3]
