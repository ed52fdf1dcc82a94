"""Run the Memory Lab app as a `streamlit run app.py` child process, and measure its memory.

Used by the browser tests (tests/browser) and the app benches. The server gets its own
process group so stopping it (SIGTERM, then SIGKILL) reaches only it and its children.

A new session also gets its own scheduler group on Linux (sched autogroup), and the CPU is
shared between groups by their nice values. The server's group is given the same nice as
the caller's, so that the Chromium pages a bench drives (which stay in the caller's group)
neither outrank the server nor yield to it: one CPU share each, as two programs on one box.
"""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from typing import Sequence

REPOSITORY = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
APP_PATH = os.path.join(REPOSITORY, "app.py")


def free_port() -> int:
    """A TCP port that was free a moment ago on 127.0.0.1."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def autogroup_nice(path: str) -> str | None:
    """The nice value in a /proc/PID/autogroup file, or None where there is none to read.

    The kernel prints "/autogroup-310 nice -15" for a task in an autogroup, and nothing at all
    for a task whose scheduling group comes from a cgroup instead (as in some CI containers).
    """
    try:
        with open(path, encoding="utf-8") as stream:
            fields = stream.read().split()
    except OSError:
        return None
    if len(fields) == 3 and fields[1] == "nice" and re.fullmatch(r"-?\d+", fields[2]):
        return fields[2]
    return None


def match_scheduler_group(pid: int, source: str = "/proc/self/autogroup") -> bool:
    """Give process ``pid``'s autogroup the caller's autogroup nice; False where that is not possible.

    Not possible means no sched autogroup here (no file, an empty file) or no right to write it:
    the bench then runs as before, the server simply at the default priority.
    """
    nice = autogroup_nice(source)
    if nice is None:
        return False
    try:
        with open(f"/proc/{pid}/autogroup", "w", encoding="utf-8") as stream:
            stream.write(nice)
    except OSError:
        return False
    return True


def process_tree_rss(pid: int) -> int:
    """Resident memory in bytes of a process and all its descendants (Linux /proc; 0 when it is gone)."""
    children: dict[int, list[int]] = {}
    for name in os.listdir("/proc"):
        if not name.isdigit():
            continue
        try:
            with open(f"/proc/{name}/stat", encoding="utf-8") as stream:
                # The command name may hold spaces and ")": the fields after the last ")" are fixed.
                parent = int(stream.read().rsplit(")", 1)[1].split()[1])
        except (OSError, IndexError, ValueError):
            continue
        children.setdefault(parent, []).append(int(name))
    total, pending = 0, [pid]
    while pending:
        current = pending.pop()
        pending.extend(children.get(current, []))
        try:
            with open(f"/proc/{current}/status", encoding="utf-8") as stream:
                for line in stream:
                    if line.startswith("VmRSS:"):
                        total += int(line.split()[1]) * 1024
                        break
        except OSError:
            continue
    return total


@dataclass
class AppServer:
    """A `streamlit run app.py` child process.

    Attributes:
        process: the Popen handle.
        url: http://127.0.0.1:PORT
        log_path: where its stdout and stderr go.
        started_at: time.perf_counter() just before the process was started.
        healthy_at: time.perf_counter() when /_stcore/health first answered "ok" (None before).
    """

    process: subprocess.Popen
    url: str
    log_path: str
    started_at: float
    healthy_at: float | None = field(default=None)

    @classmethod
    def start(
        cls,
        checkpoints: str,
        log_path: str,
        port: int | None = None,
        threads: int | None = None,
        options: Sequence[str] = (),
    ) -> "AppServer":
        """Start the app on the models in ``checkpoints`` (does not wait; see :meth:`wait_healthy`).

        Args:
            checkpoints: folder whose sub-folders are checkpoints (MEMORY_LAB_CHECKPOINTS).
            log_path: file that receives the server's output.
            port: TCP port (default: a free one).
            threads: torch/OpenMP threads for the server (default: inherited).
            options: more `streamlit run` options, e.g. ("--runner.postScriptGC", "true"), after the bench's own.
        """
        port = port or free_port()
        env = dict(os.environ, MEMORY_LAB_CHECKPOINTS=os.path.abspath(checkpoints), PYTHONUNBUFFERED="1")
        if threads is not None:
            env.update(OMP_NUM_THREADS=str(threads), MKL_NUM_THREADS=str(threads))
        command = [
            sys.executable,
            "-m",
            "streamlit",
            "run",
            APP_PATH,
            "--server.headless",
            "true",
            "--server.port",
            str(port),
            "--server.address",
            "127.0.0.1",
            "--browser.gatherUsageStats",
            "false",
            # No file watcher: an edit elsewhere in the repository must not trigger reruns mid-measurement.
            "--server.fileWatcherType",
            "none",
            "--server.runOnSave",
            "false",
            *options,
        ]
        with open(log_path, "wb") as log:
            started_at = time.perf_counter()
            process = subprocess.Popen(
                command, cwd=REPOSITORY, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
            )
        match_scheduler_group(process.pid)
        return cls(process=process, url=f"http://127.0.0.1:{port}", log_path=log_path, started_at=started_at)

    def log_tail(self, characters: int = 3000) -> str:
        """The end of the server's output (for error messages)."""
        try:
            with open(self.log_path, encoding="utf-8", errors="replace") as stream:
                return stream.read()[-characters:]
        except OSError:
            return ""

    def wait_healthy(self, timeout: float = 120.0) -> float:
        """Poll /_stcore/health until it answers "ok".

        Returns:
            Seconds from process start to the first "ok".

        Raises:
            RuntimeError: the server exited or did not answer within ``timeout`` seconds (with its log).
        """
        deadline = time.perf_counter() + timeout
        while time.perf_counter() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(
                    f"streamlit exited with code {self.process.returncode} before answering:\n{self.log_tail()}"
                )
            try:
                with urllib.request.urlopen(self.url + "/_stcore/health", timeout=2) as response:
                    if response.read().strip() == b"ok":
                        self.healthy_at = time.perf_counter()
                        return self.healthy_at - self.started_at
            except (urllib.error.URLError, ConnectionError, TimeoutError, OSError):
                pass
            time.sleep(0.05)
        raise RuntimeError(
            f"streamlit did not answer {self.url}/_stcore/health within {timeout:.0f} s:\n{self.log_tail()}"
        )

    def memory_bytes(self) -> int:
        """RSS of the server process tree, in bytes."""
        return process_tree_rss(self.process.pid)

    def stop(self, grace: float = 10.0) -> None:
        """SIGTERM the server's process group, then SIGKILL it after ``grace`` seconds."""
        if self.process.poll() is not None:
            return
        try:
            os.killpg(self.process.pid, signal.SIGTERM)  # its own session: only this server and its children
        except ProcessLookupError:
            return
        try:
            self.process.wait(timeout=grace)
        except subprocess.TimeoutExpired:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait(timeout=grace)
