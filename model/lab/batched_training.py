"""Train S seeds of one small language model at once: per-seed data order, per-seed clipping, plain SGD.

Every seed reads its own stream: the same pool of paragraphs in its own random
order (:func:`seed_rows`), cut into ``batch_size`` rows and read in TBPTT windows
of ``bptt`` tokens, the hidden state carried from one window to the next
(data/batching.py). One step of :func:`train_batched` is, for every seed s at once,

    loss_s = mean cross-entropy of seed s's window        (BatchedRecurrentLM.loss)
    g_s    = d loss_s / d theta_s                          (one backward of sum_s loss_s)
    g_s   *= min(1, clip / (||g_s|| + 1e-6))               (each seed's own global norm)
    theta_s -= lr * g_s

which is what torch.nn.utils.clip_grad_norm_ and torch.optim.SGD do for one
model. :func:`train_alone` is that one-model loop, written with the library's own
modules (LanguageModel with nn.RNN / nn.LSTM, clip_grad_norm_, SGD): the test
proves that seed s of a batched run follows the same loss curve as seed s
trained alone, and bench/lab.py times S such runs against one batched run.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Callable

import torch

from data.batching import batchify, get_window, num_windows
from model.core.language_model import LanguageModel, detach_state
from model.lab.batched_model import BatchedRecurrentLM

# Seed s's data order comes from a generator seeded with s + DATA_ORDER_OFFSET, so that it
# is not the stream of the generator that drew the same seed's initial weights.
DATA_ORDER_OFFSET = 1_000_000


def _id_dtype(paragraphs: list[list[int]]) -> torch.dtype:
    """The smallest integer type that holds every id: the streams of 16 seeds are tens of millions of tokens."""
    largest = max(max(ids) for ids in paragraphs if ids)
    return torch.uint8 if largest < 256 else torch.int32


def seed_rows(paragraphs: list[list[int]], seed: int, batch_size: int, tokens_per_row: int) -> torch.Tensor:
    """Seed ``seed``'s training stream: the paragraphs in its own random order, cut into rows.

    Args:
        paragraphs: token ids of each paragraph (its <eos> included).
        seed: the seed; its order is reproducible and independent of the other seeds.
        batch_size: rows (B).
        tokens_per_row: at least this many tokens per row; the pool is re-shuffled and
            appended as often as needed (a new epoch, a new order).

    Returns:
        rows [B, L] with L >= tokens_per_row, in a compact integer type (uint8 for a
        vocabulary under 256 words; take ``.long()`` of a window before the model reads it).
    """
    if not paragraphs or not any(paragraphs):
        raise ValueError("Pass at least one non-empty paragraph to train on.")
    if batch_size < 1 or tokens_per_row < 2:
        raise ValueError(f"batch_size must be >= 1 and tokens_per_row >= 2; got {batch_size} and {tokens_per_row}.")
    generator = torch.Generator().manual_seed(seed + DATA_ORDER_OFFSET)
    flat = torch.tensor([i for ids in paragraphs for i in ids], dtype=_id_dtype(paragraphs))  # [N]
    lengths = torch.tensor([len(ids) for ids in paragraphs])  # [P]
    starts = torch.cumsum(lengths, 0) - lengths  # [P]
    epochs = -(-(batch_size * tokens_per_row) // flat.numel())  # each epoch: every paragraph once, in a new order
    order = torch.cat([torch.randperm(len(paragraphs), generator=generator) for _ in range(epochs)])  # [epochs * P]
    # Gather the paragraphs in that order without a Python loop: token k of the stream is
    # flat[start of its paragraph + its position inside it].
    ordered_lengths = lengths[order]  # [epochs * P]
    within = torch.arange(int(ordered_lengths.sum())) - torch.repeat_interleave(
        torch.cumsum(ordered_lengths, 0) - ordered_lengths, ordered_lengths
    )
    stream = flat[torch.repeat_interleave(starts[order], ordered_lengths) + within]  # [epochs * N]
    return batchify(stream, batch_size)  # [B, L]


def stack_rows(
    paragraphs: list[list[int]], seeds: tuple[int, ...] | list[int], batch_size: int, steps: int, bptt: int
) -> torch.Tensor:
    """Every seed's rows, cut to one length: [S, B, steps * bptt + 1] (compact integer type)."""
    length = steps * bptt + 1
    return torch.stack([seed_rows(paragraphs, seed, batch_size, length)[:, :length] for seed in seeds])


