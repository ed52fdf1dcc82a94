"""The recorded lab claim: the worst case over instruction sets, written atomically, crafted files refused."""

from __future__ import annotations

import json

import pytest

from model.lab.record import SCHEMA, claim_from_runs, load_measured, save_measured


def _run(capability: str, lstm: int, rnn: int, holds: bool) -> dict:
    return {
        "capability": capability,
        "claim": {
            "seeds": 16,
            "lags": [30, 40, 50, 60],
            "lstm_learned": lstm,
            "rnn_below": rnn,
            "required": 15,
            "holds": holds,
        },
    }


def test_the_record_keeps_the_worst_count_of_each_model_over_the_runs(tmp_path):
    claim = claim_from_runs(
        [_run("AVX512", 16, 15, True), _run("AVX2", 14, 16, False)],
        first_seed=0,
        command="python -m bench.lab --record",
    )
    assert (claim.lstm_learned, claim.rnn_below, claim.holds, claim.isas) == (14, 15, False, ("AVX512", "AVX2"))
    path = tmp_path / "lab_measured.json"
    save_measured(claim, str(path))
    assert json.loads(path.read_text())["schema"] == SCHEMA
    assert load_measured(str(path)) == claim


def test_no_record_is_none_and_mismatched_runs_are_refused(tmp_path):
    assert load_measured(str(tmp_path / "missing.json")) is None
    with pytest.raises(ValueError, match="at least one"):
        claim_from_runs([], 0, "x")
    other = _run("AVX2", 16, 16, True)
    other["claim"]["seeds"] = 8
    with pytest.raises(ValueError, match="different seeds"):
        claim_from_runs([_run("AVX512", 16, 15, True), other], 0, "x")


@pytest.mark.parametrize(
    "change, message",
    [
        ({"schema": "something/else"}, "schema"),
        ({"lstm_learned": 17}, "0..seeds"),
        ({"rnn_below": True}, "integer"),
        ({"seeds": "16"}, "integer"),
        ({"lags": []}, "no lags"),
    ],
)
def test_a_crafted_record_is_refused_with_the_rule(tmp_path, change, message):
    claim = claim_from_runs([_run("AVX512", 16, 15, True)], 0, "python -m bench.lab --record").to_dict()
    claim.update(change)
    path = tmp_path / "lab_measured.json"
    path.write_text(json.dumps(claim))
    with pytest.raises(ValueError, match=message):
        load_measured(str(path))
    path.write_text(json.dumps({k: v for k, v in claim.items() if k != "holds"} | {"schema": SCHEMA}))
    if "schema" not in change:
        with pytest.raises(ValueError, match="lacks a field|no lags|0..seeds|integer"):
            load_measured(str(path))


def test_the_record_names_the_machine_and_the_day_and_older_records_still_load(tmp_path, monkeypatch):
    from model.lab import record

    monkeypatch.setattr(record, "cpu_name", lambda: "AMD EPYC 9B14")
    claim = claim_from_runs([_run("AVX512", 16, 16, True)], 0, "python -m bench.lab --record")
    assert claim.machine == "AMD EPYC 9B14" and len(claim.measured_on) == 10 and claim.measured_on[4] == "-"
    path = tmp_path / "lab_measured.json"
    save_measured(claim, str(path))
    assert load_measured(str(path)).machine == "AMD EPYC 9B14"
    older = {k: v for k, v in claim.to_dict().items() if k not in {"machine", "measured_on"}}
    path.write_text(json.dumps(older))
    assert (load_measured(str(path)).machine, load_measured(str(path)).measured_on) == ("", "")


def test_the_cpu_name_is_a_short_line_of_text():
    from model.lab.record import cpu_name

    name = cpu_name()
    assert isinstance(name, str) and 0 < len(name) <= 80 and "\n" not in name
