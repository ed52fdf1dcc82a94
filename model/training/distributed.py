"""Data-parallel training over several processes with PyTorch's own engine (torchrun + DDP).

    torchrun --nproc_per_node=2 -m model.train --corpus-dir ... --batch-size 64 --out ...

torchrun starts one process per rank and sets RANK, WORLD_SIZE and LOCAL_RANK.
Only then (and only with WORLD_SIZE > 1) does :func:`setup` join a process
group: gloo on CPU, NCCL on CUDA. A plain ``python -m model.train`` never
touches torch.distributed.

How the work is split, so that N processes follow the same loss curve as one:

    global rows [B, S] from data/batching.py (B = --batch-size, the GLOBAL batch)
        rank 0 takes rows [0, B/N), rank 1 rows [B/N, 2B/N), ...   (contiguous blocks)

Each rank's loss is the mean over its B/N rows; DDP averages the gradients, which
(every rank holding as many tokens) is exactly the gradient of the mean over all
B rows. The resumable state stays world-size independent: rank 0 saves the full
model and optimizer, the global window index, and the hidden state of all B rows
gathered from every rank; a resumed run cuts that state again for its own N.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

import torch
import torch.distributed as dist
from torch.nn.parallel import DistributedDataParallel

State = torch.Tensor | tuple[torch.Tensor, torch.Tensor]

_LAUNCH_VARIABLES = ("RANK", "WORLD_SIZE", "LOCAL_RANK")


@dataclass(frozen=True)
class RankInfo:
    """Where this process sits in the job.

    Attributes:
        rank: global index of this process, 0 .. world_size - 1.
        world_size: number of processes training together (1: no process group).
        local_rank: index on this machine (picks the GPU).
    """

    rank: int = 0
    world_size: int = 1
    local_rank: int = 0

    @property
    def is_distributed(self) -> bool:
        return self.world_size > 1

    @property
    def is_main(self) -> bool:
        """Rank 0 alone writes checkpoints, the resume state, logs and the progress bar."""
        return self.rank == 0


def rank_info() -> RankInfo:
    """Read the rank from torchrun's environment variables (a single process when they are absent)."""
    if not all(name in os.environ for name in _LAUNCH_VARIABLES):
        return RankInfo()
    try:
        values = [int(os.environ[name]) for name in _LAUNCH_VARIABLES]
    except ValueError as error:
        raise ValueError(
            f"RANK, WORLD_SIZE and LOCAL_RANK must be integers (torchrun sets them); got "
            f"{[os.environ[name] for name in _LAUNCH_VARIABLES]}. Unset them to train in one process."
        ) from error
    rank, world_size, local_rank = values
    if world_size < 1 or not 0 <= rank < world_size or local_rank < 0:
        raise ValueError(
            f"Inconsistent launch variables RANK={rank}, WORLD_SIZE={world_size}, LOCAL_RANK={local_rank}: "
            "need 0 <= RANK < WORLD_SIZE. Launch with torchrun, or unset them to train in one process."
        )
    return RankInfo(rank=rank, world_size=world_size, local_rank=local_rank)


def setup(device: torch.device) -> tuple[RankInfo, torch.device, bool]:
    """Join the process group when torchrun launched several processes.

    Args:
        device: the device asked for (cpu, or cuda: each rank then takes cuda:LOCAL_RANK).

    Returns:
        (rank info, the device this rank trains on, whether this call created the process
        group, i.e. whether :func:`teardown` must destroy it).
    """
    info = rank_info()
    if not info.is_distributed:
        return info, device, False
    if device.type == "cuda":
        device = torch.device("cuda", info.local_rank)
        torch.cuda.set_device(device)
    if dist.is_initialized():
        return info, device, False
    backend = "nccl" if device.type == "cuda" else "gloo"
    dist.init_process_group(backend=backend, rank=info.rank, world_size=info.world_size)
    return info, device, True


def teardown(created: bool) -> None:
    """Leave the process group if :func:`setup` created it."""
    if created and dist.is_initialized():
        dist.destroy_process_group()


def check_batch_size(batch_size: int, info: RankInfo) -> int:
    """The rows each rank trains on: the global batch split evenly.

    Raises:
        ValueError: when ``batch_size`` is not a multiple of the number of processes.
    """
    if batch_size % info.world_size:
        raise ValueError(
            f"--batch-size is the global batch and must split evenly over the {info.world_size} processes; "
            f"got {batch_size}. Use a multiple of {info.world_size}, e.g. {info.world_size * max(1, round(batch_size / info.world_size))}."
        )
    return batch_size // info.world_size


