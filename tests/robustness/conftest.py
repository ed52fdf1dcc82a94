"""Fixtures for the robustness tests: a private checkpoints folder for the app, fresh caches."""

from __future__ import annotations

import shutil

import pytest


@pytest.fixture
def models_root(tmp_path, tiny_checkpoints, monkeypatch) -> str:
    """A checkpoints folder holding copies of tiny-rnn, tiny-lstm and tiny-gru; the app is pointed at it.

    Streamlit's caches are cleared before and after, so no model or result leaks between tests.
    """
    import streamlit as st

    root = tmp_path / "checkpoints"
    root.mkdir()
    for arch, folder in tiny_checkpoints.items():
        shutil.copytree(folder, root / f"tiny-{arch}", ignore=shutil.ignore_patterns("resume", "resume.previous"))
    monkeypatch.setenv("MEMORY_LAB_CHECKPOINTS", str(root))
    st.cache_data.clear()
    st.cache_resource.clear()
    yield str(root)
    st.cache_data.clear()
    st.cache_resource.clear()
