"""The analysis latency bench runs end to end on tiny checkpoints and prints every part."""

from __future__ import annotations

from bench import analysis_latency


def test_bench_smoke_prints_parts_speedup_and_targets(tiny_checkpoints, capsys):
    paths = [tiny_checkpoints["lstm"], tiny_checkpoints["rnn"]]
    assert (
        analysis_latency.main(
            ["--checkpoints", *paths, "--lengths", "12", "--repeats", "1", "--threads", "1", "--full-lengths", "25"]
        )
        == 0
    )
    out = capsys.readouterr().out
    for part in analysis_latency.PARTS:
        assert part in out
    assert "tiny-lstm" in out and "tiny-rnn" in out and "x" in out
    assert "full default analysis,  25 words" in out and "target <= 60 ms" in out and "10-rung ladder" in out
    assert "One Python thread per model" in out


def test_sentences_reach_every_length():
    for words in (12, 25, 50, 100, 200):
        assert len(analysis_latency.sentence(words).split()) >= words