def shard_rows(rows: torch.Tensor, info: RankInfo, dim: int = 0) -> torch.Tensor:
    """This rank's contiguous block of rows along ``dim`` (a view, nothing copied).

    Args:
        rows: e.g. token rows [B, S] (dim 0) or a hidden state [L, B, H] (dim 1).
        info: this process's rank.

    Returns:
        rows [B / N, S] (or [L, B / N, H]).
    """
    per_rank = check_batch_size(rows.size(dim), info)
    return rows.narrow(dim, info.rank * per_rank, per_rank)


def shard_state(state: State | None, info: RankInfo) -> State | None:
    """Cut a global hidden state (each part [L, B, H]) down to this rank's rows [L, B / N, H]."""
    if state is None or not info.is_distributed:
        return state
    if isinstance(state, tuple):
        return tuple(shard_rows(part, info, dim=1).contiguous() for part in state)
    return shard_rows(state, info, dim=1).contiguous()


def gather_state(state: State | None, info: RankInfo) -> State | None:
    """Every rank's hidden rows put back together in global row order ([L, B / N, H] -> [L, B, H]).

    A collective: every rank must call it at the same step.
    """
    if state is None or not info.is_distributed:
        return state
    parts = state if isinstance(state, tuple) else (state,)
    gathered = []
    for part in parts:
        pieces = [torch.empty_like(part) for _ in range(info.world_size)]
        dist.all_gather(pieces, part.contiguous())
        gathered.append(torch.cat(pieces, dim=1))  # [L, B, H]
    return tuple(gathered) if isinstance(state, tuple) else gathered[0]


def mean_across_ranks(value: float, info: RankInfo, device: torch.device) -> float:
    """The mean of a number over all ranks (identity in one process). A collective."""
    if not info.is_distributed:
        return value
    tensor = torch.tensor([value], dtype=torch.float64, device=device)
    dist.all_reduce(tensor, op=dist.ReduceOp.SUM)
    return float(tensor.item()) / info.world_size


def max_across_ranks(values: list[float], info: RankInfo, device: torch.device) -> list[float]:
    """Element-wise maximum of numbers over all ranks (identity in one process). A collective.

    A signal or a clock can reach one rank a step before another; agreeing on
    "stop", "time is up", "save now" (flags 0/1) and on the elapsed time that
    drives a time-based learning-rate schedule keeps the ranks in lockstep.
    """
    if not info.is_distributed:
        return list(values)
    tensor = torch.tensor(values, dtype=torch.float64, device=device)
    dist.all_reduce(tensor, op=dist.ReduceOp.MAX)
    return tensor.tolist()


def any_across_ranks(flags: list[bool], info: RankInfo, device: torch.device) -> list[bool]:
    """Element-wise OR of flags over all ranks, so every rank takes the same branch. A collective."""
    return [value > 0 for value in max_across_ranks([1.0 if flag else 0.0 for flag in flags], info, device)]


def check_same_on_all_ranks(value: str, what: str, info: RankInfo) -> None:
    """Raise on every rank unless all ranks hold the same ``value`` (e.g. the vocabulary's hash). A collective.

    Raises:
        ValueError: naming ``what`` differs, so no rank trains on a mismatched setup.
    """
    if not info.is_distributed:
        return
    values: list[str | None] = [None] * info.world_size
    dist.all_gather_object(values, value)
    if len(set(values)) > 1:
        raise ValueError(
            f"The {what} differs between the {info.world_size} processes ({sorted(set(values))[:3]}); every rank must "
            "read the same corpus and tokenizer. Pass the same --tokenizer file and corpus to every node."
        )


def seed_rank(seed: int, info: RankInfo, step: int) -> None:
    """Give each rank its own dropout stream (else every rank would draw the same masks).

    Called only in a multi-process run, at its start and on resume; one process keeps
    the plain ``seed`` and its saved RNG state, so its runs replay bit for bit.
    """
    torch.manual_seed(seed + 7919 * (info.rank + 1) + 104729 * step)


def wrap(
    module: torch.nn.Module, info: RankInfo, device: torch.device, find_unused_parameters: bool
) -> torch.nn.Module:
    """DistributedDataParallel around ``module`` in a multi-process run, else ``module`` itself.

    Args:
        find_unused_parameters: True for the adaptive softmax, whose tail clusters
            get no gradient on a rank whose rows hold none of their words.
    """
    if not info.is_distributed:
        return module

    device_ids = [device.index] if device.type == "cuda" else None
    return DistributedDataParallel(module, device_ids=device_ids, find_unused_parameters=find_unused_parameters)
