"""Word influence: proven against finite differences, Captum and the naive one-backward-per-target loop."""

from __future__ import annotations

import pytest
import torch
from captum.attr import InputXGradient, LayerIntegratedGradients, Saliency
from torch.nn import functional

from model.analysis.influence.methods import gradient_influence, integrated_gradients, word_influence
from model.analysis.influence.reference import autograd_gradient_influence, naive_gradient_influence
from model.analysis.inputs import prepare_input
from model.analysis.targets import PositionTargets, TargetSpec, resolve_targets
from model.core.checkpoint import load_checkpoint
from model.core.config import ModelConfig
from model.core.language_model import LanguageModel

TEXT = "Mr. Robert said that the weather was fine , so his"
EPS = 1e-6


def double_model(arch: str, num_layers: int) -> LanguageModel:
    config = ModelConfig(
        arch=arch, vocab_size=20, embedding_size=5, hidden_size=6, num_layers=num_layers, dropout=0.0, decoder="full"
    )
    model = LanguageModel(config).double().eval()
    with torch.no_grad():
        for parameter in model.recurrent.parameters():
            parameter.normal_(0.0, 0.7)  # strong enough that far words still matter
    return model


def values_from_embeddings(model: LanguageModel, embeddings: torch.Tensor, targets: PositionTargets) -> torch.Tensor:
    """f [B, T] through the model's fused forward."""
    features, _ = model.features_from_embeddings(embeddings)
    return targets.values(functional.log_softmax(model.logits_from_features(features[:, 1:]), dim=-1))


def next_word_targets(model: LanguageModel, ids: torch.Tensor) -> PositionTargets:
    with torch.no_grad():
        log_probs = functional.log_softmax(model(ids)[0][0, 1:], dim=-1)
    good = torch.cat([ids[0, 2:], log_probs[-1].argmax().reshape(1)])
    return PositionTargets(good=good, bad=None, last_is_guess=True, description="next")


def lower(matrix: torch.Tensor) -> torch.Tensor:
    return matrix.nan_to_num(0.0)


@pytest.mark.parametrize("arch", ["rnn", "lstm", "gru"])
@pytest.mark.parametrize("num_layers", [1, 2])
def test_gradient_methods_match_central_finite_differences(arch, num_layers):
    model = double_model(arch, num_layers)
    ids = torch.tensor([[1, 3, 7, 2, 9, 4, 11]])  # <eos> + 6 words
    targets = next_word_targets(model, ids)
    embeddings = model.embed(ids).detach()  # [1, 7, E]
    length, size = 6, embeddings.shape[-1]
    jacobian = torch.zeros(length, length, size, dtype=torch.float64)  # [t, s, k]
    with torch.no_grad():
        for source in range(length):
            for unit in range(size):
                plus, minus = embeddings.clone(), embeddings.clone()
                plus[0, source + 1, unit] += EPS
                minus[0, source + 1, unit] -= EPS
                jacobian[:, source, unit] = (
                    values_from_embeddings(model, plus, targets) - values_from_embeddings(model, minus, targets)
                )[0] / (2 * EPS)
    expected_norm = jacobian.norm(dim=-1)
    expected_gxi = (jacobian * embeddings[0, 1:][None]).sum(dim=-1)
    for run in (
        gradient_influence,
        autograd_gradient_influence,
        lambda *args: autograd_gradient_influence(*args, time_chunk=2),
    ):
        norm = run(model, ids, targets, "grad").matrix
        gxi = run(model, ids, targets, "gradxinput").matrix
        assert torch.allclose(lower(norm), expected_norm.tril(), atol=1e-7)
        assert torch.allclose(lower(gxi), expected_gxi.tril(), atol=1e-7)
    assert torch.isnan(norm.triu(1)[0, 1:]).all() and not torch.isnan(norm.tril()).any()
    assert expected_norm[-1, 0] > 1e-4  # the first word really reaches the last target


@pytest.mark.parametrize("arch", ["rnn", "lstm", "gru"])
def test_batched_all_pairs_equals_the_naive_loop(tiny_checkpoints, arch):
    checkpoint = load_checkpoint(tiny_checkpoints[arch])
    model, tokenizer = checkpoint.model, checkpoint.tokenizer
    inputs = prepare_input(tokenizer, TEXT + " " + TEXT)  # 24 words
    for spec in (TargetSpec(), TargetSpec.from_words("his", "her")):
        with torch.no_grad():
            log_probs = functional.log_softmax(model(inputs.ids)[0][0, 1:], dim=-1)
        targets = resolve_targets(spec, tokenizer, inputs.word_ids, log_probs)
        for method in ("grad", "gradxinput"):
            reference = naive_gradient_influence(model, inputs.ids, targets, method)
            batched_runs = [gradient_influence(model, inputs.ids, targets, method)] + [
                autograd_gradient_influence(model, inputs.ids, targets, method, time_chunk=chunk)
                for chunk in (None, 5, 25)
            ]
            for batched in (run.matrix for run in batched_runs):
                assert torch.allclose(
                    lower(batched), lower(reference), rtol=1e-4, atol=1e-6 * float(lower(reference).abs().max())
                )


