"""The page opens offline on the models in the checkpoints folder, lists broken folders, picks up new ones."""

from __future__ import annotations

import json
import os
import shutil

from app_helpers import SEED, exception_free, open_app

TABS = [
    "Next word",
    "Gates and cell state",
    "Memory and influence",
    "Where the memory lives",
    "Vanishing and exploding gradients",
    "Distance ladder",
    "Long-range lab",
    "Word by word",
    "Generate",
    "Train",
    "Models",
    "Export",
]


def test_opens_with_seed_sentence_and_every_model(app_models):
    at = exception_free(open_app())
    assert at.text_input(key="text").value == SEED
    picker = at.multiselect(key="models")
    assert picker.options == ["tiny-rnn", "tiny-lstm", "tiny-gru"]
    assert picker.value == ["tiny-rnn", "tiny-lstm", "tiny-gru"]
    assert [tab.label for tab in at.tabs] == TABS
    assert [h.value for h in at.header if h.value == "Next word"] == ["Next word"]
    assert any("3 usable, 0 not usable" in caption.value for caption in at.sidebar.caption)


def test_broken_folders_are_listed_with_their_error(app_models):
    root = app_models
    os.makedirs(os.path.join(root, "empty-folder"))
    broken = os.path.join(root, "bad-config")
    shutil.copytree(os.path.join(root, "tiny-lstm"), broken)
    with open(os.path.join(broken, "config.json"), "w", encoding="utf-8") as stream:
        stream.write("{not json")
    mismatched = os.path.join(root, "wrong-tokenizer")
    shutil.copytree(os.path.join(root, "tiny-rnn"), mismatched)
    with open(os.path.join(mismatched, "metrics.json"), encoding="utf-8") as stream:
        metrics = json.load(stream)
    metrics["tokenizer_sha256"] = "0" * 64
    with open(os.path.join(mismatched, "metrics.json"), "w", encoding="utf-8") as stream:
        json.dump(metrics, stream)

    at = exception_free(open_app())
    assert at.multiselect(key="models").options == ["tiny-rnn", "tiny-lstm", "tiny-gru"]
    expander = at.sidebar.expander[0]
    assert expander.label == "Folders that could not be loaded (3)"
    listed = " ".join(element.value for element in expander.markdown)
    assert "bad\\-config" in listed or "bad-config" in listed
    assert "not valid JSON" in listed
    assert "missing config.json" in listed
    assert "not the one these weights were trained with" in listed


def test_a_new_model_appears_in_the_picker_at_once(app_models):
    at = exception_free(open_app())
    shutil.copytree(os.path.join(app_models, "tiny-gru"), os.path.join(app_models, "fresh-gru"))
    at.run()
    exception_free(at)
    assert "fresh-gru" in at.multiselect(key="models").options


def test_no_models_gives_a_clear_message(tmp_path, monkeypatch):
    import streamlit as st

    monkeypatch.setenv("MEMORY_LAB_CHECKPOINTS", str(tmp_path / "nothing-here"))
    st.cache_resource.clear()
    at = exception_free(open_app())
    assert any("No usable model" in info.value for info in at.info)
    # The views that do not need a model still work.
    at = exception_free(open_app("Vanishing and exploding gradients"))
    assert at.metric[0].label.startswith("Product of the 9 slopes")


def test_a_failing_view_becomes_a_message_not_a_traceback(app_models, monkeypatch):
    from ui.services import analysis_cache

    def broken(*args, **kwargs):
        raise RuntimeError("simulated failure <b>inside</b>")

    monkeypatch.setattr(analysis_cache, "next_word", broken)
    at = open_app("Next word")
    assert not at.exception
    errors = [error.value for error in at.error]
    assert len(errors) == 1 and errors[0].startswith(
        "The Next word view could not be drawn: RuntimeError: simulated failure"
    )
    assert "<b>" not in errors[0] and "Traceback" not in errors[0]
    assert at.text_input(key="text").value == SEED  # the rest of the page is still there


def test_lab_tab_opens_without_starting_anything(app_models):
    at = exception_free(open_app("Long-range lab"))
    assert "Long-range lab" in [h.value for h in at.header]
    assert [button.label for button in at.button] == ["Start the lab"]
