"""The lecture in a real browser (Debian Chromium + Playwright) at a projector's 1280 x 720, on the tiny models.

Every step is opened by its URL, the way a teacher's prepared link opens it: its figure must lie inside
the first viewport without scrolling, no exception may show, and its title must change with the
sentence (the findings are computed, not written in). In the dark theme the target word must keep a
WCAG contrast of at least 4.5 against its background. The arrow keys step through the lesson.
"""

from __future__ import annotations

import pytest

from bench.lecture_screenshots import contrast_ratio, fits, lecture_url, open_step, read_step, wait_step

PROJECTOR = {"width": 1280, "height": 720}
STEPS = range(1, 8)
# A sentence in the tiny models' own words (tests/text_fixtures.py): clear cue effects, other numbers.
TINY = "Mr. John said that the road was long , so his friend came to tea ."


def check_screen(shown: dict) -> None:
    assert shown["exceptions"] == 0 and not shown["errors"], shown
    assert fits(shown), f"the figure ends at {shown['figure']} in a {shown['viewport']} viewport"
    assert shown["title"], shown


@pytest.mark.parametrize("step", STEPS)
def test_every_step_by_url_fits_the_first_screen_and_words_its_numbers(app_url, new_page, step):
    page = new_page(PROJECTOR)
    seed = open_step(page, lecture_url(app_url, step), step)
    check_screen(seed)
    assert page.evaluate("() => window.scrollY") == 0
    other = open_step(page, lecture_url(app_url, step, sentence=TINY), step)
    check_screen(other)
    assert other["title"] != seed["title"], (seed["title"], other["title"])


def test_dark_theme_keeps_the_target_word_readable(app_url, browser):
    context = browser.new_context(viewport=PROJECTOR, color_scheme="dark")
    try:
        page = context.new_page()
        for step in STEPS:
            shown = open_step(page, lecture_url(app_url, step), step)
            check_screen(shown)
            target = shown["target"]
            assert target and target["text"].strip() == "his", target
            assert page.evaluate("() => matchMedia('(prefers-color-scheme: dark)').matches")
            ratio = contrast_ratio(target["color"], target["background"])
            assert ratio >= 4.5, (step, target, ratio)
        body = page.evaluate(
            "() => getComputedStyle(document.querySelector('[data-testid=\"stApp\"]')).backgroundColor"
        )
        assert contrast_ratio(body, "rgb(0, 0, 0)") < 3  # the page really is dark, so the check above means something
    finally:
        context.close()


def test_arrow_keys_and_buttons_step_through_the_lesson(app_url, new_page):
    page = new_page(PROJECTOR)
    open_step(page, lecture_url(app_url, 1), 1)
    page.locator(".st-key-lecture-title-1").click()  # focus the page, not a text box
    page.keyboard.press("ArrowRight")
    assert wait_step(page, 2)["title"]
    assert "step=2" in page.url
    page.keyboard.press("ArrowLeft")
    assert wait_step(page, 1)["title"]
    page.locator(".st-key-lecture_next button").click()
    shown = wait_step(page, 2)
    check_screen(shown)
    assert read_step(page, 1)["step"] is None  # one step on screen at a time
