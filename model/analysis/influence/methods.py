"""How much each earlier word s influences the prediction at each later position t.

Every method returns a [T, T] matrix: row t is the target f_t (see
``model.analysis.targets``: the prediction made after reading word t), column s
is the word. Entries with s <= t are defined; entries above the diagonal
(s > t, a word the prediction has not read yet) are NaN.

Methods:

* ``grad``: ||d f_t / d e_s||_2, the gradient norm w.r.t. the word's embedding
  ("connectivity", Madsen 2019, *Visualizing memorization in RNNs*, Distill).
  Unsigned: how strongly a small change of the word would move f_t.
* ``gradxinput``: sum_k e_s,k * d f_t / d e_s,k (Shrikumar et al. 2016,
  *Not just a black box*). Signed, first-order contribution of the word.
* ``ig``: integrated gradients on the embedding (Sundararajan et al. 2017,
  *Axiomatic attribution for deep networks*), from a baseline sentence whose
  words are all the ``<unk>`` embedding ("unk") or zero vectors ("zero"); the
  ``<eos>`` start stays. Signed; row t sums to f_t(text) - f_t(baseline).
* ``occlusion``: f_t(text) - f_t(text with word s replaced by ``<unk>`` or a
  chosen word), exact, by re-running the model (``model.analysis.influence.occlusion``).

All gradients come from one batched sweep over all targets, never a loop of one
backward per target: the cells' hand-written derivatives run over the recorded
gates (:mod:`model.analysis.influence.recorded_sweep`), as fast as autograd's batched
sweep or faster on every instruction set measured (bench/analysis_latency.py).
:mod:`model.analysis.influence.reference` keeps autograd's batched sweep and the
plain loop of one backward per target; the tests prove this module against both.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy
import torch
from torch.nn import functional

from model.analysis.influence.occlusion import occlusion_influence
from model.analysis.influence.recorded_sweep import recorded_all_pairs_sweep
from model.analysis.recurrence.differentiable import differentiable_recurrence
from model.analysis.targets import PositionTargets, TargetsOrResolver, targets_for
from model.core.language_model import LanguageModel, model_device

METHODS = ("grad", "gradxinput", "ig", "occlusion")
BASELINES = ("unk", "zero")
DEFINITIONS = {
    "grad": "||d f_t / d e_s||_2: gradient norm of the target w.r.t. word s's embedding (Madsen 2019)",
    "gradxinput": "sum over the embedding of e_s * d f_t / d e_s (Shrikumar et al. 2016); signed",
    "ig": "integrated gradients on the embedding from a baseline sentence (Sundararajan et al. 2017); signed, rows sum to f_t(text) - f_t(baseline)",
    "occlusion": "f_t(text) - f_t(text with word s replaced); signed, exact re-run",
}


@dataclass
class InfluenceResult:
    """One influence matrix and how it was made.

    Attributes:
        method: one of :data:`METHODS`.
        matrix: [T, T], row = target position t, column = word s; NaN above the diagonal.
        values: [T] f_t on the text, in nats.
        targets: the resolved targets.
        details: method settings (baseline, steps, completeness_error, replacement).
    """

    method: str
    matrix: torch.Tensor
    values: torch.Tensor
    targets: PositionTargets
    details: dict[str, Any] = field(default_factory=dict)


def mask_upper(matrix: torch.Tensor) -> torch.Tensor:
    """NaN above the diagonal of a [T, T] matrix (word s after target t)."""
    upper = torch.ones_like(matrix, dtype=torch.bool).triu(1)
    return matrix.masked_fill(upper, float("nan"))


def gradient_reducer(method: str, embeddings: torch.Tensor):
    """The sweep's reduction of d f_t / d e_s over the embedding: its norm ("grad") or its dot with e_s ("gradxinput")."""

    def reduce(gradients: torch.Tensor, start: int, stop: int) -> torch.Tensor:
        if method == "grad":
            return gradients[:, 0].norm(dim=-1)  # [n, L]
        return (gradients[:, 0] * embeddings[0, start:stop]).sum(dim=-1)  # [n, L]

    return reduce


def check_gradient_method(method: str) -> None:
    if method not in ("grad", "gradxinput"):
        raise ValueError(
            f"gradient_influence method must be 'grad' or 'gradxinput'; got {method!r}. "
            "Use integrated_gradients or occlusion_influence for the others."
        )


def embeddings_of(model: LanguageModel, ids: torch.Tensor) -> torch.Tensor:
    if ids.dim() != 2 or ids.shape[0] != 1:
        raise ValueError(f"ids must be [1, T + 1] with <eos> first (see prepare_input); got shape {tuple(ids.shape)}.")
    with torch.no_grad():
        return model.embed(ids.to(model_device(model)))  # [1, T + 1, E]


