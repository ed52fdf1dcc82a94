"""analysis_mode: a no-op on CPU; on a CUDA model it switches cuDNN off for the block only."""

from __future__ import annotations

import pytest
import torch

import model.analysis.recurrence.device as device_module
from model.analysis.influence.methods import word_influence
from model.analysis.inputs import prepare_input
from model.analysis.recurrence.device import analysis_mode, model_device
from model.analysis.targets import TargetSpec, resolve_targets
from model.core.checkpoint import load_checkpoint


def _influence(checkpoint):
    inputs = prepare_input(checkpoint.tokenizer, "Mr. Robert said so his friend came")
    with torch.no_grad():
        log_probs = torch.log_softmax(checkpoint.model(inputs.ids)[0][0, 1:], dim=-1)  # [T, V]
    targets = resolve_targets(TargetSpec.from_words(None, None), checkpoint.tokenizer, inputs.word_ids, log_probs)
    return word_influence(checkpoint.model, inputs.ids, targets, "grad", unk_id=checkpoint.tokenizer.unk_id).matrix


def test_on_cpu_nothing_changes(tiny_checkpoints):
    checkpoint = load_checkpoint(tiny_checkpoints["lstm"])
    assert model_device(checkpoint.model).type == "cpu"
    before = torch.backends.cudnn.enabled
    outside = _influence(checkpoint)
    with analysis_mode(checkpoint.model):
        assert torch.backends.cudnn.enabled == before
        inside = _influence(checkpoint)
    assert torch.backends.cudnn.enabled == before
    assert torch.equal(outside.isnan(), inside.isnan())
    assert torch.equal(outside.nan_to_num(), inside.nan_to_num())
    assert not checkpoint.model.training


def test_a_model_without_parameters_counts_as_cpu():
    assert model_device(torch.nn.Identity()).type == "cpu"


@pytest.mark.parametrize("raises", [False, True])
def test_on_cuda_cudnn_is_off_inside_and_restored_after(monkeypatch, raises):
    # No GPU here: pretend the model is on CUDA to exercise the switch (the flags exist on CPU builds too).
    monkeypatch.setattr(device_module, "model_device", lambda model: torch.device("cuda", 0))
    cudnn = torch.backends.cudnn
    monkeypatch.setattr(cudnn, "benchmark", True)  # restored by monkeypatch after the test
    before = cudnn.enabled
    try:
        with analysis_mode(torch.nn.Linear(2, 2)):
            assert cudnn.enabled is False
            assert cudnn.benchmark is True  # only `enabled` changes
            if raises:
                raise RuntimeError("an analysis failed")
    except RuntimeError:
        assert raises
    assert cudnn.enabled == before and cudnn.benchmark is True
