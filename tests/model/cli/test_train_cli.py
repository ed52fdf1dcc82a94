"""`python -m model.train`: help on every flag, bad values refused with exit code 2 and no traceback."""

from __future__ import annotations

import argparse
import os
import time

import pytest

from model.cli import common as cli_common
from model.cli.common import parser_flags
from model.cli.train import build_parser, main
from model.core.checkpoint import load_checkpoint


def _corpus(tmp_path) -> str:
    folder = tmp_path / "corpus"
    folder.mkdir()
    text = "\n\n".join(["Mr. Robert said so his friend came to tea.", "Mrs. Mary said so her friend came to tea."] * 20)
    for split in ("train", "valid", "test"):
        (folder / f"{split}.txt").write_text(text + "\n", encoding="utf-8")
    return str(folder)


def test_every_flag_has_help_text():
    parser = build_parser()
    actions = parser_flags(parser)
    assert len(actions) > 30
    for action in actions:
        assert action.help and action.help.strip() and action.help != argparse.SUPPRESS, action.option_strings


def test_help_lists_every_flag(capsys):
    with pytest.raises(SystemExit) as caught:
        main(["--help"])
    assert caught.value.code == 0
    text = capsys.readouterr().out
    for action in parser_flags(build_parser()):
        for option in action.option_strings:
            assert option in text, option
    assert "--resume" in text and "Ctrl-C or SIGTERM" in text


BAD_FLAGS = [
    (["--hidden-size", "0"], "--hidden-size: expected a positive integer, got 0"),
    (["--embedding-size", "-4"], "--embedding-size: expected a positive integer"),
    (["--num-layers", "two"], "--num-layers: expected a positive integer, got 'two'"),
    (["--dropout", "1.5"], "--dropout: expected a number in [0, 1), got 1.5"),
    (["--dropout", "-0.1"], "--dropout: expected a number in [0, 1)"),
    (["--lr", "-1"], "--lr: expected a positive finite number, got -1"),
    (["--lr", "nan"], "--lr: expected a positive finite number"),
    (["--lr", "inf"], "--lr: expected a positive finite number"),
    (["--clip", "0"], "--clip: expected a positive finite number"),
    (["--batch-size", "0"], "--batch-size: expected a positive integer"),
    (["--bptt", "0"], "--bptt: expected a positive integer"),
    (["--epochs", "0"], "--epochs: expected a positive integer"),
    (["--warmup-steps", "-1"], "--warmup-steps: expected an integer >= 0, got -1"),
    (["--weight-decay", "-0.1"], "--weight-decay: expected a finite number >= 0"),
    (["--threads", "0"], "--threads: expected a positive integer"),
    (["--save-every", "0"], "--save-every: expected a positive finite number"),
    (["--time-limit", "-5"], "--time-limit: expected a positive finite number"),
    (["--cutoffs", "100", "0"], "--cutoffs: expected a positive integer"),
    (["--min-frequency", "0"], "--min-frequency: expected a positive integer"),
    (["--arch", "transformer"], "--arch: invalid choice: 'transformer'"),
    (["--decoder", "softmax"], "--decoder: invalid choice"),
]


@pytest.mark.parametrize("flags, message", BAD_FLAGS, ids=[" ".join(flags) for flags, _ in BAD_FLAGS])
def test_out_of_range_flags_exit_2_with_a_clear_message(tmp_path, capsys, flags, message):
    with pytest.raises(SystemExit) as caught:
        main(["--corpus-dir", str(tmp_path), "--out", str(tmp_path / "out"), *flags])
    assert caught.value.code == 2
    err = capsys.readouterr().err
    assert message in err
    assert "usage: python -m model.train" in err and "Traceback" not in err
    assert not os.path.exists(tmp_path / "out")


def test_out_is_required(capsys):
    with pytest.raises(SystemExit) as caught:
        main(["--corpus-dir", "x"])
    assert caught.value.code == 2
    assert "--out" in capsys.readouterr().err


