"""A word-level tokenizer built on HuggingFace `tokenizers`.

Words keep their case (so "Robert" stays a name) and every punctuation mark
becomes its own token ("Robert," -> "Robert", ","). The vocabulary is built
from the training split only; rarer words map to ``<unk>``. Offsets are
character positions in the caller's original string, so a view can colour the
user's own words.
"""
from __future__ import annotations

import hashlib
import json
import os
import re
import tempfile
import threading
from dataclasses import dataclass
from typing import Any, Callable, Iterable, Iterator, TypeVar

from tokenizers import Regex, Tokenizer, models, pre_tokenizers, trainers

from data.echo import shown
from data.file_modes import give_usual_mode

UNK_TOKEN = "<unk>"
EOS_TOKEN = "<eos>"  # end of paragraph
SPECIAL_TOKENS = (UNK_TOKEN, EOS_TOKEN)

# A word is a run of letters, digits or underscores; anything else that is not
# white space (punctuation, emoji, zero-width marks) is a token of one character.
_WORD_OR_SYMBOL = Regex(r"\w+|[^\w\s]")
# Longer paragraphs are tokenized in pieces cut at a space, tab or newline: tokens
# never span white space, so the ids are the same, and the `tokenizers` library's
# per-call buffers stay small (one 50 MB line tokenized whole took 8 GB, about
# 800 bytes a token); pieces are encoded a few at a time.
_PIECE_CHARS = 1 << 16
_PIECES_PER_CALL = 16
_PIECE_CUT = re.compile(r"[ \t\n]")

# A tokenizer.json is trusted only when it is exactly what WordTokenizer.save writes: a
# WordLevel model, no normalizer, this Split pre-tokenizer, no post-processor or decoder, the
# two specials as added tokens. Anything else could run a pattern of the file's choosing on
# every text (a Replace normalizer with "(a+)+$" took 12 s per sentence and then panicked).
_WORD_OR_SYMBOL_PATTERN = r"\w+|[^\w\s]"
_EXPECTED_PRE_TOKENIZER = {"type": "Split", "pattern": {"Regex": _WORD_OR_SYMBOL_PATTERN}, "behavior": "Removed", "invert": True}
_TOP_LEVEL_FIELDS = ("version", "truncation", "padding", "added_tokens", "normalizer", "pre_tokenizer", "post_processor", "decoder", "model")
_NULL_FIELDS = ("truncation", "padding", "normalizer", "post_processor", "decoder")
_ADDED_TOKEN_FLAGS = {"single_word": False, "lstrip": False, "rstrip": False, "normalized": False, "special": True}
MAX_VOCAB_ENTRIES = 1_000_000  # the same bound as model/config.py's vocab_size
MAX_TOKENIZER_BYTES = 64 * 1024 * 1024  # a million entries of ordinary words fit in about 30 MB

_Result = TypeVar("_Result")


def guarded(call: Callable[[], _Result], what: str) -> _Result:
    """Run one call into the `tokenizers` library; a Rust panic comes back as ValueError.

    pyo3 raises ``pyo3_runtime.PanicException``, a BaseException: it slips past every
    ``except Exception`` (the app's view guard included), so it is turned into an ordinary error here.
    """
    try:
        return call()
    except (KeyboardInterrupt, SystemExit, GeneratorExit):
        raise
    except BaseException as error:  # noqa: BLE001 - only the panic is converted, the rest re-raised
        if type(error).__name__ != "PanicException":
            raise
        first_line = (str(error).strip().splitlines() or ["no message"])[0]
        raise ValueError(
            f"The tokenizer library failed while {what} (a panic: {shown(first_line)}). "
            "Try another text; if it happens for every text, the tokenizer.json is damaged: copy the original back."
        ) from error


