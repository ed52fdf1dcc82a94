"""model/lab/batched_training.py: a batched run of S seeds is S ordinary runs, and each seed reads its own order."""

from __future__ import annotations

import random

import pytest
import torch

from model.lab.batched_model import BatchedRecurrentLM
from model.lab.batched_training import seed_rows, stack_rows, train_alone, train_batched

PARAGRAPHS = [[random.Random(index).randrange(1, 12) for _ in range(3 + index % 7)] + [0] for index in range(120)]


@pytest.mark.parametrize("arch", ["rnn", "lstm"])
def test_each_seed_of_a_batched_run_follows_its_own_run_alone(arch):
    """S = 4 tiny models, 6 SGD steps with clipping: every seed's loss curve and final weights are those of
    the same seed trained alone as an ordinary LanguageModel (nn.RNN / nn.LSTM, clip_grad_norm_, torch.optim.SGD)."""
    seeds = [0, 1, 2, 3]
    rows = stack_rows(PARAGRAPHS, seeds, batch_size=4, steps=6, bptt=10)  # [S, B, 61]
    batched = BatchedRecurrentLM(arch, seeds, vocab_size=12, embedding_size=5, hidden_size=6, embedding_init=1.0)
    alone = [batched.to_language_model(index) for index in range(4)]  # same starting weights, before training
    run = train_batched(batched, rows, steps=6, bptt=10, lr=2.0, clip=0.5)
    assert run.steps == 6 and run.status == "finished"
    clipped = 0
    for index, model in enumerate(alone):
        reference = train_alone(model, rows[index], steps=6, bptt=10, lr=2.0, clip=0.5)
        mine = torch.tensor([losses[index] for losses in run.losses])
        theirs = torch.tensor([losses[0] for losses in reference.losses])
        assert torch.allclose(mine, theirs, rtol=1e-5, atol=1e-6), (index, mine, theirs)
        assert torch.allclose(
            torch.tensor([n[index] for n in run.norms]), torch.tensor([n[0] for n in reference.norms]), rtol=1e-4
        )
        clipped += sum(n[0] > 0.5 for n in reference.norms)
        trained = batched.to_language_model(index)
        for name, parameter in model.named_parameters():
            assert torch.allclose(parameter, dict(trained.named_parameters())[name], atol=1e-5), name
    assert clipped > 0  # the clipping branch was exercised
    assert len({tuple(round(value, 5) for value in curve) for curve in zip(*run.losses)}) == 4  # four different runs


def test_each_seed_reads_every_paragraph_once_per_epoch_in_its_own_order():
    pool = [[index, index, 99] for index in range(1, 50)]  # paragraph k: "k k <eos>"
    first = seed_rows(pool, seed=0, batch_size=1, tokens_per_row=len(pool) * 3)[0]
    again = seed_rows(pool, seed=0, batch_size=1, tokens_per_row=len(pool) * 3)[0]
    other = seed_rows(pool, seed=1, batch_size=1, tokens_per_row=len(pool) * 3)[0]
    assert torch.equal(first, again)
    assert not torch.equal(first, other)
    order = first.view(-1, 3)[:, 0].tolist()
    assert sorted(order) == list(range(1, 50))  # one epoch: each paragraph exactly once
    assert first.view(-1, 3)[:, 2].eq(99).all() and first.dtype == torch.uint8
    two_epochs = seed_rows(pool, seed=0, batch_size=2, tokens_per_row=len(pool) * 3)  # needs two passes over the pool
    assert two_epochs.shape == (2, len(pool) * 3)


def test_rows_too_short_for_the_steps_are_refused():
    rows = stack_rows(PARAGRAPHS, [0], batch_size=2, steps=3, bptt=5)
    with pytest.raises(ValueError, match="6 steps need"):
        train_batched(BatchedRecurrentLM("rnn", [0], 12, 4, 4), rows, steps=6, bptt=5, lr=1.0, clip=1.0)
