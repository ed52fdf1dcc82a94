"""Running the model's own recurrence in a form that autograd can batch, plus state helpers.

PyTorch runs ``nn.LSTM`` / ``nn.RNN`` / ``nn.GRU`` through fused kernels (oneDNN
on CPU, cuDNN on CUDA). Both give correct gradients, but

* cuDNN refuses a backward pass in eval mode, and we never call ``.train()``;
* a batched backward (``torch.autograd.grad(..., is_grads_batched=True)``)
  cannot batch the oneDNN backward and falls back to one pass per row, about
  9x slower for a 512-unit LSTM.

:func:`differentiable_recurrence` switches both off for the duration of an
analysis (cuDNN only, with ``batched=False``), so the same weights run through
PyTorch's composite (op by op) kernels. The switch is process-wide, so it is reference-counted under a lock:
two analyses in two threads overlap safely and the flags come back exactly as
they were when the last one finishes. Other code running meanwhile still gets
correct results, only without the fused kernels.
"""

from __future__ import annotations

import math
import threading
from contextlib import contextmanager
from typing import Iterator, Sequence

import torch

from model.core.language_model import State

_LOCK = threading.Lock()
_USERS = {"mkldnn": 0, "cudnn": 0}
_SAVED: dict[str, bool] = {}


def _backend(name: str):
    return torch.backends.mkldnn if name == "mkldnn" else torch.backends.cudnn


@contextmanager
def differentiable_recurrence(batched: bool = True) -> Iterator[None]:
    """Run recurrent layers through kernels that autograd can use inside the ``with`` block.

    Args:
        batched: True (for ``is_grads_batched`` sweeps) switches off oneDNN and
            cuDNN; False switches off cuDNN only (a plain backward in eval mode
            is fine with oneDNN, and faster there).

    Example:
        >>> with differentiable_recurrence():
        ...     features, _ = model.features_from_embeddings(embeddings)
    """
    names = ("mkldnn", "cudnn") if batched else ("cudnn",)
    with _LOCK:
        for name in names:
            if _USERS[name] == 0:
                _SAVED[name] = _backend(name).enabled
                _backend(name).enabled = False
            _USERS[name] += 1
    try:
        yield
    finally:
        with _LOCK:
            for name in names:
                _USERS[name] -= 1
                if _USERS[name] == 0:
                    _backend(name).enabled = _SAVED.pop(name)


def state_tensors(state: State | None) -> list[torch.Tensor]:
    """The tensors of a recurrent state: [h] or [h, c], each [num_layers, B, H]; [] for None."""
    if state is None:
        return []
    return list(state) if isinstance(state, tuple) else [state]


def state_from_tensors(tensors: Sequence[torch.Tensor]) -> State:
    """Inverse of :func:`state_tensors`: (h, c) for two tensors, h for one."""
    return tuple(tensors) if len(tensors) == 2 else tensors[0]


def leaf_state(state: State | None) -> State | None:
    """A detached copy of ``state`` that requires grad: a cut point for a chunked backward."""
    if state is None:
        return None
    return state_from_tensors([tensor.detach().requires_grad_(True) for tensor in state_tensors(state)])


def default_time_chunk(length: int) -> int:
    """Chunk length of the batched backward sweep over ``length`` steps.

    Each chunk costs a fixed overhead; more chunks let targets that end early
    stop early (the work falls from T^2 towards T^2 / 2 cell steps). Measured
    on a 512-unit LSTM: one chunk up to 16 steps, then about 8 chunks.
    """
    if length <= 16:
        return length
    return max(8, math.ceil(length / 8))


def time_bounds(length: int, chunk: int | None) -> list[tuple[int, int]]:
    """Split ``range(length)`` into consecutive [start, stop) chunks of at most ``chunk`` steps.

    Args:
        length: number of steps.
        chunk: steps per chunk, or None for :func:`default_time_chunk`.

    Raises:
        ValueError: if ``chunk`` is not a positive integer.
    """
    chunk = default_time_chunk(length) if chunk is None else chunk
    if not isinstance(chunk, int) or chunk < 1:
        raise ValueError(
            f"time_chunk must be a positive integer (steps per chunk); got {chunk!r}. Pass None for automatic."
        )
    return [(start, min(start + chunk, length)) for start in range(0, length, chunk)]
