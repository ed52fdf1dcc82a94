"""The lecture's own HTML around the words: every word and the target arrive escaped."""

from __future__ import annotations

from ui.lecture.frame import sentence_html

MARKUP = '<img src=x onerror="alert(1)">'


def test_a_token_that_holds_markup_is_shown_as_text():
    html = sentence_html(["Mr.", MARKUP, "said"], (0, 1), 2, "said")
    assert "<img" not in html and "&lt;img src=x onerror=&quot;alert(1)&quot;&gt;" in html
    assert html.count("<span") == 3  # our own tags only


def test_the_slot_after_the_text_escapes_its_target_word():
    html = sentence_html(["Mr.", "Robert"], (0, 2), 2, MARKUP)
    assert "<img" not in html and "&lt;img" in html
