"""Distance ladder view: spans with definitions, curves against distance, bad words explained."""

from __future__ import annotations

import math
import os

import pytest
from app_helpers import assert_charts_drawn, captions, chart_titled, exception_free, open_app

from model.analysis.memory.ladder import run_ladder
from model.core.checkpoint import load_checkpoint


def test_ladder_shows_spans_and_curves(app_models):
    at = exception_free(open_app("Distance ladder"))
    assert_charts_drawn(
        at, ["against distance", "Influence of “Robert” against distance", "What removing “Robert” costs"]
    )
    checkpoint = load_checkpoint(os.path.join(app_models, "tiny-lstm"))
    expected = run_ladder(checkpoint.model, checkpoint.tokenizer).to_json()
    metrics = {metric.label: metric.value for metric in at.metric}
    assert len(metrics) == 3
    span = expected["memory_span"]
    shown = metrics["tiny-lstm (LSTM) ≈"]
    assert shown == (span["display"] if span["value"] is not None or span["beyond"] else "none measurable")
    assert "Memory span: the distance in words" in captions(at)
    contrast = chart_titled(at, "Preference for “his” over “her”")["data"]
    lstm = contrast[contrast["model"] == "tiny-lstm"]
    assert list(lstm["distance"]) == expected["distances"] and lstm["distance"].iloc[0] == 6
    assert all(math.isclose(a, b, rel_tol=1e-5, abs_tol=1e-7) for a, b in zip(lstm["contrast"], expected["contrast"]))


def test_unknown_ladder_word_is_explained(app_models):
    at = open_app("Distance ladder", ladder_contrast="zeppelin")
    assert not at.exception
    assert any("zeppelin" in error.value for error in at.error)


@pytest.mark.slow
def test_the_ladder_follows_the_preset(app_models):
    from model.analysis.lesson import safe_fillers
    from model.analysis.memory.ladder import DEFAULT_FILLERS, LadderSpec
    from ui.services.presets import PRESETS

    agreement = next(preset for preset in PRESETS if preset.target == "were")
    at = exception_free(open_app("Distance ladder", text=agreement.text))
    assert [at.text_input(key=f"ladder_{name}").value for name in ("source", "target", "contrast")] == [
        "letters",
        "were",
        "was",
    ]
    assert f"starts from the sentence above: “{agreement.text}”" in captions(at)
    assert "contain one of the ladder's words and are left out" in captions(at)  # "once the letters from the bank ..."
    checkpoint = load_checkpoint(os.path.join(app_models, "tiny-gru"))
    fillers = safe_fillers(DEFAULT_FILLERS, ["letters", "were", "was"])
    if checkpoint.tokenizer.token_to_id("were") is not None:
        expected = run_ladder(
            checkpoint.model,
            checkpoint.tokenizer,
            LadderSpec(
                sentence=agreement.text,
                source_word="letters",
                target_word="were",
                contrast_word="was",
                rungs=10,
                fillers=fillers,
            ),
        ).to_json()
        contrast = chart_titled(at, "Preference for “were” over “was”")["data"]
        gru = contrast[contrast["model"] == "tiny-gru"]
        assert all(
            math.isclose(a, b, rel_tol=1e-5, abs_tol=1e-7) for a, b in zip(gru["contrast"], expected["contrast"])
        )
    else:
        assert any("'were'" in error.value for error in at.error)
    # The quotation: the closing quote comes after the text, so the ladder reads it after the text.
    quotation = next(preset for preset in PRESETS if preset.contrast == "<eos>")
    at = exception_free(open_app("Distance ladder", text=quotation.text))
    assert at.text_input(key="ladder_target").value == '"' and at.text_input(key="ladder_contrast").value == "<eos>"
    # A sentence with no cue and pronoun falls back to the seed, and says so.
    at = exception_free(open_app("Distance ladder", text="The rain fell all day ."))
    assert "no cue and pronoun to move apart" in captions(at) and at.text_input(key="ladder_source").value == "Robert"


def _column_share(at, key: str) -> float:
    """The share of its row's width that the column holding widget ``key`` takes (1/5 in a row of five)."""
    for column in at.columns:
        if any(getattr(widget, "key", None) == key for widget in column):
            return round(column.weight, 3)
    raise AssertionError(f"no column holds {key}")


def test_presenter_mode_puts_the_five_fields_on_two_rows(app_models):
    # In fifths of the page the 20 px labels broke over several lines and the boxes no longer lined up.
    keys = ["ladder_source", "ladder_target", "ladder_contrast", "ladder_replacement", "ladder_rungs"]
    at = exception_free(open_app("Distance ladder"))
    assert [_column_share(at, key) for key in keys] == [0.2] * 5
    at = exception_free(open_app("Distance ladder", presenter=True))
    assert [_column_share(at, key) for key in keys] == [0.333] * 3 + [0.5] * 2
