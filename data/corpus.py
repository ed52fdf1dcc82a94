"""Load a text corpus as paragraphs, with HuggingFace `datasets`.

Two sources:

* local files: ``--train/--valid/--test`` paths, or one folder holding
  train.txt, valid.txt and test.txt;
* a hub dataset by name (``--dataset wikitext --dataset-config wikitext-2-raw-v1``),
  for users who are online.

Paragraphs are separated by empty lines. Offline (``HF_HUB_OFFLINE=1`` or
``HF_DATASETS_OFFLINE=1``) a hub name fails at once with a message that says to
pass local files instead.
"""

from __future__ import annotations

import codecs
import hashlib
import os
import re
from dataclasses import dataclass, field

SPLITS = ("train", "valid", "test")
_BLANK_LINE = re.compile(r"\n\s*\n")


@dataclass
class Corpus:
    """Paragraphs per split, and where they came from.

    Attributes:
        name: a readable name (the folder, the file or the hub id).
        splits: split name -> list of paragraphs (each non-empty, one line).
        files: split name -> {"path", "sha256"} for local files.
    """

    name: str
    splits: dict[str, list[str]]
    files: dict[str, dict[str, str]] = field(default_factory=dict)


def sha256_file(path: str | os.PathLike) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def file_record(paths: str | list[str]) -> dict:
    """What metrics.json records of one split's file(s): path(s) and a sha256 of the content.

    One file: ``{"path", "sha256"}``, the file's own digest. Several files (read in order, each
    its own paragraphs): ``{"paths", "sha256s", "sha256"}``, the last a digest of the per-file
    digests, so a changed, added or reordered file changes it.
    """
    if isinstance(paths, str):
        return {"path": os.path.abspath(paths), "sha256": sha256_file(paths)}
    digests = [sha256_file(path) for path in paths]
    combined = hashlib.sha256("\n".join(digests).encode()).hexdigest()
    return {"paths": [os.path.abspath(path) for path in paths], "sha256s": digests, "sha256": combined}


def split_paragraphs(text: str) -> list[str]:
    """Empty lines separate paragraphs; lines inside one are joined with a space."""
    paragraphs = []
    for block in _BLANK_LINE.split(text.replace("\r\n", "\n").replace("\r", "\n")):
        paragraph = " ".join(line.strip() for line in block.split("\n") if line.strip())
        if paragraph:
            paragraphs.append(paragraph)
    return paragraphs


def _check_text_file(path: str) -> None:
    """Raise a clear error for a missing, empty, binary or non-UTF-8 file (the whole file is checked)."""
    if not os.path.isfile(path):
        raise FileNotFoundError(f"Corpus file not found: {path}. Pass an existing text file.")
    if os.path.getsize(path) == 0:
        raise ValueError(f"The corpus file {path} is empty. Pass a file with words in it, or leave that split out.")
    # Read in blocks with an incremental decoder: a stray byte deep in a large
    # file would otherwise surface later as an opaque `datasets` error.
    decoder = codecs.getincrementaldecoder("utf-8")()
    position = 0
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            nul = block.find(b"\x00")
            if nul >= 0:
                raise ValueError(
                    f"{path} looks binary (it contains NUL bytes, first at byte {position + nul}); a corpus must be UTF-8 text."
                )
            try:
                decoder.decode(block)
            except UnicodeDecodeError as error:
                raise ValueError(
                    f"{path} is not UTF-8 text (byte {position + error.start}: {error.reason}). "
                    "Convert it first, e.g. `iconv -f latin1 -t utf-8`."
                ) from error
            position += len(block)
    try:
        decoder.decode(b"", final=True)
    except UnicodeDecodeError as error:
        raise ValueError(
            f"{path} is not UTF-8 text (it ends inside a multi-byte character: {error.reason})."
        ) from error


def local_paths(
    train: str | list[str] | None = None,
    valid: str | list[str] | None = None,
    test: str | list[str] | None = None,
    folder: str | None = None,
) -> tuple[str, dict[str, str | list[str]]]:
    """Which files make the corpus, each checked to be non-empty UTF-8 text.

    Args:
        train, valid, test: a path to a text file, or a list of them read in order (e.g. two
            corpora trained on together); valid and test are optional.
        folder: a folder holding train.txt (and optionally valid.txt, test.txt);
            used instead of the separate paths.

    Returns:
        (a readable corpus name, split -> path, or a list of paths for a split of several files).
    """
    if folder is not None:
        if not os.path.isdir(folder):
            raise FileNotFoundError(
                f"Corpus folder not found: {folder}. It must hold train.txt (and valid.txt, test.txt)."
            )
        found = {split: os.path.join(folder, f"{split}.txt") for split in SPLITS}
        paths = {split: path for split, path in found.items() if os.path.isfile(path)}
        name = os.path.basename(os.path.normpath(folder))
    else:
        paths = {split: _one_or_list(path) for split, path in zip(SPLITS, (train, valid, test)) if path}
        name = _corpus_name(paths["train"]) if "train" in paths else ""
    if "train" not in paths:
        raise ValueError("A corpus needs a training file: pass --train PATH or a folder holding train.txt.")
    for split_paths in paths.values():
        for path in [split_paths] if isinstance(split_paths, str) else split_paths:
            _check_text_file(path)
    return name, paths