def gradient_influence(
    model: LanguageModel, ids: torch.Tensor, targets: TargetsOrResolver, method: str = "grad"
) -> InfluenceResult:
    """Gradient norm ("grad") or gradient x input ("gradxinput") for every pair (t, s), batched.

    Args:
        model: a LanguageModel in eval mode (never switched to train, no ``.grad`` written).
        ids: [1, T + 1] ids, ``<eos>`` first (``prepare_input(...).ids``).
        targets: :class:`PositionTargets`, or a resolver from [T, V] log-probabilities.
        method: "grad" (Madsen 2019) or "gradxinput" (Shrikumar et al. 2016).

    Returns:
        An :class:`InfluenceResult`; ``details["log_probs"]`` holds the [T, V] log-probabilities
        (None when the targets came resolved and the full distribution was never needed).

    Example:
        >>> result = gradient_influence(model, prepare_input(tokenizer, "Mr. Robert is going with").ids, targets)
        >>> result.matrix[-1, 2]  # how strongly "Robert" drives the last prediction
    """
    return gradient_influence_from_records(model, ids, targets, method, None)


def gradient_influence_from_records(
    model: LanguageModel,
    ids: torch.Tensor,
    targets: TargetsOrResolver,
    method: str,
    recorded: list[dict[str, torch.Tensor]] | None,
) -> InfluenceResult:
    """:func:`gradient_influence` for a caller that has already run the forward pass over ``ids``
    with its records ([1, T + 1, H] per layer, e.g. the traces): the sweep reuses them (None: run it)."""
    check_gradient_method(method)
    embeddings = embeddings_of(model, ids)  # [1, T + 1, E]
    result = recorded_all_pairs_sweep(
        model, embeddings, targets, gradient_reducer(method, embeddings), recorded=recorded
    )
    return InfluenceResult(
        method, mask_upper(result.matrix), result.values[0], result.targets, {"log_probs": result.log_probs}
    )


