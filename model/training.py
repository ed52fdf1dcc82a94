"""The training loop: truncated BPTT, clipping, validation, best checkpoint, resume.

`train(TrainConfig(...))` is what `python -m model.train` calls and what tests
call directly. Ctrl-C or SIGTERM finishes the current step, writes a resumable
state under ``<out>/resume`` and returns; ``TrainConfig(resume=OUT)`` continues
from that exact window, and on CPU with the same seed reproduces the run that
was never interrupted.
"""
from __future__ import annotations

import dataclasses
import math
import os
import platform
import random
import signal
import sys
import time
from dataclasses import dataclass, field
from typing import Any, Callable

import torch

from data.batching import batchify, num_windows, windows
from data.corpus import Corpus
from data.tokenizer import WordTokenizer
from model.checkpoint import save_checkpoint
from model.config import ModelConfig
from model.language_model import LanguageModel, detach_state
from model.resume_state import load_resume_state, optimizer_from_flat, restore_hidden, save_resume_state
from model.scoring import perplexity, stream_loss


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


def library_versions() -> dict[str, str]:
    import safetensors
    import tokenizers

    versions = {"python": platform.python_version(), "torch": torch.__version__, "tokenizers": tokenizers.__version__, "safetensors": safetensors.__version__}
    try:
        import datasets

        versions["datasets"] = datasets.__version__
    except ImportError:
        pass
    return versions


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
    import threading

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
) -> TrainResult:
    """Train a language model and keep the checkpoint with the best validation loss in ``config.out``.

    Args:
        config: hyperparameters (ignored but for ``out`` when resuming: the saved ones win).
        corpus: paragraphs per split; "valid" picks the best checkpoint (else "train" loss does).
        tokenizer: the vocabulary; its size must equal ``config.model.vocab_size``.
        resume: a run folder holding ``resume/`` from an interrupted run.
        should_stop: polled between steps; True stops like a signal (used by the app).
        on_log: called with each log record (the app draws its live curve from it).
        on_model: called once with the model being trained, before the first step, so a
            caller can measure it from on_log (model/lab.py draws accuracy-vs-lag curves).
    """
    tensors, saved = (None, None)
    if resume:
        tensors, saved = load_resume_state(resume)
        config = _config_from_saved(saved["train_config"], out=config.out)
    if config.threads:
        torch.set_num_threads(config.threads)
    if tokenizer.vocab_size != config.model.vocab_size:
        raise ValueError(f"The tokenizer has {tokenizer.vocab_size} tokens but the model config says vocab_size={config.model.vocab_size}.")
    device = resolve_device(config.device)
    torch.manual_seed(config.seed)
    random.seed(config.seed)
    streams = encode_splits(corpus, tokenizer)
    train_rows = batchify(streams["train"], config.batch_size).to(device)  # [B, S]
    steps_per_epoch = num_windows(train_rows, config.bptt)
    total_steps = steps_per_epoch * config.epochs

    model = LanguageModel(config.model).to(device)
    if config.init_from and tensors is None:
        _warm_start(model, config.init_from, tokenizer)
    optimizer = make_optimizer(config, model)
    progress_info: dict[str, Any] = {"epoch": 0, "window": 0, "step": 0, "elapsed": 0.0, "tokens": 0, "best_valid_loss": None, "curve": [], "validation": []}
    hidden = None
    if tensors is not None:
        model.load_state_dict({k[len("model."):]: v for k, v in tensors.items() if k.startswith("model.")})
        optimizer_from_flat(optimizer, tensors, saved["optimizer"])
        torch.set_rng_state(tensors["rng.torch"])
        if "rng.cuda" in tensors and torch.cuda.is_available():
            torch.cuda.set_rng_state(tensors["rng.cuda"])
        hidden = restore_hidden(tensors, device)
        progress_info.update({k: saved[k] for k in progress_info})
    if on_model:
        on_model(model)

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
        "train_config": _config_to_dict(config),
        "library_versions": library_versions(),
        "tokens": {split: int(stream.numel()) for split, stream in streams.items()},
    }
    start_time = time.perf_counter() - progress_info["elapsed"]
    last_save = time.perf_counter()
    status = "finished"
    from tqdm.auto import tqdm

    bar = tqdm(total=total_steps, initial=progress_info["step"], disable=not config.progress, unit="step", dynamic_ncols=True)
    # Steps since the last curve point; saved with the resumable state so a resumed
    # run draws the same curve points as one that was never interrupted.
    pending = saved.get("pending_log", {}) if saved else {}
    window_losses: list[float] = list(pending.get("losses", []))
    window_norms: list[float] = list(pending.get("norms", []))
    window_tokens, window_start = int(pending.get("tokens", 0)), time.perf_counter()

    def snapshot() -> None:
        progress_info["elapsed"] = time.perf_counter() - start_time
        pending_log = {"losses": window_losses, "norms": window_norms, "tokens": window_tokens}
        info = dict(progress_info, train_config=_config_to_dict(config), pending_log=pending_log)
        save_resume_state(config.out, model, optimizer, hidden, info, tokenizer)

    with _StopFlag() as stop_flag:
        while progress_info["epoch"] < config.epochs and status == "finished":
            model.train()
            if progress_info["window"] == 0:
                hidden = None  # a new epoch starts from zeros
            for index, inputs, targets in windows(train_rows, config.bptt, start=progress_info["window"]):
                elapsed = time.perf_counter() - start_time
                time_progress = elapsed / (config.time_limit_minutes * 60) if config.time_limit_minutes else 0.0
                lr = learning_rate(config, max(progress_info["step"] / total_steps, time_progress), progress_info["step"])
                for group in optimizer.param_groups:
                    group["lr"] = lr
                with torch.autocast(device.type, dtype=torch.bfloat16, enabled=config.bf16):
                    features, next_hidden = model.features(inputs, hidden)  # [B, T, H]
                # The decoder runs in fp32: the adaptive softmax mixes dtypes under autocast.
                loss = model.loss(features.float(), targets)
                optimizer.zero_grad(set_to_none=True)
                loss.backward()
                # The norm before clipping is what the exploding-gradient view reads.
                norm = torch.nn.utils.clip_grad_norm_(model.parameters(), config.clip if config.clip else float("inf"))
                if not (math.isfinite(loss.item()) and math.isfinite(float(norm))):
                    # Diverged (e.g. no clipping and too high a rate): stop before the step poisons
                    # the weights; the best checkpoint and the last resumable state stay finite.
                    status = "diverged"
                    break
                optimizer.step()
                hidden = detach_state(next_hidden)
                progress_info["step"] += 1
                progress_info["window"] = index + 1
                progress_info["tokens"] += targets.numel()
                window_losses.append(loss.item())
                window_norms.append(float(norm))
                window_tokens += targets.numel()
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
                    bar.set_postfix(loss=f"{mean_loss:.3f}", ppl=f"{record['train_ppl']:.1f}", tok_s=f"{record['tokens_per_second']:.0f}")
                    if on_log:
                        on_log(record)
                    window_losses, window_norms, window_tokens, window_start = [], [], 0, time.perf_counter()
                if stop_flag.signal_name or (should_stop and should_stop()):
                    status = f"interrupted:{stop_flag.signal_name}" if stop_flag.signal_name else "stopped"
                    break
                if config.time_limit_minutes and time.perf_counter() - start_time >= config.time_limit_minutes * 60:
                    status = "time_limit"
                    break
                if time.perf_counter() - last_save >= config.save_every_minutes * 60:
                    snapshot()
                    last_save = time.perf_counter()
            epoch_done = progress_info["window"] >= steps_per_epoch
            if epoch_done or status == "time_limit":
                _validate_and_keep_best(config, model, tokenizer, streams, progress_info, base_metrics, start_time)
                if epoch_done:
                    progress_info["epoch"] += 1
                    progress_info["window"] = 0
            snapshot()
            last_save = time.perf_counter()
    bar.close()
    metrics = _finish_metrics(config, model, tokenizer, streams, progress_info, base_metrics, start_time, status)
    return TrainResult(out=config.out, status=status, best_valid_loss=progress_info["best_valid_loss"], steps=progress_info["step"], metrics=metrics)


