"""What a training run records: validation and the best checkpoint, metrics.json, library versions.

Split out of model/training/loop.py so the loop there stays readable. Everything
here runs on one process (rank 0 in a distributed run): it scores held-out
text and writes the checkpoint folder.
"""

from __future__ import annotations

import math
import os
import platform
import time
from typing import TYPE_CHECKING, Any

import safetensors
import tokenizers
import torch

from data.batching import batchify, num_windows
from data.files import write_json_atomic
from data.tokenizer import WordTokenizer
from model.core.checkpoint import load_checkpoint, save_checkpoint
from model.core.language_model import LanguageModel, model_device
from model.evaluation.scoring import perplexity, stream_loss

if TYPE_CHECKING:
    from model.training.loop import TrainConfig


def library_versions() -> dict[str, str]:
    """Versions of the libraries a run depends on, recorded in metrics.json."""
    versions = {
        "python": platform.python_version(),
        "torch": torch.__version__,
        "tokenizers": tokenizers.__version__,
        "safetensors": safetensors.__version__,
    }
    try:
        import datasets  # optional here, and imported late: HF_* offline flags must be set first

        versions["datasets"] = datasets.__version__
    except ImportError:
        pass
    return versions


def storage_dtype(name: str) -> torch.dtype:
    """ "float32" | "float16" | "bfloat16" | "int8" -> the torch dtype checkpoints are stored in (int8: see model/core/weight_storage.py)."""
    if name not in ("float32", "float16", "bfloat16", "int8"):
        raise ValueError(f"storage dtype must be float32, float16, bfloat16 or int8; got {name!r}.")
    return getattr(torch, name)


def validate_and_keep_best(
    config: "TrainConfig",
    model: LanguageModel,
    tokenizer: WordTokenizer,
    streams: dict[str, torch.Tensor],
    progress_info: dict[str, Any],
    base_metrics: dict[str, Any],
    start_time: float,
) -> None:
    """Score the held-out split; if it beats the best so far, save the checkpoint into ``config.out``.

    Args:
        config: the run's settings (out, eval sizes, storage dtype).
        model: the model being trained (put in eval mode for scoring, then back in train mode).
        tokenizer: saved with the checkpoint.
        streams: split -> 1-D token ids; "valid" is scored when present, else "train".
        progress_info: the run's progress; gets a "validation" record and maybe a new "best_valid_loss".
        base_metrics: the run's fixed metrics (corpus, command, versions...).
        start_time: perf_counter() value the run's elapsed time counts from.
    """
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
        metrics = current_metrics(progress_info, base_metrics, start_time, steps_per_epoch)
        metrics.update({"best_step": progress_info["step"], f"{split}_loss": loss, f"{split}_ppl": perplexity(loss)})
        save_checkpoint(config.out, model, tokenizer, metrics, storage_dtype(config.storage_dtype))


def current_metrics(
    progress_info: dict[str, Any], base_metrics: dict[str, Any], start_time: float, steps_per_epoch: int
) -> dict[str, Any]:
    """The run's metrics so far: fixed facts plus steps, epochs, speed and both curves.

    Returns:
        A new dict (``base_metrics`` is not changed).
    """
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


def finish_metrics(
    config: "TrainConfig",
    model: LanguageModel,
    streams: dict[str, torch.Tensor],
    progress_info: dict[str, Any],
    base_metrics: dict[str, Any],
    start_time: float,
    status: str,
) -> dict[str, Any]:
    """Add final train/valid/test perplexity of the best checkpoint to its metrics.json.

    Returns:
        The metrics written (or, when no checkpoint was ever saved, the metrics so far).
    """
    metrics_path = os.path.join(config.out, "metrics.json")
    if not os.path.isfile(metrics_path):
        steps_per_epoch = num_windows(batchify(streams["train"], config.batch_size), config.bptt)
        return current_metrics(progress_info, base_metrics, start_time, steps_per_epoch)
    best = load_checkpoint(config.out, device=model_device(model))
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
