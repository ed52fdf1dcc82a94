"""Screenshots of every lecture step, as a projector would show them (Debian Chromium + Playwright).

    python -m bench.lecture_screenshots [--checkpoints DIR] [--out artifacts/lecture] [--sentence TEXT]

Starts the app on the models in --checkpoints, opens each step by its URL (?lesson=seed&step=N)
at 1280 x 720 and 1920 x 1080 in the light theme and at 1280 x 720 in the dark one, waits until the
step is drawn and saves one PNG per screen (the conveyor belt also after Next has walked it to the
last word). For each screen it prints the title, where the figure ends and whether it fits the first
viewport, and the contrast of the target word against its background (WCAG ratio).

The browser helpers here (lecture_url, open_step, read_step, contrast_ratio) are also what
tests/browser/test_lecture_browser.py uses. artifacts/ is git-ignored: the pictures are for looking at.
"""

from __future__ import annotations

import argparse
import os
import re
import sys
import tempfile
from typing import Any
from urllib.parse import urlencode

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from bench.app_driver import SLOW_TIMEOUT_MS, STATUS_WIDGET, launch_chromium, preflight_error  # noqa: E402
from bench.app_server import REPOSITORY, AppServer  # noqa: E402

STEPS = tuple(range(1, 8))
SCREENS = ((1280, 720, "light"), (1920, 1080, "light"), (1280, 720, "dark"))

# What one step shows: its title, the boxes of the step and its figure, errors, and the target word's colours.
READ_STEP_JS = r"""(step) => {
  const box = (element) => { if (!element) return null; const r = element.getBoundingClientRect();
    return {top: r.top, bottom: r.bottom, left: r.left, right: r.right, height: r.height}; };
  const container = document.querySelector('.st-key-lecture-step-' + step);
  const figure = document.querySelector('.st-key-lecture-figure-' + step);
  const title = document.querySelector('.st-key-lecture-title-' + step);
  const target = container ? container.querySelector('.lecture-target') : null;
  let colours = null;
  if (target) {
    const style = getComputedStyle(target);
    let background = 'rgba(0, 0, 0, 0)';
    for (let node = target; node; node = node.parentElement) {
      const value = getComputedStyle(node).backgroundColor;
      if (value && !/rgba\(.*,\s*0\)$/.test(value) && value !== 'transparent') { background = value; break; }
    }
    colours = {color: style.color, background: background, text: target.textContent};
  }
  const drawn = figure ? figure.querySelectorAll('svg, canvas').length : 0;
  return {
    busy: !!document.querySelector('[data-testid="stStatusWidget"]'),
    title: title ? title.innerText.trim() : null,
    step: box(container), figure: box(figure), drawn: drawn,
    exceptions: document.querySelectorAll('[data-testid="stException"]').length,
    errors: [...document.querySelectorAll('[data-testid="stAlertContentError"]')].map(e => e.innerText),
    target: colours,
    viewport: {width: window.innerWidth, height: window.innerHeight},
  };
}"""


def lecture_url(base: str, step: int, **params: str) -> str:
    """The link a teacher would prepare: base + ?lesson=seed&step=N (+ sentence, models, ...)."""
    query = {
        "lesson": "seed",
        "step": str(step),
        **{name: value for name, value in params.items() if value is not None},
    }
    return f"{base}/?{urlencode(query)}"


def open_step(page: Any, url: str, step: int, timeout_ms: float = SLOW_TIMEOUT_MS) -> dict:
    """Go to a step's URL and wait until its figure is drawn and the script run is over; returns read_step."""
    from playwright.sync_api import expect

    page.goto(url)
    return wait_step(page, step, timeout_ms, expect)


