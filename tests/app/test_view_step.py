"""Word by word view: reveal one word at a time; predictions, gates and memory follow."""

from __future__ import annotations

import pytest
from app_helpers import assert_charts_drawn, chart_titled, exception_free, html_blocks, open_app

MODELS = ["tiny-rnn", "tiny-lstm", "tiny-gru"]  # the app_models fixture, in sidebar order


@pytest.mark.slow
def test_step_through_reveals_words(app_models):
    at = exception_free(open_app("Word by word"))
    assert_charts_drawn(
        at, [*(f"{model}: expected next" for model in MODELS), *(f"{model}: memory so far" for model in MODELS)]
    )
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
    # Three model columns: each model's gates as a small table (gate, mean after word 3, change from word 2).
    from ui.services import analysis_cache
    from ui.services.model_store import discover

    tables = [frame.value for frame in at.dataframe]
    assert [list(table["gate"]) for table in tables] == [
        ["slope tanh′"],
        ["input i", "forget f", "output o"],
        ["reset r", "update z"],
    ]
    lstm = tables[1].set_index("gate")
    entry = {e.name: e for e in discover(app_models)}["tiny-lstm"]
    means = analysis_cache.gates(entry.path, entry.signature, at.session_state["text"])["means"]
    assert abs(lstm.loc["forget f", "mean"] - means["forget_gate"][2]) < 1e-9
    assert abs(lstm.loc["forget f", "change"] - (means["forget_gate"][2] - means["forget_gate"][1])) < 1e-9
    at.button(key="step_back").click().run()
    assert at.session_state["step_words"] == 2


def test_two_models_show_gates_as_metrics(app_models):
    at = exception_free(open_app("Word by word", models=["tiny-rnn", "tiny-lstm"]))
    at.button(key="step_next").click().run()
    gates = {metric.label: metric.value for metric in at.metric}
    assert set(gates) == {"forget f", "input i", "output o", "slope tanh′"}
    assert all(0.0 <= float(value) <= 1.0 for value in gates.values())