@dataclass
class BatchedRun:
    """What a batched training run did.

    Attributes:
        losses: per step, each seed's training loss (nats per token), [steps][S].
        norms: per step, each seed's gradient norm before clipping, [steps][S].
        steps: steps taken (fewer than asked when stopped).
        seconds: wall time of the steps (callbacks excluded).
        step_seconds: wall time of each step.
        status: "finished" or "stopped".
    """

    losses: list[list[float]] = field(default_factory=list)
    norms: list[list[float]] = field(default_factory=list)
    steps: int = 0
    seconds: float = 0.0
    step_seconds: list[float] = field(default_factory=list)
    status: str = "finished"

    @property
    def seconds_per_step(self) -> float:
        return self.seconds / self.steps if self.steps else float("nan")


def _check_rows(rows: torch.Tensor, steps: int, bptt: int) -> None:
    if steps < 1 or bptt < 1:
        raise ValueError(f"steps and bptt must be at least 1; got steps={steps}, bptt={bptt}.")
    if num_windows(rows.view(-1, rows.size(-1)), bptt) < steps:
        raise ValueError(
            f"The rows hold {num_windows(rows.view(-1, rows.size(-1)), bptt)} windows of {bptt} tokens; "
            f"{steps} steps need {steps * bptt + 1} tokens per row. Build them with stack_rows(..., steps={steps}, bptt={bptt})."
        )


def train_batched(
    model: BatchedRecurrentLM,
    rows: torch.Tensor,
    steps: int,
    bptt: int,
    lr: float,
    clip: float,
    on_step: Callable[[int, BatchedRun], None] | None = None,
    should_stop: Callable[[], bool] | None = None,
) -> BatchedRun:
    """Train the S models of ``model`` in place with plain SGD and per-seed gradient clipping.

    Args:
        model: the S models; model s reads rows[s].
        rows: [S, B, L] token ids, from :func:`stack_rows`.
        steps: SGD steps (one TBPTT window each).
        bptt: window length in tokens.
        lr: learning rate; clip: largest gradient norm of each seed.
        on_step: called after every step with (steps done, the run so far); its time is not counted.
        should_stop: polled after every step; True ends the run ("stopped").

    Returns:
        A :class:`BatchedRun`.
    """
    if rows.dim() != 3 or rows.size(0) != model.num_models:
        raise ValueError(f"rows must be [S={model.num_models}, B, L]; got shape {tuple(rows.shape)}.")
    _check_rows(rows, steps, bptt)
    parameters = list(model.parameters())
    count, batch = rows.shape[:2]
    flat_rows = rows.reshape(count * batch, -1)  # [S*B, L]
    run, state = BatchedRun(), None
    model.train()
    for step in range(steps):
        start = time.perf_counter()
        inputs, targets = get_window(flat_rows, step, bptt)  # [S*B, T] each
        losses, state = model.loss(
            inputs.long().view(count, batch, -1), targets.long().view(count, batch, -1), state
        )  # [S]
        grads = torch.autograd.grad(losses.sum(), parameters)
        with torch.no_grad():
            norms = torch.stack([g.reshape(count, -1).square().sum(dim=1) for g in grads]).sum(dim=0).sqrt()  # [S]
            scale = (clip / (norms + 1e-6)).clamp(max=1.0)  # [S], as clip_grad_norm_
            for parameter, grad in zip(parameters, grads):
                parameter.sub_(grad * (lr * scale).view(count, *([1] * (grad.dim() - 1))))
        state = tuple(s.detach() for s in state) if isinstance(state, tuple) else state.detach()
        run.step_seconds.append(time.perf_counter() - start)
        run.seconds += run.step_seconds[-1]
        run.losses.append(losses.detach().tolist())
        run.norms.append(norms.tolist())
        run.steps = step + 1
        if on_step:
            on_step(run.steps, run)
        if should_stop and should_stop():
            run.status = "stopped"
            break
    model.eval()
    return run


def train_alone(model: LanguageModel, rows: torch.Tensor, steps: int, bptt: int, lr: float, clip: float) -> BatchedRun:
    """Train one LanguageModel the ordinary way (nn.RNN / nn.LSTM, clip_grad_norm_, torch.optim.SGD) on rows [B, L].

    The same steps as one seed of :func:`train_batched`; its BatchedRun holds one loss per step.
    """
    _check_rows(rows, steps, bptt)
    optimizer = torch.optim.SGD(model.parameters(), lr=lr)
    run, state = BatchedRun(), None
    model.train()
    for step in range(steps):
        start = time.perf_counter()
        inputs, targets = get_window(rows, step, bptt)  # [B, T] each
        inputs, targets = inputs.long(), targets.long()
        features, state = model.features(inputs, state)  # [B, T, H]
        loss = model.loss(features, targets)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        norm = torch.nn.utils.clip_grad_norm_(model.parameters(), clip)
        optimizer.step()
        state = detach_state(state)
        run.step_seconds.append(time.perf_counter() - start)
        run.seconds += run.step_seconds[-1]
        run.losses.append([loss.item()])
        run.norms.append([float(norm)])
        run.steps = step + 1
    model.eval()
    return run
