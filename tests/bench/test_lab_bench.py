"""bench/lab.py: the per-seed loop and its verdict, on stand-in lab results (the real lab is tested in tests/model)."""
from __future__ import annotations

from types import SimpleNamespace

from bench import lab as lab_bench
from model.lab import LabConfig
from model.lag_accuracy import LagCurve

LAGS = (1, 10, 40)


def _run(accuracy: dict[int, float]) -> SimpleNamespace:
    curve = LagCurve(accuracy=accuracy, by_cue={}, chance={lag: 0.4 for lag in LAGS}, count={lag: 128 for lag in LAGS})
    return SimpleNamespace(curve=curve, train_seconds=1.0, steps=10, status="finished", summary=lambda: {})


def test_each_seed_runs_and_the_claim_is_judged_per_seed(monkeypatch, capsys):
    seen = []

    def fake_run_lab(config: LabConfig, on_progress=None):
        seen.append(config.seed)
        forgets = config.seed != 2  # seed 2: the RNN keeps up, so the claim fails there
        rnn = {1: 1.0, 10: 0.5 if forgets else 0.97, 40: 0.4 if forgets else 0.96}
        runs = {"rnn": _run(rnn), "lstm": _run({1: 1.0, 10: 1.0, 40: 0.98})}
        return SimpleNamespace(runs=runs, config=SimpleNamespace(eval_lags=LAGS), chance=0.4, summary=lambda: {})

    monkeypatch.setattr(lab_bench, "run_lab", fake_run_lab)
    code = lab_bench.main(["--seeds", "0", "1", "2"])
    out = capsys.readouterr().out
    assert seen == [0, 1, 2]
    assert code == 1  # one seed fails the claim
    assert "claim holds for 2 of 3 seeds" in out
    assert lab_bench.claim_holds(fake_run_lab(LabConfig(seed=0))) == [10, 40]
    assert lab_bench.claim_holds(fake_run_lab(LabConfig(seed=2))) == []
