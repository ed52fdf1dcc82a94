"""Load test of the Memory Lab page: many concurrent browser sessions typing different sentences.

    python -m bench.app_load [--checkpoints DIR] [--sessions 20] [--rounds 2] [--threads N]

One headless Debian Chromium (driven by Playwright) holds one browser context per
simulated user, so each is its own Streamlit session. All sessions open the page and
wait for the seed sentence; then, each round, every session types its own new sentence
and presses Enter, all within a fraction of a second. A session's latency is timed inside
its page: from the Enter keydown to Streamlit's running indicator gone with its own words
and the correct top-1 next word of every model visible (computed directly with
model.predict.top_k_next_words on the same checkpoints). The server's memory is the RSS of
the streamlit process tree, polled every 100 ms from start to end.

Targets: every session correct, p95 latency <= 3 s, peak server memory <= 1.5 GB.
Exit status 1 when a session did not show its own correct predictions.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from bench.app_driver import (  # noqa: E402
    PICKED_MODELS_JS,
    TIMER_DONE_JS,
    TIMER_MS_JS,
    launch_chromium,
    percentile,
    preflight_error,
    read_next_word,
    timed_submit,
    wait_for_predictions,
)
from bench.app_server import AppServer  # noqa: E402
from model.cli.common import positive_int, set_offline_defaults  # noqa: E402

SEED = "Mr. Robert is going on a vacation with his wife to Hawaii next month."
PEOPLE = (
    ("Mr.", "Robert", "his"),
    ("Mrs.", "Mary", "her"),
    ("Mr.", "John", "his"),
    ("Mrs.", "Anne", "her"),
    ("Mr.", "Henry", "his"),
    ("Mrs.", "Emma", "her"),
    ("Mr.", "James", "his"),
    ("Mrs.", "Jane", "her"),
    ("Mr.", "William", "his"),
    ("Mrs.", "Margaret", "her"),
    ("Mr.", "Edward", "his"),
    ("Mrs.", "Lucy", "her"),
    ("Mr.", "Thomas", "his"),
    ("Mrs.", "Harriet", "her"),
    ("Mr.", "George", "his"),
    ("Mrs.", "Alice", "her"),
    ("Mr.", "Charles", "his"),
    ("Mrs.", "Catherine", "her"),
    ("Mr.", "Richard", "his"),
    ("Mrs.", "Elizabeth", "her"),
)
ENDINGS = (
    "went to the window and looked at {pronoun}",
    "said that the weather was",
    "took the letter and read it to {pronoun}",
    "walked into the room and sat down by the",
    "had never in {pronoun} life seen such a",
)
LATENCY_P95_TARGET_S = 3.0
MEMORY_TARGET_BYTES = 1.5e9


def sentence(index: int) -> str:
    """The ``index``-th distinct sentence (distinct for index < len(PEOPLE) * len(ENDINGS))."""
    title, name, pronoun = PEOPLE[index % len(PEOPLE)]
    ending = ENDINGS[(index // len(PEOPLE)) % len(ENDINGS)].format(pronoun=pronoun)
    return f"{title} {name} {ending}"


class MemoryPoller:
    """Polls a server's process-tree RSS in a background thread and keeps the peak."""

    def __init__(self, server: AppServer, interval: float = 0.1) -> None:
        self.server, self.interval, self.peak = server, interval, 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.is_set():
            self.peak = max(self.peak, self.server.memory_bytes())
            self._stop.wait(self.interval)

    def __enter__(self) -> "MemoryPoller":
        self._thread.start()
        return self

    def __exit__(self, *exc_info) -> None:
        self._stop.set()
        self._thread.join()
        self.peak = max(self.peak, self.server.memory_bytes())


def run_round(pages, texts: list[str], oracle, models: list[str], timeout_ms: float) -> tuple[list[float], list[str]]:
    """Every page types its text at once; returns (latencies in seconds of the correct ones, failure messages)."""
    expected = [oracle.expected(text, models) for text in texts]
    for page, text, answer in zip(pages, texts, expected):
        timed_submit(page, text, answer)
    latencies, failures = [], []
    deadline = time.perf_counter() + timeout_ms / 1000
    for index, (page, text, answer) in enumerate(zip(pages, texts, expected)):
        remaining_ms = max(1000.0, (deadline - time.perf_counter()) * 1000)
        try:
            page.wait_for_function(TIMER_DONE_JS, timeout=remaining_ms)
            latencies.append(page.evaluate(TIMER_MS_JS) / 1000)
        except Exception:  # playwright's TimeoutError: wrong or missing predictions
            failures.append(f"session {index} ({text!r}): expected {answer}, shown {read_next_word(page)['models']}")
    return latencies, failures


