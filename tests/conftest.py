"""Shared test setup: offline hub, one CPU thread, seeded, tiny data built here.

Tests never read ../shared: a fresh machine has no such folder. Everything a
test needs is generated below.
"""

from __future__ import annotations

import os

# Must happen before anything imports `datasets`.
os.environ["HF_HUB_OFFLINE"] = "1"
os.environ["HF_DATASETS_OFFLINE"] = "1"
os.environ.setdefault(
    "MEMORY_LAB_DATASETS_CACHE", os.path.join(os.environ.get("TMPDIR", "/tmp"), "memory-lab-test-datasets-cache")
)

import random
import sys

import pytest
import torch

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
if ROOT not in sys.path:
    sys.path.insert(0, ROOT)

torch.set_num_threads(1)

from text_fixtures import FILLERS, MEN, WOMEN, patterned_paragraphs, write_corpus  # noqa: E402,F401


@pytest.fixture(autouse=True)
def _seed():
    torch.manual_seed(0)
    random.seed(0)


@pytest.fixture(scope="session")
def corpus_dir(tmp_path_factory) -> str:
    """A folder with train.txt, valid.txt and test.txt of patterned text."""
    return write_corpus(tmp_path_factory.mktemp("corpus"))


@pytest.fixture(scope="session")
def tiny_checkpoints(tmp_path_factory, corpus_dir) -> dict[str, str]:
    """A briefly trained tiny rnn, lstm and gru sharing one tokenizer: arch -> checkpoint folder.

    Session-scoped and read-only: copy a folder before changing it.
    """
    from data.corpus import load_local
    from data.tokenizer import WordTokenizer
    from model.core.config import ModelConfig
    from model.training.loop import TrainConfig, train

    corpus = load_local(folder=corpus_dir)
    tokenizer = WordTokenizer.train(corpus.splits["train"], min_frequency=1)
    root = tmp_path_factory.mktemp("checkpoints")
    paths = {}
    for arch in ("rnn", "lstm", "gru"):
        out = str(root / f"tiny-{arch}")
        config = TrainConfig(
            out=out,
            model=ModelConfig(
                arch=arch,
                vocab_size=tokenizer.vocab_size,
                embedding_size=16,
                hidden_size=24,
                dropout=0.0,
                decoder="full",
            ),
            batch_size=8,
            bptt=20,
            lr=1e-2,
            epochs=3,
            seed=0,
            progress=False,
            threads=1,
            command=["pytest"],
        )
        train(config, corpus, tokenizer)
        paths[arch] = out
    return paths
