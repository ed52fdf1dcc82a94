"""Deterministic batching for truncated backpropagation through time (TBPTT).

The token stream of a split is cut into ``batch_size`` equal rows; row b is a
contiguous stretch of the corpus, so the hidden state carried from one window
to the next in row b continues the same text.

    stream:  t0 t1 t2 ... t(N-1)                    (N tokens, tail dropped)

    rows  [batch_size, steps], steps = N // batch_size
        b=0: t0       t1       ... t(S-1)
        b=1: tS       tS+1     ... t(2S-1)
        ...
        b=B-1: ...

    window i (bptt = T) reads columns [i*T, i*T + T) as input and the same
    columns shifted by one as targets:

        inputs  = rows[:, i*T     : i*T + T]        [B, T]
        targets = rows[:, i*T + 1 : i*T + T + 1]    [B, T]

    The last window may be shorter. No randomness: the same corpus, batch size
    and bptt always give the same windows in the same order.
"""

from __future__ import annotations

from typing import Iterator

import torch


def batchify(stream: torch.Tensor, batch_size: int) -> torch.Tensor:
    """Reshape a 1-D token stream [N] into rows [batch_size, N // batch_size]."""
    if stream.dim() != 1:
        raise ValueError(f"The token stream must be 1-D; got shape {tuple(stream.shape)}.")
    if batch_size < 1:
        raise ValueError(f"batch_size must be at least 1; got {batch_size}.")
    steps = stream.numel() // batch_size
    if steps < 2:
        raise ValueError(
            f"A split of {stream.numel()} tokens is too short for batch size {batch_size}: "
            "each row needs at least 2 tokens. Use more text or a smaller --batch-size."
        )
    return stream[: steps * batch_size].view(batch_size, steps).contiguous()  # [B, S]


def num_windows(rows: torch.Tensor, bptt: int) -> int:
    """How many TBPTT windows :func:`windows` yields for ``rows`` [B, S]."""
    if bptt < 1:
        raise ValueError(f"bptt must be at least 1; got {bptt}.")
    return (rows.size(1) - 1 + bptt - 1) // bptt


def get_window(rows: torch.Tensor, index: int, bptt: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Window ``index``: inputs and targets, each [B, T] with T <= bptt."""
    if index < 0:
        raise IndexError(f"Window index must be 0 or more; got {index}.")
    if bptt < 1:
        raise ValueError(f"bptt must be at least 1; got {bptt}.")
    start = index * bptt
    length = min(bptt, rows.size(1) - 1 - start)
    if length < 1:
        raise IndexError(f"Window {index} is past the end ({num_windows(rows, bptt)} windows).")
    inputs = rows[:, start : start + length]  # [B, T]
    targets = rows[:, start + 1 : start + 1 + length]  # [B, T]
    return inputs, targets


def windows(rows: torch.Tensor, bptt: int, start: int = 0) -> Iterator[tuple[int, torch.Tensor, torch.Tensor]]:
    """Yield (index, inputs [B, T], targets [B, T]) from window ``start`` on."""
    if bptt < 1:
        raise ValueError(f"bptt must be at least 1; got {bptt}.")
    for index in range(start, num_windows(rows, bptt)):
        inputs, targets = get_window(rows, index, bptt)
        yield index, inputs, targets
