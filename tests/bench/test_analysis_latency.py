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


def test_the_sweep_flop_count_follows_its_formula():
    from model.core.config import ModelConfig

    one = ModelConfig(arch="lstm", vocab_size=50, embedding_size=8, hidden_size=4, num_layers=1, decoder="full")
    # T = 1: one forward step and one backward row, each 2 * 4 gates * 4 units * (8 + 4) FLOP
    assert analysis_latency.sweep_gflop(one, 1) * 1e9 == 2 * (2 * 4 * 4 * (8 + 4))
    two = ModelConfig(arch="gru", vocab_size=50, embedding_size=8, hidden_size=4, num_layers=2, decoder="full")
    per_row_step = 2 * 3 * 4 * (8 + 4) + 2 * 3 * 4 * (4 + 4)
    assert analysis_latency.sweep_gflop(two, 10) * 1e9 == (10 + 55) * per_row_step  # 10 forward steps, 55 rows back
    assert analysis_latency.matmul_peak_gflops(repeats=1) > 0
