"""Drive the Memory Lab app in a real browser: Debian's Chromium, typing, and reading what the page shows.

Shared by the browser tests (tests/browser) and the app benches (bench/app_latency.py,
bench/app_load.py); the server side is bench.app_server. The browser is Debian's Chromium
(/usr/bin/chromium, installed by .ci/run) driven by Playwright; `playwright install` is never run.

The page is read through the accessibility labels Vega writes into each SVG chart
("Title text 'tiny-lstm: top 10 next words'", "probability: 0.32; word: said; rank: 1; ...")
and through the word spans of each model column, so no pixel or canvas reading is needed.
"""

from __future__ import annotations

import math
import os
from typing import Any

CHROMIUM_PATH = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
STATUS_WIDGET = '[data-testid="stStatusWidget"]'
SENTENCE_INPUT = 'input[aria-label^="Sentence"]'  # the sentence box, not the per-view text inputs

# Reads the Next word tab: per model column, the words shown and the top predictions (rank order).
READ_NEXT_WORD_JS = r"""() => {
  const view = {busy: !!document.querySelector('[data-testid="stStatusWidget"]'), models: {}};
  for (const column of document.querySelectorAll('[data-testid="stColumn"]')) {
    for (const title of column.querySelectorAll('[aria-roledescription="title"]')) {
      const match = /^Title text '(.*): top \d+ next words'$/.exec(title.getAttribute('aria-label') || '');
      if (!match) continue;
      const chart = title.closest('svg');
      const top = [];
      for (const bar of chart.querySelectorAll('[aria-roledescription="bar"]')) {
        const label = bar.getAttribute('aria-label') || '';
        const word = /(?:^|; )word: (.*?); rank: (\d+)/.exec(label);
        const probability = /^probability: ([^;]+);/.exec(label);
        if (word && probability) top.push([Number(word[2]), word[1], Number(probability[1])]);
      }
      top.sort((a, b) => a[0] - b[0]);
      const words = [...column.querySelectorAll('.memory-lab-words > span')].map(span => span.textContent);
      view.models[match[1]] = {words, top: top.map(item => [item[1], item[2]])};
    }
  }
  return view;
}"""

# True when the page is idle and every expected model shows the expected words and top-1 word.
# A near tie (|p(expected) - p(first)| <= tolerance) counts as a match: two float paths may order it differently.
READY_JS = (
    "(arg) => { const view = ("
    + READ_NEXT_WORD_JS
    + r""")();
  if (view.busy) return false;
  for (const [model, want] of Object.entries(arg.expected)) {
    const got = view.models[model];
    if (!got || got.top.length === 0 || JSON.stringify(got.words) !== JSON.stringify(want.words)) return false;
    if (got.top[0][0] === want.top1) continue;
    const same = got.top.find(item => item[0] === want.top1);
    if (!same || Math.abs(same[1] - got.top[0][1]) > arg.tolerance) return false;
  }
  return true;
}"""
)

# The models picked in the sidebar, once the page is idle and each of them shows its top-words chart; else null.
PICKED_MODELS_JS = (
    "() => { const view = ("
    + READ_NEXT_WORD_JS
    + r""")();
  const input = document.querySelector('input[aria-label="Models to compare"]');
  if (view.busy || !input) return null;
  const names = [...input.closest('[data-testid="stMultiSelect"]').querySelectorAll('[data-tag]')].map(tag => tag.getAttribute('aria-label'));
  return names.length && names.every(name => view.models[name] && view.models[name].top.length) ? names : null;
}"""
)

# Times one Enter inside the page (performance.now at the Enter keydown and when READY_JS first holds),
# so a session that finishes while the driver is busy with another page is not charged the wait.
ARM_TIMER_JS = (
    "(arg) => { const ready = "
    + READY_JS
    + r""";
  const timer = {enterAt: null, readyAt: null};
  window.__memoryLabTimer = timer;
  if (!window.__memoryLabEnterListener) {
    window.__memoryLabEnterListener = true;
    document.addEventListener('keydown', event => {
      const current = window.__memoryLabTimer;
      if (event.key === 'Enter' && current && current.enterAt === null) current.enterAt = performance.now();
    }, true);
  }
  let scheduled = false;
  const check = () => {
    scheduled = false;
    if (timer.readyAt !== null || timer.enterAt === null) return;
    if (ready(arg)) { timer.readyAt = performance.now(); observer.disconnect(); clearInterval(fallback); }
  };
  const observer = new MutationObserver(() => { if (!scheduled) { scheduled = true; setTimeout(check, 0); } });
  observer.observe(document.body, {subtree: true, childList: true, attributes: true, characterData: true});
  const fallback = setInterval(check, 100);
}"""
)
TIMER_DONE_JS = "() => !!window.__memoryLabTimer && window.__memoryLabTimer.readyAt !== null"
TIMER_MS_JS = (
    "() => { const t = window.__memoryLabTimer; return t && t.readyAt !== null ? t.readyAt - t.enterAt : null; }"
)

