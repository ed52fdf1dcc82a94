"""model/lab/batched_model.py and model/lab/batched_cells.py: S stacked models are S ordinary nn.RNN / nn.LSTM models."""

from __future__ import annotations

import pytest
import torch

from model.lab import batched_cells
from model.lab.batched_cells import autograd_recurrence, recurrence
from model.lab.batched_model import BatchedRecurrentLM, hidden_size_for_parameters, parameter_count


@pytest.mark.parametrize("arch", ["rnn", "lstm"])
def test_each_seed_gives_the_logits_of_its_language_model(arch):
    model = BatchedRecurrentLM(
        arch, [0, 1, 2], vocab_size=20, embedding_size=4, hidden_size=5, embedding_init=1.0, dtype=torch.float64
    )
    ids = torch.randint(0, 20, (3, 2, 7), generator=torch.Generator().manual_seed(0))
    logits, last = model(ids)  # [S, B, T, V]
    h = last[0] if arch == "lstm" else last  # [S, B, H]
    for index in range(3):
        reference = model.to_language_model(index)  # nn.RNN / nn.LSTM with seed index's weights
        expected, state = reference(ids[index])
        assert torch.allclose(logits[index], expected, atol=1e-12)
        expected_h = state[0] if arch == "lstm" else state
        assert torch.allclose(h[index], expected_h[0], atol=1e-12)
    assert model.parameters_per_model() == reference.num_parameters() == parameter_count(arch, 20, 4, 5)


@pytest.mark.slow
@pytest.mark.parametrize("loops", ["compiled", "python"])
@pytest.mark.parametrize("arch", ["rnn", "lstm"])
def test_hand_written_backward_equals_autograd_and_finite_differences(arch, loops, monkeypatch):
    monkeypatch.setitem(batched_cells.LOOPS, "kind", loops)
    generator = torch.Generator().manual_seed(1)
    width = 5 * (4 if arch == "lstm" else 1)
    table = torch.randn(3, 7, width, dtype=torch.float64, generator=generator, requires_grad=True)  # [S, V, G*H]
    ids = torch.randint(0, 7, (6, 3, 2), generator=generator)  # [T, S, B]
    weight = (0.5 * torch.randn(3, 5, width, dtype=torch.float64, generator=generator)).requires_grad_()  # [S, H, G*H]
    h0 = torch.randn(3, 2, 5, dtype=torch.float64, generator=generator, requires_grad=True)  # [S, B, H]
    c0 = torch.randn(3, 2, 5, dtype=torch.float64, generator=generator, requires_grad=True)
    state = (h0, c0) if arch == "lstm" else h0
    leaves = [table, weight, h0] + ([c0] if arch == "lstm" else [])
    weights = torch.randn(6, 3, 2, 5, dtype=torch.float64, generator=generator)

    def objective(function) -> torch.Tensor:
        outputs, last = function(arch, table, ids, weight, state)  # [T, S, B, H]
        last_term = (last[0] * 1.3 + last[1] * 0.7) if arch == "lstm" else last
        return (outputs * weights).sum() + last_term.square().sum()

    fast = torch.autograd.grad(objective(recurrence), leaves)
    reference = torch.autograd.grad(objective(autograd_recurrence), leaves)
    for mine, theirs in zip(fast, reference):
        assert torch.allclose(mine, theirs, atol=1e-12)

    def outputs(table, weight, *start):
        return recurrence(arch, table, ids, weight, tuple(start) if arch == "lstm" else start[0])[0]

    assert torch.autograd.gradcheck(outputs, leaves)


def test_a_seed_starts_from_the_same_weights_whatever_its_neighbours():
    alone = BatchedRecurrentLM("lstm", [3], vocab_size=11, embedding_size=4, hidden_size=6)
    together = BatchedRecurrentLM("lstm", [0, 3, 9], vocab_size=11, embedding_size=4, hidden_size=6)
    for mine, theirs in zip(alone.parameters(), together.parameters()):
        assert torch.equal(mine[0], theirs[1])
    assert not torch.equal(together.weight_hh[0], together.weight_hh[1])
    # The LSTM's forget gate (columns H..2H, order i, f, o, g) starts open.
    assert torch.all(together.bias_ih[:, :, 6:12] == 1.0)


def test_the_rnn_can_be_given_the_lstms_parameter_count():
    target = parameter_count("lstm", 40, 32, 32)
    hidden = hidden_size_for_parameters("rnn", target, 40, 32)
    assert abs(parameter_count("rnn", 40, 32, hidden) - target) <= parameter_count(
        "rnn", 40, 32, hidden + 1
    ) - parameter_count("rnn", 40, 32, hidden)
    assert 55 <= hidden <= 70  # about twice as wide: one block of recurrent weights instead of four


def test_bad_settings_are_refused():
    with pytest.raises(ValueError, match="Batched models"):
        BatchedRecurrentLM("gru", [0], 10, 4, 4)
    with pytest.raises(ValueError, match="at least one seed"):
        BatchedRecurrentLM("rnn", [], 10, 4, 4)
    model = BatchedRecurrentLM("rnn", [0, 1], 10, 4, 4)
    with pytest.raises(ValueError, match=r"\[S=2, B, T\]"):
        model(torch.zeros(3, 2, 5, dtype=torch.long))
