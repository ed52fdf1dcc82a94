"""Latency of the Memory Lab page in a real browser (Debian Chromium driven by Playwright).

    python -m bench.app_latency [--checkpoints DIR] [--baseline DIR] [--runs 7] [--cold-runs 3] [--threads N]

Everything is measured on the Next word tab (the tab the page opens on; only the open tab is computed):

1. Cold start, per fresh server: from the `streamlit run` process start to /_stcore/health
   answering "ok", and from "ok" to the seed sentence's predictions visible in a new page
   (with, for attribution, "ok" to the sentence box shown: the front end has loaded).
   Target: the sum <= 4 s. Chromium is started first, so its own start-up is not counted.
2. Enter -> all views updated. "Updated" = Streamlit's running indicator is gone and every
   model column shows the new sentence's words and its correct top-1 next word (computed
   directly with model.predict.top_k_next_words on the same checkpoint). Timed inside the
   page, from the Enter keydown to the first moment that holds. Two rows: sentences the
   server has not seen (the seed sentence with one word swapped, same length) and the seed
   sentence itself again (answered from the app's analysis cache). Target: median <= 500 ms.
3. The same for a 200-word paragraph (the app keeps the first ui.settings.MAX_WORDS words
   and says so). Target: median <= 2 s.

4. Overhead of the page over its own work, as ratios: the medians of rows 2 and 3 divided by the
   median time, in this process after the server has stopped, of the same sentences through
   (a) what the Next word tab computes for every shown model (model.analysis.memory.traces.compute_traces
   and model.analysis.predictions.prediction_table, as ui/services/analysis_cache.next_word does), and
   (b) model.analysis.report.analyze_text with its defaults (the whole analysis, more than the tab
   needs) for every shown model. Target: Enter / (a) <= 2x.

5. With --baseline DIR (another checkpoints folder, e.g. the models shipped before), the cold start
   of both folders, alternating run by run in this one process, and their ratio (new / baseline).
   Target: <= 1.5x.

6. With --profile, Chrome's sampling profiler over further new-sentence Enters (not the timed ones: the
   profiler slows the page) splits the browser's time per Enter into Vega charts, React (Streamlit's
   front end), other page JavaScript, browser internals, garbage collection and idle
   (bench/browser_profile.py).

Prints one table row per measurement: n, median and p95 (nearest rank) in milliseconds.
Needs Debian's Chromium (/usr/bin/chromium) and playwright (requirements-test.txt).
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from bench.app_driver import (  # noqa: E402
    PICKED_MODELS_JS,
    SENTENCE_INPUT,
    launch_chromium,
    percentile,
    preflight_error,
    read_next_word,
    timed_result_ms,
    timed_submit,
    wait_for_predictions,
)
from bench.app_server import AppServer  # noqa: E402
from bench.browser_profile import BUCKETS, IDLE, CpuProfiler  # noqa: E402
from model.analysis.inputs import prepare_input  # noqa: E402
from model.analysis.memory.traces import compute_traces  # noqa: E402
from model.analysis.predictions import prediction_table  # noqa: E402
from model.analysis.report import analyze_text  # noqa: E402
from model.cli.common import positive_int, set_offline_defaults  # noqa: E402
from ui.services.text_checks import check_text  # noqa: E402
from ui.settings import MAX_WORDS  # noqa: E402

SEED = "Mr. Robert is going on a vacation with his wife to Hawaii next month."
PEOPLE = (
    "Mr. John", "Mr. Thomas", "Mr. Henry", "Mr. George", "Mr. Arthur", "Mr. Walter", "Mr. Charles",
    "Mrs. Mary", "Mrs. Alice", "Mrs. Emma", "Mrs. Clara", "Mrs. Agnes", "Mrs. Edith", "Mrs. Lucy",
)  # fmt: skip
TRIPS = ("vacation", "journey", "holiday")
PARAGRAPH = (
    "He had worked hard all year, and when the letter from the bank came at last, he read it twice by the window "
    "before he told her what it said. The house was quiet; the children were asleep upstairs, and the old clock in "
    "the hall struck ten as he folded the paper and put it in his pocket. "
)
SPEAKERS = ("Robert", "John", "Mary", "Anne", "Henry", "Emma", "James", "Jane", "William", "Margaret", "Edward", "Lucy")
COLD_TARGET_MS = 4000.0
ENTER_TARGET_MS = 500.0
ENTER_OVERHEAD_TARGET = 2.0  # Enter -> updated, over the tab's own computation
COLD_RATIO_TARGET = 1.5  # cold start of --checkpoints over --baseline
PARAGRAPH_TARGET_MS = 2000.0


def seed_variants() -> list[str]:
    """The seed sentence with its person and its trip swapped: same length, new to the server.

    The tab opens on the lesson word ("his" after "... with"), so a variant must change the words
    before it: one that changed only later words ("Hawaii", "wife") showed the same words and the
    same top word as the sentence before, and a page that had not updated yet passed for updated.
    """
    return [SEED.replace("Mr. Robert", person).replace("vacation", trip) for trip in TRIPS for person in PEOPLE]


def paragraph(index: int, words: int = 200) -> str:
    """A distinct paragraph of ``words`` whitespace-separated words (a different speaker opens each)."""
    pool = (
        f"{SPEAKERS[index % len(SPEAKERS)]} came home late on day {index + 1}. " + PARAGRAPH * (words // 40 + 2)
    ).split()
    return " ".join(pool[:words])


def wait_for_models(page, timeout_ms: float) -> list[str]:
    """The models picked in the sidebar, once the page is idle and each of them shows its top chart."""
    return page.wait_for_function(PICKED_MODELS_JS, timeout=timeout_ms, polling="raf").json_value()


def cold_start(
    browser, checkpoints: str, oracle, log_path: str, threads: int | None, timeout_ms: float, options: tuple = ()
):
    """Start a server (with more `streamlit run` ``options``), open a page and wait for the seed sentence's predictions.

    Returns:
        (process start -> health ok, health ok -> sentence box shown, health ok -> predictions visible) in
        seconds, then the server, the browser context and the models shown.
    """
    server = AppServer.start(checkpoints, log_path, threads=threads, options=options)
    try:
        to_health = server.wait_healthy(timeout=timeout_ms / 1000)
        context = browser.new_context(viewport={"width": 1400, "height": 1000})
        context.set_default_timeout(timeout_ms)
        page = context.new_page()
        page.goto(server.url, wait_until="commit")
        page.wait_for_selector(SENTENCE_INPUT, timeout=timeout_ms)
        to_box = time.perf_counter() - server.healthy_at
        models = wait_for_models(page, timeout_ms)
        to_visible = time.perf_counter() - server.healthy_at
        check_shows(page, oracle.expected(SEED, models), SEED, timeout_ms)
        return to_health, to_box, to_visible, server, context, models
    except BaseException:
        server.stop()
        raise


def check_shows(page, expected: dict, text: str, timeout_ms: float) -> None:
    """Fail loudly when the page does not show the expected words and top-1 words."""
    try:
        wait_for_predictions(page, expected, timeout_ms)
    except Exception as error:  # playwright's TimeoutError
        raise SystemExit(
            f"error: the page did not show the expected predictions for {text[:60]!r}: {error}\n"
            f"expected {expected}\nshown {read_next_word(page)}"
        ) from error


def enter_ms(page, oracle, models: list[str], text: str, timeout_ms: float) -> float:
    """Type ``text``, press Enter, return milliseconds until its correct predictions are visible."""
    expected = oracle.expected(text, models)
    timed_submit(page, text, expected)
    try:
        return timed_result_ms(page, timeout_ms)
    except Exception as error:  # playwright's TimeoutError
        raise SystemExit(
            f"error: no correct predictions for {text[:60]!r} within {timeout_ms / 1000:.0f} s.\n"
            f"expected {expected}\nshown {read_next_word(page)}"
        ) from error


def post_script_gc_comparison(
    browser, checkpoints: str, oracle, scratch: str, threads: int | None, runs: int, timeout_ms: float
) -> dict[bool, dict[str, list[float]]]:
    """Enter -> updated with Streamlit's post-script garbage collection on (its default) and off (.streamlit/config.toml).

    After every script run Streamlit calls gc.collect(2), which holds the interpreter lock while it walks every
    object the process holds (torch, pandas, Altair, the models: about 270k), so the server cannot send the
    "script finished" message that ends the page's running state until it is done. Two rounds, each a fresh
    server per setting in turn, so both see the same machine.

    Returns:
        {post_script_gc: {"new": [ms, ...], "cached": [ms, ...]}}, ``runs`` new sentences per round and setting.
    """
    variants = seed_variants()
    timings: dict[bool, dict[str, list[float]]] = {True: {"new": [], "cached": []}, False: {"new": [], "cached": []}}
    for round_index in range(2):
        for enabled in (True, False):
            options = ("--runner.postScriptGC", "true" if enabled else "false")
            log_path = os.path.join(scratch, f"gc-{enabled}-{round_index}.log")
            *_, server, context, models = cold_start(
                browser, checkpoints, oracle, log_path, threads, timeout_ms, options
            )
            try:
                page = context.pages[0]
                enter_ms(page, oracle, models, variants[-1], timeout_ms)  # warm-up, not timed
                for run in range(runs):
                    text = variants[(round_index * runs + run) % (len(variants) - 1)]
                    timings[enabled]["new"].append(enter_ms(page, oracle, models, text, timeout_ms))
                    timings[enabled]["cached"].append(enter_ms(page, oracle, models, SEED, timeout_ms))
            finally:
                context.close()
                server.stop()
    return timings


def bare_ms(oracle, models: list[str], texts: list[str]) -> tuple[float, float]:
    """Median ms, over ``texts``, of (a) the Next word tab's own computation and (b) analyze_text, all models."""
    tab, whole = [], []
    for text in texts:
        for timings, run in ((tab, _tab_work), (whole, _whole_analysis)):
            start = time.perf_counter()
            for model in models:
                run(oracle.checkpoint(model), check_text(text, oracle.checkpoint(model).tokenizer).text)
            timings.append((time.perf_counter() - start) * 1000)
    return statistics.median(tab), statistics.median(whole)


