"""The tokenizer.json format Memory Lab writes, and the check that a file is exactly that.

A tokenizer.json is a small program for the `tokenizers` library: normalizers and pre-tokenizers
run patterns of the file's choosing on every text. So a file is accepted only when its structure is
what data.tokenizer.WordTokenizer.save writes, field by field, and the refusal names the field.
Checked files are remembered by the sha256 of their text, so that many folders sharing one
vocabulary (the shipped trio, one Train-tab run) are parsed and fingerprinted once.
"""

from __future__ import annotations

import hashlib
import json
import os
import threading
from dataclasses import dataclass
from typing import Any

from data.echo import shown

UNK_TOKEN = "<unk>"
EOS_TOKEN = "<eos>"  # end of paragraph
SPECIAL_TOKENS = (UNK_TOKEN, EOS_TOKEN)
# A word is a run of letters, digits or underscores; anything else that is not
# white space (punctuation, emoji, zero-width marks) is a token of one character.
WORD_OR_SYMBOL_PATTERN = r"\w+|[^\w\s]"

# A tokenizer.json is trusted only when it is exactly what WordTokenizer.save writes: a
# WordLevel model, no normalizer, this Split pre-tokenizer, no post-processor or decoder, the
# two specials as added tokens. Anything else could run a pattern of the file's choosing on
# every text (a Replace normalizer with "(a+)+$" took 12 s per sentence and then panicked).
_EXPECTED_PRE_TOKENIZER = {
    "type": "Split",
    "pattern": {"Regex": WORD_OR_SYMBOL_PATTERN},
    "behavior": "Removed",
    "invert": True,
}
_TOP_LEVEL_FIELDS = (
    "version",
    "truncation",
    "padding",
    "added_tokens",
    "normalizer",
    "pre_tokenizer",
    "post_processor",
    "decoder",
    "model",
)
_NULL_FIELDS = ("truncation", "padding", "normalizer", "post_processor", "decoder")
_ADDED_TOKEN_FLAGS = {"single_word": False, "lstrip": False, "rstrip": False, "normalized": False, "special": True}
MAX_VOCAB_ENTRIES = 1_000_000  # the same bound as model/core/config.py's vocab_size
MAX_TOKENIZER_BYTES = 64 * 1024 * 1024  # a million entries of ordinary words fit in about 30 MB


def refuse(path: str | os.PathLike, problem: str) -> ValueError:
    """The error for a tokenizer.json that is not what Memory Lab writes: the path, the problem, the way out."""
    return ValueError(
        f"Could not read a tokenizer from {path}: {problem}. "
        "Expected a tokenizer.json written by Memory Lab (data.tokenizer.WordTokenizer.save); rebuild it with WordTokenizer.train."
    )


def _no_duplicate_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    # json keeps the last of two equal keys silently; a vocabulary with "the" twice is refused instead.
    value = dict(pairs)
    if len(value) != len(pairs):
        seen: set[str] = set()
        duplicated = next(key for key, _ in pairs if key in seen or seen.add(key))
        raise ValueError(f"the key {shown(duplicated)} appears twice in one object")
    return value


def _same_json(value: Any, expected: Any) -> bool:
    """JSON equality that also compares types: Python's ``==`` takes 0 for false and 1.0 for 1.

    The `tokenizers` library does not: a flag written as 0 passed ``==`` and then failed in its
    parser with a bare Exception, so the check here must be as strict as the parser.
    """
    if type(value) is not type(expected):
        return False
    if isinstance(expected, dict):
        return value.keys() == expected.keys() and all(_same_json(value[key], expected[key]) for key in expected)
    if isinstance(expected, list):
        return len(value) == len(expected) and all(map(_same_json, value, expected))
    return value == expected


def vocab_fingerprint(vocab: dict[str, int]) -> str:
    """sha256 of a vocabulary (token -> id), the same value as :meth:`WordTokenizer.fingerprint`."""
    ordered = sorted(vocab.items(), key=lambda item: item[1])
    return hashlib.sha256(json.dumps(ordered, ensure_ascii=False).encode("utf-8")).hexdigest()


