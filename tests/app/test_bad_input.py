"""Bad input gets a clear message and the page keeps working."""

from __future__ import annotations

import pytest
from app_helpers import chart_titled, exception_free, html_blocks, open_app


@pytest.mark.slow
@pytest.mark.parametrize("text", ["", "    ", "\u200b\u200b"])
def test_empty_text(app_models, text):
    at = exception_free(open_app("Next word", text=text))
    assert any("The text is empty" in error.value for error in at.error)
    assert not at.get("vega_lite_chart")


def test_only_punctuation(app_models):
    at = exception_free(open_app("Gates and cell state", text="?! ... ,;"))
    assert any("only punctuation" in error.value for error in at.error)
    assert not at.get("vega_lite_chart")


def test_long_text_is_cut_with_a_notice(app_models):
    text = " ".join(["Mr. Robert said that the tea was cold ."] * 30)  # 270 words and marks
    at = exception_free(open_app("Next word", text=text))
    assert any("the views use the first 80" in warning.value for warning in at.warning)
    strip = chart_titled(at, "Probability each model gave")["data"]
    assert strip["word"].nunique() == 80


def test_all_words_unknown(app_models):
    at = exception_free(open_app("Next word", text="Zorglub quixotically flabbergasted xylophones"))
    notices = [warning.value for warning in at.warning if "none of these words" in warning.value]
    # One notice names every model that knows none of the words (the tiny models share their vocabulary).
    assert len(notices) == 1 and all(f"tiny-{arch}" in notices[0] for arch in ("rnn", "lstm", "gru"))
    assert "know none of these words" in notices[0]


@pytest.mark.slow
def test_emoji_rtl_and_zero_width(app_models):
    text = "Mr. Rob\u200bert 😀 שלום is going with his wife \u202e ."
    at = exception_free(open_app("Memory and influence", text=text))
    assert any("Removed 2 invisible character" in warning.value for warning in at.warning)
    spans = " ".join(html_blocks(at))
    assert "😀" in spans and "שלום" in spans and 'dir="auto"' in spans
    assert "\u200b" not in spans and "\u202e" not in spans


@pytest.mark.slow
def test_html_and_script_are_escaped(app_models):
    text = "<script>alert(1)</script> Mr. Robert <b>his</b> wife"
    for view in ("Next word", "Memory and influence", "Word by word"):
        at = exception_free(open_app(view, text=text))
        blocks = html_blocks(at)
        assert blocks, view
        joined = " ".join(blocks)
        assert "<script" not in joined and "<b>" not in joined
        assert "&lt;" in joined  # the "<" of "<script>" is shown as text (Word by word reveals only it at first)
        for element in list(at.markdown) + list(at.caption) + list(at.warning):
            assert "<script" not in element.value


def test_markdown_in_the_text_is_shown_literally(app_models):
    at = exception_free(open_app("Next word", text="Mr. [Robert](javascript:alert(1)) $x$ **his** wife"))
    captions = " ".join(caption.value for caption in at.caption)
    assert "](javascript" not in captions