def _refuse(path: str | os.PathLike, problem: str) -> ValueError:
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
        raise _refuse(path, f"it must hold a JSON object; got {type(data).__name__}")
    extra, missing = sorted(set(data) - set(_TOP_LEVEL_FIELDS)), [name for name in _TOP_LEVEL_FIELDS if name not in data]
    if extra or missing:
        raise _refuse(path, f"its top-level fields must be {list(_TOP_LEVEL_FIELDS)}; missing {missing}, unexpected {shown(extra)}")
    if data["version"] != "1.0":
        raise _refuse(path, f'"version" must be "1.0"; got {shown(data["version"])}')
    for name in _NULL_FIELDS:
        if data[name] is not None:
            raise _refuse(path, f'"{name}" must be null (a Memory Lab tokenizer has none); got {shown(data[name])}')
    if data["pre_tokenizer"] != _EXPECTED_PRE_TOKENIZER:
        raise _refuse(path, f'"pre_tokenizer" must be {json.dumps(_EXPECTED_PRE_TOKENIZER)}; got {shown(data["pre_tokenizer"])}')
    model = data["model"]
    if not isinstance(model, dict) or sorted(model) != ["type", "unk_token", "vocab"]:
        raise _refuse(path, f'"model" must be an object with exactly "type", "vocab" and "unk_token"; got {shown(model)}')
    if model["type"] != "WordLevel":
        raise _refuse(path, f'"model.type" must be "WordLevel"; got {shown(model["type"])}')
    if model["unk_token"] != UNK_TOKEN:
        raise _refuse(path, f'"model.unk_token" must be {UNK_TOKEN!r}; got {shown(model["unk_token"])}')
    vocab = model["vocab"]
    if not isinstance(vocab, dict):
        raise _refuse(path, f'"model.vocab" must be an object of token -> id; got {type(vocab).__name__}')
    if len(vocab) > MAX_VOCAB_ENTRIES:
        raise _refuse(path, f'"model.vocab" has {len(vocab):,} entries; at most {MAX_VOCAB_ENTRIES:,} are allowed')
    for special in SPECIAL_TOKENS:
        if special not in vocab:
            raise _refuse(path, f'"model.vocab" must contain the special token {special!r}; this one has {len(vocab)} entries without it')
    if set(map(type, vocab.values())) != {int}:  # a C-speed scan; json gives exactly int for integers (bool is not int here)
        token, index = next((token, index) for token, index in vocab.items() if type(index) is not int)
        raise _refuse(path, f'"model.vocab" ids must be integers; {shown(token)} has {shown(index)}')
    ids = set(vocab.values())
    if len(ids) != len(vocab) or min(ids) != 0 or max(ids) != len(vocab) - 1:
        raise _refuse(
            path, f'"model.vocab" ids must be unique and exactly 0 .. {len(vocab) - 1} (one row of the embedding each); '
                  f"got {len(ids)} distinct ids from {min(ids)} to {max(ids)}"
        )
    expected_added = sorted(
        (dict(_ADDED_TOKEN_FLAGS, id=vocab[special], content=special) for special in SPECIAL_TOKENS), key=lambda entry: entry["id"]
    )
    if data["added_tokens"] != expected_added:
        raise _refuse(path, f'"added_tokens" must be exactly the specials {json.dumps(expected_added)}; got {shown(data["added_tokens"])}')
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
            raise _refuse(path, f"the file has {size:,} bytes; at most {MAX_TOKENIZER_BYTES:,} are read")
        with open(path, encoding="utf-8") as stream:
            text = stream.read()
    except OSError as error:
        raise _refuse(path, f"{type(error).__name__}: {error.strerror or error}") from error
    except UnicodeDecodeError as error:
        raise _refuse(path, f"it is not UTF-8 text (byte {error.start}: {error.reason})") from error
    digest = hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()
    known = _CHECKED.get(digest)
    if known is not None:
        return CheckedTokenizerFile(text, *known)
    try:
        data = json.loads(text, object_pairs_hook=_no_duplicate_keys)
    except RecursionError:
        raise _refuse(path, "its JSON is nested too deeply") from None
    except ValueError as error:  # JSONDecodeError, a duplicate key, an integer of more than 4300 digits
        raise _refuse(path, f"it is not valid JSON ({shown(str(error), 160)})") from error
    vocab = check_tokenizer_json(data, path)
    facts = (len(vocab), vocab_fingerprint(vocab))
    with _CHECKED_LOCK:  # the app's sessions discover in several threads
        if len(_CHECKED) >= _CHECKED_LIMIT:
            _CHECKED.pop(next(iter(_CHECKED)))
        _CHECKED[digest] = facts
    return CheckedTokenizerFile(text, *facts)


