"""Running the analyses on a model that lives on a GPU.

On CUDA, nn.RNN / nn.LSTM / nn.GRU run through cuDNN, whose RNN kernels have
two limits that the analyses hit: their backward pass refuses to run in eval
mode ("cudnn RNN backward can only be called in training mode"), and they have
no double backward. Every analysis differentiates a model in eval mode (shared
models are never put in train mode), so on CUDA it must use PyTorch's own RNN
kernels instead. :func:`analysis_mode` switches cuDNN off for the duration of a
call and back on afterwards; on CPU (no cuDNN) it changes nothing.

Usage (one line around an analysis entry point):

    with analysis_mode(model):
        report = analyze_text(model, tokenizer, text)

The switch is process-wide while it is on, so a model training on the GPU in
another thread of the same process runs on the slower non-cuDNN kernels for
that moment; results are unaffected.
"""

from __future__ import annotations

from contextlib import contextmanager
from typing import Iterator

import torch

from model.core.language_model import model_device  # noqa: F401 - re-exported: tests and callers ask here too


@contextmanager
def analysis_mode(model: torch.nn.Module) -> Iterator[None]:
    """Disable cuDNN while analysing ``model`` if it is on CUDA; a no-op otherwise.

    Args:
        model: the model about to be analysed (not changed: no train mode, no hooks).

    Yields:
        Nothing; the previous cuDNN settings come back when the block ends, even on error.
    """
    if model_device(model).type != "cuda":
        yield
        return
    cudnn = torch.backends.cudnn
    # flags() sets every cuDNN option it is given; pass the current ones so only `enabled` changes.
    with cudnn.flags(
        enabled=False, benchmark=cudnn.benchmark, deterministic=cudnn.deterministic, allow_tf32=cudnn.allow_tf32
    ):
        yield
