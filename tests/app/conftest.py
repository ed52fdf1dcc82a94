"""Fixtures for the AppTest tests: a private checkpoints folder with the tiny models, fresh caches."""

from __future__ import annotations

import shutil

import pytest


@pytest.fixture
def app_models(tmp_path, tiny_checkpoints, monkeypatch) -> str:
    """A checkpoints folder holding tiny-rnn, tiny-lstm and tiny-gru; the app is pointed at it.

    Caches are cleared so no model or result leaks from another test's folder.
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


@pytest.fixture
def downloads(monkeypatch) -> dict:
    """Every st.download_button payload by the file name the user would get: bytes, or the
    zero-argument callable of a deferred download (built when the button is clicked)."""
    from streamlit.runtime.media_file_manager import MediaFileManager
    from streamlit.runtime.memory_media_file_storage import MemoryMediaFileStorage

    captured: dict = {}
    original = MemoryMediaFileStorage.load_and_get_id
    original_deferred = MediaFileManager.add_deferred

    def record(self, path_or_data, mimetype, kind, filename=None):
        if isinstance(path_or_data, bytes) and filename:
            captured[filename] = path_or_data
        return original(self, path_or_data, mimetype, kind, filename)

    def record_deferred(self, data_callable, mimetype, coordinates, file_name=None, **kwargs):
        captured[file_name] = data_callable
        return original_deferred(self, data_callable, mimetype, coordinates, file_name=file_name, **kwargs)

    monkeypatch.setattr(MemoryMediaFileStorage, "load_and_get_id", record)
    monkeypatch.setattr(MediaFileManager, "add_deferred", record_deferred)
    return captured