TIE_TOLERANCE = 1e-4
# Generous waits: the first page load compiles Streamlit's front end, slow on a busy 2-core machine.
SLOW_TIMEOUT_MS = 120_000


class BrowserMissing(RuntimeError):
    """Chromium or Playwright is not installed."""


def require_browser() -> None:
    """Check that Debian's Chromium and the Playwright package are installed.

    Raises:
        BrowserMissing: with the command that installs the missing piece.
    """
    if not os.access(CHROMIUM_PATH, os.X_OK):
        raise BrowserMissing(
            f"The real-browser checks need Debian's Chromium at {CHROMIUM_PATH}, which is missing. Install it with "
            "`apt-get update && apt-get install -y chromium` (.ci/run does this); never `playwright install`."
        )
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError as error:
        raise BrowserMissing(
            f"The real-browser checks need the playwright package ({error}). Install it with "
            "`pip install -r requirements-test.txt` (playwright==1.65.2)."
        ) from error


def preflight_error(checkpoints: str) -> str | None:
    """Why a browser bench cannot run (no Chromium/playwright, no checkpoints folder), or None."""
    try:
        require_browser()
    except BrowserMissing as error:
        return str(error)
    if not os.path.isdir(checkpoints):
        return f"no checkpoints folder {checkpoints!r}; pass --checkpoints DIR or train checkpoints/novels-lstm first."
    return None


def launch_chromium(playwright: Any) -> Any:
    """Start headless Debian Chromium through a started sync Playwright; returns the Browser."""
    require_browser()
    return playwright.chromium.launch(executable_path=CHROMIUM_PATH, args=CHROMIUM_ARGS, headless=True)


def submit_sentence(page: Any, text: str) -> None:
    """Type ``text`` into the sentence box and press Enter (the text input submits only on Enter)."""
    box = page.locator(SENTENCE_INPUT)
    box.fill(text)
    box.press("Enter")


def read_next_word(page: Any) -> dict[str, Any]:
    """What the Next word tab shows now.

    Returns:
        {"busy": bool (status widget shown), "models": {name: {"words": [...], "top": [[word, probability], ...]}}}
    """
    return page.evaluate(READ_NEXT_WORD_JS)


def wait_for_predictions(page: Any, expected: dict[str, dict[str, Any]], timeout_ms: float) -> None:
    """Wait until the page is idle and each model shows the expected words and top-1 next word.

    Args:
        page: a Playwright page on the app's Next word tab.
        expected: model name -> {"words": tokens shown, "top1": most probable next word}.
        timeout_ms: give up after this long (Playwright TimeoutError).
    """
    page.wait_for_function(
        READY_JS, arg={"expected": expected, "tolerance": TIE_TOLERANCE}, timeout=timeout_ms, polling="raf"
    )


def timed_submit(page: Any, text: str, expected: dict[str, dict[str, Any]]) -> None:
    """Arm the in-page timer for ``expected``, then type ``text`` and press Enter (does not wait)."""
    page.evaluate(ARM_TIMER_JS, {"expected": expected, "tolerance": TIE_TOLERANCE})
    submit_sentence(page, text)


def timed_result_ms(page: Any, timeout_ms: float) -> float:
    """Milliseconds from the Enter of :func:`timed_submit` to the expected predictions being visible.

    Raises:
        playwright TimeoutError: the expected predictions did not appear within ``timeout_ms``.
    """
    page.wait_for_function(TIMER_DONE_JS, timeout=timeout_ms)
    return float(page.evaluate(TIMER_MS_JS))


def percentile(values: list[float], fraction: float) -> float:
    """Nearest-rank percentile (fraction 0.95 = p95) of a non-empty list.

    Raises:
        ValueError: empty list or fraction outside (0, 1].
    """
    if not values or not 0 < fraction <= 1:
        raise ValueError(
            f"percentile needs values and a fraction in (0, 1]; got {len(values)} values and fraction {fraction}."
        )
    ordered = sorted(values)
    return ordered[max(0, math.ceil(fraction * len(ordered)) - 1)]