def _tab_work(checkpoint, text: str) -> None:
    inputs = prepare_input(checkpoint.tokenizer, text, max_words=MAX_WORDS)
    traces = compute_traces(checkpoint.model, inputs)
    prediction_table(traces.log_probs, inputs.word_ids, checkpoint.tokenizer, 10)


def _whole_analysis(checkpoint, text: str) -> None:
    analyze_text(checkpoint.model, checkpoint.tokenizer, text, max_words=MAX_WORDS)


def row(name: str, values_ms: list[float], target_ms: float | None) -> str:
    """One table line: name, n, median, p95, target and whether the median meets it."""
    median, p95 = statistics.median(values_ms), percentile(values_ms, 0.95)
    verdict = "" if target_ms is None else ("yes" if median <= target_ms else "NO")
    target = "" if target_ms is None else f"<= {target_ms:.0f}"
    return f"{name:<44}{len(values_ms):>4}{median:>12.0f}{p95:>10.0f}{target:>10}{verdict:>6}"


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark and print the table; 0 on success, 2 when Chromium, Playwright or models are missing."""
    parser = argparse.ArgumentParser(
        prog="python -m bench.app_latency", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--checkpoints",
        default="checkpoints",
        help="folder whose sub-folders are checkpoints, as the app reads it (default checkpoints/)",
    )
    parser.add_argument(
        "--baseline",
        help="a second checkpoints folder (e.g. the previously shipped models) whose cold start is timed in the "
        "same run, alternating with --checkpoints; prints the ratio",
    )
    parser.add_argument("--runs", type=positive_int, default=7, help="timed Enter presses per row (default 7)")
    parser.add_argument(
        "--cold-runs", type=positive_int, default=3, help="fresh server starts for the cold-start rows (default 3)"
    )
    parser.add_argument(
        "--threads",
        type=positive_int,
        default=None,
        help="torch/OpenMP threads of the server (default: torch's own choice)",
    )
    parser.add_argument(
        "--timeout", type=positive_int, default=120, help="seconds to wait for any one page state (default 120)"
    )
    parser.add_argument(
        "--compare-post-script-gc",
        action="store_true",
        help="also time new and cached Enters on fresh servers with Streamlit's post-script gc.collect on "
        "(its default) and off (our .streamlit/config.toml), alternating, and print the ratio",
    )
    parser.add_argument(
        "--profile",
        action="store_true",
        help="after the timed rows, profile as many new-sentence Enters again and split the browser's time per Enter",
    )
    args = parser.parse_args(argv)
    set_offline_defaults()
    problem = preflight_error(args.checkpoints) or (args.baseline and preflight_error(args.baseline))
    if problem:
        print(f"error: {problem}", file=sys.stderr)
        return 2
    from playwright.sync_api import sync_playwright

    from bench.app_oracle import Oracle

    timeout_ms = args.timeout * 1000.0
    oracle = Oracle(args.checkpoints)
    baseline_oracle = Oracle(args.baseline) if args.baseline else None
    variants, results = seed_variants(), {}
    needed = args.runs * (2 if args.profile else 1) + 1
    if needed > len(variants):
        most = (len(variants) - 1) // (2 if args.profile else 1)
        parser.error(
            f"--runs must be at most {most} (distinct seed variants{' with --profile' if args.profile else ''}); got {args.runs}."
        )
    with sync_playwright() as playwright, tempfile.TemporaryDirectory(prefix="app-latency-") as scratch:
        browser = launch_chromium(playwright)
        health, box, visible, total, baseline_total = [], [], [], [], []
        server = context = None
        for run in range(args.cold_runs):
            if server is not None:
                context.close()
                server.stop()
            if baseline_oracle is not None:  # the same run's other folder first, so both see the same machine
                to_health, _, to_visible, other, other_context, _ = cold_start(
                    browser,
                    args.baseline,
                    baseline_oracle,
                    os.path.join(scratch, f"baseline-{run}.log"),
                    args.threads,
                    timeout_ms,
                )
                other_context.close()
                other.stop()
                baseline_total.append((to_health + to_visible) * 1000)
            to_health, to_box, to_visible, server, context, models = cold_start(
                browser, args.checkpoints, oracle, os.path.join(scratch, f"server-{run}.log"), args.threads, timeout_ms
            )
            health.append(to_health * 1000)
            box.append(to_box * 1000)
            visible.append(to_visible * 1000)
            total.append((to_health + to_visible) * 1000)
        try:
            page = context.pages[0]
            enter_ms(page, oracle, models, variants[-1], timeout_ms)  # warm-up, not timed
            fresh, cached, long_text = [], [], []
            for run in range(args.runs):
                fresh.append(enter_ms(page, oracle, models, variants[run], timeout_ms))
                cached.append(enter_ms(page, oracle, models, SEED, timeout_ms))
            for run in range(args.runs):
                long_text.append(enter_ms(page, oracle, models, paragraph(run), timeout_ms))
            results = {"browser": browser.version, "models": models, "profile": None}
            if args.profile:
                profiler, split = CpuProfiler(page), dict.fromkeys(BUCKETS, 0.0)
                for run in range(args.runs):
                    profiler.start()
                    enter_ms(page, oracle, models, variants[args.runs + run], timeout_ms)
                    for bucket, ms in profiler.stop().items():
                        split[bucket] += ms / args.runs
                results["profile"] = split
        finally:
            context.close()
            server.stop()
        if args.compare_post_script_gc:
            results["gc"] = post_script_gc_comparison(
                browser, args.checkpoints, oracle, scratch, args.threads, args.runs, timeout_ms
            )
        browser.close()
    print(
        f"Memory Lab page latency: Chromium {results['browser']}, {os.cpu_count()} CPUs, server threads "
        f"{args.threads or 'default'}, checkpoints {os.path.abspath(args.checkpoints)}, models {', '.join(results['models'])}"
    )
    print(f"{'measurement (ms)':<44}{'n':>4}{'median':>12}{'p95':>10}{'target':>10}{'ok':>6}")
    print(row("cold: process start -> health ok", health, None))
    print(row("cold: health ok -> sentence box shown", box, None))
    print(row("cold: health ok -> seed predictions visible", visible, None))
    print(row("cold: total", total, COLD_TARGET_MS))
    if baseline_total:
        print(row("cold: total, --baseline models", baseline_total, None))
    print(row("Enter -> updated: new sentence (seed length)", fresh, ENTER_TARGET_MS))
    print(row("Enter -> updated: seed sentence (cached)", cached, ENTER_TARGET_MS))
    print(row("Enter -> updated: 200-word paragraph", long_text, PARAGRAPH_TARGET_MS))
    print("Targets are checked on the median; p95 is nearest rank.")
    if baseline_total:
        ratio = statistics.median(total) / statistics.median(baseline_total)
        print(
            f"cold start: {ratio:.2f}x the --baseline models' ({os.path.abspath(args.baseline)}), medians of "
            f"{len(total)} alternating runs (target <= {COLD_RATIO_TARGET}x: {'ok' if ratio <= COLD_RATIO_TARGET else 'OVER'})"
        )
    if results["profile"]:
        split = results["profile"]
        busy = sum(ms for bucket, ms in split.items() if bucket != IDLE)
        print(
            f"browser main thread per new-sentence Enter, profiled ({args.runs} more Enters; mean ms, share of busy time):"
        )
        for bucket, ms in sorted(split.items(), key=lambda item: -item[1]):
            share = "" if bucket == IDLE else f" ({ms / busy:.0%})"
            print(f"  {bucket:<44}{ms:>8.0f}{share}")
    if results.get("gc"):
        gc_timings = results["gc"]
        print("Streamlit's post-script gc.collect(2), on (Streamlit's default) against off (.streamlit/config.toml):")
        for kind, label in (("new", "new sentence"), ("cached", "seed sentence (cached)")):
            on, off = statistics.median(gc_timings[True][kind]), statistics.median(gc_timings[False][kind])
            print(
                f"  Enter -> updated, {label}: on {on:.0f} ms, off {off:.0f} ms, on / off {on / off:.2f}x "
                f"(medians of {len(gc_timings[True][kind])}, two alternating fresh servers each)"
            )
    for label, entered, texts in (
        ("new sentence (seed length)", fresh, variants[: args.runs]),
        ("200-word paragraph", long_text, [paragraph(run) for run in range(args.runs)]),
    ):
        tab_ms, whole_ms = bare_ms(oracle, results["models"], texts)
        ratio = statistics.median(entered) / tab_ms
        print(
            f"Enter -> updated, {label}: {ratio:.2f}x the tab's own computation ({tab_ms:.1f} ms, target <= 2x: "
            f"{'ok' if ratio <= ENTER_OVERHEAD_TARGET else 'OVER'}); {statistics.median(entered) / whole_ms:.2f}x "
            f"analyze_text for the same models ({whole_ms:.1f} ms)"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
