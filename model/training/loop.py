"""The training loop: truncated BPTT, clipping, validation, best checkpoint, resume.

`train(TrainConfig(...))` is what `python -m model.train` calls and what tests
call directly. Ctrl-C or SIGTERM finishes the current step, writes a resumable
state under ``<out>/resume`` and returns; ``TrainConfig(resume=OUT)`` continues
from that exact window, and on CPU with the same seed reproduces the run that
was never interrupted. Under torchrun the same function trains data-parallel
over several processes (model/training/distributed.py). Validation, the best checkpoint
and metrics.json live in model/training/metrics.py.
"""

from __future__ import annotations

import dataclasses
import math
import os
import random
import signal
import sys
import threading
import time
from dataclasses import dataclass, field
from typing import Any, Callable

import torch
from tqdm.auto import tqdm

from data.batching import batchify, num_windows, windows
from data.corpus import Corpus
from data.leftovers import remove_stale_temporaries
from data.tokenizer import WordTokenizer
from model.core.checkpoint import load_checkpoint, staging_prefix
from model.core.config import ModelConfig
from model.core.language_model import LanguageModel, detach_state
from model.core.resume_state import (
    check_resume_inputs,
    corpus_record,
    load_model_weights,
    load_resume_state,
    optimizer_from_flat,
    remove_stale_resume_saves,
    restore_hidden,
    save_resume_state,
)
from model.evaluation.scoring import perplexity
from model.training import distributed
from model.training.metrics import current_metrics, finish_metrics, library_versions, validate_and_keep_best


@dataclass
class TrainConfig:
    """Training hyperparameters; each field is a `python -m model.train` flag."""

    out: str
    model: ModelConfig
    batch_size: int = 64
    bptt: int = 35
    optimizer: str = "adam"
    lr: float = 2e-3
    weight_decay: float = 0.0
    schedule: str = "cosine"  # constant | cosine | linear
    warmup_steps: int = 0
    min_lr_ratio: float = 0.05
    clip: float | None = 0.5  # None turns clipping off (the exploding-gradient demo)
    epochs: int = 1
    time_limit_minutes: float | None = None
    seed: int = 1234
    device: str = "auto"
    bf16: bool = False
    threads: int | None = None
    eval_batch_size: int = 16
    eval_bptt: int = 128
    save_every_minutes: float = 5.0
    log_every: int = 50
    storage_dtype: str = "float32"
    progress: bool = True
    init_from: str | None = None  # warm start: a checkpoint with the same config and tokenizer
    command: list[str] = field(default_factory=lambda: list(sys.argv))


def resolve_device(name: str) -> torch.device:
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name.startswith("cuda") and not torch.cuda.is_available():
        raise ValueError(f"--device {name} was asked for but CUDA is not available here; use --device cpu or auto.")
    return torch.device(name)


def make_optimizer(config: TrainConfig, model: LanguageModel) -> torch.optim.Optimizer:
    if config.optimizer == "adam":
        return torch.optim.Adam(model.parameters(), lr=config.lr, weight_decay=config.weight_decay)
    if config.optimizer == "adamw":
        return torch.optim.AdamW(model.parameters(), lr=config.lr, weight_decay=config.weight_decay)
    if config.optimizer == "sgd":
        return torch.optim.SGD(model.parameters(), lr=config.lr, weight_decay=config.weight_decay)
    raise ValueError(f"optimizer must be adam, adamw or sgd; got {config.optimizer!r}.")


def learning_rate(config: TrainConfig, progress: float, step: int) -> float:
    """The schedule: linear warm-up, then constant, cosine or linear decay to min_lr_ratio * lr."""
    warm = min(1.0, (step + 1) / config.warmup_steps) if config.warmup_steps else 1.0
    progress = min(max(progress, 0.0), 1.0)
    floor = config.min_lr_ratio
    if config.schedule == "constant":
        factor = 1.0
    elif config.schedule == "cosine":
        factor = floor + (1 - floor) * 0.5 * (1 + math.cos(math.pi * progress))
    elif config.schedule == "linear":
        factor = floor + (1 - floor) * (1 - progress)
    else:
        raise ValueError(f"schedule must be constant, cosine or linear; got {config.schedule!r}.")
    return config.lr * warm * factor


