"""Every stage of a checkpoint's training, read from metrics.json and summed."""

from __future__ import annotations

import json
import os

import pytest

from model.training.history import combined_curve, training_stages, training_totals

SHIPPED_LSTM = os.path.join(os.path.dirname(__file__), "..", "..", "..", "checkpoints", "novels-lstm", "metrics.json")


def _two_stage() -> dict:
    stage1 = {
        "epochs": 8.0,
        "steps": 4704,
        "wall_time_seconds": 1859.3,
        "train_config": {"bptt": 70, "lr": 0.002, "seed": 7},
        "corpus": "novels",
        "tokens": {"train": 2_631_594, "valid": 122_508},
        "curve": [{"step": 50, "train_ppl": 612.4, "grad_norm_max": 1.26}, {"step": 4704, "train_ppl": 52.1}],
        "validation": [{"step": 4704, "split": "valid", "ppl": 60.7}],
        "valid_ppl": 60.7,
        "test_ppl": 58.2,
    }
    return {
        "epochs": 1.0,
        "steps": 206,
        "total_steps_trained": 206,
        "wall_time_seconds": 204.8,
        "train_config": {"bptt": 200, "lr": 0.0005, "seed": 7, "init_from": "checkpoints/novels-lstm-stage1"},
        "curve": [{"step": 50, "train_ppl": 52.9}],
        "validation": [{"step": 206, "split": "valid", "ppl": 60.3}],
        "valid_ppl": 60.3,
        "test_ppl": 57.9,
        "pretraining": stage1,
    }


def test_two_stages_are_listed_and_summed():
    stages = training_stages(_two_stage())
    assert [s["stage"] for s in stages] == ["stage 1 of 2", "stage 2 of 2"]
    assert [(s["epochs"], s["steps"], s["bptt"]) for s in stages] == [(8.0, 4704.0, 70), (1.0, 206.0, 200)]
    assert stages[1]["init_from"] == "checkpoints/novels-lstm-stage1" and stages[0]["init_from"] is None
    totals = training_totals(stages)
    assert (
        totals["steps"] == 4910 and totals["epochs"] == 9 and totals["minutes"] == pytest.approx((1859.3 + 204.8) / 60)
    )
    assert [(s["corpus"], s["train_tokens"]) for s in stages] == [("novels", 2_631_594), (None, None)]
    assert totals["tokens_read"] is None  # stage 2 does not say what it read
    record = _two_stage()
    record.update(corpus="novels", tokens={"train": 1000})
    assert training_totals(training_stages(record))["tokens_read"] == 8 * 2_631_594 + 1 * 1000
    curve = combined_curve(_two_stage())
    assert [row["step"] for row in curve if row["split"].startswith("train")] == [50, 4704, 4754]  # stage 2 continues
    assert [row["step"] for row in curve if "held out" in row["split"]] == [4704, 4910]
    assert curve[0]["grad_norm_max"] == 1.26 and curve[1]["grad_norm_max"] is None


def test_one_stage_and_missing_numbers():
    stages = training_stages({"epochs": 6.0, "steps": 3528, "wall_time_seconds": 2094.5})
    assert [s["stage"] for s in stages] == ["one stage"] and training_totals(stages)["minutes"] == pytest.approx(
        34.9, abs=0.01
    )
    assert training_totals(training_stages({"epochs": 2, "steps": 10}))["minutes"] is None
    assert combined_curve({"curve": [{"step": "x", "train_ppl": 3}, "junk"]}) == []


def test_the_shipped_lstm_reports_both_stages():
    with open(SHIPPED_LSTM, encoding="utf-8") as stream:
        stages = training_stages(json.load(stream))
    assert [s["epochs"] for s in stages] == [8.0, 1.0] and [s["bptt"] for s in stages] == [70, 200]
    assert training_totals(stages)["steps"] == 4704 + 206


def test_a_chain_of_warm_starts_nests_and_each_stage_is_listed_first_to_last():
    newest = {"epochs": 1.0, "steps": 10, "wall_time_seconds": 60.0, "pretraining": _two_stage()}
    stages = training_stages(newest)
    assert [s["stage"] for s in stages] == ["stage 1 of 3", "stage 2 of 3", "stage 3 of 3"]
    assert [s["steps"] for s in stages] == [4704.0, 206.0, 10.0]
    assert training_totals(stages)["steps"] == 4920
    assert [row["step"] for row in combined_curve(newest) if "held out" in row["split"]] == [4704, 4910]


def test_a_crafted_endless_chain_is_cut_not_followed():
    record: dict = {"epochs": 1.0}
    for _ in range(500):
        record = {"epochs": 1.0, "pretraining": record}
    stages = training_stages(record)
    assert 1 < len(stages) <= 64 and stages[-1]["stage"].endswith(f"of {len(stages)}")
