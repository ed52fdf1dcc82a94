"""Occlusion equals explicit re-runs; analyses are safe on a shared model (threads, no .grad, no train, no hooks)."""

from __future__ import annotations

import threading

import pytest
import torch
from torch.nn import functional

from model.analysis.influence.methods import gradient_influence, integrated_gradients
from model.analysis.influence.occlusion import occlusion_influence
from model.analysis.inputs import prepare_input
from model.analysis.recurrence.differentiable import differentiable_recurrence
from model.analysis.targets import PositionTargets, TargetSpec, resolve_targets
from model.core.checkpoint import load_checkpoint
from model.core.config import ModelConfig
from model.core.language_model import LanguageModel

TEXT = "Mr. Robert said that the weather was fine , so his friend came to tea ."


def resolved(checkpoint, inputs, spec=TargetSpec()):
    with torch.no_grad():
        log_probs = functional.log_softmax(checkpoint.model(inputs.ids)[0][0, 1:], dim=-1)
    return resolve_targets(spec, checkpoint.tokenizer, inputs.word_ids, log_probs)


@pytest.mark.parametrize("arch", ["rnn", "lstm", "gru"])
@pytest.mark.parametrize("replacement", [None, "Mary"])
def test_occlusion_equals_an_explicit_rerun(tiny_checkpoints, arch, replacement):
    checkpoint = load_checkpoint(tiny_checkpoints[arch])
    model, tokenizer = checkpoint.model, checkpoint.tokenizer
    inputs = prepare_input(tokenizer, TEXT)
    replacement_id = tokenizer.unk_id if replacement is None else tokenizer.token_to_id(replacement)
    for spec in (TargetSpec(), TargetSpec.from_words("his", "her")):
        targets = resolved(checkpoint, inputs, spec)
        with torch.no_grad():
            original = targets.values(functional.log_softmax(model(inputs.ids)[0][0, 1:], dim=-1))  # [T]
        matrix, values, _ = occlusion_influence(model, inputs.ids, targets, replacement_id)
        assert torch.allclose(values, original, atol=1e-5)
        for source in range(inputs.num_words):
            variant = inputs.ids.clone()
            variant[0, source + 1] = replacement_id
            with torch.no_grad():
                changed = targets.values(functional.log_softmax(model(variant)[0][0, 1:], dim=-1))
            assert torch.allclose(matrix[source:, source], (original - changed)[source:], atol=1e-5)
            assert torch.isnan(matrix[:source, source]).all()


def test_occlusion_rejects_bad_input(tiny_checkpoints):
    checkpoint = load_checkpoint(tiny_checkpoints["lstm"])
    inputs = prepare_input(checkpoint.tokenizer, TEXT)
    targets = resolved(checkpoint, inputs)
    with pytest.raises(ValueError, match="replacement_id"):
        occlusion_influence(checkpoint.model, inputs.ids, targets, -1)
    with pytest.raises(ValueError, match=r"\[1, T \+ 1\]"):
        occlusion_influence(checkpoint.model, inputs.ids[0], targets, 0)


def run_all(checkpoint, text):
    inputs = prepare_input(checkpoint.tokenizer, text)
    targets = resolved(checkpoint, inputs)
    return [
        gradient_influence(checkpoint.model, inputs.ids, targets, "grad").matrix,
        gradient_influence(checkpoint.model, inputs.ids, targets, "gradxinput").matrix,
        integrated_gradients(checkpoint.model, inputs.ids, targets, checkpoint.tokenizer.unk_id, steps=8).matrix,
        occlusion_influence(checkpoint.model, inputs.ids, targets, checkpoint.tokenizer.unk_id)[0],
    ]


