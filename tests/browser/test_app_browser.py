"""The app in a real browser (Debian Chromium + Playwright) on the tiny models.

Checks what AppTest cannot: the page really renders the Vega charts, typed HTML stays
inert text in the DOM, the Word by word buttons work, and parallel sessions are kept apart.
Every expected prediction is computed directly from the same checkpoint folders with
model.predict.top_k_next_words (see bench.app_oracle).
"""

from __future__ import annotations

import os
import re

import pytest

try:
    from playwright.sync_api import TimeoutError as PlaywrightTimeout
    from playwright.sync_api import expect
except ImportError:  # the `browser` fixture then fails every test with the install command
    PlaywrightTimeout, expect = TimeoutError, None

from bench.app_driver import (
    SENTENCE_INPUT,
    SLOW_TIMEOUT_MS,
    STATUS_WIDGET,
    read_next_word,
    submit_sentence,
    timed_result_ms,
    timed_submit,
    wait_for_predictions,
)
from bench.app_server import REPOSITORY

SEED = "Mr. Robert is going on a vacation with his wife to Hawaii next month."
MODELS = ["tiny-rnn", "tiny-lstm", "tiny-gru"]
TITLE = "Memory Lab"
SCREENSHOT = os.path.join(REPOSITORY, "artifacts", "screenshots", "main.png")
XSS_PAYLOADS = [
    """<img src=x onerror="document.title='pwned'">""",
    """<iframe srcdoc="<script>parent.document.title='pwned'</script>">""",
    "<style>body{display:none}</style>",
]
# Different sentences whose top-1 next words differ (his / fine / tea / somewhere / cold for the tiny RNN).
PARALLEL_SENTENCES = [
    "Mr. John said so",
    "Mrs. Mary said that the weather was",
    "the road was long , and the tea was",
]  # three sessions in flight together prove they do not share results; five only cost CI time

# Per model column of the Word by word tab: the revealed words and the "expected next" bars, most probable first.
READ_STEP_JS = r"""() => {
  const revealed = document.querySelector('.memory-lab-words');
  const models = {};
  for (const title of document.querySelectorAll('[aria-roledescription="title"]')) {
    const match = /^Title text '(.*): expected next'$/.exec(title.getAttribute('aria-label') || '');
    if (!match) continue;
    models[match[1]] = [...title.closest('svg').querySelectorAll('[aria-roledescription="bar"]')].map(bar => {
      const label = bar.getAttribute('aria-label') || '';
      return [(/(?:^|; )word: (.*?)(?:; prob: |$)/.exec(label) || [])[1], Number((/^probability: ([^;]+)/.exec(label) || [])[1])];
    }).sort((a, b) => b[1] - a[1]);
  }
  return {busy: !!document.querySelector('[data-testid="stStatusWidget"]'), revealed: revealed ? [...revealed.children].map(span => span.textContent) : [], models};
}"""
# Idle, the expected words revealed, and each model's top bar is its expected top-1 word (or ties with it).
STEP_READY_JS = (
    "(arg) => { const step = ("
    + READ_STEP_JS
    + r""")();
  if (step.busy || JSON.stringify(step.revealed) !== JSON.stringify(arg.revealed)) return false;
  return Object.entries(arg.top1).every(([model, word]) => {
    const bars = step.models[model];
    const same = bars && bars.find(bar => bar[0] === word);
    return same && Math.abs(same[1] - bars[0][1]) <= 1e-4;
  });
}"""
)


def wait_idle(page) -> None:
    """The script run is over (Streamlit's running indicator is gone)."""
    expect(page.locator(STATUS_WIDGET)).to_have_count(0)


def show_sentence(page, oracle, text: str) -> dict:
    """Type ``text``, press Enter and wait until every model shows its words and its correct top-1 word."""
    expected = oracle.expected(text, MODELS)
    submit_sentence(page, text)
    try:
        wait_for_predictions(page, expected, SLOW_TIMEOUT_MS)
    except PlaywrightTimeout:
        pytest.fail(
            f"the page never showed the expected predictions for {text!r}.\nexpected: {expected}\nshown: {read_next_word(page)}"
        )
    return expected