def wait_step(page: Any, step: int, timeout_ms: float = SLOW_TIMEOUT_MS, expect: Any = None) -> dict:
    """Wait for step ``step``'s figure (charts, the drawn cell, or the notice that stands in for it) and an idle page."""
    if expect is None:
        from playwright.sync_api import expect
    expect(page.locator(f".st-key-lecture-figure-{step}")).to_be_visible(timeout=timeout_ms)
    expect(page.locator(STATUS_WIDGET)).to_have_count(0, timeout=timeout_ms)
    page.wait_for_function(
        "(step) => { const f = document.querySelector('.st-key-lecture-figure-' + step);"
        " return f && f.querySelectorAll('svg, canvas, [data-testid=\"stAlert\"]').length > 0"
        " && !document.querySelector('[data-testid=\"stStatusWidget\"]'); }",
        arg=step,
        timeout=timeout_ms,
    )
    expect(page.locator(".st-key-lecture_next button")).to_contain_text("Next", timeout=timeout_ms)
    page.wait_for_timeout(600)  # Vega's resize to the container width and the buttons' styles settle
    return read_step(page, step)


def read_step(page: Any, step: int) -> dict:
    """What step ``step`` shows now (see READ_STEP_JS)."""
    return page.evaluate(READ_STEP_JS, step)


def _channels(colour: str) -> tuple[float, float, float, float]:
    values = [float(v) for v in re.findall(r"[\d.]+", colour)]
    if len(values) < 3:
        raise ValueError(f"Not a CSS rgb()/rgba() colour: {colour!r}.")
    return values[0], values[1], values[2], values[3] if len(values) > 3 else 1.0


def _luminance(colour: tuple[float, float, float, float]) -> float:
    def linear(channel: float) -> float:
        channel /= 255.0
        return channel / 12.92 if channel <= 0.03928 else ((channel + 0.055) / 1.055) ** 2.4

    red, green, blue, _ = colour
    return 0.2126 * linear(red) + 0.7152 * linear(green) + 0.0722 * linear(blue)


def contrast_ratio(foreground: str, background: str) -> float:
    """WCAG 2 contrast ratio of two CSS colours ("rgb(17, 17, 17)"), 1 to 21.

    Example:
        >>> round(contrast_ratio("rgb(0, 0, 0)", "rgb(255, 255, 255)"), 1)
        21.0
    """
    lighter, darker = sorted((_luminance(_channels(foreground)), _luminance(_channels(background))), reverse=True)
    return (lighter + 0.05) / (darker + 0.05)


NEXT_BUTTON = ".st-key-lecture_next button"
BACK_BUTTON = ".st-key-lecture_back button"


def press(page: Any, button: str, timeout_ms: float = SLOW_TIMEOUT_MS) -> None:
    """Click Back or Next and wait until the page shows something new and is idle again."""
    before = page.evaluate(
        "() => { const t = document.querySelector('[class*=\"st-key-lecture-title-\"]');"
        " return (t ? t.className + t.innerText : ''); }"
    )
    page.wait_for_function(
        "(selector) => document.querySelectorAll(selector).length === 1", arg=button, timeout=timeout_ms
    )
    page.locator(button).click()
    page.wait_for_function(
        "(before) => { const t = document.querySelector('[class*=\"st-key-lecture-title-\"]');"
        " const now = t ? t.className + t.innerText : '';"
        " return now !== before && !document.querySelector('[data-testid=\"stStatusWidget\"]'); }",
        arg=before,
        timeout=timeout_ms,
    )


def walk_belt(page: Any, limit: int = 80) -> dict:
    """On step 5, press Next until it leaves for step 6, then Back once: the belt at its last word."""
    for _ in range(limit):
        press(page, NEXT_BUTTON)
        if page.locator(".st-key-lecture-step-6").count():
            press(page, BACK_BUTTON)
            break
    return wait_step(page, 5)