class _StopFlag:
    """Turns SIGINT/SIGTERM into a flag the loop checks between steps."""

    def __init__(self) -> None:
        self.signal_name: str | None = None
        self._previous: dict[int, Any] = {}

    def __enter__(self) -> "_StopFlag":
        if threading_is_main():
            for signum in (signal.SIGINT, signal.SIGTERM):
                self._previous[signum] = signal.signal(signum, self._handle)
        return self

    def _handle(self, signum: int, frame: Any) -> None:
        self.signal_name = signal.Signals(signum).name

    def __exit__(self, *exc: Any) -> None:
        for signum, handler in self._previous.items():
            signal.signal(signum, handler)


def threading_is_main() -> bool:
    return threading.current_thread() is threading.main_thread()


@dataclass
class TrainResult:
    """What a call to :func:`train` did."""

    out: str
    status: str  # "finished", "time_limit", "interrupted:<SIGNAL>" / "stopped" or "diverged"
    best_valid_loss: float | None
    steps: int
    metrics: dict[str, Any]


def encode_splits(corpus: Corpus, tokenizer: WordTokenizer) -> dict[str, torch.Tensor]:
    """Each split as one 1-D id stream: paragraphs, each followed by <eos>."""
    streams = {}
    for split, paragraphs in corpus.splits.items():
        ids = [i for paragraph_ids in tokenizer.iter_ids(paragraphs) for i in paragraph_ids]
        streams[split] = torch.tensor(ids, dtype=torch.long)
    return streams


def train(
    config: TrainConfig,
    corpus: Corpus,
    tokenizer: WordTokenizer,
    resume: str | None = None,
    should_stop: Callable[[], bool] | None = None,
    on_log: Callable[[dict[str, Any]], None] | None = None,
    on_model: Callable[[LanguageModel], None] | None = None,
    streams: dict[str, torch.Tensor] | None = None,
) -> TrainResult:
    """Train a language model and keep the checkpoint with the best validation loss in ``config.out``.

    Under torchrun (RANK/WORLD_SIZE/LOCAL_RANK set, WORLD_SIZE > 1) every process
    calls this; they train as one DistributedDataParallel job (model/training/distributed.py)
    and only rank 0 writes anything.

    Args:
        config: hyperparameters (ignored but for ``out`` when resuming: the saved ones win).
        corpus: paragraphs per split; "valid" picks the best checkpoint (else "train" loss does).
        tokenizer: the vocabulary; its size must equal ``config.model.vocab_size``.
        resume: a run folder holding ``resume/`` from an interrupted run.
        should_stop: polled between steps; True stops like a signal (used by the app).
        on_log: called with each log record (the app draws its live curve from it).
        on_model: called once with the model being trained, before the first step, so a
            caller can measure it from on_log (model/lab/run.py draws accuracy-vs-lag curves).
        streams: split -> 1-D token ids already encoded (data/streaming.py memory-maps them
            from disk for corpora larger than memory); None encodes ``corpus.splits``.

    Returns:
        A :class:`TrainResult` (on ranks other than 0, its metrics hold no final scores).
    """
    # Staging folders a killed save of this run left behind (a save still being written by a live process is kept).
    out = os.path.abspath(config.out)
    remove_stale_temporaries(os.path.dirname(out), staging_prefix(out))
    remove_stale_resume_saves(out)
    tensors, saved = (None, None)
    if resume:
        tensors, saved = load_resume_state(resume)
        config = _config_from_saved(saved, out=config.out)
        check_resume_inputs(saved, config.out, corpus.name, corpus.files, tokenizer.fingerprint())
    if config.threads:
        torch.set_num_threads(config.threads)
    if tokenizer.vocab_size != config.model.vocab_size:
        raise ValueError(
            f"The tokenizer has {tokenizer.vocab_size} tokens but the model config says vocab_size={config.model.vocab_size}."
        )
    ranks, device, created_group = distributed.setup(resolve_device(config.device))
    try:
        return _train(config, corpus, tokenizer, tensors, saved, ranks, device, should_stop, on_log, on_model, streams)
    finally:
        distributed.teardown(created_group)


