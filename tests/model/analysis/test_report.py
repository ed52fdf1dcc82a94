"""analyze_text: one JSON-able dict with the documented keys, consistent with the parts it is made of."""

from __future__ import annotations

import json
import math

import pytest
import torch
from torch.nn import functional

from model.analysis.inputs import EmptyTextError, prepare_input
from model.analysis.report import SCHEMA, analyze_text
from model.core.checkpoint import load_checkpoint

TEXT = "Mr. Robert said that the weather was fine , so his friend came to tea ."
KEYS = {
    "schema",
    "model",
    "text",
    "tokens",
    "offsets",
    "unknown",
    "unknown_words",
    "truncated",
    "original_words",
    "num_words",
    "predictions",
    "target",
    "influence",
    "occlusion",
    "traces",
    "gradient_flow",
    "ladder",
    "memory_span",
    "timings_ms",
}


@pytest.fixture(scope="module")
def lstm(tiny_checkpoints):
    return load_checkpoint(tiny_checkpoints["lstm"])


def test_report_has_the_documented_keys_and_is_strict_json(lstm):
    report = analyze_text(
        lstm.model, lstm.tokenizer, TEXT + " Zebra", target_word="his", contrast_word="her", ladder=True
    )
    assert set(report) == KEYS and report["schema"] == SCHEMA
    json.loads(json.dumps(report, allow_nan=False))
    length = report["num_words"]
    assert (
        len(report["tokens"])
        == len(report["offsets"])
        == len(report["unknown"])
        == len(report["predictions"])
        == length
    )
    for token, (start, end) in zip(report["tokens"], report["offsets"]):
        assert report["text"][start:end] == token
    assert report["unknown_words"] == ["Zebra"] and report["unknown"][-1] and not report["truncated"]
    matrix = report["influence"]["matrix"]
    assert len(matrix) == length and all(len(row) == length for row in matrix)
    assert all(matrix[t][s] is None for t in range(length) for s in range(t + 1, length))
    assert all(isinstance(matrix[t][s], float) for t in range(length) for s in range(t + 1))
    assert report["influence"]["method"] == "grad" and report["occlusion"]["method"] == "occlusion"
    assert (
        report["target"]["description"] == "log P('his') - log P('her')" and len(report["target"]["values"]) == length
    )
    layers = report["traces"]["layers"]
    assert len(layers[0]["forget_gate"]) == length and len(layers[0]["forget_gate"][0]) == lstm.config.hidden_size
    assert report["gradient_flow"]["retention"]["gate"] == "forget_gate"
    assert report["memory_span"] == report["ladder"]["memory_span"] and "half" in report["memory_span"]["definition"]
    assert set(report["timings_ms"]) >= {"predictions_and_traces", "influence", "occlusion", "total"}


def test_predictions_match_the_model(lstm):
    report = analyze_text(
        lstm.model, lstm.tokenizer, TEXT, top_k=3, with_traces=False, with_gradient_flow=False, with_occlusion=False
    )
    inputs = prepare_input(lstm.tokenizer, TEXT)
    with torch.no_grad():
        log_probs = functional.log_softmax(lstm.model(inputs.ids)[0][0, 1:], dim=-1)
    for position, row in enumerate(report["predictions"]):
        assert [item["word"] for item in row["top"]] == [
            lstm.tokenizer.id_to_token(int(i)) for i in log_probs[position].topk(3).indices
        ]
        if position + 1 < inputs.num_words:
            expected = float(log_probs[position, inputs.word_ids[position + 1]])
            assert row["next_word"] == report["tokens"][position + 1]
            assert math.isclose(row["next_probability"], math.exp(expected), rel_tol=1e-5)
            assert math.isclose(row["surprise_bits"], -expected / math.log(2), rel_tol=1e-5)
        else:
            assert row["next_word"] is None and row["next_probability"] is None
    assert report["traces"] is None and report["occlusion"] is None and report["gradient_flow"] is None
    assert (
        report["target"]["last_is_guess"]
        and report["target"]["words"][-1] == report["predictions"][-1]["top"][0]["word"]
    )


@pytest.mark.parametrize("method", ["gradxinput", "ig", "occlusion"])
def test_every_method_reports_its_settings(tiny_checkpoints, method):
    checkpoint = load_checkpoint(tiny_checkpoints["rnn"])
    report = analyze_text(
        checkpoint.model, checkpoint.tokenizer, TEXT, method=method, ig_steps=32, occlusion_replacement="Mary"
    )
    influence = report["influence"]
    assert influence["method"] == method and influence["definition"]
    if method == "ig":
        assert influence["steps"] == 32 and influence["baseline"] == "unk" and influence["completeness_error"] < 0.01
    if method == "occlusion":
        assert influence["replacement"] == "Mary" and report["occlusion"] is None
    else:
        assert report["occlusion"]["replacement"] == "Mary"
    assert report["gradient_flow"]["retention"] is None  # the tanh RNN has no gate to multiply
    json.dumps(report, allow_nan=False)


def test_truncation_and_bad_requests(lstm):
    report = analyze_text(lstm.model, lstm.tokenizer, TEXT, max_words=5, with_traces=False, with_gradient_flow=False)
    assert (
        report["truncated"]
        and report["num_words"] == 5
        and report["original_words"] == len(lstm.tokenizer.encode(TEXT))
    )
    with pytest.raises(ValueError, match="not in the model's vocabulary"):
        analyze_text(lstm.model, lstm.tokenizer, TEXT, target_word="Zebra")
    with pytest.raises(ValueError, match="method must be one of"):
        analyze_text(lstm.model, lstm.tokenizer, TEXT, method="lime")
    with pytest.raises(EmptyTextError):
        analyze_text(lstm.model, lstm.tokenizer, "   ")
