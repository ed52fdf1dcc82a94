"""The references the batched influence sweep is proven against, and timed against in bench/.

* :func:`autograd_gradient_influence`: the same matrix from autograd's batched sweep
  (:mod:`model.analysis.influence.all_pairs`: one backward with a cotangent per target, cut into time chunks);
* :func:`naive_gradient_influence`: one backward per target, the loop a Captum user writes.

Neither is used by the app; tests/model/analysis/influence/test_influence.py compares all three.
"""

from __future__ import annotations

import torch
from torch.nn import functional

from model.analysis.influence.all_pairs import all_pairs_sweep
from model.analysis.influence.methods import (
    InfluenceResult,
    check_gradient_method,
    embeddings_of,
    gradient_reducer,
    mask_upper,
)
from model.analysis.recurrence.differentiable import differentiable_recurrence
from model.analysis.targets import PositionTargets, TargetsOrResolver
from model.core.language_model import LanguageModel


def autograd_gradient_influence(
    model: LanguageModel,
    ids: torch.Tensor,
    targets: TargetsOrResolver,
    method: str = "grad",
    time_chunk: int | None = None,
) -> InfluenceResult:
    """:func:`model.analysis.influence.methods.gradient_influence` through autograd's batched sweep.

    Args:
        time_chunk: chunk length of the sweep (None: automatic); the numbers do not depend on it.
    """
    check_gradient_method(method)
    embeddings = embeddings_of(model, ids)  # [1, T + 1, E]
    result = all_pairs_sweep(model, embeddings, targets, gradient_reducer(method, embeddings), time_chunk=time_chunk)
    return InfluenceResult(
        method, mask_upper(result.matrix), result.values[0], result.targets, {"log_probs": result.log_probs}
    )


def naive_gradient_influence(
    model: LanguageModel, ids: torch.Tensor, targets: PositionTargets, method: str = "grad"
) -> torch.Tensor:
    """Reference: the same matrix as :func:`gradient_influence` from one backward per target (a loop).

    Slow (T backward passes); kept to prove the batched sweep right and to time it.

    Args:
        model: the language model.
        ids: [1, T + 1] ids, ``<eos>`` first.
        targets: resolved :class:`PositionTargets`.
        method: "grad" or "gradxinput".

    Returns:
        [T, T] matrix, NaN above the diagonal.

    Example:
        >>> reference = naive_gradient_influence(model, ids, targets)
        >>> torch.allclose(reference.nan_to_num(), gradient_influence(model, ids, targets).matrix.nan_to_num(), rtol=1e-4)
        True
    """
    embeddings = embeddings_of(model, ids).requires_grad_(True)  # [1, T + 1, E]
    length = ids.shape[1] - 1
    with differentiable_recurrence(), torch.enable_grad():
        features, _ = model.features_from_embeddings(embeddings)  # [1, T + 1, H]
        values = targets.values(functional.log_softmax(model.logits_from_features(features[:, 1:]), dim=-1))[0]  # [T]
        rows = []
        for target in range(length):
            (gradient,) = torch.autograd.grad(values[target], embeddings, retain_graph=target < length - 1)
            gradient = gradient[0, 1:]  # [T, E]
            rows.append(
                gradient.norm(dim=-1) if method == "grad" else (gradient * embeddings[0, 1:].detach()).sum(dim=-1)
            )
    return mask_upper(torch.stack(rows))