def test_two_threads_on_one_model_match_sequential_runs(tiny_checkpoints):
    checkpoint = load_checkpoint(tiny_checkpoints["lstm"])
    texts = [TEXT, "Mrs. Mary said that the road was long , and the train was late , so her"]
    sequential = [run_all(checkpoint, text) for text in texts]
    flags = (torch.backends.mkldnn.enabled, torch.backends.cudnn.enabled)
    for _ in range(3):
        results: dict[int, list] = {}
        barrier = threading.Barrier(2)

        def work(index: int) -> None:
            barrier.wait()
            results[index] = run_all(checkpoint, texts[index])

        threads = [threading.Thread(target=work, args=(index,)) for index in range(2)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        for index in range(2):
            for mine, reference in zip(results[index], sequential[index]):
                assert torch.allclose(mine.nan_to_num(), reference.nan_to_num(), rtol=1e-5, atol=1e-6)
    assert (torch.backends.mkldnn.enabled, torch.backends.cudnn.enabled) == flags  # switched back after the last user


def test_no_grad_no_train_mode_no_hooks_left(tiny_checkpoints, monkeypatch):
    checkpoint = load_checkpoint(tiny_checkpoints["gru"])
    model = checkpoint.model

    def refuse(*args, **kwargs):
        raise AssertionError("an analysis switched the shared model to train mode")

    monkeypatch.setattr(model, "train", refuse)
    before = {name: parameter.detach().clone() for name, parameter in model.named_parameters()}
    run_all(checkpoint, TEXT)
    assert not model.training
    assert all(parameter.grad is None for parameter in model.parameters())
    assert all(torch.equal(before[name], parameter) for name, parameter in model.named_parameters())
    for module in model.modules():
        assert not module._forward_hooks and not module._forward_pre_hooks
        assert not module._backward_hooks and not module._backward_pre_hooks
    assert not torch.nn.modules.module._global_forward_hooks and not torch.nn.modules.module._global_backward_hooks


def test_differentiable_recurrence_nests_and_restores_flags():
    flags = (torch.backends.mkldnn.enabled, torch.backends.cudnn.enabled)
    with differentiable_recurrence():
        with differentiable_recurrence():
            assert not torch.backends.mkldnn.enabled and not torch.backends.cudnn.enabled
        assert not torch.backends.mkldnn.enabled
    assert (torch.backends.mkldnn.enabled, torch.backends.cudnn.enabled) == flags
    with differentiable_recurrence(batched=False):
        assert torch.backends.mkldnn.enabled == flags[0] and not torch.backends.cudnn.enabled
        with differentiable_recurrence():
            assert not torch.backends.mkldnn.enabled
        assert torch.backends.mkldnn.enabled == flags[0] and not torch.backends.cudnn.enabled
    assert (torch.backends.mkldnn.enabled, torch.backends.cudnn.enabled) == flags
    with pytest.raises(RuntimeError):
        with differentiable_recurrence():
            raise RuntimeError("boom")
    assert (torch.backends.mkldnn.enabled, torch.backends.cudnn.enabled) == flags


@pytest.mark.parametrize("words", [(3, 7), (3, 25), (15, 40)])  # both in the head; head and tail; two tail clusters
def test_occlusion_with_the_adaptive_softmax_equals_a_rerun(words):
    config = ModelConfig(
        arch="lstm",
        vocab_size=50,
        embedding_size=6,
        hidden_size=16,
        decoder="adaptive",
        adaptive_cutoffs=[10, 30],
        dropout=0.0,
    )
    model = LanguageModel(config).double().eval()
    ids = torch.tensor([[1, 4, 12, 33, 8, 41, 2, 19]])
    good, bad = (torch.full((7,), word) for word in words)
    targets = PositionTargets(good=good, bad=bad, last_is_guess=False, description="contrast")
    matrix, values, _ = occlusion_influence(model, ids, targets, replacement_id=0)
    with torch.no_grad():
        original = targets.values(functional.log_softmax(model(ids)[0][0, 1:], dim=-1))
        assert torch.allclose(values, original, atol=1e-10)
        for source in range(7):
            variant = ids.clone()
            variant[0, source + 1] = 0
            changed = targets.values(functional.log_softmax(model(variant)[0][0, 1:], dim=-1))
            assert torch.allclose(matrix[source:, source], (original - changed)[source:], atol=1e-10)


@pytest.mark.parametrize("arch", ["rnn", "lstm", "gru"])
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_occlusion_of_a_two_layer_model_equals_a_rerun(arch, dtype):
    torch.manual_seed(3)
    config = ModelConfig(
        arch=arch, vocab_size=40, embedding_size=6, hidden_size=12, num_layers=2, decoder="full", dropout=0.0
    )
    model = LanguageModel(config).to(dtype).eval()
    ids = torch.tensor([[1, 4, 12, 33, 8, 21, 2, 19, 7]])
    targets = PositionTargets(good=ids[0, 1:].roll(-1), bad=None, last_is_guess=True, description="next word")
    matrix, values, _ = occlusion_influence(model, ids, targets, replacement_id=0)
    tolerance = 1e-5 if dtype == torch.float32 else 1e-10
    with torch.no_grad():
        original = targets.values(functional.log_softmax(model(ids)[0][0, 1:], dim=-1))
        assert torch.allclose(values, original, atol=tolerance)
        for source in range(8):
            variant = ids.clone()
            variant[0, source + 1] = 0
            changed = targets.values(functional.log_softmax(model(variant)[0][0, 1:], dim=-1))
            assert torch.allclose(matrix[source:, source], (original - changed)[source:], atol=tolerance)
            assert torch.isnan(matrix[:source, source]).all()
