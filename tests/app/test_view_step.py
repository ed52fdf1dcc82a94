"""Word by word view: reveal one word at a time; predictions, gates and memory follow."""
from __future__ import annotations

from app_helpers import assert_every_chart_captioned, chart_titled, exception_free, html_blocks, open_app


def test_step_through_reveals_words(app_models):
    at = exception_free(open_app("Word by word"))
    assert assert_every_chart_captioned(at) == 6
    assert at.session_state["step_words"] == 1
    assert html_blocks(at)[0].count("▢") == 15
    first = chart_titled(at, "tiny-lstm: expected next")["data"]
    at.button(key="step_next").click().run()
    at.button(key="step_next").click().run()
    exception_free(at)
    assert at.session_state["step_words"] == 3
    assert html_blocks(at)[0].count("▢") == 13
    memory = chart_titled(at, "tiny-lstm: memory so far (cell c)")["data"]
    assert memory["word"].nunique() == 3
    assert not chart_titled(at, "tiny-lstm: expected next")["data"].equals(first)
    gates = {metric.label for metric in at.metric}
    assert {"forget f", "input i", "output o", "slope tanh′", "update z"} <= gates
    at.button(key="step_back").click().run()
    assert at.session_state["step_words"] == 2