def open_tab(page, label: str) -> None:
    page.get_by_role("tab", name=label, exact=True).click()
    expect(page.get_by_role("tab", name=label, exact=True)).to_have_attribute("aria-selected", "true")
    # The view's own heading is in the DOM in both modes; presenter mode hides it (the tab names the view).
    expect(page.locator('[role="tabpanel"] h2').filter(has_text=re.compile(rf"^{re.escape(label)}$"))).to_be_attached()
    wait_idle(page)


@pytest.fixture(scope="module")
def app_page(browser, app_url):
    """One session shared by the single-session tests (a page load is the slow part)."""
    context = browser.new_context(viewport={"width": 1400, "height": 1000})
    context.set_default_timeout(SLOW_TIMEOUT_MS)
    page = context.new_page()
    page.goto(app_url)
    expect(page.locator(SENTENCE_INPUT)).to_be_visible()
    yield page
    context.close()


def test_seed_sentence_renders_predictions_and_charts_for_every_model(app_page, oracle):
    page = app_page
    expect(page).to_have_title(TITLE)
    expect(page.locator(SENTENCE_INPUT)).to_have_value(SEED)
    expected = show_sentence(page, oracle, SEED)
    wait_idle(page)
    columns = page.locator('[data-testid="stColumn"]').filter(has=page.locator("svg[class='marks']"))
    expect(columns).to_have_count(len(MODELS))
    # The models' names stand in a row of their own above the chart columns, in the same order.
    names = [f"{model} ({model.split('-')[1].upper()})" for model in MODELS]
    expect(page.locator('[data-testid="stColumn"]').filter(has_text=re.compile(r"^tiny-\w+ \(\w+\)$"))).to_have_text(
        names
    )
    for index, model in enumerate(MODELS):
        column = columns.nth(index)
        # vega-embed drew the chart (SVG here; canvas for very large charts).
        expect(column.locator(".vega-embed svg, .vega-embed canvas").first).to_be_visible()
        top1 = expected[model]["top1"]
        expect(column.locator("svg text").filter(has_text=re.compile(rf"^{re.escape(top1)}$")).first).to_be_visible()
        assert column.locator(".memory-lab-words > span").all_text_contents() == expected[model]["words"]
    strip = page.locator(".vega-embed").filter(has=page.locator('[aria-label*="Probability each model gave"]'))
    expect(strip.locator("svg")).to_be_visible()
    assert not page.locator('[data-testid="stException"]').count()

    page.set_viewport_size({"width": 1400, "height": 2600})  # the app scrolls inside its own container
    expect(columns.first.locator(".vega-embed svg").first).to_be_visible()
    os.makedirs(os.path.dirname(SCREENSHOT), exist_ok=True)
    page.screenshot(path=SCREENSHOT)
    page.set_viewport_size({"width": 1400, "height": 1000})
    assert os.path.getsize(SCREENSHOT) > 20_000


def test_presenter_mode_steps_through_the_sentence(app_page, oracle):
    page = app_page
    open_tab(page, "Next word")
    show_sentence(page, oracle, SEED)
    tokens = oracle.checkpoint(MODELS[0]).tokenizer.encode(SEED)
    page.get_by_text("Presenter mode").click()
    expect(page.get_by_role("switch", name="Presenter mode")).to_be_checked()
    expect(page.locator('[data-testid="stAppViewContainer"]')).to_have_css("font-size", "21px")  # large type
    open_tab(page, "Word by word")

    seen_tops = []
    for shown in (1, 2, 3, 4):
        if shown > 1:
            page.get_by_role("button", name="Next ▶").click()
        revealed = tokens.tokens[:shown] + ["▢"] * (len(tokens.tokens) - shown)
        expect(page.locator(".memory-lab-words > span")).to_have_text(revealed)
        upcoming = tokens.tokens[shown]
        expect(page.get_by_text(f"The real next word “{upcoming}” got").first).to_be_visible()
        prefix = SEED[: tokens.offsets[shown - 1][1]]
        top1 = {model: answer["top1"] for model, answer in oracle.expected(prefix, MODELS).items()}
        try:
            page.wait_for_function(STEP_READY_JS, arg={"revealed": revealed, "top1": top1}, timeout=SLOW_TIMEOUT_MS)
        except PlaywrightTimeout:
            pytest.fail(
                f"after {shown} words: expected revealed {revealed} and top-1 {top1}; shown {page.evaluate(READ_STEP_JS)}"
            )
        step = page.evaluate(READ_STEP_JS)
        seen_tops.append({model: step["models"][model] for model in MODELS})
    assert all(seen_tops[index] != seen_tops[index + 1] for index in range(len(seen_tops) - 1)), (
        "predictions did not change"
    )
    page.get_by_role("button", name="◀ Back").click()
    expect(page.locator(".memory-lab-words > span")).to_have_text(tokens.tokens[:3] + ["▢"] * (len(tokens.tokens) - 3))
    page.get_by_text("Presenter mode").click()
    expect(page.get_by_role("switch", name="Presenter mode")).not_to_be_checked()
    wait_idle(page)