def whitespace_pieces(text: str, size: int = _PIECE_CHARS) -> Iterator[str]:
    """Cut ``text`` at white space into pieces of about ``size`` characters (the text itself if shorter).

    Args:
        text: any text.
        size: a piece ends at the first space, tab or newline at or after this many characters.

    Yields:
        Consecutive pieces whose concatenation is ``text``.
    """
    start = 0
    while len(text) - start > size:
        cut = _PIECE_CUT.search(text, start + size)
        if cut is None:
            break
        yield text[start : cut.start()]
        start = cut.start()
    yield text[start:]


@dataclass(frozen=True)
class Encoded:
    """One text, tokenized.

    Attributes:
        tokens: the surface form of each token, as typed.
        ids: vocabulary id of each token (``unk_id`` for unknown words).
        offsets: (start, end) character span of each token in the original text.
        unknown: True where the token is not in the vocabulary.
    """

    tokens: list[str]
    ids: list[int]
    offsets: list[tuple[int, int]]
    unknown: list[bool]

    def __len__(self) -> int:
        return len(self.ids)

    @property
    def unknown_words(self) -> list[str]:
        """The distinct unknown tokens, in order of first appearance."""
        seen: dict[str, None] = {}
        for token, is_unknown in zip(self.tokens, self.unknown):
            if is_unknown:
                seen.setdefault(token, None)
        return list(seen)


def _pre_tokenizer() -> pre_tokenizers.PreTokenizer:
    # invert=True keeps the matches (words, symbols) and drops what lies between (spaces).
    return pre_tokenizers.Split(_WORD_OR_SYMBOL, behavior="removed", invert=True)