def _one_or_list(paths: str | list[str]) -> str | list[str]:
    """A single path stays a string; a list of one path becomes that path."""
    if isinstance(paths, str):
        return paths
    paths = list(paths)
    return paths[0] if len(paths) == 1 else paths


def _corpus_name(paths: str | list[str]) -> str:
    """The training file's name without extension ("book.txt" -> "book"); a file named after its split takes its
    folder's name ("novels/train.txt" -> "novels"); several files join their names with '+' ("novels+library")."""
    paths = [paths] if isinstance(paths, str) else list(paths)
    stems = [os.path.splitext(os.path.basename(path))[0] for path in paths]
    if len(set(stems)) < len(stems) or all(stem in ("train", "valid", "test") for stem in stems):
        stems = [os.path.basename(os.path.dirname(os.path.abspath(path))) or stem for path, stem in zip(paths, stems)]
    return "+".join(stems)


def load_text_dataset(paths: dict[str, str]):
    """The files as a `datasets` DatasetDict (Arrow, cached on disk), one sample per "\n\n" block.

    Args:
        paths: split -> checked text file (see :func:`local_paths`).

    Returns:
        datasets.DatasetDict with a "text" column per split; a sample may still hold several
        paragraphs (split them with :func:`split_paragraphs`).
    """
    from datasets import load_dataset  # imported late: HF_* offline flags must be set first

    return load_dataset("text", data_files=paths, sample_by="paragraph", cache_dir=_cache_dir())


def load_local(
    train: str | None = None,
    valid: str | None = None,
    test: str | None = None,
    folder: str | None = None,
) -> Corpus:
    """Load local text files through the `datasets` "text" builder.

    Args:
        train, valid, test: paths to text files; valid and test are optional.
        folder: a folder holding train.txt (and optionally valid.txt, test.txt);
            used instead of the separate paths.

    Returns:
        A :class:`Corpus` with a sha256 of each file.
    """
    name, paths = local_paths(train, valid, test, folder)
    dataset = load_text_dataset(paths)
    splits = {split: [p for text in dataset[split]["text"] for p in split_paragraphs(text)] for split in paths}
    for split, paragraphs in splits.items():
        if not paragraphs:
            raise ValueError(f"The {split} file {paths[split]} holds no text. Pass a file with words in it.")
    files = {split: file_record(split_paths) for split, split_paths in paths.items()}
    return Corpus(name=name, splits=splits, files=files)


def _cache_dir() -> str | None:
    return os.environ.get("MEMORY_LAB_DATASETS_CACHE")


def hub_offline() -> bool:
    return any(
        os.environ.get(flag, "").strip().lower() in {"1", "true", "yes", "on"}
        for flag in ("HF_HUB_OFFLINE", "HF_DATASETS_OFFLINE")
    )


def load_hub(name: str, config: str | None = None) -> Corpus:
    """Load a hub dataset with a "text" column and train/validation/test splits.

    Raises:
        ConnectionError: at once when the hub is switched off (offline flags).
    """
    if hub_offline():
        raise ConnectionError(
            f"Cannot load the hub dataset {name!r}: the HuggingFace hub is switched off "
            "(HF_HUB_OFFLINE / HF_DATASETS_OFFLINE is set). Pass local files instead: "
            "--train PATH [--valid PATH --test PATH] or --corpus-dir FOLDER."
        )
    from datasets import load_dataset  # imported late: HF_* offline flags must be set first

    try:
        dataset = load_dataset(name, config, cache_dir=_cache_dir())
    except Exception as error:
        raise ConnectionError(
            f"Could not load the hub dataset {name!r} (config {config!r}): {error}. "
            "If you are offline, pass local files with --train/--valid/--test or --corpus-dir."
        ) from error
    aliases = {"train": ("train",), "valid": ("validation", "valid", "dev"), "test": ("test",)}
    splits: dict[str, list[str]] = {}
    for split, candidates in aliases.items():
        for candidate in candidates:
            if candidate in dataset:
                if "text" not in dataset[candidate].column_names:
                    raise ValueError(
                        f"The hub dataset {name!r} has no 'text' column; columns are {dataset[candidate].column_names}."
                    )
                splits[split] = split_paragraphs("\n".join(dataset[candidate]["text"]))
                break
    if "train" not in splits:
        raise ValueError(f"The hub dataset {name!r} has no train split; it has {list(dataset)}.")
    return Corpus(name=f"{name}/{config}" if config else name, splits=splits)
