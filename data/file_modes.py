"""Permissions for files written through a temporary name (mkstemp / mkdtemp).

mkstemp makes 0600 files and mkdtemp 0700 folders: private, which is right for a scratch file but
wrong for a checkpoint that the app server, another user or a later `cp -r` must read. After the
write, every such file and folder gets the mode any plain `open()` / `mkdir` would have given it
under the process's umask (0644 / 0755 with the common umask 022).
"""

from __future__ import annotations

import os

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
