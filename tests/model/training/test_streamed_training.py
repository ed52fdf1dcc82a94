"""Training from memory-mapped token streams equals training from paragraphs in memory, bit for bit."""

from __future__ import annotations

import os

import pytest
import torch
from safetensors.torch import load_file
from text_fixtures import write_corpus

from data.corpus import load_local
from data.streaming import stream_corpus
from data.tokenizer import WordTokenizer
from model.cli.train import main
from model.core.checkpoint import load_checkpoint
from model.core.config import ModelConfig
from model.training.loop import TrainConfig, train


def _config(out: str, vocab_size: int) -> TrainConfig:
    return TrainConfig(
        out=out,
        # dropout on: the same RNG draws must happen in the same order in both runs
        model=ModelConfig(
            arch="lstm", vocab_size=vocab_size, embedding_size=8, hidden_size=12, dropout=0.2, decoder="full"
        ),
        batch_size=5,
        bptt=9,
        lr=1e-2,
        epochs=2,
        seed=3,
        progress=False,
        threads=1,
        log_every=5,
        command=["pytest"],
    )


@pytest.mark.slow
def test_streamed_training_equals_in_memory_training(tmp_path):
    folder = write_corpus(tmp_path / "corpus", train=120, valid=20, test=20)
    corpus = load_local(folder=folder)
    tokenizer = WordTokenizer.train(corpus.splits["train"], min_frequency=1)
    memory = train(_config(str(tmp_path / "memory"), tokenizer.vocab_size), corpus, tokenizer)
    streamed_corpus, _, streams = stream_corpus(tokenizer, folder=folder, cache_dir=str(tmp_path / "tokens"))
    streamed = train(
        _config(str(tmp_path / "streamed"), tokenizer.vocab_size), streamed_corpus, tokenizer, streams=streams
    )

    assert memory.status == streamed.status == "finished" and memory.steps == streamed.steps > 20
    assert [p["train_loss"] for p in memory.metrics["curve"]] == [p["train_loss"] for p in streamed.metrics["curve"]]
    for split in ("train", "valid", "test"):
        assert memory.metrics[f"{split}_loss"] == streamed.metrics[f"{split}_loss"]
    assert memory.metrics["tokens"] == streamed.metrics["tokens"]
    state_memory = load_file(os.path.join(memory.out, "resume", "state.safetensors"))
    state_streamed = load_file(os.path.join(streamed.out, "resume", "state.safetensors"))
    assert set(state_memory) == set(state_streamed)
    for name in state_memory:  # weights, optimizer moments, carried hidden state, RNG
        assert torch.equal(state_memory[name], state_streamed[name]), name


@pytest.mark.slow
def test_the_cli_streams_with_stream_on_and_can_resume(tmp_path, capsys):
    folder = write_corpus(tmp_path / "corpus", train=80, valid=15, test=15)
    flags = [
        "--corpus-dir",
        folder,
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
        "4",
        "--bptt",
        "10",
        "--threads",
        "1",
        "--no-progress",
        "--epochs",
        "1",
        "--token-cache",
        str(tmp_path / "tokens"),
    ]
    assert main([*flags, "--out", str(tmp_path / "off"), "--stream", "off"]) == 0
    assert main([*flags, "--out", str(tmp_path / "on"), "--stream", "on", "--num-proc", "1"]) == 0
    assert len([name for name in os.listdir(tmp_path / "tokens") if name.endswith(".int32")]) == 3
    off, on = load_checkpoint(str(tmp_path / "off")), load_checkpoint(str(tmp_path / "on"))
    assert off.metrics["tokens"] == on.metrics["tokens"] and off.metrics["valid_loss"] == on.metrics["valid_loss"]
    assert all(torch.equal(on.model.state_dict()[name], tensor) for name, tensor in off.model.state_dict().items())
    capsys.readouterr()
    # --resume of a streamed run re-opens the cached token files (the run is finished: resuming trains 0 more steps).
    assert main([*flags, "--out", str(tmp_path / "on"), "--stream", "on", "--resume"]) == 0
    assert capsys.readouterr().out.startswith("finished:")
