"""Failure 7: the CLIs printed tracebacks instead of one-line errors.

RecursionError (nested JSON), RuntimeError (allocation), TypeError, IndexError, the tokenizers
PanicException and an out-of-memory `model.analyze --max-words 100000` all reached the user as
tracebacks. Now every CLI ends such a run with one "error: ..." line and exit status 2; the flags
that set the amount of work have caps; model.analyze refuses a length whose words^2 analysis would
not fit in the memory available, with its estimate in the message.
"""

from __future__ import annotations

import os
import shutil

import pytest
from robustness_helpers import copy_checkpoint, nested_json, run_cli, write_raw

import model.cli.analyze as analyze
import model.cli.train as train_command
from model.cli import common as cli_common
from model.cli import context, evaluate, predict
from model.core.checkpoint import load_checkpoint
from model.core.config import ModelConfig

PanicException = type("PanicException", (BaseException,), {})  # what pyo3 raises: a BaseException
ALLOCATION = "[enforce fail at alloc_cpu.cpp:127] DefaultCPUAllocator: can't allocate memory: you tried to allocate 32768000000 bytes"
ERRORS = {
    "RecursionError": (RecursionError("maximum recursion depth exceeded"), "nested too deeply"),
    "allocation RuntimeError": (RuntimeError(ALLOCATION), "out of memory"),
    "TypeError": (TypeError("unsupported operand type(s)"), "TypeError: unsupported operand"),
    "IndexError": (IndexError("index 70000 is out of bounds"), "IndexError: index 70000"),
    "MemoryError": (MemoryError(), "out of memory"),
    "PanicException": (PanicException("Onig: retry-limit-in-match over"), "the tokenizers library failed (a panic"),
}


def _argv(tool: str, checkpoint: str, tmp_path, corpus_dir: str) -> list[str]:
    text_file = tmp_path / "text.txt"
    text_file.write_text(
        "Mr. Robert said so his friend came to tea .\n\nMrs. Mary said so her friend came .\n", encoding="utf-8"
    )
    return {
        "analyze": [checkpoint, "--text", "Mr. Robert said so his"],
        "predict": [checkpoint, "Mr. Robert said"],
        "evaluate": [checkpoint, "--text", str(text_file)],
        "context": [checkpoint, "--text", str(text_file), "--positions", "2", "--distances", "1"],
        "train": [
            "--corpus-dir",
            corpus_dir,
            "--out",
            str(tmp_path / "out"),
            "--arch",
            "rnn",
            "--embedding-size",
            "8",
            "--hidden-size",
            "8",
            "--decoder",
            "full",
            "--min-frequency",
            "1",
            "--no-progress",
            "--stream",
            "off",
        ],
    }[tool]


MAINS = {
    "analyze": analyze.main,
    "predict": predict.main,
    "evaluate": evaluate.main,
    "context": context.main,
    "train": train_command.main,
}
COMMANDS = {
    "analyze": cli_common,  # analyze loads each checkpoint through cli.common.report_per_checkpoint
    "predict": predict,
    "evaluate": evaluate,
    "context": context,
    "train": train_command,
}


@pytest.mark.parametrize("kind", list(ERRORS))
@pytest.mark.parametrize("tool", list(MAINS))
def test_every_cli_turns_an_unexpected_error_into_one_line(
    tmp_path, tiny_checkpoints, corpus_dir, capsys, monkeypatch, tool, kind
):
    error, message = ERRORS[kind]

    def explode(*args, **kwargs):
        raise error

    # Where each tool's work starts: loading the checkpoint, or (train) the training loop.
    # Each command imports these names at its top, so they are replaced where the command looks them up.
    monkeypatch.setattr(COMMANDS[tool], "train" if tool == "train" else "load_checkpoint", explode)
    line = run_cli(MAINS[tool], _argv(tool, tiny_checkpoints["lstm"], tmp_path, corpus_dir), capsys)
    assert message in line


@pytest.mark.parametrize("tool", ["analyze", "predict", "evaluate", "context"])
@pytest.mark.parametrize("file", ["config.json", "metrics.json"])
def test_deeply_nested_json_files_are_one_line_errors(tmp_path, tiny_checkpoints, corpus_dir, capsys, tool, file):
    folder = copy_checkpoint(tiny_checkpoints["gru"], str(tmp_path / "nested"))
    write_raw(folder, file, nested_json(200_000))
    line = run_cli(MAINS[tool], _argv(tool, folder, tmp_path, corpus_dir), capsys)
    assert f"{file} is not valid JSON for a checkpoint (nested too deeply)" in line