def fits(shown: dict) -> bool:
    """The figure lies wholly inside the first viewport (no scrolling needed)."""
    figure, viewport = shown["figure"], shown["viewport"]
    return bool(figure) and figure["top"] >= 0 and figure["bottom"] <= viewport["height"] and figure["height"] > 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Screenshot every lecture step at projector sizes, light and dark.")
    parser.add_argument(
        "--checkpoints",
        default=os.path.join(REPOSITORY, "checkpoints"),
        help="folder of checkpoint folders the app serves",
    )
    parser.add_argument(
        "--out", default=os.path.join(REPOSITORY, "artifacts", "lecture"), help="where the PNGs go (git-ignored)"
    )
    parser.add_argument("--sentence", default=None, help="a sentence for the lesson instead of the seed sentence")
    parser.add_argument(
        "--counterfactual", default=None, help="the whole counterfactual sentence (default: the cue swap)"
    )
    parser.add_argument(
        "--target", default=None, help="the target word (default: the sentence's first pronoun after the cue)"
    )
    parser.add_argument("--contrast", default=None, help="the contrast word (default: the target's swap)")
    parser.add_argument("--prefix", default="", help="file name prefix, to keep several sentences' shots apart")
    parser.add_argument(
        "--models", default=None, help="comma-separated model folder names (default: the app's default trio)"
    )
    parser.add_argument(
        "--steps", type=int, nargs="+", default=list(STEPS), choices=STEPS, help="which steps to shoot (default: all)"
    )
    parser.add_argument(
        "--screens",
        nargs="+",
        default=[f"{w}x{h}-{s}" for w, h, s in SCREENS],
        help="screens as WIDTHxHEIGHT-light|dark (default: 1280x720-light 1920x1080-light 1280x720-dark)",
    )
    args = parser.parse_args(argv)
    screens = []
    for screen in args.screens:
        match = re.fullmatch(r"(\d+)x(\d+)-(light|dark)", screen)
        if not match:
            parser.error(f"--screens takes WIDTHxHEIGHT-light or -dark, e.g. 1280x720-dark; got {screen!r}")
        screens.append((int(match.group(1)), int(match.group(2)), match.group(3)))
    problem = preflight_error(args.checkpoints)
    if problem:
        print(f"cannot run: {problem}", file=sys.stderr)
        return 2
    os.makedirs(args.out, exist_ok=True)
    from playwright.sync_api import sync_playwright

    log = os.path.join(tempfile.mkdtemp(prefix="lecture-shots-"), "server.log")
    server = AppServer.start(args.checkpoints, log)
    failures = 0
    try:
        server.wait_healthy(timeout=180)
        with sync_playwright() as playwright:
            browser = launch_chromium(playwright)
            for width, height, scheme in screens:
                context = browser.new_context(viewport={"width": width, "height": height}, color_scheme=scheme)
                page = context.new_page()
                for step in args.steps:
                    url = lecture_url(
                        server.url,
                        step,
                        sentence=args.sentence,
                        counterfactual=args.counterfactual,
                        target=args.target,
                        contrast=args.contrast,
                        models=args.models,
                    )
                    shown = open_step(page, url, step)
                    shots = [(f"{args.prefix}{width}x{height}-{scheme}-step{step}.png", shown)]
                    page.screenshot(path=os.path.join(args.out, shots[0][0]))
                    if step == 5:  # walk the belt with Next to the last word before the target, then shoot it
                        shown = walk_belt(page)
                        name = f"{args.prefix}{width}x{height}-{scheme}-step5-walked.png"
                        page.screenshot(path=os.path.join(args.out, name))
                        shots.append((name, shown))
                    for name, seen in shots:
                        ratio = (
                            contrast_ratio(seen["target"]["color"], seen["target"]["background"])
                            if seen["target"]
                            else None
                        )
                        ok = fits(seen) and not seen["exceptions"] and not seen["errors"]
                        failures += not ok
                        print(
                            f"{name}: {'ok ' if ok else 'BAD'} figure {seen['figure']['top']:.0f}-{seen['figure']['bottom']:.0f} "
                            f"of {height}px, step ends {seen['step']['bottom']:.0f}px, target contrast "
                            f"{'n/a' if ratio is None else f'{ratio:.1f}'}; title: {seen['title']}"
                            + (f"; errors: {seen['errors']}" if seen["errors"] else "")
                        )
                context.close()
            browser.close()
    finally:
        server.stop()
    print(f"screenshots in {args.out}; {failures} screen(s) with a problem")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