def assert_inert(page, payload: str) -> None:
    """Nothing from the payload became markup: title, images, frames, styles and the page itself are intact."""
    expect(page).to_have_title(TITLE)
    assert page.locator('img[src="x"], img[onerror]').count() == 0
    assert page.locator("iframe").count() == 0
    injected_styles = page.evaluate(
        "() => [...document.querySelectorAll('style')].filter(s => s.textContent.includes('body{display:none}')).length"
    )
    assert injected_styles == 0
    assert page.evaluate("() => getComputedStyle(document.body).display") != "none"
    expect(page.locator('[data-testid="stApp"]')).to_be_visible()
    expect(page.locator(SENTENCE_INPUT)).to_have_value(payload)
    assert page.locator('[data-testid="stException"]').count() == 0


def test_html_typed_as_the_sentence_stays_inert_text(app_page, oracle):
    page = app_page
    open_tab(page, "Next word")
    for payload in XSS_PAYLOADS:
        expected = show_sentence(page, oracle, payload)
        assert_inert(page, payload)
        # Shown escaped: every token, "<" and ">" included, is the text of its own span in each column.
        for model in MODELS:
            assert (
                "<" in expected[model]["words"]
                and read_next_word(page)["models"][model]["words"] == expected[model]["words"]
            )
    combined = " ".join(XSS_PAYLOADS)
    show_sentence(page, oracle, combined)
    for label in ("Gates and cell state", "Memory and influence", "Word by word", "Export"):
        open_tab(page, label)
        assert_inert(page, combined)
    page.wait_for_timeout(300)  # an onerror handler would have fired by now
    expect(page).to_have_title(TITLE)
    open_tab(page, "Next word")


def test_parallel_sessions_each_get_their_own_predictions(new_page, app_url, oracle):
    expected = [oracle.expected(text, MODELS) for text in PARALLEL_SENTENCES]
    assert len({answer["tiny-rnn"]["top1"] for answer in expected}) == len(PARALLEL_SENTENCES), (
        "sentences must differ in answer"
    )
    pages = [new_page() for _ in PARALLEL_SENTENCES]
    for page in pages:
        page.goto(app_url, wait_until="commit")
    for page in pages:
        expect(page.locator(SENTENCE_INPUT)).to_be_visible()
    for page, text, answer in zip(pages, PARALLEL_SENTENCES, expected):
        timed_submit(page, text, answer)  # all the runs are in flight together (the load bench's timer)
    for page, text, answer in zip(pages, PARALLEL_SENTENCES, expected):
        try:
            assert timed_result_ms(page, SLOW_TIMEOUT_MS) > 0
        except PlaywrightTimeout:
            pytest.fail(
                f"session for {text!r} never showed its predictions.\nexpected: {answer}\nshown: {read_next_word(page)}"
            )
    for page, text, answer in zip(pages, PARALLEL_SENTENCES, expected):
        shown = read_next_word(page)["models"]
        expect(page.locator(SENTENCE_INPUT)).to_have_value(text)
        for model in MODELS:
            assert shown[model]["words"] == answer[model]["words"], (text, model)
            assert (
                shown[model]["top"][0][0] == answer[model]["top1"]
                or abs(dict(shown[model]["top"])[answer[model]["top1"]] - shown[model]["top"][0][1]) <= 1e-4
            )