def main(argv: list[str] | None = None) -> int:
    """Run the load test and print its summary; 0 when every session was correct, 1 otherwise, 2 when unable to run."""
    parser = argparse.ArgumentParser(
        prog="python -m bench.app_load", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--checkpoints",
        default="checkpoints",
        help="folder whose sub-folders are checkpoints, as the app reads it (default checkpoints/)",
    )
    parser.add_argument("--sessions", type=positive_int, default=20, help="concurrent browser sessions (default 20)")
    parser.add_argument(
        "--rounds", type=positive_int, default=2, help="sentences each session types, one per round (default 2)"
    )
    parser.add_argument(
        "--threads",
        type=positive_int,
        default=None,
        help="torch/OpenMP threads of the server (default: torch's own choice)",
    )
    parser.add_argument(
        "--timeout",
        type=positive_int,
        default=180,
        help="seconds a round (or the first page load) may take (default 180)",
    )
    args = parser.parse_args(argv)
    set_offline_defaults()
    if args.sessions * args.rounds > len(PEOPLE) * len(ENDINGS):
        parser.error(
            f"--sessions x --rounds must be at most {len(PEOPLE) * len(ENDINGS)} distinct sentences; got {args.sessions * args.rounds}."
        )
    problem = preflight_error(args.checkpoints)
    if problem:
        print(f"error: {problem}", file=sys.stderr)
        return 2
    from playwright.sync_api import sync_playwright

    from bench.app_oracle import Oracle

    timeout_ms = args.timeout * 1000.0
    oracle = Oracle(args.checkpoints)
    latencies, failures, open_seconds = [], [], []
    with sync_playwright() as playwright, tempfile.TemporaryDirectory(prefix="app-load-") as scratch:
        browser = launch_chromium(playwright)
        server = AppServer.start(args.checkpoints, os.path.join(scratch, "server.log"), threads=args.threads)
        try:
            server.wait_healthy(timeout=args.timeout)
            with MemoryPoller(server) as memory:
                contexts = [browser.new_context(viewport={"width": 1280, "height": 900}) for _ in range(args.sessions)]
                pages = [context.new_page() for context in contexts]
                opened = time.perf_counter()
                for page in pages:
                    page.set_default_timeout(timeout_ms)
                    page.goto(server.url, wait_until="commit")
                models = pages[0].wait_for_function(PICKED_MODELS_JS, timeout=timeout_ms).json_value()
                seed = oracle.expected(SEED, models)
                for page in pages:
                    wait_for_predictions(page, seed, timeout_ms)
                    open_seconds.append(time.perf_counter() - opened)
                for round_index in range(args.rounds):
                    texts = [sentence(round_index * args.sessions + index) for index in range(args.sessions)]
                    round_latencies, round_failures = run_round(pages, texts, oracle, models, timeout_ms)
                    latencies += round_latencies
                    failures += [f"round {round_index + 1}, {message}" for message in round_failures]
                for context in contexts:
                    context.close()
            version = browser.version
        finally:
            server.stop()
            browser.close()
    total = args.sessions * args.rounds
    print(
        f"Memory Lab load: {args.sessions} concurrent sessions x {args.rounds} rounds, Chromium {version}, {os.cpu_count()} CPUs, "
        f"server threads {args.threads or 'default'}, models {', '.join(models)}"
    )
    print(f"all {args.sessions} pages open with the seed sentence's predictions after {max(open_seconds):.1f} s")
    print(f"correct: {total - len(failures)}/{total}  (target: all)  {'yes' if not failures else 'NO'}")
    if latencies:
        p95 = percentile(latencies, 0.95)
        print(
            f"Enter -> own predictions visible (s): median {statistics.median(latencies):.2f}, p95 {p95:.2f}, max {max(latencies):.2f}"
            f"  (target p95 <= {LATENCY_P95_TARGET_S:.0f} s)  {'yes' if p95 <= LATENCY_P95_TARGET_S else 'NO'}"
        )
    print(
        f"server peak memory (RSS of the streamlit process tree): {memory.peak / 1e9:.2f} GB"
        f"  (target <= {MEMORY_TARGET_BYTES / 1e9:.1f} GB)  {'yes' if memory.peak <= MEMORY_TARGET_BYTES else 'NO'}"
    )
    for message in failures[:10]:
        print(f"  wrong or missing: {message}", file=sys.stderr)
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
