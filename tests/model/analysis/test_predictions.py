"""model/analysis/predictions.py: the table against a hand-made distribution, and the report built from it."""

from __future__ import annotations

import math

import pytest
import torch

from model.analysis.inputs import prepare_input
from model.analysis.memory.traces import compute_traces
from model.analysis.predictions import prediction_table
from model.analysis.report import analyze_text
from model.core.checkpoint import load_checkpoint


class Words:
    def id_to_token(self, index: int) -> str:
        return "abcd"[index]


def test_top_words_probabilities_surprise_and_ranks_of_a_known_distribution():
    probs = torch.tensor([[0.5, 0.25, 0.125, 0.125], [0.1, 0.2, 0.3, 0.4]], dtype=torch.float64)
    table = prediction_table(probs.log(), torch.tensor([1, 0]), Words(), top_k=2)
    assert [[item["word"] for item in row] for row in table["top"]] == [["a", "b"], ["d", "c"]]
    assert table["top"][1][0]["prob"] == pytest.approx(0.4)
    assert table["actual"][0] == {"prob": pytest.approx(0.25), "bits": pytest.approx(2.0), "rank": 2}
    assert table["actual"][1]["rank"] == 4 and table["actual"][1]["bits"] == pytest.approx(-math.log2(0.1))
    with pytest.raises(ValueError, match="each next word needs its row"):
        prediction_table(probs.log(), torch.tensor([0, 1, 2]), Words(), top_k=2)


def test_the_app_table_and_the_report_agree(tiny_checkpoints):
    checkpoint = load_checkpoint(tiny_checkpoints["lstm"])
    text = "Mr. John said that his friend came home"
    inputs = prepare_input(checkpoint.tokenizer, text)
    traces = compute_traces(checkpoint.model, inputs)
    table = prediction_table(traces.log_probs, inputs.word_ids, checkpoint.tokenizer, 5)  # row r predicts word r
    report = analyze_text(checkpoint.model, checkpoint.tokenizer, text, top_k=5, with_occlusion=False)
    assert len(table["top"]) == inputs.num_words + 1 and len(report["predictions"]) == inputs.num_words
    for position, row in enumerate(report["predictions"]):  # the report's row p is the table's row p + 1
        assert [item["word"] for item in row["top"]] == [item["word"] for item in table["top"][position + 1]]
        if row["next_word"] is not None:
            assert row["next_probability"] == pytest.approx(table["actual"][position + 1]["prob"], rel=1e-6)
