"""The corpus-scale bench runs end to end on a small generated text (never ../shared) and judges memory."""

from __future__ import annotations

import pytest
from text_fixtures import patterned_paragraphs

from bench import corpus_scale


@pytest.mark.slow
def test_bench_smoke_measures_both_sizes_in_subprocesses(tmp_path, capsys):
    source = tmp_path / "small.txt"
    source.write_text("\n\n".join(patterned_paragraphs(300)) + "\n", encoding="utf-8")
    assert corpus_scale.main(["--source", str(source), "--scale", "3", "--num-proc", "1"]) == 0
    out = capsys.readouterr().out
    lines = [line for line in out.splitlines() if line.startswith("stream ") and "tokens" in line]
    assert len(lines) == 2 and "peak RSS" in lines[0] and " 1x:" in lines[0] and " 3x:" in lines[1]
    tokens = [int(line.split(":")[1].split("tokens")[0].replace(",", "")) for line in lines]
    assert tokens[1] == 3 * tokens[0] > 0  # the repeated corpus really was tokenized whole
    assert "streaming peak RSS 3x / 1x" in out and "PASS" in out


def test_build_corpus_repeats_the_source(tmp_path):
    source = tmp_path / "one.txt"
    source.write_text("a b\n\nc d\n", encoding="utf-8")
    size = corpus_scale.build_corpus(str(source), str(tmp_path / "three.txt"), 3)
    assert (tmp_path / "three.txt").read_text(encoding="utf-8") == "a b\n\nc d\n\n" * 3 and size == 3 * 10
