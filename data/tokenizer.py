"""A word-level tokenizer built on HuggingFace `tokenizers`.

Words keep their case (so "Robert" stays a name) and every punctuation mark
becomes its own token ("Robert," -> "Robert", ","). The vocabulary is built
from the training split only; rarer words map to ``<unk>``. Offsets are
character positions in the caller's original string, so a view can colour the
user's own words.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from typing import Callable, Iterable, Iterator, TypeVar

from tokenizers import Regex, Tokenizer, models, pre_tokenizers, trainers

from data.echo import shown
from data.files import write_atomic
from data.tokenizer_format import (  # noqa: F401 - re-exported: the format's names are part of this module's API
    EOS_TOKEN,
    MAX_TOKENIZER_BYTES,
    MAX_VOCAB_ENTRIES,
    SPECIAL_TOKENS,
    UNK_TOKEN,
    WORD_OR_SYMBOL_PATTERN,
    CheckedTokenizerFile,
    check_tokenizer_json,
    forget_checked_files,
    read_tokenizer_json,
    refuse,
    vocab_fingerprint,
)

_WORD_OR_SYMBOL = Regex(WORD_OR_SYMBOL_PATTERN)
# Longer paragraphs are tokenized in pieces cut at a space, tab or newline: tokens
# never span white space, so the ids are the same, and the `tokenizers` library's
# per-call buffers stay small (one 50 MB line tokenized whole took 8 GB, about
# 800 bytes a token); pieces are encoded a few at a time.
_PIECE_CHARS = 1 << 16
_PIECES_PER_CALL = 16
_PIECE_CUT = re.compile(r"[ \t\n]")

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
            raise refuse(path, shown(str(error), 160)) from error
        return cls(tokenizer)

    def save(self, path: str | os.PathLike) -> None:
        """Write tokenizer.json atomically (data.files.write_atomic)."""
        write_atomic(os.fspath(path), self._tokenizer.save, ".json")

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
        return guarded(
            lambda: self._tokenizer.encode_batch(texts, add_special_tokens=False), "tokenizing a batch of texts"
        )

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
