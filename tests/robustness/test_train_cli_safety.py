"""Failure 6: the train CLI could silently destroy or mislabel a checkpoint.

`model.train --out EXISTING` without --resume overwrote a trained model (valid ppl 5.48 replaced
by 99.5) without asking; `--resume` with a different corpus was accepted, "finished" without
training and wrote the wrong corpus into metrics.json. Now an occupied --out needs --overwrite,
and --resume compares the corpus digests (one file or several) and the tokenizer with the run's.
"""

from __future__ import annotations

import json
import os
import shutil

import pytest
from robustness_helpers import run_cli

from data.corpus import load_local
from data.tokenizer import WordTokenizer
from model.cli.train import main as train_main
from model.core.checkpoint import load_checkpoint
from model.core.config import ModelConfig
from model.training.loop import TrainConfig, train

TINY = [
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
    "--batch-size",
    "8",
    "--bptt",
    "10",
    "--epochs",
    "1",
    "--threads",
    "1",
    "--no-progress",
    "--stream",
    "off",
]


def _files(folder: str) -> dict[str, bytes]:
    found = {}
    for directory, _, names in os.walk(folder):
        for name in names:
            path = os.path.join(directory, name)
            found[os.path.relpath(path, folder)] = open(path, "rb").read()
    return found


def _other_corpus(corpus_dir: str, destination: str) -> str:
    """The same folder layout with one more paragraph in train.txt: another digest, the same vocabulary."""
    shutil.copytree(corpus_dir, destination)
    with open(os.path.join(destination, "train.txt"), "a", encoding="utf-8") as stream:
        stream.write("\nMr. Robert said so his friend came to tea .\n")
    return destination


def test_an_existing_checkpoint_is_not_overwritten_without_overwrite(tmp_path, corpus_dir, tiny_checkpoints, capsys):
    out = str(tmp_path / "trained")
    shutil.copytree(tiny_checkpoints["rnn"], out)
    before = _files(out)
    line = run_cli(train_main, ["--corpus-dir", corpus_dir, "--out", out, *TINY], capsys)
    assert f"--out {out} already holds a checkpoint (valid ppl" in line and "Pass --overwrite to replace it" in line
    assert _files(out) == before

    assert train_main(["--corpus-dir", corpus_dir, "--out", out, "--overwrite", *TINY]) == 0
    assert load_checkpoint(out).config.hidden_size == 8  # replaced, as asked


def test_an_empty_out_folder_is_free_to_use(tmp_path, corpus_dir):
    out = tmp_path / "empty"
    out.mkdir()
    assert train_main(["--corpus-dir", corpus_dir, "--out", str(out), *TINY]) == 0


def test_resume_and_overwrite_together_are_refused(tmp_path, corpus_dir, capsys):
    line = run_cli(
        train_main, ["--corpus-dir", corpus_dir, "--out", str(tmp_path / "x"), "--resume", "--overwrite", *TINY], capsys
    )
    assert "pass one of them" in line


@pytest.fixture
def interrupted(tmp_path, corpus_dir):
    """A run stopped in its second epoch: resume/ state plus a best checkpoint from epoch 1."""
    corpus = load_local(folder=corpus_dir)
    tokenizer = WordTokenizer.train(corpus.splits["train"], min_frequency=1)
    out = str(tmp_path / "run")
    config = TrainConfig(
        out=out,
        model=ModelConfig(arch="gru", vocab_size=tokenizer.vocab_size, embedding_size=8, hidden_size=8, decoder="full"),
        batch_size=8,
        bptt=10,
        epochs=2,
        progress=False,
        threads=1,
        command=["pytest"],
    )
    polls_after_checkpoint = iter(range(1, 10_000))
    result = train(
        config,
        corpus,
        tokenizer,
        should_stop=lambda: os.path.isfile(os.path.join(out, "metrics.json")) and next(polls_after_checkpoint) >= 3,
    )
    assert result.status == "stopped" and os.path.isdir(os.path.join(out, "resume"))
    return out