class _LossStep(torch.nn.Module):
    """One TBPTT window's forward pass and loss, as a module DistributedDataParallel can wrap
    (DDP syncs gradients only for what runs through its ``forward``)."""

    def __init__(self, model: LanguageModel, bf16: bool, device_type: str) -> None:
        super().__init__()
        self.model, self.bf16, self.device_type = model, bf16, device_type

    def forward(self, inputs: torch.Tensor, targets: torch.Tensor, hidden):
        with torch.autocast(self.device_type, dtype=torch.bfloat16, enabled=self.bf16):
            features, next_hidden = self.model.features(inputs, hidden)  # [B, T, H]
        # The decoder runs in fp32: the adaptive softmax mixes dtypes under autocast.
        return self.model.loss(features.float(), targets), next_hidden


def _train(
    config, corpus, tokenizer, tensors, saved, ranks, device, should_stop, on_log, on_model, streams
) -> TrainResult:
    """The body of :func:`train`, once the process group (if any) is up."""
    torch.manual_seed(config.seed)
    random.seed(config.seed)
    streams = streams if streams is not None else encode_splits(corpus, tokenizer)
    distributed.check_same_on_all_ranks(
        f"{tokenizer.fingerprint()}:{streams['train'].numel()}", "vocabulary or training text", ranks
    )
    global_rows = batchify(streams["train"], config.batch_size)  # [B, S]
    # This rank's block of rows [B / N, S]; windows are moved to the device one at a time,
    # so a memory-mapped stream is never read whole.
    train_rows = distributed.shard_rows(global_rows, ranks)
    steps_per_epoch = num_windows(global_rows, config.bptt)
    total_steps = steps_per_epoch * config.epochs

    model = LanguageModel(config.model).to(device)
    # What the warm start's checkpoint went through, kept under "pretraining" in metrics.json so the
    # Models card can list every stage; a resumed run takes it from its saved state, as first read.
    pretraining = saved.get("pretraining") if saved and isinstance(saved.get("pretraining"), dict) else None
    if config.init_from and tensors is None:
        pretraining = _warm_start(model, config.init_from, tokenizer)
    optimizer = make_optimizer(config, model)
    progress_info: dict[str, Any] = {
        "epoch": 0,
        "window": 0,
        "step": 0,
        "elapsed": 0.0,
        "tokens": 0,
        "best_valid_loss": None,
        "curve": [],
        "validation": [],
    }
    hidden = None
    if tensors is not None:
        load_model_weights(model, tensors, config.out)
        optimizer_from_flat(optimizer, tensors, saved["optimizer"])
        torch.set_rng_state(tensors["rng.torch"])
        if "rng.cuda" in tensors and torch.cuda.is_available():
            torch.cuda.set_rng_state(tensors["rng.cuda"])
        hidden = distributed.shard_state(restore_hidden(tensors, device), ranks)  # [L, B / N, H]
        progress_info.update({k: saved[k] for k in progress_info})
    if ranks.is_distributed:
        distributed.seed_rank(config.seed, ranks, progress_info["step"])
    if on_model:
        on_model(model)
    step_module = distributed.wrap(
        _LossStep(model, config.bf16, device.type), ranks, device, config.model.decoder == "adaptive"
    )

    if ranks.is_main:
        os.makedirs(config.out, exist_ok=True)
    base_metrics = {
        "corpus": corpus.name,
        "corpus_files": corpus.files,
        "vocab_size": tokenizer.vocab_size,
        "parameters": model.num_parameters(),
        "arch": config.model.arch,
        "command": config.command,
        "seed": config.seed,
        "device": str(device),
        "world_size": ranks.world_size,
        "train_config": _config_to_dict(config),
        "library_versions": library_versions(),
        "tokens": {split: int(stream.numel()) for split, stream in streams.items()},
    }
    if pretraining is not None:
        base_metrics["pretraining"] = pretraining
    start_time = time.perf_counter() - progress_info["elapsed"]
    last_save = time.perf_counter()
    status = "finished"
    bar = tqdm(
        total=total_steps,
        initial=progress_info["step"],
        disable=not (config.progress and ranks.is_main),
        unit="step",
        dynamic_ncols=True,
    )
    # Steps since the last curve point; saved with the resumable state so a resumed
    # run draws the same curve points as one that was never interrupted.
    pending = saved.get("pending_log", {}) if saved else {}
    window_losses: list[float] = list(pending.get("losses", []))
    window_norms: list[float] = list(pending.get("norms", []))
    window_tokens, window_start = int(pending.get("tokens", 0)), time.perf_counter()

    recorded_inputs = corpus_record(
        corpus.name, corpus.files, tokenizer.fingerprint()
    )  # what --resume must be given again

    def snapshot() -> None:
        all_rows = distributed.gather_state(hidden, ranks)  # [L, B, H]: a collective, every rank joins
        if not ranks.is_main:
            return
        progress_info["elapsed"] = time.perf_counter() - start_time
        pending_log = {"losses": window_losses, "norms": window_norms, "tokens": window_tokens}
        info = dict(
            progress_info,
            train_config=_config_to_dict(config),
            pending_log=pending_log,
            corpus_record=recorded_inputs,
            pretraining=pretraining,
        )
        save_resume_state(config.out, model, optimizer, all_rows, info, tokenizer)

    with _StopFlag() as stop_flag:
        while progress_info["epoch"] < config.epochs and status == "finished":
            model.train()
            if progress_info["window"] == 0:
                hidden = None  # a new epoch starts from zeros
            for index, inputs, targets in windows(train_rows, config.bptt, start=progress_info["window"]):
                inputs, targets = inputs.to(device).long(), targets.to(device).long()  # [B / N, T]
                elapsed = time.perf_counter() - start_time
                if config.time_limit_minutes:
                    elapsed = distributed.max_across_ranks([elapsed], ranks, device)[0]  # one schedule for all ranks
                time_progress = elapsed / (config.time_limit_minutes * 60) if config.time_limit_minutes else 0.0
                lr = learning_rate(
                    config, max(progress_info["step"] / total_steps, time_progress), progress_info["step"]
                )
                for group in optimizer.param_groups:
                    group["lr"] = lr
                loss, next_hidden = step_module(inputs, targets, hidden)
                optimizer.zero_grad(set_to_none=True)
                loss.backward()  # under DDP this also averages the gradients over the ranks
                # The norm before clipping is what the exploding-gradient view reads.
                norm = torch.nn.utils.clip_grad_norm_(model.parameters(), config.clip if config.clip else float("inf"))
                loss_value = distributed.mean_across_ranks(loss.item(), ranks, device)  # the global batch's loss
                if not (math.isfinite(loss_value) and math.isfinite(float(norm))):
                    # Diverged (e.g. no clipping and too high a rate): stop before the step poisons
                    # the weights; the best checkpoint and the last resumable state stay finite.
                    status = "diverged"
                    break
                optimizer.step()
                hidden = detach_state(next_hidden)
                step_tokens = targets.numel() * ranks.world_size
                progress_info["step"] += 1
                progress_info["window"] = index + 1
                progress_info["tokens"] += step_tokens
                window_losses.append(loss_value)
                window_norms.append(float(norm))
                window_tokens += step_tokens
                bar.update(1)
                if len(window_losses) >= config.log_every or index + 1 == steps_per_epoch:
                    seconds = time.perf_counter() - window_start
                    mean_loss = sum(window_losses) / len(window_losses)
                    record = {
                        "step": progress_info["step"],
                        "epoch": progress_info["epoch"] + (index + 1) / steps_per_epoch,
                        "elapsed": round(time.perf_counter() - start_time, 2),
                        "train_loss": round(mean_loss, 5),
                        "train_ppl": round(perplexity(mean_loss), 3),
                        "lr": lr,
                        "tokens_per_second": round(window_tokens / max(seconds, 1e-9), 1),
                        "grad_norm_mean": round(sum(window_norms) / len(window_norms), 5),
                        "grad_norm_max": round(max(window_norms), 5),
                    }
                    progress_info["curve"].append(record)
                    bar.set_postfix(
                        loss=f"{mean_loss:.3f}",
                        ppl=f"{record['train_ppl']:.1f}",
                        tok_s=f"{record['tokens_per_second']:.0f}",
                    )
                    if on_log and ranks.is_main:
                        on_log(record)
                    window_losses, window_norms, window_tokens, window_start = [], [], 0, time.perf_counter()
                now = time.perf_counter()
                stop, time_up, save_due = distributed.any_across_ranks(
                    [
                        bool(stop_flag.signal_name or (should_stop and should_stop())),
                        bool(config.time_limit_minutes and now - start_time >= config.time_limit_minutes * 60),
                        now - last_save >= config.save_every_minutes * 60,
                    ],
                    ranks,
                    device,
                )
                if stop:
                    status = f"interrupted:{stop_flag.signal_name}" if stop_flag.signal_name else "stopped"
                    break
                if time_up:
                    status = "time_limit"
                    break
                if save_due:
                    snapshot()
                    last_save = time.perf_counter()
            epoch_done = progress_info["window"] >= steps_per_epoch
            if (epoch_done or status == "time_limit") and ranks.is_main:
                validate_and_keep_best(config, model, tokenizer, streams, progress_info, base_metrics, start_time)
            if epoch_done:
                progress_info["epoch"] += 1
                progress_info["window"] = 0
            snapshot()
            last_save = time.perf_counter()
    bar.close()
    if not ranks.is_main:
        metrics = current_metrics(progress_info, base_metrics, start_time, steps_per_epoch)
        return TrainResult(
            out=config.out, status=status, best_valid_loss=None, steps=progress_info["step"], metrics=metrics
        )
    metrics = finish_metrics(config, model, streams, progress_info, base_metrics, start_time, status)
    return TrainResult(
        out=config.out,
        status=status,
        best_valid_loss=progress_info["best_valid_loss"],
        steps=progress_info["step"],
        metrics=metrics,
    )


