"""Distance ladder view: spans with definitions, curves against distance, bad words explained."""
from __future__ import annotations

import math
import os

from app_helpers import assert_every_chart_captioned, captions, chart_titled, exception_free, open_app
from model.analysis.ladder import run_ladder
from model.checkpoint import load_checkpoint


def test_ladder_shows_spans_and_curves(app_models):
    at = exception_free(open_app("Distance ladder"))
    assert assert_every_chart_captioned(at) == 3
    checkpoint = load_checkpoint(os.path.join(app_models, "tiny-lstm"))
    expected = run_ladder(checkpoint.model, checkpoint.tokenizer).to_json()
    metrics = {metric.label: metric.value for metric in at.metric}
    assert len(metrics) == 3
    span = expected["memory_span"]
    shown = metrics["tiny-lstm (LSTM) ≈"]
    assert shown == (span["display"] if span["value"] is not None or span["beyond"] else "no preference")
    assert "Memory span: the distance in words" in captions(at)
    contrast = chart_titled(at, "Preference for “his” over “her”")["data"]
    lstm = contrast[contrast["model"] == "tiny-lstm"]
    assert list(lstm["distance"]) == expected["distances"] and lstm["distance"].iloc[0] == 6
    assert all(math.isclose(a, b, rel_tol=1e-5, abs_tol=1e-7) for a, b in zip(lstm["contrast"], expected["contrast"]))


def test_unknown_ladder_word_is_explained(app_models):
    at = open_app("Distance ladder", ladder_contrast="zeppelin")
    assert not at.exception
    assert any("zeppelin" in error.value for error in at.error)
