"""ui/views/long_range_lab.py: the per-lag bands over the seeds, the learned share, the budget line and the effective-context chart; no training here."""

from __future__ import annotations

import pytest
from streamlit.testing.v1 import AppTest

from tests.app.app_helpers import assert_every_chart_captioned, captions, chart_titled
from ui.services.jobs import JobRegistry


def _lab_page() -> None:
    from ui.views.long_range_lab import render_lab

    render_lab()


def _context_page() -> None:
    from model.evaluation.effective_context import ContextResult
    from ui.views.long_range_lab import render_effective_context

    curve = {"drop": [0.9, 0.4, 0.1], "shuffle": [0.7, 0.3, 0.05], "replace": [0.8, 0.35, 0.08]}
    errors = {name: [0.01, 0.01, 0.01] for name in curve}
    render_effective_context(
        {
            "novels-rnn": ContextResult([1, 10, 100], 4.8, curve, errors, 150, 250),
            "novels-lstm": ContextResult([1, 10, 100], 4.5, curve, errors, 150, 250),
        }
    )


def test_lab_without_a_run_offers_to_start(monkeypatch):
    import ui.views.long_range_lab

    monkeypatch.setattr(ui.views.long_range_lab, "_session_id", lambda: "lab-test-idle")
    at = AppTest.from_function(_lab_page, default_timeout=30).run()
    assert not at.exception
    assert [button.label for button in at.button] == ["Start the lab"]
    assert [box.label for box in at.number_input] == ["Seeds per model", "First seed"] and at.number_input[0].value == 8
    assert not at.get("vega_lite_chart")
    assert "of 16 seeds" in " ".join(element.value for element in at.markdown)  # the measured shares, not one run


def test_the_measured_claim_names_its_machine_and_escapes_the_file_text(monkeypatch):
    import ui.views.long_range_lab
    from model.lab.record import MeasuredClaim

    claim = MeasuredClaim(16, 0, (30, 60), ("AVX512", "AVX2"), 16, 15, 15, True, "python -m bench.lab --record")
    monkeypatch.setattr(ui.views.long_range_lab, "load_measured", lambda: claim)
    assert " on " not in ui.views.long_range_lab.measured_claim_text().split("(")[1]  # an older file names no machine
    crafted = MeasuredClaim(**{**claim.__dict__, "machine": "*AMD* [EPYC](http://x) <b>", "measured_on": "2026-12-04"})
    monkeypatch.setattr(ui.views.long_range_lab, "load_measured", lambda: crafted)
    text = ui.views.long_range_lab.measured_claim_text()
    assert "under AVX512 and AVX2 on " in text and ", 2026-12-04 (" in text and "15 of 16" in text
    assert "*AMD*" not in text and "[EPYC](" not in text and "<b>" not in text  # Markdown and HTML escaped


def _share(lag: int, values: list[float], chance: float):
    from model.lab.run import LagShare

    return LagShare(
        lag, sum(v >= 0.9 for v in values), len(values), sum(values) / len(values), min(values), max(values), chance
    )


def _finished_job(session: str):
    import ui.views.long_range_lab
    from model.lab.run import LabConfig, LabPlan

    job = ui.views.long_range_lab.LabJob(session_id=session, config=LabConfig(seeds=4), started=100.0)
    job.shares = {
        "rnn": (
            400,
            [
                _share(1, [1.0, 0.9, 1.0, 0.95], 1 / 3),
                _share(20, [0.5, 0.6, 0.4, 0.45], 5 / 12),
                _share(60, [0.4, 0.42, 0.45, 0.41], 5 / 12),
            ],
        ),
        "lstm": (
            400,
            [
                _share(1, [1.0] * 4, 1 / 3),
                _share(20, [1.0, 1.0, 0.99, 1.0], 5 / 12),
                _share(60, [1.0, 0.98, 0.97, 0.6], 5 / 12),
            ],
        ),
    }
    job.plan = LabPlan({"rnn": 0.05, "lstm": 0.12}, {"rnn": 0.2, "lstm": 0.3}, steps=400, evaluations=8, seeds=4)
    job.status, job.ended = "stopped", 171.5
    return job