def _warm_start(model: LanguageModel, path: str, tokenizer: WordTokenizer) -> dict[str, Any]:
    """Start from a trained checkpoint's weights (fine-tuning, e.g. with a longer --bptt); returns its metrics.json."""

    source = load_checkpoint(path)
    if source.config != model.config:
        raise ValueError(
            f"--init-from {path} has config {source.config} but this run builds {model.config}; "
            "pass the same --arch and sizes as the checkpoint."
        )
    if source.tokenizer.fingerprint() != tokenizer.fingerprint():
        raise ValueError(
            f"--init-from {path} was trained with another vocabulary; pass --tokenizer {path}/tokenizer.json."
        )
    with torch.no_grad():
        model.load_state_dict(source.model.state_dict())
    return source.metrics


def _config_to_dict(config: TrainConfig) -> dict[str, Any]:
    return dataclasses.asdict(config)


def _config_from_saved(saved: dict[str, Any], out: str) -> TrainConfig:
    try:
        values = dict(saved["train_config"])
        values["model"] = ModelConfig.from_dict(values["model"])
        values["out"] = out
        return TrainConfig(**values)
    except (KeyError, TypeError) as error:
        raise ValueError(
            f"The resumable state in {out} holds no train_config this version understands ({error!r}). "
            f"Delete {out}/resume to start the run afresh."
        ) from error
