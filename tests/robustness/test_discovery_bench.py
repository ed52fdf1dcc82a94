"""bench/discovery.py runs end to end on a few tiny folders it builds itself (never ../shared)."""

from __future__ import annotations

import pytest

from bench import discovery


@pytest.mark.slow
def test_the_discovery_bench_measures_both_counts(capsys, monkeypatch):
    monkeypatch.delenv("MEMORY_LAB_CHECKPOINTS", raising=False)
    code = discovery.main(["--folders", "3", "5", "--vocab", "300", "--repeats", "1", "--reruns", "1"])
    out = capsys.readouterr().out
    assert code in (0, 1)  # 1 only when a ratio misses its target; the numbers are printed either way
    for label in ("discovery, cold", "discovery, warm", "app rerun: new sentence", "app rerun: same sentence"):
        line = next(line for line in out.splitlines() if line.startswith(label))
        small, large, ratio = (float(value) for value in line[36:].split()[:3])
        # The printed milliseconds are rounded to 0.001, so the ratio agrees with them only to that precision.
        assert (
            small > 0
            and large > 0
            and (large - 0.0005) / (small + 0.0005) - 0.01 <= ratio <= (large + 0.0005) / (small - 0.0005) + 0.01
        )
    assert "folders: 3 and 5 tiny checkpoints" in out