def test_lab_draws_bands_over_the_seeds_and_the_learned_share_with_chance(monkeypatch):
    import ui.views.long_range_lab

    monkeypatch.setattr(ui.views.long_range_lab, "_session_id", lambda: "lab-test-live")
    registry = JobRegistry()  # this test's own table, gone with the test
    monkeypatch.setattr(ui.views.long_range_lab, "REGISTRY", registry)
    registry.register("lab", "lab-test-live", _finished_job("lab-test-live"))
    at = AppTest.from_function(_lab_page, default_timeout=30).run()
    assert not at.exception
    bands = chart_titled(at, "closing word")
    rows = bands["data"].dropna(subset=["model"])
    assert set(rows["model"]) == {"RNN", "LSTM"} and len(rows) == 6  # two models, three lags
    lstm_60 = rows[(rows["model"] == "LSTM") & (rows["lag"] == 60)].iloc[0]
    assert (lstm_60["low"], lstm_60["high"], lstm_60["learned"]) == (0.6, 1.0, 3)
    assert lstm_60["mean"] == (1.0 + 0.98 + 0.97 + 0.6) / 4
    assert len(bands["data"].dropna(subset=["chance"])) == 3  # the chance line
    assert [
        layer["mark"]["type"] if isinstance(layer["mark"], dict) else layer["mark"] for layer in bands["spec"]["layer"]
    ] == ["area", "line", "line"]
    learned = chart_titled(at, "How many seeds")
    shares = learned["data"].dropna(subset=["model"])
    assert shares[(shares["model"] == "RNN") & (shares["lag"] == 1)]["learned_share"].iloc[0] == 1.0
    assert shares[(shares["model"] == "LSTM") & (shares["lag"] == 60)]["learned_share"].iloc[0] == 0.75
    assert assert_every_chart_captioned(at) == 2
    caption = captions(at)
    assert (
        "chance, 0.33 to 0.42" in caption
        and "128 held-out sequences" in caption
        and "worst to the best seed" in caption
    )
    assert "4 seeds per model" in caption


def test_the_budget_is_one_timed_step_times_the_steps_and_the_clock_stops_at_the_end(monkeypatch):
    import ui.views.long_range_lab

    job = _finished_job("lab-test-clock")
    assert job.elapsed() == job.elapsed(now=10_000.0) == pytest.approx(71.5)  # ended: the clock no longer moves
    line = ui.views.long_range_lab._budget_line(job)
    assert "(72 s in all)" in line
    # 400 x (50 + 120) ms + 8 x (0.2 + 0.3) s = 72 s
    assert "Expected about 72 s" in line and "RNN 50 ms and LSTM 120 ms" in line and "x 400 steps each" in line
    running = ui.views.long_range_lab.LabJob(session_id="x", config=job.config, started=0.0)
    assert "Timing one training step" in ui.views.long_range_lab._budget_line(running)


def test_effective_context_chart_is_captioned():
    at = AppTest.from_function(_context_page, default_timeout=30).run()
    assert not at.exception
    chart = chart_titled(at, "How far back")
    assert len(chart["data"].dropna(subset=["distance"])) == 2 * 3 * 3
    assert assert_every_chart_captioned(at) == 1
    caption = captions(at)
    assert "150 target positions" in caption and "novels-lstm 4.50 nats" in caption


@pytest.mark.slow
def test_lab_tab_shows_the_stored_effective_context_of_the_chosen_models(app_models, corpus_dir, capsys):
    import json

    from model.cli.context import main as context_main
    from tests.app.app_helpers import open_app

    lstm = f"{app_models}/tiny-lstm"
    assert (
        context_main(
            [
                lstm,
                "--text",
                f"{corpus_dir}/test.txt",
                "--positions",
                "6",
                "--distances",
                "1",
                "3",
                "--context-length",
                "10",
                "--save",
                "--json",
            ]
        )
        == 0
    )
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