def test_next_word_resolver_uses_the_top_guess_at_the_end(tiny_checkpoints):
    checkpoint = load_checkpoint(tiny_checkpoints["lstm"])
    inputs = prepare_input(checkpoint.tokenizer, TEXT)
    resolver = lambda log_probs: resolve_targets(TargetSpec(), checkpoint.tokenizer, inputs.word_ids, log_probs)  # noqa: E731
    result = gradient_influence(checkpoint.model, inputs.ids, resolver)
    with torch.no_grad():
        last = checkpoint.model(inputs.ids)[0][0, -1]
    assert int(result.targets.good[-1]) == int(last.argmax()) and result.targets.last_is_guess
    assert result.details["log_probs"].shape == (inputs.num_words, checkpoint.tokenizer.vocab_size)


@pytest.mark.parametrize("arch", ["rnn", "lstm", "gru"])
def test_matches_captum_saliency_input_x_gradient_and_layer_integrated_gradients(tiny_checkpoints, arch):
    checkpoint = load_checkpoint(tiny_checkpoints[arch])
    model, tokenizer = checkpoint.model, checkpoint.tokenizer
    inputs = prepare_input(tokenizer, "Mr. Robert said that the tea was cold , so")
    ids, length = inputs.ids, inputs.num_words
    targets = next_word_targets(model, ids)
    grad = gradient_influence(model, ids, targets, "grad").matrix
    gxi = gradient_influence(model, ids, targets, "gradxinput").matrix
    ig = integrated_gradients(model, ids, targets, tokenizer.unk_id, "unk", steps=16)
    embeddings = model.embed(ids).detach()
    baseline_ids = ids.clone()
    baseline_ids[0, 1:] = tokenizer.unk_id
    for target in range(length):

        def from_embeddings(embedded, target=target):
            return values_from_embeddings(model, embedded, targets)[:, target]

        def from_ids(batch_ids, target=target):
            return targets.values(functional.log_softmax(model(batch_ids)[0][:, 1:], dim=-1))[:, target]

        saliency = Saliency(from_embeddings).attribute(embeddings.clone().requires_grad_(True), abs=True)[
            0, 1:
        ]  # [T, E]
        input_x_gradient = (
            InputXGradient(from_embeddings).attribute(embeddings.clone().requires_grad_(True))[0, 1:].sum(-1)
        )  # [T]
        layer_ig = (
            LayerIntegratedGradients(from_ids, model.embedding)
            .attribute(ids, baselines=baseline_ids, n_steps=16, method="gausslegendre")[0, 1:]
            .sum(-1)
        )  # [T]
        seen = slice(0, target + 1)
        for ours, theirs in (
            (grad[target, seen], saliency.norm(dim=-1)[seen]),
            (gxi[target, seen], input_x_gradient[seen]),
            (ig.matrix[target, seen], layer_ig[seen]),
        ):
            theirs = theirs.detach()
            scale = float(theirs.abs().max())
            assert torch.allclose(ours, theirs.to(ours), rtol=1e-4, atol=1e-4 * scale), (target, ours, theirs)


@pytest.mark.parametrize("baseline", ["unk", "zero"])
def test_integrated_gradients_completeness_at_64_steps(tiny_checkpoints, baseline):
    checkpoint = load_checkpoint(tiny_checkpoints["lstm"])
    inputs = prepare_input(checkpoint.tokenizer, TEXT)

    def targets(log_probs):
        return resolve_targets(TargetSpec.from_words("his", "her"), checkpoint.tokenizer, inputs.word_ids, log_probs)

    result = integrated_gradients(
        checkpoint.model, inputs.ids, targets, checkpoint.tokenizer.unk_id, baseline, steps=64
    )
    assert result.details["completeness_error"] < 0.01
    rows = lower(result.matrix).sum(dim=1)
    assert torch.allclose(rows, result.details["deltas"], atol=0.02 * float(result.details["deltas"].abs().max()))
    assert result.details["deltas"].abs().max() > 1e-3  # the baseline really changes the target


def test_word_influence_dispatches_and_rejects_unknown_methods(tiny_checkpoints):
    checkpoint = load_checkpoint(tiny_checkpoints["gru"])
    inputs = prepare_input(checkpoint.tokenizer, TEXT)
    targets = next_word_targets(checkpoint.model, inputs.ids)
    for method in ("grad", "gradxinput", "ig", "occlusion"):
        result = word_influence(
            checkpoint.model, inputs.ids, targets, method, unk_id=checkpoint.tokenizer.unk_id, steps=4
        )
        assert result.method == method and result.matrix.shape == (inputs.num_words, inputs.num_words)
        assert torch.isfinite(result.matrix.tril()).all()
    with pytest.raises(ValueError, match="method must be one of"):
        word_influence(checkpoint.model, inputs.ids, targets, "lime", unk_id=0)
    with pytest.raises(ValueError, match="baseline"):
        word_influence(checkpoint.model, inputs.ids, targets, "ig", unk_id=0, baseline="mean")