def check_tokenizer_json(data: Any, path: str | os.PathLike = "tokenizer.json") -> dict[str, int]:
    """Check a parsed tokenizer.json against what :meth:`WordTokenizer.save` writes; return its vocabulary.

    Args:
        data: the parsed JSON.
        path: named in the messages.

    Returns:
        The vocabulary, token -> id (ids unique and exactly 0 .. n-1).

    Raises:
        ValueError: naming the first field that differs ("Could not read a tokenizer from PATH: ...").
    """
    if not isinstance(data, dict):
        raise refuse(path, f"it must hold a JSON object; got {type(data).__name__}")
    extra, missing = (
        sorted(set(data) - set(_TOP_LEVEL_FIELDS)),
        [name for name in _TOP_LEVEL_FIELDS if name not in data],
    )
    if extra or missing:
        raise refuse(
            path,
            f"its top-level fields must be {list(_TOP_LEVEL_FIELDS)}; missing {missing}, unexpected {shown(extra)}",
        )
    if not _same_json(data["version"], "1.0"):
        raise refuse(path, f'"version" must be "1.0"; got {shown(data["version"])}')
    for name in _NULL_FIELDS:
        if data[name] is not None:
            raise refuse(path, f'"{name}" must be null (a Memory Lab tokenizer has none); got {shown(data[name])}')
    if not _same_json(data["pre_tokenizer"], _EXPECTED_PRE_TOKENIZER):
        raise refuse(
            path, f'"pre_tokenizer" must be {json.dumps(_EXPECTED_PRE_TOKENIZER)}; got {shown(data["pre_tokenizer"])}'
        )
    model = data["model"]
    if not isinstance(model, dict) or sorted(model) != ["type", "unk_token", "vocab"]:
        raise refuse(
            path, f'"model" must be an object with exactly "type", "vocab" and "unk_token"; got {shown(model)}'
        )
    if model["type"] != "WordLevel":
        raise refuse(path, f'"model.type" must be "WordLevel"; got {shown(model["type"])}')
    if model["unk_token"] != UNK_TOKEN:
        raise refuse(path, f'"model.unk_token" must be {UNK_TOKEN!r}; got {shown(model["unk_token"])}')
    vocab = model["vocab"]
    if not isinstance(vocab, dict):
        raise refuse(path, f'"model.vocab" must be an object of token -> id; got {type(vocab).__name__}')
    if len(vocab) > MAX_VOCAB_ENTRIES:
        raise refuse(path, f'"model.vocab" has {len(vocab):,} entries; at most {MAX_VOCAB_ENTRIES:,} are allowed')
    for special in SPECIAL_TOKENS:
        if special not in vocab:
            raise refuse(
                path,
                f'"model.vocab" must contain the special token {special!r}; this one has {len(vocab)} entries without it',
            )
    if set(map(type, vocab.values())) != {
        int
    }:  # a C-speed scan; json gives exactly int for integers (bool is not int here)
        token, index = next((token, index) for token, index in vocab.items() if type(index) is not int)
        raise refuse(path, f'"model.vocab" ids must be integers; {shown(token)} has {shown(index)}')
    ids = set(vocab.values())
    if len(ids) != len(vocab) or min(ids) != 0 or max(ids) != len(vocab) - 1:
        raise refuse(
            path,
            f'"model.vocab" ids must be unique and exactly 0 .. {len(vocab) - 1} (one row of the embedding each); '
            f"got {len(ids)} distinct ids from {min(ids)} to {max(ids)}",
        )
    expected_added = sorted(
        (dict(_ADDED_TOKEN_FLAGS, id=vocab[special], content=special) for special in SPECIAL_TOKENS),
        key=lambda entry: entry["id"],
    )
    if not _same_json(data["added_tokens"], expected_added):
        raise refuse(
            path,
            f'"added_tokens" must be exactly the specials {json.dumps(expected_added)}; got {shown(data["added_tokens"])}',
        )
    return vocab


@dataclass(frozen=True)
class CheckedTokenizerFile:
    """A tokenizer.json that passed :func:`check_tokenizer_json`.

    Attributes:
        text: the file's text (what :meth:`WordTokenizer.from_checked_json` builds from).
        vocab_size: entries of its vocabulary.
        fingerprint: :func:`vocab_fingerprint` of its vocabulary.
    """

    text: str
    vocab_size: int
    fingerprint: str


# Checked files by the sha256 of their text: the same vocabulary in many folders (the shipped trio, the
# models of one Train-tab run, copies) is parsed and fingerprinted once. Bounded; oldest dropped first.
_CHECKED: dict[str, tuple[int, str]] = {}
_CHECKED_LIMIT = 256
_CHECKED_LOCK = threading.Lock()


def forget_checked_files() -> None:
    """Empty the memo of checked tokenizer files (for benches that measure a cold start)."""
    with _CHECKED_LOCK:
        _CHECKED.clear()


def read_tokenizer_json(path: str | os.PathLike) -> CheckedTokenizerFile:
    """Read and check a tokenizer.json without building a tokenizer.

    Raises:
        ValueError: missing, too large, not JSON, nested too deeply, or not what Memory Lab writes.
    """
    try:
        size = os.path.getsize(path)
        if size > MAX_TOKENIZER_BYTES:
            raise refuse(path, f"the file has {size:,} bytes; at most {MAX_TOKENIZER_BYTES:,} are read")
        with open(path, encoding="utf-8") as stream:
            text = stream.read()
    except OSError as error:
        raise refuse(path, f"{type(error).__name__}: {error.strerror or error}") from error
    except UnicodeDecodeError as error:
        raise refuse(path, f"it is not UTF-8 text (byte {error.start}: {error.reason})") from error
    digest = hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()
    known = _CHECKED.get(digest)
    if known is not None:
        return CheckedTokenizerFile(text, *known)
    try:
        data = json.loads(text, object_pairs_hook=_no_duplicate_keys)
    except RecursionError:
        raise refuse(path, "its JSON is nested too deeply") from None
    except ValueError as error:  # JSONDecodeError, a duplicate key, an integer of more than 4300 digits
        raise refuse(path, f"it is not valid JSON ({shown(str(error), 160)})") from error
    vocab = check_tokenizer_json(data, path)
    facts = (len(vocab), vocab_fingerprint(vocab))
    with _CHECKED_LOCK:  # the app's sessions discover in several threads
        if len(_CHECKED) >= _CHECKED_LIMIT:
            _CHECKED.pop(next(iter(_CHECKED)))
        _CHECKED[digest] = facts
    return CheckedTokenizerFile(text, *facts)
