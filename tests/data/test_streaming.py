"""Streaming a corpus from disk gives exactly the ids and batches of the in-memory path."""

from __future__ import annotations

import os

import numpy as np
import pytest
import torch
from text_fixtures import write_corpus

import data.streaming as streaming
from data.batching import batchify, windows
from data.corpus import load_local
from data.streaming import open_token_file, should_stream, stream_corpus
from data.tokenizer import WordTokenizer
from model.training.loop import encode_splits


@pytest.fixture(scope="module")
def folder(tmp_path_factory) -> str:
    folder = tmp_path_factory.mktemp("corpus")
    write_corpus(folder, train=300, valid=40, test=40, seed=3)
    # A paragraph spread over several lines, odd white space and Unicode: all must survive the same way.
    with open(folder / "train.txt", "a", encoding="utf-8") as stream:
        stream.write(
            "\nMrs. Mary   said\nthat the tea\twas cold ,\r\nso her friend \U0001f642 came .\n\n \n\nl'été x\u200by שלום .\n"
        )
    return str(folder)


@pytest.fixture(scope="module")
def in_memory(folder):
    corpus = load_local(folder=folder)
    tokenizer = WordTokenizer.train(corpus.splits["train"], min_frequency=1)
    return corpus, tokenizer, encode_splits(corpus, tokenizer)


def test_streamed_ids_equal_the_in_memory_ids(folder, in_memory, tmp_path):
    corpus, tokenizer, expected = in_memory
    streamed_corpus, same_tokenizer, streams = stream_corpus(tokenizer, folder=folder, cache_dir=str(tmp_path))
    assert same_tokenizer is tokenizer
    assert set(streams) == set(expected) == {"train", "valid", "test"}
    for split, ids in expected.items():
        assert streams[split].dtype == torch.int32
        assert torch.equal(streams[split].long(), ids), split
    assert streamed_corpus.files == corpus.files and streamed_corpus.name == corpus.name
    assert streamed_corpus.splits == {}  # no paragraph held in memory
    # One flat int32 file per split, named by text hash + vocabulary, nothing else left behind.
    assert sorted(name for name in os.listdir(tmp_path) if name.endswith(".int32")) == sorted(
        streaming.token_file_key(corpus.files[split]["sha256"], tokenizer) + ".int32" for split in expected
    )


def test_streamed_batches_equal_the_in_memory_batches(folder, in_memory, tmp_path):
    _, tokenizer, expected = in_memory
    _, _, streams = stream_corpus(tokenizer, folder=folder, cache_dir=str(tmp_path))
    rows_memory, rows_stream = batchify(expected["train"], 6), batchify(streams["train"], 6)  # [B, S]
    pairs = list(zip(windows(rows_memory, 13), windows(rows_stream, 13)))
    assert len(pairs) > 5
    for (index_a, inputs_a, targets_a), (index_b, inputs_b, targets_b) in pairs:
        assert index_a == index_b
        assert torch.equal(inputs_a, inputs_b.long()) and torch.equal(targets_a, targets_b.long())


@pytest.mark.slow
def test_tokenizing_in_two_processes_and_building_the_vocabulary_from_the_stream(folder, in_memory, tmp_path):
    _, tokenizer, expected = in_memory
    _, built, streams = stream_corpus(None, folder=folder, cache_dir=str(tmp_path), num_proc=2, min_frequency=1)
    assert built.fingerprint() == tokenizer.fingerprint()  # the vocabulary, counted batch by batch
    for split, ids in expected.items():
        assert torch.equal(streams[split].long(), ids), split


def test_a_second_run_reads_the_cached_token_file(folder, in_memory, tmp_path, monkeypatch):
    _, tokenizer, expected = in_memory
    stream_corpus(tokenizer, folder=folder, cache_dir=str(tmp_path))

    def refuse(*args, **kwargs):
        raise AssertionError("tokenized again although the token file exists")

    monkeypatch.setattr(streaming, "tokenize_to_file", refuse)
    _, _, streams = stream_corpus(tokenizer, folder=folder, cache_dir=str(tmp_path))
    assert torch.equal(streams["train"].long(), expected["train"])


def test_the_stream_is_a_copy_on_write_memory_map(tmp_path):
    path = tmp_path / "tokens.int32"
    np.arange(10, dtype=np.int32).tofile(path)
    stream = open_token_file(str(path))
    assert stream.tolist() == list(range(10))
    stream[0] = 99  # writable in memory ...
    assert np.fromfile(path, dtype=np.int32)[0] == 0  # ... while the file stays as it was


def test_should_stream(folder, monkeypatch):
    paths = {"train": os.path.join(folder, "train.txt")}
    assert should_stream(paths, "on") and not should_stream(paths, "off")
    assert not should_stream(paths, "auto")  # a few kB
    monkeypatch.setattr(streaming, "STREAM_THRESHOLD_BYTES", 100)
    assert should_stream(paths, "auto")
    with pytest.raises(ValueError, match="stream mode must be auto, on or off; got 'yes'"):
        should_stream(paths, "yes")


def test_a_tokenization_that_dies_before_its_rename_leaves_no_token_file(folder, in_memory, tmp_path, monkeypatch):
    _, tokenizer, expected = in_memory
    real_replace = os.replace

    def crash(source, target, *args, **kwargs):
        if str(target).endswith(".int32"):
            raise OSError("simulated crash")
        return real_replace(source, target, *args, **kwargs)

    monkeypatch.setattr(os, "replace", crash)
    with pytest.raises(OSError, match="simulated crash"):
        stream_corpus(tokenizer, folder=folder, cache_dir=str(tmp_path))
    assert [
        name for name in os.listdir(tmp_path) if not name.endswith(".lock")
    ] == []  # no partial file a later run could trust
    monkeypatch.setattr(os, "replace", real_replace)
    _, _, streams = stream_corpus(tokenizer, folder=folder, cache_dir=str(tmp_path))
    assert torch.equal(streams["train"].long(), expected["train"])


def test_several_training_files_stream_the_same_ids_as_in_memory(folder, in_memory, tmp_path):
    corpus, tokenizer, expected = in_memory
    train = os.path.join(folder, "train.txt")
    second = tmp_path / "more.txt"
    second.write_text("Mr. Robert came .\n\nThe end .\n", encoding="utf-8")
    both = [train, str(second)]
    in_memory_ids = encode_splits(load_local(train=both), tokenizer)["train"]
    streamed_corpus, _, streams = stream_corpus(tokenizer, train=both, cache_dir=str(tmp_path / "tokens"))
    assert torch.equal(streams["train"].long(), in_memory_ids)
    assert in_memory_ids.numel() > expected["train"].numel()
    assert streamed_corpus.files["train"] == load_local(train=both).files["train"]
    assert should_stream({"train": both}, "auto") is False
