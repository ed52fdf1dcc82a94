"""Bad input reaching the command-line tools: a clear one-line error (exit 2), and nothing already saved is lost.

What tests/data/test_corpus.py, tests/model/core/test_checkpoint.py and
tests/model/cli/test_train_cli.py already prove at the library level (each bad
corpus file, each corrupt checkpoint, each out-of-range training flag) is not
repeated here; this file covers the paths they do not: the same bad files
arriving through the train CLI (in memory and streamed) and through
--init-from / --resume / model.analyze, a single 16 MB line, a broken
resumable state, and the flags added for streaming and distributed training.
"""

from __future__ import annotations

import json
import os
import pickle
import random
import shutil
import subprocess
import sys
import threading

import pytest
import torch
from safetensors.torch import load_file, save_file
from text_fixtures import ROOT

from data.streaming import open_token_file
from data.tokenizer import WordTokenizer
from model.cli import analyze
from model.cli.train import main as train_main
from model.core.checkpoint import load_checkpoint
from model.core.config import ModelConfig
from model.training.distributed import RankInfo, check_batch_size
from model.training.loop import TrainConfig, train


def _files(folder: str) -> dict[str, bytes]:
    """Every file under ``folder`` (relative path -> bytes), to prove nothing changed."""
    found = {}
    for directory, _, names in os.walk(folder):
        for name in names:
            path = os.path.join(directory, name)
            found[os.path.relpath(path, folder)] = open(path, "rb").read()
    return found


def _exit_2(run, argv: list[str], capsys) -> str:
    with pytest.raises(SystemExit) as caught:
        run(argv)
    err = capsys.readouterr().err
    assert caught.value.code == 2, err
    # The last line is the tool's message (`datasets` may have drawn progress bars above it).
    assert err.strip().splitlines()[-1].startswith("error: ") and "Traceback" not in err
    return err


