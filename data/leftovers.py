"""What a killed process leaves behind, and how to tell it from work still in progress.

Checkpoints and resumable states are written into a hidden staging folder first
(``.NAME.saving-*``, ``.resume.saving-*``) and renamed into place, so a kill -9
mid-save never damages the previous copy, but it does leave the staging folder.
The Train tab creates its output folders before the first checkpoint exists, so
a server killed mid-run leaves an empty folder that blocks the model name.

Every such name now carries its writer: the process id and the process's start
time (clock ticks since boot, /proc/PID/stat field 22), so a reused pid is not
mistaken for the writer. A leftover is removed only when

* its writer is known and is no longer running (on this machine), or
* its writer is unknown (a name written before writers were recorded) and
  nothing in it has changed for :data:`STALE_AFTER_S` seconds: a live save
  writes continuously, so a minute of silence means it died.

A save in progress by another live process is never touched.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import socket
import time
from typing import NamedTuple

STALE_AFTER_S = 60.0
WRITER_FILE = ".memory-lab-writer.json"  # marks a Train-tab output folder while its run is going


class Writer(NamedTuple):
    """A process, identified beyond its pid (pids are reused)."""

    pid: int
    start_ticks: int  # 0 when unknown (no /proc)


def _start_ticks(pid: int) -> int | None:
    try:
        with open(f"/proc/{pid}/stat", encoding="ascii", errors="replace") as stream:
            # The command name may hold spaces and ")": the fields after the last ")" are fixed.
            return int(stream.read().rsplit(")", 1)[1].split()[19])
    except (OSError, IndexError, ValueError):
        return None


def this_writer() -> Writer:
    """The calling process (computed on each call, so a forked child is itself)."""
    return Writer(os.getpid(), _start_ticks(os.getpid()) or 0)


def writer_tag() -> str:
    """ "PID.TICKS": the calling process, as it goes into a staging name."""
    writer = this_writer()
    return f"{writer.pid}.{writer.start_ticks}"


def is_running(writer: Writer) -> bool:
    """True while ``writer`` runs on this machine (a process of another user counts as running)."""
    if writer.pid == os.getpid():
        return True
    if writer.pid <= 0:
        return False
    try:
        os.kill(writer.pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    except OverflowError:
        return False
    ticks = _start_ticks(writer.pid)
    # Same pid, later start: the writer died and its pid went to a new process.
    return not (writer.start_ticks and ticks is not None and ticks != writer.start_ticks)


def _newest_change(path: str) -> float:
    """The latest modification time of a folder and everything in it (a file that grows updates its own)."""
    newest = os.lstat(path).st_mtime
    for directory, folders, files in os.walk(path):
        for name in folders + files:
            try:
                newest = max(newest, os.lstat(os.path.join(directory, name)).st_mtime)
            except OSError:
                continue
    return newest


def _writer_in_name(suffix: str) -> Writer | None:
    match = re.match(r"(\d+)\.(\d+)-", suffix)
    return Writer(int(match.group(1)), int(match.group(2))) if match else None


def is_stale(path: str, writer: Writer | None, now: float | None = None) -> bool:
    """Whether a leftover at ``path`` may be deleted (see the module docstring for the rule)."""
    if writer is not None:
        return not is_running(writer)
    try:
        return (now if now is not None else time.time()) - _newest_change(path) > STALE_AFTER_S
    except OSError:
        return False


def remove_stale_temporaries(folder: str, prefix: str) -> list[str]:
    """Delete the entries of ``folder`` named ``prefix`` + [PID.TICKS-] + anything that are stale.

    Args:
        folder: where to look (a missing folder means nothing to do).
        prefix: e.g. ".NAME.saving-" or ".resume.saving-".

    Returns:
        The paths removed.
    """
    try:
        names = os.listdir(folder)
    except OSError:
        return []
    removed = []
    for name in names:
        if not name.startswith(prefix):
            continue
        path = os.path.join(folder, name)
        if not is_stale(path, _writer_in_name(name[len(prefix) :])):
            continue
        try:
            if os.path.isdir(path) and not os.path.islink(path):
                shutil.rmtree(path)
            else:
                os.remove(path)
            removed.append(path)
        except OSError:
            continue  # another process cleaned it first, or it is not ours to remove
    return removed


# ------------------------------------------------------------------ Train-tab output folders
def claim_output(path: str) -> None:
    """Create ``path`` and record this process as its writer (the Train tab, before training starts)."""
    os.makedirs(path, exist_ok=True)
    writer = this_writer()
    record = {
        "pid": writer.pid,
        "start_ticks": writer.start_ticks,
        "host": socket.gethostname(),
        "started": time.time(),
    }
    with open(os.path.join(path, WRITER_FILE), "w", encoding="utf-8") as stream:
        json.dump(record, stream)


def release_output(path: str) -> None:
    """The run is over: drop the writer record (the folder stays when it holds a checkpoint)."""
    try:
        os.remove(os.path.join(path, WRITER_FILE))
    except OSError:
        pass


def abandoned_by_dead_writer(path: str) -> bool:
    """True when ``path`` holds a writer record of a process on this machine that is no longer running.

    A folder without a record (a CLI run, anything made by hand) is never called abandoned.
    """
    try:
        with open(os.path.join(path, WRITER_FILE), encoding="utf-8") as stream:
            record = json.load(stream)
        if record.get("host") != socket.gethostname():
            return False  # a shared folder: a writer on another machine cannot be checked from here
        writer = Writer(int(record["pid"]), int(record.get("start_ticks") or 0))
    except (OSError, ValueError, TypeError, KeyError, AttributeError, RecursionError):
        return False
    return not is_running(writer)
