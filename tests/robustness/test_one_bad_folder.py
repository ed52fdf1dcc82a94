"""Failure 1: one bad checkpoint folder took down the whole app (and the CLIs printed tracebacks).

A config.json with hidden_size >= 2**63 made torch raise TypeError inside LanguageModel(config);
model_store caught only OSError, ValueError and RuntimeError, and discovery runs on every rerun,
so every session saw "The page could not be drawn". Now such a folder is listed as not usable
with a one-line reason, whatever the exception, and the other folders keep working.
"""

from __future__ import annotations

import os

import pytest
from robustness_helpers import (
    assert_page_survived,
    copy_checkpoint,
    edit_json,
    nested_json,
    open_app,
    run_cli,
    write_raw,
)

import ui.services.model_store as model_store
from model.cli import predict
from model.core.checkpoint import CheckpointError, load_checkpoint

HUGE = 9223372036854775808  # 2**63: torch's int64 size arguments overflow


def test_a_hidden_size_of_2_to_the_63_is_a_checkpoint_error(tmp_path, tiny_checkpoints):
    folder = copy_checkpoint(tiny_checkpoints["lstm"], str(tmp_path / "huge"))
    edit_json(folder, "config.json", lambda config: config.update(hidden_size=HUGE))
    with pytest.raises(CheckpointError, match="hidden_size must be at most 8,192 .*got 9223372036854775808"):
        load_checkpoint(folder)


CRAFTED_CONFIGS = {
    "hidden_size 2**63": (
        lambda folder: edit_json(folder, "config.json", lambda c: c.update(hidden_size=HUGE)),
        "hidden_size must be at most",
    ),
    "nested config.json": (lambda folder: write_raw(folder, "config.json", nested_json(100_000)), "nested too deeply"),
    "sizes as a list": (
        lambda folder: edit_json(folder, "config.json", lambda c: c.update(num_layers=[1, 2])),
        "num_layers must be a positive integer",
    ),
    "dropout as text": (
        lambda folder: edit_json(folder, "config.json", lambda c: c.update(dropout="0.1")),
        "dropout must be in",
    ),
    "config is a list": (lambda folder: write_raw(folder, "config.json", "[1, 2]"), "must hold a JSON object"),
}


@pytest.mark.parametrize("kind", list(CRAFTED_CONFIGS))
def test_discovery_lists_a_bad_folder_with_a_one_line_reason_and_keeps_the_others(models_root, kind):
    craft, reason = CRAFTED_CONFIGS[kind]
    craft(copy_checkpoint(os.path.join(models_root, "tiny-lstm"), os.path.join(models_root, "bad")))
    entries = {entry.name: entry for entry in model_store.discover(models_root)}
    assert not entries["bad"].ok and reason in entries["bad"].error
    assert "\n" not in entries["bad"].error and len(entries["bad"].error) <= model_store.REASON_CHARACTERS
    assert all(entries[f"tiny-{arch}"].ok for arch in ("rnn", "lstm", "gru"))


@pytest.mark.parametrize(
    "error",
    [
        TypeError("unsupported size"),
        OverflowError("int too big"),
        RecursionError("deep"),
        MemoryError(),
        IndexError("list index out of range"),
    ],
)
def test_any_exception_from_one_folder_becomes_its_reason(models_root, monkeypatch, error):
    real = model_store.inspect_checkpoint

    def inspect(path):
        if path.endswith("tiny-gru"):
            raise error
        return real(path)

    monkeypatch.setattr(model_store, "inspect_checkpoint", inspect)
    entries = {entry.name: entry for entry in model_store.discover(models_root)}
    assert not entries["tiny-gru"].ok and entries["tiny-gru"].error.startswith(type(error).__name__)
    assert entries["tiny-rnn"].ok and entries["tiny-lstm"].ok


def test_the_page_still_draws_with_a_bad_folder(models_root):
    folder = copy_checkpoint(os.path.join(models_root, "tiny-lstm"), os.path.join(models_root, "bad"))
    edit_json(folder, "config.json", lambda config: config.update(hidden_size=HUGE))
    at = open_app("Next word")
    assert_page_survived(at)
    assert at.get("vega_lite_chart"), "the usable models still predict"
    sidebar = " ".join(element.value for element in at.sidebar.markdown)
    assert "bad" in sidebar and "hidden\\_size must be at most" in sidebar


def test_the_cli_prints_one_line_for_a_bad_folder(tmp_path, tiny_checkpoints, capsys):
    folder = copy_checkpoint(tiny_checkpoints["rnn"], str(tmp_path / "huge"))
    edit_json(folder, "config.json", lambda config: config.update(hidden_size=HUGE))
    line = run_cli(predict.main, [folder, "Mr. Robert said"], capsys)
    assert "hidden_size must be at most" in line


def test_a_folder_whose_weights_fail_is_listed_as_not_usable_once_tried(models_root):
    """NaN weights pass the header check (discovery reads no weights); the first load finds them."""
    from safetensors.torch import load_file, save_file

    folder = copy_checkpoint(os.path.join(models_root, "tiny-rnn"), os.path.join(models_root, "nan"))
    tensors = load_file(os.path.join(folder, "model.safetensors"))
    tensors["embedding.weight"][0, 0] = float("nan")
    save_file(tensors, os.path.join(folder, "model.safetensors"))
    entry = {entry.name: entry for entry in model_store.discover(models_root)}["nan"]
    assert entry.ok
    with pytest.raises(CheckpointError, match="non-finite values"):
        model_store.get_checkpoint(entry)
    entry = {entry.name: entry for entry in model_store.discover(models_root)}["nan"]
    assert not entry.ok and "non-finite values" in entry.error
    at = open_app("Next word", models=["nan", "tiny-lstm"])
    assert_page_survived(at)
