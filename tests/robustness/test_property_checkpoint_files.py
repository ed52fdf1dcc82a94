"""Random mutations of config.json and tokenizer.json: a clean refusal or a working model, nothing else.

Hypothesis applies one to three mutations to a tiny checkpoint's file: a value replaced by another
type, a huge or negative integer, a long string, a float, a deep nesting, a key removed or added,
an object wrapped in a list. Loading must then either give a model that predicts, or raise
CheckpointError (a ValueError) naming the problem; never another exception, never more than 5 s;
and the app's discovery must list the folder (usable or not) without raising.
"""

from __future__ import annotations

import json
import os
import tempfile
import time
from typing import Any

import pytest
import torch
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st
from robustness_helpers import copy_checkpoint

import ui.services.model_store as model_store
from model.core.checkpoint import CheckpointError, load_checkpoint

DEEP = "__deeply_nested__"  # replaced by a 5,000-level nesting in the written text
SCALARS = st.one_of(
    st.none(),
    st.booleans(),
    st.sampled_from([0, -1, 1, 2, 3, 7, 2**31, 2**63, -(2**63), 10**30, 10**200, 8193, 1_000_001, 17]),
    st.integers(min_value=-(10**6), max_value=10**6),
    st.floats(allow_nan=False, allow_infinity=False) | st.sampled_from([1e308, -0.0, 0.5, 1.5]),
    st.text(max_size=20),
    st.sampled_from(["", "x" * 10_000, "(a+)+$", "lstm", "gru", "full", "adaptive", "WordLevel", "<unk>", DEEP]),
)
VALUES = st.recursive(
    SCALARS,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4),
    max_leaves=8,
)


@st.composite
def mutations(draw) -> list[tuple[list[int], str, Any]]:
    """Up to three (path choices, operation, value): each choice picks a child at that depth."""
    count = draw(st.integers(min_value=1, max_value=3))
    return [
        (
            draw(st.lists(st.integers(min_value=0, max_value=10**6), min_size=0, max_size=4)),
            draw(st.sampled_from(["replace", "delete", "add", "wrap"])),
            draw(VALUES),
        )
        for _ in range(count)
    ]


def _mutate(document: Any, path: list[int], operation: str, value: Any) -> None:
    """Walk ``path`` (each number picks a child, modulo the count) and change what it reaches."""
    parent, key = None, None
    node = document
    for choice in path:
        children = list(node) if isinstance(node, dict) else list(range(len(node))) if isinstance(node, list) else []
        if not children:
            break
        parent, key = node, children[choice % len(children)]
        node = node[key]
    if parent is None:  # the document itself: add or drop a top-level key
        if isinstance(document, dict) and operation == "delete" and document:
            document.pop(sorted(document)[path[0] % len(document) if path else 0])
        elif isinstance(document, dict):
            document[f"extra-{len(document)}"] = value
        return
    if operation == "replace":
        parent[key] = value
    elif operation == "delete":
        parent.pop(key) if isinstance(parent, dict) else parent.pop(key)
    elif operation == "add" and isinstance(parent, dict):
        parent[f"{key}-extra"] = value
    elif operation == "add" and isinstance(parent, list):
        parent.append(value)
    else:
        parent[key] = [node]


def _write(folder: str, name: str, document: Any) -> None:
    text = json.dumps(document, ensure_ascii=False)
    text = text.replace(json.dumps(DEEP), "[" * 5000 + "]" * 5000)
    with open(os.path.join(folder, name), "w", encoding="utf-8") as stream:
        stream.write(text)


def _check_outcome(folder: str) -> None:
    started = time.perf_counter()
    try:
        checkpoint = load_checkpoint(folder)
    except CheckpointError as error:
        assert str(error).strip()
    else:  # accepted: it must work
        encoded = checkpoint.tokenizer.encode("Mr. Robert said so his friend came to tea .")
        ids = torch.tensor([[checkpoint.tokenizer.eos_id, *encoded.ids]])  # [1, T]
        with torch.no_grad():
            logits, _ = checkpoint.model(ids)  # [1, T, V]
        assert logits.shape[-1] == checkpoint.config.vocab_size and torch.isfinite(logits).all()
    assert time.perf_counter() - started < 5.0
    entries = model_store.discover(os.path.dirname(folder))
    assert len(entries) == 1 and (entries[0].ok or entries[0].error)


@pytest.mark.parametrize("file", ["config.json", "tokenizer.json"])
@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(changes=mutations())
@example(changes=[([3], "replace", 2**63)])  # config.json: hidden_size >= 2**63 (a TypeError inside torch before)
@example(changes=[([3], "replace", DEEP)])  # a 5,000-level nesting where a size belongs
@example(changes=[([8, 1, 0], "replace", 10**6)])  # tokenizer.json: an id far beyond the embedding
@example(
    changes=[([255, 0, 128], "replace", 0)]
)  # tokenizer.json: a flag written 0 (== False in Python, not to tokenizers)
def test_a_mutated_file_is_refused_cleanly_or_works(tiny_checkpoints, file, changes):
    with open(os.path.join(tiny_checkpoints["lstm"], file), encoding="utf-8") as stream:
        document = json.load(stream)
    for path, operation, value in changes:
        _mutate(document, path, operation, value)
    with tempfile.TemporaryDirectory() as root:
        folder = copy_checkpoint(tiny_checkpoints["lstm"], os.path.join(root, "mutated"))
        _write(folder, file, document)
        _check_outcome(folder)


@pytest.mark.parametrize("file", ["config.json", "tokenizer.json"])
@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.binary(max_size=200) | st.text(max_size=200).map(str.encode))
def test_a_file_of_random_bytes_is_refused_cleanly(tiny_checkpoints, file, data):
    with tempfile.TemporaryDirectory() as root:
        folder = copy_checkpoint(tiny_checkpoints["lstm"], os.path.join(root, "bytes"))
        with open(os.path.join(folder, file), "wb") as stream:
            stream.write(data)
        _check_outcome(folder)