def _validate_and_keep_best(config, model, tokenizer, streams, progress_info, base_metrics, start_time) -> None:
    """Score the held-out split; if it beats the best so far, save the checkpoint into ``out``."""
    model.eval()
    split = "valid" if "valid" in streams else "train"
    loss = stream_loss(model, streams[split], config.eval_batch_size, config.eval_bptt)
    model.train()
    steps_per_epoch = num_windows(batchify(streams["train"], config.batch_size), config.bptt)
    record = {
        "epoch": round(progress_info["step"] / steps_per_epoch, 4),
        "step": progress_info["step"],
        "split": split,
        "loss": round(loss, 5),
        "ppl": round(perplexity(loss), 3),
        "elapsed": round(time.perf_counter() - start_time, 2),
    }
    if not math.isfinite(loss):
        record.update(loss=None, ppl=None)  # JSON has no NaN; such a model is never kept
    progress_info["validation"].append(record)
    best = progress_info["best_valid_loss"]
    if math.isfinite(loss) and (best is None or loss < best):
        progress_info["best_valid_loss"] = loss
        metrics = _current_metrics(progress_info, base_metrics, start_time, steps_per_epoch)
        metrics.update({"best_step": progress_info["step"], f"{split}_loss": loss, f"{split}_ppl": perplexity(loss)})
        save_checkpoint(config.out, model, tokenizer, metrics, _dtype(config.storage_dtype))