class WordTokenizer:
    """Word-level tokenizer with ``<unk>`` and an end-of-paragraph token ``<eos>``.

    Ids are ordered by training frequency (specials first), which the adaptive
    softmax relies on: its cut-offs split the vocabulary by id.

    Example:
        >>> tok = WordTokenizer.train(["Mr. Robert is here.", "Robert left."], min_frequency=1)
        >>> tok.encode("Robert,").tokens
        ['Robert', ',']
    """

    def __init__(self, tokenizer: Tokenizer) -> None:
        vocab = tokenizer.get_vocab()
        for special in SPECIAL_TOKENS:
            if special not in vocab:
                raise ValueError(
                    f"A Memory Lab tokenizer must contain the special token {special!r}; "
                    f"this one has {len(vocab)} entries without it. Rebuild it with WordTokenizer.train."
                )
        self._tokenizer = tokenizer
        self.unk_id: int = vocab[UNK_TOKEN]
        self.eos_id: int = vocab[EOS_TOKEN]

    # ----------------------------------------------------------------- building
    @classmethod
    def train(
        cls,
        texts: Iterable[str],
        min_frequency: int = 3,
        max_size: int | None = None,
    ) -> "WordTokenizer":
        """Build the vocabulary from an iterable of training texts.

        Args:
            texts: training paragraphs (the training split only).
            min_frequency: words seen fewer times become ``<unk>``.
            max_size: keep at most this many entries, specials included.
        """
        if min_frequency < 1:
            raise ValueError(f"min_frequency must be at least 1; got {min_frequency}.")
        if max_size is not None and max_size < len(SPECIAL_TOKENS) + 1:
            raise ValueError(f"max_size must be at least {len(SPECIAL_TOKENS) + 1}; got {max_size}.")
        tokenizer = Tokenizer(models.WordLevel(unk_token=UNK_TOKEN))
        tokenizer.pre_tokenizer = _pre_tokenizer()
        trainer = trainers.WordLevelTrainer(
            vocab_size=max_size if max_size is not None else 1 << 30,
            min_frequency=min_frequency,
            special_tokens=list(SPECIAL_TOKENS),
            show_progress=False,
        )
        tokenizer.train_from_iterator((piece for text in texts for piece in whitespace_pieces(text)), trainer=trainer)
        return cls(tokenizer)

    @classmethod
    def load(cls, path: str | os.PathLike) -> "WordTokenizer":
        """Load a tokenizer.json written by :meth:`save`; anything else is refused.

        Raises:
            ValueError: naming the field that differs from what :meth:`save` writes
                (see :func:`check_tokenizer_json`), or what made the file unreadable.
        """
        return cls.from_checked_json(read_tokenizer_json(path).text, path)

    @classmethod
    def from_checked_json(cls, text: str, path: str | os.PathLike = "tokenizer.json") -> "WordTokenizer":
        """The tokenizer of a tokenizer.json text that :func:`read_tokenizer_json` has returned (and so checked).

        Raises:
            ValueError: when the `tokenizers` library still refuses it (named with ``path``).
        """
        try:
            tokenizer = guarded(lambda: Tokenizer.from_str(text), f"reading {path}")
        except ValueError:
            raise
        except Exception as error:  # tokenizers raises a bare Exception on what its parser refuses
            raise _refuse(path, shown(str(error), 160)) from error
        return cls(tokenizer)

    def save(self, path: str | os.PathLike) -> None:
        """Write tokenizer.json atomically (temporary file, then os.replace)."""
        directory = os.path.dirname(os.path.abspath(path))
        handle, temporary = tempfile.mkstemp(dir=directory, prefix=".tokenizer-", suffix=".json")
        os.close(handle)
        try:
            self._tokenizer.save(temporary)
            give_usual_mode(temporary)  # mkstemp's 0600 would make the checkpoint unreadable to others
            os.replace(temporary, path)
        finally:
            if os.path.exists(temporary):
                os.remove(temporary)

    # ----------------------------------------------------------------- using
    @property
    def vocab_size(self) -> int:
        return self._tokenizer.get_vocab_size()

    def token_to_id(self, token: str) -> int | None:
        """The id of ``token``, or None if it is not in the vocabulary."""
        return self._tokenizer.token_to_id(token)

    def id_to_token(self, index: int) -> str:
        token = self._tokenizer.id_to_token(index)
        if token is None:
            raise IndexError(f"Token id must be in [0, {self.vocab_size}); got {index}.")
        return token

    def encode(self, text: str) -> Encoded:
        """Tokenize one text, keeping character offsets into ``text``."""
        encoding = guarded(lambda: self._tokenizer.encode(text, add_special_tokens=False), "tokenizing the text")
        return self._wrap(text, encoding)

    def encode_batch(self, texts: list[str]) -> list[Encoded]:
        encodings = self._encode_batch(texts)
        return [self._wrap(text, enc) for text, enc in zip(texts, encodings)]

    def _encode_batch(self, texts: list[str]) -> list:
        return guarded(lambda: self._tokenizer.encode_batch(texts, add_special_tokens=False), "tokenizing a batch of texts")

    def _wrap(self, text: str, encoding) -> Encoded:
        offsets = [tuple(span) for span in encoding.offsets]
        # Surface forms come from the caller's text, not the vocabulary, so an
        # unknown word still shows as typed.
        tokens = [text[start:end] for start, end in offsets]
        unknown = [index == self.unk_id for index in encoding.ids]
        return Encoded(tokens=tokens, ids=list(encoding.ids), offsets=offsets, unknown=unknown)

    def iter_ids(self, paragraphs: Iterable[str], batch_size: int = 2048) -> Iterator[list[int]]:
        """Ids of each paragraph followed by ``<eos>``; fast batched encoding for corpora."""
        chunk: list[str] = []
        for paragraph in paragraphs:
            if len(paragraph) > _PIECE_CHARS:
                if chunk:
                    yield from self._ids_with_eos(chunk)
                    chunk = []
                yield self._long_paragraph_ids(paragraph) + [self.eos_id]
                continue
            chunk.append(paragraph)
            if len(chunk) == batch_size:
                yield from self._ids_with_eos(chunk)
                chunk = []
        if chunk:
            yield from self._ids_with_eos(chunk)

    def _long_paragraph_ids(self, paragraph: str) -> list[int]:
        ids: list[int] = []
        pieces: list[str] = []
        for piece in whitespace_pieces(paragraph):
            pieces.append(piece)
            if len(pieces) == _PIECES_PER_CALL:
                ids.extend(i for encoding in self._encode_batch(pieces) for i in encoding.ids)
                pieces = []
        ids.extend(i for encoding in self._encode_batch(pieces) for i in encoding.ids)
        return ids

    def _ids_with_eos(self, chunk: list[str]) -> Iterator[list[int]]:
        for encoding in self._encode_batch(chunk):
            yield list(encoding.ids) + [self.eos_id]

    def fingerprint(self) -> str:
        """sha256 of the vocabulary, so a checkpoint can prove its tokenizer matches."""
        return vocab_fingerprint(self._tokenizer.get_vocab())
