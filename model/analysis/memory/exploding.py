"""Exploding gradients: scale the recurrent weights and watch the products grow; read the training curve.

When the one-step Jacobians have norms above 1 the gradient grows
geometrically with distance (Bengio et al. 1994); Pascanu, Mikolov & Bengio
(2013, "On the difficulty of training recurrent neural networks") show the
cliffs this makes in the loss surface and propose clipping the gradient norm,
which is what training here does (``TrainConfig.clip``). Two views:

* :func:`exploding_curves`: the same text through a copy of the model whose
  W_hh is multiplied by a factor (the shared model is never touched).
* :func:`gradient_norm_history`: the gradient norms logged during training,
  next to the clip threshold ("with vs without clipping").
"""

from __future__ import annotations

import copy
import math
import re

import torch
from torch import nn

from model.analysis.inputs import AnalysisInput
from model.analysis.memory.gradient_flow import hidden_gradient_flow
from model.analysis.memory.products import rnn_slope_product
from model.analysis.memory.traces import compute_traces

_RECURRENT_WEIGHT = re.compile(r"weight_hh_l\d+")


def scaled_recurrent_copy(model: nn.Module, factor: float) -> nn.Module:
    """A deep copy of the model (eval mode) whose recurrent matrices weight_hh_l* are multiplied by ``factor``.

    Args:
        model: a LanguageModel; it is only read.
        factor: positive, finite multiplier (1.0 gives an identical copy; > 1 pushes
            the one-step Jacobians towards norms above 1).

    Returns:
        A new LanguageModel sharing no tensor with ``model``.

    Example:
        >>> louder = scaled_recurrent_copy(model, 3.0)
        >>> torch.equal(louder.recurrent.weight_hh_l0, 3.0 * model.recurrent.weight_hh_l0)
        True
    """
    if isinstance(factor, bool) or not isinstance(factor, (int, float)) or not math.isfinite(factor) or factor <= 0:
        raise ValueError(f"factor must be a positive finite number (1.0 = unchanged); got {factor!r}.")
    scaled = copy.deepcopy(model)
    scaled.eval()  # the copy is ours; the original's mode is left alone
    with torch.no_grad():
        for name, parameter in scaled.recurrent.named_parameters():
            if _RECURRENT_WEIGHT.fullmatch(name):
                parameter.mul_(float(factor))
    return scaled


def exploding_curves(
    model: nn.Module,
    ids: torch.Tensor | AnalysisInput,
    factor: float,
    include_original: bool = True,
    spectral: bool = False,
    probes: int | None = None,
    max_distance: int | None = None,
) -> dict:
    """Gradient flow of the model with W_hh scaled by ``factor`` (and of the original, for comparison).

    Args:
        model: a LanguageModel (not changed).
        ids: [1, L] ids or an AnalysisInput.
        factor: multiplier for every weight_hh_l* (see :func:`scaled_recurrent_copy`).
        include_original: also compute the unscaled model's curves.
        spectral: passed to both analyses (spectral norms and the rnn bound cost SVDs).
        probes: passed to :func:`hidden_gradient_flow` (None = exact).
        max_distance: passed to both analyses.

    Returns:
        dict with factor, arch, scaled {"hidden_flow": hidden_gradient_flow dict,
        "slope_product": rnn_slope_product dict for the rnn, else None} and
        original (the same for the unscaled model, or None).

    Example:
        >>> curves = exploding_curves(model, prepare_input(tokenizer, text), factor=2.0)
        >>> curves["scaled"]["hidden_flow"]["frobenius"][0] > curves["original"]["hidden_flow"]["frobenius"][0]
    """
    scaled = scaled_recurrent_copy(model, factor)
    result = {
        "factor": float(factor),
        "arch": model.config.arch,
        "scaled": _curves(scaled, ids, spectral, probes, max_distance),
        "original": _curves(model, ids, spectral, probes, max_distance) if include_original else None,
    }
    return result


def _curves(model: nn.Module, ids, spectral: bool, probes: int | None, max_distance: int | None) -> dict:
    flow = hidden_gradient_flow(model, ids, spectral=spectral, probes=probes, max_distance=max_distance)
    slope = None
    if model.config.arch == "rnn":
        slope = rnn_slope_product(model, compute_traces(model, ids), spectral=spectral, max_distance=max_distance)
    return {"hidden_flow": flow, "slope_product": slope}


def gradient_norm_history(metrics: dict) -> dict:
    """The training run's gradient norms (before clipping) and its clip threshold, for plotting.

    Args:
        metrics: a checkpoint's metrics.json as a dict (``Checkpoint.metrics``);
            ``metrics["curve"]`` holds one record per logged window with step,
            grad_norm_mean, grad_norm_max, train_loss; ``metrics["train_config"]["clip"]``
            is the clip value (None: trained without clipping).

    Returns:
        dict with steps, grad_norm_mean, grad_norm_max, train_loss (lists, one per
        logged window), clip (float or None), clipped_windows (windows whose
        largest norm exceeded the clip, None without clipping), windows (count).

    Example:
        >>> history = gradient_norm_history(load_checkpoint("checkpoints/novels-rnn").metrics)
        >>> history["clip"], max(history["grad_norm_max"])
    """
    if not isinstance(metrics, dict):
        raise ValueError(f"metrics must be the dict read from metrics.json; got {type(metrics).__name__}.")
    curve = metrics.get("curve")
    if not isinstance(curve, list):
        raise ValueError(
            "metrics has no 'curve' list: this checkpoint logged no training curve. "
            "Train it with model.train, which writes one to metrics.json."
        )
    fields = ("step", "grad_norm_mean", "grad_norm_max", "train_loss")
    history: dict = {name if name != "step" else "steps": [] for name in fields}
    for number, record in enumerate(curve):
        missing = [name for name in fields if not isinstance(record, dict) or name not in record]
        if missing:
            raise ValueError(f"metrics['curve'][{number}] lacks {missing}; each record needs {list(fields)}.")
        history["steps"].append(int(record["step"]))
        for name in fields[1:]:
            history[name].append(float(record[name]))
    train_config = metrics.get("train_config") or {}
    clip = train_config.get("clip") if isinstance(train_config, dict) else None
    clip = float(clip) if clip else None  # 0 or None both mean "no clipping" in training
    history["clip"] = clip
    history["clipped_windows"] = sum(norm > clip for norm in history["grad_norm_max"]) if clip else None
    history["windows"] = len(curve)
    return history
