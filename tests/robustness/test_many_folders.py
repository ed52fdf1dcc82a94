"""Failure 4: the model cache thrashed at 17 or more checkpoint folders.

`_load` had cache_resource(max_entries=16) and every rerun loaded every folder: with 18 folders,
17 reloads and 3.7-3.9 s per keystroke (0.26 s with 16). Now discovery reads only the small files
(inspect_checkpoint) and weights are loaded only for the models in use, once.
"""

from __future__ import annotations

import os
import shutil

from robustness_helpers import assert_page_survived, open_app

import model.core.checkpoint as checkpoint_module
import ui.services.model_store as model_store

FOLDERS = 18


def _fill(root: str, count: int) -> None:
    source = os.path.join(root, "tiny-lstm")
    for index in range(count - 3):
        shutil.copytree(source, os.path.join(root, f"copy-{index:02d}"))


def _count_weight_loads(monkeypatch) -> list[str]:
    loads: list[str] = []
    real = model_store.load_checkpoint

    def counting(path, *args, **kwargs):
        loads.append(os.path.basename(path))
        return real(path, *args, **kwargs)

    monkeypatch.setattr(model_store, "load_checkpoint", counting)
    real_load_file = checkpoint_module.load_file
    monkeypatch.setattr(
        checkpoint_module,
        "load_file",
        lambda *args, **kwargs: (loads.append("load_file"), real_load_file(*args, **kwargs))[1],
    )
    return loads


def test_discovery_reads_no_weights(models_root, monkeypatch):
    _fill(models_root, FOLDERS)
    loads = _count_weight_loads(monkeypatch)
    entries = model_store.discover(models_root)
    assert len(entries) == FOLDERS and all(entry.ok for entry in entries)
    assert loads == []


def test_reruns_with_18_folders_load_each_picked_model_once(models_root, monkeypatch):
    _fill(models_root, FOLDERS)
    loads = _count_weight_loads(monkeypatch)
    at = open_app("Next word")
    assert_page_survived(at)
    first = [name for name in loads if name != "load_file"]
    assert len(first) == 3, first  # the three models shown by default, nothing else
    loads.clear()
    for text in ("Mr. Robert said so his", "Mrs. Mary said so her", "Mr. John came to tea ."):
        at.text_input(key="text").set_value(text).run()
        assert_page_survived(at)
    assert loads == [], f"reruns reloaded {loads}"
    at.multiselect(key="models").set_value(["copy-10", "tiny-gru"]).run()
    assert_page_survived(at)
    assert sorted(name for name in loads if name != "load_file") == ["copy-10", "tiny-gru"]
