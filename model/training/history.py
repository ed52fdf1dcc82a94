"""A checkpoint's whole training history, every stage, from its metrics.json.

A model trained in stages (the shipped LSTM: 8 epochs at BPTT 70 from scratch, then 1 epoch at
BPTT 200 warm-started with ``--init-from``) keeps the record of the checkpoint it started from under
``"pretraining"`` and the last stage's at the top level; that record may hold its own
``"pretraining"``, so a chain of warm starts nests. Reading only the top level reports the last
stage (206 steps, 1 epoch, 3.4 minutes); these functions list every stage and sum them.
"""

from __future__ import annotations

import math
from typing import Any


def _number(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        return None
    return float(value)


def _train_tokens(record: dict[str, Any]) -> float | None:
    """Tokens in the stage's training split (metrics.json "tokens": {"train": N, ...})."""
    sizes = record.get("tokens")
    return _number(sizes.get("train")) if isinstance(sizes, dict) else None


def _stage(record: dict[str, Any], name: str) -> dict[str, Any]:
    config = record.get("train_config") if isinstance(record.get("train_config"), dict) else {}
    seconds = _number(record.get("wall_time_seconds"))
    corpus = record.get("corpus")
    return {
        "stage": name,
        "corpus": corpus if isinstance(corpus, str) else None,
        "train_tokens": _train_tokens(record),
        "steps": _number(record.get("total_steps_trained", record.get("steps"))),
        "epochs": _number(record.get("epochs")),
        "minutes": None if seconds is None else seconds / 60.0,
        "bptt": config.get("bptt"),
        "lr": config.get("lr"),
        "seed": config.get("seed", record.get("seed")),
        "init_from": config.get("init_from"),
        "valid_ppl": _number(record.get("valid_ppl")),
        "test_ppl": _number(record.get("test_ppl")),
    }


# A crafted metrics.json could nest without end; no real chain of warm starts comes near this.
MAX_STAGES = 64


def _records(metrics: dict[str, Any]) -> list[dict[str, Any]]:
    """The stage records, first stage first: the top level, its "pretraining", that one's, and so on."""
    records: list[dict[str, Any]] = []
    record: Any = metrics
    while isinstance(record, dict) and len(records) < MAX_STAGES:
        records.append(record)
        record = record.get("pretraining")
    return records[::-1]


def training_stages(metrics: dict[str, Any]) -> list[dict[str, Any]]:
    """Every training stage of a checkpoint, first stage first.

    Args:
        metrics: the checkpoint's metrics.json.

    Returns:
        One dict per stage: stage ("stage 1 of 2", ...), corpus (its name), train_tokens (tokens in
        its training split), steps, epochs, minutes (None where not recorded), bptt, lr, seed,
        init_from, valid_ppl, test_ppl. A one-stage run gives one entry.

    Example:
        >>> [s["epochs"] for s in training_stages({"epochs": 1, "pretraining": {"epochs": 8}})]
        [8.0, 1.0]
    """
    records = _records(metrics)
    count = len(records)
    return [
        _stage(record, f"stage {index} of {count}" if count > 1 else "one stage")
        for index, record in enumerate(records, start=1)
    ]


def training_totals(stages: list[dict[str, Any]]) -> dict[str, float | None]:
    """Steps, epochs, minutes and tokens read summed over the stages (None when a stage did not record one).

    tokens_read is each stage's epochs x the tokens of its training split: what the model read, as
    opposed to how much distinct text it saw (8 epochs of 2.6M tokens read about as much as 1 epoch
    of 24M, from a tenth of the text).
    """
    totals: dict[str, float | None] = {}
    for key in ("steps", "epochs", "minutes"):
        values = [stage[key] for stage in stages]
        totals[key] = None if any(value is None for value in values) else float(sum(values))
    reads = [
        None if stage["epochs"] is None or stage["train_tokens"] is None else stage["epochs"] * stage["train_tokens"]
        for stage in stages
    ]
    totals["tokens_read"] = None if any(value is None for value in reads) else float(sum(reads))
    return totals


def combined_curve(metrics: dict[str, Any]) -> list[dict[str, Any]]:
    """The training and validation points of every stage on one step axis.

    Each later stage's steps are shifted by the steps of the stages before it, so the curve of a
    two-stage run continues where stage 1 stopped.

    Returns:
        Rows {"step", "stage", "split", "perplexity", "grad_norm_mean", "grad_norm_max"}: split
        "train (running mean)" from each stage's curve (with the gradient norms before clipping over
        its logging window, None where not recorded), "valid (held out)" (or its own split name)
        from its validation records (norms None).
    """
    records = _records(metrics)
    names = [stage["stage"] for stage in training_stages(metrics)]
    rows: list[dict[str, Any]] = []
    offset = 0.0
    for name, record in zip(names, records):
        for point in record.get("curve") or []:
            if (
                isinstance(point, dict)
                and _number(point.get("train_ppl")) is not None
                and _number(point.get("step")) is not None
            ):
                rows.append(
                    {
                        "step": offset + point["step"],
                        "stage": name,
                        "split": "train (running mean)",
                        "perplexity": point["train_ppl"],
                        "grad_norm_mean": _number(point.get("grad_norm_mean")),
                        "grad_norm_max": _number(point.get("grad_norm_max")),
                    }
                )
        for point in record.get("validation") or []:
            if (
                isinstance(point, dict)
                and _number(point.get("ppl")) is not None
                and _number(point.get("step")) is not None
            ):
                rows.append(
                    {
                        "step": offset + point["step"],
                        "stage": name,
                        "split": f"{point.get('split', 'valid')} (held out)",
                        "perplexity": point["ppl"],
                        "grad_norm_mean": None,
                        "grad_norm_max": None,
                    }
                )
        offset += _number(record.get("total_steps_trained", record.get("steps"))) or 0.0
    return rows