def gauss_legendre(steps: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Nodes and weights of the Gauss-Legendre rule on [0, 1] (exact for polynomials of degree < 2 * steps).

    Args:
        steps: number of nodes.

    Returns:
        (nodes [steps], weights [steps]) in float64; the weights sum to 1.

    Example:
        >>> nodes, weights = gauss_legendre(2)
        >>> float((weights * nodes**3).sum())   # = 1/4 exactly
        0.25
    """
    if not isinstance(steps, int) or steps < 1:
        raise ValueError(f"steps must be a positive integer; got {steps!r}.")
    nodes, weights = numpy.polynomial.legendre.leggauss(steps)
    return torch.from_numpy(0.5 * (nodes + 1.0)), torch.from_numpy(0.5 * weights)


def baseline_embeddings(model: LanguageModel, ids: torch.Tensor, baseline: str, unk_id: int) -> torch.Tensor:
    """The integrated-gradients baseline sentence, [1, T + 1, E].

    Args:
        model: the language model.
        ids: [1, T + 1] ids, ``<eos>`` first.
        baseline: "unk" (every word becomes the ``<unk>`` embedding) or "zero" (zero vectors).
        unk_id: the tokenizer's ``<unk>`` id.

    Returns:
        The baseline embeddings; position 0 (``<eos>``) keeps its own embedding.
    """
    if baseline not in BASELINES:
        raise ValueError(f"baseline must be one of {BASELINES}; got {baseline!r}.")
    embeddings = embeddings_of(model, ids).clone()
    if baseline == "zero":
        embeddings[:, 1:] = 0.0
    else:
        embeddings[:, 1:] = model.embedding.weight[unk_id].detach()
    return embeddings


def integrated_gradients(
    model: LanguageModel,
    ids: torch.Tensor,
    targets: TargetsOrResolver,
    unk_id: int,
    baseline: str = "unk",
    steps: int = 32,
    max_batch_elements: int = 1 << 24,
) -> InfluenceResult:
    """Integrated gradients of every target w.r.t. every word's embedding (Sundararajan et al. 2017).

    A[t, s] = (e_s - e'_s) . sum_k w_k d f_t / d e_s at e' + a_k (e - e'), with
    Gauss-Legendre nodes a_k and weights w_k on [0, 1] (the integrand is smooth,
    so 32-64 nodes make the completeness error tiny). Interpolation steps form
    the model batch; each step group is one batched sweep over all targets.

    Args:
        model: the language model (eval mode).
        ids: [1, T + 1] ids, ``<eos>`` first.
        targets: :class:`PositionTargets`, or a resolver from [T, V] log-probabilities.
        unk_id: the tokenizer's ``<unk>`` id (for baseline "unk").
        baseline: "unk" (the ``<unk>`` embedding at every word) or "zero".
        steps: quadrature nodes.
        max_batch_elements: bound on steps x T x V per group, to cap memory.

    Returns:
        An :class:`InfluenceResult` with details baseline, steps, completeness_error
        (sum_t |sum_s A[t, s] - (f_t(x) - f_t(x'))| / sum_t |f_t(x) - f_t(x')|) and deltas.

    Example:
        >>> result = integrated_gradients(model, ids, targets, tokenizer.unk_id, steps=64)
        >>> result.details["completeness_error"] < 0.01
        True
    """
    embeddings = embeddings_of(model, ids)  # [1, T + 1, E]
    reference = baseline_embeddings(model, ids, baseline, unk_id)  # [1, T + 1, E]
    difference = embeddings - reference  # [1, T + 1, E]
    nodes, weights = gauss_legendre(steps)
    nodes, weights = nodes.to(embeddings), weights.to(embeddings)
    with differentiable_recurrence(), torch.no_grad():
        ends, _ = model.features_from_embeddings(torch.cat([embeddings, reference]))  # [2, T + 1, H]
        end_log_probs = functional.log_softmax(model.logits_from_features(ends[:, 1:]), dim=-1)  # [2, T, V]
    targets = targets_for(targets, lambda: end_log_probs[0])
    ends_values = targets.values(end_log_probs)  # [2, T]
    deltas = ends_values[0] - ends_values[1]  # [T]
    length = ids.shape[1] - 1
    group = max(1, min(steps, max_batch_elements // max(1, length * model.config.vocab_size)))
    total = embeddings.new_zeros(length, length)

    def reduce(gradients: torch.Tensor, start: int, stop: int) -> torch.Tensor:
        return (gradients.sum(dim=1) * difference[0, start:stop]).sum(dim=-1)  # [n, L]

    for first in range(0, steps, group):
        alphas = nodes[first : first + group]  # [G]
        path = reference + alphas[:, None, None] * difference  # [G, T + 1, E]
        sweep = recorded_all_pairs_sweep(model, path, targets, reduce, weights=weights[first : first + group])
        total += sweep.matrix
    error = float((total.sum(dim=1) - deltas).abs().sum() / deltas.abs().sum().clamp_min(1e-12))
    details = {
        "baseline": baseline,
        "steps": steps,
        "rule": "gauss-legendre",
        "completeness_error": error,
        "deltas": deltas,
    }
    return InfluenceResult("ig", mask_upper(total), ends_values[0], targets, details)


def word_influence(
    model: LanguageModel,
    ids: torch.Tensor,
    targets: TargetsOrResolver,
    method: str = "grad",
    *,
    unk_id: int,
    steps: int = 32,
    baseline: str = "unk",
    replacement_id: int | None = None,
) -> InfluenceResult:
    """Any influence method by name; see the module docstring for the definitions and papers.

    Args:
        model: the language model (eval mode).
        ids: [1, T + 1] ids, ``<eos>`` first.
        targets: :class:`PositionTargets`, or a resolver from [T, V] log-probabilities.
        method: "grad", "gradxinput", "ig" or "occlusion".
        unk_id: the tokenizer's ``<unk>`` id.
        steps: integrated-gradients nodes.
        baseline: integrated-gradients baseline, "unk" or "zero".
        replacement_id: occlusion replacement word id (default ``<unk>``).

    Returns:
        An :class:`InfluenceResult`.

    Raises:
        ValueError: an unknown method or baseline, or ids not shaped [1, T + 1].

    Example:
        >>> result = word_influence(model, inputs.ids, targets, "occlusion", unk_id=tokenizer.unk_id,
        ...                         replacement_id=tokenizer.token_to_id("Mary"))
        >>> result.matrix[-1]   # how each word moved the last prediction
    """
    if method in ("grad", "gradxinput"):
        return gradient_influence(model, ids, targets, method)
    if method == "ig":
        return integrated_gradients(model, ids, targets, unk_id, baseline, steps)
    if method == "occlusion":
        replacement = unk_id if replacement_id is None else replacement_id
        matrix, values, resolved = occlusion_influence(model, ids, targets, replacement)
        return InfluenceResult("occlusion", matrix, values, resolved, {"replacement_id": replacement})
    raise ValueError(f"method must be one of {METHODS}; got {method!r}.")
