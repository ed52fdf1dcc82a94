"""ui/lab.py: the live accuracy-vs-lag chart and the effective-context chart, each captioned; no training here."""
from __future__ import annotations

from streamlit.testing.v1 import AppTest

from tests.app.app_helpers import assert_every_chart_captioned, captions, chart_titled


def _lab_page() -> None:
    from ui.lab import render_lab

    render_lab()


def _context_page() -> None:
    from model.context import ContextResult
    from ui.lab import render_effective_context

    curve = {"drop": [0.9, 0.4, 0.1], "shuffle": [0.7, 0.3, 0.05], "replace": [0.8, 0.35, 0.08]}
    errors = {name: [0.01, 0.01, 0.01] for name in curve}
    render_effective_context({
        "novels-rnn": ContextResult([1, 10, 100], 4.8, curve, errors, 150, 250),
        "novels-lstm": ContextResult([1, 10, 100], 4.5, curve, errors, 150, 250),
    })


def test_lab_without_a_run_offers_to_start(monkeypatch):
    import ui.lab

    monkeypatch.setattr(ui.lab, "_session_id", lambda: "lab-test-idle")
    at = AppTest.from_function(_lab_page, default_timeout=30).run()
    assert not at.exception
    assert [button.label for button in at.button] == ["Start the lab"]
    assert not at.get("vega_lite_chart")


def test_lab_draws_the_latest_curves_with_chance(monkeypatch):
    import ui.lab
    from model.lab import LabConfig

    monkeypatch.setattr(ui.lab, "_session_id", lambda: "lab-test-live")
    job = ui.lab.LabJob(session_id="lab-test-live", config=LabConfig())
    job.curves = {"rnn": (96, {1: 0.9, 20: 0.55, 60: 0.42}), "lstm": (64, {1: 1.0, 20: 1.0, 60: 0.98})}
    job.chance = {1: 1 / 3, 20: 5 / 12, 60: 5 / 12}
    job.status = "stopped"
    monkeypatch.setitem(ui.lab._JOBS, "lab-test-live", job)
    at = AppTest.from_function(_lab_page, default_timeout=30).run()
    assert not at.exception
    chart = chart_titled(at, "closing word")
    rows = chart["data"]
    assert set(rows["model"].dropna()) == {"RNN", "LSTM"}
    assert len(rows.dropna(subset=["model"])) == 6  # two models, three lags
    assert len(rows.dropna(subset=["chance"])) == 3  # the chance line
    assert assert_every_chart_captioned(at) == 1
    caption = captions(at)
    assert "chance, 0.33 to 0.42" in caption and "128 held-out sequences" in caption


def test_effective_context_chart_is_captioned():
    at = AppTest.from_function(_context_page, default_timeout=30).run()
    assert not at.exception
    chart = chart_titled(at, "How far back")
    assert len(chart["data"].dropna(subset=["distance"])) == 2 * 3 * 3
    assert assert_every_chart_captioned(at) == 1
    caption = captions(at)
    assert "150 target positions" in caption and "novels-lstm 4.50 nats" in caption


def test_lab_tab_shows_the_stored_effective_context_of_the_chosen_models(app_models, corpus_dir, capsys):
    import json

    from model.context import main as context_main
    from tests.app.app_helpers import open_app

    lstm = f"{app_models}/tiny-lstm"
    assert context_main([lstm, "--text", f"{corpus_dir}/test.txt", "--positions", "6", "--distances", "1", "3",
                         "--context-length", "10", "--save", "--json"]) == 0
    stored = json.loads(capsys.readouterr().out)["checkpoints"][0]
    at = open_app("Long-range lab", models=["tiny-rnn", "tiny-lstm"])
    assert not at.exception
    chart = chart_titled(at, "How far back")
    rows = chart["data"].dropna(subset=["distance"])
    assert set(rows["model"]) == {"tiny-lstm"} and len(rows) == 3 * 2  # three perturbations, two distances
    drop = rows[rows["perturbation"] == "drop"].sort_values("distance")["increase"].tolist()
    assert drop == stored["increase"]["drop"]
    caption = captions(at)
    assert "tiny-lstm: test.txt (sha256" in caption and "Not measured yet for tiny-rnn" in caption
    assert "python -m model.context CHECKPOINT --text FILE --save" in caption
