"""Turn an uploaded file into a training corpus, refusing what is not text with a clear reason."""

from __future__ import annotations

import hashlib
import os
import unicodedata

from data.corpus import Corpus, split_paragraphs

MAX_UPLOAD_MB = 20
MIN_WORDS = 200
CHUNK_WORDS = 60
MAX_NAME_CHARACTERS = 80


def display_name(file_name: str) -> str:
    """The uploaded file's name as messages and metrics.json show it: its last path part, without
    control, format (bidi overrides, zero-width) or line-break characters, at most 80 characters.

    The browser chooses this name, so it is the user's text: every view still escapes it (ui/widgets/markup.py);
    this only keeps it to one readable line.
    """
    base = os.path.basename(str(file_name).replace("\\", "/"))
    kept = "".join(
        " " if unicodedata.category(c) in ("Zl", "Zp") or c in "\r\n\t" else c
        for c in base
        if unicodedata.category(c) not in ("Cc", "Cf", "Cs", "Co", "Cn") or c in "\r\n\t"
    )
    kept = " ".join(kept.split()) or "uploaded.txt"
    return kept if len(kept) <= MAX_NAME_CHARACTERS else kept[: MAX_NAME_CHARACTERS - 1] + "…"


def decode_text(data: bytes, file_name: str) -> str:
    """UTF-8 text from uploaded bytes.

    Raises:
        ValueError: for an empty, binary or non-UTF-8 file, saying what to do instead.
    """
    if not data:
        raise ValueError(f"{file_name} is empty. Upload a plain-text (.txt) file with some pages of prose in it.")
    if b"\x00" in data[: 1 << 16]:
        raise ValueError(
            f"{file_name} looks like a binary file (it contains zero bytes), not text. Upload a plain UTF-8 .txt file."
        )
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as error:
        raise ValueError(
            f"{file_name} is not UTF-8 text (byte {error.start}: {error.reason}). Save it as UTF-8 plain text and upload it again."
        ) from error


def _pieces(text: str) -> list[str]:
    """Paragraphs; a text without blank lines is cut into chunks of about CHUNK_WORDS words instead."""
    paragraphs = split_paragraphs(text)
    if len(paragraphs) >= 10:
        return paragraphs
    words = text.split()
    return [" ".join(words[start : start + CHUNK_WORDS]) for start in range(0, len(words), CHUNK_WORDS)]


def corpus_from_upload(data: bytes, file_name: str) -> Corpus:
    """A corpus from an uploaded text: the last tenth of its paragraphs is held out for validation.

    Args:
        data: the file's bytes.
        file_name: shown in messages and used as the corpus name.

    Returns:
        A :class:`data.corpus.Corpus` with "train" and "valid" splits.

    Raises:
        ValueError: when the file is not usable text or holds fewer than MIN_WORDS words.
    """
    file_name = display_name(file_name)
    if len(data) > MAX_UPLOAD_MB * 1024 * 1024:
        raise ValueError(f"{file_name} is larger than {MAX_UPLOAD_MB} MB; upload a smaller excerpt.")
    text = decode_text(data, file_name)
    words = len(text.split())
    if words < MIN_WORDS:
        raise ValueError(
            f"{file_name} has only {words} words; a language model needs at least {MIN_WORDS} (a few pages) to learn anything."
        )
    if sum(character.isalpha() for character in text) < len(text) * 0.3:
        raise ValueError(f"{file_name} is mostly not letters (numbers, symbols or markup); upload prose.")
    pieces = _pieces(text)
    held_out = max(1, len(pieces) // 10)
    splits = {"train": pieces[:-held_out], "valid": pieces[-held_out:]}
    name = os.path.splitext(file_name)[0] or "uploaded"
    digest = hashlib.sha256(data).hexdigest()
    return Corpus(name=f"uploaded: {name}", splits=splits, files={"train": {"path": file_name, "sha256": digest}})
