"""`python -m model.analyze`: --help, --json keyed by checkpoint, the summary, errors."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest
from text_fixtures import ROOT

from model.cli import analyze

TEXT = "Mr. Robert said that the weather was fine , so"


@pytest.mark.slow  # a fresh Python imports torch: 2-3 s
def test_help_lists_every_flag():
    result = subprocess.run(
        [sys.executable, "-m", "model.analyze", "--help"], cwd=ROOT, capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 0
    for flag in (
        "--text",
        "--target-word",
        "--contrast",
        "--method",
        "--ladder",
        "--json",
        "--ig-steps",
        "--replacement",
    ):
        assert flag in result.stdout


def test_json_is_keyed_by_checkpoint_and_has_the_documented_keys(tiny_checkpoints, capsys):
    paths = [tiny_checkpoints["lstm"], tiny_checkpoints["rnn"]]
    code = analyze.main(
        [*paths, "--text", TEXT, "--target-word", "his", "--contrast", "her", "--ladder", "--json", "--no-traces"]
    )
    assert code == 0
    output = json.loads(capsys.readouterr().out)
    assert set(output) == {os.path.basename(path) for path in paths}
    for report in output.values():
        assert {"tokens", "predictions", "influence", "occlusion", "ladder", "memory_span", "target"} <= set(report)
        assert report["traces"] is None and report["memory_span"]["definition"]
        assert len(report["influence"]["matrix"]) == len(report["tokens"])


def test_summary_names_the_influential_words_and_the_span(tiny_checkpoints, capsys):
    assert analyze.main([tiny_checkpoints["gru"], "--text", TEXT, "--method", "occlusion", "--ladder"]) == 0
    out = capsys.readouterr().out
    assert "most influential words (occlusion)" in out and "memory span:" in out and "next word:" in out


def test_errors_exit_2_with_a_message(tiny_checkpoints, tmp_path, capsys):
    with pytest.raises(SystemExit) as missing:
        analyze.main([str(tmp_path / "nothing"), "--text", TEXT])
    assert missing.value.code == 2 and "error:" in capsys.readouterr().err
    with pytest.raises(SystemExit) as lonely:
        analyze.main([tiny_checkpoints["lstm"], "--text", TEXT, "--contrast", "her"])
    assert lonely.value.code == 2 and "--target-word" in capsys.readouterr().err
    with pytest.raises(SystemExit) as unknown:
        analyze.main([tiny_checkpoints["lstm"], "--text", TEXT, "--target-word", "Zebra"])
    assert unknown.value.code == 2 and "Zebra" in capsys.readouterr().err
