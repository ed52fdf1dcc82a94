"""TBPTT batching: the layout drawn in data/batching.py's docstring."""

from __future__ import annotations

import pytest
import torch

from data.batching import batchify, get_window, num_windows, windows


def test_rows_are_contiguous_stretches_and_the_tail_is_dropped():
    stream = torch.arange(23)
    rows = batchify(stream, 4)
    assert rows.shape == (4, 5)  # steps = 23 // 4, the last 3 tokens dropped
    for b in range(4):
        assert rows[b].tolist() == list(range(b * 5, b * 5 + 5))
    assert rows.is_contiguous()


def test_windows_shift_targets_by_one_and_the_last_is_shorter():
    rows = batchify(torch.arange(40), 2)  # [2, 20]: rows 0..19 and 20..39
    found = list(windows(rows, bptt=6))
    # 19 predictions per row -> windows of 6, 6, 6, 1
    assert [index for index, _, _ in found] == [0, 1, 2, 3]
    assert [inputs.shape for _, inputs, _ in found] == [(2, 6), (2, 6), (2, 6), (2, 1)]
    assert num_windows(rows, 6) == 4
    for index, inputs, targets in found:
        start = index * 6
        assert torch.equal(inputs, rows[:, start : start + inputs.size(1)])
        assert torch.equal(targets, inputs + 1)  # the next token of the same row
    # Together the windows read every input column once and predict every later one.
    assert torch.equal(torch.cat([inputs for _, inputs, _ in found], dim=1), rows[:, :-1])
    assert torch.equal(torch.cat([targets for _, _, targets in found], dim=1), rows[:, 1:])


def test_windows_of_exact_multiple_have_no_empty_tail():
    rows = batchify(torch.arange(26), 2)  # [2, 13]: 12 predictions per row
    assert num_windows(rows, 4) == 3
    assert [inputs.size(1) for _, inputs, _ in windows(rows, 4)] == [4, 4, 4]
    with pytest.raises(IndexError, match="past the end"):
        get_window(rows, 3, 4)


def test_windows_can_start_later_and_match_get_window():
    rows = batchify(torch.arange(100), 5)
    all_windows = list(windows(rows, 3))
    later = list(windows(rows, 3, start=2))
    assert len(later) == len(all_windows) - 2
    for (i, x, y), (j, u, v) in zip(all_windows[2:], later):
        assert i == j and torch.equal(x, u) and torch.equal(y, v)
        gx, gy = get_window(rows, i, 3)
        assert torch.equal(gx, x) and torch.equal(gy, y)


def test_batching_is_deterministic():
    stream = torch.randint(0, 50, (257,), generator=torch.Generator().manual_seed(1))
    first = [(i, x.clone(), y.clone()) for i, x, y in windows(batchify(stream, 3), 7)]
    second = list(windows(batchify(stream.clone(), 3), 7))
    assert len(first) == len(second)
    for (i, x, y), (j, u, v) in zip(first, second):
        assert i == j and torch.equal(x, u) and torch.equal(y, v)


def test_too_short_stream_is_an_error():
    with pytest.raises(ValueError, match="too short for batch size 4.*--batch-size"):
        batchify(torch.arange(7), 4)  # 1 token per row
    assert batchify(torch.arange(8), 4).shape == (4, 2)


@pytest.mark.parametrize("batch_size", [0, -3])
def test_bad_batch_size(batch_size):
    with pytest.raises(ValueError, match="batch_size must be at least 1"):
        batchify(torch.arange(10), batch_size)


def test_stream_must_be_one_dimensional():
    with pytest.raises(ValueError, match="1-D"):
        batchify(torch.zeros(2, 5, dtype=torch.long), 1)


@pytest.mark.parametrize("bptt", [0, -1])
def test_bad_bptt(bptt):
    rows = batchify(torch.arange(20), 2)
    with pytest.raises(ValueError, match="bptt must be at least 1"):
        list(windows(rows, bptt))
    with pytest.raises(ValueError, match="bptt must be at least 1"):
        num_windows(rows, bptt)
    with pytest.raises(ValueError, match="bptt must be at least 1"):
        get_window(rows, 0, bptt)


def test_negative_window_index():
    rows = batchify(torch.arange(20), 2)
    with pytest.raises(IndexError, match="0 or more"):
        get_window(rows, -1, 3)
