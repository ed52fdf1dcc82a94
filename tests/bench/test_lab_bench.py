"""bench/lab.py: the claim check per instruction set and the verdict, on stand-in lab summaries; the timing on a tiny run."""

from __future__ import annotations

import pytest

from bench import lab as lab_bench

LAGS = [5, 30, 60]


def _summary(isa: str, rnn_holds: int) -> dict:
    """A child's --json summary for 16 seeds: the LSTM learns everything; ``rnn_holds`` RNN seeds keep the cue at 0.8."""
    lstm = {str(seed): {str(lag): 1.0 for lag in LAGS} for seed in range(16)}
    rnn = {
        str(seed): {"5": 1.0, "30": 0.8 if seed < rnn_holds else 0.45, "60": 0.8 if seed < rnn_holds else 0.4}
        for seed in range(16)
    }

    def rows(curves):
        out = []
        for lag in LAGS:
            values = [curve[str(lag)] for curve in curves.values()]
            out.append(
                {
                    "lag": lag,
                    "learned": sum(v >= 0.9 for v in values),
                    "learned_share": sum(v >= 0.9 for v in values) / 16,
                    "mean_accuracy": sum(values) / 16,
                    "min_accuracy": min(values),
                    "max_accuracy": max(values),
                }
            )
        return out

    models = {
        name: {"accuracy_by_seed": curves, "lags": rows(curves), "seconds_per_step": 0.05}
        for name, curves in (("rnn", rnn), ("lstm", lstm))
    }
    return {
        "isa": isa,
        "torch_threads": 2,
        "wall_seconds": 40.0,
        "plan": {"expected_seconds": 41.0},
        "config": {"eval_lags": LAGS},
        "models": models,
    }


def test_each_instruction_set_runs_in_its_own_child_and_the_claim_is_judged_per_set(monkeypatch, capsys):
    seen = []

    def fake_child(isa, seeds, threads):
        seen.append((isa, seeds))
        return _summary(
            "AVX512" if isa == "default" else "AVX2", rnn_holds=0 if isa == "default" else 2
        )  # avx2: two RNN seeds hold the cue

    monkeypatch.setattr(lab_bench, "run_lab_child", fake_child)
    monkeypatch.setattr(
        lab_bench,
        "measure_speedup",
        lambda seeds, steps, threads, rounds: {
            "seeds": seeds,
            "steps": steps,
            "threads": threads,
            "rounds": rounds,
            "speedup": 3.5,
            "archs": {
                "rnn": {"batched_seconds": 1.0, "separate_seconds": 4.0, "speedup": 4.0},
                "lstm": {"batched_seconds": 2.0, "separate_seconds": 6.5, "speedup": 3.25},
            },
        },
    )
    tanh_children = []

    def fake_tanh_child(isa, threads):
        tanh_children.append(isa)
        return {
            "capability": "AVX2" if isa == "avx2" else "AVX512",
            "tanh_us": 90.0,
            "sigmoid_form_us": 30.0,
            "ratio": 3.0,
        }

    monkeypatch.setattr(lab_bench, "run_tanh_child", fake_tanh_child)
    code = lab_bench.main([])
    out = capsys.readouterr().out
    assert seen == [("default", 16), ("avx2", 16)] and tanh_children == ["default", "avx2"]
    assert "avx2 (AVX2): torch.tanh 90.0 us, 2*sigmoid(2x)-1 30.0 us -> the sigmoid form 3.00x faster" in out
    assert "medians of 3 alternating rounds" in out
    assert code == 1  # the claim fails under avx2
    assert "RNN <= 0.65 for 16 of 16 (worst lag; 15 needed): holds" in out
    assert "RNN <= 0.65 for 14 of 16 (worst lag; 15 needed): FAILS" in out
    assert "claim holds under 1 of 2 instruction sets (default)" in out
    assert "lstm: batched 2.00 s, separate 6.50 s -> 3.25x" in out and "both: 3.50x (target >= 3x)" in out


def test_the_children_get_the_instruction_set_before_python_starts(monkeypatch):
    monkeypatch.setenv("ATEN_CPU_CAPABILITY", "default")
    assert "ATEN_CPU_CAPABILITY" not in lab_bench.isa_environment("default")
    env = lab_bench.isa_environment("avx2")
    assert env["ATEN_CPU_CAPABILITY"] == "avx2" and env["ONEDNN_MAX_CPU_ISA"] == "AVX2"


@pytest.mark.slow
def test_a_child_started_with_that_environment_uses_avx2():
    import subprocess
    import sys

    command = [sys.executable, "-c", "import torch; print(torch.backends.cpu.get_cpu_capability())"]
    done = subprocess.run(command, env=lab_bench.isa_environment("avx2"), capture_output=True, text=True, check=True)
    assert done.stdout.strip() in {"AVX2", "DEFAULT"}  # AVX2 where the CPU has it; never AVX512


def test_the_speedup_is_measured_side_by_side_on_the_lab_data(monkeypatch):
    from model.lab import run as lab_module

    tiny = dict(num_sequences=300, lstm_hidden_size=8, embedding_size=8, batch_size=4, bptt=16)
    monkeypatch.setattr(lab_bench, "LabConfig", lambda seeds: lab_module.LabConfig(seeds=seeds, **tiny))
    speed = lab_bench.measure_speedup(seeds=2, steps=2, threads=1, rounds=2)
    assert speed["seeds"] == 2 and speed["rounds"] == 2 and set(speed["archs"]) == {"rnn", "lstm"}
    for numbers in speed["archs"].values():
        assert numbers["batched_seconds"] > 0 and numbers["separate_seconds"] > 0
        # The speed-up is printed to two decimals, so it agrees with the seconds to that precision.
        assert numbers["speedup"] == pytest.approx(
            numbers["separate_seconds"] / numbers["batched_seconds"], rel=0.02, abs=0.006
        )


def test_the_tanh_forms_are_timed_on_the_same_block_and_agree():
    forms = lab_bench.measure_tanh_forms(threads=1, repeats=5)
    assert forms["tanh_us"] > 0 and forms["sigmoid_form_us"] > 0 and forms["capability"]
    assert forms["ratio"] == pytest.approx(forms["tanh_us"] / forms["sigmoid_form_us"], rel=0.02, abs=0.006)


@pytest.mark.parametrize("ratio, code", [(1.4, 0), (0.9, 1)])
def test_a_sigmoid_form_that_is_not_faster_fails_the_bench(monkeypatch, capsys, ratio, code):
    speed = {"seeds": 8, "steps": 2, "threads": 1, "rounds": 1, "speedup": 3.5, "archs": {}}
    monkeypatch.setattr(lab_bench, "measure_speedup", lambda seeds, steps, threads, rounds: speed)
    forms = {"capability": "AVX2", "tanh_us": 90.0 * ratio, "sigmoid_form_us": 90.0, "ratio": ratio}
    monkeypatch.setattr(lab_bench, "run_tanh_child", lambda isa, threads: forms)
    assert lab_bench.main(["--skip-claim"]) == code
    assert ("should call torch.tanh" in capsys.readouterr().out) == (code == 1)