def test_a_nested_resume_state_is_a_one_line_error(tmp_path, tiny_checkpoints, corpus_dir, capsys):
    run = tmp_path / "run" / "resume"
    run.mkdir(parents=True)
    shutil.copy(os.path.join(tiny_checkpoints["rnn"], "tokenizer.json"), run / "tokenizer.json")
    (run / "state.json").write_text(nested_json(200_000), encoding="utf-8")
    (run / "state.safetensors").write_bytes(b"")
    line = run_cli(
        train_command.main,
        ["--corpus-dir", corpus_dir, "--out", str(tmp_path / "run"), "--resume", "--no-progress", "--stream", "off"],
        capsys,
    )
    assert "state.json is not valid JSON (nested too deeply)" in line


@pytest.mark.parametrize(
    "main, argv, message",
    [
        (analyze.main, ["--ig-steps", "100000"], "--ig-steps: expected an integer in [1, 256]"),
        (analyze.main, ["--max-words", "100000"], "--max-words: expected an integer in [1, 5,000]"),
        (analyze.main, ["--top-k", "1000000"], "--top-k: expected an integer in [1, 1,000]"),
        (predict.main, ["--generate", "1000000000"], "--generate: expected an integer in [1, 10,000]"),
        (predict.main, ["--top-k", "1000000"], "--top-k: expected an integer in [1, 1,000]"),
    ],
)
def test_work_flags_have_caps(tiny_checkpoints, capsys, main, argv, message):
    positional = ["--text", "Mr. Robert said"] if main is analyze.main else ["Mr. Robert said"]
    with pytest.raises(SystemExit) as caught:
        main([tiny_checkpoints["rnn"], *positional, *argv])
    err = capsys.readouterr().err
    assert caught.value.code == 2 and message in err and "Traceback" not in err


def test_analyze_refuses_a_length_that_would_not_fit_in_memory(tiny_checkpoints, capsys, monkeypatch):
    monkeypatch.setattr(analyze, "available_memory_bytes", lambda: 2**30)  # a 1 GiB machine
    text = " ".join(["Mr. Robert said so his friend came to tea ."] * 500)  # 5,000 words
    line = run_cli(analyze.main, [tiny_checkpoints["lstm"], "--text", text, "--max-words", "5000"], capsys)
    assert "analysing 5,000 words with this model" in line and "GiB (the cost grows with words squared)" in line
    assert "about 1.0 GiB of memory is available" in line and "Pass --max-words" in line
    suggested = int(line.split("Pass --max-words ")[1].split()[0].replace(",", ""))
    config = load_checkpoint(tiny_checkpoints["lstm"]).config
    assert (
        analyze.analysis_memory_bytes(config, suggested)
        <= analyze.MEMORY_SHARE * 2**30
        < analyze.analysis_memory_bytes(config, 5000)
    )


def test_the_memory_estimate_grows_with_words_squared_and_covers_the_measurements():
    lstm = ModelConfig(arch="lstm", vocab_size=19390, embedding_size=256, hidden_size=512)
    rnn = ModelConfig(arch="rnn", vocab_size=19390, embedding_size=256, hidden_size=512)
    # Peak RSS growth measured for the shipped models' sizes (see model/cli/analyze.py).
    for config, words, measured_mib in (
        (lstm, 100, 201),
        (lstm, 200, 469),
        (lstm, 400, 1199),
        (lstm, 800, 3215),
        (rnn, 800, 1567),
    ):
        assert analyze.analysis_memory_bytes(config, words) >= measured_mib * 2**20
    assert analyze.analysis_memory_bytes(lstm, 8000) > 50 * analyze.analysis_memory_bytes(lstm, 800)


def test_errors_echo_at_most_80_characters_of_the_input(tiny_checkpoints, capsys):
    line = run_cli(
        analyze.main, [tiny_checkpoints["rnn"], "--text", "Robert " * 10_000, "--contrast", "x" * 5000], capsys
    )
    assert "x" * 80 not in line and "…" in line and len(line) < 300


def test_no_cli_error_is_longer_than_its_cap(tiny_checkpoints, capsys):
    """Messages from deeper code that quote a word in full are cut at the CLI boundary."""
    line = run_cli(
        analyze.main, [tiny_checkpoints["rnn"], "--text", "Robert said", "--target-word", "his " * 5000], capsys
    )
    assert len(line) <= len("error: ") + 600
