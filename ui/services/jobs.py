"""The one registry of the server's background jobs: Train-tab training and the long-range lab.

Both keep every core of the machine busy, so at most one job of any kind runs at a time, for
all sessions together; each session sees its own latest job of each kind. One lock guards the
table, so two sessions pressing Start at the same moment cannot both get through.
"""

from __future__ import annotations

import threading
from typing import Any, Callable

KINDS = ("train", "lab")
BUSY = {
    "train": "A model is being trained on this server (Train tab); start when it has finished, or stop it there.",
    "lab": "A long-range lab is running on this server; wait until it finishes (its page shows the expected time).",
}


class JobRegistry:
    """Jobs by (kind, session id). A job is any object with a ``running`` attribute."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._jobs: dict[tuple[str, str], Any] = {}

    @staticmethod
    def _check_kind(kind: str) -> None:
        if kind not in KINDS:
            raise ValueError(f"A job kind is one of {KINDS}; got {kind!r}.")

    def latest(self, kind: str, session_id: str) -> Any | None:
        """This session's latest job of ``kind``, running or not."""
        self._check_kind(kind)
        with self._lock:
            return self._jobs.get((kind, session_id))

    def running(self, kind: str | None = None) -> list[tuple[str, str, Any]]:
        """(kind, session id, job) of every running job (of ``kind`` only, if given)."""
        with self._lock:
            return [(k, sid, job) for (k, sid), job in self._jobs.items() if job.running and kind in (None, k)]

    def start(self, kind: str, session_id: str, make: Callable[[], Any], run: Callable[[Any], None]) -> Any:
        """Make and register a job, then run it in a daemon thread; refused while any job runs.

        Raises:
            RuntimeError: a job of any kind is running (its message says which and what to do).
        """
        self._check_kind(kind)
        with self._lock:
            busy = next(((k, job) for (k, _), job in self._jobs.items() if job.running), None)
            if busy is not None:
                raise RuntimeError(BUSY[busy[0]])
            job = make()
            self._jobs[(kind, session_id)] = job
            thread = threading.Thread(target=run, args=(job,), name=f"memory-lab-{kind}-{session_id[:8]}", daemon=True)
            if hasattr(job, "thread"):
                job.thread = thread
            thread.start()
        return job

    def register(self, kind: str, session_id: str, job: Any) -> None:
        """Record a job without starting it (a finished run restored for its page, or a test's job)."""
        self._check_kind(kind)
        with self._lock:
            self._jobs[(kind, session_id)] = job

    def jobs(self, kind: str) -> list[Any]:
        """Every recorded job of ``kind``, running or not."""
        with self._lock:
            return [job for (k, _), job in self._jobs.items() if k == kind]

    def forget(self, kind: str | None = None) -> None:
        """Drop the records (of ``kind`` only, if given); running threads are not stopped."""
        with self._lock:
            for key in [key for key in self._jobs if kind in (None, key[0])]:
                del self._jobs[key]


REGISTRY = JobRegistry()
