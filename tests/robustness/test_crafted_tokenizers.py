"""Failure 3: tokenizer.json was trusted beyond its vocabulary.

The fingerprint in metrics.json covers only the vocabulary, so a Replace normalizer with the
pattern "(a+)+$" passed every check (even with a matching tokenizer_sha256); typing 'a'*25 + 'b'
then raised pyo3's PanicException, a BaseException that got past the view guard, and each encode
of 'a'*22 + 'b ' took 12 s. Ids beyond the embedding loaded when metrics.json had no fingerprint.
Now the whole structure is checked against what data/tokenizer.py writes, at load, and a panic
from the library becomes a ValueError at the tokenizer boundary.
"""

from __future__ import annotations

import copy
import os
import time

import pytest
from robustness_helpers import copy_checkpoint, edit_json, read_json
from tokenizers import Regex, Tokenizer, normalizers

from data.tokenizer import WordTokenizer, check_tokenizer_json
from model.core.checkpoint import CheckpointError, inspect_checkpoint, load_checkpoint

EVIL_NORMALIZER = {"type": "Replace", "pattern": {"Regex": "(a+)+$"}, "content": "x"}


def test_a_catastrophic_regex_normalizer_is_refused_at_load_even_with_a_matching_fingerprint(
    tmp_path, tiny_checkpoints
):
    folder = copy_checkpoint(tiny_checkpoints["lstm"], str(tmp_path / "evil"))
    edit_json(folder, "tokenizer.json", lambda data: data.update(normalizer=EVIL_NORMALIZER))
    # The vocabulary is unchanged, so metrics.json's tokenizer_sha256 still matches.
    assert (
        read_json(folder, "metrics.json")["tokenizer_sha256"]
        == load_checkpoint(tiny_checkpoints["lstm"]).tokenizer.fingerprint()
    )
    started = time.perf_counter()
    with pytest.raises(CheckpointError, match='"normalizer" must be null .*Replace'):
        load_checkpoint(folder)
    assert time.perf_counter() - started < 1.0


def _swap(ids: dict) -> None:
    first, second = list(ids)[2:4]
    ids[first], ids[second] = ids[second], ids[first]


MUTATIONS = {
    "normalizer": (lambda d: d.update(normalizer={"type": "Lowercase"}), '"normalizer" must be null'),
    "pre_tokenizer regex": (lambda d: d["pre_tokenizer"]["pattern"].update(Regex="(a+)+$"), '"pre_tokenizer" must be'),
    "pre_tokenizer type": (lambda d: d.update(pre_tokenizer={"type": "Whitespace"}), '"pre_tokenizer" must be'),
    "post_processor": (
        lambda d: d.update(
            post_processor={"type": "ByteLevel", "add_prefix_space": True, "trim_offsets": True, "use_regex": True}
        ),
        '"post_processor" must be null',
    ),
    "decoder": (
        lambda d: d.update(decoder={"type": "Replace", "pattern": {"Regex": "(a+)+$"}, "content": ""}),
        '"decoder" must be null',
    ),
    "truncation": (
        lambda d: d.update(truncation={"max_length": 1, "strategy": "LongestFirst", "stride": 0, "direction": "Right"}),
        '"truncation" must be null',
    ),
    "model type": (lambda d: d["model"].update(type="BPE"), '"model.type" must be "WordLevel"'),
    "unk token": (lambda d: d["model"].update(unk_token="<eos>"), '"model.unk_token" must be'),
    "extra model field": (lambda d: d["model"].update(dropout=0.5), '"model" must be an object with exactly'),
    "extra top-level field": (lambda d: d.update(comment="hi"), "top-level fields must be"),
    "missing field": (lambda d: d.pop("decoder"), "missing \\['decoder'\\]"),
    "version": (lambda d: d.update(version="2.0"), '"version" must be "1.0"'),
    "id beyond the embedding": (
        lambda d: d["model"]["vocab"].update({"zzz": 10**6}),
        "ids must be unique and exactly 0",
    ),
    "duplicate id": (lambda d: d["model"]["vocab"].update({"zzz": 3}), "ids must be unique and exactly 0"),
    "negative id": (lambda d: d["model"]["vocab"].update({"zzz": -1}), "ids must be unique and exactly 0"),
    "id as text": (lambda d: d["model"]["vocab"].update({"zzz": "7"}), "ids must be integers"),
    "id as bool": (lambda d: d["model"]["vocab"].update({"<eos>": True}), "ids must be integers"),
    "missing special": (lambda d: d["model"]["vocab"].pop("<eos>"), "special token '<eos>'"),
    "special not an added token": (
        lambda d: d.update(added_tokens=d["added_tokens"][:1]),
        '"added_tokens" must be exactly',
    ),
    "added token normalized": (
        lambda d: d["added_tokens"][0].update(normalized=True),
        '"added_tokens" must be exactly',
    ),
    "added token of another id": (lambda d: d["added_tokens"][1].update(id=7), '"added_tokens" must be exactly'),
}


