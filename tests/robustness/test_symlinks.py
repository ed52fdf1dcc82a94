"""Symlinks in a checkpoints folder (found handled by the attack in issue 13; kept that way here).

A file that is a link to a device (/dev/zero never ends) is not a checkpoint file and is never
read; a folder that links to itself, or to a folder of no checkpoint, is listed as not usable.
"""

from __future__ import annotations

import os
import time

from robustness_helpers import copy_checkpoint

import ui.services.model_store as model_store


def test_links_to_devices_and_loops_are_refused_without_reading(models_root):
    endless = copy_checkpoint(os.path.join(models_root, "tiny-lstm"), os.path.join(models_root, "endless"))
    os.remove(os.path.join(endless, "config.json"))
    os.symlink("/dev/zero", os.path.join(endless, "config.json"))
    os.symlink(os.path.join(models_root, "loop"), os.path.join(models_root, "loop"))  # a link to itself
    os.symlink("/proc/self", os.path.join(models_root, "elsewhere"))
    started = time.perf_counter()
    entries = {entry.name: entry for entry in model_store.discover(models_root)}
    assert time.perf_counter() - started < 5.0
    assert "missing config.json" in entries["endless"].error
    assert "loop" not in entries  # not a folder at all
    assert not entries["elsewhere"].ok
    assert all(entries[f"tiny-{arch}"].ok for arch in ("rnn", "lstm", "gru"))
