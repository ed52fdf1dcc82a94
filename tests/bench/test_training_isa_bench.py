"""bench/training_isa.py: the corpus slice, the comparison of two runs' metrics, and the verdict on stand-in runs."""

from __future__ import annotations

import pytest

from bench import training_isa


def _metrics(test_loss: float, curve: list[float], tokens_per_second: float) -> dict:
    return {
        "test_loss": test_loss,
        "test_ppl": 2.718281828459045**test_loss,
        "steps": 5 * len(curve),
        "tokens_per_second": tokens_per_second,
        "curve": [{"step": 5 * (i + 1), "train_loss": loss} for i, loss in enumerate(curve)],
    }


def test_write_head_takes_an_equal_share_of_whole_lines_from_each_source(tmp_path):
    first, second = tmp_path / "a.txt", tmp_path / "b.txt"
    first.write_text("one two three\nfour five\nsix\n", encoding="utf-8")
    second.write_text("alpha beta\ngamma delta epsilon\n", encoding="utf-8")
    out = tmp_path / "head.txt"
    written = training_isa.write_head([str(first), str(second)], 6, str(out))
    # 3 words from each: the first line of a.txt is 3 words; b.txt needs its second line to pass 3.
    assert out.read_text(encoding="utf-8") == "one two three\nalpha beta\ngamma delta epsilon\n"
    assert written == 3 + 5


def test_compare_reports_loss_differences_and_the_speed_ratio():
    row = training_isa.compare(_metrics(5.0, [7.0, 6.0, 5.5], 1000.0), _metrics(5.01, [7.0, 6.03, 5.5], 800.0))
    assert row["test_loss_difference"] == pytest.approx(0.01)
    assert row["largest_curve_difference"] == pytest.approx(0.03)
    assert row["curve_points"] == 3
    assert row["tokens_per_second_ratio"] == pytest.approx(0.8)


def test_compare_refuses_runs_without_a_common_logged_step():
    avx2 = _metrics(5.0, [7.0], 900.0)
    avx2["curve"][0]["step"] = 3
    with pytest.raises(ValueError, match="no common step"):
        training_isa.compare(_metrics(5.0, [7.0], 1000.0), avx2)


def test_main_fails_when_the_outcome_differs_beyond_the_tolerance(monkeypatch, tmp_path, capsys):
    for name in ("train", "valid", "test"):
        (tmp_path / f"{name}.txt").write_text("a b c d e f\n" * 10, encoding="utf-8")
    seen = []

    def fake_train(isa, arch, files, out, options):
        seen.append((isa, arch))
        return _metrics(5.0 if isa == "default" else 5.05, [6.0, 5.0], 1000.0 if isa == "default" else 900.0)

    monkeypatch.setattr(training_isa, "train_child", fake_train)
    monkeypatch.setattr(training_isa, "child_capability", lambda isa: isa.upper())
    monkeypatch.setattr(training_isa, "largest_weight_difference", lambda a, b: 1e-3)
    files = [f"--{name}" for name in ("valid", "test")]
    argv = [
        "--train",
        str(tmp_path / "train.txt"),
        files[0],
        str(tmp_path / "valid.txt"),
        files[1],
        str(tmp_path / "test.txt"),
    ]
    assert training_isa.main([*argv, "--archs", "rnn", "lstm"]) == 1
    assert seen == [("default", "rnn"), ("avx2", "rnn"), ("default", "lstm"), ("avx2", "lstm")]
    printed = capsys.readouterr().out
    assert "same outcome (|d test loss| <= 0.02 nats) for 0 of 2 architectures" in printed
    assert training_isa.main([*argv, "--archs", "gru", "--tolerance", "0.1"]) == 0