@pytest.mark.parametrize("kind", list(MUTATIONS))
def test_every_field_other_than_what_we_write_is_refused_and_named(tmp_path, tiny_checkpoints, kind):
    mutate, message = MUTATIONS[kind]
    folder = copy_checkpoint(tiny_checkpoints["rnn"], str(tmp_path / "mutated"))
    edit_json(folder, "tokenizer.json", mutate)
    with pytest.raises(ValueError, match=message):
        WordTokenizer.load(os.path.join(folder, "tokenizer.json"))
    with pytest.raises(CheckpointError, match=message):
        inspect_checkpoint(folder)


def test_ids_beyond_the_embedding_are_refused_without_a_fingerprint(tmp_path, tiny_checkpoints):
    """Vocabulary size kept, one id moved past the embedding, and no tokenizer_sha256 to catch it."""
    folder = copy_checkpoint(tiny_checkpoints["gru"], str(tmp_path / "beyond"))
    edit_json(folder, "metrics.json", lambda metrics: metrics.pop("tokenizer_sha256"))

    def move(data):
        vocab = data["model"]["vocab"]
        last = max(vocab, key=vocab.get)
        vocab[last] = len(vocab) + 500

    edit_json(folder, "tokenizer.json", move)
    with pytest.raises(CheckpointError, match="ids must be unique and exactly 0"):
        load_checkpoint(folder)


def test_the_written_structure_passes_and_a_copy_of_it_is_not_changed(tiny_checkpoints):
    data = read_json(tiny_checkpoints["lstm"], "tokenizer.json")
    before = copy.deepcopy(data)
    vocab = check_tokenizer_json(data)
    assert data == before and len(vocab) == load_checkpoint(tiny_checkpoints["lstm"]).tokenizer.vocab_size


def _evil_tokenizer(tiny_checkpoints) -> WordTokenizer:
    """A WordTokenizer around a library tokenizer with the catastrophic normalizer (built in memory,
    past the file checks, to prove the boundary itself turns a panic into an error)."""
    raw = Tokenizer.from_file(os.path.join(tiny_checkpoints["lstm"], "tokenizer.json"))
    raw.normalizer = normalizers.Replace(Regex("(a+)+$"), "x")
    return WordTokenizer(raw)


@pytest.mark.slow
def test_a_panic_in_the_tokenizers_library_becomes_a_value_error(tiny_checkpoints):
    tokenizer = _evil_tokenizer(tiny_checkpoints)
    with pytest.raises(ValueError, match="The tokenizer library failed while tokenizing the text \\(a panic"):
        tokenizer.encode("a" * 25 + "b")
    with pytest.raises(ValueError, match="a panic"):
        tokenizer.encode_batch(["fine", "a" * 25 + "b"])


def test_the_view_guard_shows_a_panic_instead_of_letting_it_through(monkeypatch):
    import ui.widgets.guard as guard

    shown = []
    monkeypatch.setattr(guard.st, "error", lambda text, **kwargs: shown.append(text))
    panic = type("PanicException", (BaseException,), {})

    def render():
        raise panic("Onig: Regex search error: retry-limit-in-match over")

    assert guard.run_view("The Next word view", render) is False
    assert len(shown) == 1 and "PanicException" in shown[0] and "retry-limit-in-match over" in shown[0]
    with pytest.raises(KeyboardInterrupt):  # control flow still passes through
        guard.run_view("The Next word view", lambda: (_ for _ in ()).throw(KeyboardInterrupt()))