def _expect_failure(argv, capsys, *fragments):
    started = time.perf_counter()
    with pytest.raises(SystemExit) as caught:
        main(argv)
    assert caught.value.code == 2
    err = capsys.readouterr().err
    assert "Traceback" not in err
    message = err.strip().splitlines()[-1]  # `datasets` may print progress lines first
    assert message.startswith("error: ")
    for fragment in fragments:
        assert fragment in message
    return time.perf_counter() - started


def test_hub_dataset_fails_fast_offline_and_points_to_local_files(tmp_path, capsys, monkeypatch):
    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    monkeypatch.delenv("HF_DATASETS_OFFLINE", raising=False)
    monkeypatch.delenv("MEMORY_LAB_ONLINE", raising=False)
    cli_common.set_offline_defaults()  # what importing model.train does in a fresh process
    assert os.environ["HF_HUB_OFFLINE"] == "1" and os.environ["HF_DATASETS_OFFLINE"] == "1"
    seconds = _expect_failure(
        ["--dataset", "wikitext", "--dataset-config", "wikitext-2-raw-v1", "--out", str(tmp_path / "o")],
        capsys,
        "wikitext",
        "--corpus-dir",
        "--train",
    )
    assert seconds < 5.0


def test_exactly_one_corpus(tmp_path, capsys):
    corpus = _corpus(tmp_path)
    _expect_failure(["--out", str(tmp_path / "o")], capsys, "Pass exactly one corpus")
    _expect_failure(
        ["--corpus-dir", corpus, "--dataset", "wikitext", "--out", str(tmp_path / "o")],
        capsys,
        "Pass exactly one corpus",
    )


def test_missing_corpus_folder(tmp_path, capsys):
    _expect_failure(
        ["--corpus-dir", str(tmp_path / "nowhere"), "--out", str(tmp_path / "o")],
        capsys,
        "Corpus folder not found",
        "nowhere",
    )


def test_resume_without_state(tmp_path, capsys):
    _expect_failure(
        ["--corpus-dir", _corpus(tmp_path), "--out", str(tmp_path / "o"), "--resume"], capsys, "No resumable state"
    )


def test_inconsistent_model_flags_are_reported_without_traceback(tmp_path, capsys):
    corpus = _corpus(tmp_path)
    _expect_failure(
        ["--corpus-dir", corpus, "--out", str(tmp_path / "o"), "--tie-weights", "--min-frequency", "1"],
        capsys,
        "tie_weights needs decoder='full'",
    )
    _expect_failure(
        [
            "--corpus-dir",
            corpus,
            "--out",
            str(tmp_path / "o"),
            "--decoder",
            "adaptive",
            "--cutoffs",
            "5000",
            "--min-frequency",
            "1",
        ],
        capsys,
        "adaptive_cutoffs must be increasing",
    )
    _expect_failure(
        ["--corpus-dir", corpus, "--out", str(tmp_path / "o"), "--max-vocab", "2"],
        capsys,
        "max_size must be at least 3",
    )


def test_a_tiny_run_through_the_cli(tmp_path, capsys):
    out = str(tmp_path / "out")
    argv = [
        "--corpus-dir",
        _corpus(tmp_path),
        "--out",
        out,
        "--arch",
        "rnn",
        "--embedding-size",
        "8",
        "--hidden-size",
        "8",
        "--decoder",
        "full",
        "--tie-weights",
        "--min-frequency",
        "1",
        "--batch-size",
        "4",
        "--bptt",
        "8",
        "--threads",
        "1",
        "--no-progress",
        "--fp16-storage",
        "--no-clip",
        "--seed",
        "5",
    ]
    assert main(argv) == 0
    printed = capsys.readouterr().out
    assert printed.startswith("finished:") and "valid ppl" in printed
    checkpoint = load_checkpoint(out)
    assert checkpoint.config.arch == "rnn" and checkpoint.config.tie_weights
    assert checkpoint.metrics["storage_dtype"] == "float16"
    assert checkpoint.metrics["train_config"]["clip"] is None
    assert checkpoint.metrics["seed"] == 5
    assert checkpoint.metrics["command"] == ["python", "-m", "model.train", *argv]
