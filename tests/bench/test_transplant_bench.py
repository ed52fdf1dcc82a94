"""The transplant bench runs end to end on tiny checkpoints and prints the ratio to one forward pass."""

from __future__ import annotations

from bench import transplant


def test_bench_smoke_prints_every_part_and_the_ratio(tiny_checkpoints, capsys):
    assert (
        transplant.main(
            [
                "--checkpoints",
                tiny_checkpoints["lstm"],
                tiny_checkpoints["rnn"],
                "--lengths",
                "12",
                "--repeats",
                "1",
                "--threads",
                "1",
            ]
        )
        == 0
    )
    out = capsys.readouterr().out
    for part in ("forward", "record", "sweep", "units", "report", "sweep/fwd", "staircase steps vs re-run"):
        assert part in out
    lines = [line for line in out.splitlines() if line.startswith("tiny-")]
    assert len(lines) == 2 and all(" 12 " in line and "x" in line for line in lines)


def test_texts_reach_every_length_with_the_cue_first():
    for words in (25, 80):
        text, swapped = transplant.texts(words)
        assert text.startswith("Mr. Robert,") and swapped.startswith("Mrs. Mary,") and len(text.split()) >= words
        assert " his" not in text and " her" not in text  # the target comes after the text