def test_resume_on_another_corpus_is_refused_naming_the_split(tmp_path, interrupted, corpus_dir, capsys):
    other = _other_corpus(corpus_dir, str(tmp_path / "other"))
    before = _files(interrupted)
    line = run_cli(
        train_main,
        ["--corpus-dir", other, "--out", interrupted, "--resume", "--no-progress", "--stream", "off"],
        capsys,
    )
    assert "the corpus differs in its train split" in line
    assert os.path.join(corpus_dir, "train.txt") in line and os.path.join(other, "train.txt") in line
    assert _files(interrupted) == before  # nothing trained, nothing rewritten


def test_resume_with_another_tokenizer_is_refused(tmp_path, interrupted, corpus_dir, capsys):
    foreign = WordTokenizer.train(["entirely different words here"], min_frequency=1)
    foreign.save(str(tmp_path / "foreign.json"))
    line = run_cli(
        train_main,
        [
            "--corpus-dir",
            corpus_dir,
            "--out",
            interrupted,
            "--resume",
            "--tokenizer",
            str(tmp_path / "foreign.json"),
            "--no-progress",
            "--stream",
            "off",
        ],
        capsys,
    )
    assert "is not the one the interrupted run used" in line and "Leave out --tokenizer" in line


def test_a_state_written_before_records_falls_back_to_metrics_json(tmp_path, interrupted, corpus_dir, capsys):
    state_file = os.path.join(interrupted, "resume", "state.json")
    state = json.load(open(state_file, encoding="utf-8"))
    del state["corpus_record"]
    json.dump(state, open(state_file, "w", encoding="utf-8"))
    other = _other_corpus(corpus_dir, str(tmp_path / "other"))
    line = run_cli(
        train_main,
        ["--corpus-dir", other, "--out", interrupted, "--resume", "--no-progress", "--stream", "off"],
        capsys,
    )
    assert "the corpus differs in its train split" in line


def test_resume_with_the_same_corpus_still_works(interrupted, corpus_dir, capsys):
    assert (
        train_main(["--corpus-dir", corpus_dir, "--out", interrupted, "--resume", "--no-progress", "--stream", "off"])
        == 0
    )
    assert "finished" in capsys.readouterr().out


def test_several_training_files_are_compared_file_by_file(tmp_path, corpus_dir, capsys):
    first, second, changed = (str(tmp_path / name) for name in ("a.txt", "b.txt", "c.txt"))
    shutil.copy(os.path.join(corpus_dir, "train.txt"), first)
    shutil.copy(os.path.join(corpus_dir, "test.txt"), second)
    shutil.copy(os.path.join(corpus_dir, "test.txt"), changed)
    with open(changed, "a", encoding="utf-8") as stream:
        stream.write("\nMrs. Mary said so her friend came to tea .\n")
    corpus = load_local(train=[first, second], valid=os.path.join(corpus_dir, "valid.txt"))
    assert set(corpus.files["train"]) == {"paths", "sha256s", "sha256"}
    tokenizer = WordTokenizer.train(corpus.splits["train"], min_frequency=1)
    out = str(tmp_path / "run")
    config = TrainConfig(
        out=out,
        model=ModelConfig(arch="rnn", vocab_size=tokenizer.vocab_size, embedding_size=8, hidden_size=8, decoder="full"),
        batch_size=8,
        bptt=10,
        epochs=1,
        progress=False,
        threads=1,
        command=["pytest"],
    )
    steps = iter(range(1, 10_000))
    assert train(config, corpus, tokenizer, should_stop=lambda: next(steps) == 3).status == "stopped"
    line = run_cli(
        train_main,
        [
            "--train",
            first,
            changed,
            "--valid",
            os.path.join(corpus_dir, "valid.txt"),
            "--out",
            out,
            "--resume",
            "--no-progress",
            "--stream",
            "off",
        ],
        capsys,
    )
    assert (
        "the corpus differs in its train split" in line
        and f"{first} + {second}" in line
        and f"{first} + {changed}" in line
    )
