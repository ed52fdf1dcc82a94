"""The hand-written all-pairs backward equals autograd's batched sweep, for every cell, depth and decoder."""

from __future__ import annotations

import pytest
import torch

from model.analysis.influence.all_pairs import all_pairs_sweep
from model.analysis.influence.methods import gradient_influence, gradient_influence_from_records
from model.analysis.influence.recorded_sweep import recorded_all_pairs_sweep
from model.analysis.influence.reference import autograd_gradient_influence
from model.analysis.inputs import prepare_input
from model.analysis.memory.traces import compute_traces
from model.analysis.report import analyze_text
from model.analysis.targets import PositionTargets
from model.core.checkpoint import load_checkpoint
from model.core.config import ModelConfig
from model.core.language_model import LanguageModel


def random_model(arch: str, num_layers: int, decoder: str) -> LanguageModel:
    options = {"adaptive_cutoffs": [20, 40], "adaptive_div_value": 2.0} if decoder == "adaptive" else {}
    config = ModelConfig(
        arch=arch,
        vocab_size=60,
        embedding_size=8,
        hidden_size=12,
        num_layers=num_layers,
        dropout=0.0,
        decoder=decoder,
        **options,
    )
    model = LanguageModel(config).double().eval()
    with torch.no_grad():
        for parameter in model.recurrent.parameters():
            parameter.normal_(0.0, 0.6)  # far words still matter, gates leave their middle
    return model


@pytest.mark.parametrize("arch", ["rnn", "lstm", "gru"])
@pytest.mark.parametrize("num_layers", [1, 2])
@pytest.mark.parametrize("decoder", ["full", "adaptive"])
def test_recorded_sweep_equals_the_autograd_sweep(arch, num_layers, decoder):
    torch.manual_seed(3)
    model = random_model(arch, num_layers, decoder)
    ids = torch.randint(0, 60, (1, 10))  # <eos> stand-in + 9 words
    # Three model-batch rows (as integrated gradients uses them), weighted unequally.
    embeddings = model.embed(ids).detach().expand(3, -1, -1) + 0.1 * torch.randn(3, 10, 8, dtype=torch.float64)
    weights = torch.tensor([0.2, 0.5, 0.3], dtype=torch.float64)
    good, bad = torch.randint(0, 60, (9,)), torch.randint(0, 60, (9,))

    def norm(gradients, start, stop):
        return gradients[:, 0].norm(dim=-1)

    def dot(gradients, start, stop):
        return (gradients.sum(dim=1) * embeddings[0, start:stop]).sum(dim=-1)

    for contrast in (None, bad):
        targets = PositionTargets(good=good, bad=contrast, last_is_guess=False, description="test")
        for reduce in (norm, dot):
            expected = all_pairs_sweep(model, embeddings, targets, reduce, weights=weights)
            ours = recorded_all_pairs_sweep(model, embeddings, targets, reduce, weights=weights)
            scale = float(expected.matrix.abs().max())
            assert scale > 1e-3
            assert torch.allclose(ours.matrix, expected.matrix, rtol=1e-10, atol=1e-12 * scale)
            assert torch.allclose(ours.values, expected.values, atol=1e-12)
            assert ours.log_probs is None  # resolved targets: the full distribution is never needed
            assert not ours.matrix.triu(1).any()  # no target sees a later word


@pytest.mark.parametrize("arch", ["rnn", "lstm", "gru"])
def test_reusing_the_traces_gives_the_same_matrix(tiny_checkpoints, arch):
    checkpoint = load_checkpoint(tiny_checkpoints[arch])
    inputs = prepare_input(checkpoint.tokenizer, "Mr. Robert said that the tea was cold , so")
    traces = compute_traces(checkpoint.model, inputs)
    recorded = [{name: value[None] for name, value in layer.items()} for layer in traces.layers]

    def targets(log_probs):
        return PositionTargets(good=log_probs.argmax(-1), bad=None, last_is_guess=True, description="top")

    fresh = gradient_influence(checkpoint.model, inputs.ids, targets)
    reused = gradient_influence_from_records(checkpoint.model, inputs.ids, targets, "grad", recorded)
    assert torch.equal(fresh.matrix.nan_to_num(), reused.matrix.nan_to_num())
    # A resolver needs the full distribution: the recorded engine then computes it, as autograd's does.
    autograd_run = autograd_gradient_influence(checkpoint.model, inputs.ids, targets)
    assert torch.allclose(fresh.details["log_probs"], autograd_run.details["log_probs"], atol=1e-5)
    report = analyze_text(
        checkpoint.model, checkpoint.tokenizer, inputs.text, with_occlusion=False, with_gradient_flow=False
    )
    autograd = autograd_gradient_influence(checkpoint.model, inputs.ids, report_targets(report, checkpoint)).matrix
    matrix = torch.tensor(
        [[float("nan") if v is None else v for v in row] for row in report["influence"]["matrix"]], dtype=autograd.dtype
    )
    assert torch.allclose(matrix.nan_to_num(), autograd.nan_to_num(), rtol=1e-4, atol=1e-7)


def report_targets(report: dict, checkpoint) -> PositionTargets:
    good = torch.tensor([checkpoint.tokenizer.token_to_id(word) for word in report["target"]["words"]])
    return PositionTargets(good=good, bad=None, last_is_guess=True, description="next")


def test_records_from_another_text_are_refused(tiny_checkpoints):
    checkpoint = load_checkpoint(tiny_checkpoints["lstm"])
    short = compute_traces(checkpoint.model, prepare_input(checkpoint.tokenizer, "Mr. Robert said"))
    inputs = prepare_input(checkpoint.tokenizer, "Mr. Robert said that the tea was cold")
    recorded = [{name: value[None] for name, value in layer.items()} for layer in short.layers]
    targets = PositionTargets(good=inputs.word_ids, bad=None, last_is_guess=False, description="test")
    with pytest.raises(ValueError, match="recorded must hold"):
        gradient_influence_from_records(checkpoint.model, inputs.ids, targets, "grad", recorded)


@pytest.mark.parametrize("arch", ["rnn", "lstm", "gru"])
@pytest.mark.parametrize("pending_elements", [1, 1 << 23])  # a buffer flush after every step; one flush at the end
def test_float32_sweep_through_oneDNN_equals_autograd(monkeypatch, arch, pending_elements):
    from model.analysis.influence import recorded_sweep

    monkeypatch.setattr(recorded_sweep, "_PENDING_ELEMENTS", pending_elements)
    torch.manual_seed(5)
    model = random_model(arch, 2, "adaptive").float()
    ids = torch.randint(0, 60, (1, 14))
    embeddings = model.embed(ids).detach().expand(2, -1, -1).contiguous()
    targets = PositionTargets(good=torch.randint(0, 60, (13,)), bad=None, last_is_guess=False, description="test")

    def norm(gradients, start, stop):
        return gradients[:, 0].norm(dim=-1)

    expected = all_pairs_sweep(model, embeddings, targets, norm)
    ours = recorded_all_pairs_sweep(model, embeddings, targets, norm)
    assert torch.allclose(ours.matrix, expected.matrix, rtol=1e-4, atol=1e-6 * float(expected.matrix.abs().max()))