def _current_metrics(progress_info, base_metrics, start_time, steps_per_epoch: int) -> dict[str, Any]:
    elapsed = time.perf_counter() - start_time
    return dict(
        base_metrics,
        epochs=round(progress_info["step"] / steps_per_epoch, 4),
        steps=progress_info["step"],
        wall_time_seconds=round(elapsed, 2),
        tokens_per_second=round(progress_info["tokens"] / max(elapsed, 1e-9), 1),
        curve=progress_info["curve"],
        validation=progress_info["validation"],
    )


def _finish_metrics(config, model, tokenizer, streams, progress_info, base_metrics, start_time, status) -> dict[str, Any]:
    """Add final train/valid/test perplexity of the best checkpoint to its metrics.json."""
    from model.checkpoint import load_checkpoint, write_json_atomic

    metrics_path = os.path.join(config.out, "metrics.json")
    if not os.path.isfile(metrics_path):
        steps_per_epoch = num_windows(batchify(streams["train"], config.batch_size), config.bptt)
        return _current_metrics(progress_info, base_metrics, start_time, steps_per_epoch)
    best = load_checkpoint(config.out, device=next(model.parameters()).device)
    metrics = dict(best.metrics)
    metrics["status"] = status
    metrics["total_steps_trained"] = progress_info["step"]
    metrics["wall_time_seconds"] = round(time.perf_counter() - start_time, 2)
    # The full curves, not only those up to the best step, describe the run.
    metrics["curve"], metrics["validation"] = progress_info["curve"], progress_info["validation"]
    if status == "finished" or status == "time_limit":
        for split, stream in streams.items():
            # Train perplexity on a 200k-token prefix: cheap and enough to compare with valid.
            part = stream[:200_000] if split == "train" else stream
            loss = stream_loss(best.model, part, config.eval_batch_size, config.eval_bptt)
            metrics[f"{split}_loss"], metrics[f"{split}_ppl"] = loss, perplexity(loss)
    write_json_atomic(metrics_path, metrics)
    return metrics


def _warm_start(model: LanguageModel, path: str, tokenizer: WordTokenizer) -> None:
    """Start from a trained checkpoint's weights (fine-tuning, e.g. with a longer --bptt)."""
    from model.checkpoint import load_checkpoint

    source = load_checkpoint(path)
    if source.config != model.config:
        raise ValueError(
            f"--init-from {path} has config {source.config} but this run builds {model.config}; "
            "pass the same --arch and sizes as the checkpoint."
        )
    if source.tokenizer.fingerprint() != tokenizer.fingerprint():
        raise ValueError(f"--init-from {path} was trained with another vocabulary; pass --tokenizer {path}/tokenizer.json.")
    with torch.no_grad():
        model.load_state_dict(source.model.state_dict())


def _dtype(name: str) -> torch.dtype:
    if name not in ("float32", "float16", "bfloat16"):
        raise ValueError(f"storage dtype must be float32, float16 or bfloat16; got {name!r}.")
    return getattr(torch, name)


def _config_to_dict(config: TrainConfig) -> dict[str, Any]:
    return dataclasses.asdict(config)


def _config_from_saved(values: dict[str, Any], out: str) -> TrainConfig:
    values = dict(values)
    values["model"] = ModelConfig.from_dict(values["model"])
    values["out"] = out
    return TrainConfig(**values)
