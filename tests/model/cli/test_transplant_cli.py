"""`python -m model.transplant` and `python -m model.memory_units`: --help, JSON keyed by checkpoint, summaries, errors."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest
from text_fixtures import ROOT

from model.cli import memory_units, transplant

TEXT = "Mr. Robert said that the weather was fine , so his friend came to tea ."


@pytest.mark.slow  # a fresh Python imports torch: 2-3 s each
@pytest.mark.parametrize(
    "module, flags",
    [
        (
            "model.transplant",
            (
                "--text",
                "--counterfactual",
                "--span",
                "--target-word",
                "--contrast",
                "--target-index",
                "--layer",
                "--counts",
                "--json",
            ),
        ),
        ("model.memory_units", ("--suite", "--seed", "--templates-per-bucket", "--top", "--draws", "--json")),
    ],
)
def test_help_lists_every_flag(module, flags):
    result = subprocess.run(
        [sys.executable, "-m", module, "--help"], cwd=ROOT, capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 0
    for flag in flags:
        assert flag in result.stdout


def test_transplant_json_is_keyed_by_checkpoint_with_the_contract_keys(tiny_checkpoints, capsys):
    paths = [tiny_checkpoints["rnn"], tiny_checkpoints["lstm"]]
    counterfactual = TEXT.replace("Mr. Robert", "Mrs. Mary")
    code = transplant.main(
        [
            *paths,
            "--text",
            TEXT,
            "--counterfactual",
            counterfactual,
            "--target-word",
            "his",
            "--contrast",
            "her",
            "--json",
        ]
    )
    assert code == 0
    output = json.loads(capsys.readouterr().out)
    assert set(output) == {os.path.basename(path) for path in paths}
    for name, report in output.items():
        assert {"factual", "counterfactual", "positions", "units"} <= set(report)
        position = report["positions"][5]
        assert set(position) >= {
            "index",
            "word",
            "state_distance",
            "share_all",
            "share_cell",
            "share_hidden",
            "share_top",
        }
        assert set(position["share_top"]) == {"1", "4", "16"}
        assert (position["share_cell"] is None) == name.endswith("rnn")
        assert set(report["units"][0]) == {"unit", "layer", "part", "effect"}


def test_transplant_summary_and_spans(tiny_checkpoints, capsys):
    assert transplant.main([tiny_checkpoints["lstm"], "--text", TEXT, "--span", "0:3", "--counts", "2,8"]) == 0
    out = capsys.readouterr().out
    assert "memory units after word 3" in out and "units needed for 80% at word 10" in out and "top  2" in out


def test_transplant_errors_exit_2_with_the_reason(tiny_checkpoints, capsys):
    lstm = tiny_checkpoints["lstm"]
    cases = [
        (["--layer", "1"], "1 layer, so layer must be in [-1, 0]"),
        (
            ["--counterfactual", "Mary said that the weather was fine , so his friend came to tea ."],
            "same number of tokens",
        ),
        (
            ["--counterfactual", TEXT.replace("Mr. Robert", "Mrs. Mary").replace("his", "her")],
            "differ at token 11 ('his' vs 'her')",
        ),
        (["--target-word", "Zebraa", "--contrast", "her"], "'Zebraa' is not in the model's vocabulary"),
        (["--target-index", "2"], "at or before the cue"),
    ]
    for flags, message in cases:
        with pytest.raises(SystemExit) as stopped:
            transplant.main([lstm, "--text", TEXT, *flags])
        err = capsys.readouterr().err
        assert stopped.value.code == 2 and message in err and lstm in err, (flags, err)
    with pytest.raises(SystemExit) as bad_span:
        transplant.main([lstm, "--text", TEXT, "--span", "0-3"])
    assert bad_span.value.code == 2 and "START:END" in capsys.readouterr().err


@pytest.mark.slow
def test_memory_units_json_and_table(tiny_checkpoints, capsys):
    assert (
        memory_units.main(
            [
                tiny_checkpoints["gru"],
                "--suite",
                "pronoun",
                "--templates-per-bucket",
                "3",
                "--draws",
                "2",
                "--top",
                "3",
                "--json",
            ]
        )
        == 0
    )
    result = json.loads(capsys.readouterr().out)["tiny-gru"]
    assert (
        result["suite"] == "pronoun" and len(result["units"]) == 3 and result["draws"] == 2 and result["seconds"] >= 0
    )
    assert {"units_needed", "overlap", "ablation", "mean_effect"} <= set(result["overall"])
    assert memory_units.main([tiny_checkpoints["gru"], "--templates-per-bucket", "3", "--draws", "2"]) == 0
    out = capsys.readouterr().out
    assert "memory units (pooled single-unit share right after the cue)" in out and "\nall " in out