# ------------------------------------------------------------------ bad corpus files, through the train CLI
BAD_CORPORA = {
    "empty": (b"", "is empty"),
    "blank lines only": (b"\n\n  \n\t\n", "holds no text"),
    "binary": (b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR" * 50, "looks binary (it contains NUL bytes"),
    "latin-1": ("Le garçon était là.\n".encode("latin-1"), "is not UTF-8 text"),
}


@pytest.mark.parametrize("stream", ["off", "on"])
@pytest.mark.parametrize("kind", list(BAD_CORPORA))
def test_a_bad_corpus_is_refused_and_the_checkpoint_in_out_survives(tmp_path, tiny_checkpoints, capsys, kind, stream):
    content, message = BAD_CORPORA[kind]
    bad = tmp_path / "train.txt"
    bad.write_bytes(content)
    out = str(tmp_path / "out")
    shutil.copytree(tiny_checkpoints["gru"], out)
    before = _files(out)
    err = _exit_2(
        train_main,
        [
            "--train",
            str(bad),
            "--out",
            out,
            "--stream",
            stream,
            "--token-cache",
            str(tmp_path / "tokens"),
            "--min-frequency",
            "1",
            "--no-progress",
        ],
        capsys,
    )
    assert message in err and str(bad) in err
    assert _files(out) == before
    load_checkpoint(out)


# ------------------------------------------------------------------ one enormous line
@pytest.mark.slow
def test_a_long_paragraph_is_tokenized_in_pieces_to_the_same_ids():
    rng = random.Random(0)
    words = [
        "Robert",
        "said",
        ",",
        "x\u200by",
        "\u05e9\u05dc\u05d5\u05dd",
        "tea",
        ".",
        "\U0001f642\U0001f642",
        "a_b",
        "l'été",
    ]
    text = "".join(
        rng.choice(words) + rng.choice([" ", "  ", "\t", ""]) for _ in range(60_000)
    )  # ~250k characters, one line
    tokenizer = WordTokenizer.train([text], min_frequency=1)
    whole = tokenizer.encode(text).ids  # one call over the whole line
    (pieces,) = list(tokenizer.iter_ids([text]))  # cut into ~64k-character pieces
    assert len(text) > 3 * 65536
    assert pieces == whole + [tokenizer.eos_id]


@pytest.mark.slow
def test_a_single_16_mb_line_trains_in_bounded_memory(tmp_path):
    rng = random.Random(0)
    words = "the cat sat on a mat and Robert said that his friend came to tea , so Mary left .".split()
    block = " ".join(rng.choice(words) for _ in range(100_000)) + " "
    train_file = tmp_path / "train.txt"
    with open(train_file, "w", encoding="utf-8") as stream:
        for _ in range(16 * 2**20 // len(block) + 1):
            stream.write(block)  # no newline: one 16 MB paragraph
        stream.write("\n")
    assert os.path.getsize(train_file) > 16 * 2**20
    valid_file = tmp_path / "valid.txt"
    valid_file.write_text(
        "\n\n".join(" ".join(rng.choice(words) for _ in range(30)) for _ in range(20)) + "\n", encoding="utf-8"
    )
    out = str(tmp_path / "out")
    command = [
        sys.executable,
        "-m",
        "model.train",
        "--train",
        str(train_file),
        "--valid",
        str(valid_file),
        "--out",
        out,
        "--arch",
        "gru",
        "--embedding-size",
        "8",
        "--hidden-size",
        "8",
        "--decoder",
        "full",
        "--min-frequency",
        "1",
        "--batch-size",
        "16",
        "--bptt",
        "10",
        "--threads",
        "1",
        "--no-progress",
        "--time-limit",
        "0.03",
    ]
    env = dict(os.environ, OMP_NUM_THREADS="1", PYTHONPATH=ROOT)
    with open(tmp_path / "stdout", "w") as stdout, open(tmp_path / "stderr", "w") as stderr:
        process = subprocess.Popen(command, cwd=ROOT, env=env, stdout=stdout, stderr=stderr)
        watchdog = threading.Timer(900, process.kill)  # generous: the machine may be shared
        watchdog.start()
        try:
            _, status, usage = os.wait4(process.pid, 0)  # this child's own peak memory, not the session's
        finally:
            watchdog.cancel()
    assert os.waitstatus_to_exitcode(status) == 0, (tmp_path / "stderr").read_text()[-3000:]
    assert (tmp_path / "stdout").read_text().startswith("time_limit:")
    metrics = load_checkpoint(out).metrics
    assert metrics["tokens"]["train"] > 3_000_000  # every word of the line, as ids
    # ru_maxrss is in KiB on Linux. Tokenized in one call a 50 MB line took 8 GB (about 2.6 GB at 16 MB, over the bound);
    # in pieces the run stays near 0.65 GB whatever the line's length.
    assert usage.ru_maxrss * 1024 < 1.5 * 2**30, f"peak RSS {usage.ru_maxrss / 2**20:.2f} GiB"


# ------------------------------------------------------------------ broken checkpoints, through the tools that read them
def _edit_config(path: str, **changes) -> None:
    file = os.path.join(path, "config.json")
    config = json.load(open(file, encoding="utf-8"))
    json.dump(dict(config, **changes), open(file, "w", encoding="utf-8"))


def _nan_weight(path: str) -> None:
    file = os.path.join(path, "model.safetensors")
    tensors = load_file(file)
    tensors["embedding.weight"][1, 0] = float("nan")
    save_file(tensors, file)


def _pickle_as_safetensors(path: str) -> None:
    # Written with pickle only to prove it is refused; nothing here ever unpickles it.
    with open(os.path.join(path, "model.safetensors"), "wb") as stream:
        pickle.dump({"embedding.weight": [[0.0]]}, stream)


def _foreign_tokenizer(path: str) -> None:
    vocab_size = load_checkpoint(path).tokenizer.vocab_size
    other = WordTokenizer.train([" ".join(f"w{i}" for i in range(vocab_size - 2))], min_frequency=1)
    other.save(os.path.join(path, "tokenizer.json"))


BROKEN_CHECKPOINTS = {
    "wrong shapes": (lambda path: _edit_config(path, hidden_size=7), "has shape"),
    "unknown architecture": (lambda path: _edit_config(path, arch="transformer"), "arch must be one of"),
    "NaN weights": (_nan_weight, "non-finite values"),
    "pickle renamed to .safetensors": (_pickle_as_safetensors, "pickles are refused"),
    "tokenizer that does not match": (_foreign_tokenizer, "not the one these weights were trained with"),
}


@pytest.mark.parametrize("kind", list(BROKEN_CHECKPOINTS))
def test_broken_checkpoints_are_refused_by_init_from_and_analyze(tmp_path, tiny_checkpoints, corpus_dir, capsys, kind):
    corrupt, message = BROKEN_CHECKPOINTS[kind]
    broken = str(tmp_path / "broken")
    shutil.copytree(tiny_checkpoints["gru"], broken)
    corrupt(broken)
    before = _files(broken)

    out = str(tmp_path / "out")
    flags = [
        "--corpus-dir",
        corpus_dir,
        "--out",
        out,
        "--arch",
        "gru",
        "--embedding-size",
        "16",
        "--hidden-size",
        "24",
        "--decoder",
        "full",
        "--tokenizer",
        os.path.join(tiny_checkpoints["gru"], "tokenizer.json"),
        "--init-from",
        broken,
        "--no-progress",
        "--stream",
        "off",
    ]
    assert message in _exit_2(train_main, flags, capsys)
    assert not os.path.exists(os.path.join(out, "model.safetensors"))  # nothing trained from it

    assert message in _exit_2(analyze.main, [broken, "--text", "Mr. Robert said so his"], capsys)
    assert _files(broken) == before  # reading never "repairs" or rewrites a checkpoint


# ------------------------------------------------------------------ a broken resumable state
@pytest.fixture(scope="module")
def interrupted_run(tmp_path_factory, corpus_dir):
    """A tiny run stopped after 5 steps, mid-epoch: its folder holds only the resume/ state."""
    from data.corpus import load_local

    corpus = load_local(folder=corpus_dir)
    tokenizer = WordTokenizer.train(corpus.splits["train"], min_frequency=1)
    out = str(tmp_path_factory.mktemp("interrupted") / "run")
    config = TrainConfig(
        out=out,
        model=ModelConfig(
            arch="lstm", vocab_size=tokenizer.vocab_size, embedding_size=8, hidden_size=8, decoder="full"
        ),
        batch_size=8,
        bptt=10,
        epochs=2,
        progress=False,
        threads=1,
        command=["pytest"],
    )
    steps = iter(range(1, 100))
    result = train(config, corpus, tokenizer, should_stop=lambda: next(steps) == 5)
    assert result.status == "stopped" and result.steps == 5
    return out


def _state_tensors(run: str, edit) -> None:
    file = os.path.join(run, "resume", "state.safetensors")
    tensors = load_file(file)
    edit(tensors)
    save_file(tensors, file)


def _invalid_state_json(run: str) -> None:
    with open(os.path.join(run, "resume", "state.json"), "w", encoding="utf-8") as stream:
        stream.write('{"step": 5, ')


def _pickled_state(run: str) -> None:
    # Written with pickle only to prove it is refused; nothing here ever unpickles it.
    with open(os.path.join(run, "resume", "state.safetensors"), "wb") as stream:
        pickle.dump({"model.embedding.weight": [[0.0]]}, stream)


BROKEN_STATES = {
    "pickle renamed to .safetensors": (_pickled_state, "pickles are refused"),
    "NaN weights": (
        lambda run: _state_tensors(run, lambda t: t["model.embedding.weight"].fill_(float("nan"))),
        "non-finite values",
    ),
    "wrong shapes": (
        lambda run: _state_tensors(run, lambda t: t.update({"model.embedding.weight": torch.zeros(3, 8)})),
        "wrong shapes",
    ),
    "invalid state.json": (_invalid_state_json, "state.json is not valid JSON"),
}


@pytest.mark.parametrize("kind", list(BROKEN_STATES))
def test_a_broken_resume_state_is_refused_and_left_for_inspection(tmp_path, interrupted_run, corpus_dir, capsys, kind):
    corrupt, message = BROKEN_STATES[kind]
    run = str(tmp_path / "run")
    shutil.copytree(interrupted_run, run)
    corrupt(run)
    before = _files(run)
    err = _exit_2(
        train_main, ["--corpus-dir", corpus_dir, "--out", run, "--resume", "--no-progress", "--stream", "off"], capsys
    )
    assert message in err and "start" in err  # says how to get going again
    assert _files(run) == before


# ------------------------------------------------------------------ flags and files added for scale
@pytest.mark.parametrize(
    "flags, message",
    [
        (["--num-proc", "0"], "--num-proc: expected a positive integer, got 0"),
        (["--stream", "sometimes"], "--stream: invalid choice: 'sometimes'"),
    ],
)
def test_streaming_flags_out_of_range(tmp_path, capsys, flags, message):
    with pytest.raises(SystemExit) as caught:
        train_main(["--corpus-dir", str(tmp_path), "--out", str(tmp_path / "out"), *flags])
    assert caught.value.code == 2 and message in capsys.readouterr().err
    assert not os.path.exists(tmp_path / "out")


def test_stream_on_with_a_hub_dataset_is_refused(tmp_path, capsys):
    err = _exit_2(train_main, ["--dataset", "wikitext", "--out", str(tmp_path / "out"), "--stream", "on"], capsys)
    assert "--stream on reads local files" in err


def test_a_tokenizer_file_that_is_not_a_tokenizer(tmp_path, corpus_dir, capsys):
    fake = tmp_path / "tokenizer.json"
    fake.write_text('{"hello": 1}', encoding="utf-8")
    err = _exit_2(
        train_main, ["--corpus-dir", corpus_dir, "--out", str(tmp_path / "out"), "--tokenizer", str(fake)], capsys
    )
    assert "Could not read a tokenizer" in err and str(fake) in err


def test_a_global_batch_that_does_not_split_over_the_processes():
    assert check_batch_size(64, RankInfo(rank=1, world_size=4)) == 16
    with pytest.raises(
        ValueError, match="--batch-size is the global batch .* 3 processes; got 64. Use a multiple of 3"
    ):
        check_batch_size(64, RankInfo(rank=0, world_size=3))


def test_a_truncated_token_file_is_refused(tmp_path):
    file = tmp_path / "tokens.int32"
    file.write_bytes(b"\x01\x00\x00\x00\x02\x00")  # 6 bytes: not whole int32 ids
    with pytest.raises(ValueError, match="not a token file .* Delete it to re-tokenize"):
        open_token_file(str(file))
