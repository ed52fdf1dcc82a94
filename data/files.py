"""Writing files so that no reader ever sees half of one, with the permissions of an ordinary file.

One way to write, used for every file the project keeps (JSON, tokenizer.json, token caches,
checkpoint and resume folders): the content goes to a temporary name in the same folder
(``.tmp-PID.TICKS-*``, see data/leftovers.py), is flushed to disk, and is renamed over the
target with os.replace, which is atomic on one file system. A folder is written whole under a
staging name and swapped in by :func:`swap_in_folder`.

mkstemp makes 0600 files and mkdtemp 0700 folders: private, which is right for a scratch file but
wrong for a checkpoint that the app server, another user or a later `cp -r` must read. After the
write, every such file and folder gets the mode any plain `open()` / `mkdir` would have given it
under the process's umask (0644 / 0755 with the common umask 022).
"""

from __future__ import annotations

import json
import math
import os
import shutil
import tempfile
from typing import Any, Callable

from data.leftovers import remove_stale_temporaries, writer_tag

TEMPORARY_PREFIX = ".tmp-"
_DEFAULT_UMASK = 0o022


def current_umask() -> int:
    """The process umask, read without changing it (os.umask can only be read by setting it,
    which would race with other threads creating files)."""
    try:
        with open("/proc/self/status", encoding="ascii") as stream:
            for line in stream:
                if line.startswith("Umask:"):
                    return int(line.split()[1], 8)
    except (OSError, ValueError, IndexError):
        pass
    return _DEFAULT_UMASK


def usual_file_mode() -> int:
    """What open(path, "w") would give a new file under the current umask."""
    return 0o666 & ~current_umask()


def usual_folder_mode() -> int:
    """What os.mkdir would give a new folder under the current umask."""
    return 0o777 & ~current_umask()


def give_usual_mode(path: str) -> None:
    """chmod a file or folder made by mkstemp / mkdtemp to the mode of an ordinary new one."""
    os.chmod(path, usual_folder_mode() if os.path.isdir(path) else usual_file_mode())


def _fsync_file(path: str) -> None:
    with open(path, "rb") as stream:
        os.fsync(stream.fileno())


def write_atomic(path: str, write: Callable[[str], None], suffix: str = "") -> None:
    """Write ``path`` through a temporary file: ``write(temporary_path)`` fills it, then os.replace.

    The result has the mode any new file gets under the umask (0644 under 022), not mkstemp's 0600.
    A temporary left in the folder by a killed writer is removed by the next write into it; one of
    a writer still running is left alone. On an error the temporary goes and ``path`` is untouched.
    """
    directory = os.path.dirname(os.path.abspath(path))
    remove_stale_temporaries(directory, TEMPORARY_PREFIX)
    handle, temporary = tempfile.mkstemp(dir=directory, prefix=f"{TEMPORARY_PREFIX}{writer_tag()}-", suffix=suffix)
    os.close(handle)
    try:
        write(temporary)
        _fsync_file(temporary)
        os.chmod(temporary, usual_file_mode())
        os.replace(temporary, path)
    finally:
        if os.path.exists(temporary):
            os.remove(temporary)


def json_ready(value: Any) -> Any:
    """A JSON-safe copy: tensors and numpy arrays to lists, tuples to lists, keys to strings, NaN and
    infinities to None (JSON has neither; charts draw None as a gap). The one cleaner for every report."""
    if hasattr(value, "tolist") and not isinstance(value, (str, bytes)):  # torch.Tensor, numpy arrays and scalars
        if hasattr(value, "detach"):
            value = value.detach().double()
        value = value.tolist()
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {str(key): json_ready(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [json_ready(item) for item in value]
    return value


def finite_or_none(value: float) -> float | None:
    """One number for JSON: NaN and infinities become None."""
    value = float(value)
    return value if math.isfinite(value) else None


def write_json_atomic(path: str, value: Any) -> None:
    """``value`` as indented UTF-8 JSON (NaN refused: JSON has none) through :func:`write_atomic`."""

    def dump(temporary: str) -> None:
        with open(temporary, "w", encoding="utf-8") as stream:
            json.dump(value, stream, indent=2, ensure_ascii=False, allow_nan=False)

    write_atomic(path, dump, ".json")


def swap_in_folder(staging: str, path: str, carry_over: Callable[[str], bool] | None = None) -> None:
    """Put the finished folder ``staging`` in the place of ``path`` (two renames).

    The old folder moves to ``path + ".previous"`` for the instant between the renames, so a
    process killed there leaves a complete copy that readers fall back to; it is deleted once the
    new one is in place. Entries of the old folder for which ``carry_over(name)`` is true, and that
    the new one lacks, move into the new one first (a checkpoint keeps its training run's resume/).
    A ``.previous`` left by an earlier interrupted swap, with no ``path`` beside it, is the only good
    copy: it stays until the new folder has taken its place.
    """
    previous = path + ".previous"
    if os.path.exists(path):
        if os.path.exists(previous):
            shutil.rmtree(previous)
        os.replace(path, previous)
    os.replace(staging, path)
    if os.path.exists(previous):
        if carry_over is not None:
            for entry in os.listdir(previous):
                if carry_over(entry) and not os.path.exists(os.path.join(path, entry)):
                    os.replace(os.path.join(previous, entry), os.path.join(path, entry))
        shutil.rmtree(previous)
